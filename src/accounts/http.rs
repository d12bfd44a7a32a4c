//! Shopper accounts over HTTP: register, log in, the account, log out here or everywhere. Sessions are
//! bearer tokens (`Authorization: Bearer sa_…`).

use super::password::Password;
use super::service::{self, Holder, NewSession};
use super::session::AccountSession;
use crate::error::{ApiError, Problem};
use crate::http::extract::ApiJson;
use crate::kernel::pii::{Email, PersonName};
use crate::kernel::time::UtcTime;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub email: Email,
    /// 12 to 128 characters; no other rule (a passphrase of a few words works well).
    pub password: Password,
    /// How to address you in messages.
    pub name: Option<PersonName>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: Email,
    pub password: Password,
    /// With a second factor on: the authenticator app's current 6-digit code.
    #[validate(length(min = 1, max = 12, code = "length"))]
    pub code: Option<String>,
    /// Or one of the single-use recovery codes.
    #[validate(length(min = 1, max = 32, code = "length"))]
    pub recovery_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDto {
    /// `acct_…`
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// An authenticator app is asked for at login.
    pub second_factor: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    /// `Authorization: Bearer` for the account's routes (`sa_…`); shown once. Browsers get it as the
    /// `lc_session` cookie too (`Secure; HttpOnly; SameSite=Lax`).
    pub session_token: String,
    /// With the cookie: send as `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
    /// When the session ends at the latest (it ends sooner when unused for a while).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UtcTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredDto {
    pub account: AccountDto,
    pub session: SessionDto,
}

fn account_dto(h: Holder, second_factor: bool) -> AccountDto {
    AccountDto {
        id: h.id,
        email: h.email.map(|e| e.expose().to_owned()),
        name: h.name.map(|n| n.expose().to_owned()),
        second_factor,
        created_at: h.created_at.into(),
    }
}

fn session_dto(s: &NewSession) -> SessionDto {
    SessionDto {
        session_token: s.token.expose().to_owned(),
        csrf_token: super::session::csrf_token(s.token.expose()),
        expires_at: s.expires_at.into(),
    }
}

/// The session's cookie, lasting as long as the session may.
fn session_cookie(state: &AppState, s: &NewSession) -> [(axum::http::HeaderName, String); 1] {
    let max_age = (s.expires_at - state.clock.now()).num_seconds().max(0);
    [(SET_COOKIE, super::session::set_cookie(s.token.expose(), max_age))]
}

/// Register an account (optional: guest checkout needs none). Signed in at once.
#[utoipa::path(
    post, path = "/accounts", tag = "accounts", request_body = Register,
    responses((status = 201, body = RegisteredDto),
              (status = 409, description = "`account_exists`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Register>,
) -> Result<impl IntoResponse, ApiError> {
    let (holder, session) = service::register(&state, body.email, body.password, body.name).await?;
    let cookie = session_cookie(&state, &session);
    Ok((
        StatusCode::CREATED,
        cookie,
        Json(RegisteredDto { account: account_dto(holder, false), session: session_dto(&session) }),
    ))
}

/// Log in. An unknown e-mail and a wrong password get the same answer.
#[utoipa::path(
    post, path = "/sessions", tag = "accounts", request_body = Login,
    responses((status = 201, body = SessionDto),
              (status = 401, description = "`invalid_credentials`; or `second_factor_required` (the password was right: add `code` or `recovery_code`)", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "Too many failed logins for this e-mail or from this address (`rate_limited`); see `Retry-After`",
               body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))))
)]
pub async fn login(
    State(state): State<AppState>,
    client: crate::http::client::ClientAddr,
    ApiJson(body): ApiJson<Login>,
) -> Result<impl IntoResponse, ApiError> {
    let presented = super::second_factor::Presented { code: body.code, recovery_code: body.recovery_code };
    let session = service::login(&state, client.0, body.email, body.password, presented).await?;
    let cookie = session_cookie(&state, &session);
    Ok((StatusCode::CREATED, cookie, Json(session_dto(&session))))
}

/// Your account.
#[utoipa::path(
    get, path = "/account", tag = "accounts", security(("account_session" = [])),
    responses((status = 200, body = AccountDto))
)]
pub async fn me(State(state): State<AppState>, session: AccountSession) -> Result<Json<AccountDto>, ApiError> {
    let second_factor = service::has_second_factor(&state, &session.account_id).await?;
    Ok(Json(account_dto(service::holder(&state, &session.account_id).await?, second_factor)))
}

/// Log out this session.
#[utoipa::path(
    delete, path = "/sessions/current", tag = "accounts", security(("account_session" = [])),
    responses((status = 204, description = "Logged out"))
)]
pub async fn logout(State(state): State<AppState>, session: AccountSession) -> Result<impl IntoResponse, ApiError> {
    service::logout(&state, session.session_hash).await?;
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, super::session::clear_cookie())]))
}

/// Log out everywhere: every session of the account ends.
#[utoipa::path(
    delete, path = "/sessions", tag = "accounts", security(("account_session" = [])),
    responses((status = 204, description = "Every session ended"))
)]
pub async fn logout_everywhere(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<impl IntoResponse, ApiError> {
    service::logout_everywhere(&state, session.account_id).await?;
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, super::session::clear_cookie())]))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password now (asked again: a session alone does not change it).
    pub current_password: Password,
    pub new_password: Password,
}

/// Change your password. Every other session of the account ends; this one goes on.
#[utoipa::path(
    post, path = "/account/password", tag = "accounts", request_body = ChangePassword, security(("account_session" = [])),
    responses((status = 204, description = "Changed"))
)]
pub async fn change_password(
    State(state): State<AppState>,
    session: AccountSession,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let AccountSession { account_id, session_hash } = session;
    service::change_password(&state, &account_id, &session_hash, body.current_password, body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: Email,
}

use crate::privacy::http::AcceptedDto;

/// Ask for a password-reset link (single use, 15 minutes). The same answer whether or not an account
/// has the address.
#[utoipa::path(
    post, path = "/password-resets", tag = "accounts", request_body = ResetRequest,
    responses((status = 202, body = AcceptedDto))
)]
pub async fn request_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<(StatusCode, Json<AcceptedDto>), ApiError> {
    // Done after the answer: its timing says nothing of whether the account exists.
    let worker = state.clone();
    tokio::spawn(async move {
        if let Err(e) = service::request_reset(&worker, &body.email).await {
            tracing::warn!(code = e.code(), "a password reset could not be prepared");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedDto {
            detail: "If an account has this address, a link to reset its password was sent to it; it works once, \
                     within 15 minutes."
                .into(),
        }),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteReset {
    /// The token of the mailed link (`pr_…`).
    #[validate(length(min = 1, max = 200, code = "length"))]
    pub token: String,
    pub new_password: Password,
}

/// Set a new password with a reset link's token (once, within 15 minutes). Every session ends.
#[utoipa::path(
    post, path = "/password-resets/complete", tag = "accounts", request_body = CompleteReset,
    responses((status = 204, description = "Changed"),
              (status = 422, description = "`link_invalid`, or the new password refused", body = Problem, content_type = "application/problem+json"))
)]
pub async fn complete_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CompleteReset>,
) -> Result<StatusCode, ApiError> {
    service::complete_reset(&state, &body.token, body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your orders (those placed from carts you started signed in), newest first: at most 100.
#[utoipa::path(
    get, path = "/account/orders", tag = "accounts", security(("account_session" = [])),
    responses((status = 200, body = Vec<crate::orders::http::OrderDto>))
)]
pub async fn my_orders(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<Json<Vec<crate::orders::http::OrderDto>>, ApiError> {
    let account = session.account_id;
    let found = state
        .db
        .run(move |conn| {
            let mut out = Vec::new();
            for order in crate::orders::store::orders_of_account(conn, &account, 100)? {
                let (lines, payment) = crate::orders::service::lines_and_payment(conn, &order)?;
                out.push((order, lines, payment));
            }
            Ok(out)
        })
        .await?;
    let mut orders = Vec::with_capacity(found.len());
    for (order, lines, payment) in found {
        let opened = crate::orders::http::open(&state, &order).await?;
        orders.push(crate::orders::http::order_dto(&order, &opened, &lines, payment.as_ref())?);
    }
    Ok(Json(orders))
}

/// One of your orders. Another account's, or a guest's, is not found (an id is never a permission).
#[utoipa::path(
    get, path = "/account/orders/{id}", tag = "accounts", params(("id" = crate::orders::model::OrderId, Path)),
    security(("account_session" = [])),
    responses((status = 200, body = crate::orders::http::OrderDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn my_order(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    session: AccountSession,
) -> Result<Json<crate::orders::http::OrderDto>, ApiError> {
    let account = session.account_id;
    let (order, lines, payment) = state
        .db
        .run(move |conn| {
            let oid = crate::orders::model::OrderId::parse(&id).ok_or(ApiError::NotFound)?;
            let order = crate::orders::store::find_order(conn, oid.as_str())?
                .filter(|o| o.account_id.as_deref() == Some(account.as_str()))
                .ok_or(ApiError::NotFound)?;
            let (lines, payment) = crate::orders::service::lines_and_payment(conn, &order)?;
            Ok((order, lines, payment))
        })
        .await?;
    let opened = crate::orders::http::open(&state, &order).await?;
    Ok(Json(crate::orders::http::order_dto(&order, &opened, &lines, payment.as_ref())?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyPrivacyRequest {
    pub kind: crate::privacy::http::KindDto,
}

/// Ask for your access export or your erasure: signed in, no e-mail proof is needed. Erasure ends
/// every session of the account.
#[utoipa::path(
    post, path = "/account/privacy-requests", tag = "accounts", request_body = MyPrivacyRequest,
    security(("account_session" = [])),
    responses((status = 201, body = crate::privacy::http::RequestDto), (status = 200, description = "Already in flight", body = crate::privacy::http::RequestDto))
)]
pub async fn my_privacy_request(
    State(state): State<AppState>,
    session: AccountSession,
    ApiJson(body): ApiJson<MyPrivacyRequest>,
) -> Result<axum::response::Response, ApiError> {
    use crate::privacy::requests::{self, RaisedBy};
    let account = session.account_id;
    let id = account.clone();
    let subject = state
        .db
        .run(move |conn| Ok(super::store::find_account(conn, &id)?))
        .await?
        .ok_or(ApiError::Unauthorized)?
        .subject_id;
    let holder = service::holder(&state, &account).await?;
    let raised = requests::raise(&state, &subject, body.kind.into(), RaisedBy::Subject, holder.email).await?;
    Ok(crate::privacy::http::raised_response(raised))
}

/// Ask to add the orders you placed as a guest with this account's address: a single-use link goes
/// to the address (it proves the address is yours).
#[utoipa::path(
    post, path = "/account/claims", tag = "accounts", security(("account_session" = [])),
    responses((status = 202, body = AcceptedDto))
)]
pub async fn request_claim(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<(StatusCode, Json<AcceptedDto>), ApiError> {
    service::request_claim(&state, &session.account_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedDto {
            detail: "A link to add your earlier orders was sent to your account's address; it works once, within 15 \
                     minutes."
                .into(),
        }),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteClaim {
    /// The token of the mailed link (`pc_…`).
    #[validate(length(min = 1, max = 200, code = "length"))]
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimedDto {
    /// Guest orders now in your history.
    pub claimed: usize,
}

/// Add your guest orders with the mailed link's token (signed in as the account it was sent for).
#[utoipa::path(
    post, path = "/account/claims/complete", tag = "accounts", request_body = CompleteClaim,
    security(("account_session" = [])),
    responses((status = 200, body = ClaimedDto),
              (status = 422, description = "`link_invalid`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn complete_claim(
    State(state): State<AppState>,
    session: AccountSession,
    ApiJson(body): ApiJson<CompleteClaim>,
) -> Result<Json<ClaimedDto>, ApiError> {
    let claimed = service::complete_claim(&state, &session.account_id, &body.token).await?;
    Ok(Json(ClaimedDto { claimed }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecondFactorEnrolmentDto {
    /// Base32: type it into the authenticator app (shown once).
    pub secret: String,
    /// `otpauth://totp/…`: show it as a QR code for the app to scan.
    pub otpauth_uri: String,
}

/// Turn on a second factor (opt-in): an authenticator app's secret. Confirm with its first code.
#[utoipa::path(
    post, path = "/account/second-factor", tag = "accounts", security(("account_session" = [])),
    responses((status = 201, body = SecondFactorEnrolmentDto),
              (status = 409, description = "`second_factor_enrolled`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn begin_second_factor(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<(StatusCode, Json<SecondFactorEnrolmentDto>), ApiError> {
    let e = service::begin_second_factor(&state, &session.account_id).await?;
    Ok((StatusCode::CREATED, Json(SecondFactorEnrolmentDto { secret: e.secret, otpauth_uri: e.uri })))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSecondFactor {
    /// The app's current 6-digit code.
    #[validate(length(min = 1, max = 12, code = "length"))]
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesDto {
    /// Single-use codes for when the authenticator is lost: keep them somewhere safe. Shown once.
    pub recovery_codes: Vec<String>,
}

/// Confirm the authenticator with its first code: from now on, logging in asks for a code too.
#[utoipa::path(
    post, path = "/account/second-factor/confirm", tag = "accounts", security(("account_session" = [])),
    request_body = ConfirmSecondFactor,
    responses((status = 200, body = RecoveryCodesDto),
              (status = 422, description = "`invalid_code`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn confirm_second_factor(
    State(state): State<AppState>,
    session: AccountSession,
    ApiJson(body): ApiJson<ConfirmSecondFactor>,
) -> Result<Json<RecoveryCodesDto>, ApiError> {
    let recovery_codes = service::confirm_second_factor(&state, &session.account_id, body.code).await?;
    Ok(Json(RecoveryCodesDto { recovery_codes }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveSecondFactor {
    /// The account's password (asked again).
    pub password: Password,
}

/// Turn the second factor off (the password is asked again).
#[utoipa::path(
    delete, path = "/account/second-factor", tag = "accounts", security(("account_session" = [])),
    request_body = RemoveSecondFactor,
    responses((status = 204, description = "Off"),
              (status = 409, description = "`second_factor_not_enrolled`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn remove_second_factor(
    State(state): State<AppState>,
    session: AccountSession,
    ApiJson(body): ApiJson<RemoveSecondFactor>,
) -> Result<StatusCode, ApiError> {
    service::remove_second_factor(&state, &session.account_id, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveDetails {
    /// 12 to 128 characters; no other rule.
    pub password: Password,
}

/// "Save my details" during checkout: an account for the cart's e-mail (and shipping name), signed in
/// at once; the cart and the order placed from it become the account's. Authorized by the cart token.
#[utoipa::path(
    post, path = "/carts/{id}/account", tag = "accounts", params(("id" = String, Path)),
    request_body = SaveDetails, security(("cart_token" = [])),
    responses((status = 201, body = RegisteredDto),
              (status = 409, description = "`account_exists`, `cart_checked_out`, `cart_has_account`", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "`details_required`, or a weak password", body = Problem, content_type = "application/problem+json"))
)]
pub async fn register_from_cart(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    token: crate::http::auth::BearerToken,
    ApiJson(body): ApiJson<SaveDetails>,
) -> Result<impl IntoResponse, ApiError> {
    let (holder, session) = service::register_from_cart(&state, id, token.0.expose().to_owned(), body.password).await?;
    let cookie = session_cookie(&state, &session);
    Ok((
        StatusCode::CREATED,
        cookie,
        Json(RegisteredDto { account: account_dto(holder, false), session: session_dto(&session) }),
    ))
}
