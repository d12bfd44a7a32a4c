//! Prefixed random identifiers (`prod_…`, `ord_…`): 128 bits from the OS CSPRNG, base62-encoded
//! into 22 characters. Parsing checks the prefix and alphabet, so an id that reaches a SQL query or a
//! processor URL path is always plain ASCII alphanumerics.

use rand::RngCore;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the random part: 62^22 > 2^128.
pub const RANDOM_LEN: usize = 22;

/// 128 random bits, base62, fixed width.
pub fn random_base62() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut n = u128::from_le_bytes(bytes);
    let mut out = [b'0'; RANDOM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|b| *b as char).collect()
}

/// True when `s` is `prefix` followed by exactly [`RANDOM_LEN`] base62 characters.
pub fn is_valid(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Declares a typed id with a fixed prefix.
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        #[allow(dead_code)]
        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, $crate::kernel::ids::random_base62()))
            }

            /// Parse an id received from outside; `None` when it is not one of ours.
            pub fn parse(s: &str) -> Option<Self> {
                $crate::kernel::ids::is_valid($prefix, s).then(|| Self(s.to_owned()))
            }

            /// Wrap a value read back from our own database.
            pub fn from_db(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        #[allow(dead_code)]
        impl $name {
            /// The shape `parse` accepts, as the OpenAPI document publishes it (one declaration: the
            /// prefix; the length is [`RANDOM_LEN`](crate::kernel::ids::RANDOM_LEN), checked by a test).
            pub const PATTERN: &'static str = concat!("^", $prefix, "[0-9A-Za-z]{22}$");
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(Self::PATTERN))
                    .description(Some(concat!("`", $prefix, "` followed by 22 letters or digits")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    typed_id!(TestId, "tst_");

    #[test]
    fn ids_have_prefix_and_fixed_width() {
        let id = TestId::generate();
        assert!(id.as_str().starts_with("tst_"));
        assert_eq!(id.as_str().len(), 4 + RANDOM_LEN);
        assert!(TestId::parse(id.as_str()).is_some());
        assert_ne!(TestId::generate(), TestId::generate());
    }

    #[test]
    fn the_published_pattern_is_what_parse_accepts() {
        assert_eq!(TestId::PATTERN, format!("^tst_[0-9A-Za-z]{{{RANDOM_LEN}}}$"));
    }

    #[test]
    fn parse_rejects_foreign_values() {
        assert!(TestId::parse("tst_../../etc").is_none());
        assert!(TestId::parse("prod_0123456789012345678901").is_none());
        assert!(TestId::parse("tst_012345678901234567890").is_none());
        assert!(TestId::parse("tst_01234567890123456789?1").is_none());
    }
}
