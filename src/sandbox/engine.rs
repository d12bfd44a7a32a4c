//! The sandbox's in-memory Stripe test-mode model: payment methods, PaymentIntents, charges, refunds,
//! balance transactions, payouts, events, idempotency records and injected faults. Objects are rendered
//! from Stripe's published example objects (`stripe_objects.json`, MIT, from stripe/openapi) so that
//! every field the real API returns is present.
//!
//! Like Stripe, the sandbox never keeps a card number: tokenization keeps brand, last 4, expiry, a
//! fingerprint and the test behaviour of the number.

use crate::kernel::card;
use crate::kernel::ids::random_base62;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const OBJECTS: &str = include_str!("stripe_objects.json");

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_base62())
}

/// How a test card behaves when charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Succeed,
    Decline {
        code: &'static str,
        decline_code: &'static str,
    },
    RequireAuthentication,
    /// Succeeds, then the charge is disputed.
    Dispute,
}

fn behaviour_of_number(digits: &str) -> Behaviour {
    match digits {
        "4000000000000002" => Behaviour::Decline { code: "card_declined", decline_code: "generic_decline" },
        "4000000000009995" => Behaviour::Decline { code: "card_declined", decline_code: "insufficient_funds" },
        "4000000000009987" => Behaviour::Decline { code: "card_declined", decline_code: "lost_card" },
        "4000000000000069" => Behaviour::Decline { code: "expired_card", decline_code: "expired_card" },
        "4000000000000127" => Behaviour::Decline { code: "incorrect_cvc", decline_code: "incorrect_cvc" },
        "4000002500003155" | "4000002760003184" | "4000000000003220" => Behaviour::RequireAuthentication,
        "4000000000000259" => Behaviour::Dispute,
        _ => Behaviour::Succeed,
    }
}

fn brand_name(b: card::Brand) -> &'static str {
    match b {
        card::Brand::Visa => "visa",
        card::Brand::Mastercard => "mastercard",
        card::Brand::Amex => "amex",
        card::Brand::Discover => "discover",
        card::Brand::Jcb => "jcb",
        card::Brand::Diners => "diners",
        card::Brand::UnionPay => "unionpay",
        card::Brand::Maestro => "unknown",
    }
}

/// Stripe's test shortcuts: (id, brand, last4, behaviour).
const SHORTCUTS: &[(&str, &str, &str, Behaviour)] = &[
    ("pm_card_visa", "visa", "4242", Behaviour::Succeed),
    ("pm_card_visa_debit", "visa", "5556", Behaviour::Succeed),
    ("pm_card_mastercard", "mastercard", "4444", Behaviour::Succeed),
    ("pm_card_amex", "amex", "8431", Behaviour::Succeed),
    (
        "pm_card_chargeDeclined",
        "visa",
        "0002",
        Behaviour::Decline { code: "card_declined", decline_code: "generic_decline" },
    ),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "visa",
        "9995",
        Behaviour::Decline { code: "card_declined", decline_code: "insufficient_funds" },
    ),
    (
        "pm_card_chargeDeclinedExpiredCard",
        "visa",
        "0069",
        Behaviour::Decline { code: "expired_card", decline_code: "expired_card" },
    ),
    ("pm_card_authenticationRequired", "visa", "3184", Behaviour::RequireAuthentication),
    ("pm_card_threeDSecure2Required", "visa", "3220", Behaviour::RequireAuthentication),
    ("pm_card_createDispute", "visa", "0259", Behaviour::Dispute),
];

#[derive(Debug, Clone)]
pub struct PaymentMethod {
    pub id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub fingerprint: String,
    pub behaviour: Behaviour,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub capture_method: String,
    pub payment_method: Option<String>,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub latest_charge: Option<String>,
    pub client_secret: String,
    pub created: i64,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub last_payment_error: Option<Value>,
    pub next_action: Option<Value>,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub payment_intent: String,
    pub payment_method: String,
    pub status: String,
    pub captured: bool,
    pub balance_transaction: Option<String>,
    pub failure: Option<(String, String)>,
    pub disputed: bool,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub status: String,
    pub reason: Option<String>,
    pub balance_transaction: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct BalanceTransaction {
    pub id: String,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    pub currency: String,
    pub kind: String,
    pub source: String,
    pub created: i64,
    pub payout: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Payout {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub balance_transaction: String,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub type_: String,
    pub created: i64,
    /// Shared by the event log and the webhook deliverer (a rendered object is several KB).
    pub object: std::sync::Arc<Value>,
    pub idempotency_key: Option<String>,
}

/// Most events the sandbox keeps listable (Stripe keeps 30 days' worth): the log does not grow without
/// bound in a long-running shop. A rendered event is a JSON tree of tens of KB: 10 000 of them were most
/// of a `cargo run` shop's memory after 20 000 checkouts (377 MB resident, against 211 MB with 1 000).
pub const EVENTS_KEPT: usize = 1_000;

/// Most objects of each kind (payment methods, intents, charges, refunds, balance transactions,
/// idempotency records) the sandbox keeps. A `cargo run` shop runs the sandbox in process, so its memory
/// is the shop's: without a bound it grew from ~30 MB to ~420 MB over 18 000 checkouts. The oldest go
/// first; asked for one, the sandbox answers as Stripe does for an unknown id (404 `resource_missing`).
pub const OBJECTS_KEPT: usize = 10_000;

/// A map that keeps the newest [`OBJECTS_KEPT`] entries, forgetting the oldest.
#[derive(Debug)]
pub struct Kept<T> {
    map: HashMap<String, T>,
    order: std::collections::VecDeque<String>,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept { map: HashMap::new(), order: std::collections::VecDeque::new() }
    }
}

impl<T> Kept<T> {
    pub fn insert(&mut self, id: String, value: T) {
        if self.map.insert(id.clone(), value).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > OBJECTS_KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.map.remove(&oldest);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.map.get_mut(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.map.values()
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keep only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|_, v| keep(v));
        let map = &self.map;
        self.order.retain(|id| map.contains_key(id));
    }
}

/// A Stripe-format error.
#[derive(Debug, Clone)]
pub struct StripeError {
    pub status: u16,
    pub type_: &'static str,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    pub payment_intent: Option<Value>,
    pub charge: Option<String>,
}

impl StripeError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        StripeError {
            status: 400,
            type_: "invalid_request_error",
            code: Some("parameter_invalid".into()),
            decline_code: None,
            message: message.into(),
            param: param.map(str::to_owned),
            payment_intent: None,
            charge: None,
        }
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }

    pub fn missing(resource: &str, id: &str) -> Self {
        StripeError {
            status: 404,
            code: Some("resource_missing".into()),
            ..StripeError::invalid(format!("No such {resource}: '{id}'"), Some("id"))
        }
    }

    pub fn state(message: impl Into<String>) -> Self {
        StripeError { code: Some("payment_intent_unexpected_state".into()), ..StripeError::invalid(message, None) }
    }

    pub fn body(&self) -> Value {
        let mut e = json!({
            "type": self.type_,
            "message": self.message,
        });
        if let Some(c) = &self.code {
            e["code"] = json!(c);
        }
        if let Some(d) = &self.decline_code {
            e["decline_code"] = json!(d);
        }
        if let Some(p) = &self.param {
            e["param"] = json!(p);
        }
        if let Some(pi) = &self.payment_intent {
            e["payment_intent"] = pi.clone();
        }
        if let Some(ch) = &self.charge {
            e["charge"] = json!(ch);
        }
        json!({ "error": e })
    }
}

/// Faults to inject into the next requests / deliveries.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer the next N API requests with a 500 without doing anything.
    pub fail_next: u32,
    /// Process the next N requests, then hold the response for `delay` (the client times out).
    pub delay_next: u32,
    pub delay: Duration,
    /// Do not deliver the next N webhook events (they stay listable).
    pub drop_webhooks: u32,
}

#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// `None` while the first request is still being processed; then the status and the JSON body as
    /// sent.
    pub response: Option<(u16, bytes::Bytes)>,
    pub created: i64,
}

/// Fee model: percentage in basis points plus a fixed amount in minor units.
#[derive(Debug, Clone, Copy)]
pub struct FeeModel {
    pub percent_bp: i64,
    pub fixed: i64,
}

impl Default for FeeModel {
    fn default() -> Self {
        FeeModel { percent_bp: 290, fixed: 30 }
    }
}

impl FeeModel {
    pub fn fee(&self, amount: i64) -> i64 {
        (amount * self.percent_bp + 5_000) / 10_000 + self.fixed
    }
}

pub struct Engine {
    templates: BTreeMap<String, Value>,
    pub base_url: String,
    pub fees: FeeModel,
    pub payment_methods: Kept<PaymentMethod>,
    pub intents: Kept<PaymentIntent>,
    pub charges: Kept<Charge>,
    pub refunds: Kept<Refund>,
    pub balance: Vec<BalanceTransaction>,
    pub payouts: Vec<Payout>,
    pub events: Vec<Event>,
    pub idempotency: Kept<IdempotencyRecord>,
    /// When expired idempotency records were last dropped (unix seconds).
    pub idempotency_pruned: i64,
    pub faults: Faults,
    /// Events created by the current request, to hand to the webhook deliverer.
    pub outbox: Vec<Event>,
    pub current_idempotency_key: Option<String>,
}

pub type Form = BTreeMap<String, String>;

fn form_i64(form: &Form, key: &str) -> Result<Option<i64>, StripeError> {
    match form.get(key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| StripeError::invalid(format!("Invalid integer: {key}"), Some(key))),
    }
}

fn form_bool(form: &Form, key: &str) -> bool {
    form.get(key).is_some_and(|v| v == "true")
}

fn metadata_of(form: &Form) -> BTreeMap<String, String> {
    form.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[").and_then(|r| r.strip_suffix(']')).map(|k| (k.to_owned(), v.clone()))
        })
        .collect()
}

/// The `expand[]` values of a request.
pub fn expansions(form: &Form) -> Vec<String> {
    form.iter().filter(|(k, _)| k.starts_with("expand[")).map(|(_, v)| v.clone()).collect()
}

impl Engine {
    pub fn new(base_url: String, fees: FeeModel) -> Engine {
        let templates = serde_json::from_str::<BTreeMap<String, Value>>(OBJECTS).unwrap_or_default();
        Engine {
            templates,
            base_url,
            fees,
            payment_methods: Kept::default(),
            intents: Kept::default(),
            charges: Kept::default(),
            refunds: Kept::default(),
            balance: Vec::new(),
            payouts: Vec::new(),
            events: Vec::new(),
            idempotency: Kept::default(),
            idempotency_pruned: 0,
            faults: Faults::default(),
            outbox: Vec::new(),
            current_idempotency_key: None,
        }
    }

    fn template(&self, name: &str) -> Value {
        self.templates.get(name).cloned().unwrap_or_else(|| json!({}))
    }

    fn emit(&mut self, type_: &str, object: Value) {
        let event = Event {
            id: new_id("evt"),
            type_: type_.to_owned(),
            created: now(),
            object: std::sync::Arc::new(object),
            idempotency_key: self.current_idempotency_key.clone(),
        };
        if self.events.len() >= 2 * EVENTS_KEPT {
            self.events.drain(..self.events.len() - EVENTS_KEPT);
        }
        self.events.push(event.clone());
        self.outbox.push(event);
    }

    // ---------------------------------------------------------------- payment methods

    /// Tokenize a card as Stripe.js does. Keeps brand, last 4, expiry, fingerprint, behaviour.
    pub fn create_payment_method(&mut self, form: &Form) -> Result<Value, StripeError> {
        if form.get("type").map(String::as_str) != Some("card") {
            return Err(StripeError::invalid("Only type=card is supported by the sandbox", Some("type")));
        }
        let number: String = form
            .get("card[number]")
            .ok_or_else(|| StripeError::invalid("Missing required param: card[number].", Some("card[number]")))?
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let digits: Vec<u8> = number.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
        if digits.len() != number.len() || !card::is_card_number(&digits) {
            return Err(StripeError {
                status: 402,
                type_: "card_error",
                code: Some("incorrect_number".into()),
                ..StripeError::invalid("Your card number is incorrect.", Some("card[number]"))
            });
        }
        let brand = card::brand_of(&digits).map_or("unknown", brand_name);
        let exp_month = form_i64(form, "card[exp_month]")?.unwrap_or(0);
        let exp_year = form_i64(form, "card[exp_year]")?.unwrap_or(0);
        if !(1..=12).contains(&exp_month) {
            return Err(StripeError {
                status: 402,
                type_: "card_error",
                ..StripeError::invalid("Your card's expiration month is invalid.", Some("card[exp_month]"))
                    .with_code("invalid_expiry_month")
            });
        }
        let year = if exp_year < 100 { 2000 + exp_year } else { exp_year };
        let this_year = 1970 + now() / 31_556_952;
        if year < this_year {
            return Err(StripeError {
                status: 402,
                type_: "card_error",
                ..StripeError::invalid("Your card's expiration year is invalid.", Some("card[exp_year]"))
                    .with_code("invalid_expiry_year")
            });
        }
        let fingerprint = hex::encode(&Sha256::digest(number.as_bytes())[..8]);
        let pm = PaymentMethod {
            id: new_id("pm"),
            brand: brand.to_owned(),
            last4: number[number.len() - 4..].to_owned(),
            exp_month,
            exp_year: year,
            fingerprint,
            behaviour: behaviour_of_number(&number),
            created: now(),
        };
        let rendered = self.render_payment_method(&pm);
        self.payment_methods.insert(pm.id.clone(), pm);
        Ok(rendered)
    }

    /// Resolve a payment method id; Stripe's test shortcuts make a fresh payment method each time.
    fn resolve_payment_method(&mut self, id: &str) -> Result<String, StripeError> {
        if self.payment_methods.contains_key(id) {
            return Ok(id.to_owned());
        }
        if let Some((_, brand, last4, behaviour)) = SHORTCUTS.iter().find(|(s, ..)| *s == id) {
            let pm = PaymentMethod {
                id: new_id("pm"),
                brand: (*brand).to_owned(),
                last4: (*last4).to_owned(),
                exp_month: 12,
                exp_year: 1970 + now() / 31_556_952 + 3,
                fingerprint: hex::encode(&Sha256::digest(id.as_bytes())[..8]),
                behaviour: *behaviour,
                created: now(),
            };
            let pm_id = pm.id.clone();
            self.payment_methods.insert(pm_id.clone(), pm);
            return Ok(pm_id);
        }
        Err(StripeError::missing("PaymentMethod", id).with_code("resource_missing"))
    }

    pub fn render_payment_method(&self, pm: &PaymentMethod) -> Value {
        let mut v = self.template("payment_method");
        v["id"] = json!(pm.id);
        v["created"] = json!(pm.created);
        v["card"]["brand"] = json!(pm.brand);
        v["card"]["display_brand"] = json!(pm.brand);
        v["card"]["last4"] = json!(pm.last4);
        v["card"]["exp_month"] = json!(pm.exp_month);
        v["card"]["exp_year"] = json!(pm.exp_year);
        v["card"]["fingerprint"] = json!(pm.fingerprint);
        v["card"]["networks"] = json!({"available": [pm.brand], "preferred": null});
        v
    }

    pub fn payment_method(&self, id: &str) -> Result<Value, StripeError> {
        self.payment_methods
            .get(id)
            .map(|pm| self.render_payment_method(pm))
            .ok_or_else(|| StripeError::missing("PaymentMethod", id))
    }

    // ---------------------------------------------------------------- payment intents

    pub fn render_intent(&self, pi: &PaymentIntent, expand: &[String]) -> Value {
        let mut v = self.template("payment_intent");
        v["id"] = json!(pi.id);
        v["amount"] = json!(pi.amount);
        v["amount_capturable"] = json!(pi.amount_capturable);
        v["amount_received"] = json!(pi.amount_received);
        v["currency"] = json!(pi.currency);
        v["status"] = json!(pi.status);
        v["capture_method"] = json!(pi.capture_method);
        v["client_secret"] = json!(pi.client_secret);
        v["created"] = json!(pi.created);
        v["canceled_at"] = json!(pi.canceled_at);
        v["cancellation_reason"] = json!(pi.cancellation_reason);
        v["last_payment_error"] = pi.last_payment_error.clone().unwrap_or(Value::Null);
        v["next_action"] = pi.next_action.clone().unwrap_or(Value::Null);
        v["metadata"] = json!(pi.metadata);
        v["description"] = json!(pi.description);
        v["payment_method"] = match &pi.payment_method {
            Some(pm) if expand.iter().any(|e| e == "payment_method") => {
                self.payment_methods.get(pm).map_or(json!(pm), |p| self.render_payment_method(p))
            }
            Some(pm) => json!(pm),
            None => Value::Null,
        };
        v["latest_charge"] = match &pi.latest_charge {
            Some(ch) if expand.iter().any(|e| e == "latest_charge") => {
                self.charges.get(ch).map_or(json!(ch), |c| self.render_charge(c))
            }
            Some(ch) => json!(ch),
            None => Value::Null,
        };
        v
    }

    fn intent_mut(&mut self, id: &str) -> Result<&mut PaymentIntent, StripeError> {
        self.intents.get_mut(id).ok_or_else(|| StripeError::missing("payment_intent", id))
    }

    pub fn intent(&self, id: &str, expand: &[String]) -> Result<Value, StripeError> {
        self.intents
            .get(id)
            .map(|pi| self.render_intent(pi, expand))
            .ok_or_else(|| StripeError::missing("payment_intent", id))
    }

    pub fn create_intent(&mut self, form: &Form) -> Result<Value, StripeError> {
        let amount = form_i64(form, "amount")?
            .ok_or_else(|| StripeError::invalid("Missing required param: amount.", Some("amount")))?;
        if amount < 50 {
            return Err(StripeError::invalid("Amount must be at least 50 minor units", Some("amount"))
                .with_code("amount_too_small"));
        }
        if amount > 99_999_999 {
            return Err(StripeError::invalid("Amount must be no more than 999,999.99", Some("amount"))
                .with_code("amount_too_large"));
        }
        let currency = form
            .get("currency")
            .filter(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_lowercase()))
            .ok_or_else(|| StripeError::invalid("Missing or invalid param: currency.", Some("currency")))?
            .clone();
        let capture_method = match form.get("capture_method").map(String::as_str) {
            None | Some("automatic") | Some("automatic_async") => "automatic",
            Some("manual") => "manual",
            Some(_) => {
                return Err(StripeError::invalid("Invalid capture_method", Some("capture_method")));
            }
        };
        let payment_method = match form.get("payment_method") {
            Some(pm) => Some(self.resolve_payment_method(pm)?),
            None => None,
        };
        let id = new_id("pi");
        let pi = PaymentIntent {
            client_secret: format!("{id}_secret_{}", random_base62()),
            id: id.clone(),
            amount,
            currency,
            status: if payment_method.is_some() { "requires_confirmation" } else { "requires_payment_method" }.into(),
            capture_method: capture_method.into(),
            payment_method,
            amount_capturable: 0,
            amount_received: 0,
            latest_charge: None,
            created: now(),
            canceled_at: None,
            cancellation_reason: None,
            last_payment_error: None,
            next_action: None,
            metadata: metadata_of(form),
            description: form.get("description").cloned(),
        };
        let rendered = self.render_intent(&pi, &[]);
        self.intents.insert(id.clone(), pi);
        self.emit("payment_intent.created", rendered);
        if form_bool(form, "confirm") {
            return self.confirm_intent(&id, form);
        }
        self.intent(&id, &expansions(form))
    }

    pub fn confirm_intent(&mut self, id: &str, form: &Form) -> Result<Value, StripeError> {
        let new_pm = match form.get("payment_method") {
            Some(pm) => Some(self.resolve_payment_method(pm)?),
            None => None,
        };
        let expand = expansions(form);
        let pi = self.intent_mut(id)?;
        if !matches!(pi.status.as_str(), "requires_confirmation" | "requires_payment_method" | "requires_action") {
            let msg = format!("This PaymentIntent's status is {}; it cannot be confirmed.", pi.status);
            return Err(StripeError::state(msg));
        }
        if let Some(pm) = new_pm {
            pi.payment_method = Some(pm);
        }
        let pm_id = pi.payment_method.clone().ok_or_else(|| {
            StripeError::invalid("You must provide a payment method to confirm.", Some("payment_method"))
        })?;
        let behaviour = self.payment_methods.get(&pm_id).map_or(Behaviour::Succeed, |p| p.behaviour);
        match behaviour {
            Behaviour::Succeed | Behaviour::Dispute => self.authorize(id, &pm_id, behaviour == Behaviour::Dispute)?,
            Behaviour::Decline { code, decline_code } => {
                return Err(self.decline(id, &pm_id, code, decline_code, &expand));
            }
            Behaviour::RequireAuthentication => {
                let base = self.base_url.clone();
                let pi = self.intent_mut(id)?;
                pi.status = "requires_action".into();
                pi.next_action = Some(json!({
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": format!("{base}/v1/sandbox/3ds/{id}?client_secret={}", pi.client_secret),
                        "return_url": form.get("return_url"),
                    }
                }));
                let rendered = self.intent(id, &[])?;
                self.emit("payment_intent.requires_action", rendered);
            }
        }
        self.intent(id, &expand)
    }

    /// Successful authorization: a charge, captured at once for automatic capture.
    fn authorize(&mut self, id: &str, pm_id: &str, dispute_later: bool) -> Result<(), StripeError> {
        let (amount, currency, capture_method) = {
            let pi = self.intent_mut(id)?;
            (pi.amount, pi.currency.clone(), pi.capture_method.clone())
        };
        let charge = Charge {
            id: new_id("ch"),
            amount,
            amount_captured: 0,
            amount_refunded: 0,
            currency: currency.clone(),
            payment_intent: id.to_owned(),
            payment_method: pm_id.to_owned(),
            status: "succeeded".into(),
            captured: false,
            balance_transaction: None,
            failure: None,
            disputed: false,
            created: now(),
        };
        let charge_id = charge.id.clone();
        self.charges.insert(charge_id.clone(), charge);
        {
            let pi = self.intent_mut(id)?;
            pi.latest_charge = Some(charge_id.clone());
            pi.next_action = None;
            pi.last_payment_error = None;
        }
        if capture_method == "manual" {
            let pi = self.intent_mut(id)?;
            pi.status = "requires_capture".into();
            pi.amount_capturable = amount;
            let rendered = self.intent(id, &[])?;
            self.emit("payment_intent.amount_capturable_updated", rendered);
        } else {
            self.capture_charge(id, &charge_id, amount)?;
        }
        if dispute_later {
            self.dispute(&charge_id)?;
        }
        Ok(())
    }

    fn capture_charge(&mut self, id: &str, charge_id: &str, amount: i64) -> Result<(), StripeError> {
        let (currency, manual) = {
            let pi = self.intent_mut(id)?;
            (pi.currency.clone(), pi.capture_method == "manual")
        };
        let txn = self.add_balance(amount, self.fees.fee(amount), &currency, "charge", charge_id);
        if let Some(ch) = self.charges.get_mut(charge_id) {
            ch.captured = true;
            ch.amount_captured = amount;
            ch.balance_transaction = Some(txn);
        }
        let pi = self.intent_mut(id)?;
        pi.status = "succeeded".into();
        pi.amount_capturable = 0;
        pi.amount_received = amount;
        let charge = self.charges.get(charge_id).map(|c| self.render_charge(c)).unwrap_or(Value::Null);
        if manual {
            self.emit("charge.captured", charge);
        } else {
            self.emit("charge.succeeded", charge);
        }
        let rendered = self.intent(id, &[])?;
        self.emit("payment_intent.succeeded", rendered);
        Ok(())
    }

    fn decline(&mut self, id: &str, pm_id: &str, code: &str, decline_code: &str, expand: &[String]) -> StripeError {
        let message = match decline_code {
            "insufficient_funds" => "Your card has insufficient funds.",
            "expired_card" => "Your card has expired.",
            "incorrect_cvc" => "Your card's security code is incorrect.",
            "authentication_failed" => "We are unable to authenticate your payment method.",
            _ => "Your card was declined.",
        };
        let (amount, currency) = self.intents.get(id).map_or((0, "usd".into()), |p| (p.amount, p.currency.clone()));
        let charge = Charge {
            id: new_id("ch"),
            amount,
            amount_captured: 0,
            amount_refunded: 0,
            currency,
            payment_intent: id.to_owned(),
            payment_method: pm_id.to_owned(),
            status: "failed".into(),
            captured: false,
            balance_transaction: None,
            failure: Some((code.to_owned(), message.to_owned())),
            disputed: false,
            created: now(),
        };
        let charge_id = charge.id.clone();
        self.charges.insert(charge_id.clone(), charge);
        let pm = self.payment_method(pm_id).unwrap_or(Value::Null);
        let error = json!({
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "charge": charge_id,
            "payment_method": pm,
        });
        if let Some(pi) = self.intents.get_mut(id) {
            pi.status = "requires_payment_method".into();
            pi.latest_charge = Some(charge_id.clone());
            pi.next_action = None;
            pi.last_payment_error = Some(error);
        }
        let rendered = self.intent(id, expand).unwrap_or(Value::Null);
        let failed_charge = self.charges.get(&charge_id).map(|c| self.render_charge(c)).unwrap_or(Value::Null);
        self.emit("charge.failed", failed_charge);
        self.emit("payment_intent.payment_failed", self.intent(id, &[]).unwrap_or(Value::Null));
        StripeError {
            status: 402,
            type_: "card_error",
            code: Some(code.to_owned()),
            decline_code: Some(decline_code.to_owned()),
            message: message.to_owned(),
            param: None,
            payment_intent: Some(rendered),
            charge: Some(charge_id),
        }
    }

    /// Complete or fail the 3-D Secure challenge of a PaymentIntent.
    pub fn authenticate(&mut self, id: &str, succeed: bool) -> Result<Value, StripeError> {
        let pi = self.intent_mut(id)?;
        if pi.status != "requires_action" {
            return Err(StripeError::state("This PaymentIntent does not require authentication."));
        }
        let pm_id = pi.payment_method.clone().unwrap_or_default();
        if succeed {
            self.authorize(id, &pm_id, false)?;
        } else {
            let _ = self.decline(id, &pm_id, "payment_intent_authentication_failure", "authentication_failed", &[]);
            if let Some(pi) = self.intents.get_mut(id)
                && let Some(e) = pi.last_payment_error.as_mut()
            {
                e["type"] = json!("invalid_request_error");
                e["code"] = json!("payment_intent_authentication_failure");
                e["message"] = json!("The provided PaymentMethod has failed authentication.");
            }
        }
        self.intent(id, &[])
    }

    pub fn capture_intent(&mut self, id: &str, form: &Form) -> Result<Value, StripeError> {
        let pi = self.intent_mut(id)?;
        if pi.status != "requires_capture" {
            let msg = format!("This PaymentIntent could not be captured because it has a status of {}.", pi.status);
            return Err(StripeError::state(msg));
        }
        let capturable = pi.amount_capturable;
        let charge_id = pi.latest_charge.clone().unwrap_or_default();
        let amount = form_i64(form, "amount_to_capture")?.unwrap_or(capturable);
        if amount <= 0 || amount > capturable {
            return Err(StripeError::invalid(
                "amount_to_capture must be positive and at most the capturable amount",
                Some("amount_to_capture"),
            ));
        }
        self.capture_charge(id, &charge_id, amount)?;
        self.intent(id, &expansions(form))
    }

    pub fn cancel_intent(&mut self, id: &str, form: &Form) -> Result<Value, StripeError> {
        let reason = form.get("cancellation_reason").cloned();
        let pi = self.intent_mut(id)?;
        if matches!(pi.status.as_str(), "succeeded" | "canceled" | "processing") {
            let msg = format!("You cannot cancel this PaymentIntent because it has a status of {}.", pi.status);
            return Err(StripeError::state(msg));
        }
        pi.status = "canceled".into();
        pi.canceled_at = Some(now());
        pi.cancellation_reason = reason.or(Some("requested_by_customer".into()));
        pi.amount_capturable = 0;
        pi.next_action = None;
        let rendered = self.intent(id, &[])?;
        self.emit("payment_intent.canceled", rendered);
        self.intent(id, &expansions(form))
    }

    // ---------------------------------------------------------------- charges, refunds, disputes

    pub fn render_charge(&self, c: &Charge) -> Value {
        let mut v = self.template("charge");
        v["id"] = json!(c.id);
        v["amount"] = json!(c.amount);
        v["amount_captured"] = json!(c.amount_captured);
        v["amount_refunded"] = json!(c.amount_refunded);
        v["currency"] = json!(c.currency);
        v["captured"] = json!(c.captured);
        v["created"] = json!(c.created);
        v["disputed"] = json!(c.disputed);
        v["paid"] = json!(c.status == "succeeded");
        v["status"] = json!(c.status);
        v["refunded"] = json!(c.amount_refunded > 0 && c.amount_refunded >= c.amount_captured);
        v["payment_intent"] = json!(c.payment_intent);
        v["payment_method"] = json!(c.payment_method);
        v["balance_transaction"] = json!(c.balance_transaction);
        v["failure_code"] = json!(c.failure.as_ref().map(|f| &f.0));
        v["failure_message"] = json!(c.failure.as_ref().map(|f| &f.1));
        v["description"] = Value::Null;
        v["receipt_url"] = Value::Null;
        v["source"] = Value::Null;
        v["shipping"] = Value::Null;
        v["transfer_data"] = Value::Null;
        v["refunds"] =
            json!({"object": "list", "data": [], "has_more": false, "url": format!("/v1/charges/{}/refunds", c.id)});
        if let Some(pm) = self.payment_methods.get(&c.payment_method) {
            let card = &mut v["payment_method_details"]["card"];
            card["brand"] = json!(pm.brand);
            card["last4"] = json!(pm.last4);
            card["exp_month"] = json!(pm.exp_month);
            card["exp_year"] = json!(pm.exp_year);
            card["fingerprint"] = json!(pm.fingerprint);
            card["network"] = json!(pm.brand);
            card["wallet"] = Value::Null;
        }
        if c.failure.is_some() {
            v["outcome"]["type"] = json!("issuer_declined");
            v["outcome"]["network_status"] = json!("declined_by_network");
            v["outcome"]["seller_message"] = json!("The bank did not return any further details with this decline.");
        }
        v
    }

    pub fn charge(&self, id: &str) -> Result<Value, StripeError> {
        self.charges.get(id).map(|c| self.render_charge(c)).ok_or_else(|| StripeError::missing("charge", id))
    }

    pub fn render_refund(&self, r: &Refund) -> Value {
        let mut v = self.template("refund");
        v["id"] = json!(r.id);
        v["amount"] = json!(r.amount);
        v["currency"] = json!(r.currency);
        v["charge"] = json!(r.charge);
        v["payment_intent"] = json!(r.payment_intent);
        v["status"] = json!(r.status);
        v["reason"] = json!(r.reason);
        v["balance_transaction"] = json!(r.balance_transaction);
        v["metadata"] = json!(r.metadata);
        v["created"] = json!(r.created);
        v
    }

    pub fn create_refund(&mut self, form: &Form) -> Result<Value, StripeError> {
        let charge_id = match (form.get("payment_intent"), form.get("charge")) {
            (Some(pi), _) => {
                let pi = self.intents.get(pi).ok_or_else(|| StripeError::missing("payment_intent", pi))?;
                if pi.status != "succeeded" {
                    return Err(StripeError::state("This PaymentIntent does not have a successful charge to refund."));
                }
                pi.latest_charge.clone().unwrap_or_default()
            }
            (None, Some(ch)) => ch.clone(),
            (None, None) => {
                return Err(StripeError::invalid(
                    "One of charge or payment_intent is required.",
                    Some("payment_intent"),
                ));
            }
        };
        let charge = self.charges.get(&charge_id).cloned().ok_or_else(|| StripeError::missing("charge", &charge_id))?;
        let refundable = charge.amount_captured - charge.amount_refunded;
        let amount = form_i64(form, "amount")?.unwrap_or(refundable);
        if refundable <= 0 {
            return Err(StripeError::invalid(format!("Charge {charge_id} has already been refunded."), None)
                .with_code("charge_already_refunded"));
        }
        if amount <= 0 || amount > refundable {
            return Err(StripeError::invalid(
                format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})"),
                Some("amount"),
            )
            .with_code("amount_too_large"));
        }
        let refund_id = new_id("re");
        let txn = self.add_balance(-amount, 0, &charge.currency, "refund", &refund_id);
        let refund = Refund {
            id: refund_id.clone(),
            amount,
            currency: charge.currency.clone(),
            charge: charge_id.clone(),
            payment_intent: charge.payment_intent.clone(),
            status: "succeeded".into(),
            reason: form.get("reason").cloned(),
            balance_transaction: Some(txn),
            metadata: metadata_of(form),
            created: now(),
        };
        if let Some(ch) = self.charges.get_mut(&charge_id) {
            ch.amount_refunded += amount;
        }
        let rendered = self.render_refund(&refund);
        self.refunds.insert(refund_id, refund);
        self.emit("refund.created", rendered.clone());
        let charge = self.charge(&charge_id)?;
        self.emit("charge.refunded", charge);
        self.emit("refund.updated", rendered.clone());
        Ok(rendered)
    }

    pub fn refund(&self, id: &str) -> Result<Value, StripeError> {
        self.refunds.get(id).map(|r| self.render_refund(r)).ok_or_else(|| StripeError::missing("refund", id))
    }

    /// Open a dispute on a charge (test helper; also what the dispute test card does).
    pub fn dispute(&mut self, charge_id: &str) -> Result<Value, StripeError> {
        let charge = self.charges.get_mut(charge_id).ok_or_else(|| StripeError::missing("charge", charge_id))?;
        charge.disputed = true;
        let (amount, currency, pi) = (charge.amount_captured, charge.currency.clone(), charge.payment_intent.clone());
        let mut v = self.template("dispute");
        v["id"] = json!(new_id("dp"));
        v["amount"] = json!(amount);
        v["currency"] = json!(currency);
        v["charge"] = json!(charge_id);
        v["payment_intent"] = json!(pi);
        v["created"] = json!(now());
        v["status"] = json!("needs_response");
        v["reason"] = json!("fraudulent");
        v["balance_transactions"] = json!([]);
        self.emit("charge.dispute.created", v.clone());
        Ok(v)
    }

    // ---------------------------------------------------------------- balance and payouts

    fn add_balance(&mut self, amount: i64, fee: i64, currency: &str, kind: &str, source: &str) -> String {
        let id = new_id("txn");
        self.balance.push(BalanceTransaction {
            id: id.clone(),
            amount,
            fee,
            net: amount - fee,
            currency: currency.to_owned(),
            kind: kind.to_owned(),
            source: source.to_owned(),
            created: now(),
            payout: None,
        });
        if self.balance.len() > OBJECTS_KEPT {
            // The oldest go first (a payout pays out what is still kept).
            let excess = self.balance.len() - OBJECTS_KEPT;
            self.balance.drain(..excess);
        }
        id
    }

    pub fn render_balance_transaction(&self, t: &BalanceTransaction) -> Value {
        let mut v = self.template("balance_transaction");
        v["id"] = json!(t.id);
        v["amount"] = json!(t.amount);
        v["fee"] = json!(t.fee);
        v["net"] = json!(t.net);
        v["currency"] = json!(t.currency);
        v["type"] = json!(t.kind);
        v["reporting_category"] = json!(t.kind);
        v["source"] = json!(t.source);
        v["created"] = json!(t.created);
        v["available_on"] = json!(t.created);
        v["status"] = json!("available");
        v["description"] = Value::Null;
        v["fee_details"] = if t.fee > 0 {
            json!([{"amount": t.fee, "application": null, "currency": t.currency, "description": "Stripe processing fees", "type": "stripe_fee"}])
        } else {
            json!([])
        };
        v
    }

    /// Pay out the whole available balance (test helper).
    pub fn create_payout(&mut self) -> Result<Value, StripeError> {
        let pending: Vec<usize> = (0..self.balance.len())
            .filter(|&i| self.balance[i].payout.is_none() && self.balance[i].kind != "payout")
            .collect();
        let total: i64 = pending.iter().map(|&i| self.balance[i].net).sum();
        if total <= 0 {
            return Err(StripeError::invalid("There is no available balance to pay out.", None)
                .with_code("balance_insufficient"));
        }
        let currency = self.balance[pending[0]].currency.clone();
        let payout_id = new_id("po");
        let txn = self.add_balance(-total, 0, &currency, "payout", &payout_id);
        for i in pending {
            self.balance[i].payout = Some(payout_id.clone());
        }
        if let Some(t) = self.balance.iter_mut().find(|t| t.id == txn) {
            t.payout = Some(payout_id.clone());
        }
        let payout = Payout { id: payout_id, amount: total, currency, balance_transaction: txn, created: now() };
        let rendered = self.render_payout(&payout);
        self.payouts.push(payout);
        self.emit("payout.created", rendered.clone());
        self.emit("payout.paid", rendered.clone());
        Ok(rendered)
    }

    pub fn render_payout(&self, p: &Payout) -> Value {
        let mut v = self.template("payout");
        v["id"] = json!(p.id);
        v["amount"] = json!(p.amount);
        v["currency"] = json!(p.currency);
        v["balance_transaction"] = json!(p.balance_transaction);
        v["created"] = json!(p.created);
        v["arrival_date"] = json!(p.created);
        v["status"] = json!("paid");
        v["automatic"] = json!(false);
        v["metadata"] = json!({});
        v
    }

    pub fn render_event(&self, e: &Event) -> Value {
        serde_json::to_value(RenderedEvent::of(e)).unwrap_or(Value::Null)
    }

    /// The event as a webhook delivers it, serialized straight from the shared object.
    pub fn event_payload(e: &Event) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&RenderedEvent::of(e))
    }
}

/// Stripe's list envelope with `limit` / `starting_after` cursor pagination over newest-first items.
pub fn list<T>(
    items: &[T],
    id_of: impl Fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
    form: &Form,
    url: &str,
) -> Result<Value, StripeError> {
    let limit = form_i64(form, "limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(StripeError::invalid("limit must be between 1 and 100", Some("limit")));
    }
    let newest_first: Vec<&T> = items.iter().rev().collect();
    let start = match form.get("starting_after") {
        Some(after) => newest_first
            .iter()
            .position(|t| id_of(t) == after)
            .map(|p| p + 1)
            .ok_or_else(|| StripeError::missing("object", after))?,
        None => 0,
    };
    let page: Vec<Value> = newest_first.iter().skip(start).take(limit as usize).map(|t| render(t)).collect();
    let has_more = newest_first.len() > start + page.len();
    Ok(json!({ "object": "list", "data": page, "has_more": has_more, "url": url }))
}

/// Stripe's event envelope, borrowing the event's object.
#[derive(serde::Serialize)]
struct RenderedEvent<'a> {
    id: &'a str,
    object: &'static str,
    api_version: &'static str,
    created: i64,
    data: EventData<'a>,
    livemode: bool,
    pending_webhooks: u32,
    request: EventRequest<'a>,
    #[serde(rename = "type")]
    type_: &'a str,
}

#[derive(serde::Serialize)]
struct EventData<'a> {
    object: &'a Value,
}

#[derive(serde::Serialize)]
struct EventRequest<'a> {
    id: Option<&'a str>,
    idempotency_key: Option<&'a str>,
}

impl<'a> RenderedEvent<'a> {
    fn of(e: &'a Event) -> Self {
        RenderedEvent {
            id: &e.id,
            object: "event",
            api_version: "2025-03-31.basil",
            created: e.created,
            data: EventData { object: &e.object },
            livemode: false,
            pending_webhooks: 1,
            request: EventRequest { id: None, idempotency_key: e.idempotency_key.as_deref() },
            type_: &e.type_,
        }
    }
}

#[cfg(test)]
mod kept_tests {
    use super::*;

    #[test]
    fn the_newest_are_kept() {
        let mut k = Kept::default();
        for i in 0..OBJECTS_KEPT + 5 {
            k.insert(format!("pi_{i}"), i);
        }
        assert_eq!(k.len(), OBJECTS_KEPT);
        assert!(k.get("pi_4").is_none() && k.get("pi_5").is_some());
        k.insert("pi_5".into(), 0); // replacing keeps its place
        assert_eq!(k.len(), OBJECTS_KEPT);
        k.retain(|v| *v % 2 == 0);
        k.insert("x".into(), 0);
        assert!(k.get("x").is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_log_keeps_the_newest_events_only() {
        let mut engine = Engine::new("http://sandbox".into(), FeeModel::default());
        for i in 0..(2 * EVENTS_KEPT + 5) {
            engine.emit("payment_intent.created", json!({ "n": i }));
        }
        assert!((EVENTS_KEPT..=2 * EVENTS_KEPT).contains(&engine.events.len()), "{}", engine.events.len());
        assert_eq!(engine.events.last().map(|e| e.object["n"].clone()), Some(json!(2 * EVENTS_KEPT + 4)));
        // Every event still went to the webhook deliverer.
        assert_eq!(engine.outbox.len(), 2 * EVENTS_KEPT + 5);
        // A delivered event is Stripe's envelope around the object.
        let payload: Value = serde_json::from_slice(&Engine::event_payload(&engine.outbox[0]).unwrap()).unwrap();
        assert_eq!(payload["object"], "event");
        assert_eq!(payload["type"], "payment_intent.created");
        assert_eq!(payload["data"]["object"]["n"], 0);
        assert_eq!(payload, engine.render_event(&engine.outbox[0]));
    }
}
