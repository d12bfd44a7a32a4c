//! Cart rules: lines checked against the catalog and stock on every change, checkout details limited
//! to what each purpose needs, totals always recomputed on the server.

use super::model::{CartId, CartRow, Destination, MAX_LINE_QUANTITY, MAX_LINES, PricedLine, Totals, price};
use super::store;
use crate::db::DbConn;
use crate::error::{ApiError, FieldError};
use crate::kernel::money::Currency;
use crate::kernel::pii::{Email, Phone};
use crate::kernel::secret::{IssuedToken, hash_token, issue_token};
use crate::kernel::time;
use crate::privacy::personal::Details;
use crate::privacy::vault::SubjectKey;
use crate::shipping::address::{self, AddressInput};
use crate::shipping::policy::ShopPolicy;

/// Token prefix of cart bearer tokens.
pub const CART_TOKEN_PREFIX: &str = "ct_";

/// A new cart; `account`: the signed-in shopper's, whose order history the order will be in.
pub fn create_cart(
    conn: &mut DbConn,
    currency: Currency,
    account: Option<String>,
) -> Result<(CartRow, IssuedToken), ApiError> {
    let token = issue_token(CART_TOKEN_PREFIX);
    let now = time::now();
    let row = CartRow {
        id: CartId::generate().into_string(),
        token_hash: token.hash.clone(),
        status: "open".into(),
        currency: currency.to_string(),
        email: None,
        ship_name: None,
        ship_line1: None,
        ship_line2: None,
        ship_city: None,
        ship_region: None,
        ship_postal_code: None,
        ship_country: None,
        ship_phone: None,
        shipping_method: None,
        is_gift: false,
        recipient_consent_at: None,
        created_at: now,
        updated_at: now,
        subject_id: None,
        account_id: account,
    };
    store::insert_cart(conn, &row)?;
    Ok((row, token))
}

/// The cart and its lines (priced from the catalog as it is now), if `token` opens it — one query.
/// An unknown id and a wrong token look the same (404).
pub fn authorize(conn: &mut DbConn, cart_id: &str, token: &str) -> Result<(CartRow, Vec<PricedLine>), ApiError> {
    let id = CartId::parse(cart_id).ok_or(ApiError::NotFound)?;
    let (cart, rows) = store::find_cart_with_lines(conn, id.as_str())?.ok_or(ApiError::NotFound)?;
    if !crate::kernel::secret::constant_time_eq(cart.token_hash.as_bytes(), hash_token(token).as_bytes()) {
        return Err(ApiError::NotFound);
    }
    Ok((cart, price_lines(rows)?))
}

/// Price the lines read with a cart from the catalog's current prices.
fn price_lines(rows: Vec<store::StoredLine>) -> Result<Vec<PricedLine>, ApiError> {
    rows.into_iter()
        .map(|store::StoredLine { quantity, variant, product_title }| {
            let line_total = variant.price()?.checked_mul(i64::from(quantity))?;
            Ok(PricedLine { variant, product_title, quantity, line_total })
        })
        .collect()
}

fn require_open(cart: &CartRow) -> Result<(), ApiError> {
    if cart.is_open() {
        Ok(())
    } else {
        Err(ApiError::conflict("cart_checked_out", "this cart has been checked out; start a new cart"))
    }
}

fn insufficient_stock(variant_id: &str, available: i32) -> ApiError {
    ApiError::conflict("insufficient_stock", "not enough stock for the requested quantity")
        .with_extra(serde_json::json!({ "variant_id": variant_id, "available": available }))
}

/// Add `quantity` units of a variant (merging with an existing line) to a cart whose `lines` were
/// read with it. Returns the lines after the change. The write is one atomic upsert, so this needs no
/// transaction; placement re-validates everything under its own.
pub fn add_line(
    conn: &mut DbConn,
    cart: &mut CartRow,
    mut lines: Vec<PricedLine>,
    variant_id: &str,
    quantity: i32,
) -> Result<Vec<PricedLine>, ApiError> {
    require_open(cart)?;
    let existing = lines.iter().position(|l| l.variant.id == variant_id);
    let (variant, product_title) = match existing {
        Some(i) => (lines[i].variant.clone(), lines[i].product_title.clone()),
        None => store::find_sellable_variant(conn, variant_id)?
            .ok_or_else(|| ApiError::validation("variant_id", "not_found"))?,
    };
    if variant.currency != cart.currency {
        return Err(ApiError::validation("variant_id", "currency_mismatch"));
    }
    let total = existing.map_or(0, |i| lines[i].quantity).saturating_add(quantity);
    if !(1..=MAX_LINE_QUANTITY).contains(&total) {
        return Err(ApiError::validation("quantity", "out_of_range"));
    }
    if total > variant.stock_on_hand {
        return Err(insufficient_stock(variant_id, variant.stock_on_hand));
    }
    let now = time::now();
    let line_total = variant.price()?.checked_mul(i64::from(total))?;
    match existing {
        Some(i) => {
            store::upsert_line(conn, &cart.id, variant_id, total, now)?;
            lines[i].quantity = total;
            lines[i].line_total = line_total;
        }
        None => {
            if lines.len() >= MAX_LINES {
                return Err(ApiError::Unprocessable {
                    code: "cart_full",
                    detail: "the cart has too many lines".into(),
                    extra: None,
                });
            }
            store::upsert_line(conn, &cart.id, variant_id, total, now)?;
            lines.push(PricedLine { variant, product_title, quantity: total, line_total });
        }
    }
    Ok(lines)
}

/// [`add_line`] when every check passes, checked by the database in the write itself (one upsert; on
/// PostgreSQL the cart and its lines come back in the same statement, on SQLite they are read next).
/// `None` when a check failed: run [`authorize`] and [`add_line`] to find out which (and
/// answer with its precise error).
pub fn add_line_if_allowed(
    conn: &mut DbConn,
    cart_id: &str,
    token: &str,
    variant_id: &str,
    quantity: i32,
) -> Result<Option<(CartRow, Vec<PricedLine>)>, ApiError> {
    let Some(id) = CartId::parse(cart_id) else { return Ok(None) };
    if !(1..=MAX_LINE_QUANTITY).contains(&quantity) {
        return Ok(None);
    }
    let token_hash = hash_token(token);
    match store::add_line(conn, id.as_str(), &token_hash, variant_id, quantity, time::now())? {
        store::LineAdded::Refused => Ok(None),
        store::LineAdded::Added(Some(read)) => {
            let (cart, rows) = *read;
            Ok(Some((cart, price_lines(rows)?)))
        }
        store::LineAdded::Added(None) => authorize(conn, cart_id, token).map(Some),
    }
}

/// Set a line's quantity; 0 removes it. Returns the lines after the change.
pub fn set_quantity(
    conn: &mut DbConn,
    cart: &mut CartRow,
    mut lines: Vec<PricedLine>,
    variant_id: &str,
    quantity: i32,
) -> Result<Vec<PricedLine>, ApiError> {
    require_open(cart)?;
    let i = lines.iter().position(|l| l.variant.id == variant_id).ok_or(ApiError::NotFound)?;
    if quantity == 0 {
        store::delete_line(conn, &cart.id, variant_id)?;
        lines.remove(i);
    } else {
        if !(1..=MAX_LINE_QUANTITY).contains(&quantity) {
            return Err(ApiError::validation("quantity", "out_of_range"));
        }
        let (variant, _) = store::find_sellable_variant(conn, variant_id)?.ok_or(ApiError::NotFound)?;
        if quantity > variant.stock_on_hand {
            return Err(insufficient_stock(variant_id, variant.stock_on_hand));
        }
        store::set_line_quantity(conn, &cart.id, variant_id, quantity)?;
        lines[i].line_total = variant.price()?.checked_mul(i64::from(quantity))?;
        lines[i].quantity = quantity;
        lines[i].variant = variant;
    }
    let now = time::now();
    store::touch_cart(conn, &cart.id, now)?;
    cart.updated_at = now;
    Ok(lines)
}

/// Remove a line. Returns the lines after the change.
pub fn remove_line(
    conn: &mut DbConn,
    cart: &mut CartRow,
    mut lines: Vec<PricedLine>,
    variant_id: &str,
) -> Result<Vec<PricedLine>, ApiError> {
    require_open(cart)?;
    if store::delete_line(conn, &cart.id, variant_id)? == 0 {
        return Err(ApiError::NotFound);
    }
    lines.retain(|l| l.variant.id != variant_id);
    let now = time::now();
    store::touch_cart(conn, &cart.id, now)?;
    cart.updated_at = now;
    Ok(lines)
}

/// Checkout details as submitted. Only these fields exist; anything else is refused.
#[derive(Debug, Clone, Default, serde::Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailsInput {
    /// Where the receipt goes. Required.
    pub email: Option<Email>,
    /// Only for carts with shippable goods; the fields the destination country needs.
    pub shipping_address: Option<AddressInput>,
    /// A code from `GET /v1/carts/{id}/shipping-methods`; only for shippable goods.
    pub shipping_method: Option<String>,
    /// Only when the chosen shipping method's carrier needs it.
    pub phone: Option<Phone>,
    /// Ship to someone else (a gift): their name and address are kept for this order only.
    #[serde(default)]
    pub ship_to_someone_else: bool,
    /// Required with `ship_to_someone_else`: you confirm you have the recipient's permission to give
    /// us their name and address for this delivery.
    pub recipient_consent_confirmed: Option<bool>,
}

fn not_collected(field: &str, why: &str) -> FieldError {
    FieldError::new(field, "not_collected").with_message(why.to_owned())
}

/// Validate and store checkout details (replacing earlier ones), sealed under `key`: the key of the
/// person whose e-mail the details give (fetched before the unit of work; `None` only when the input
/// has no e-mail, which validation refuses).
pub fn set_details(
    conn: &mut DbConn,
    cart: &mut CartRow,
    lines: Vec<PricedLine>,
    input: DetailsInput,
    policy: &ShopPolicy,
    key: Option<&SubjectKey>,
) -> Result<Vec<PricedLine>, ApiError> {
    require_open(cart)?;
    if lines.is_empty() {
        return Err(ApiError::Unprocessable {
            code: "cart_empty",
            detail: "add items before checkout details".into(),
            extra: None,
        });
    }
    let shippable = lines.iter().any(|l| l.variant.requires_shipping);
    let mut errors = Vec::new();
    if input.email.is_none() {
        errors.push(FieldError::new("email", "required").with_message("is required for the receipt"));
    }
    let mut address = None;
    let mut method = None;
    if shippable {
        match &input.shipping_address {
            None => errors
                .push(FieldError::new("shipping_address", "required").with_message("is required to ship the goods")),
            Some(a) => match address::validate(a, "shipping_address") {
                Ok(v) => address = Some(v),
                Err(e) => errors.extend(e),
            },
        }
        match input.shipping_method.as_deref() {
            None => errors
                .push(FieldError::new("shipping_method", "required").with_message("is required to ship the goods")),
            Some(code) => match policy.method(code) {
                None => errors.push(
                    FieldError::new("shipping_method", "invalid_choice")
                        .with_message("is not a shipping method of this shop"),
                ),
                Some(m) => {
                    if let Some(a) = &address
                        && !m.serves(&a.country)
                    {
                        errors.push(
                            FieldError::new("shipping_method", "not_available")
                                .with_message("does not ship to this destination"),
                        );
                    }
                    method = Some(m);
                }
            },
        }
        match (method.map(|m| m.requires_phone), &input.phone) {
            (Some(true), None) => errors.push(
                FieldError::new("phone", "required").with_message("is required by this shipping method's carrier"),
            ),
            (Some(false) | None, Some(_)) => {
                errors.push(not_collected("phone", "this shipping method does not need a phone number; leave it out"))
            }
            _ => {}
        }
        match (input.ship_to_someone_else, input.recipient_consent_confirmed) {
            (true, Some(true)) | (false, None) => {}
            (true, _) => {
                errors.push(FieldError::new("recipient_consent_confirmed", "required").with_message(
                    "confirm that the recipient agreed to share their name and address for this delivery",
                ))
            }
            (false, Some(_)) => {
                errors.push(not_collected("recipient_consent_confirmed", "only for ship_to_someone_else"))
            }
        }
    } else {
        let why = "nothing in this cart is shipped; leave it out";
        if input.shipping_address.is_some() {
            errors.push(not_collected("shipping_address", why));
        }
        if input.shipping_method.is_some() {
            errors.push(not_collected("shipping_method", why));
        }
        if input.phone.is_some() {
            errors.push(not_collected("phone", why));
        }
        if input.ship_to_someone_else || input.recipient_consent_confirmed.is_some() {
            errors.push(not_collected("ship_to_someone_else", why));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if let (Some(a), Some(m)) = (&address, method) {
        let dest = Destination {
            country: Some(a.country.clone()),
            region: a.region.as_ref().map(|r| r.expose().to_owned()),
            method: Some(m.code.clone()),
        };
        price(&lines, &dest, policy, cart.currency()?)?;
    }
    let key = key.ok_or_else(|| ApiError::internal("checkout details without their person's key"))?;
    let now = time::now();
    let details = Details {
        email: input.email,
        name: address.as_ref().map(|a| a.name.clone()),
        line1: address.as_ref().map(|a| a.line1.clone()),
        line2: address.as_ref().and_then(|a| a.line2.clone()),
        city: address.as_ref().map(|a| a.city.clone()),
        postal_code: address.as_ref().and_then(|a| a.postal_code.clone()),
        phone: if method.is_some_and(|m| m.requires_phone) { input.phone } else { None },
    };
    let sealed = details.seal(&key.key).map_err(|e| ApiError::internal(format!("sealing: {e}")))?;
    cart.set_sealed(Some(key.subject.clone()), sealed);
    cart.ship_region = address.as_ref().and_then(|a| a.region.as_ref().map(|r| r.expose().to_owned()));
    cart.ship_country = address.as_ref().map(|a| a.country.clone());
    cart.shipping_method = method.map(|m| m.code.clone());
    cart.is_gift = shippable && input.ship_to_someone_else;
    cart.recipient_consent_at = if cart.is_gift { Some(now) } else { None };
    cart.updated_at = now;
    store::update_cart(conn, cart)?;
    Ok(lines)
}

/// A cart with its priced lines, totals and what is still missing for checkout.
#[derive(Debug, Clone)]
pub struct CartView {
    pub cart: CartRow,
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
    pub requires_shipping: bool,
    pub missing: Vec<&'static str>,
}

/// Where a cart ships, as pricing needs it.
pub fn destination_of(cart: &CartRow) -> Destination {
    Destination {
        country: cart.ship_country.clone(),
        region: cart.ship_region.clone(),
        method: cart.shipping_method.clone(),
    }
}

/// The view of a cart and its lines.
pub fn view(cart: CartRow, lines: Vec<PricedLine>, policy: &ShopPolicy) -> Result<CartView, ApiError> {
    let currency = cart.currency()?;
    let requires_shipping = lines.iter().any(|l| l.variant.requires_shipping);
    let mut missing = Vec::new();
    if lines.is_empty() {
        missing.push("lines");
    }
    if cart.email.is_none() {
        missing.push("email");
    }
    let mut destination = destination_of(&cart);
    if requires_shipping {
        if cart.ship_country.is_none() {
            missing.push("shipping_address");
        }
        if cart.shipping_method.is_none() {
            missing.push("shipping_method");
        }
        let needs_phone =
            cart.shipping_method.as_deref().and_then(|m| policy.method(m)).is_some_and(|m| m.requires_phone);
        if needs_phone && cart.ship_phone.is_none() {
            missing.push("phone");
        }
    } else {
        destination = Destination::default();
    }
    let totals = match price(&lines, &destination, policy, currency) {
        Ok(t) => t,
        Err(super::model::PricingError::TooHeavy | super::model::PricingError::UnknownMethod) => {
            missing.push("shipping_method");
            destination.method = None;
            price(&lines, &destination, policy, currency)?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(CartView { cart, lines, totals, requires_shipping, missing })
}

/// Seal the checkout details of carts written before sealing existed (start-up).
pub async fn seal_earlier_carts(db: &crate::db::Db, vault: &crate::privacy::vault::Vault) -> Result<usize, ApiError> {
    let rows = crate::privacy::personal::Unsealed {
        list: store::unsealed,
        parts: |cart: &CartRow| (cart.id.clone(), cart.sealed()),
        seal: store::seal_in_place,
    };
    crate::privacy::personal::seal_earlier(db, vault, rows).await
}
