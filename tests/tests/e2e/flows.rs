//! Flows run unchanged against SQLite and PostgreSQL.

use orrery_tests::{unique_email, TestServer, PASSWORD};
use serde_json::{json, Value};

pub async fn lunaos_signup_login_me(server: &TestServer) {
    let email = unique_email("Luna");
    let (token, _, id) = server.sign_up(&email).await;

    let again = server
        .post(
            "/lunaos/auth/signup",
            None,
            json!({ "email": email.to_uppercase(), "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        again.status(),
        409,
        "email is normalized before the uniqueness check"
    );
    let body: Value = again.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": "Email already registered", "code": "conflict" })
    );

    let login = server
        .post(
            "/lunaos/auth/login",
            None,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    assert_eq!(login["data"]["user"]["id"], id.as_str());
    assert_eq!(login["data"]["user"]["tier"], "free");

    let me: Value = server
        .get("/lunaos/auth/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["email"], email.to_lowercase());
    assert_eq!(me["data"]["id"], id.as_str());
    assert_eq!(me["data"]["name"], "Test");

    for (mail, password) in [
        (email.as_str(), "wrong password"),
        ("nobody@example.com", PASSWORD),
    ] {
        let bad = server
            .post(
                "/lunaos/auth/login",
                None,
                json!({ "email": mail, "password": password }),
            )
            .await;
        assert_eq!(bad.status(), 401);
        let body: Value = bad.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "error": "Invalid email or password", "code": "unauthorized" })
        );
    }

    let anonymous = server.get("/lunaos/auth/me", None).await;
    assert_eq!(anonymous.status(), 401);
    let garbage = server.get("/lunaos/auth/me", Some("not-a-token")).await;
    assert_eq!(garbage.status(), 401);
}

pub async fn lukhas_token_and_refresh(server: &TestServer) {
    let email = unique_email("lukhas");
    server.sign_up(&email).await;
    let token = server
        .post(
            "/lukhas/v1/auth/token",
            None,
            json!({ "username": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 3600);
    let refresh = token["refresh_token"].as_str().unwrap();

    let refreshed = server
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(refreshed["expires_in"], 3600);
    assert_ne!(refreshed["refresh_token"], refresh, "refresh tokens rotate");
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        server.get("/lunaos/auth/me", Some(access)).await.status(),
        200
    );

    let biometric = server
        .post(
            "/lukhas/v1/auth/token",
            None,
            json!({ "username": email, "password": PASSWORD, "biometric_data": "aGVsbG8=" }),
        )
        .await;
    assert_eq!(
        biometric.status(),
        400,
        "no fake biometrics: only a WebAuthn assertion"
    );
    let body: Value = biometric.json().await.unwrap();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("biometric_data"));
}

pub async fn refresh_reuse_revokes_family(server: &TestServer) {
    let email = unique_email("reuse");
    let (access, first_refresh, _) = server.sign_up(&email).await;
    let rotated: Value = server
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": first_refresh }),
        )
        .await
        .json()
        .await
        .unwrap();
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_string();
    let second_access = rotated["access_token"].as_str().unwrap().to_string();

    // An attacker replays the spent token: refused, and the whole family dies.
    let replay = server
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": first_refresh }),
        )
        .await;
    assert_eq!(replay.status(), 401);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");

    let legit = server
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": second_refresh }),
        )
        .await;
    assert_eq!(
        legit.status(),
        401,
        "the rotated token of the same family is revoked too"
    );
    for token in [&access, &second_access] {
        assert_eq!(
            server.get("/lunaos/auth/me", Some(token)).await.status(),
            401,
            "access tokens of the family stop working at once"
        );
    }

    // Other logins of the same user are untouched.
    let other = server
        .post(
            "/lunaos/auth/login",
            None,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    let other: Value = other.json().await.unwrap();
    let other_token = other["data"]["token"].as_str().unwrap();
    assert_eq!(
        server
            .get("/lunaos/auth/me", Some(other_token))
            .await
            .status(),
        200
    );
}

pub async fn api_key_lifecycle(server: &TestServer) {
    let (token, _, user_id) = server.sign_up(&unique_email("keys")).await;
    let created = server
        .post("/lunaos/api-keys", Some(&token), json!({ "name": "ci" }))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let key = created["data"]["key"].as_str().unwrap().to_string();
    let key_id = created["data"]["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("lnos_live_"));
    assert!(key.starts_with(created["data"]["prefix"].as_str().unwrap()));
    assert_eq!(created["data"]["name"], "ci");
    assert!(created["data"]["warning"]
        .as_str()
        .unwrap()
        .contains("not be shown again"));

    let via_bearer: Value = server
        .get("/lunaos/auth/me", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(via_bearer["data"]["id"], user_id.as_str());
    let via_header = server
        .client
        .get(server.url("/lunaos/auth/me"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), 200);

    let listed: Value = server
        .get("/lunaos/api-keys", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"]["total"], 1);
    let entry = &listed["data"]["keys"][0];
    assert_eq!(entry["id"], key_id.as_str());
    assert_eq!(entry["isActive"], true);
    assert!(entry.get("key").is_none(), "the full key is never listed");
    assert!(!listed.to_string().contains(&key));

    // A key whose checksum does not match is refused without a lookup.
    let mut tampered = key.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        server
            .get("/lunaos/auth/me", Some(&tampered))
            .await
            .status(),
        401
    );

    let revoked = server
        .delete(&format!("/lunaos/api-keys/{key_id}"), &token)
        .await;
    assert_eq!(revoked.status(), 200);
    let revoked: Value = revoked.json().await.unwrap();
    assert_eq!(
        revoked,
        json!({ "data": { "message": "API key revoked", "id": key_id } })
    );
    assert_eq!(
        server.get("/lunaos/auth/me", Some(&key)).await.status(),
        401,
        "revocation is immediate"
    );
    let again = server
        .delete(&format!("/lunaos/api-keys/{key_id}"), &token)
        .await;
    assert_eq!(again.status(), 404, "a revoked key is not found");

    let listed: Value = server
        .get("/lunaos/api-keys", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"]["keys"][0]["isActive"], false);
    assert!(listed["data"]["keys"][0]["revokedAt"].is_string());
}

pub async fn keys_are_private(server: &TestServer) {
    let (alice, _, _) = server.sign_up(&unique_email("alice")).await;
    let (bob, _, _) = server.sign_up(&unique_email("bob")).await;
    let (alice_key, alice_key_id) = server.create_key(&alice).await;

    let attempt = server
        .delete(&format!("/lunaos/api-keys/{alice_key_id}"), &bob)
        .await;
    assert_eq!(attempt.status(), 404, "another user's key is 'not found'");
    let body: Value = attempt.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(
        server
            .get("/lunaos/auth/me", Some(&alice_key))
            .await
            .status(),
        200,
        "no side effect"
    );

    let bobs: Value = server
        .get("/lunaos/api-keys", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["data"]["total"], 0);
    let alices: Value = server
        .get("/lunaos/api-keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alices["data"]["keys"][0]["isActive"], true);
}

pub async fn graphql_auth_flow(server: &TestServer) {
    let email = unique_email("gql");
    let signed: Value = server
        .graphql(
            None,
            "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken expiresIn viewer { email tier } userErrors { field code message } } }",
            json!({ "input": { "email": email, "password": PASSWORD } }),
        )
        .await;
    let payload = &signed["data"]["signUp"];
    assert_eq!(payload["userErrors"], json!([]), "{signed}");
    assert_eq!(payload["viewer"]["email"], email.to_lowercase());
    assert_eq!(payload["viewer"]["tier"], "FREE");
    let refresh = payload["refreshToken"].as_str().unwrap();

    let logged: Value = server
        .graphql(
            None,
            "mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { code } } }",
            json!({ "input": { "email": email, "password": PASSWORD } }),
        )
        .await;
    let access = logged["data"]["logIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();

    let viewer: Value = server
        .graphql(Some(&access), "{ viewer { id email } }", json!({}))
        .await;
    assert_eq!(viewer["data"]["viewer"]["email"], email.to_lowercase());

    let refreshed: Value = server
        .graphql(
            None,
            "mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken refreshToken userErrors { code } } }",
            json!({ "t": refresh }),
        )
        .await;
    assert!(
        refreshed["data"]["refreshToken"]["accessToken"].is_string(),
        "{refreshed}"
    );
    let reused: Value = server
        .graphql(
            None,
            "mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken userErrors { code } } }",
            json!({ "t": refresh }),
        )
        .await;
    assert_eq!(reused["data"]["refreshToken"]["accessToken"], Value::Null);
    assert_eq!(
        reused["data"]["refreshToken"]["userErrors"][0]["code"],
        "INVALID_CREDENTIALS"
    );
}
