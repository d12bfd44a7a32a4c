//! What a processor's answer means for a payment — no database, no processor; only the clock that
//! stamps the new row and a log line when there was no answer.
//!
//! A caller asks the processor ([`super::service::Billing::ask_processor`]), hands the answer and the
//! payment as it last recorded it to [`interpret`], and writes the [`Settlement`] in its own
//! transaction ([`super::service::Billing::record`]). The payment only moves forward: an answer that
//! arrives after a webhook already said more changes nothing.

use super::model::{CardFacts, IntentFacts, PaymentRow, PaymentStatus};
use super::processor::ProcessorError;
use crate::kernel::time;
use chrono::NaiveDateTime;

/// A processor call's answer, not yet applied to anything.
pub type ProcessorAnswer = Result<IntentFacts, ProcessorError>;

/// Where the shopper completes 3-D Secure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextAction {
    pub url: String,
    pub client_secret: Option<String>,
}

/// Why a card was declined, in the shopper's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    /// Stable code: `card_declined`, `insufficient_funds`, `expired_card`, `incorrect_cvc`,
    /// `authentication_failed`.
    pub code: &'static str,
    pub message: &'static str,
}

/// An answer applied to a payment as last recorded.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The payment as the answer leaves it.
    pub payment: PaymentRow,
    /// The status and `updated_at` it was read with: the row is written only if it still has them
    /// (else the answer is applied to the row as it then is).
    pub recorded_status: String,
    pub recorded_at: NaiveDateTime,
    /// The status it moved from, and to (when it moved).
    pub from: PaymentStatus,
    pub moved_to: Option<PaymentStatus>,
    /// Whether anything at all changed (status, intent, charge, card, amount captured).
    pub changed: bool,
    /// The facts themselves, to apply again to a row that changed meanwhile.
    pub facts: Option<IntentFacts>,
    pub next_action: Option<NextAction>,
    pub decline: Option<Decline>,
    /// No answer (timeout, network, rate limit): the payment stays as it is until a webhook or the
    /// reconciliation sweep settles it.
    pub unresolved: bool,
    /// The processor refused the request itself (not the card): the payment failed, and the caller
    /// may want to say why.
    pub refusal: Option<ProcessorError>,
}

/// What `answer` makes of the payment `recorded`.
pub fn interpret(recorded: &PaymentRow, answer: ProcessorAnswer) -> Settlement {
    let (facts, decline, unresolved, refusal) = match answer {
        Ok(f) => (Some(f), None, false, None),
        Err(ProcessorError::Declined { code, decline_code: dc, facts, .. }) => {
            let code = decline_code(&code, dc.as_deref());
            let mut f = facts.map(|b| *b).unwrap_or_default();
            f.status = Some(PaymentStatus::Failed);
            f.failure_code = Some(code.to_owned());
            (Some(f), Some(Decline { code, message: decline_message(code) }), false, None)
        }
        // Still unavailable or limited after the retries: whether the request took effect is unknown
        // until the same idempotent request is answered (whichever call it was: charge, refresh,
        // capture, cancel).
        Err(ProcessorError::Unavailable(cause)) => {
            tracing::warn!(payment_id = %recorded.id, %cause, "processor did not answer; payment left pending for reconciliation");
            (None, None, true, None)
        }
        Err(ProcessorError::RateLimited) => {
            tracing::warn!(payment_id = %recorded.id, "processor rate limit; payment left pending for reconciliation");
            (None, None, true, None)
        }
        Err(refused) => {
            let code = match &refused {
                ProcessorError::Invalid { code, .. } if code == "resource_missing" => "payment_method_invalid",
                _ => "payment_refused",
            };
            let f = IntentFacts {
                status: Some(PaymentStatus::Failed),
                failure_code: Some(code.into()),
                ..Default::default()
            };
            (Some(f), None, false, Some(refused))
        }
    };
    let from = recorded.status();
    let (mut payment, moved_to, changed) = match &facts {
        Some(f) => merge_facts(recorded.clone(), f),
        None => (recorded.clone(), None, false),
    };
    if changed {
        payment.updated_at = updated_after(recorded.updated_at);
    }
    let next_action = match &facts {
        Some(IntentFacts { next_action_url: Some(url), client_secret, .. })
            if payment.status() == PaymentStatus::RequiresAction =>
        {
            Some(NextAction { url: url.clone(), client_secret: client_secret.clone() })
        }
        _ => None,
    };
    Settlement {
        payment,
        recorded_status: recorded.status.clone(),
        recorded_at: recorded.updated_at,
        from,
        moved_to,
        changed,
        facts,
        next_action,
        decline,
        unresolved,
        refusal,
    }
}

/// What the processor's facts make of a payment row, moving forward only: the merged row, the status
/// it moved to (if any) and whether anything changed at all.
pub fn merge_facts(mut row: PaymentRow, f: &IntentFacts) -> (PaymentRow, Option<PaymentStatus>, bool) {
    let before = (row.payment_intent_id.clone(), row.charge_id.clone(), row.card_last4.clone(), row.amount_captured);
    let from = row.status();
    if row.payment_intent_id.is_none() && !f.payment_intent_id.is_empty() {
        row.payment_intent_id = Some(f.payment_intent_id.clone());
    }
    if f.charge_id.is_some() {
        row.charge_id = f.charge_id.clone();
    }
    if let Some(CardFacts { brand, last4, exp_month, exp_year }) = &f.card {
        row.card_brand = Some(brand.clone());
        row.card_last4 = Some(last4.clone());
        row.card_exp_month = Some(*exp_month);
        row.card_exp_year = Some(*exp_year);
    }
    let mut moved_to = None;
    if let Some(to) = f.status
        && from.can_become(to)
    {
        row.status = to.as_str().into();
        if to == PaymentStatus::Failed {
            row.failure_code = f.failure_code.clone();
        }
        moved_to = Some(to);
    }
    if row.status() == PaymentStatus::Succeeded {
        row.amount_captured = row.amount_captured.max(f.amount_received);
    }
    let after = (row.payment_intent_id.clone(), row.charge_id.clone(), row.card_last4.clone(), row.amount_captured);
    let changed = moved_to.is_some() || before != after;
    (row, moved_to, changed)
}

/// A compare-and-set's new `updated_at`: now, but always after the one it replaces, so that the next
/// compare-and-set against the old value fails even within one clock tick.
pub fn updated_after(previous: NaiveDateTime) -> NaiveDateTime {
    time::now().max(previous + chrono::Duration::microseconds(1))
}

/// The shopper-facing code of a decline.
pub fn decline_code(code: &str, decline_code: Option<&str>) -> &'static str {
    match (code, decline_code) {
        (_, Some("insufficient_funds")) => "insufficient_funds",
        ("expired_card", _) | (_, Some("expired_card")) => "expired_card",
        ("incorrect_cvc", _) | (_, Some("incorrect_cvc")) => "incorrect_cvc",
        ("payment_intent_authentication_failure", _) | (_, Some("authentication_failed")) => "authentication_failed",
        _ => "card_declined",
    }
}

fn decline_message(code: &str) -> &'static str {
    match code {
        "insufficient_funds" => "The card has insufficient funds. Try another card.",
        "expired_card" => "The card has expired. Try another card.",
        "incorrect_cvc" => "The card's security code is incorrect.",
        "authentication_failed" => "The card could not be authenticated. Try again or use another card.",
        _ => "The card was declined. Try another card.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> PaymentRow {
        let now = time::now();
        PaymentRow {
            id: "pay_1".into(),
            order_id: Some("ord_1".into()),
            processor: "stripe".into(),
            payment_intent_id: None,
            payment_method_id: "pm_card_visa".into(),
            charge_id: None,
            status: "pending".into(),
            capture_method: "automatic".into(),
            amount: 1000,
            amount_captured: 0,
            amount_refunded: 0,
            currency: "EUR".into(),
            card_brand: None,
            card_last4: None,
            card_exp_month: None,
            card_exp_year: None,
            failure_code: None,
            disputed: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn success_moves_the_payment_and_stamps_it_later() {
        let facts = IntentFacts {
            payment_intent_id: "pi_1".into(),
            status: Some(PaymentStatus::Succeeded),
            amount_received: 1000,
            charge_id: Some("ch_1".into()),
            ..Default::default()
        };
        let p = pending();
        let s = interpret(&p, Ok(facts));
        assert_eq!(s.moved_to, Some(PaymentStatus::Succeeded));
        assert!(s.changed && s.decline.is_none() && !s.unresolved && s.refusal.is_none());
        assert_eq!(s.payment.amount_captured, 1000);
        assert!(s.payment.updated_at > p.updated_at);
        assert_eq!((s.recorded_status.as_str(), s.recorded_at), ("pending", p.updated_at));
    }

    #[test]
    fn a_decline_fails_the_payment_with_the_shoppers_code() {
        let answer = Err(ProcessorError::Declined {
            code: "card_declined".into(),
            decline_code: Some("insufficient_funds".into()),
            message: "declined".into(),
            facts: None,
        });
        let s = interpret(&pending(), answer);
        assert_eq!(s.moved_to, Some(PaymentStatus::Failed));
        assert_eq!(s.payment.failure_code.as_deref(), Some("insufficient_funds"));
        assert_eq!(s.decline.map(|d| d.code), Some("insufficient_funds"));
    }

    #[test]
    fn no_answer_changes_nothing() {
        let s = interpret(&pending(), Err(ProcessorError::Unavailable("timeout".into())));
        assert!(s.unresolved && !s.changed && s.moved_to.is_none());
    }

    #[test]
    fn a_refusal_fails_the_payment_and_is_kept() {
        let s = interpret(
            &pending(),
            Err(ProcessorError::Invalid { code: "resource_missing".into(), message: "no such pm".into() }),
        );
        assert_eq!(s.payment.failure_code.as_deref(), Some("payment_method_invalid"));
        assert!(s.refusal.is_some());
    }

    #[test]
    fn payments_never_move_back() {
        let mut done = pending();
        done.status = "succeeded".into();
        let facts = IntentFacts { status: Some(PaymentStatus::RequiresAction), ..Default::default() };
        let s = interpret(&done, Ok(facts));
        assert_eq!(s.moved_to, None);
        assert!(!s.changed);
    }
}
