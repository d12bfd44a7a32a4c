//! Structured logs with `tracing`, plain or JSON. What never to log: request or response bodies,
//! query strings, personal data (the `Pii` types print `[redacted:…]`), secrets, tokens, card data.

use crate::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// Install the global subscriber writing to stdout.
pub fn init(config: &Config) {
    init_to(config, false);
}

/// As [`init`]; `to_stderr` for commands whose standard output is their answer (a token to pipe on).
pub fn init_to(config: &Config, to_stderr: bool) {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = if to_stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let writer = tracing_subscriber::fmt::writer::BoxMakeWriter::new(move || -> Box<dyn std::io::Write> {
        if to_stderr { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) }
    });
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(writer).with_ansi(terminal);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Plain => builder.try_init(),
    };
}
