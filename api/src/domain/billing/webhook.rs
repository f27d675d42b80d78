//! Stripe webhooks: the `Stripe-Signature` check (HMAC-SHA256 over `t.payload`, any of
//! several `v1` values, a bounded age), and reading the events Orrery acts on into one
//! change of a subscription.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::stripe::StripeSubscription;
use crate::error::{DomainError, DomainResult};

fn bad_signature(message: impl Into<String>) -> DomainError {
    DomainError::invalid("Stripe-Signature", message)
}

/// Checks `header` the way Stripe's libraries do: `t=<unix>,v1=<hex>[,v1=…]`, the
/// timestamp within `tolerance_secs` of `now`, one `v1` equal (in constant time) to
/// HMAC-SHA256(secret, "<t>.<payload>").
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    tolerance_secs: u64,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| bad_signature("no timestamp (t=) in Stripe-Signature"))?;
    if signatures.is_empty() {
        return Err(bad_signature("no v1 signature in Stripe-Signature"));
    }
    let age = now.timestamp() - timestamp;
    if age.unsigned_abs() > tolerance_secs {
        return Err(bad_signature(format!(
            "the signature's timestamp is {age} s from now (tolerance {tolerance_secs} s)"
        )));
    }
    for signature in signatures {
        let Some(bytes) = decode_hex(signature) else {
            continue;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        if mac.verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(bad_signature("no v1 signature matches the payload"))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An event as far as Orrery reads it.
#[derive(Debug)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub created: DateTime<Utc>,
    pub object: Value,
}

pub fn parse(payload: &[u8]) -> DomainResult<Event> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| DomainError::Malformed {
        message: format!("the event is not JSON: {e}"),
    })?;
    let field = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DomainError::invalid(name, format!("an event has `{name}`")))
    };
    let created = value["created"]
        .as_i64()
        .and_then(|t| Utc.timestamp_opt(t, 0).single())
        .ok_or_else(|| DomainError::invalid("created", "an event has `created`"))?;
    Ok(Event {
        id: field("id")?,
        kind: field("type")?,
        created,
        object: value["data"]["object"].clone(),
    })
}

/// What an event asks of a subscription record.
#[derive(Debug)]
pub enum Change {
    /// Checkout finished: read the subscription it created from Stripe.
    CheckoutCompleted {
        user_id: Option<String>,
        subscription_id: String,
    },
    /// The subscription as the event carries it.
    Subscription(StripeSubscription),
    /// A payment failed: the subscription is past due.
    PaymentFailed { subscription_id: String },
    /// Not an event Orrery acts on.
    Ignored,
}

pub fn change_of(event: &Event) -> DomainResult<Change> {
    let object = &event.object;
    Ok(match event.kind.as_str() {
        "checkout.session.completed" => match object["subscription"].as_str() {
            Some(id) => Change::CheckoutCompleted {
                user_id: object["client_reference_id"]
                    .as_str()
                    .or_else(|| object["metadata"]["user_id"].as_str())
                    .map(str::to_string),
                subscription_id: id.to_string(),
            },
            None => Change::Ignored,
        },
        "customer.subscription.updated" => {
            Change::Subscription(StripeSubscription::from_json(object)?)
        }
        "customer.subscription.deleted" => {
            let mut subscription = StripeSubscription::from_json(object)?;
            subscription.status = "canceled".into();
            Change::Subscription(subscription)
        }
        "invoice.payment_failed" => match object["subscription"].as_str() {
            Some(id) => Change::PaymentFailed {
                subscription_id: id.to_string(),
            },
            None => Change::Ignored,
        },
        _ => Change::Ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{payload}").as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn signatures_are_checked_as_stripe_documents() {
        let now = Utc::now();
        let t = now.timestamp();
        let payload = r#"{"id":"evt_1"}"#;
        let good = sign("whsec_test", t, payload);
        let ok = |header: String| verify(payload.as_bytes(), &header, "whsec_test", 300, now);
        assert!(ok(format!("t={t},v1={good}")).is_ok());
        // One of several v1 values suffices (Stripe sends one per active secret).
        assert!(ok(format!("t={t},v1={},v1={good}", "ab".repeat(32))).is_ok());
        assert!(ok(format!("t={t},v0=zz,v1={good}")).is_ok());
        assert!(ok(format!("t={t},v1={}", sign("whsec_other", t, payload))).is_err());
        assert!(ok(format!("t={},v1={good}", t + 1)).is_err());
        let old = t - 301;
        assert!(ok(format!("t={old},v1={}", sign("whsec_test", old, payload))).is_err());
        assert!(ok(format!("v1={good}")).is_err());
        assert!(ok(format!("t={t}")).is_err());
        assert!(verify(
            b"{\"id\":\"evt_2\"}",
            &format!("t={t},v1={good}"),
            "whsec_test",
            300,
            now
        )
        .is_err());
    }
}
