//! Fulfillments, their lines and routing rules as stored; statuses.

use chrono::NaiveDateTime;
use diesel::prelude::*;

crate::typed_id!(
    /// A fulfillment (`ful_…`): leancart's own id, never shown to a partner.
    FulfillmentId, "ful_"
);
crate::typed_id!(
    /// A routing rule (`rr_…`).
    RuleId, "rr_"
);
crate::typed_id!(
    /// A shipment (`shp_…`).
    ShipmentId, "shp_"
);

/// A partner's name for a fulfillment: random, one per fulfillment (so per partner), neither the order's
/// id nor its number, and not guessable.
pub fn new_reference() -> String {
    format!("FR-{}", crate::kernel::ids::random_base62())
}

/// Where a fulfillment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No routing rule matched its lines: an admin assigns it.
    Unassigned,
    /// Work for its partner, not yet acknowledged.
    Ready,
    /// The partner acknowledged receiving it.
    Acknowledged,
    PartiallyShipped,
    Shipped,
    Delivered,
    /// The partner reported a problem (a code, never free text).
    Exception,
    /// Its order was cancelled before it shipped.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Unassigned,
        Status::Ready,
        Status::Acknowledged,
        Status::PartiallyShipped,
        Status::Shipped,
        Status::Delivered,
        Status::Exception,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unassigned => "unassigned",
            Status::Ready => "ready",
            Status::Acknowledged => "acknowledged",
            Status::PartiallyShipped => "partially_shipped",
            Status::Shipped => "shipped",
            Status::Delivered => "delivered",
            Status::Exception => "exception",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Still to be shipped (a shipment may be recorded against it).
    pub fn open(self) -> bool {
        matches!(self, Status::Ready | Status::Acknowledged | Status::PartiallyShipped | Status::Exception)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::fulfillments)]
pub struct FulfillmentRow {
    pub id: String,
    pub order_id: String,
    pub partner_id: Option<String>,
    pub reference: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub shipped_at: Option<NaiveDateTime>,
    pub delivered_at: Option<NaiveDateTime>,
    pub exception: Option<String>,
}

impl FulfillmentRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Exception)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::fulfillment_lines)]
pub struct LineRow {
    pub fulfillment_id: String,
    pub order_line_id: String,
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    pub weight_grams: i32,
    /// The unit's price (minor units of the order's currency): the declared value for customs.
    pub unit_value: i64,
    pub quantity_shipped: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::routing_rules)]
pub struct RuleRow {
    pub id: String,
    pub partner_id: String,
    pub priority: i32,
    pub shipping_method: Option<String>,
    pub country: Option<String>,
    pub sku_prefix: Option<String>,
    pub created_at: NaiveDateTime,
}

impl RuleRow {
    /// Whether the rule takes a line of `sku` going by `method` to `country`.
    pub fn matches(&self, method: Option<&str>, country: Option<&str>, sku: &str) -> bool {
        self.shipping_method.as_deref().is_none_or(|m| Some(m) == method)
            && self.country.as_deref().is_none_or(|c| Some(c) == country)
            && self.sku_prefix.as_deref().is_none_or(|p| sku.starts_with(p))
    }
}

/// The partner of a line: the first rule (lowest priority, then oldest) that matches; `rules` sorted so.
pub fn route<'a>(rules: &'a [RuleRow], method: Option<&str>, country: Option<&str>, sku: &str) -> Option<&'a str> {
    rules.iter().find(|r| r.matches(method, country, sku)).map(|r| r.partner_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(partner: &str, priority: i32, method: Option<&str>, country: Option<&str>, sku: Option<&str>) -> RuleRow {
        RuleRow {
            id: format!("rr_{partner}{priority}"),
            partner_id: partner.into(),
            priority,
            shipping_method: method.map(Into::into),
            country: country.map(Into::into),
            sku_prefix: sku.map(Into::into),
            created_at: chrono::NaiveDateTime::default(),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_empty_conditions_match_anything() {
        let rules = vec![
            rule("ptn_mugs", 1, None, None, Some("MUG-")),
            rule("ptn_express", 2, Some("express"), None, None),
            rule("ptn_de", 3, None, Some("DE"), None),
            rule("ptn_rest", 9, None, None, None),
        ];
        assert_eq!(route(&rules, Some("express"), Some("DE"), "MUG-SAND"), Some("ptn_mugs"));
        assert_eq!(route(&rules, Some("express"), Some("DE"), "TEE-BLK-M"), Some("ptn_express"));
        assert_eq!(route(&rules, Some("standard"), Some("DE"), "TEE-BLK-M"), Some("ptn_de"));
        assert_eq!(route(&rules, Some("standard"), Some("US"), "TEE-BLK-M"), Some("ptn_rest"));
        assert_eq!(route(&rules[..3], Some("standard"), Some("US"), "TEE-BLK-M"), None);
        assert!(new_reference().starts_with("FR-") && new_reference() != new_reference());
    }
}
