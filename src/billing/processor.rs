//! The processor client: async-stripe calls with idempotency keys derived from leancart's ids, retries
//! only where they are safe, and Stripe's answers reduced to [`IntentFacts`]. No HTTP types of leancart's
//! API appear here.

use super::model::{CardFacts, IntentFacts, PaymentStatus};
use super::stripe_http::StripeHttp;
use crate::config::CaptureMethod;
use crate::kernel::money::Money;
use std::collections::HashMap;
use std::time::Duration;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_shared::{PaymentIntent, PaymentIntentCaptureMethod, PaymentIntentStatus};
use stripe_types::Expandable;

/// Why a processor call did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessorError {
    /// The card was declined (or authentication failed). The PaymentIntent, when Stripe returned it,
    /// is in `facts`.
    #[error("card declined ({code})")]
    Declined { code: String, decline_code: Option<String>, message: String, facts: Option<Box<IntentFacts>> },
    /// Stripe refused the request (bad parameters, wrong state).
    #[error("request refused by the processor: {code}")]
    Invalid { code: String, message: String },
    /// Too many requests, after retries.
    #[error("processor rate limit")]
    RateLimited,
    /// No answer (timeout, network, 5xx) after retries: the outcome is unknown until reconciled.
    #[error("processor unavailable: {0}")]
    Unavailable(String),
    /// Our configuration or the response is wrong.
    #[error("processor integration error: {0}")]
    Integration(String),
}

/// A Stripe client with leancart's retry policy.
#[derive(Clone)]
pub struct Processor {
    client: StripeHttp,
    attempts: u32,
    backoff: Duration,
}

/// Parameters of a PaymentIntent created and confirmed at once.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub payment_id: String,
    pub order_id: Option<String>,
    pub amount: Money,
    pub payment_method: String,
    pub capture: CaptureMethod,
    pub description: Option<String>,
}

impl Processor {
    pub fn new(secret_key: &str, base_url: Option<&str>, timeout: Duration) -> Result<Processor, ProcessorError> {
        let client =
            StripeHttp::new(secret_key, base_url, timeout).map_err(|e| ProcessorError::Integration(e.to_string()))?;
        Ok(Processor { client, attempts: 3, backoff: Duration::from_millis(200) })
    }

    /// Run `call` with the idempotency key, retrying transient failures with the same key.
    /// Reads (`key: None`) are retried as they are; writes carry the same idempotency key on every try.
    async fn with_retries<T, F, Fut>(&self, key: Option<&str>, call: F) -> Result<T, ProcessorError>
    where
        F: Fn(RequestStrategy) -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let strategy = match key {
            Some(k) => RequestStrategy::Idempotent(
                IdempotencyKey::new(k).map_err(|e| ProcessorError::Integration(e.to_string()))?,
            ),
            None => RequestStrategy::Once,
        };
        let mut last = ProcessorError::Unavailable("no attempt made".into());
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
            match call(strategy.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let (mapped, retry) = classify(e);
                    if !retry {
                        return Err(mapped);
                    }
                    last = mapped;
                }
            }
        }
        Err(last)
    }

    /// Send one request with the retry policy (`key`: the idempotency key of a write).
    async fn send<R>(&self, key: Option<&str>, req: &R) -> Result<R::Output, ProcessorError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        self.with_retries(key, |s| async move { req.customize().request_strategy(s).send(&self.client).await }).await
    }

    /// Create and confirm a PaymentIntent. Retried calls carry the same key, so Stripe performs the
    /// charge at most once.
    pub async fn create_and_confirm(&self, req: &ChargeRequest) -> Result<IntentFacts, ProcessorError> {
        let mut metadata = HashMap::new();
        metadata.insert("leancart_payment_id".to_owned(), req.payment_id.clone());
        if let Some(o) = &req.order_id {
            metadata.insert("leancart_order_id".to_owned(), o.clone());
        }
        let currency: stripe_types::Currency = req
            .amount
            .currency
            .to_lowercase()
            .parse()
            .map_err(|_| ProcessorError::Integration("currency not supported by the processor".into()))?;
        let capture = match req.capture {
            CaptureMethod::Automatic => PaymentIntentCaptureMethod::Automatic,
            CaptureMethod::Manual => PaymentIntentCaptureMethod::Manual,
        };
        let mut create = CreatePaymentIntent::new(req.amount.amount, currency)
            .payment_method(req.payment_method.clone())
            .confirm(true)
            .capture_method(capture)
            .metadata(metadata)
            .expand(vec!["payment_method".to_owned()]);
        if let Some(d) = &req.description {
            create = create.description(d.clone());
        }
        let key = format!("{}:create", req.payment_id);
        let pi = self.send(Some(&key), &create).await?;
        Ok(facts(&pi))
    }

    pub async fn retrieve(&self, intent: &str) -> Result<IntentFacts, ProcessorError> {
        let id = checked_id(intent, "pi_")?;
        let req = RetrievePaymentIntent::new(id).expand(vec!["payment_method".to_owned()]);
        let pi = self.send(None, &req).await?;
        Ok(facts(&pi))
    }

    pub async fn confirm(&self, intent: &str, key: &str) -> Result<IntentFacts, ProcessorError> {
        let id = checked_id(intent, "pi_")?;
        let req = ConfirmPaymentIntent::new(id).expand(vec!["payment_method".to_owned()]);
        let pi = self.send(Some(key), &req).await?;
        Ok(facts(&pi))
    }

    pub async fn capture(&self, intent: &str, amount: Option<i64>, key: &str) -> Result<IntentFacts, ProcessorError> {
        let id = checked_id(intent, "pi_")?;
        let mut req = CapturePaymentIntent::new(id).expand(vec!["payment_method".to_owned()]);
        if let Some(a) = amount {
            req = req.amount_to_capture(a);
        }
        let pi = self.send(Some(key), &req).await?;
        Ok(facts(&pi))
    }

    pub async fn cancel(&self, intent: &str, key: &str) -> Result<IntentFacts, ProcessorError> {
        let id = checked_id(intent, "pi_")?;
        let req = CancelPaymentIntent::new(id).expand(vec!["payment_method".to_owned()]);
        let pi = self.send(Some(key), &req).await?;
        Ok(facts(&pi))
    }

    /// Refund (part of) a PaymentIntent. Returns the processor's refund id and status.
    pub async fn refund(&self, intent: &str, amount: i64, refund_id: &str) -> Result<(String, String), ProcessorError> {
        checked_id(intent, "pi_")?;
        let mut metadata = HashMap::new();
        metadata.insert("leancart_refund_id".to_owned(), refund_id.to_owned());
        let req = CreateRefund::new().payment_intent(intent.to_owned()).amount(amount).metadata(metadata);
        let key = format!("{refund_id}:create");
        let refund = self.send(Some(&key), &req).await?;
        Ok((refund.id.to_string(), refund.status.unwrap_or_else(|| "pending".into())))
    }
}

/// Ids go into URL paths unescaped by the client: accept only the processor's id alphabet.
fn checked_id(id: &str, prefix: &str) -> Result<String, ProcessorError> {
    let ok = id.starts_with(prefix) && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { Ok(id.to_owned()) } else { Err(ProcessorError::Integration("malformed processor id".into())) }
}

/// Map an async-stripe error; the flag says whether retrying with the same key is safe and useful.
fn classify(e: StripeError) -> (ProcessorError, bool) {
    match e {
        StripeError::Stripe(api, status) => {
            let code = api.code.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_else(|| "unknown".into());
            let message = api.message.clone().unwrap_or_default();
            match status {
                402 => (
                    ProcessorError::Declined {
                        code,
                        decline_code: api.decline_code.clone(),
                        message,
                        facts: api.payment_intent.as_ref().map(|pi| Box::new(facts(pi))),
                    },
                    false,
                ),
                400 if code == "payment_intent_authentication_failure" => (
                    ProcessorError::Declined {
                        code,
                        decline_code: Some("authentication_failed".into()),
                        message,
                        facts: api.payment_intent.as_ref().map(|pi| Box::new(facts(pi))),
                    },
                    false,
                ),
                429 => (ProcessorError::RateLimited, true),
                409 => (ProcessorError::Unavailable("idempotent request in progress".into()), true),
                s if s >= 500 => (ProcessorError::Unavailable(format!("processor answered {s}")), true),
                401 | 403 => {
                    (ProcessorError::Integration(format!("processor refused our credentials ({status})")), false)
                }
                _ => (ProcessorError::Invalid { code, message }, false),
            }
        }
        StripeError::Timeout => (ProcessorError::Unavailable("timeout".into()), true),
        StripeError::ClientError(m) => (ProcessorError::Unavailable(format!("network: {m}")), true),
        StripeError::JSONDeserialize(m) => (ProcessorError::Integration(format!("unreadable response: {m}")), false),
        StripeError::ConfigError(m) => (ProcessorError::Integration(m), false),
    }
}

/// Reduce a PaymentIntent to what leancart keeps.
pub fn facts(pi: &PaymentIntent) -> IntentFacts {
    let status = match &pi.status {
        PaymentIntentStatus::Succeeded => Some(PaymentStatus::Succeeded),
        PaymentIntentStatus::RequiresCapture => Some(PaymentStatus::RequiresCapture),
        PaymentIntentStatus::RequiresAction => Some(PaymentStatus::RequiresAction),
        PaymentIntentStatus::Canceled => Some(PaymentStatus::Canceled),
        PaymentIntentStatus::RequiresPaymentMethod if pi.last_payment_error.is_some() => Some(PaymentStatus::Failed),
        _ => None,
    };
    let card =
        pi.payment_method.as_ref().and_then(Expandable::as_object).and_then(|pm| pm.card.as_ref()).map(|c| CardFacts {
            brand: c.brand.clone(),
            last4: c.last4.clone(),
            exp_month: i32::try_from(c.exp_month).unwrap_or(0),
            exp_year: i32::try_from(c.exp_year).unwrap_or(0),
        });
    let next_action_url = pi.next_action.as_ref().and_then(|n| n.redirect_to_url.as_ref()).and_then(|r| r.url.clone());
    IntentFacts {
        payment_intent_id: pi.id.to_string(),
        status,
        amount_received: pi.amount_received,
        charge_id: pi.latest_charge.as_ref().map(|c| c.id().to_string()),
        card,
        failure_code: pi
            .last_payment_error
            .as_ref()
            .and_then(|e| e.decline_code.clone().or_else(|| e.code.as_ref().map(|c| c.as_str().to_owned()))),
        next_action_url,
        client_secret: pi.client_secret.clone(),
    }
}
