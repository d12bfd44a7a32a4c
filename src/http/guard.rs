//! The input guard: what a client sends is inspected before any handler, store or log sees it.
//!
//! Card numbers are refused (`card_data_not_accepted`) and NUL characters too (`invalid_characters`:
//! PostgreSQL cannot store them, and no field of ours needs one) wherever they appear in what the
//! application reads: the path (percent-decoded), the query string (raw and decoded), the headers the
//! application reads (`Authorization`, `Idempotency-Key`), and the body — the raw bytes first, then, for
//! a form body, its decoded pairs, and for a JSON body every string, every object key and every number
//! *after* parsing, so that escapes (`"\u0034242…"`) are seen as the application will see them.
//! Personal-data types run the detector once more on their normalised value (`kernel::pii`).

use crate::error::{ApiError, FieldError};
use crate::kernel::card;
use axum::http::request::Parts;
use serde_json::Value;

/// Why a request was refused. Carries nothing of what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    CardData,
    Nul,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::CardData => ApiError::CardDataNotAccepted,
            Refusal::Nul => ApiError::Validation(vec![
                FieldError::new("(request)", "invalid_characters")
                    .with_message("contains a NUL character, which no field accepts"),
            ]),
        }
    }
}

/// Headers the application reads (and may hash, store or compare).
const READ_HEADERS: &[&str] = &["authorization", "idempotency-key"];

/// Inspect one request: path, query, the headers we read, body.
pub fn inspect(parts: &Parts, body: &[u8]) -> Result<(), Refusal> {
    let path = parts.uri.path();
    if path.contains('%') {
        check_text(&percent_encoding::percent_decode_str(path).decode_utf8_lossy())?;
    } else {
        check_text(path)?;
    }
    if let Some(query) = parts.uri.query() {
        check_text(query)?;
        check_form(query.as_bytes())?;
    }
    for name in READ_HEADERS {
        if let Some(v) = parts.headers.get(*name) {
            check_text(&String::from_utf8_lossy(v.as_bytes()))?;
        }
    }
    inspect_body(body)
}

/// Inspect a body: raw, then decoded as a form or as JSON.
pub fn inspect_body(body: &[u8]) -> Result<(), Refusal> {
    if body.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body);
    check_text(&text)?;
    if text.contains('%') || text.contains('+') {
        check_form(body)?;
    }
    if matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'[' | b'"'))
        && let Ok(value) = serde_json::from_slice::<Value>(body)
    {
        check_json(&value)?;
    }
    Ok(())
}

/// One piece of text.
pub fn check_text(text: &str) -> Result<(), Refusal> {
    if text.contains('\0') {
        return Err(Refusal::Nul);
    }
    if card::contains_card_number(text) {
        return Err(Refusal::CardData);
    }
    Ok(())
}

fn check_form(raw: &[u8]) -> Result<(), Refusal> {
    for (k, v) in url::form_urlencoded::parse(raw) {
        check_text(&k)?;
        check_text(&v)?;
    }
    Ok(())
}

/// Every string, key and number of a parsed JSON document.
fn check_json(value: &Value) -> Result<(), Refusal> {
    match value {
        Value::String(s) => check_text(s),
        Value::Number(n) => match n.as_f64() {
            // A whole number written with a fraction or an exponent (4.242424242424242e15).
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e20 => {
                check_text(&format!("{f:.0}"))
            }
            _ => check_text(&n.to_string()),
        },
        Value::Array(items) => items.iter().try_for_each(check_json),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check_text(k)?;
            check_json(v)
        }),
        Value::Bool(_) | Value::Null => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_json_is_inspected() {
        let escaped = br#"{"line2": "\u0034242424242424242"}"#;
        assert!(!card::contains_card_number(&String::from_utf8_lossy(escaped)), "the raw text alone hides it");
        assert_eq!(inspect_body(escaped), Err(Refusal::CardData));
        assert_eq!(inspect_body(br#"{"\u0034242424242424242": 1}"#), Err(Refusal::CardData), "as a key");
        assert_eq!(inspect_body(br#"{"n": 4.242424242424242e15}"#), Err(Refusal::CardData), "as a number");
        assert_eq!(inspect_body(br#"["\u0034242", "x\u00004"]"#), Err(Refusal::Nul));
        assert_eq!(inspect_body(br#"{"line1": "1 Main St", "quantity": 2}"#), Ok(()));
        assert_eq!(inspect_body(b"name=4242%204242%204242%204242"), Err(Refusal::CardData));
    }
}
