//! Carts, their lines and the price computation shared by carts and orders.

use crate::catalog::model::VariantRow;
use crate::kernel::money::{Currency, Money, MoneyError};
use crate::kernel::pii::{AddressText, Email, PersonName, Phone, PostalCode};
use crate::privacy::personal::SealedDetails;
use crate::privacy::sealing::Sealed;
use crate::shipping::policy::ShopPolicy;
use crate::typed_id;
use chrono::NaiveDateTime;
use diesel::prelude::*;

typed_id!(
    /// A cart (`cart_…`); reachable only with its token.
    CartId, "cart_"
);

/// Most units of one variant in one cart line.
pub const MAX_LINE_QUANTITY: i32 = 100;
/// Most distinct lines in one cart.
pub const MAX_LINES: usize = 100;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::carts, treat_none_as_null = true)]
pub struct CartRow {
    pub id: String,
    pub token_hash: String,
    pub status: String,
    pub currency: String,
    pub email: Option<Sealed<Email>>,
    pub ship_name: Option<Sealed<PersonName>>,
    pub ship_line1: Option<Sealed<AddressText>>,
    pub ship_line2: Option<Sealed<AddressText>>,
    pub ship_city: Option<Sealed<AddressText>>,
    /// In clear: the tax jurisdiction (see the registry).
    pub ship_region: Option<String>,
    pub ship_postal_code: Option<Sealed<PostalCode>>,
    pub ship_country: Option<String>,
    pub ship_phone: Option<Sealed<Phone>>,
    pub shipping_method: Option<String>,
    pub is_gift: bool,
    pub recipient_consent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Whose key seals the personal fields (`sub_…`); set with the checkout details.
    pub subject_id: Option<String>,
    /// The account of the signed-in shopper who started the cart (`acct_…`); `None` for a guest.
    pub account_id: Option<String>,
}

impl CartRow {
    /// The personal fields as stored.
    pub fn sealed(&self) -> SealedDetails {
        SealedDetails {
            email: self.email.clone(),
            name: self.ship_name.clone(),
            line1: self.ship_line1.clone(),
            line2: self.ship_line2.clone(),
            city: self.ship_city.clone(),
            postal_code: self.ship_postal_code.clone(),
            phone: self.ship_phone.clone(),
        }
    }

    /// Store sealed personal fields of `subject`.
    pub fn set_sealed(&mut self, subject: Option<String>, d: SealedDetails) {
        self.subject_id = subject;
        self.email = d.email;
        self.ship_name = d.name;
        self.ship_line1 = d.line1;
        self.ship_line2 = d.line2;
        self.ship_city = d.city;
        self.ship_postal_code = d.postal_code;
        self.ship_phone = d.phone;
    }

    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    pub fn currency(&self) -> Result<Currency, crate::error::ApiError> {
        self.currency.parse().map_err(|_| crate::error::ApiError::internal("cart with unknown currency"))
    }
}

/// A cart line with its variant as the catalog has it now.
#[derive(Debug, Clone)]
pub struct PricedLine {
    pub variant: VariantRow,
    pub product_title: String,
    pub quantity: i32,
    pub line_total: Money,
}

/// Totals, always computed on the server from catalog prices and the shop policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub discount: Money,
    pub total: Money,
    pub weight_grams: i64,
    pub prices_include_tax: bool,
}

/// Where the cart ships to, as far as pricing is concerned.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub country: Option<String>,
    pub region: Option<String>,
    pub method: Option<String>,
}

/// Price lines and compute totals. Shipping is charged only for shippable goods with a method chosen;
/// tax follows the destination (or the policy's `*` rate without one).
pub fn price(
    lines: &[PricedLine],
    dest: &Destination,
    policy: &ShopPolicy,
    currency: Currency,
) -> Result<Totals, PricingError> {
    let mut subtotal = Money::zero(currency);
    let mut weight: i64 = 0;
    let mut shippable = false;
    for l in lines {
        subtotal = subtotal.checked_add(l.line_total)?;
        if l.variant.requires_shipping {
            shippable = true;
            weight = weight
                .checked_add(i64::from(l.variant.weight_grams) * i64::from(l.quantity))
                .ok_or(PricingError::Money(MoneyError::Overflow))?;
        }
    }
    let discount = Money::zero(currency);
    let shipping = match (&dest.method, shippable) {
        (Some(code), true) => {
            let method = policy.method(code).ok_or(PricingError::UnknownMethod)?;
            method.price(weight, subtotal)?.ok_or(PricingError::TooHeavy)?
        }
        _ => Money::zero(currency),
    };
    let rate = policy.tax_rate_bp(dest.country.as_deref(), dest.region.as_deref());
    let taxable = subtotal.checked_sub(discount)?.checked_add(shipping)?;
    let (tax, total) = if policy.prices_include_tax {
        (taxable.checked_mul_ratio(rate, 10_000 + rate)?, taxable)
    } else {
        let tax = taxable.checked_mul_ratio(rate, 10_000)?;
        (tax, taxable.checked_add(tax)?)
    };
    Ok(Totals {
        subtotal,
        shipping,
        tax,
        discount,
        total,
        weight_grams: weight,
        prices_include_tax: policy.prices_include_tax,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("unknown shipping method")]
    UnknownMethod,
    #[error("too heavy for the shipping method")]
    TooHeavy,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl From<PricingError> for crate::error::ApiError {
    fn from(e: PricingError) -> Self {
        match e {
            PricingError::UnknownMethod => crate::error::ApiError::validation("shipping_method", "invalid_choice"),
            PricingError::TooHeavy => crate::error::ApiError::Unprocessable {
                code: "shipping_unavailable",
                detail: "the chosen shipping method cannot carry this cart; choose another".into(),
                extra: None,
            },
            PricingError::Money(m) => m.into(),
        }
    }
}
