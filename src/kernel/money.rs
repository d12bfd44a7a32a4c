//! Money as integer minor units plus an ISO-4217 currency. No floats anywhere.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An ISO-4217 alphabetic currency code (three upper-case ASCII letters) we know the exponent of.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(into = "String")]
#[schema(value_type = String, example = "USD")]
pub struct Currency([u8; 3]);

/// Currencies with a minor-unit exponent other than 2.
const EXPONENTS: &[(&str, u8)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
];

/// Currencies with exponent 2 that the service accepts.
const TWO_DECIMAL: &[&str] = &[
    "AED", "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS", "INR", "MXN", "MYR",
    "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD", "THB", "TRY", "TWD", "USD", "ZAR",
];

impl Currency {
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of decimal places of the minor unit.
    pub fn exponent(&self) -> u8 {
        EXPONENTS.iter().find(|(c, _)| *c == self.as_str()).map_or(2, |(_, e)| *e)
    }

    /// Lower-case code as Stripe expects it.
    pub fn to_lowercase(&self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a supported ISO-4217 currency code")]
pub struct UnknownCurrency;

impl FromStr for Currency {
    type Err = UnknownCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.to_ascii_uppercase();
        let known = TWO_DECIMAL.contains(&upper.as_str()) || EXPONENTS.iter().any(|(c, _)| *c == upper);
        let bytes = upper.as_bytes();
        if !known || bytes.len() != 3 {
            return Err(UnknownCurrency);
        }
        Ok(Currency([bytes[0], bytes[1], bytes[2]]))
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: minor units (cents, pence, yen) and a currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// Amount in the currency's minor unit (e.g. cents).
    pub amount: i64,
    pub currency: Currency,
}

/// `12.50 EUR`, `1000 JPY`: the minor units placed by the currency's exponent, integers only.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent());
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let unit = 10_u64.pow(exp);
        write!(f, "{sign}{}.{:0width$} {}", abs / unit, abs % unit, self.currency, width = exp as usize)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("currencies differ")]
    CurrencyMismatch,
    #[error("amount overflow")]
    Overflow,
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Money { amount: 0, currency }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        self.amount
            .checked_sub(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.amount.checked_mul(factor).map(|amount| Money::new(amount, self.currency)).ok_or(MoneyError::Overflow)
    }

    /// `self * numerator / denominator`, rounded half away from zero, in integer arithmetic.
    /// Used for rates expressed in basis points (e.g. tax 1900 bp = 19 %).
    pub fn checked_mul_ratio(self, numerator: i64, denominator: i64) -> Result<Money, MoneyError> {
        if denominator == 0 {
            return Err(MoneyError::Overflow);
        }
        let n = i128::from(self.amount) * i128::from(numerator);
        let d = i128::from(denominator);
        let q = n / d;
        let r = n % d;
        let rounded = if 2 * r.abs() >= d.abs() { q + n.signum() * d.signum() } else { q };
        i64::try_from(rounded).map(|amount| Money::new(amount, self.currency)).map_err(|_| MoneyError::Overflow)
    }

    pub fn is_negative(&self) -> bool {
        self.amount < 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        "USD".parse().unwrap()
    }

    #[test]
    fn currency_parsing() {
        assert_eq!("usd".parse::<Currency>().unwrap().as_str(), "USD");
        assert_eq!("JPY".parse::<Currency>().unwrap().exponent(), 0);
        assert_eq!("KWD".parse::<Currency>().unwrap().exponent(), 3);
        assert!("US".parse::<Currency>().is_err());
        assert!("XYZ".parse::<Currency>().is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(1999, usd());
        assert_eq!(a.checked_add(a).unwrap().amount, 3998);
        assert_eq!(a.checked_mul(3).unwrap().amount, 5997);
        assert_eq!(Money::new(i64::MAX, usd()).checked_add(a), Err(MoneyError::Overflow));
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(a.checked_add(Money::new(1, eur)), Err(MoneyError::CurrencyMismatch));
    }

    #[test]
    fn ratio_rounds_half_away_from_zero() {
        // 19 % of 1050 = 199.5 -> 200
        assert_eq!(Money::new(1050, usd()).checked_mul_ratio(1900, 10_000).unwrap().amount, 200);
        assert_eq!(Money::new(1049, usd()).checked_mul_ratio(1900, 10_000).unwrap().amount, 199);
        assert_eq!(Money::new(-1050, usd()).checked_mul_ratio(1900, 10_000).unwrap().amount, -200);
    }
}
