//! Hostile input found by attacking the release binary: each case crashed, stalled or
//! poisoned the server before its fix. Every test ends by checking the server still serves.

use orrery_tests::TestServer;
use serde_json::{json, Value};

use super::subscriptions::{connect, next, send};

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn still_serving(server: &TestServer) {
    let body = server.graphql(None, "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

/// The shapes that overflowed the stack, each 10 000 deep.
fn deep_queries() -> Vec<String> {
    const N: usize = 10_000;
    vec![
        format!(
            "{{ __typename @include(if: {}true{}) }}",
            "[".repeat(N),
            "]".repeat(N)
        ),
        format!("{{ __typename(a: {}1{}) }}", "{a:".repeat(N), "}".repeat(N)),
        format!(
            "{{ ledger(filter: {}\"x\"{}) {{ totalCount }} }}",
            "{actor:".repeat(N),
            "}".repeat(N)
        ),
        format!("{}__typename{}", "{a".repeat(N), "}".repeat(N)),
    ]
}

#[tokio::test]
async fn deeply_nested_queries_are_refused_over_post_get_and_websocket() {
    let server = TestServer::start().await;
    for query in deep_queries() {
        // Past 64 KiB the size limit refuses it first.
        let refused = if query.len() > 65_536 {
            "QUERY_TOO_LARGE"
        } else {
            "QUERY_TOO_DEEP"
        };
        let body = server.graphql(None, &query, json!({})).await;
        assert_eq!(code(&body), refused, "POST: {body}");

        // Brackets go unencoded (as curl sends them). A URI cannot be longer than 64 KiB
        // (clients refuse to build one), so the longest shapes go by POST and WebSocket only.
        if query.len() < 60_000 {
            let url = format!(
                "{}?query={}",
                server.url("/graphql"),
                query.replace(' ', "%20").replace('"', "%22")
            );
            let too_long = url.len() > 32 * 1024;
            let response = server.client.get(url).send().await.expect("GET answers");
            let status = response.status();
            let body: Value = response.json().await.expect("GET answers JSON");
            if too_long {
                // Past the URI limit: a 414 in the GraphQL error shape.
                assert_eq!(status, 414);
                assert_eq!(code(&body), "BAD_USER_INPUT", "GET: {body}");
            } else {
                assert_eq!(code(&body), refused, "GET: {body}");
            }
        }

        let mut socket = connect(&server, "/graphql", "graphql-transport-ws").await;
        send(&mut socket, json!({ "type": "connection_init" })).await;
        assert_eq!(next(&mut socket).await["type"], "connection_ack");
        send(
            &mut socket,
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
        )
        .await;
        if query.len() > 64 * 1024 {
            // Larger than a WebSocket message may be: the socket is closed.
            use futures::StreamExt;
            let end = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await;
            assert!(
                matches!(
                    end,
                    Ok(None
                        | Some(Err(_))
                        | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))))
                ),
                "{end:?}"
            );
            continue;
        }
        let answer = next(&mut socket).await;
        assert_eq!(answer["id"], "1");
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(
            answer["payload"][0]["extensions"]["code"], refused,
            "{answer}"
        );
    }
    let huge = format!("{{ {} }}", "__typename ".repeat(10_000));
    let body = server.graphql(None, &huge, json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
    still_serving(&server).await;
}

#[tokio::test]
async fn deeply_nested_variables_are_refused() {
    let server = TestServer::start().await;
    let text = format!(
        "{{\"query\":\"query($f: JSON) {{ __typename }}\",\"variables\":{{\"f\":{}1{}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let response = server.post_raw("/graphql", text).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(!code(&body).is_empty(), "{body}");
    still_serving(&server).await;
}

#[tokio::test]
async fn the_standard_introspection_query_is_answered() {
    let server = TestServer::start().await;
    // graphql-js's getIntrospectionQuery() (v16, all options on), as GraphiQL sends it.
    let query = include_str!("introspection.graphql");
    let body = server.graphql(None, query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 10);
    let too_deep = format!("{}__typename{}", "{ viewer ".repeat(13), "}".repeat(13));
    assert_eq!(
        code(&server.graphql(None, &too_deep, json!({})).await),
        "QUERY_TOO_DEEP"
    );
}

/// A string PostgreSQL cannot store is a 400 naming the field, on every database.
async fn nul_is_refused_at_the_edge(server: &TestServer) {
    let nul_email = json!({ "email": "a\u{0}b@example.com", "password": orrery_tests::PASSWORD });
    for path in [
        "/lunaos/auth/signup",
        "/lunaos/auth/login",
        "/lukhas/v1/auth/token",
    ] {
        let response = server.post(path, None, nul_email.clone()).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body.to_string().contains("email"), "{path}: {body}");
        assert!(body.to_string().contains("NUL"), "{path}: {body}");
    }
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("nul")).await;
    let decision = json!({ "actor": "model", "proposed_action": "Search", "tool": "web_search", "context": { "note": ["fine", "x\u{0}"] } });
    let response = server.post("/lexecon/decide", Some(&token), decision).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Invalid request");
    assert!(
        body["details"]
            .as_str()
            .unwrap()
            .contains("context.note[1]"),
        "{body}"
    );
    for path in ["/lexecon/ledger?actor=a%00b", "/lexecon/decisions/dec_%00x"] {
        let response = server.get(path, Some(&token)).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "Invalid request", "{path}: {body}");
    }
    let response = server.get("/lexecon/decisions/%ff", Some(&token)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response
        .json()
        .await
        .expect("a Lexecon envelope, not plain text");
    assert_eq!(body["error"], "Invalid request");

    let gql = server
        .graphql(
            Some(&token),
            "mutation($input: DecideInput!) { decide(input: $input) { decision { decisionId } } }",
            json!({ "input": { "actor": "m\u{0}", "proposedAction": "x", "tool": "t" } }),
        )
        .await;
    assert_eq!(code(&gql), "BAD_USER_INPUT", "{gql}");
    assert_eq!(
        gql["errors"][0]["extensions"]["field"], "variables.input.actor",
        "{gql}"
    );
    let literal = server
        .graphql(
            Some(&token),
            "{ ledger(filter: { actor: \"a\\u0000b\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&literal), "BAD_USER_INPUT", "{literal}");
    let login = server
        .graphql(
            None,
            "mutation($e: String!) { logIn(input: { email: $e, password: \"x\" }) { accessToken } }",
            json!({ "e": "a\u{0}b@example.com" }),
        )
        .await;
    assert_eq!(code(&login), "BAD_USER_INPUT", "{login}");
}

/// 8 clients send decisions with NUL alongside 8 honest ones: every honest one succeeds.
async fn honest_decisions_are_not_poisoned(server: &TestServer) {
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("honest")).await;
    let mut requests = Vec::new();
    for i in 0..160 {
        let actor = if i % 2 == 0 {
            format!("agent {i}")
        } else {
            format!("agent\u{0}{i}")
        };
        let body = json!({ "actor": actor, "proposed_action": "Search", "tool": "web_search" });
        let token = &token;
        requests.push(async move {
            (
                i,
                server
                    .post("/lexecon/decide", Some(token), body)
                    .await
                    .status(),
            )
        });
    }
    for (i, status) in futures::future::join_all(requests).await {
        let expected = if i % 2 == 0 { 200 } else { 400 };
        assert_eq!(status, expected, "request {i}");
    }
}

#[tokio::test]
async fn nul_characters_on_sqlite() {
    let server = TestServer::start().await;
    nul_is_refused_at_the_edge(&server).await;
    honest_decisions_are_not_poisoned(&server).await;
    still_serving(&server).await;
}

#[tokio::test]
async fn nul_characters_on_postgres() {
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    nul_is_refused_at_the_edge(&server).await;
    honest_decisions_are_not_poisoned(&server).await;
    still_serving(&server).await;
    server.stop().await;
}

/// Polls `check` until it holds, up to `within`; returns how long it took.
async fn eventually<F, Fut>(within: std::time::Duration, mut check: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if check().await {
            return start.elapsed();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("did not happen within {within:?}");
}

/// A policy loaded on one instance (or by `orrery policy load`) governs every instance's
/// decisions within about a second, without a restart.
async fn policies_cross_instances(a: &TestServer, b: &TestServer) {
    let admin_a = a.admin().await;
    let admin_b = b.admin().await;
    let current = b
        .graphql(Some(&admin_b), "{ policy { document } }", json!({}))
        .await;
    let mut document = current["data"]["policy"]["document"].clone();
    let version = format!("9.{}", version_suffix());
    document["version"] = json!(version);
    let loaded = a
        .graphql(
            Some(&admin_a),
            "mutation($p: JSON!) { loadPolicy(input: { policy: $p }) { policy { version } userErrors { message } } }",
            json!({ "p": document }),
        )
        .await;
    assert_eq!(
        loaded["data"]["loadPolicy"]["policy"]["version"], version,
        "{loaded}"
    );
    let took = eventually(std::time::Duration::from_secs(3), || {
        let (version, token) = (version.clone(), admin_b.clone());
        async move {
            let policy: Value = b
                .get("/lexecon/policy", Some(&token))
                .await
                .json()
                .await
                .unwrap();
            policy["version"] == version.as_str()
        }
    })
    .await;
    println!("a policy loaded on A governs B after {took:?}");
}

fn version_suffix() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    (micros % 1_000_000).to_string()
}

async fn revocations_cross_instances(a: &TestServer, b: &TestServer) {
    policies_cross_instances(a, b).await;
    let second = std::time::Duration::from_secs(1);
    let status = |server: &TestServer, token: String| {
        let request = server
            .client
            .get(server.url("/lunaos/auth/me"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Refresh-token reuse on A revokes the family's access tokens on B.
    let email = orrery_tests::unique_email("family");
    let (access, refresh, _) = a.sign_up(&email).await;
    assert_eq!(status(b, access.clone()).await, 200);
    let rotated = a
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let reuse = a
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(reuse.status(), 401);
    eventually(second, || async { status(b, access.clone()).await == 401 }).await;
    let key = b
        .post("/lunaos/api-keys", Some(&access), json!({ "name": "x" }))
        .await;
    assert_eq!(key.status(), 401, "no API key from a revoked session");

    // A key revoked on A is refused on B within a second.
    let (token, _, _) = a.sign_up(&orrery_tests::unique_email("keys")).await;
    let (key, id) = a.create_key(&token).await;
    assert_eq!(status(b, key.clone()).await, 200);
    assert_eq!(
        a.delete(&format!("/lunaos/api-keys/{id}"), &token)
            .await
            .status(),
        200
    );
    assert_eq!(
        status(a, key.clone()).await,
        401,
        "at once where it was revoked"
    );
    eventually(second, || async { status(b, key.clone()).await == 401 }).await;

    // A role change on A applies on B within a second.
    let user = a.user_with_roles("auditor", &["USER"]).await;
    let ledger = |server: &TestServer, token: String| {
        let request = server
            .client
            .get(server.url("/lexecon/ledger/verify"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ledger(b, user.clone()).await, 403);
    let viewer = a.graphql(Some(&user), "{ viewer { id } }", json!({})).await;
    let admin = a.admin().await;
    let updated = a
        .graphql(
            Some(&admin),
            "mutation($input: UpdateUserInput!) { updateUser(input: $input) { userErrors { message } } }",
            json!({ "input": { "id": viewer["data"]["viewer"]["id"], "roles": ["USER", "AUDITOR"] } }),
        )
        .await;
    assert_eq!(
        updated["data"]["updateUser"]["userErrors"],
        json!([]),
        "{updated}"
    );
    eventually(second, || async { ledger(b, user.clone()).await == 200 }).await;
}

#[tokio::test]
async fn revocations_reach_other_instances_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let (a, b) = orrery_tests::two_instances(&url).await;
    revocations_cross_instances(&a, &b).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn revocations_reach_other_instances_on_postgres() {
    let Some(url) = orrery_tests::fresh_postgres_database().await else {
        return;
    };
    let (a, b) = orrery_tests::two_instances(&url).await;
    revocations_cross_instances(&a, &b).await;
    a.stop().await;
    b.stop().await;
    orrery_tests::drop_postgres_database(&url).await;
}

#[tokio::test]
async fn the_database_going_away_is_a_fast_503_and_recovers() {
    let Ok(base) = std::env::var(orrery_tests::POSTGRES_ENV) else {
        orrery_tests::skip(&format!("{} is not set", orrery_tests::POSTGRES_ENV));
        return;
    };
    let Some(url) = orrery_tests::fresh_postgres_database().await else {
        return;
    };
    let target: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    assert!(
        base.contains("127.0.0.1:5432"),
        "the proxy forwards to {target}"
    );
    let proxy = orrery_tests::FlakyProxy::start(target).await;
    let proxied = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let server = TestServer::with(|c| c.database_url = proxied.clone()).await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("down")).await;
    let decide = json!({ "actor": "model", "proposed_action": "Search", "tool": "web_search" });
    assert_eq!(
        server
            .post("/lexecon/decide", Some(&token), decide.clone())
            .await
            .status(),
        200
    );

    proxy.set_down(true);
    let started = std::time::Instant::now();
    assert_eq!(server.get("/readyz", None).await.status(), 503);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.get("/livez", None).await.status(), 200);
    for (path, marker) in [
        ("/lexecon/decide", "Service unavailable"),
        ("/lunaos/auth/login", "service_unavailable"),
    ] {
        let started = std::time::Instant::now();
        let body = if path == "/lexecon/decide" {
            decide.clone()
        } else {
            json!({ "email": orrery_tests::ADMIN_EMAIL, "password": orrery_tests::PASSWORD })
        };
        let response = server.post(path, Some(&token), body).await;
        let took = started.elapsed();
        assert_eq!(response.status(), 503, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains(marker), "{path}: {text}");
        assert!(
            took < std::time::Duration::from_secs(4),
            "{path} took {took:?}"
        );
    }

    proxy.set_down(false);
    eventually(std::time::Duration::from_secs(10), || async {
        server.get("/readyz", None).await.status() == 200
    })
    .await;
    assert_eq!(
        server
            .post("/lexecon/decide", Some(&token), decide)
            .await
            .status(),
        200
    );
    server.stop().await;
    orrery_tests::drop_postgres_database(&url).await;
}

/// Reads one HTTP/1.1 response (head and a Content-Length body) from `stream`; `None` when
/// the server closed the connection first.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Option<(u16, String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some((status, head, buffer[head_end..head_end + length].to_vec()))
}

#[tokio::test]
async fn a_client_sending_headers_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::with(|c| c.http.header_read_timeout_secs = 1).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the connection is still held after 5 s");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn keep_alive_survives_responses_sent_before_the_body_was_read() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start().await;
    let body = "{\"padding\":\"".to_string() + &"x".repeat(20_000) + "\"}";
    let cases = [
        ("POST", "/lunaos/no-such-route", None),
        ("PUT", "/lunaos/auth/login", None),
        ("POST", "/nowhere", None),
        ("POST", "/lunaos/api-keys", Some("Bearer lnos_live_bad")),
    ];
    for (method, path, auth) in cases {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let (status, head, _) = read_response(&mut stream).await.expect("a response");
        assert!((400..500).contains(&status), "{method} {path}: {status}");
        if head.contains("connection: close") {
            continue;
        }
        // Otherwise the connection must still serve the next request.
        stream
            .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let next = read_response(&mut stream).await;
        assert_eq!(
            next.map(|r| r.0),
            Some(200),
            "{method} {path}: the next request on the connection failed"
        );
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn mutations_are_refused_over_get() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("get")).await;
    let query = "mutation%20%7B%20createApiKey(input:%20%7B%20name:%20%22x%22%20%7D)%20%7B%20secret%20%7D%20%7D";
    let response = server
        .get(&format!("/graphql?query={query}"), Some(&token))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("POST"));
    let keys = server.get("/lunaos/api-keys", Some(&token)).await;
    let keys: Value = keys.json().await.unwrap();
    assert_eq!(keys["data"]["total"], 0, "no key was created: {keys}");
}

/// The close code the server ends `socket` with (waiting up to 5 s).
async fn close_code(socket: &mut super::subscriptions::Socket) -> Option<u16> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline.into(), socket.next()).await
    {
        if let Message::Close(frame) = message {
            return frame.map(|f| u16::from(f.code));
        }
    }
    None
}

#[tokio::test]
async fn websocket_protocol_violations_close_with_their_codes() {
    let server = TestServer::with(|c| {
        c.graphql.ws_init_timeout_secs = 1;
        c.graphql.max_subscriptions_per_socket = 3;
    })
    .await;
    let subscribe = |id: &str| json!({ "id": id, "type": "subscribe", "payload": { "query": "subscription { ledgerAppended { seq } }" } });

    let mut idle = connect(&server, "/graphql", "graphql-transport-ws").await;
    let started = std::time::Instant::now();
    assert_eq!(
        close_code(&mut idle).await,
        Some(4408),
        "no connection_init in time"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    let mut early = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut early, subscribe("1")).await;
    assert_eq!(
        close_code(&mut early).await,
        Some(4401),
        "subscribe before init"
    );

    let mut unknown = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut unknown, json!({ "type": "bogus" })).await;
    assert_eq!(
        close_code(&mut unknown).await,
        Some(4400),
        "unknown message"
    );

    let admin = server.admin().await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {admin}") } });
    let mut duplicate = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut duplicate, init.clone()).await;
    assert_eq!(next(&mut duplicate).await["type"], "connection_ack");
    send(&mut duplicate, subscribe("1")).await;
    send(&mut duplicate, subscribe("1")).await;
    assert_eq!(close_code(&mut duplicate).await, Some(4409), "duplicate id");

    let mut capped = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut capped, init).await;
    assert_eq!(next(&mut capped).await["type"], "connection_ack");
    for id in ["1", "2", "3", "4"] {
        send(&mut capped, subscribe(id)).await;
    }
    let refused = next(&mut capped).await;
    assert_eq!(refused["id"], "4", "{refused}");
    assert_eq!(refused["type"], "error");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    send(&mut capped, json!({ "id": "1", "type": "complete" })).await;
    send(&mut capped, subscribe("5")).await;
    // The fifth runs: ledger entries reach the running subscriptions.
    let mut delivered = json!(null);
    for _ in 0..3 {
        delivered = super::subscriptions::first_event(&mut capped, || async {
            server.sign_up(&orrery_tests::unique_email("ws")).await;
        })
        .await;
        // The server confirms the completed subscription first.
        if delivered["type"] != "complete" {
            break;
        }
    }
    assert_eq!(delivered["type"], "next", "{delivered}");

    let mut big = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(
        &mut big,
        json!({ "type": "connection_init", "payload": { "pad": "x".repeat(70_000) } }),
    )
    .await;
    assert_eq!(close_code(&mut big).await, Some(1009), "oversize message");
    still_serving(&server).await;
}

#[tokio::test]
async fn websockets_per_account_are_capped_and_init_only_once() {
    let server = TestServer::with(|c| c.graphql.max_sockets_per_principal = 2).await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("sockets")).await;
    let (key, _) = server.create_key(&token).await;
    // One account's sockets count together, whichever credential opened them.
    let inits = [
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
        json!({ "type": "connection_init", "payload": { "apiKey": key } }),
    ];
    let mut open = Vec::new();
    for init in &inits {
        let mut socket = connect(&server, "/graphql", "graphql-transport-ws").await;
        send(&mut socket, init.clone()).await;
        assert_eq!(next(&mut socket).await["type"], "connection_ack");
        open.push(socket);
    }
    let mut third = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut third, inits[0].clone()).await;
    assert_eq!(close_code(&mut third).await, Some(4429), "third socket");

    // A second connection_init on an open socket.
    send(&mut open[0], inits[0].clone()).await;
    assert_eq!(close_code(&mut open[0]).await, Some(4429), "second init");
    // That socket's slot is free again.
    let mut again = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut again, inits[0].clone()).await;
    assert_eq!(next(&mut again).await["type"], "connection_ack");
    still_serving(&server).await;
}

/// async-graphql's WebSocket polled every subscription whenever one woke: one event to
/// 10 000 subscriptions on a socket took 13.6 s of CPU. Now each wake polls one stream.
#[tokio::test]
async fn one_event_reaches_ten_thousand_subscriptions_on_a_socket_promptly() {
    const N: usize = 10_000;
    let server = TestServer::with(|c| {
        c.graphql.max_subscriptions_per_socket = N;
        c.rate_limit.free = 10_000_000;
        c.rate_limit.pro = 10_000_000;
        c.rate_limit.team = 10_000_000;
    })
    .await;
    let admin = server.admin().await;
    let mut socket = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {admin}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        for i in 0..N {
            let subscribe = json!({ "id": i.to_string(), "type": "subscribe", "payload": { "query": "subscription { ledgerAppended { seq } }" } });
            socket
                .feed(Message::Text(subscribe.to_string().into()))
                .await
                .unwrap();
        }
        socket.flush().await.unwrap();
    }
    // The server handles a socket's messages in order: the pong comes after every subscribe.
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await["type"], "pong");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let started = std::time::Instant::now();
    server.sign_up(&orrery_tests::unique_email("fanout")).await;
    let mut reached = std::collections::HashSet::new();
    while reached.len() < N {
        let message = next(&mut socket).await;
        assert_eq!(message["type"], "next", "{message}");
        reached.insert(message["id"].as_str().unwrap().to_string());
    }
    let took = started.elapsed();
    println!("one event to {N} subscriptions on one socket: {took:?}");
    // Generous for a loaded CI machine; the quadratic loop needed over 13 s.
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
    still_serving(&server).await;
}

/// hyper answered these itself, with no body at all.
#[tokio::test]
async fn oversized_request_lines_and_headers_get_each_apis_envelope() {
    let server = TestServer::start().await;
    let long = "a".repeat(40 * 1024);
    let cases = [
        ("/lunaos/health", "code", "validation_failed"),
        ("/lexecon/health", "error", "Invalid request"),
        ("/graphql", "errors", ""),
    ];
    for (path, key, value) in cases {
        let response = server
            .client
            .get(format!("{}?q={long}", server.url(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 414, "{path}");
        let body: Value = response.json().await.expect("a JSON envelope");
        assert!(body.get(key).is_some(), "{path}: {body}");
        if !value.is_empty() {
            assert_eq!(body[key], value, "{path}: {body}");
        }
    }
    let mut many = reqwest::header::HeaderMap::new();
    for i in 0..150 {
        many.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            "1".parse().unwrap(),
        );
    }
    let response = server
        .client
        .get(server.url("/lukhas/v1/health"))
        .headers(many)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    let body: Value = response.json().await.expect("a JSON envelope");
    assert!(body["error"]["code"].is_string(), "{body}");
    let response = server
        .client
        .get(server.url("/lumen/health"))
        .header("x-big", "v".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    let body: Value = response.json().await.expect("a JSON envelope");
    assert_eq!(body["code"], "INVALID_PARAMETER", "{body}");
    still_serving(&server).await;
}
