//! Address requirements per destination country, kept as data: which fields a destination uses, which
//! it needs, and the shape of its postal codes. A field a destination does not use is refused rather
//! than stored.

use crate::error::FieldError;
use crate::kernel::pii::{AddressText, PersonName, PostalCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
    /// The destination does not use the field: sending it is refused.
    NotUsed,
}

/// Postal-code shapes: `9` a digit, `A` a letter, `?` a letter or digit, `*` any run of letters and
/// digits (with spaces), anything else literal.
#[derive(Debug, Clone, Copy)]
pub struct CountryRules {
    pub country: &'static str,
    pub region: Need,
    pub postal_code: Need,
    pub postal_patterns: &'static [&'static str],
    /// Allowed region codes, when the country uses a fixed list.
    pub regions: &'static [&'static str],
}

const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
    "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR",
    "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP",
];
const CA_PROVINCES: &[&str] = &["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"];
const AU_STATES: &[&str] = &["ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA"];

pub const RULES: &[CountryRules] = &[
    CountryRules {
        country: "US",
        region: Need::Required,
        postal_code: Need::Required,
        postal_patterns: &["99999", "99999-9999"],
        regions: US_STATES,
    },
    CountryRules {
        country: "CA",
        region: Need::Required,
        postal_code: Need::Required,
        postal_patterns: &["A9A 9A9", "A9A9A9"],
        regions: CA_PROVINCES,
    },
    CountryRules {
        country: "GB",
        region: Need::NotUsed,
        postal_code: Need::Required,
        postal_patterns: &["A9 9AA", "A99 9AA", "AA9 9AA", "AA99 9AA", "A9A 9AA", "AA9A 9AA"],
        regions: &[],
    },
    CountryRules {
        country: "DE",
        region: Need::NotUsed,
        postal_code: Need::Required,
        postal_patterns: &["99999"],
        regions: &[],
    },
    CountryRules {
        country: "FR",
        region: Need::NotUsed,
        postal_code: Need::Required,
        postal_patterns: &["99999"],
        regions: &[],
    },
    CountryRules {
        country: "NL",
        region: Need::NotUsed,
        postal_code: Need::Required,
        postal_patterns: &["9999 AA", "9999AA"],
        regions: &[],
    },
    CountryRules {
        country: "JP",
        region: Need::Required,
        postal_code: Need::Required,
        postal_patterns: &["999-9999", "9999999"],
        regions: &[],
    },
    CountryRules {
        country: "AU",
        region: Need::Required,
        postal_code: Need::Required,
        postal_patterns: &["9999"],
        regions: AU_STATES,
    },
    // Countries without postal codes.
    CountryRules {
        country: "IE",
        region: Need::Optional,
        postal_code: Need::Optional,
        postal_patterns: &["*"],
        regions: &[],
    },
    CountryRules {
        country: "HK",
        region: Need::Optional,
        postal_code: Need::NotUsed,
        postal_patterns: &[],
        regions: &[],
    },
    CountryRules {
        country: "AE",
        region: Need::Optional,
        postal_code: Need::NotUsed,
        postal_patterns: &[],
        regions: &[],
    },
];

/// Anywhere else: region optional, postal code required in any plain shape.
pub const DEFAULT_RULES: CountryRules = CountryRules {
    country: "*",
    region: Need::Optional,
    postal_code: Need::Required,
    postal_patterns: &["*"],
    regions: &[],
};

pub fn rules_for(country: &str) -> CountryRules {
    RULES.iter().copied().find(|r| r.country == country).unwrap_or(DEFAULT_RULES)
}

fn matches_pattern(value: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return (2..=10).contains(&value.len())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
    }
    value.len() == pattern.len()
        && value.chars().zip(pattern.chars()).all(|(v, p)| match p {
            '9' => v.is_ascii_digit(),
            'A' => v.is_ascii_alphabetic(),
            '?' => v.is_ascii_alphanumeric(),
            other => v == other,
        })
}

/// An address as submitted (all optional at the wire; the rules decide).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Recipient's name as it should appear on the parcel.
    pub name: Option<PersonName>,
    pub line1: Option<AddressText>,
    pub line2: Option<AddressText>,
    pub city: Option<AddressText>,
    /// State, province or prefecture — only where the destination uses one.
    pub region: Option<AddressText>,
    /// Only where the destination uses postal codes.
    pub postal_code: Option<PostalCode>,
    /// ISO 3166-1 alpha-2, upper case, e.g. `DE`.
    #[schema(value_type = Option<super::country::CountryCode>)]
    pub country: Option<String>,
}

/// A validated shipping address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: PersonName,
    pub line1: AddressText,
    pub line2: Option<AddressText>,
    pub city: AddressText,
    pub region: Option<AddressText>,
    pub postal_code: Option<PostalCode>,
    pub country: String,
}

/// Validate an address against its destination's rules. Errors name every missing field and every
/// field the destination does not use; they never contain the values.
pub fn validate(input: &AddressInput, prefix: &str) -> Result<Address, Vec<FieldError>> {
    let mut errors = Vec::new();
    let f = |name: &str| format!("{prefix}.{name}");
    let country = match input.country.as_deref().map(super::country::CountryCode::parse) {
        Some(Some(c)) => Some(c.as_str().to_owned()),
        Some(None) => {
            errors.push(
                FieldError::new(f("country"), "invalid_format")
                    .with_message("must be an ISO 3166-1 alpha-2 code in upper case"),
            );
            None
        }
        None => {
            errors.push(FieldError::new(f("country"), "required").with_message("is required"));
            None
        }
    };
    let rules = rules_for(country.as_deref().unwrap_or("*"));
    let required = |present: bool, name: &str, errors: &mut Vec<FieldError>| {
        if !present {
            errors.push(FieldError::new(f(name), "required").with_message("is required for this destination"));
        }
    };
    required(input.name.is_some(), "name", &mut errors);
    required(input.line1.is_some(), "line1", &mut errors);
    required(input.city.is_some(), "city", &mut errors);
    match rules.region {
        Need::Required => required(input.region.is_some(), "region", &mut errors),
        Need::NotUsed if input.region.is_some() => errors.push(
            FieldError::new(f("region"), "not_collected")
                .with_message("this destination does not use a region; leave it out"),
        ),
        _ => {}
    }
    if let (Some(region), false) = (&input.region, rules.regions.is_empty())
        && !rules.regions.contains(&region.expose().to_ascii_uppercase().as_str())
    {
        errors
            .push(FieldError::new(f("region"), "invalid_choice").with_message("is not a region code of this country"));
    }
    match rules.postal_code {
        Need::Required => required(input.postal_code.is_some(), "postal_code", &mut errors),
        Need::NotUsed if input.postal_code.is_some() => errors.push(
            FieldError::new(f("postal_code"), "not_collected")
                .with_message("this destination does not use postal codes; leave it out"),
        ),
        _ => {}
    }
    if let Some(pc) = &input.postal_code
        && rules.postal_code != Need::NotUsed
        && !rules.postal_patterns.iter().any(|p| matches_pattern(pc.expose(), p))
    {
        errors.push(
            FieldError::new(f("postal_code"), "invalid_format").with_message("is not a postal code of this country"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    match (&input.name, &input.line1, &input.city, country) {
        (Some(name), Some(line1), Some(city), Some(country)) => Ok(Address {
            name: name.clone(),
            line1: line1.clone(),
            line2: input.line2.clone(),
            city: city.clone(),
            region: input
                .region
                .as_ref()
                // Region codes (US states, CA provinces, AU states) are normalised; names are kept as written.
                .map(|r| match rules.regions.is_empty() {
                    true => r.clone(),
                    false => AddressText::parse(&r.expose().to_ascii_uppercase()).unwrap_or_else(|_| r.clone()),
                }),
            postal_code: input.postal_code.clone(),
            country,
        }),
        _ => Err(vec![FieldError::new(prefix, "required")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(country: &str, region: Option<&str>, postal: Option<&str>) -> AddressInput {
        AddressInput {
            name: Some(PersonName::parse("A Person").unwrap()),
            line1: Some(AddressText::parse("1 Main St").unwrap()),
            line2: None,
            city: Some(AddressText::parse("Town").unwrap()),
            region: region.map(|r| AddressText::parse(r).unwrap()),
            postal_code: postal.map(|p| PostalCode::parse(p).unwrap()),
            country: Some(country.into()),
        }
    }

    fn codes(r: Result<Address, Vec<FieldError>>) -> Vec<(String, String)> {
        r.err().unwrap_or_default().into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn per_country_rules() {
        assert!(validate(&input("US", Some("CA"), Some("94103")), "a").is_ok());
        assert!(validate(&input("US", Some("ca"), Some("94103-1234")), "a").is_ok());
        assert_eq!(
            codes(validate(&input("US", None, Some("94103")), "a")),
            vec![("a.region".into(), "required".into())]
        );
        assert_eq!(
            codes(validate(&input("US", Some("ZZ"), Some("94103")), "a")),
            vec![("a.region".into(), "invalid_choice".into())]
        );
        assert!(validate(&input("GB", None, Some("SW1A 1AA")), "a").is_ok());
        assert_eq!(
            codes(validate(&input("GB", Some("London"), Some("SW1A 1AA")), "a")),
            vec![("a.region".into(), "not_collected".into())]
        );
        assert!(validate(&input("DE", None, Some("10115")), "a").is_ok());
        assert_eq!(
            codes(validate(&input("DE", None, Some("1011")), "a")),
            vec![("a.postal_code".into(), "invalid_format".into())]
        );
        assert!(validate(&input("NL", None, Some("1012 AB")), "a").is_ok());
        assert!(validate(&input("CA", Some("ON"), Some("K1A 0B1")), "a").is_ok());
        assert!(validate(&input("JP", Some("Tokyo"), Some("100-0001")), "a").is_ok());
        let jp = validate(&input("JP", Some("Tokyo"), Some("100-0001")), "a").unwrap();
        assert_eq!(jp.region.unwrap().expose(), "Tokyo", "a prefecture name is kept as written");
        let us = validate(&input("US", Some("ca"), Some("94103")), "a").unwrap();
        assert_eq!(us.region.unwrap().expose(), "CA", "a state code is normalised");
        assert!(validate(&input("AU", Some("NSW"), Some("2000")), "a").is_ok());
        assert!(validate(&input("FR", None, Some("75008")), "a").is_ok());
        assert!(validate(&input("HK", None, None), "a").is_ok());
        assert_eq!(
            codes(validate(&input("HK", None, Some("999077")), "a")),
            vec![("a.postal_code".into(), "not_collected".into())]
        );
        assert!(validate(&input("SE", None, Some("114 55")), "a").is_ok());
    }
}
