//! `ApiJson<T>` and `ApiQuery<T>`: deserialize strictly (every request type is
//! `#[serde(deny_unknown_fields)]`), validate, and turn every failure into a problem document that
//! never echoes the submitted value.

use crate::error::{ApiError, FieldError};
use crate::kernel::pii::PiiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

/// A JSON request body, deserialized strictly and validated.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::MalformedBody("the request body could not be read".into()))?;
        let value = parse_json::<T>(&bytes)?;
        value.validate().map_err(|e| ApiError::Validation(validation_fields(&e)))?;
        Ok(ApiJson(value))
    }
}

/// Parse JSON strictly, mapping serde's errors to problems.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let segments = e.path().clone();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                data_error("(body)", &schema_path(&segments, &msg), &msg)
            }
            _ => ApiError::MalformedBody(
                format!("the body is not valid JSON (line {}, column {})", inner.line(), inner.column()).into(),
            ),
        }
    })?;
    de.end().map_err(|_| ApiError::MalformedBody("unexpected data after the JSON value".into()))?;
    Ok(value)
}

/// Query-string parameters, deserialized strictly and validated.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
            let segments = e.path().clone();
            let msg = e.into_inner().to_string();
            data_error("(query)", &schema_path(&segments, &msg), &msg)
        })?;
        value.validate().map_err(|e| ApiError::Validation(validation_fields(&e)))?;
        Ok(ApiQuery(value))
    }
}

fn form_urlencoded_parse(q: &str) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(q.as_bytes())
}

/// A path we may echo back. Its segments are the schema's field names (serde matched them against the
/// request type; no request type has a map with client-chosen keys) and list indices; anything else is
/// reported as `(unprintable)`.
fn printable_name(name: &str) -> String {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '[' || c == ']');
    if ok { name.to_owned() } else { "(unprintable)".to_owned() }
}

/// The field names serde lists at the end of an unknown-field message (the schema's): "unknown field
/// `<client's text>`, expected one of `a`, `b`" / "expected `a` or `b`" / "there are no fields". The
/// client's text comes first and may contain anything, so the list is taken from the last ", expected ".
fn expected_fields(msg: &str) -> Vec<String> {
    // serde_json appends the position.
    let msg = match msg.rsplit_once(" at line ") {
        Some((head, pos)) if pos.bytes().all(|b| b.is_ascii_digit() || b" column".contains(&b)) => head,
        _ => msg,
    };
    if msg.ends_with("there are no fields") {
        return Vec::new();
    }
    let Some((_, list)) = msg.rsplit_once(", expected ") else { return Vec::new() };
    let list = list.strip_prefix("one of ").unwrap_or(list).replace(" or ", ", ");
    list.split(", ")
        .filter_map(|s| s.trim().strip_prefix('`')?.strip_suffix('`'))
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        .map(str::to_owned)
        .collect()
}

/// The path of the field an error is about, in the schema's names. For an unknown field, the path ends
/// with the client's own key: that segment is dropped, leaving the object that holds it.
fn schema_path(path: &serde_path_to_error::Path, msg: &str) -> String {
    use serde_path_to_error::Segment;
    let mut segments: Vec<&Segment> = path.iter().collect();
    if msg.starts_with("unknown field `") && matches!(segments.last(), Some(Segment::Map { .. })) {
        segments.pop();
    }
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

fn join_path(path: &str, name: &str) -> String {
    if path.is_empty() || path == "." {
        name.to_owned()
    } else if path == name || path.ends_with(&format!(".{name}")) {
        path.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn between_backticks(msg: &str, prefix: &str) -> Option<String> {
    msg.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned)
}

/// Map a serde data error to a problem, never including the offending value.
/// `root` names the whole input (`(body)`, `(query)`) when the error is about it rather than a field.
fn data_error(root: &str, path: &str, msg: &str) -> ApiError {
    if msg.starts_with("unknown field `") {
        // The unknown name is the client's text (it may be anything, an escaped card number included):
        // the problem names the object that holds it and the fields that object does collect.
        let object = if path.is_empty() || path == "." { root.to_owned() } else { printable_name(path) };
        return ApiError::UnknownField { object, allowed: expected_fields(msg) };
    }
    if msg.starts_with(&PiiError::CardNumber.to_string()) {
        return ApiError::CardDataNotAccepted;
    }
    if let Some(name) = between_backticks(msg, "missing field `") {
        return ApiError::Validation(vec![
            FieldError::new(printable_name(&join_path(path, &name)), "required").with_message("is required"),
        ]);
    }
    let field = if path.is_empty() || path == "." { root.to_owned() } else { printable_name(path) };
    let (code, message) = if msg.starts_with("invalid type") {
        ("invalid_type", "has the wrong type")
    } else if msg.starts_with("unknown variant") {
        ("invalid_choice", "is not one of the allowed values")
    } else if msg.starts_with("invalid length") {
        ("invalid_length", "has the wrong length")
    } else {
        known_safe_message(msg).unwrap_or(("invalid_value", "has an invalid value"))
    };
    ApiError::Validation(vec![FieldError::new(field, code).with_message(message)])
}

/// Messages produced by our own validating types (they never contain the value).
fn known_safe_message(msg: &str) -> Option<(&'static str, &'static str)> {
    [PiiError::Empty, PiiError::TooLong, PiiError::BadCharacters, PiiError::BadFormat]
        .into_iter()
        .find(|e| msg.starts_with(&e.to_string()))
        .map(|e| {
            let message = match e {
                PiiError::Empty => "must not be empty",
                PiiError::TooLong => "is too long",
                PiiError::BadCharacters => "contains characters that are not allowed",
                PiiError::BadFormat | PiiError::CardNumber => "is not in a valid format",
            };
            (e.code(), message)
        })
        .or_else(|| {
            msg.starts_with("not a supported ISO-4217").then_some(("invalid_currency", "is not a supported currency"))
        })
        .or_else(|| {
            msg.starts_with(crate::kernel::bounded::OUT_OF_RANGE).then_some(("out_of_range", "is out of range"))
        })
}

/// Flatten validator's nested errors into field paths. Validator's `params` include the submitted
/// value, so only the code and our static message are used.
pub fn validation_fields(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let mut fe = FieldError::new(path.clone(), e.code.to_string());
                    if let Some(m) = &e.message {
                        fe = fe.with_message(m.to_string());
                    }
                    out.push(fe);
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_name_the_schema_never_the_client() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            city: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            email: String,
            address: Inner,
        }
        // A key that imitates serde's own message, to smuggle text into the list of fields.
        let body = br#"{"email": "x", "address": {"city": "y", "zz`, expected one of `4242 secret": 1}}"#;
        let Err(ApiError::UnknownField { object, allowed }) = parse_json::<Outer>(body) else {
            panic!("an unknown field")
        };
        assert_eq!(object, "address");
        assert_eq!(allowed, ["city"]);
        let Err(ApiError::UnknownField { object, allowed }) = parse_json::<Outer>(br#"{"nickname": 1}"#) else {
            panic!("an unknown field")
        };
        assert_eq!((object.as_str(), allowed), ("(body)", vec!["email".to_owned(), "address".to_owned()]));
    }
}
