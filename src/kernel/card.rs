//! Detects payment card numbers (PANs) in free text, so that the API can refuse them wherever they
//! appear, however they are written. "Looks like a card": 13–19 digits of any script, together or in
//! groups of any size joined by any separators, passing the Luhn check *and* matching a card brand's
//! prefix and length. Longer digit runs (tracking numbers), UUIDs, timestamps, phone numbers and postal
//! codes do not match. See [`contains_card_number`] for the rules and what is allowed on purpose.

/// Card brands the detector knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
    Maestro,
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits.iter().take(n).fold(0, |acc, d| acc * 10 + u32::from(*d))
}

/// The brand whose prefix and length match, if any.
pub fn brand_of(digits: &[u8]) -> Option<Brand> {
    let len = digits.len();
    let p = |n| prefix_num(digits, n);
    if digits.first() == Some(&4) && matches!(len, 13 | 16 | 19) {
        return Some(Brand::Visa);
    }
    if len == 16 && ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4))) {
        return Some(Brand::Mastercard);
    }
    if len == 15 && matches!(p(2), 34 | 37) {
        return Some(Brand::Amex);
    }
    if (16..=19).contains(&len)
        && (p(4) == 6011 || (644..=649).contains(&p(3)) || p(2) == 65 || (622_126..=622_925).contains(&p(6)))
    {
        return Some(Brand::Discover);
    }
    if (16..=19).contains(&len) && (3528..=3589).contains(&p(4)) {
        return Some(Brand::Jcb);
    }
    if (14..=19).contains(&len) && ((300..=305).contains(&p(3)) || p(4) == 3095 || matches!(p(2), 36 | 38 | 39)) {
        return Some(Brand::Diners);
    }
    if (16..=19).contains(&len) && p(2) == 62 {
        return Some(Brand::UnionPay);
    }
    if (13..=19).contains(&len) && (p(2) == 50 || (56..=69).contains(&p(2))) {
        return Some(Brand::Maestro);
    }
    None
}

/// Luhn (mod 10) check.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// True when these digits form a card number.
pub fn is_card_number(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && luhn_valid(digits) && brand_of(digits).is_some()
}

/// True when `text` contains something that looks like a card number, however it is written.
///
/// The text is normalised first: compatibility decomposition (NFKD: full-width, mathematical and
/// circled digits become ASCII), every decimal digit of any script becomes its ASCII value, and any
/// run of characters that are neither letters nor digits (spaces of every kind, dots, slashes,
/// underscores, dashes of every kind, zero-width characters, punctuation) is one separator. Letters
/// end a number but do not hide it: digits glued to letters (`Apt4242424242424242`) are checked like
/// any others. Then every sequence of whole digit groups with 13–19 digits in all is checked against
/// Luhn and the brands' prefixes and lengths; a single group longer than 19 digits (USPS and FedEx
/// tracking numbers) is a different number and is not searched inside.
///
/// Allowed on purpose, as whole words: UPS tracking numbers (`1Z` + 16 letters or digits), DHL
/// e-commerce numbers (`JD`/`JJD` + 18–20 digits) and canonical UUIDs — formats whose digits may pass
/// the check by chance. Nothing else is exempt, not even ids shaped like ours (`ord_…`): 22 random
/// base62 characters contain a valid card number with a probability of about 10⁻¹¹, so there is
/// nothing of ours to allow.
pub fn contains_card_number(text: &str) -> bool {
    // Fast paths: ASCII text with fewer than 13 digits holds no card number; nor does other text with
    // fewer than 7 numeric characters (a compatibility character decomposes to at most two digits: ⒆).
    if text.is_ascii() {
        if text.bytes().filter(u8::is_ascii_digit).count() < 13 {
            return false;
        }
    } else if text.chars().filter(|c| c.is_numeric()).count() < 7 {
        return false;
    }
    let classes = classify(text);
    scan(&classes)
}

/// One character of normalised text, as the detector sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Digit(u8),
    Letter,
    Separator,
}

fn class_of(c: char) -> Class {
    use icu_properties::CodePointMapData;
    use icu_properties::props::NumericType;
    if let Some(d) = c.to_digit(10).filter(|_| c.is_ascii()) {
        return Class::Digit(d as u8);
    }
    if !c.is_ascii() && CodePointMapData::<NumericType>::new().get(c) == NumericType::Decimal {
        return Class::Digit(decimal_value(c));
    }
    if c.is_alphabetic() { Class::Letter } else { Class::Separator }
}

/// The value of a decimal digit (Unicode `Nd`) of any script. Unicode encodes every such digit in a
/// contiguous run from 0 to 9, so the value is the number of decimal digits before it in its run,
/// modulo 10 (runs of 0–9 sit back to back, e.g. the mathematical digits).
fn decimal_value(c: char) -> u8 {
    use icu_properties::CodePointMapData;
    use icu_properties::props::NumericType;
    let map = CodePointMapData::<NumericType>::new();
    let mut n: u32 = 0;
    let mut cp = u32::from(c);
    while cp > 0 {
        cp -= 1;
        match char::from_u32(cp) {
            Some(p) if map.get(p) == NumericType::Decimal => n += 1,
            _ => break,
        }
    }
    (n % 10) as u8
}

/// Normalise and classify, then blank out the words that are allowed on purpose.
fn classify(text: &str) -> Vec<(char, Class)> {
    let normalised = if text.is_ascii() {
        std::borrow::Cow::Borrowed(text)
    } else {
        icu_normalizer::DecomposingNormalizerBorrowed::new_nfkd().normalize(text)
    };
    let mut out: Vec<(char, Class)> = normalised.chars().map(|c| (c, class_of(c))).collect();
    // Words: maximal runs of ASCII letters, digits, '_' and '-'.
    let mut i = 0;
    while i < out.len() {
        if !is_word_char(out[i].0) {
            i += 1;
            continue;
        }
        let start = i;
        while i < out.len() && is_word_char(out[i].0) {
            i += 1;
        }
        let word: String = out[start..i].iter().map(|(c, _)| *c).collect();
        if exempt_word(&word) {
            for slot in &mut out[start..i] {
                slot.1 = Class::Letter;
            }
        }
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Words that may carry a Luhn-valid digit run by chance and are allowed (see [`contains_card_number`]).
fn exempt_word(w: &str) -> bool {
    let b = w.as_bytes();
    let all = |s: &[u8], f: fn(&u8) -> bool| s.iter().all(f);
    // UPS: 1Z + 6-character shipper number + 2-digit service + 8 digits.
    let ups = b.len() == 18 && b[..2].eq_ignore_ascii_case(b"1Z") && all(&b[2..], u8::is_ascii_alphanumeric);
    // DHL e-commerce: JD or JJD + 18–20 digits.
    let dhl = |p: &[u8]| {
        b.len() > p.len()
            && b[..p.len()].eq_ignore_ascii_case(p)
            && (18..=20).contains(&(b.len() - p.len()))
            && all(&b[p.len()..], u8::is_ascii_digit)
    };
    ups || dhl(b"JD") || dhl(b"JJD") || is_uuid(w)
}

/// A canonical UUID: 8-4-4-4-12 hex digits.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Look for a card number in classified text: split at letters into segments, each a sequence of
/// digit groups joined by separators; try every run of whole groups with 13–19 digits in all.
fn scan(classes: &[(char, Class)]) -> bool {
    let mut groups: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let check = |groups: &mut Vec<Vec<u8>>| {
        let found = segment_has_card(groups);
        groups.clear();
        found
    };
    for &(_, class) in classes {
        match class {
            Class::Digit(d) => current.push(d),
            Class::Separator => {
                if !current.is_empty() {
                    groups.push(std::mem::take(&mut current));
                }
            }
            Class::Letter => {
                if !current.is_empty() {
                    groups.push(std::mem::take(&mut current));
                }
                if check(&mut groups) {
                    return true;
                }
            }
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    check(&mut groups)
}

fn segment_has_card(groups: &[Vec<u8>]) -> bool {
    let total: usize = groups.iter().map(Vec::len).sum();
    if total < 13 {
        return false;
    }
    let mut digits = Vec::with_capacity(19);
    for start in 0..groups.len() {
        digits.clear();
        for g in &groups[start..] {
            digits.extend_from_slice(g);
            if digits.len() > 19 {
                break;
            }
            if digits.len() >= 13 && is_card_number(&digits) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test numbers of every brand (Stripe's and the brands' published test ranges).
    pub const TEST_CARDS: &[&str] = &[
        "4242424242424242", // Visa
        "4000056655665556", // Visa debit
        "4000000000000002", // Visa, declines
        "4000000000009995", // Visa, insufficient funds
        "4000002500003155", // Visa, 3-D Secure
        "4222222222222",    // Visa 13
        "5555555555554444", // Mastercard
        "2223003122003222", // Mastercard 2-series
        "378282246310005",  // Amex
        "371449635398431",  // Amex
        "6011111111111117", // Discover
        "3566002020360505", // JCB
        "36227206271667",   // Diners 14
        "3056930009020004", // Diners 16
        "6200000000000005", // UnionPay
        "6759649826438453", // Maestro
    ];

    /// Ways of writing `digits` that a person or an attacker might use.
    fn spellings(digits: &str) -> Vec<String> {
        let d: Vec<char> = digits.chars().collect();
        let join =
            |size: usize, sep: &str| d.chunks(size).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(sep);
        let shift = |zero: u32| d.iter().filter_map(|c| char::from_u32(zero + c.to_digit(10).unwrap_or(0))).collect();
        vec![
            digits.to_owned(),
            join(4, " "),
            join(4, "-"),
            join(4, "."),
            join(4, "/"),
            join(4, "_"),
            join(4, "   "),
            join(4, "\u{a0}"),
            join(4, "\u{2013}"),
            join(4, "\u{2014}"),
            join(4, " - "),
            join(4, "\u{200b}"),
            join(1, " "),
            join(2, " "),
            join(3, "."),
            join(7, " "),
            join(8, " "),
            shift(0xFF10),  // full-width
            shift(0x0660),  // Arabic-Indic
            shift(0x0966),  // Devanagari
            shift(0x1D7CE), // mathematical bold
            shift(0x1D7EC), // mathematical sans-serif bold (a later run of the same block)
            format!("Apt{digits}"),
            format!("{digits}abc"),
            format!("prod_{digits}xyzABCDEFGHI"),
        ]
    }

    #[test]
    fn finds_cards_however_written() {
        for card in TEST_CARDS {
            for s in spellings(card) {
                assert!(contains_card_number(&s), "{s:?}");
                assert!(contains_card_number(&format!("note: pay with {s} please")), "{s:?} in text");
                assert!(contains_card_number(&format!("{{\"line1\":\"{s}\"}}")), "{s:?} in JSON");
            }
        }
        assert!(contains_card_number("card 4242 4242 4242 4242 12/30 cvc 123"));
        assert!(contains_card_number("{\"n\":4242424242424242}"));
        assert!(contains_card_number("3782 822463 10005")); // Amex 4-6-5
        assert!(contains_card_number("42424242 42424242"));
        assert!(contains_card_number("call 0123 456 789, 4242 4242 4242 4242")); // after other digits
        assert!(contains_card_number("378.282.246.310.005"));
        assert!(contains_card_number("4\u{305}242424242424242")); // a combining mark between digits
        assert!(contains_card_number("\u{2463}242424242424242")); // circled digit four
    }

    #[test]
    fn ignores_things_that_are_not_cards() {
        let not_cards = [
            "4242424242424241",                     // Luhn fails
            "1234567812345670",                     // Luhn ok, no brand
            "550e8400-e29b-41d4-a716-446655440000", // UUID
            "12345678-1234-1234-1234-123456789012", // numeric UUID
            "00000000-4242-4242-4242-424242424242", // a UUID whose digits would pass
            "1764083232000",                        // ms timestamp
            "2026-11-25T18:40:36Z",                 // date
            "2026-11-29T15:10:44.884501Z",
            "+1 415 555 2671", // phone
            "+44 20 7946 0958",
            "SW1A 1AA",
            "94103",
            "75008",
            "1012 AB",                        // postal codes
            "1Z999AA10123456784",             // UPS
            "1Z4242424242424242",             // UPS, digits that pass
            "9400111899223100000000",         // USPS (22 digits)
            "420941039400111899223100000000", // USPS with ZIP
            "123456789012",                   // FedEx 12
            "JD014600006281234567",           // DHL
            "JJD424242424242424242",
            "Flat 4, 12 Main Street, 3rd floor",
            "LC-100042",
            "",
        ];
        for s in not_cards {
            assert!(!contains_card_number(s), "{s}");
        }
        for _ in 0..2000 {
            let id = format!("ord_{}", crate::kernel::ids::random_base62());
            assert!(!contains_card_number(&id), "{id}");
        }
    }

    #[test]
    fn digits_of_every_script_have_their_value() {
        for (zero, name) in [
            (0x30, "ASCII"),
            (0x660, "Arabic-Indic"),
            (0x6F0, "Persian"),
            (0xE50, "Thai"),
            (0xFF10, "full-width"),
            (0x1D7F6, "monospace"),
        ] {
            for v in 0..10u32 {
                let c = char::from_u32(zero + v).unwrap_or('x');
                assert_eq!(class_of(c), Class::Digit(v as u8), "{name} {v}");
            }
        }
        assert_eq!(class_of('a'), Class::Letter);
        assert_eq!(class_of('\u{a0}'), Class::Separator);
    }
}
