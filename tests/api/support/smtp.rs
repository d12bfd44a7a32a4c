//! A real SMTP server for a test: aiosmtpd (PyPI) in a child process, writing what it accepts to a
//! directory the test reads. `LEANCART_TEST_PYTHON` names the interpreter (default: the virtualenv
//! `.ci/run` makes in `target/smtp-venv` when there is one, else `python3`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope's recipients.
    pub to: String,
    /// The whole message (headers and body, transfer-decoded parts left as sent).
    pub raw: String,
}

impl Received {
    /// A header's value (the first of that name).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The message with quoted-printable soft breaks and escapes undone (enough to search its text).
    pub fn text(&self) -> String {
        let joined = self.raw.replace("=\r\n", "").replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = bytes[i] == b'='
                && i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if let Some(b) = escaped.then(|| u8::from_str_radix(&joined[i + 1..i + 3], 16).ok()).flatten() {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The first link in the message that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(prefix)?;
        let end =
            text[start..].find(|c: char| c.is_whitespace() || c == '"' || c == '<').map_or(text.len(), |e| start + e);
        Some(text[start..end].replace("&amp;", "&"))
    }
}

impl SmtpSink {
    /// Start a server that refuses the first `fail_first` messages with a temporary failure.
    pub fn start(fail_first: usize) -> SmtpSink {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        // LEANCART_TEST_PYTHON, else the virtualenv `.ci/run` makes when python3 lacks aiosmtpd, else python3.
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/smtp-venv/bin/python");
        let python = std::env::var("LEANCART_TEST_PYTHON").unwrap_or_else(|_| {
            if std::path::Path::new(venv).exists() { venv.to_owned() } else { "python3".to_owned() }
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/support/smtp_sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .args(["--port", &port.to_string(), "--dir", &dir.path().to_string_lossy()])
            .args(["--fail-first", &fail_first.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SMTP sink starts (python3 with aiosmtpd: pip install aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the sink says ready");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start (is aiosmtpd installed?)");
        SmtpSink { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect())
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|raw| {
                let (first, rest) = raw.split_once("\r\n").unwrap_or(("", &raw));
                Received { to: first.trim_start_matches("X-Envelope-To: ").to_owned(), raw: rest.to_owned() }
            })
            .collect()
    }

    /// Wait (up to 15 s) until at least `n` messages arrived; all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected {n} message(s), the SMTP server got {}", self.messages().len());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// Wait (up to 15 s) for the `nth` (0-based) message to `to` whose subject starts with `subject`.
    pub async fn wait_for_mail(&self, to: &str, subject: &str, nth: usize) -> Received {
        for _ in 0..300 {
            let found: Vec<Received> = self
                .messages()
                .into_iter()
                .filter(|m| m.to == to && m.header("Subject").is_some_and(|s| s.starts_with(subject)))
                .collect();
            if let Some(m) = found.into_iter().nth(nth) {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no message {nth} \"{subject}…\" to {to} arrived");
    }

    /// How many messages went to `to` with a subject starting with `subject`.
    pub fn count(&self, to: &str, subject: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.to == to && m.header("Subject").is_some_and(|s| s.starts_with(subject)))
            .count()
    }
}
