//! Cart endpoints. Every route but creation needs the cart token: `Authorization: Bearer ct_…`.

use super::model::{CartRow, PricedLine};
use super::service::{self, CartView, DetailsInput};
use crate::db::dialect;
use crate::error::{ApiError, Problem};
use crate::http::auth::BearerToken;
use crate::http::extract::ApiJson;
use crate::kernel::bounded::{NewQuantity, Quantity};
use crate::kernel::money::Money;
use crate::kernel::time::UtcTime;
use crate::privacy::personal::Details;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
pub struct CartLineDto {
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i32,
    pub line_total: Money,
    pub requires_shipping: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsDto {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub discount: Money,
    pub total: Money,
    /// True when catalog prices include tax (then `tax` is the part of `total` that is tax).
    pub prices_include_tax: bool,
}

/// A shipping address as returned to the person who gave it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressDto {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DetailsDto {
    pub email: Option<String>,
    pub shipping_address: Option<AddressDto>,
    pub shipping_method: Option<String>,
    pub phone: Option<String>,
    pub ship_to_someone_else: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartDto {
    pub id: String,
    /// `open` or `checked_out`
    pub status: String,
    pub currency: String,
    pub lines: Vec<CartLineDto>,
    pub totals: TotalsDto,
    /// Whether a shipping address and method are needed.
    pub requires_shipping: bool,
    pub details: DetailsDto,
    /// What is still needed before `POST /v1/orders`: `lines`, `email`, `shipping_address`,
    /// `shipping_method`, `phone`.
    pub missing: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UtcTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewCartDto {
    /// The cart's bearer token (`ct_…`), shown once: send it as `Authorization: Bearer` on every
    /// cart call and when placing the order.
    pub token: String,
    pub cart: CartDto,
}

pub fn line_dto(l: &PricedLine) -> Result<CartLineDto, ApiError> {
    Ok(CartLineDto {
        variant_id: l.variant.id.clone(),
        sku: l.variant.sku.clone(),
        title: format!("{} — {}", l.product_title, l.variant.title),
        unit_price: l.variant.price()?,
        quantity: l.quantity,
        line_total: l.line_total,
        requires_shipping: l.variant.requires_shipping,
    })
}

/// The shipping address of opened details with the clear region and country (a cart's or an order's).
pub fn address_dto(d: &Details, region: Option<&String>, country: Option<&String>) -> Option<AddressDto> {
    Some(AddressDto {
        name: d.name.as_ref()?.expose().to_owned(),
        line1: d.line1.as_ref()?.expose().to_owned(),
        line2: d.line2.as_ref().map(|v| v.expose().to_owned()),
        city: d.city.as_ref()?.expose().to_owned(),
        region: region.cloned(),
        postal_code: d.postal_code.as_ref().map(|v| v.expose().to_owned()),
        country: country?.clone(),
    })
}

/// The cart's response, its personal fields opened with `details` (the cart holder's own).
pub fn cart_dto(view: CartView, details: &Details) -> Result<CartDto, ApiError> {
    let lines = view.lines.iter().map(line_dto).collect::<Result<_, _>>()?;
    let cart = view.cart;
    Ok(CartDto {
        details: DetailsDto {
            email: details.email.as_ref().map(|e| e.expose().to_owned()),
            shipping_address: address_dto(details, cart.ship_region.as_ref(), cart.ship_country.as_ref()),
            shipping_method: cart.shipping_method.clone(),
            phone: details.phone.as_ref().map(|p| p.expose().to_owned()),
            ship_to_someone_else: cart.is_gift,
        },
        id: cart.id,
        status: cart.status,
        currency: cart.currency,
        lines,
        totals: TotalsDto {
            subtotal: view.totals.subtotal,
            shipping: view.totals.shipping,
            tax: view.totals.tax,
            discount: view.totals.discount,
            total: view.totals.total,
            prices_include_tax: view.totals.prices_include_tax,
        },
        requires_shipping: view.requires_shipping,
        missing: view.missing.into_iter().map(str::to_owned).collect(),
        created_at: cart.created_at.into(),
        updated_at: cart.updated_at.into(),
    })
}

/// Answer with a cart, its personal fields opened with the key of the person they belong to (the
/// cart holder: the token opened it).
async fn respond(state: &AppState, view: CartView) -> Result<Json<CartDto>, ApiError> {
    let key = state.vault.key_of_opt(view.cart.subject_id.as_deref()).await?;
    let details = view.cart.sealed().open(key.as_ref().map(|k| &*k.key));
    Ok(Json(cart_dto(view, &details)?))
}

/// Run a cart operation in one write transaction and answer with the cart as it is afterwards. The
/// operation gets the cart's lines (read with the cart in one query) and returns them as they are after
/// its change.
async fn with_cart<F>(state: &AppState, id: String, token: BearerToken, op: F) -> Result<Json<CartDto>, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn, &mut CartRow, Vec<PricedLine>) -> Result<Vec<PricedLine>, ApiError>
        + Send
        + 'static,
{
    cart_operation(state, id, token, true, op).await
}

/// [`with_cart`] for operations whose single write is atomic by itself (no transaction on PostgreSQL).
async fn with_cart_unit<F>(state: &AppState, id: String, token: BearerToken, op: F) -> Result<Json<CartDto>, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn, &mut CartRow, Vec<PricedLine>) -> Result<Vec<PricedLine>, ApiError>
        + Send
        + 'static,
{
    cart_operation(state, id, token, false, op).await
}

async fn cart_operation<F>(
    state: &AppState,
    id: String,
    token: BearerToken,
    transactional: bool,
    op: F,
) -> Result<Json<CartDto>, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn, &mut CartRow, Vec<PricedLine>) -> Result<Vec<PricedLine>, ApiError>
        + Send
        + 'static,
{
    let policy = state.policy.clone();
    // A cart is a draft: see `Db::run_draft` for what that means for its durability.
    let view = state
        .db
        .run_draft(move |conn| {
            let unit = |conn: &mut crate::db::DbConn| {
                let (mut cart, lines) = service::authorize(conn, &id, token.0.expose())?;
                let lines = op(conn, &mut cart, lines)?;
                service::view(cart, lines, &policy)
            };
            if transactional { dialect::write_transaction(conn, unit) } else { dialect::write_unit(conn, unit) }
        })
        .await?;
    respond(state, view).await
}

/// Start a cart. The response carries the cart token, shown only this once.
#[utoipa::path(
    post, path = "/carts", tag = "checkout",
    responses(
        (status = 201, body = NewCartDto),
        (status = 429, description = "Too many carts from this address (`rate_limited`); see `Retry-After`",
         body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn create_cart(
    State(state): State<AppState>,
    signed_in: crate::accounts::session::MaybeAccount,
) -> Result<(StatusCode, Json<NewCartDto>), ApiError> {
    let currency = state.config.store_currency;
    let policy = state.policy.clone();
    // A signed-in shopper's session (optional: guest checkout needs none) makes it their cart.
    let account = signed_in.0.map(|s| s.account_id);
    let (view, token) = state
        .db
        .run_draft(move |conn| {
            let (cart, token) = dialect::write_unit(conn, |conn| service::create_cart(conn, currency, account))?;
            // A new cart has no lines.
            Ok((service::view(cart, Vec::new(), &policy)?, token))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewCartDto { token: token.plaintext.expose().to_owned(), cart: cart_dto(view, &Details::default())? }),
    ))
}

/// The cart with its lines, totals and what checkout still needs.
#[utoipa::path(
    get, path = "/carts/{id}", tag = "checkout",
    params(("id" = crate::checkout::model::CartId, Path)), security(("cart_token" = [])),
    responses((status = 200, body = CartDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get_cart(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: BearerToken,
) -> Result<Json<CartDto>, ApiError> {
    let policy = state.policy.clone();
    let view = state
        .db
        .run(move |conn| {
            let (cart, lines) = service::authorize(conn, &id, token.0.expose())?;
            service::view(cart, lines, &policy)
        })
        .await?;
    respond(&state, view).await
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLine {
    /// `var_…`
    #[schema(value_type = crate::catalog::model::VariantId)]
    pub variant_id: String,
    pub quantity: Quantity,
}

/// Add units of a variant (price and stock come from the catalog, never from the client).
#[utoipa::path(
    post, path = "/carts/{id}/lines", tag = "checkout",
    params(("id" = crate::checkout::model::CartId, Path)), security(("cart_token" = [])), request_body = AddLine,
    responses((status = 200, body = CartDto), (status = 409, description = "Not enough stock", body = Problem, content_type = "application/problem+json"))
)]
pub async fn add_line(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: BearerToken,
    ApiJson(body): ApiJson<AddLine>,
) -> Result<Json<CartDto>, ApiError> {
    let policy = state.policy.clone();
    let view = state
        .db
        .run_draft(move |conn| {
            dialect::write_unit(conn, |conn| {
                let token = token.0.expose();
                if let Some((cart, lines)) =
                    service::add_line_if_allowed(conn, &id, token, &body.variant_id, body.quantity.get_i32())?
                {
                    return service::view(cart, lines, &policy);
                }
                let (mut cart, lines) = service::authorize(conn, &id, token)?;
                let lines = service::add_line(conn, &mut cart, lines, &body.variant_id, body.quantity.get_i32())?;
                service::view(cart, lines, &policy)
            })
        })
        .await?;
    respond(&state, view).await
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// 0 removes the line.
    pub quantity: NewQuantity,
}

/// Change a line's quantity.
#[utoipa::path(
    put, path = "/carts/{id}/lines/{variant_id}", tag = "checkout",
    params(("id" = crate::checkout::model::CartId, Path), ("variant_id" = crate::catalog::model::VariantId, Path)), security(("cart_token" = [])), request_body = SetQuantity,
    responses((status = 200, body = CartDto), (status = 409, body = Problem, content_type = "application/problem+json"))
)]
pub async fn set_line(
    State(state): State<AppState>,
    Path((id, variant_id)): Path<(String, String)>,
    token: BearerToken,
    ApiJson(body): ApiJson<SetQuantity>,
) -> Result<Json<CartDto>, ApiError> {
    with_cart(&state, id, token, move |conn, cart, lines| {
        service::set_quantity(conn, cart, lines, &variant_id, body.quantity.get_i32())
    })
    .await
}

/// Remove a line.
#[utoipa::path(
    delete, path = "/carts/{id}/lines/{variant_id}", tag = "checkout",
    params(("id" = crate::checkout::model::CartId, Path), ("variant_id" = crate::catalog::model::VariantId, Path)), security(("cart_token" = [])),
    responses((status = 200, body = CartDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn remove_line(
    State(state): State<AppState>,
    Path((id, variant_id)): Path<(String, String)>,
    token: BearerToken,
) -> Result<Json<CartDto>, ApiError> {
    with_cart(&state, id, token, move |conn, cart, lines| service::remove_line(conn, cart, lines, &variant_id)).await
}

/// Set the checkout details (replacing earlier ones). Only the fields each purpose needs are
/// accepted: missing ones are named in the error, extra ones are refused (`not_collected`,
/// `unknown_field`).
#[utoipa::path(
    put, path = "/carts/{id}/details", tag = "checkout",
    params(("id" = crate::checkout::model::CartId, Path)), security(("cart_token" = [])), request_body = DetailsInput,
    responses((status = 200, body = CartDto), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
pub async fn set_details(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: BearerToken,
    ApiJson(body): ApiJson<DetailsInput>,
) -> Result<Json<CartDto>, ApiError> {
    let policy = state.policy.clone();
    // The person's key first: the keyring is another database (see `privacy::vault`).
    let key = match &body.email {
        Some(email) => Some(state.vault.for_email(email).await?),
        None => None,
    };
    with_cart_unit(&state, id, token, move |conn, cart, lines| {
        service::set_details(conn, cart, lines, body, &policy, key.as_ref())
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingMethodDto {
    pub code: String,
    pub name: String,
    /// The price for this cart; `null` when the cart is too heavy for the method.
    pub price: Option<Money>,
    /// The carrier needs the recipient's phone number.
    pub requires_phone: bool,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MethodsQuery {
    /// Destination country (ISO 3166-1 alpha-2, upper case); defaults to the cart's shipping address.
    #[param(value_type = Option<crate::shipping::country::CountryCode>)]
    pub country: Option<String>,
}

/// Shipping methods for the cart's destination, priced for its contents.
#[utoipa::path(
    get, path = "/carts/{id}/shipping-methods", tag = "checkout",
    params(("id" = crate::checkout::model::CartId, Path), MethodsQuery), security(("cart_token" = [])),
    responses((status = 200, body = Vec<ShippingMethodDto>))
)]
pub async fn shipping_methods(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: BearerToken,
    crate::http::extract::ApiQuery(q): crate::http::extract::ApiQuery<MethodsQuery>,
) -> Result<Json<Vec<ShippingMethodDto>>, ApiError> {
    let policy = state.policy.clone();
    let methods = state
        .db
        .run(move |conn| {
            let (cart, lines) = service::authorize(conn, &id, token.0.expose())?;
            let currency = cart.currency()?;
            let subtotal = lines.iter().try_fold(Money::zero(currency), |acc, l| acc.checked_add(l.line_total))?;
            let weight: i64 = lines
                .iter()
                .filter(|l| l.variant.requires_shipping)
                .map(|l| i64::from(l.variant.weight_grams) * i64::from(l.quantity))
                .sum();
            let country = match q.country.as_deref() {
                Some(c) => crate::shipping::country::CountryCode::parse(c)
                    .map(|c| c.as_str().to_owned())
                    .ok_or_else(|| ApiError::validation("country", "invalid_format"))?,
                None => cart.ship_country.clone().unwrap_or_default(),
            };
            policy
                .shipping_methods
                .iter()
                .filter(|m| country.is_empty() || m.serves(&country))
                .map(|m| {
                    Ok(ShippingMethodDto {
                        code: m.code.clone(),
                        name: m.name.clone(),
                        price: m.price(weight, subtotal)?,
                        requires_phone: m.requires_phone,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(Json(methods))
}
