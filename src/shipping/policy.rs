//! The shop policy (`shop.toml`): shipping methods with their rates and flags, and the tax table.

use crate::kernel::money::{Currency, Money, MoneyError};
use serde::Deserialize;

pub const DEMO_POLICY: &str = include_str!("../../fixtures/demo/shop.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopPolicy {
    #[serde(default)]
    pub prices_include_tax: bool,
    pub shipping_methods: Vec<ShippingMethod>,
    #[serde(default)]
    pub tax_rates: Vec<TaxRate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethod {
    pub code: String,
    pub name: String,
    /// Destinations served (ISO alpha-2); empty or `*` = everywhere.
    #[serde(default)]
    pub countries: Vec<String>,
    pub rate: Rate,
    /// Free when the merchandise subtotal reaches this amount.
    #[serde(default)]
    pub free_over: Option<i64>,
    /// The carrier needs the recipient's phone number: only then is a phone collected.
    #[serde(default)]
    pub requires_phone: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rate {
    Flat { amount: i64 },
    WeightBands { bands: Vec<WeightBand> },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightBand {
    pub up_to_grams: i64,
    pub amount: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    pub country: String,
    #[serde(default)]
    pub region: Option<String>,
    /// Basis points: 1900 = 19 %.
    pub rate_bp: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("shop policy: {0}")]
pub struct PolicyError(pub String);

impl ShopPolicy {
    pub fn parse(text: &str) -> Result<ShopPolicy, PolicyError> {
        let policy: ShopPolicy = toml::from_str(text).map_err(|e| PolicyError(e.message().to_owned()))?;
        if policy.shipping_methods.is_empty() {
            return Err(PolicyError("at least one shipping method is needed".into()));
        }
        for m in &policy.shipping_methods {
            let ok = !m.code.is_empty()
                && m.code.len() <= 40
                && m.code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(PolicyError(format!("shipping method code `{}` must be short and plain", m.code)));
            }
            if let Rate::WeightBands { bands } = &m.rate
                && (bands.is_empty() || bands.windows(2).any(|w| w[0].up_to_grams >= w[1].up_to_grams))
            {
                return Err(PolicyError(format!(
                    "shipping method `{}`: bands must be non-empty and ascending",
                    m.code
                )));
            }
        }
        if policy.tax_rates.iter().any(|t| !(0..=10_000).contains(&t.rate_bp)) {
            return Err(PolicyError("tax rates must be between 0 and 10000 basis points".into()));
        }
        Ok(policy)
    }

    pub fn load(path: Option<&std::path::Path>) -> Result<ShopPolicy, PolicyError> {
        match path {
            None => ShopPolicy::parse(DEMO_POLICY),
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| PolicyError(format!("cannot read {}: {e}", p.display())))?;
                ShopPolicy::parse(&text)
            }
        }
    }

    pub fn method(&self, code: &str) -> Option<&ShippingMethod> {
        self.shipping_methods.iter().find(|m| m.code == code)
    }

    /// Methods that serve a destination.
    pub fn methods_for(&self, country: &str) -> impl Iterator<Item = &ShippingMethod> {
        self.shipping_methods.iter().filter(move |m| m.serves(country))
    }

    /// The tax rate (basis points) for a destination; region-specific entries first, then the
    /// country, then `*`.
    pub fn tax_rate_bp(&self, country: Option<&str>, region: Option<&str>) -> i64 {
        let by = |c: &str, r: Option<&str>| {
            self.tax_rates.iter().find(|t| t.country == c && t.region.as_deref() == r).map(|t| t.rate_bp)
        };
        country
            .and_then(|c| region.and_then(|r| by(c, Some(r))).or_else(|| by(c, None)))
            .or_else(|| by("*", None))
            .unwrap_or(0)
    }
}

impl ShippingMethod {
    pub fn serves(&self, country: &str) -> bool {
        self.countries.is_empty() || self.countries.iter().any(|c| c == "*" || c == country)
    }

    /// The price of shipping `weight_grams` of goods worth `subtotal`; `None` when too heavy.
    pub fn price(&self, weight_grams: i64, subtotal: Money) -> Result<Option<Money>, MoneyError> {
        let currency: Currency = subtotal.currency;
        if self.free_over.is_some_and(|t| subtotal.amount >= t) {
            return Ok(Some(Money::zero(currency)));
        }
        Ok(match &self.rate {
            Rate::Flat { amount } => Some(Money::new(*amount, currency)),
            Rate::WeightBands { bands } => {
                bands.iter().find(|b| weight_grams <= b.up_to_grams).map(|b| Money::new(b.amount, currency))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_policy_loads_and_prices() {
        let p = ShopPolicy::parse(DEMO_POLICY).unwrap();
        let usd: Currency = "USD".parse().unwrap();
        let std = p.method("standard").unwrap();
        assert_eq!(std.price(800, Money::new(1000, usd)).unwrap(), Some(Money::new(495, usd)));
        assert_eq!(std.price(4000, Money::new(1000, usd)).unwrap(), Some(Money::new(895, usd)));
        assert_eq!(std.price(40_000, Money::new(1000, usd)).unwrap(), None);
        assert_eq!(std.price(800, Money::new(7500, usd)).unwrap(), Some(Money::zero(usd)));
        assert!(p.method("express").unwrap().requires_phone);
        assert_eq!(p.tax_rate_bp(Some("DE"), None), 1900);
        assert_eq!(p.tax_rate_bp(Some("US"), Some("CA")), 725);
        assert_eq!(p.tax_rate_bp(Some("US"), Some("OR")), 0);
        assert_eq!(p.tax_rate_bp(None, None), 0);
        assert!(p.methods_for("DE").all(|m| m.code != "economy-domestic"));
    }
}
