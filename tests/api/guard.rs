//! The card guard as an attacker meets it: every brand's test numbers, in every spelling, in every
//! string a client can send on every route (path, query, headers, JSON values and keys, escaped or
//! not), are refused with 422 `card_data_not_accepted` — and afterwards none of them is in the
//! database files, the log or any response.

use crate::support::shop::german_details;
use crate::support::{TestApp, logs};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const TEST_CARDS: &[&str] = &[
    "4242424242424242",
    "4000056655665556",
    "4000002500003155",
    "4222222222222",
    "5555555555554444",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "3566002020360505",
    "36227206271667",
    "3056930009020004",
    "6200000000000005",
    "6759649826438453",
];

/// One way of writing `digits`, chosen by `rng`.
fn spelling(digits: &str, rng: &mut StdRng) -> String {
    let d: Vec<char> = digits.chars().collect();
    let seps = [" ", "-", ".", "/", "_", "   ", "\u{a0}", "\u{2013}", "\u{2014}", " - ", "\u{200b}", ", "];
    let shift =
        |zero: u32| -> String { d.iter().filter_map(|c| char::from_u32(zero + c.to_digit(10).unwrap_or(0))).collect() };
    match rng.random_range(0..8) {
        0 => digits.to_owned(),
        1 | 2 => {
            let size = [1, 2, 3, 4, 5, 7, 8][rng.random_range(0..7)];
            let sep = seps[rng.random_range(0..seps.len())];
            d.chunks(size).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(sep)
        }
        3 => shift([0xFF10, 0x0660, 0x06F0, 0x0966, 0x0E50, 0x1D7CE, 0x1D7EC][rng.random_range(0..7)]),
        4 => format!("Apt{digits}"),
        5 => format!("{digits}b"),
        6 => d.iter().map(|c| format!("{c}\u{a0}")).collect(),
        _ => {
            let sep = seps[rng.random_range(0..seps.len())];
            format!("{}{sep}{}", &digits[..8], &digits[8..])
        }
    }
}

/// Write a JSON document with some of its digits as `\u00XX` escapes (what serde decodes afterwards).
fn escape_digits(json_text: &str, rng: &mut StdRng) -> String {
    let (mut in_string, mut escaped) = (false, false);
    let mut out = String::new();
    for c in json_text.chars() {
        if in_string && !escaped && c.is_ascii_digit() && rng.random_bool(0.5) {
            out.push_str(&format!("\\u{:04x}", c as u32));
            continue;
        }
        match c {
            '"' if !escaped => in_string = !in_string,
            _ => {}
        }
        escaped = in_string && c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// Replace one string leaf of `v` (chosen by `pick`) with `s`; or, when `as_key`, add `s` as a key.
fn plant(v: &mut Value, pick: &mut usize, s: &str, as_key: bool) -> bool {
    match v {
        Value::String(x) if !as_key => {
            if *pick == 0 {
                *x = s.to_owned();
                return true;
            }
            *pick -= 1;
            false
        }
        Value::Object(map) => {
            if as_key {
                if *pick == 0 {
                    map.insert(s.to_owned(), json!(1));
                    return true;
                }
                *pick -= 1;
            }
            map.values_mut().any(|x| plant(x, pick, s, as_key))
        }
        Value::Array(items) => items.iter_mut().any(|x| plant(x, pick, s, as_key)),
        _ => false,
    }
}

fn leaves(v: &Value, as_key: bool) -> usize {
    match v {
        Value::String(_) => usize::from(!as_key),
        Value::Object(m) => usize::from(as_key) + m.values().map(|x| leaves(x, as_key)).sum::<usize>(),
        Value::Array(a) => a.iter().map(|x| leaves(x, as_key)).sum(),
        _ => 0,
    }
}

/// Where in a request the number is planted.
#[derive(Clone, Debug)]
enum Spot {
    /// The path's last segment.
    Path,
    /// The value of the operation's n-th query parameter.
    Query(usize),
    /// A query parameter of its own.
    NewQuery,
    /// The `Idempotency-Key` header.
    Header,
    /// The n-th string value of the JSON body.
    BodyValue(usize),
    /// A new key in the n-th object of the JSON body.
    BodyKey(usize),
}

struct Op {
    method: &'static str,
    /// The document's path template.
    template: &'static str,
    /// The concrete path, `{}` where a planted value may go instead of the real id.
    path: String,
    body: Option<Value>,
    query: Vec<(&'static str, String)>,
    /// The bearer credential.
    auth: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn card_numbers_in_any_spelling_on_any_route_are_refused_and_never_kept() {
    let app = TestApp::staff().await;
    let admin = app.admin_token().await;
    let now = app.state.clock.now();
    let partner_key = app
        .state
        .db
        .run(move |c| {
            leancart::partners::store::insert_partner(c, "ptn_guard", "Guard GmbH", now)?;
            let scopes = vec!["orders:read".to_owned(), "shipments:write".to_owned()];
            let issued = leancart::db::dialect::write_transaction(c, |c| {
                leancart::partners::keys::issue(c, "ptn_guard", &scopes, None, now)
            })?;
            Ok(issued.token.expose().to_owned())
        })
        .await
        .unwrap();
    let cart = app.ready_cart().await;
    let paid = app.ready_cart().await;
    let placed: Value = app.place(&paid, "guard-paid", "pm_card_visa").await.json().await.unwrap();
    let order = placed["order"]["id"].as_str().unwrap().to_owned();
    let order_token = placed["access_token"].as_str().unwrap().to_owned();
    let line = placed["order"]["lines"][0]["id"].as_str().unwrap().to_owned();
    let payment = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{order}"), None).await.1["payment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let variant = app.variant("TEE-BLK-M").await;
    let product = app.get_json("/v1/products?limit=1").await.1["data"][0]["id"].as_str().unwrap().to_owned();
    let mut details = german_details();
    details["shipping_address"]["line2"] = json!("Hinterhaus");
    details["shipping_address"]["region"] = json!("BE");
    details["phone"] = json!("+49 30 1234567");

    let c = |path: &str| format!("/v1/carts/{}{path}", cart.id);
    let ops = vec![
        Op {
            method: "GET",
            template: "/v1/products",
            path: "/v1/products".into(),
            body: None,
            query: vec![("cursor", "x".into()), ("limit", "5".into())],
            auth: String::new(),
        },
        Op {
            method: "GET",
            template: "/v1/products/{id}",
            path: format!("/v1/products/{product}"),
            body: None,
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/carts",
            path: "/v1/carts".into(),
            body: Some(json!({})),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "GET",
            template: "/v1/carts/{id}",
            path: c(""),
            body: None,
            query: vec![],
            auth: cart.token.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/carts/{id}/lines",
            path: c("/lines"),
            body: Some(json!({"variant_id": variant, "quantity": 1})),
            query: vec![],
            auth: cart.token.clone(),
        },
        Op {
            method: "PUT",
            template: "/v1/carts/{id}/lines/{variant_id}",
            path: c(&format!("/lines/{variant}")),
            body: Some(json!({"quantity": 1})),
            query: vec![],
            auth: cart.token.clone(),
        },
        Op {
            method: "DELETE",
            template: "/v1/carts/{id}/lines/{variant_id}",
            path: c(&format!("/lines/{variant}")),
            body: None,
            query: vec![],
            auth: cart.token.clone(),
        },
        Op {
            method: "PUT",
            template: "/v1/carts/{id}/details",
            path: c("/details"),
            body: Some(details.clone()),
            query: vec![],
            auth: cart.token.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/carts/{id}/shipping-methods",
            path: c("/shipping-methods"),
            body: None,
            query: vec![("country", "DE".into())],
            auth: cart.token.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/orders",
            path: "/v1/orders".into(),
            body: Some(json!({"cart_id": cart.id, "payment_method": "pm_card_visa"})),
            query: vec![],
            auth: cart.token.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/orders/{id}",
            path: format!("/v1/orders/{order}"),
            body: None,
            query: vec![],
            auth: order_token.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/admin/orders",
            path: "/v1/admin/orders".into(),
            body: None,
            query: vec![("email", "a@example.org".into()), ("number", "LC-1".into()), ("status", "paid".into())],
            auth: admin.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/admin/orders/{id}",
            path: format!("/v1/admin/orders/{order}"),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/orders/{id}/cancel",
            path: format!("/v1/admin/orders/{order}/cancel"),
            body: Some(json!({"reason": "x"})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/orders/{id}/refunds",
            path: format!("/v1/admin/orders/{order}/refunds"),
            body: Some(json!({"lines": [{"line_id": line, "quantity": 1}], "reason": "x"})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/orders/{id}/capture",
            path: format!("/v1/admin/orders/{order}/capture"),
            body: Some(json!({})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/admin/payments/{id}",
            path: format!("/v1/admin/payments/{payment}"),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/accounts",
            path: "/v1/accounts".into(),
            body: Some(
                json!({"email": "guard.account@example.org", "password": "a long enough passphrase", "name": "Guard"}),
            ),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/sessions",
            path: "/v1/sessions".into(),
            body: Some(json!({"email": "guard.account@example.org", "password": "a long enough passphrase"})),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/account/password",
            path: "/v1/account/password".into(),
            body: Some(
                json!({"current_password": "a long enough passphrase", "new_password": "another long passphrase"}),
            ),
            query: vec![],
            auth: "sa_0123".into(),
        },
        Op {
            method: "GET",
            template: "/v1/account/orders/{id}",
            path: "/v1/account/orders/ord_0123".into(),
            body: None,
            query: vec![],
            auth: "sa_0123".into(),
        },
        Op {
            method: "POST",
            template: "/v1/account/privacy-requests",
            path: "/v1/account/privacy-requests".into(),
            body: Some(json!({"kind": "access"})),
            query: vec![],
            auth: "sa_0123".into(),
        },
        Op {
            method: "POST",
            template: "/v1/account/claims/complete",
            path: "/v1/account/claims/complete".into(),
            body: Some(json!({"token": "pc_0123"})),
            query: vec![],
            auth: "sa_0123".into(),
        },
        Op {
            method: "POST",
            template: "/v1/carts/{id}/account",
            path: c("/account"),
            body: Some(json!({"password": "a long enough passphrase"})),
            query: vec![],
            auth: cart.token.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/partner/fulfillments",
            path: "/v1/partner/fulfillments".into(),
            body: None,
            query: vec![("status", "ready".into()), ("limit", "5".into()), ("cursor", "ful_0123".into())],
            auth: partner_key.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/partner/fulfillments/{reference}",
            path: "/v1/partner/fulfillments/FR-0123".into(),
            body: None,
            query: vec![],
            auth: partner_key.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/partner/exports/fulfillments.csv",
            path: "/v1/partner/exports/fulfillments.csv".into(),
            body: None,
            query: vec![("status", "ready".into()), ("created_from", "2026-01-01T00:00:00Z".into())],
            auth: partner_key.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/partner/exports/fulfillments.ndjson",
            path: "/v1/partner/exports/fulfillments.ndjson".into(),
            body: None,
            query: vec![("status", "ready".into()), ("created_to", "2030-01-01T00:00:00Z".into())],
            auth: partner_key.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/partner/fulfillments/ack",
            path: "/v1/partner/fulfillments/ack".into(),
            body: Some(json!({"references": ["FR-0123"]})),
            query: vec![],
            auth: partner_key.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/partner/fulfillments/{reference}/shipments",
            path: "/v1/partner/fulfillments/FR-0123/shipments".into(),
            body: Some(
                json!({"carrier": "DHL", "tracking_number": "JJD0001", "lines": [{"sku": "TEE-BLK-M", "quantity": 1}]}),
            ),
            query: vec![],
            auth: partner_key.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/partner/fulfillments/{reference}/delivered",
            path: "/v1/partner/fulfillments/FR-0123/delivered".into(),
            body: None,
            query: vec![],
            auth: partner_key.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/partner/fulfillments/{reference}/exception",
            path: "/v1/partner/fulfillments/FR-0123/exception".into(),
            body: Some(json!({"code": "damaged"})),
            query: vec![],
            auth: partner_key.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/partners",
            path: "/v1/admin/partners".into(),
            body: Some(json!({"name": "Nordlager", "carrier_needs_phone": true})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "PATCH",
            template: "/v1/admin/partners/{id}",
            path: "/v1/admin/partners/ptn_guard".into(),
            body: Some(json!({"carrier_needs_phone": false})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/partners/{id}/keys",
            path: "/v1/admin/partners/ptn_guard/keys".into(),
            body: Some(json!({"scopes": ["orders:read"], "expires_in_days": 30})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "DELETE",
            template: "/v1/admin/partner-keys/{id}",
            path: "/v1/admin/partner-keys/pk_0123".into(),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/admin/partners/{id}/keys/{key_id}/preview",
            path: "/v1/admin/partners/ptn_guard/keys/pk_0123/preview".into(),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/routing-rules",
            path: "/v1/admin/routing-rules".into(),
            body: Some(
                json!({"partner_id": "ptn_guard", "priority": 1, "country": "DE", "sku_prefix": "TEE-", "shipping_method": "standard"}),
            ),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "DELETE",
            template: "/v1/admin/routing-rules/{id}",
            path: "/v1/admin/routing-rules/rr_0123".into(),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/admin/fulfillments",
            path: "/v1/admin/fulfillments".into(),
            body: None,
            query: vec![
                ("status", "ready".into()),
                ("partner_id", "ptn_guard".into()),
                ("order_id", "ord_0123".into()),
            ],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/fulfillments/{id}/assign",
            path: "/v1/admin/fulfillments/ful_0123/assign".into(),
            body: Some(json!({"partner_id": "ptn_guard"})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/account/second-factor/confirm",
            path: "/v1/account/second-factor/confirm".into(),
            body: Some(json!({"code": "123456"})),
            query: vec![],
            auth: "sa_0123".into(),
        },
        Op {
            method: "DELETE",
            template: "/v1/account/second-factor",
            path: "/v1/account/second-factor".into(),
            body: Some(json!({"password": "a long enough passphrase"})),
            query: vec![],
            auth: "sa_0123".into(),
        },
        Op {
            method: "POST",
            template: "/v1/staff/setup",
            path: "/v1/staff/setup".into(),
            body: Some(json!({"token": "st_0123", "password": "a long enough passphrase"})),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/staff/sessions",
            path: "/v1/staff/sessions".into(),
            body: Some(
                json!({"email": "guard.staff@example.org", "password": "a long enough passphrase", "code": "123456"}),
            ),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/staff/second-factor/confirm",
            path: "/v1/staff/second-factor/confirm".into(),
            body: Some(json!({"code": "123456"})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/staff",
            path: "/v1/admin/staff".into(),
            body: Some(json!({"email": "guard.new.staff@example.org", "role": "support"})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "PATCH",
            template: "/v1/admin/staff/{id}",
            path: "/v1/admin/staff/stf_0123".into(),
            body: Some(json!({"role": "finance"})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "DELETE",
            template: "/v1/admin/staff/{id}",
            path: "/v1/admin/staff/stf_0123".into(),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/staff/{id}/setup-link",
            path: "/v1/admin/staff/stf_0123/setup-link".into(),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/staff/{id}/second-factor/reset",
            path: "/v1/admin/staff/stf_0123/second-factor/reset".into(),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "POST",
            template: "/v1/password-resets",
            path: "/v1/password-resets".into(),
            body: Some(json!({"email": "guard.account@example.org"})),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/password-resets/complete",
            path: "/v1/password-resets/complete".into(),
            body: Some(json!({"token": "pr_0123", "new_password": "another long passphrase"})),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/privacy/proofs",
            path: "/v1/privacy/proofs".into(),
            body: Some(json!({"email": "ada.lovelace@example.org"})),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/privacy/sessions",
            path: "/v1/privacy/sessions".into(),
            body: Some(json!({"token": "pp_0123"})),
            query: vec![],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/privacy/requests",
            path: "/v1/privacy/requests".into(),
            body: Some(json!({"kind": "access"})),
            query: vec![],
            auth: "ps_0123".into(),
        },
        Op {
            method: "GET",
            template: "/v1/privacy/requests/{id}",
            path: "/v1/privacy/requests/prq_0123".into(),
            body: None,
            query: vec![],
            auth: "ps_0123".into(),
        },
        Op {
            method: "GET",
            template: "/v1/privacy/exports/{id}",
            path: "/v1/privacy/exports/prq_0123".into(),
            body: None,
            query: vec![("expires", "1".into()), ("signature", "00".repeat(32)), ("format", "json".into())],
            auth: String::new(),
        },
        Op {
            method: "POST",
            template: "/v1/admin/privacy/requests",
            path: "/v1/admin/privacy/requests".into(),
            body: Some(json!({"kind": "access", "email": "ada.lovelace@example.org"})),
            query: vec![],
            auth: admin.clone(),
        },
        Op {
            method: "GET",
            template: "/v1/admin/privacy/requests/{id}",
            path: "/v1/admin/privacy/requests/prq_0123".into(),
            body: None,
            query: vec![],
            auth: admin.clone(),
        },
    ];

    // Every operation of the published document that takes input is in the table (the signed
    // webhook is exempt: its body is the processor's and its signature is checked instead).
    let doc = app.get_json("/openapi.json").await.1;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let takes_input = op.get("requestBody").is_some()
                || op.get("parameters").is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty()));
            if !takes_input || path == "/v1/webhooks/stripe" {
                continue;
            }
            let known = ops.iter().any(|o| o.method.eq_ignore_ascii_case(method) && o.template == path);
            assert!(known, "{method} {path} takes input and is not covered by the card-guard property test");
        }
    }

    let seed: u64 = std::env::var("LEANCART_GUARD_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x1ea2_ca27);
    let mut rng = StdRng::seed_from_u64(seed);
    // Every place of every operation once, then as many again drawn at random.
    let mut slots: Vec<(usize, Spot)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        slots.push((i, Spot::Path));
        slots.push((i, Spot::NewQuery));
        slots.push((i, Spot::Header));
        slots.extend((0..op.query.len()).map(|q| (i, Spot::Query(q))));
        if let Some(b) = &op.body {
            slots.extend((0..leaves(b, false)).map(|n| (i, Spot::BodyValue(n))));
            slots.extend((0..leaves(b, true)).map(|n| (i, Spot::BodyKey(n))));
        }
    }
    let every_place = slots.len();
    for _ in 0..every_place {
        let pick = slots[rng.random_range(0..every_place)].clone();
        slots.push(pick);
    }
    let cases = slots.len();
    eprintln!("card guard property test: {cases} cases over {every_place} places, seed {seed}");
    let mut planted: Vec<(String, String)> = Vec::new();
    let mut responses = String::new();
    for (case, (op_index, spot)) in slots.into_iter().enumerate() {
        let digits = TEST_CARDS[rng.random_range(0..TEST_CARDS.len())];
        let s = spelling(digits, &mut rng);
        let op = &ops[op_index];
        let mut path = op.path.clone();
        let mut query = op.query.clone();
        let mut headers: Vec<(&str, String)> = vec![];
        let mut body_text = op.body.as_ref().map(|b| b.to_string());
        let where_ = match spot {
            Spot::Path => {
                // The last segment (an id where the route has one), percent-encoded.
                let enc: String =
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
                let mut segs: Vec<String> = path.split('/').map(str::to_owned).collect();
                let n = segs.len() - 1;
                segs[n] = enc;
                path = segs.join("/");
                "path"
            }
            Spot::Query(q) => {
                query[q].1 = s.clone();
                "query value"
            }
            Spot::NewQuery => {
                query.push(("note", s.clone()));
                "query"
            }
            Spot::Header => {
                headers.push(("idempotency-key", s.replace(|c: char| !c.is_ascii_graphic(), "")));
                "idempotency-key"
            }
            Spot::BodyValue(n) | Spot::BodyKey(n) => {
                let as_key = matches!(spot, Spot::BodyKey(_));
                let mut b = op.body.clone().unwrap_or_default();
                let mut pick = n;
                plant(&mut b, &mut pick, &s, as_key);
                let text = b.to_string();
                body_text = Some(if rng.random_bool(0.5) { escape_digits(&text, &mut rng) } else { text });
                if as_key { "body key" } else { "body value" }
            }
        };
        if where_ == "idempotency-key" && !headers[0].1.chars().any(|c| c.is_ascii_digit()) {
            continue; // the spelling had no ASCII form (a header carries visible ASCII only)
        }
        let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
        let mut url = reqwest::Url::parse(&app.url(&path)).unwrap();
        for (k, v) in &query {
            url.query_pairs_mut().append_pair(k, v);
        }
        let mut req = app.client.request(method, url);
        if !op.auth.is_empty() {
            req = req.bearer_auth(&op.auth);
        }
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body_text {
            let ct = ["application/json", "application/merge-patch+json", "application/vnd.api+json"]
                [rng.random_range(0..3)];
            req = req.header("content-type", ct).body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!(
            status == 422 && text.contains("\"card_data_not_accepted\""),
            "case {case} (seed {seed}): {} {} with {s:?} in the {where_} → {status} {text}",
            op.method,
            op.template
        );
        responses.push_str(&text);
        planted.push((digits.to_owned(), s));
    }
    assert!(planted.len() > cases * 9 / 10, "most of the {cases} cases ran ({every_place} places)");

    // Nothing of it was kept, logged or echoed.
    let dump = app.db.dump();
    let log = logs::all();
    for (digits, s) in &planted {
        for (name, text) in [("database", &dump), ("log", &log), ("responses", &responses)] {
            assert!(!text.contains(digits.as_str()), "{digits} found in the {name}");
            assert!(!text.contains(s.as_str()), "{s:?} found in the {name}");
        }
    }
}

/// The repros of the hardening issue, each as it was reported.
#[tokio::test(flavor = "multi_thread")]
async fn the_reported_bypasses_are_closed() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    let set = |body: String| {
        app.client
            .put(app.url(&format!("/v1/carts/{}/details", cart.id)))
            .bearer_auth(&cart.token)
            .header("content-type", "application/json")
            .body(body)
    };
    let mut address = german_details();
    address["shipping_address"]["line2"] = json!("LINE2");
    let template = address.to_string();
    for line2 in [
        r"\u0034242424242424242",
        "4242.4242.4242.4242",
        "42424242 42424242",
        "Apt4242424242424242",
        "４２４２４２４２４２４２４２４２",
    ] {
        let res = set(template.replace("LINE2", line2)).send().await.unwrap();
        assert_eq!(res.status(), 422, "{line2}");
        assert!(res.text().await.unwrap().contains("card_data_not_accepted"), "{line2}");
    }
    // A phone whose normalisation would make a card number.
    let mut phone = german_details();
    phone["phone"] = json!("378.282.246.310.005");
    let (s, body) = app.details(&cart, phone).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("card_data_not_accepted")));
    // An escaped card number as an object key is refused, and an unknown key is never echoed.
    let res = set(template.replacen(r#""email""#, r#""\u0034242424242424242":1,"email""#, 1)).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(text.contains("card_data_not_accepted") && !text.contains("4242"), "{text}");
    let res = set(template.replacen(r#""email""#, r#""favourite_colour":"blue","email""#, 1)).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(text.contains("unknown_field") && !text.contains("favourite_colour"), "{text}");
    // A NUL in any text is a 4xx on both databases (PostgreSQL cannot store one).
    for body in [template.replace("LINE2", r"a\u0000b"), template.replacen("Ada", r"Ad\u0000a", 1)] {
        let res = set(body).send().await.unwrap();
        assert_eq!(res.status(), 422);
    }
    let res = app.get("/v1/products?cursor=a%00b").await;
    assert_eq!(res.status(), 422);
    let res = app.get("/v1/products/prod_%00").await;
    assert_eq!(res.status(), 422);
    // A path that is not text is a problem document too, never a plain-text echo.
    let res = app.get("/v1/orders/ord_%FF%FE").await;
    crate::support::expect_problem(res, 400, "malformed_path").await;
    // Nothing was stored.
    let dump = app.db.dump();
    assert!(!dump.contains("4242424242424242") && !dump.contains("378282246310005"));
}
