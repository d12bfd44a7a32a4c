//! Structured logs with `tracing`, plain or JSON. What never to log: request or response bodies,
//! query strings, personal data (the `Pii` types print `[redacted:…]`), secrets, tokens, card data.

use crate::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// Install the global subscriber writing to stdout.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Plain => builder.try_init(),
    };
}
