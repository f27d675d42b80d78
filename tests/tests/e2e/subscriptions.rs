//! `accountEvents` over both WebSocket protocols, on both WebSocket paths.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(server: &TestServer, path: &str, protocol: &str) -> Socket {
    let mut request = server.ws_url(path).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket connects");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

pub async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message that is not a keep-alive.
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "ka" && value["type"] != "ping" {
                return value;
            }
        }
    }
}

/// A `graphql-transport-ws` socket on `/graphql`, acknowledged for `token`, running `query`
/// as subscription `id`.
pub async fn subscribed(server: &TestServer, token: &str, id: &str, query: &str) -> Socket {
    let mut socket = connect(server, "/graphql", "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": query}}),
    )
    .await;
    socket
}

const SUBSCRIPTION: &str = "subscription { accountEvents { type detail occurredAt } }";

/// The next message within `wait`, if any (keep-alives skipped).
pub async fn next_within(socket: &mut Socket, wait: Duration) -> Option<Value> {
    tokio::time::timeout(wait, next(socket)).await.ok()
}

/// Runs `trigger` until the subscription delivers something (the server registers a
/// subscription asynchronously, so the first trigger may come too early); returns it.
pub async fn first_event<F, Fut>(socket: &mut Socket, mut trigger: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..20 {
        trigger().await;
        if let Some(message) = next_within(socket, Duration::from_millis(500)).await {
            return message;
        }
    }
    panic!("the subscription delivered nothing");
}

#[tokio::test]
async fn account_events_over_graphql_transport_ws() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.sign_up(&unique_email("alice")).await;
    let (bob, _, _) = server.sign_up(&unique_email("bob")).await;
    let mut socket = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {alice}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.create_key(&bob).await; // someone else's event: must not arrive
    let (_, key_id) = server.create_key(&alice).await;
    let event = next(&mut socket).await;
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "1");
    let payload = &event["payload"]["data"]["accountEvents"];
    assert_eq!(payload["type"], "API_KEY_CREATED");
    assert_eq!(payload["detail"]["key_id"], key_id.as_str());
    // One RFC 3339 form everywhere: UTC with `Z`, as the REST dialects write it.
    let at = payload["occurredAt"].as_str().unwrap();
    assert!(at.ends_with('Z'), "{at}");
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");

    let revoke = server
        .delete(&format!("/lunaos/api-keys/{key_id}"), &alice)
        .await;
    assert_eq!(revoke.status(), 200);
    let event = next(&mut socket).await;
    assert_eq!(
        event["payload"]["data"]["accountEvents"]["type"],
        "API_KEY_REVOKED"
    );

    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
}

#[tokio::test]
async fn account_events_over_legacy_graphql_ws() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("legacy")).await;
    let (key, _) = server.create_key(&token).await;
    let mut socket = connect(&server, "/graphql/ws", "graphql-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "apiKey": key } }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "7", "type": "start", "payload": { "query": SUBSCRIPTION } }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.create_key(&token).await;
    let event = next(&mut socket).await;
    assert_eq!(event["type"], "data", "{event}");
    assert_eq!(
        event["payload"]["data"]["accountEvents"]["type"],
        "API_KEY_CREATED"
    );
}

#[tokio::test]
async fn subscriptions_need_a_principal() {
    let server = TestServer::start().await;
    let mut socket = connect(&server, "/graphql/ws", "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }),
    )
    .await;
    // A request error is an `error` message (graphql-transport-ws), not a `next`.
    let refused = next(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "1");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    // The id is free again.
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { nope }" } }),
    )
    .await;
    let invalid = next(&mut socket).await;
    assert_eq!(invalid["type"], "error", "{invalid}");
    assert_eq!(
        invalid["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );

    let mut bad = connect(&server, "/graphql/ws", "graphql-transport-ws").await;
    send(
        &mut bad,
        json!({ "type": "connection_init", "payload": { "authToken": "forged" } }),
    )
    .await;
    let closed = tokio::time::timeout(Duration::from_secs(5), bad.next())
        .await
        .unwrap();
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected a 4403 close, got {other:?}"),
    }
}
