//! One global log sink for the test binary, so tests can prove what never reaches a log.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

static SINK: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        if std::env::var_os("LEANCART_TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Install the capturing subscriber (debug level for leancart, so that more is scanned).
pub fn init() {
    SINK.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,leancart=debug"))
            .with_ansi(false)
            .with_writer(Capture(buf.clone()))
            .try_init();
        buf
    });
}

/// Everything logged so far by every app in this test binary.
pub fn all() -> String {
    SINK.get().and_then(|b| b.lock().ok().map(|v| String::from_utf8_lossy(&v).into_owned())).unwrap_or_default()
}
