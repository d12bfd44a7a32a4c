//! The one error type of the API, rendered as RFC 9457 `application/problem+json`.
//!
//! Each variant has an HTTP status, a stable snake_case `code` and a fixed title. Internal causes are
//! logged once (with the request id from the surrounding span) and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;

/// One field-level problem in a request body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field, e.g. `shipping_address.postal_code`.
    pub field: String,
    /// Machine-readable reason, e.g. `required`, `invalid_format`, `not_allowed`.
    pub code: String,
    /// Human-readable explanation (never contains the submitted value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>) -> Self {
        FieldError { field: field.into(), code: code.into(), message: None }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference identifying the problem type (`/problems/{code}`).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra machine-readable data for some problems (e.g. the 3-D Secure next action).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body is not valid")]
    MalformedBody(Cow<'static, str>),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("unknown field")]
    /// A field the request type does not have. Names the object holding it and the fields that object
    /// collects — the schema's names, never the client's key.
    UnknownField { object: String, allowed: Vec<String> },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("bad request")]
    BadRequest { code: &'static str, detail: Cow<'static, str> },
    #[error("card data not accepted")]
    CardDataNotAccepted,
    #[error("unauthorized")]
    Unauthorized,
    /// A login that failed: the same for an unknown e-mail and a wrong password.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden,
    /// A 403 that says why (a role without the permission; a second factor not enrolled yet).
    #[error("forbidden")]
    Denied { code: &'static str, detail: Cow<'static, str> },
    /// The password was right; the account's second factor is still to be shown (or was wrong).
    #[error("second factor required")]
    SecondFactorRequired,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict")]
    Conflict { code: &'static str, detail: Cow<'static, str>, extra: Option<serde_json::Value> },
    #[error("unprocessable")]
    Unprocessable { code: &'static str, detail: Cow<'static, str>, extra: Option<serde_json::Value> },
    #[error("payment failed")]
    Payment { status: StatusCode, code: &'static str, detail: Cow<'static, str>, extra: Option<serde_json::Value> },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("request timeout")]
    Timeout,
    /// A per-client rate limit: try again after this many seconds.
    #[error("rate limited")]
    TooManyRequests { retry_after_secs: u64 },
    /// The client holds as many unpaid orders as it may: pay or let one lapse first.
    #[error("too many unpaid orders")]
    TooManyUnpaidOrders { retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable(Cow<'static, str>),
    /// The database gave up a transaction that collided with concurrent ones (a deadlock, a
    /// serialization failure): nothing of it was kept, and running it again is safe.
    #[error("database contention")]
    Contention,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An internal error; `cause` goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// A single-use link's token that is unknown, used or expired (all alike).
    pub fn link_invalid() -> Self {
        ApiError::Unprocessable {
            code: "link_invalid",
            detail: "this link is unknown, was used already or has expired: ask for a new one".into(),
            extra: None,
        }
    }

    /// A 409 with a stable code.
    pub fn conflict(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Conflict { code, detail: detail.into(), extra: None }
    }

    /// Attach machine-readable data to a problem that carries it (conflicts, payments, 422s).
    pub fn with_extra(self, data: serde_json::Value) -> Self {
        match self {
            ApiError::Conflict { code, detail, .. } => ApiError::Conflict { code, detail, extra: Some(data) },
            ApiError::Unprocessable { code, detail, .. } => ApiError::Unprocessable { code, detail, extra: Some(data) },
            ApiError::Payment { status, code, detail, .. } => {
                ApiError::Payment { status, code, detail, extra: Some(data) }
            }
            other => other,
        }
    }

    pub fn validation(field: impl Into<String>, code: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, code)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedBody(_) | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UnknownField { .. }
            | ApiError::Validation(_)
            | ApiError::CardDataNotAccepted
            | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized | ApiError::InvalidCredentials | ApiError::SecondFactorRequired => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden | ApiError::Denied { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Payment { status, .. } => *status,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests { .. } | ApiError::TooManyUnpaidOrders { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Contention => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedBody(_) => "malformed_body",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::UnknownField { .. } => "unknown_field",
            ApiError::Validation(_) => "validation_failed",
            ApiError::BadRequest { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Payment { code, .. }
            | ApiError::Denied { code, .. } => code,
            ApiError::CardDataNotAccepted => "card_data_not_accepted",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::SecondFactorRequired => "second_factor_required",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Timeout => "request_timeout",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::TooManyUnpaidOrders { .. } => "too_many_unpaid_orders",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Contention => "contention",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::MalformedBody(_) => "The request body could not be read",
            ApiError::UnsupportedMediaType => "Unsupported media type",
            ApiError::UnknownField { .. } => "The request contains a field this endpoint does not collect",
            ApiError::Validation(_) => "The request is not valid",
            ApiError::BadRequest { .. } => "Bad request",
            ApiError::CardDataNotAccepted => "Card data is not accepted here",
            ApiError::Unauthorized => "Authentication required",
            ApiError::InvalidCredentials => "Invalid credentials",
            ApiError::Forbidden | ApiError::Denied { .. } => "Not allowed",
            ApiError::SecondFactorRequired => "Second factor required",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Unprocessable { .. } => "The request cannot be processed",
            ApiError::Payment { .. } => "The payment did not go through",
            ApiError::PayloadTooLarge => "Request body too large",
            ApiError::Timeout => "The request took too long",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::TooManyUnpaidOrders { .. } => "Too many unpaid orders",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Contention => "Too many concurrent requests for the same records",
            ApiError::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            ApiError::MalformedBody(d)
            | ApiError::BadRequest { detail: d, .. }
            | ApiError::Conflict { detail: d, .. }
            | ApiError::Unprocessable { detail: d, .. }
            | ApiError::Payment { detail: d, .. }
            | ApiError::Denied { detail: d, .. }
            | ApiError::Unavailable(d) => Some(d.to_string()),
            ApiError::UnknownField { object, allowed } => Some(if allowed.is_empty() {
                format!(
                    "`{object}` has a field this request does not collect; leancart collects only the fields each purpose needs"
                )
            } else {
                format!(
                    "`{object}` has a field this request does not collect (it takes: {}); leancart collects only \
                     the fields each purpose needs",
                    allowed.join(", ")
                )
            }),
            ApiError::CardDataNotAccepted => Some(
                "The request contains what looks like a payment card number. leancart never accepts card \
                 data: tokenize the card with the payment processor (Stripe.js) and send the resulting \
                 payment method id (pm_…) instead."
                    .to_owned(),
            ),
            ApiError::UnsupportedMediaType => Some("Send the body as application/json".to_owned()),
            ApiError::InvalidCredentials => Some("The e-mail or the password is not right.".to_owned()),
            ApiError::SecondFactorRequired => Some(
                "This account has a second factor: send the 6-digit code of the authenticator app as `code`, \
                 or one of the recovery codes as `recovery_code`."
                    .to_owned(),
            ),
            ApiError::TooManyRequests { retry_after_secs } => {
                Some(format!("Too many requests from this address; try again in {retry_after_secs} s."))
            }
            ApiError::TooManyUnpaidOrders { retry_after_secs } => Some(format!(
                "This address already holds as many unpaid orders as it may. Complete or abandon one (its \
                 stock is released in at most {retry_after_secs} s) before placing another."
            )),
            ApiError::Contention => Some(
                "Concurrent requests for the same records collided and this one was not carried out; \
                 nothing of it was kept. Send it again (with the same Idempotency-Key where it has one)."
                    .to_owned(),
            ),
            _ => None,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let code = self.code();
        let errors = match self {
            ApiError::Validation(e) => {
                let mut e = e.clone();
                e.sort_by(|a, b| a.field.cmp(&b.field));
                e
            }
            ApiError::UnknownField { object, .. } => vec![
                FieldError::new(object.clone(), "unknown_field")
                    .with_message("has a field this request does not collect"),
            ],
            _ => Vec::new(),
        };
        let extra = match self {
            ApiError::Unprocessable { extra, .. }
            | ApiError::Payment { extra, .. }
            | ApiError::Conflict { extra, .. } => extra.clone(),
            _ => None,
        };
        Problem {
            type_: format!("/problems/{code}"),
            title: self.title().to_owned(),
            status: self.status().as_u16(),
            detail: self.detail(),
            code: code.to_owned(),
            errors,
            extra,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            // Logged once, inside the request span (which carries the request id).
            tracing::error!(error = %cause, "internal error");
        }
        let mut res = problem_response(self.status(), &self.to_problem());
        if let ApiError::TooManyRequests { retry_after_secs } | ApiError::TooManyUnpaidOrders { retry_after_secs } =
            self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{\"code\":\"internal_error\"}".to_vec());
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    res
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => ApiError::Contention,
            // PostgreSQL's 40P01, which diesel does not classify (it exposes no SQLSTATE beyond its
            // kinds): recognised by the message, which is PostgreSQL's English text unless the server's
            // `lc_messages` translates it — then a deadlock stays an internal error (docs/api.md).
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if info.message().starts_with("deadlock detected") =>
            {
                ApiError::Contention
            }
            other => ApiError::Internal(format!("database: {other}")),
        }
    }
}

impl From<crate::kernel::money::MoneyError> for ApiError {
    fn from(e: crate::kernel::money::MoneyError) -> Self {
        ApiError::Internal(format!("money: {e}"))
    }
}
