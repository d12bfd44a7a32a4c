//! Detects payment card numbers (PANs) in free text, so that the API can refuse them wherever they
//! appear. "Looks like a card": 13–19 digits, written together or in groups of 3–6 separated by single
//! spaces or dashes, passing the Luhn check *and* matching a card brand's prefix and length. Longer digit
//! runs (tracking numbers), UUIDs, timestamps, phone numbers and postal codes do not match.

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

/// True when `text` contains something that looks like a card number.
pub fn contains_card_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        // A run: digit groups joined by single separators.
        let mut groups: Vec<Vec<u8>> = vec![Vec::new()];
        let mut j = i;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                if let Some(g) = groups.last_mut() {
                    g.push(b - b'0');
                }
                j += 1;
            } else if (b == b' ' || b == b'-') && j + 1 < bytes.len() && bytes[j + 1].is_ascii_digit() {
                groups.push(Vec::new());
                j += 1;
            } else {
                break;
            }
        }
        // A run glued to letters (ids, hex) is not a card number.
        let glued = j < bytes.len() && bytes[j].is_ascii_alphabetic();
        if !glued && run_has_card(&groups) {
            return true;
        }
        i = j.max(i + 1);
    }
    false
}

fn run_has_card(groups: &[Vec<u8>]) -> bool {
    if groups.len() == 1 {
        return is_card_number(&groups[0]);
    }
    // Written in groups: consider consecutive groups of 3–6 digits whose total is 13–19.
    for start in 0..groups.len() {
        let mut digits = Vec::with_capacity(19);
        for g in &groups[start..] {
            let fits = (3..=6).contains(&g.len()) || (!digits.is_empty() && g.len() <= 4);
            if !fits {
                break;
            }
            digits.extend_from_slice(g);
            if digits.len() > 19 {
                break;
            }
            if is_card_number(&digits) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARDS: &[&str] = &[
        "4242424242424242",    // Visa
        "4000056655665556",    // Visa debit
        "4000000000000002",    // Visa, declines
        "4000000000009995",    // Visa, insufficient funds
        "4000002500003155",    // Visa, 3-D Secure
        "5555555555554444",    // Mastercard
        "2223003122003222",    // Mastercard 2-series
        "378282246310005",     // Amex
        "6011111111111117",    // Discover
        "3566002020360505",    // JCB
        "36227206271667",      // Diners 14
        "3056930009020004",    // Diners 16
        "6200000000000005",    // UnionPay
        "6759649826438453",    // Maestro
        "4242 4242 4242 4242", // grouped
        "4242-4242-4242-4242",
        "3782 822463 10005", // Amex 4-6-5
    ];

    #[test]
    fn finds_cards_in_text() {
        for c in CARDS {
            assert!(contains_card_number(c), "{c}");
            assert!(contains_card_number(&format!("note: pay with {c} please")), "{c} in text");
            assert!(contains_card_number(&format!("{{\"line1\":\"{c}\"}}")), "{c} in JSON");
        }
        assert!(contains_card_number("card 4242 4242 4242 4242 12/30 cvc 123"));
        assert!(contains_card_number("{\"n\":4242424242424242}"));
    }

    #[test]
    fn ignores_things_that_are_not_cards() {
        let not_cards = [
            "4242424242424241",                     // Luhn fails
            "1234567812345670",                     // Luhn ok, no brand
            "550e8400-e29b-41d4-a716-446655440000", // UUID
            "12345678-1234-1234-1234-123456789012", // numeric UUID
            "1764083232000",                        // ms timestamp
            "2026-11-25T18:40:36Z",                 // date
            "+1 415 555 2671",                      // phone
            "+44 20 7946 0958",                     // phone
            "SW1A 1AA",
            "94103",
            "75008",
            "1012 AB",                           // postal codes
            "1Z999AA10123456784",                // UPS
            "9400111899223100000000",            // USPS (22 digits)
            "420941039400111899223100000000",    // USPS with ZIP
            "123456789012",                      // FedEx 12
            "JD014600006281234567",              // DHL
            "prod_4242424242424242xyzABCDEFGHI", // id with digits glued to letters
            "pi_4242424242424242abc",
            "ord_42424242424242424Z",
        ];
        for s in not_cards {
            assert!(!contains_card_number(s), "{s}");
        }
    }
}
