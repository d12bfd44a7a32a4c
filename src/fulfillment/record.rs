//! The minimized shipping record: exactly what a partner needs to deliver a fulfillment, and only the
//! fields its key is granted — opened from the order's sealed fields at the moment of reading, so an
//! erased customer's record is gone and an old one has lost its personal fields.

use super::model::LineRow;
use super::store::Source;
use crate::kernel::time::UtcTime;
use crate::partners::keys::PartnerKey;
use crate::privacy::personal::SealedDetails;
use crate::privacy::sealing::DataKey;
use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::ToSchema;

/// What a key may see beyond the fixed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grant {
    /// The recipient's phone: the partner's carrier needs it *and* the key holds `shipping.phone:read`.
    pub phone: bool,
    /// Declared values of international parcels: the key holds `customs:read`.
    pub customs: bool,
}

impl Grant {
    pub fn of(key: &PartnerKey, carrier_needs_phone: bool) -> Grant {
        let has = |s: &str| key.scopes.iter().any(|x| x == s);
        Grant { phone: carrier_needs_phone && has("shipping.phone:read"), customs: has("customs:read") }
    }

    /// The record's fields under this grant (for the audit log and the admin's preview).
    pub fn fields(self) -> Vec<&'static str> {
        let mut f = vec![
            "reference",
            "status",
            "created_at",
            "shipping_method",
            "recipient.name",
            "recipient.line1",
            "recipient.line2",
            "recipient.city",
            "recipient.region",
            "recipient.postal_code",
            "recipient.country",
        ];
        if self.phone {
            f.push("recipient.phone");
        }
        f.extend(["lines.sku", "lines.title", "lines.quantity", "lines.weight_grams"]);
        if self.customs {
            f.extend(["customs.currency", "customs.total_value", "customs.lines"]);
        }
        f
    }
}

/// When a record is read: now, how long after shipping personal fields stay readable, and where
/// parcels leave from (what makes one international).
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    pub now: NaiveDateTime,
    pub window: chrono::Duration,
    pub ship_from: &'a str,
    pub grant: Grant,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Recipient {
    pub name: String,
    pub line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    /// Where the country uses one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Only when the carrier needs it and the key holds `shipping.phone:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct RecordLine {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    /// Per unit.
    pub weight_grams: i32,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct CustomsLine {
    pub sku: String,
    pub quantity: i32,
    /// Declared value per unit, minor units of `currency`.
    pub unit_value: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Customs {
    /// ISO 4217.
    pub currency: String,
    /// Minor units.
    pub total_value: i64,
    pub lines: Vec<CustomsLine>,
}

/// A partner's record of a fulfillment. Never: the shopper's e-mail, account, order id or number,
/// totals, payment or billing data, other partners' lines.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Record {
    /// The partner's reference (`FR-…`): one per fulfillment, not the order's id or number.
    pub reference: String,
    /// `ready`, `acknowledged`, `partially_shipped`, `shipped`, `delivered`, `exception`, `cancelled`
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<UtcTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    /// Absent once the purpose has passed (shipped longer ago than the window, or cancelled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Recipient>,
    pub lines: Vec<RecordLine>,
    /// International parcels only, for keys holding `customs:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customs: Option<Customs>,
}

/// The record of `src` with its `lines`; `None` when its customer was erased (it is then in no
/// partner's view at all).
pub fn build(src: &Source, lines: &[LineRow], key: Option<&DataKey>, reading: &Reading<'_>) -> Option<Record> {
    let record_lines = lines
        .iter()
        .map(|l| RecordLine {
            sku: l.sku.clone(),
            title: l.title.clone(),
            quantity: l.quantity,
            weight_grams: l.weight_grams,
        })
        .collect();
    let minimal = |lines| Record {
        reference: src.reference.clone(),
        status: src.status.clone(),
        created_at: None,
        shipping_method: None,
        recipient: None,
        lines,
        customs: None,
    };
    let Some(key) = key else {
        // A subject whose key is gone was erased; an order without one holds nothing personal.
        return if src.subject_id.is_some() { None } else { Some(minimal(record_lines)) };
    };
    let expired = src.status == "cancelled" || src.shipped_at.is_some_and(|t| t + reading.window <= reading.now);
    if expired {
        return Some(minimal(record_lines));
    }
    let sealed = SealedDetails {
        email: None,
        name: src.name.clone(),
        line1: src.line1.clone(),
        line2: src.line2.clone(),
        city: src.city.clone(),
        postal_code: src.postal_code.clone(),
        phone: if reading.grant.phone { src.phone.clone() } else { None },
    };
    let d = sealed.open(Some(key));
    let country = src.country.clone().unwrap_or_default();
    let recipient = match (d.name, d.line1, d.city) {
        (Some(name), Some(line1), Some(city)) => Some(Recipient {
            name: name.expose().to_owned(),
            line1: line1.expose().to_owned(),
            line2: d.line2.map(|v| v.expose().to_owned()),
            city: city.expose().to_owned(),
            region: src.region.clone(),
            postal_code: d.postal_code.map(|v| v.expose().to_owned()),
            country: country.clone(),
            phone: d.phone.map(|v| v.expose().to_owned()),
        }),
        _ => None,
    };
    let international = !country.is_empty() && country != reading.ship_from;
    let customs = (reading.grant.customs && international).then(|| Customs {
        currency: src.currency.clone(),
        total_value: lines.iter().map(|l| l.unit_value * i64::from(l.quantity)).sum(),
        lines: lines
            .iter()
            .map(|l| CustomsLine { sku: l.sku.clone(), quantity: l.quantity, unit_value: l.unit_value })
            .collect(),
    });
    Some(Record {
        reference: src.reference.clone(),
        status: src.status.clone(),
        created_at: Some(src.created_at.into()),
        shipping_method: src.shipping_method.clone(),
        recipient,
        lines: record_lines,
        customs,
    })
}

/// The CSV header under a grant: one row per line of a record, the record's fields repeated.
pub fn csv_header(grant: Grant) -> String {
    let mut cols = vec![
        "reference",
        "status",
        "created_at",
        "shipping_method",
        "name",
        "line1",
        "line2",
        "city",
        "region",
        "postal_code",
        "country",
    ];
    if grant.phone {
        cols.push("phone");
    }
    cols.extend(["sku", "title", "quantity", "weight_grams"]);
    if grant.customs {
        cols.extend(["customs_currency", "customs_unit_value"]);
    }
    let mut line = cols.join(",");
    line.push_str("\r\n");
    line
}

/// A CSV cell: quoted when it must be; free text that a spreadsheet would take for a formula gets a
/// leading `'` (a name such as `=HYPERLINK(…)` must not run in the warehouse's spreadsheet).
fn cell(out: &mut String, value: &str, free_text: bool) {
    let formula = free_text && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// A record's CSV rows under a grant (one per line), written straight from the record (an export
/// writes a million of them: no cell is copied on the way).
pub fn csv_rows(out: &mut String, r: &Record, grant: Grant) {
    let rec = r.recipient.as_ref();
    let created = r.created_at.as_ref().map(ToString::to_string).unwrap_or_default();
    let customs = r.customs.as_ref();
    for line in &r.lines {
        let mut first = true;
        let mut put = |out: &mut String, v: &str, free: bool| {
            if !first {
                out.push(',');
            }
            first = false;
            cell(out, v, free);
        };
        put(out, &r.reference, false);
        put(out, &r.status, false);
        put(out, &created, false);
        put(out, r.shipping_method.as_deref().unwrap_or(""), false);
        put(out, rec.map_or("", |x| x.name.as_str()), true);
        put(out, rec.map_or("", |x| x.line1.as_str()), true);
        put(out, rec.and_then(|x| x.line2.as_deref()).unwrap_or(""), true);
        put(out, rec.map_or("", |x| x.city.as_str()), true);
        put(out, rec.and_then(|x| x.region.as_deref()).unwrap_or(""), false);
        put(out, rec.and_then(|x| x.postal_code.as_deref()).unwrap_or(""), true);
        put(out, rec.map_or("", |x| x.country.as_str()), false);
        if grant.phone {
            put(out, rec.and_then(|x| x.phone.as_deref()).unwrap_or(""), false);
        }
        put(out, &line.sku, true);
        put(out, &line.title, true);
        put(out, &line.quantity.to_string(), false);
        put(out, &line.weight_grams.to_string(), false);
        if grant.customs {
            let value = customs.and_then(|c| c.lines.iter().find(|l| l.sku == line.sku));
            put(out, customs.map_or("", |c| c.currency.as_str()), false);
            put(out, &value.map(|v| v.unit_value.to_string()).unwrap_or_default(), false);
        }
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::pii::{AddressText, PersonName};
    use crate::privacy::sealing::{Field, MasterKey, Sealed};

    fn source(country: &str, key: &DataKey) -> Source {
        let text = |f, v: &str| Some(Sealed::seal(key, f, &AddressText::parse(v).unwrap()).unwrap());
        Source {
            id: "ful_1".into(),
            reference: "FR-1".into(),
            status: "ready".into(),
            created_at: NaiveDateTime::default(),
            shipped_at: None,
            subject_id: Some("sub_1".into()),
            name: Some(Sealed::seal(key, Field::ShipName, &PersonName::parse("Ada").unwrap()).unwrap()),
            line1: text(Field::ShipLine1, "1 Row"),
            line2: None,
            city: text(Field::ShipCity, "Town"),
            region: None,
            postal_code: None,
            country: Some(country.into()),
            phone: None,
            shipping_method: Some("standard".into()),
            currency: "USD".into(),
        }
    }

    #[test]
    fn customs_only_for_international_parcels_and_keys_that_may_read_them() {
        let (master, _) = MasterKey::generate().unwrap();
        let (key, _) = DataKey::generate(&master, "subject:sub_1").unwrap();
        let line = LineRow {
            fulfillment_id: "ful_1".into(),
            order_line_id: "ol_1".into(),
            sku: "TEE".into(),
            title: "Tee".into(),
            quantity: 2,
            weight_grams: 200,
            unit_value: 1500,
            quantity_shipped: 0,
        };
        let reading = |customs| Reading {
            now: NaiveDateTime::default(),
            window: chrono::Duration::days(30),
            ship_from: "US",
            grant: Grant { phone: true, customs },
        };
        let abroad = build(&source("DE", &key), std::slice::from_ref(&line), Some(&key), &reading(true)).unwrap();
        assert_eq!(abroad.customs.as_ref().map(|c| c.total_value), Some(3000));
        let home = build(&source("US", &key), std::slice::from_ref(&line), Some(&key), &reading(true)).unwrap();
        assert!(home.customs.is_none(), "a domestic parcel declares nothing");
        let unscoped = build(&source("DE", &key), std::slice::from_ref(&line), Some(&key), &reading(false)).unwrap();
        assert!(unscoped.customs.is_none());
        assert_eq!(home.recipient.as_ref().map(|r| r.name.as_str()), Some("Ada"));
        assert!(build(&source("DE", &key), &[line], None, &reading(true)).is_none(), "erased: no record at all");
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        super::cell(&mut out, "=HYPERLINK(\"x\")", true);
        assert_eq!(out, "\"'=HYPERLINK(\"\"x\"\")\"");
        let mut out = String::new();
        super::cell(&mut out, "12, Analytical Row", true);
        assert_eq!(out, "\"12, Analytical Row\"");
        let mut out = String::new();
        super::cell(&mut out, "+4930123", false);
        assert_eq!(out, "+4930123");
    }
}
