//! Staff over HTTP: set up, log in (password, then the authenticator's code), enrol the authenticator,
//! log out; and, for admins, managing members.

use super::service::{self, By, Change, Member, NewSession, SetupLink};
use crate::access::{Role, StaffActor};
use crate::accounts::http::{ConfirmSecondFactor, RecoveryCodesDto, SecondFactorEnrolmentDto};
use crate::accounts::password::Password;
use crate::accounts::second_factor::Presented;
use crate::error::{ApiError, Problem};
use crate::http::extract::ApiJson;
use crate::kernel::pii::Email;
use crate::kernel::time::UtcTime;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The setup link's token (`st_…`).
    #[validate(length(min = 1, max = 200, code = "length"))]
    pub token: String,
    /// 12 to 128 characters; no other rule.
    pub password: Password,
}

/// Set your password with the one-time setup link an admin (or the CLI) gave you.
#[utoipa::path(
    post, path = "/staff/setup", operation_id = "staff_setup", tag = "staff", request_body = Setup,
    responses((status = 204, description = "Password set: log in"),
              (status = 422, description = "`link_invalid`, or a weak password", body = Problem, content_type = "application/problem+json"))
)]
pub async fn setup(State(state): State<AppState>, ApiJson(body): ApiJson<Setup>) -> Result<StatusCode, ApiError> {
    service::setup(&state, &body.token, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffLogin {
    pub email: Email,
    pub password: Password,
    /// The authenticator app's current 6-digit code (once enrolled).
    #[validate(length(min = 1, max = 12, code = "length"))]
    pub code: Option<String>,
    /// Or one of the single-use recovery codes.
    #[validate(length(min = 1, max = 32, code = "length"))]
    pub recovery_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffSessionDto {
    /// `Authorization: Bearer` for the staff routes (`ss_…`); shown once. Browsers get it as the
    /// `lc_staff_session` cookie too.
    pub session_token: String,
    /// With the cookie: send as `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UtcTime,
    /// `false`: no authenticator yet — enrol one (`POST /v1/staff/second-factor`) before anything else.
    pub second_factor_verified: bool,
}

fn session_response(state: &AppState, s: &NewSession) -> impl IntoResponse + use<> {
    let max_age = (s.expires_at - state.clock.now()).num_seconds().max(0);
    let cookie = crate::accounts::session::named_cookie(super::model::COOKIE_NAME, s.token.expose(), max_age);
    let dto = StaffSessionDto {
        session_token: s.token.expose().to_owned(),
        csrf_token: crate::accounts::session::csrf_token(s.token.expose()),
        expires_at: s.expires_at.into(),
        second_factor_verified: s.verified,
    };
    (StatusCode::CREATED, [(SET_COOKIE, cookie)], Json(dto))
}

/// Staff log in. Unknown e-mail and wrong password answer alike; with the right password, a member with
/// an authenticator must add its code (`second_factor_required` otherwise).
#[utoipa::path(
    post, path = "/staff/sessions", operation_id = "staff_login", tag = "staff", request_body = StaffLogin,
    responses((status = 201, body = StaffSessionDto),
              (status = 401, description = "`invalid_credentials` or `second_factor_required`", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "`rate_limited`; see `Retry-After`", body = Problem, content_type = "application/problem+json",
               headers(("Retry-After" = u64, description = "Seconds to wait"))))
)]
pub async fn login(
    State(state): State<AppState>,
    client: crate::http::client::ClientAddr,
    ApiJson(body): ApiJson<StaffLogin>,
) -> Result<impl IntoResponse, ApiError> {
    let presented = Presented { code: body.code, recovery_code: body.recovery_code };
    let session = service::login(&state, client.0, body.email, body.password, presented).await?;
    Ok(session_response(&state, &session))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffMemberDto {
    /// `stf_…`
    pub id: String,
    pub email: Option<String>,
    pub role: Role,
    /// The setup link was used.
    pub password_set: bool,
    /// An authenticator is enrolled.
    pub second_factor: bool,
    pub disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
}

fn member_dto(m: Member) -> StaffMemberDto {
    StaffMemberDto {
        id: m.id,
        email: m.email.map(|e| e.expose().to_owned()),
        role: m.role,
        password_set: m.password_set,
        second_factor: m.second_factor,
        disabled: m.disabled,
        created_at: m.created_at.into(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffMeDto {
    pub member: StaffMemberDto,
    /// This session showed the second factor.
    pub second_factor_verified: bool,
}

/// Who you are signed in as.
#[utoipa::path(
    get, path = "/staff/me", operation_id = "staff_me", tag = "staff", security(("staff_session" = [])),
    responses((status = 200, body = StaffMeDto))
)]
pub async fn me(State(state): State<AppState>, actor: StaffActor) -> Result<Json<StaffMeDto>, ApiError> {
    let member = service::member(&state, &actor.id).await?;
    Ok(Json(StaffMeDto { member: member_dto(member), second_factor_verified: actor.verified }))
}

/// Log out this session.
#[utoipa::path(
    delete, path = "/staff/sessions/current", operation_id = "staff_logout", tag = "staff", security(("staff_session" = [])),
    responses((status = 204, description = "Logged out"))
)]
pub async fn logout(State(state): State<AppState>, actor: StaffActor) -> Result<impl IntoResponse, ApiError> {
    service::logout(&state, actor.session_hash).await?;
    let clear = crate::accounts::session::named_cookie(super::model::COOKIE_NAME, "", 0);
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, clear)]))
}

/// Start enrolling an authenticator app (TOTP, RFC 6238). Confirm with its first code.
#[utoipa::path(
    post, path = "/staff/second-factor", operation_id = "staff_begin_second_factor", tag = "staff", security(("staff_session" = [])),
    responses((status = 201, body = SecondFactorEnrolmentDto),
              (status = 409, description = "`second_factor_enrolled`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn begin_second_factor(
    State(state): State<AppState>,
    actor: StaffActor,
) -> Result<(StatusCode, Json<SecondFactorEnrolmentDto>), ApiError> {
    let e = service::begin_enrolment(&state, &actor).await?;
    Ok((StatusCode::CREATED, Json(SecondFactorEnrolmentDto { secret: e.secret, otpauth_uri: e.uri })))
}

/// Confirm the authenticator with its first code: it is on, and this session may work.
#[utoipa::path(
    post, path = "/staff/second-factor/confirm", operation_id = "staff_confirm_second_factor", tag = "staff", security(("staff_session" = [])),
    request_body = ConfirmSecondFactor,
    responses((status = 200, body = RecoveryCodesDto),
              (status = 422, description = "`invalid_code`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn confirm_second_factor(
    State(state): State<AppState>,
    actor: StaffActor,
    ApiJson(body): ApiJson<ConfirmSecondFactor>,
) -> Result<Json<RecoveryCodesDto>, ApiError> {
    let recovery_codes = service::confirm_enrolment(&state, &actor, body.code).await?;
    Ok(Json(RecoveryCodesDto { recovery_codes }))
}

/// Admin: every member of staff (audited: one entry per member shown).
#[utoipa::path(
    get, path = "/admin/staff", operation_id = "staff_list", tag = "staff", security(("staff_session" = [])),
    responses((status = 200, body = Vec<StaffMemberDto>))
)]
pub async fn list(State(state): State<AppState>, actor: StaffActor) -> Result<Json<Vec<StaffMemberDto>>, ApiError> {
    Ok(Json(service::list(&state, By::Staff(&actor.id)).await?.into_iter().map(member_dto).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub email: Email,
    pub role: RoleInput,
}

/// A role, as a request names it.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleInput {
    Admin,
    Support,
    Finance,
}

impl From<RoleInput> for Role {
    fn from(r: RoleInput) -> Role {
        match r {
            RoleInput::Admin => Role::Admin,
            RoleInput::Support => Role::Support,
            RoleInput::Finance => Role::Finance,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupLinkDto {
    /// Give it to the member through a channel you trust: it sets their password (`POST
    /// /v1/staff/setup`), once, within 24 hours. Shown once.
    pub setup_token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UtcTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedMemberDto {
    pub member: StaffMemberDto,
    pub setup: SetupLinkDto,
}

fn setup_dto(link: SetupLink) -> SetupLinkDto {
    SetupLinkDto { setup_token: link.token.expose().to_owned(), expires_at: link.expires_at.into() }
}

/// Admin: add a member of staff with a role (audited). They set a password with the setup link and
/// enrol an authenticator at their first sign-in.
#[utoipa::path(
    post, path = "/admin/staff", operation_id = "staff_create", tag = "staff", security(("staff_session" = [])), request_body = NewMember,
    responses((status = 201, body = CreatedMemberDto),
              (status = 409, description = "`staff_exists`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn create(
    State(state): State<AppState>,
    actor: StaffActor,
    ApiJson(body): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<CreatedMemberDto>), ApiError> {
    let (member, link) = service::create(&state, body.email, body.role.into(), By::Staff(&actor.id)).await?;
    Ok((StatusCode::CREATED, Json(CreatedMemberDto { member: member_dto(member), setup: setup_dto(link) })))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: RoleInput,
}

/// Admin: change a member's role (audited; their sessions end).
#[utoipa::path(
    patch, path = "/admin/staff/{id}", operation_id = "staff_update", tag = "staff", security(("staff_session" = [])),
    params(("id" = String, Path)), request_body = UpdateMember,
    responses((status = 200, body = StaffMemberDto),
              (status = 409, description = "`last_admin`, `own_membership`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn update(
    State(state): State<AppState>,
    actor: StaffActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> Result<Json<StaffMemberDto>, ApiError> {
    Ok(Json(member_dto(service::change(&state, &actor, &id, Change::Role(body.role.into())).await?)))
}

/// Admin: disable a member (audited; their sessions end, their sign-in stops working).
#[utoipa::path(
    delete, path = "/admin/staff/{id}", operation_id = "staff_disable", tag = "staff", security(("staff_session" = [])), params(("id" = String, Path)),
    responses((status = 200, body = StaffMemberDto),
              (status = 409, description = "`last_admin`, `own_membership`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn disable(
    State(state): State<AppState>,
    actor: StaffActor,
    Path(id): Path<String>,
) -> Result<Json<StaffMemberDto>, ApiError> {
    Ok(Json(member_dto(service::change(&state, &actor, &id, Change::Disable).await?)))
}

/// Admin: a new one-time setup link for a member who forgot their password (audited).
#[utoipa::path(
    post, path = "/admin/staff/{id}/setup-link", operation_id = "staff_setup_link", tag = "staff", security(("staff_session" = [])), params(("id" = String, Path)),
    responses((status = 201, body = SetupLinkDto))
)]
pub async fn setup_link(
    State(state): State<AppState>,
    actor: StaffActor,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SetupLinkDto>), ApiError> {
    let link = service::new_setup_link(&state, By::Staff(&actor.id), &id).await?;
    Ok((StatusCode::CREATED, Json(setup_dto(link))))
}

/// Admin: reset a member's lost authenticator (audited; their sessions end; they enrol again).
#[utoipa::path(
    post, path = "/admin/staff/{id}/second-factor/reset", operation_id = "staff_reset_second_factor", tag = "staff", security(("staff_session" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Reset"),
              (status = 409, description = "`own_membership`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn reset_second_factor(
    State(state): State<AppState>,
    actor: StaffActor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::reset_second_factor(&state, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
