//! Where messages go: an SMTP server (`LEANCART_SMTP_URL`: `smtp://host:port` in clear on a trusted
//! network, `smtp://host:587?tls=required` for STARTTLS, `smtps://user:password@host:465` for TLS from
//! the first byte; rustls with the web's root certificates), or — on a developer's machine without
//! one — `.eml` files in a directory (`LEANCART_MAIL_DIR`, default `data/mail`).

use super::letter::Letter;
use crate::config::{Config, ConfigError};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// Why a message was not sent: worth another try later, or never going to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server or the network may accept it later (4xx, a timeout, a refused connection).
    Transient(&'static str),
    /// It will never be accepted (5xx, an address the server or lettre refuses).
    Permanent(&'static str),
}

impl Failure {
    pub fn kind(self) -> &'static str {
        match self {
            Failure::Transient(k) | Failure::Permanent(k) => k,
        }
    }
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.transport {
            Transport::Smtp(_) => f.write_str("Mailer(smtp)"),
            Transport::Files(dir) => write!(f, "Mailer(files in {})", dir.display()),
        }
    }
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Mailer, ConfigError> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|_| ConfigError::new("LEANCART_MAIL_FROM", "must be an address, e.g. Shop <shop@example.com>"))?;
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|_| {
                        ConfigError::new(
                            "LEANCART_SMTP_URL",
                            "must be smtp://host:port, smtp://…?tls=required or smtps://…",
                        )
                    })?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => Transport::Files(config.mail_dir.clone()),
        };
        Ok(Mailer { transport, from })
    }

    /// Where messages go, for the start-up line (never the SMTP password).
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "the SMTP server of LEANCART_SMTP_URL".to_owned(),
            Transport::Files(dir) => format!(".eml files in {} (set LEANCART_SMTP_URL to send)", dir.display()),
        }
    }

    /// Send `letter` as message `id` (its Message-ID is `<id@leancart>`: a receiver can tell a
    /// resend after a crash from a new message).
    pub async fn send(&self, id: &str, letter: &Letter) -> Result<(), Failure> {
        let to: Mailbox = letter.to.expose().parse().map_err(|_| Failure::Permanent("address_refused"))?;
        let message = Message::builder()
            .message_id(Some(format!("<{id}@leancart>")))
            .from(self.from.clone())
            .to(to)
            .subject(letter.subject.clone())
            .multipart(MultiPart::alternative_plain_html(letter.text.clone(), letter.html.clone()))
            .map_err(|_| Failure::Permanent("message_invalid"))?;
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(Failure::Permanent("smtp_rejected")),
                Err(e) if e.is_transient() => Err(Failure::Transient("smtp_deferred")),
                Err(e) if e.is_timeout() => Err(Failure::Transient("smtp_timeout")),
                Err(_) => Err(Failure::Transient("smtp_unavailable")),
            },
            Transport::Files(dir) => write_eml(dir, id, &message.formatted()).await,
        }
    }
}

/// Write one message whole or not at all: to a temporary name, then renamed into place.
async fn write_eml(dir: &std::path::Path, id: &str, bytes: &[u8]) -> Result<(), Failure> {
    let (dir, id, bytes) = (dir.to_owned(), id.to_owned(), bytes.to_vec());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let temporary = dir.join(format!(".{id}.tmp"));
        std::fs::write(&temporary, &bytes)?;
        std::fs::rename(&temporary, dir.join(format!("{id}.eml")))
    })
    .await
    .map_err(|_| Failure::Transient("file_write_failed"))?
    .map_err(|_| Failure::Transient("file_write_failed"))
}
