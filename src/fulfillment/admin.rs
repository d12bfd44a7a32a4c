//! Admin: partners (carrier needs, endpoint), their keys (issue, revoke, what a key would see), routing
//! rules, fulfillments and re-assigning them.

use super::model::{FulfillmentRow, RuleId, RuleRow, Status};
use super::record::Grant;
use crate::access::StaffActor;
use crate::db::dialect::write_transaction;
use crate::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::kernel::time::UtcTime;
use crate::partners::store::{self as partners, PartnerRow};
use crate::privacy::sealing::{Field, Sealed};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerDto {
    /// `ptn_…`
    pub id: String,
    pub name: String,
    pub carrier_needs_phone: bool,
    pub webhook_url: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
}

fn partner_dto(p: PartnerRow) -> PartnerDto {
    PartnerDto {
        id: p.id,
        name: p.name,
        carrier_needs_phone: p.carrier_needs_phone,
        webhook_url: p.webhook_url,
        created_at: p.created_at.into(),
    }
}

/// Admin: every fulfillment partner.
#[utoipa::path(get, path = "/admin/partners", tag = "fulfillment", security(("staff_session" = [])),
    responses((status = 200, body = Vec<PartnerDto>)))]
pub async fn list_partners(State(state): State<AppState>, _: StaffActor) -> Result<Json<Vec<PartnerDto>>, ApiError> {
    let rows = state.db.run(|conn| Ok(partners::list_partners(conn)?)).await?;
    Ok(Json(rows.into_iter().map(partner_dto).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartner {
    #[validate(length(min = 1, max = 200, code = "length"))]
    pub name: String,
    /// The partner's carrier needs the recipient's phone (keys with `shipping.phone:read` then get it).
    #[serde(default)]
    pub carrier_needs_phone: bool,
    /// HTTPS endpoint told when work is ready (signed notices).
    #[validate(length(max = 500, code = "length"))]
    pub webhook_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPartnerDto {
    pub partner: PartnerDto,
    /// The endpoint's signing secret (`whsec_…`), shown this once; with an endpoint only.
    pub webhook_secret: Option<String>,
}

/// Set the partner's endpoint with a new signing secret (sealed under the partner's own key). Returns it.
async fn set_endpoint(state: &AppState, id: &str, url: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(url) = url else {
        let pid = id.to_owned();
        state.db.run(move |conn| Ok(partners::set_webhook(conn, &pid, None, None).map(|_| ())?)).await?;
        return Ok(None);
    };
    if !super::notices::acceptable_url(&url, state.config.partner_webhook_allow_loopback_http) {
        return Err(ApiError::validation("webhook_url", "https_required"));
    }
    let owner = format!("partner:{id}");
    let key = match state.vault.find_key(&owner).await? {
        Some(k) => k,
        None => state.vault.new_key(&owner).await?,
    };
    let secret = format!("whsec_{}", hex::encode(crate::kernel::totp::new_secret()));
    let sealed =
        Sealed::seal(&key, Field::WebhookSecret, &secret).map_err(|e| ApiError::internal(format!("sealing: {e}")))?;
    let pid = id.to_owned();
    state.db.run(move |conn| Ok(partners::set_webhook(conn, &pid, Some(&url), Some(&sealed)).map(|_| ())?)).await?;
    Ok(Some(secret))
}

/// Admin: add a partner (audited).
#[utoipa::path(post, path = "/admin/partners", tag = "fulfillment", request_body = NewPartner, security(("staff_session" = [])),
    responses((status = 201, body = CreatedPartnerDto)))]
pub async fn create_partner(
    State(state): State<AppState>,
    actor: StaffActor,
    ApiJson(body): ApiJson<NewPartner>,
) -> Result<(StatusCode, Json<CreatedPartnerDto>), ApiError> {
    let id = format!("ptn_{}", crate::kernel::ids::random_base62());
    let (pid, name, needs, staff, now) =
        (id.clone(), body.name.trim().to_owned(), body.carrier_needs_phone, actor.id.clone(), state.clock.now());
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                partners::insert_partner(conn, &pid, &name, now)?;
                partners::set_carrier_needs_phone(conn, &pid, needs)?;
                crate::audit::record(conn, &staff, "partner.create", Some(&pid))?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    let secret = set_endpoint(&state, &id, body.webhook_url).await?;
    let row = state.db.run(move |conn| Ok(partners::find_partner(conn, &id)?)).await?.ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(CreatedPartnerDto { partner: partner_dto(row), webhook_secret: secret })))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePartner {
    pub carrier_needs_phone: Option<bool>,
    /// A new endpoint (a new secret is made); `""` removes it.
    #[validate(length(max = 500, code = "length"))]
    pub webhook_url: Option<String>,
}

/// Admin: change what a partner's carrier needs, or its endpoint (audited).
#[utoipa::path(patch, path = "/admin/partners/{id}", tag = "fulfillment", params(("id" = String, Path)),
    request_body = UpdatePartner, security(("staff_session" = [])),
    responses((status = 200, body = CreatedPartnerDto), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn update_partner(
    State(state): State<AppState>,
    actor: StaffActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePartner>,
) -> Result<Json<CreatedPartnerDto>, ApiError> {
    let (pid, staff, needs) = (id.clone(), actor.id.clone(), body.carrier_needs_phone);
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !partners::partner_exists(conn, &pid)? {
                    return Err(ApiError::NotFound);
                }
                if let Some(n) = needs {
                    partners::set_carrier_needs_phone(conn, &pid, n)?;
                }
                crate::audit::record(conn, &staff, "partner.update", Some(&pid))?;
                Ok(())
            })
        })
        .await?;
    let secret = match body.webhook_url {
        Some(url) if url.is_empty() => set_endpoint(&state, &id, None).await?,
        Some(url) => set_endpoint(&state, &id, Some(url)).await?,
        None => None,
    };
    let row = state.db.run(move |conn| Ok(partners::find_partner(conn, &id)?)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(CreatedPartnerDto { partner: partner_dto(row), webhook_secret: secret }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Of `orders:read`, `shipments:write`, `shipping.phone:read`, `customs:read`.
    #[validate(length(min = 1, max = 4, code = "length"))]
    pub scopes: Vec<String>,
    #[validate(range(min = 1, max = 3650, code = "range"))]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKeyDto {
    /// `pk_…`
    pub key_id: String,
    pub prefix: String,
    /// `lc_live_…`, shown this once.
    pub token: String,
    /// The fields of a record this key receives.
    pub fields: Vec<&'static str>,
}

/// Admin: issue a partner key (audited). Rotate with overlap: issue the new one, move the partner to
/// it, revoke the old.
#[utoipa::path(post, path = "/admin/partners/{id}/keys", tag = "fulfillment", params(("id" = String, Path)),
    request_body = NewKey, security(("staff_session" = [])),
    responses((status = 201, body = IssuedKeyDto), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn issue_key(
    State(state): State<AppState>,
    _: StaffActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<IssuedKeyDto>), ApiError> {
    let scopes = crate::partners::keys::parse_scopes(&body.scopes.join(","))
        .map_err(|_| ApiError::validation("scopes", "unknown_scope"))?;
    let now = state.clock.now();
    let expires = body.expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d)));
    let (pid, sc) = (id.clone(), scopes.clone());
    let (issued, needs) = state
        .db
        .run(move |conn| {
            let issued = write_transaction(conn, |conn| crate::partners::keys::issue(conn, &pid, &sc, expires, now))?;
            Ok((issued, partners::carrier_needs_phone(conn, &pid)?))
        })
        .await?;
    let key = crate::partners::keys::PartnerKey { partner_id: id, key_id: issued.key_id.clone(), scopes };
    Ok((
        StatusCode::CREATED,
        Json(IssuedKeyDto {
            key_id: issued.key_id,
            prefix: issued.prefix,
            token: issued.token.expose().to_owned(),
            fields: Grant::of(&key, needs).fields(),
        }),
    ))
}

/// Admin: revoke a partner key at once (audited).
#[utoipa::path(delete, path = "/admin/partner-keys/{id}", tag = "fulfillment", params(("id" = String, Path)),
    security(("staff_session" = [])),
    responses((status = 204, description = "Revoked"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    _: StaffActor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    let done =
        state.db.run(move |conn| write_transaction(conn, |conn| crate::partners::keys::revoke(conn, &id, now))).await?;
    if done { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewDto {
    pub scopes: Vec<String>,
    /// Exactly the fields of a record this key receives (the phone only where the carrier needs it;
    /// customs only on international parcels).
    pub fields: Vec<&'static str>,
}

/// Admin: what a partner key would receive.
#[utoipa::path(get, path = "/admin/partners/{id}/keys/{key_id}/preview", tag = "fulfillment",
    params(("id" = String, Path), ("key_id" = String, Path)), security(("staff_session" = [])),
    responses((status = 200, body = PreviewDto), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn preview(
    State(state): State<AppState>,
    _: StaffActor,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Json<PreviewDto>, ApiError> {
    let (key, needs) = state
        .db
        .run(move |conn| {
            let keys = partners::keys_of(conn, &id)?;
            let k = keys.into_iter().find(|k| k.id == key_id).ok_or(ApiError::NotFound)?;
            Ok((k, partners::carrier_needs_phone(conn, &id)?))
        })
        .await?;
    let scopes: Vec<String> = key.scopes.split_whitespace().map(str::to_owned).collect();
    let pk = crate::partners::keys::PartnerKey { partner_id: key.partner_id, key_id: key.id, scopes: scopes.clone() };
    Ok(Json(PreviewDto { fields: Grant::of(&pk, needs).fields(), scopes }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleDto {
    /// `rr_…`
    pub id: String,
    pub partner_id: String,
    /// Lower first.
    pub priority: i32,
    pub shipping_method: Option<String>,
    pub country: Option<String>,
    pub sku_prefix: Option<String>,
}

fn rule_dto(r: RuleRow) -> RuleDto {
    RuleDto {
        id: r.id,
        partner_id: r.partner_id,
        priority: r.priority,
        shipping_method: r.shipping_method,
        country: r.country,
        sku_prefix: r.sku_prefix,
    }
}

/// Admin: the routing rules, in the order they are tried.
#[utoipa::path(get, path = "/admin/routing-rules", tag = "fulfillment", security(("staff_session" = [])),
    responses((status = 200, body = Vec<RuleDto>)))]
pub async fn list_rules(State(state): State<AppState>, _: StaffActor) -> Result<Json<Vec<RuleDto>>, ApiError> {
    let rules = state.db.run(|conn| Ok(super::store::rules(conn)?)).await?;
    Ok(Json(rules.into_iter().map(rule_dto).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    #[validate(length(min = 1, max = 64, code = "length"))]
    pub partner_id: String,
    #[validate(range(min = 0, max = 100000, code = "range"))]
    pub priority: i32,
    #[validate(length(min = 1, max = 64, code = "length"))]
    pub shipping_method: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[validate(length(equal = 2, code = "length"))]
    pub country: Option<String>,
    #[validate(length(min = 1, max = 64, code = "length"))]
    pub sku_prefix: Option<String>,
}

/// Admin: add a routing rule: lines of paid orders matching every condition given go to the partner
/// (the lowest priority first). Audited.
#[utoipa::path(post, path = "/admin/routing-rules", tag = "fulfillment", request_body = NewRule, security(("staff_session" = [])),
    responses((status = 201, body = RuleDto)))]
pub async fn create_rule(
    State(state): State<AppState>,
    actor: StaffActor,
    ApiJson(body): ApiJson<NewRule>,
) -> Result<(StatusCode, Json<RuleDto>), ApiError> {
    let row = RuleRow {
        id: RuleId::generate().into_string(),
        partner_id: body.partner_id,
        priority: body.priority,
        shipping_method: body.shipping_method,
        country: body.country.map(|c| c.to_ascii_uppercase()),
        sku_prefix: body.sku_prefix,
        created_at: state.clock.now(),
    };
    let (r, staff) = (row.clone(), actor.id.clone());
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !partners::partner_exists(conn, &r.partner_id)? {
                    return Err(ApiError::validation("partner_id", "unknown_partner"));
                }
                super::store::insert_rule(conn, &r)?;
                crate::audit::record(conn, &staff, "routing_rule.create", Some(&r.id))?;
                Ok(())
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(rule_dto(row))))
}

/// Admin: remove a routing rule (audited).
#[utoipa::path(delete, path = "/admin/routing-rules/{id}", tag = "fulfillment", params(("id" = String, Path)),
    security(("staff_session" = [])),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_rule(
    State(state): State<AppState>,
    actor: StaffActor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let staff = actor.id.clone();
    let n = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let n = super::store::delete_rule(conn, &id)?;
                if n > 0 {
                    crate::audit::record(conn, &staff, "routing_rule.delete", Some(&id))?;
                }
                Ok::<_, ApiError>(n)
            })
        })
        .await?;
    if n == 0 { Err(ApiError::NotFound) } else { Ok(StatusCode::NO_CONTENT) }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FulfillmentQuery {
    #[param(value_type = Option<String>)]
    pub status: Option<String>,
    #[validate(length(max = 64, code = "length"))]
    pub partner_id: Option<String>,
    #[validate(length(max = 64, code = "length"))]
    pub order_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FulfillmentDto {
    /// `ful_…`
    pub id: String,
    pub order_id: String,
    pub partner_id: Option<String>,
    pub reference: String,
    pub status: String,
    pub exception: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
}

fn fulfillment_dto(f: FulfillmentRow) -> FulfillmentDto {
    FulfillmentDto {
        id: f.id,
        order_id: f.order_id,
        partner_id: f.partner_id,
        reference: f.reference,
        status: f.status,
        exception: f.exception,
        created_at: f.created_at.into(),
    }
}

/// Staff: fulfillments and where they are (newest first, up to 200; no personal data).
#[utoipa::path(get, path = "/admin/fulfillments", tag = "fulfillment", params(FulfillmentQuery), security(("staff_session" = [])),
    responses((status = 200, body = Vec<FulfillmentDto>)))]
pub async fn list_fulfillments(
    State(state): State<AppState>,
    _: StaffActor,
    ApiQuery(q): ApiQuery<FulfillmentQuery>,
) -> Result<Json<Vec<FulfillmentDto>>, ApiError> {
    if let Some(s) = &q.status
        && Status::parse(s).is_none()
    {
        return Err(ApiError::validation("status", "invalid_choice"));
    }
    let rows = state
        .db
        .run(move |conn| {
            use crate::db::schema::fulfillments as f;
            use diesel::prelude::*;
            let mut query = f::table.into_boxed();
            if let Some(s) = q.status {
                query = query.filter(f::status.eq(s));
            }
            if let Some(p) = q.partner_id {
                query = query.filter(f::partner_id.eq(p));
            }
            if let Some(o) = q.order_id {
                query = query.filter(f::order_id.eq(o));
            }
            Ok(query.order(f::created_at.desc()).limit(200).select(FulfillmentRow::as_select()).load(conn)?)
        })
        .await?;
    Ok(Json(rows.into_iter().map(fulfillment_dto).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    #[validate(length(min = 1, max = 64, code = "length"))]
    pub partner_id: String,
}

/// Admin: give a fulfillment (nothing of it shipped) to a partner; it gets a new reference. Audited.
#[utoipa::path(post, path = "/admin/fulfillments/{id}/assign", tag = "fulfillment", params(("id" = String, Path)),
    request_body = Assign, security(("staff_session" = [])),
    responses((status = 200, body = FulfillmentDto), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn assign(
    State(state): State<AppState>,
    actor: StaffActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Assign>,
) -> Result<Json<FulfillmentDto>, ApiError> {
    Ok(Json(fulfillment_dto(super::service::assign(&state, &actor.id, &id, &body.partner_id).await?)))
}
