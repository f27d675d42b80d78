//! Billing through Stripe, against a Stripe test double served here (the official
//! `stripe-mock` is not obtainable from the package registries): Checkout and Portal
//! sessions, cancel at period end, and webhooks signed by Stripe's documented algorithm —
//! valid, wrong, several `v1` values, too old, replayed, and out of order.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use orrery_tests::TestServer;
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET_KEY: &str = "sk_test_orrery";
const WEBHOOK_SECRET: &str = "whsec_orrery_test";
const PERIOD_START: i64 = 1_796_169_600; // 2026-12-02T00:00:00Z
const PERIOD_END: i64 = 1_798_761_600; // 2027-01-01T00:00:00Z

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, String)>>>);

impl Seen {
    fn push(&self, what: &str, body: String) {
        self.0.lock().unwrap().push((what.to_string(), body));
    }
    fn find(&self, what: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(w, _)| w == what)
            .map(|(_, b)| b.clone())
    }
}

fn authorized(headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"))
    {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "Invalid API Key provided"}})),
        ))
    }
}

async fn fake_stripe() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/v1/checkout/sessions",
            post(|State(seen): State<Seen>, headers: HeaderMap, body: String| async move {
                authorized(&headers)?;
                seen.push("checkout", body);
                Ok::<_, (StatusCode, Json<Value>)>(Json(json!({
                    "id": "cs_test_a1", "object": "checkout.session",
                    "url": "https://checkout.stripe.test/c/pay/cs_test_a1"
                })))
            }),
        )
        .route(
            "/v1/billing_portal/sessions",
            post(|State(seen): State<Seen>, headers: HeaderMap, body: String| async move {
                authorized(&headers)?;
                seen.push("portal", body);
                Ok::<_, (StatusCode, Json<Value>)>(Json(json!({"url": "https://billing.stripe.test/p/session/test_1"})))
            }),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(|Path(id): Path<String>, headers: HeaderMap| async move {
                authorized(&headers)?;
                Ok::<_, (StatusCode, Json<Value>)>(Json(json!({
                    "id": id, "object": "subscription", "customer": "cus_test_1", "status": "active",
                    "cancel_at_period_end": false,
                    "items": {"data": [{"price": {"id": "price_pro"},
                        "current_period_start": PERIOD_START, "current_period_end": PERIOD_END}]},
                    "metadata": {}
                })))
            })
            .post(
                |State(seen): State<Seen>, Path(id): Path<String>, headers: HeaderMap, body: String| async move {
                    authorized(&headers)?;
                    seen.push(&format!("update {id}"), body);
                    Ok::<_, (StatusCode, Json<Value>)>(Json(json!({"id": id, "cancel_at_period_end": true})))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// `t=…,v1=…` as Stripe computes it.
fn signature(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

async fn deliver(server: &TestServer, payload: &Value, header: Option<String>) -> (u16, Value) {
    let mut request = server
        .client
        .post(server.url("/lunaos/billing/webhook"))
        .header("content-type", "application/json")
        .body(payload.to_string());
    if let Some(header) = header {
        request = request.header("stripe-signature", header);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": created, "data": {"object": object}})
}

#[tokio::test]
async fn stripe_checkout_webhooks_cancel_and_portal() {
    let (stripe, seen) = fake_stripe().await;
    // Each test names its own variables: the process environment is shared.
    std::env::set_var("ORRERY_TEST_STRIPE_KEY_E2E", SECRET_KEY);
    std::env::set_var("ORRERY_TEST_STRIPE_WHSEC_E2E", WEBHOOK_SECRET);
    let server = TestServer::with(|c| {
        c.billing.stripe_secret_key_env = "ORRERY_TEST_STRIPE_KEY_E2E".into();
        c.billing.stripe_webhook_secret_env = "ORRERY_TEST_STRIPE_WHSEC_E2E".into();
        c.billing.stripe_api_base = stripe.clone();
        c.billing.stripe_price_pro = Some("price_pro".into());
        c.billing.stripe_price_team = Some("price_team".into());
    })
    .await;
    let (token, _, user_id) = server.sign_up("stripe@example.com").await;

    let checkout = server
        .post(
            "/lunaos/billing/checkout",
            Some(&token),
            json!({"tier": "pro"}),
        )
        .await;
    assert_eq!(checkout.status(), 200);
    let checkout: Value = checkout.json().await.unwrap();
    assert_eq!(
        checkout["data"],
        json!({"checkoutUrl": "https://checkout.stripe.test/c/pay/cs_test_a1", "sessionId": "cs_test_a1"})
    );
    let form = seen.find("checkout").unwrap();
    for field in [
        "mode=subscription",
        "line_items%5B0%5D%5Bprice%5D=price_pro",
        &format!("client_reference_id={user_id}"),
        "customer_email=stripe%40example.com",
    ] {
        assert!(form.contains(field), "{field} in {form}");
    }
    // The portal needs a Stripe customer, which checkout has not made yet.
    assert_eq!(
        server
            .post("/lunaos/billing/portal", Some(&token), json!({}))
            .await
            .status(),
        404
    );

    let now = chrono::Utc::now().timestamp();
    let completed = event(
        "evt_checkout",
        "checkout.session.completed",
        now,
        json!({"id": "cs_test_a1", "object": "checkout.session", "subscription": "sub_test_1",
               "customer": "cus_test_1", "client_reference_id": user_id}),
    );
    let payload = completed.to_string();
    // Refused: no signature, a wrong secret, a timestamp outside the tolerance.
    for header in [
        None,
        Some(signature("whsec_wrong", now, &payload)),
        Some(signature(WEBHOOK_SECRET, now - 301, &payload)),
        Some(format!("t={now},v1=zz")),
    ] {
        let (status, body) = deliver(&server, &completed, header.clone()).await;
        assert_eq!(status, 400, "{header:?}: {body}");
        assert_eq!(body["code"], "validation_failed");
    }
    // Accepted with one good v1 among several.
    let good = signature(WEBHOOK_SECRET, now, &payload);
    let several = format!("{good},v1={}", "0".repeat(64));
    let (status, body) = deliver(&server, &completed, Some(several)).await;
    assert_eq!(
        (status, body["data"]["outcome"].clone()),
        (200, json!("applied")),
        "{body}"
    );
    // A redelivery applies nothing.
    let (status, body) = deliver(&server, &completed, Some(good)).await;
    assert_eq!(
        (status, body["data"]["outcome"].clone()),
        (200, json!("duplicate"))
    );

    let subscription: Value = server
        .get("/lunaos/billing/subscription", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let data = &subscription["data"];
    assert_eq!(data["tier"], "pro", "{subscription}");
    assert_eq!(data["status"], "active");
    assert_eq!(data["subscription"]["id"], "sub_test_1");
    assert_eq!(
        data["subscription"]["currentPeriodEnd"],
        "2027-01-01T00:00:00Z"
    );
    let events = server
        .graphql(
            Some(&token),
            "{ viewer { securityEvents(limit: 5) { type detail } } }",
            json!({}),
        )
        .await;
    let tier_change = events["data"]["viewer"]["securityEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "ACCOUNT_UPDATED")
        .cloned()
        .expect("the tier change is an account event (and so a ledger entry)");
    assert_eq!(tier_change["detail"]["by"], "stripe");
    assert_eq!(tier_change["detail"]["tier"], "pro");

    let portal: Value = server
        .post("/lunaos/billing/portal", Some(&token), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        portal["data"]["portalUrl"],
        "https://billing.stripe.test/p/session/test_1"
    );
    assert!(seen.find("portal").unwrap().contains("customer=cus_test_1"));
    let cancel = server
        .post("/lunaos/billing/cancel", Some(&token), json!({}))
        .await;
    assert_eq!(cancel.status(), 200);
    assert_eq!(
        seen.find("update sub_test_1").as_deref(),
        Some("cancel_at_period_end=true")
    );

    // A failed payment: past due, tier kept.
    let failed = event(
        "evt_failed",
        "invoice.payment_failed",
        now + 1,
        json!({"id": "in_1", "object": "invoice", "subscription": "sub_test_1", "customer": "cus_test_1"}),
    );
    let (_, body) = deliver(
        &server,
        &failed,
        Some(signature(WEBHOOK_SECRET, now, &failed.to_string())),
    )
    .await;
    assert_eq!(body["data"]["outcome"], "applied");

    // Out of order: the deletion (later) arrives before an update made earlier.
    let subscription_object = |status: &str| {
        json!({"id": "sub_test_1", "object": "subscription",
        "customer": "cus_test_1", "status": status, "cancel_at_period_end": false,
        "current_period_start": PERIOD_START, "current_period_end": PERIOD_END,
        "items": {"data": [{"price": {"id": "price_team"}}]}})
    };
    let deleted = event(
        "evt_deleted",
        "customer.subscription.deleted",
        now + 10,
        subscription_object("canceled"),
    );
    let updated = event(
        "evt_updated",
        "customer.subscription.updated",
        now + 5,
        subscription_object("active"),
    );
    let (_, body) = deliver(
        &server,
        &deleted,
        Some(signature(WEBHOOK_SECRET, now, &deleted.to_string())),
    )
    .await;
    assert_eq!(body["data"]["outcome"], "applied");
    let (_, body) = deliver(
        &server,
        &updated,
        Some(signature(WEBHOOK_SECRET, now, &updated.to_string())),
    )
    .await;
    assert_eq!(body["data"]["outcome"], "stale");
    let after: Value = server
        .get("/lunaos/billing/subscription", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["data"]["tier"], "free", "{after}");
    assert_eq!(after["data"]["status"], "canceled");
    let unknown = event("evt_other", "customer.created", now, json!({"id": "cus_2"}));
    let (_, body) = deliver(
        &server,
        &unknown,
        Some(signature(WEBHOOK_SECRET, now, &unknown.to_string())),
    )
    .await;
    assert_eq!(body["data"]["outcome"], "ignored");
    server.stop().await;
}

#[tokio::test]
async fn webhooks_are_refused_with_local_billing() {
    let server = TestServer::start().await;
    let now = chrono::Utc::now().timestamp();
    let payload = event(
        "evt_1",
        "customer.subscription.updated",
        now,
        json!({"id": "sub_1"}),
    );
    let (status, body) = deliver(
        &server,
        &payload,
        Some(signature(WEBHOOK_SECRET, now, &payload.to_string())),
    )
    .await;
    assert_eq!(status, 501, "{body}");
    assert_eq!(body["code"], "not_implemented");
    server.stop().await;
}
