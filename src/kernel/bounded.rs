//! Whole numbers with a range: the one declaration of a field's bounds. The same type refuses a value
//! out of range when the request is read (`out_of_range`) and publishes `minimum`/`maximum` in the
//! OpenAPI document, so the document and the validation cannot disagree.

use std::borrow::Cow;

/// A whole number in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bounded<const MIN: i64, const MAX: i64>(i64);

/// Units of one item in a request (adding a line, refunding a line).
pub type Quantity = Bounded<1, 100>;
/// A line's new quantity (0 removes it).
pub type NewQuantity = Bounded<0, 100>;
/// How many items a page holds.
pub type PageLimit = Bounded<1, 100>;
/// An amount of money in minor units that must be positive (a refund, a partial capture).
pub type PositiveAmount = Bounded<1, 9_999_999_999>;

/// The message a value out of range is refused with (never the value).
pub const OUT_OF_RANGE: &str = "is out of range";

impl<const MIN: i64, const MAX: i64> Bounded<MIN, MAX> {
    pub const MIN: i64 = MIN;
    pub const MAX: i64 = MAX;

    pub fn new(n: i64) -> Option<Self> {
        (MIN..=MAX).contains(&n).then_some(Bounded(n))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The value as an `i32` (every range used for counts fits one).
    pub fn get_i32(self) -> i32 {
        i32::try_from(self.0).unwrap_or(if self.0 < 0 { i32::MIN } else { i32::MAX })
    }
}

impl<'de, const MIN: i64, const MAX: i64> serde::Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Asked for as an i64: JSON must send a number (a string or a fraction is the wrong type, as for
        // a plain integer field), a query string's text is parsed by its deserializer.
        struct V<const MIN: i64, const MAX: i64>;
        impl<const MIN: i64, const MAX: i64> serde::de::Visitor<'_> for V<MIN, MAX> {
            type Value = Bounded<MIN, MAX>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Bounded::new(n).ok_or_else(|| E::custom(OUT_OF_RANGE))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
                i64::try_from(n).ok().and_then(Bounded::new).ok_or_else(|| E::custom(OUT_OF_RANGE))
            }
        }
        d.deserialize_i64(V::<MIN, MAX>)
    }
}

impl<const MIN: i64, const MAX: i64> serde::Serialize for Bounded<MIN, MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<const MIN: i64, const MAX: i64> utoipa::PartialSchema for Bounded<MIN, MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(MIN as f64))
            .maximum(Some(MAX as f64))
            .into()
    }
}

impl<const MIN: i64, const MAX: i64> utoipa::ToSchema for Bounded<MIN, MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Integer{MIN}To{MAX}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_checked_when_read() {
        assert_eq!(serde_json::from_str::<Quantity>("7").ok(), Quantity::new(7));
        for refused in ["0", "101", "-1", "1.5", "\"x\"", "\"5\""] {
            assert!(serde_json::from_str::<Quantity>(refused).is_err(), "{refused}");
        }
        let e = serde_json::from_str::<Quantity>("1000").unwrap_err().to_string();
        assert!(e.starts_with(OUT_OF_RANGE) && !e.contains("1000"), "{e}");
        assert_eq!(serde_json::from_str::<NewQuantity>("0").ok().map(Bounded::get), Some(0));
        // A query string's text is a number to its deserializer.
        #[derive(serde::Deserialize)]
        struct Q {
            limit: PageLimit,
        }
        let q: Result<Q, _> = serde_urlencoded::from_str("limit=20");
        assert_eq!(q.ok().map(|q| q.limit.get()), Some(20));
        assert!(serde_urlencoded::from_str::<Q>("limit=200").is_err());
    }
}
