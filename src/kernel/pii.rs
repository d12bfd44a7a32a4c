//! Personal data types. Their `Debug` and `Display` print a redaction marker, never the content, so a
//! `tracing` field, an error message or a panic can never show an e-mail, name, address or phone number.
//! The value is reached only through the explicit, greppable `expose()`.
//!
//! Constructors validate; their errors never echo the input. These types have no SQL mapping: a row
//! holds them only sealed (`privacy::sealing::Sealed<Email>`, …), so none can be stored in clear by
//! mistake. Responses call `expose()` field by field.

use std::fmt;

/// Why a personal-data value was refused. Carries no part of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    #[error("must not be empty")]
    Empty,
    #[error("is too long")]
    TooLong,
    #[error("contains characters that are not allowed")]
    BadCharacters,
    #[error("is not in a valid format")]
    BadFormat,
    /// The value, once normalised, holds a payment card number (`378.282.246.310.005` as a phone).
    #[error("looks like a payment card number")]
    CardNumber,
}

impl PiiError {
    /// Stable machine-readable code for field-level validation errors.
    pub fn code(&self) -> &'static str {
        match self {
            PiiError::Empty => "required",
            PiiError::TooLong => "too_long",
            PiiError::BadCharacters => "invalid_characters",
            PiiError::BadFormat => "invalid_format",
            PiiError::CardNumber => "card_data_not_accepted",
        }
    }
}

fn clean_text(raw: &str, max_chars: usize) -> Result<String, PiiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(PiiError::Empty);
    }
    if trimmed.chars().count() > max_chars {
        return Err(PiiError::TooLong);
    }
    if trimmed.chars().any(|c| c.is_control()) {
        return Err(PiiError::BadCharacters);
    }
    Ok(trimmed.to_owned())
}

macro_rules! pii_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal, max = $max:literal, format = $format:expr, $validate:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validate and wrap a value received from outside.
            pub fn parse(raw: &str) -> Result<Self, PiiError> {
                let validate: fn(&str) -> Result<String, PiiError> = $validate;
                let value = validate(raw)?;
                // The request guard saw the value as sent; normalising (stripping separators, say) can
                // make a card number of it, so the normalised value is checked again.
                if crate::kernel::card::contains_card_number(&value) {
                    return Err(PiiError::CardNumber);
                }
                Ok($name(value))
            }

            /// The personal data itself. Call only where it must leave the type: a response to the
            /// person it belongs to, an authorised export, the mailer.
            pub fn expose(&self) -> &str {
                &self.0
            }

            pub const REDACTED: &'static str = concat!("[redacted:", $kind, "]");

            /// The most characters the value may have (checked by `parse`, published in the document).
            pub const MAX_CHARS: usize = $max;
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let format: Option<&str> = $format;
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .format(format.map(|f| utoipa::openapi::SchemaFormat::Custom(f.to_owned())))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Self::REDACTED)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Self::REDACTED)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl crate::privacy::sealing::Sealable for $name {
            fn plain(&self) -> &str {
                &self.0
            }

            fn from_opened(plain: String) -> Self {
                $name(plain)
            }
        }
    };
}

pii_type!(
    /// An e-mail address (lower-cased domain, validated syntax).
    Email, "email", max = 254, format = Some("email"), |raw| {
        let v = clean_text(raw, Email::MAX_CHARS)?;
        if !validator::ValidateEmail::validate_email(&v) {
            return Err(PiiError::BadFormat);
        }
        let (local, domain) = v.rsplit_once('@').ok_or(PiiError::BadFormat)?;
        Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
    }
);

pii_type!(
    /// A person's name as they want it written on a parcel or a receipt.
    PersonName, "name", max = 200, format = None, |raw| clean_text(raw, PersonName::MAX_CHARS)
);

pii_type!(
    /// A phone number, normalised to `+` and digits (E.164 shape: 7–15 digits).
    Phone, "phone", max = 32, format = None, |raw| {
        let v = clean_text(raw, Phone::MAX_CHARS)?;
        if !v.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
            return Err(PiiError::BadCharacters);
        }
        let digits: String = v.chars().filter(char::is_ascii_digit).collect();
        if !(7..=15).contains(&digits.len()) {
            return Err(PiiError::BadFormat);
        }
        Ok(format!("+{digits}"))
    }
);

pii_type!(
    /// One line of a postal address, a city or a region name.
    AddressText, "address", max = 200, format = None, |raw| clean_text(raw, AddressText::MAX_CHARS)
);

pii_type!(
    /// A postal code (letters, digits, spaces and dashes).
    PostalCode, "postal_code", max = 16, format = None, |raw| {
        let v = clean_text(raw, PostalCode::MAX_CHARS)?;
        if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-') {
            return Err(PiiError::BadCharacters);
        }
        Ok(v.to_ascii_uppercase())
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_content() {
        let e = Email::parse("Jane.Doe@Example.COM").unwrap();
        assert_eq!(format!("{e:?}"), "[redacted:email]");
        assert_eq!(format!("{e}"), "[redacted:email]");
        assert_eq!(e.expose(), "Jane.Doe@example.com");
        let n = PersonName::parse(" Jane Doe ").unwrap();
        assert!(!format!("{n:?} {n}").contains("Jane"));
        let p = Phone::parse("+44 20 7946 0958").unwrap();
        assert_eq!(p.expose(), "+442079460958");
        assert!(!format!("{p:?}").contains("7946"));
    }

    #[test]
    fn normalisation_never_builds_a_card_number() {
        // Each is refused as sent by the request guard too; the types refuse them on their own.
        assert_eq!(Phone::parse("378.282.246.310.005"), Err(PiiError::CardNumber));
        assert_eq!(Phone::parse("+37 (828) 224-6310 005"), Err(PiiError::CardNumber));
        assert_eq!(PostalCode::parse("37828224631OOO5"), Ok(PostalCode("37828224631OOO5".into())));
        assert_eq!(PostalCode::parse("378282246310005"), Err(PiiError::CardNumber));
        assert!(Phone::parse("+44 20 7946 0958").is_ok());
    }

    #[test]
    fn errors_do_not_echo_input() {
        let err = Email::parse("not-an-email-secret").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert_eq!(Phone::parse("12"), Err(PiiError::BadFormat));
        assert_eq!(PersonName::parse("  "), Err(PiiError::Empty));
    }
}
