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

/// Why a request was refused. Carries nothing of what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    CardData,
    Nul,
    /// A percent-encoded path that is not UTF-8 text.
    NotText,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::CardData => ApiError::CardDataNotAccepted,
            Refusal::Nul => ApiError::Validation(vec![
                FieldError::new("(request)", "invalid_characters")
                    .with_message("contains a NUL character, which no field accepts"),
            ]),
            Refusal::NotText => {
                ApiError::BadRequest { code: "malformed_path", detail: "the path is not UTF-8 text".into() }
            }
        }
    }
}

/// Headers the application reads (and may hash, store or compare).
const READ_HEADERS: &[&str] = &["authorization", "idempotency-key"];

/// A credential or key in the shape tokens are made in: an optional `Bearer `, an optional short
/// prefix (`ct_`, `ot_`), then 32–128 hex digits (our tokens are 64; hashes and UUIDs without dashes
/// are common keys). Random hex is 5/8 digits, so such a word holds a Luhn-valid, brand-shaped digit
/// run about once in a thousand tokens: refusing those would turn away real shoppers. These headers'
/// values are only ever compared with or hashed into keyed digests, never stored or logged, so the
/// card guard leaves values of this exact shape alone there (everywhere else hex gets no exemption).
fn is_token(value: &str) -> bool {
    let v = value.trim();
    let v = v.strip_prefix("Bearer ").unwrap_or(v).trim_matches('"');
    let v = match v.split_once('_') {
        Some((prefix, rest)) if (1..=8).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_lowercase()) => {
            rest
        }
        _ => v,
    };
    (32..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Inspect one request: path, query, the headers we read, body.
pub fn inspect(parts: &Parts, body: &[u8]) -> Result<(), Refusal> {
    let path = parts.uri.path();
    if path.contains('%') {
        // Decoded as the router will decode it; bytes that are not UTF-8 are refused here, as a problem
        // document, rather than by the path extractor's plain-text rejection.
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8().map_err(|_| Refusal::NotText)?;
        check_text(&decoded)?;
    } else {
        check_text(path)?;
    }
    if let Some(query) = parts.uri.query() {
        check_text(query)?;
        check_form(query.as_bytes())?;
    }
    for name in READ_HEADERS {
        if let Some(v) = parts.headers.get(*name) {
            let text = String::from_utf8_lossy(v.as_bytes());
            if !is_token(&text) {
                check_text(&text)?;
            }
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
    if matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'[' | b'"')) {
        check_json(body)?;
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

/// Every string, key and number of a JSON document, decoded, as the parser meets them: duplicated keys
/// included (a map would keep only the last), and up to the first syntax error (a document that does
/// not parse is refused by the handler's extractor anyway).
fn check_json(body: &[u8]) -> Result<(), Refusal> {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_slice(body);
    match Inspect::deserialize(&mut de) {
        Err(e) if e.to_string().starts_with(CARD) => Err(Refusal::CardData),
        Err(e) if e.to_string().starts_with(NUL) => Err(Refusal::Nul),
        _ => Ok(()),
    }
}

const CARD: &str = "leancart-guard: card";
const NUL: &str = "leancart-guard: nul";

/// A JSON value, visited and dropped.
struct Inspect;

impl Inspect {
    fn text<E: serde::de::Error>(s: &str) -> Result<Inspect, E> {
        match check_text(s) {
            Ok(()) => Ok(Inspect),
            Err(Refusal::Nul) => Err(E::custom(NUL)),
            Err(_) => Err(E::custom(CARD)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Inspect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Inspect, D::Error> {
        d.deserialize_any(Inspect)
    }
}

impl<'de> serde::de::Visitor<'de> for Inspect {
    type Value = Inspect;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Inspect, E> {
        Inspect::text(s)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Inspect, E> {
        Inspect::text(&n.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Inspect, E> {
        Inspect::text(&n.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Inspect, E> {
        // A whole number written with a fraction or an exponent (4.242424242424242e15).
        if f.fract() == 0.0 && f.abs() < 1e20 { Inspect::text(&format!("{f:.0}")) } else { Ok(Inspect) }
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Inspect, E> {
        Ok(Inspect)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Inspect, E> {
        Ok(Inspect)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Inspect, A::Error> {
        while seq.next_element::<Inspect>()?.is_some() {}
        Ok(Inspect)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Inspect, A::Error> {
        while map.next_key::<Inspect>()?.is_some() {
            map.next_value::<Inspect>()?;
        }
        Ok(Inspect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_hex_keys_pass_in_the_headers_that_carry_them() {
        for _ in 0..5000 {
            let token = crate::kernel::secret::issue_token("ct_");
            let req = axum::http::Request::builder()
                .uri("/v1/orders")
                .header("authorization", format!("Bearer {}", token.plaintext.expose()))
                .header("idempotency-key", &token.hash)
                .body(())
                .unwrap_or_default();
            let (parts, ()) = req.into_parts();
            assert_eq!(inspect(&parts, b""), Ok(()));
        }
        let card = axum::http::Request::builder()
            .uri("/v1/orders")
            .header("idempotency-key", "order-4242-4242-4242-4242")
            .body(())
            .unwrap_or_default();
        assert_eq!(inspect(&card.into_parts().0, b""), Err(Refusal::CardData));
        assert!(!is_token("Bearer ct_4242424242424242"), "too short for a token: checked");
    }

    #[test]
    fn decoded_json_is_inspected() {
        let escaped = br#"{"line2": "\u0034242424242424242"}"#;
        assert!(!card::contains_card_number(&String::from_utf8_lossy(escaped)), "the raw text alone hides it");
        assert_eq!(inspect_body(escaped), Err(Refusal::CardData));
        assert_eq!(inspect_body(br#"{"\u0034242424242424242": 1}"#), Err(Refusal::CardData), "as a key");
        assert_eq!(inspect_body(br#"{"n": 4.242424242424242e15}"#), Err(Refusal::CardData), "as a number");
        assert_eq!(inspect_body(br#"["\u0034242", "x\u00004"]"#), Err(Refusal::Nul));
        assert_eq!(inspect_body(br#"{"line1": "1 Main St", "quantity": 2}"#), Ok(()));
        assert_eq!(
            inspect_body(br#"{"a": "\u0034242424242424242", "a": "x"}"#),
            Err(Refusal::CardData),
            "a duplicated key"
        );
        assert_eq!(inspect_body(br#"{"a": "\u0034242424242424242"} trailing"#), Err(Refusal::CardData));
        assert_eq!(inspect_body(b"name=4242%204242%204242%204242"), Err(Refusal::CardData));
    }
}
