//! Passkeys: WebAuthn ceremonies against a real server, with webauthn-rs's own software
//! authenticator (`SoftPasskey`) playing the user's device and the browser's client data.
//! Registration, a password + passkey login whose tokens say `mfa`, the constellation
//! login that raises a session, and the refusals: a wrong origin, a replayed assertion, an
//! unknown credential, a counter that did not advance, and what is no assertion at all.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use orrery_tests::{unique_email, TestServer, PASSWORD};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use url::Url;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const ORIGIN: &str = "http://localhost:8443";

async fn server() -> TestServer {
    TestServer::with(|c| {
        c.auth.webauthn_rp_id = "localhost".into();
        c.auth.webauthn_origins = vec![ORIGIN.into()];
    })
    .await
}

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    body
}

/// Registers a passkey held by `device` for the account behind `token`.
async fn register(server: &TestServer, token: &str, device: &mut SoftPasskey, name: &str) -> Value {
    let begun = json_of(
        server
            .post(
                "/lukhas/v1/auth/passkeys/register/begin",
                Some(token),
                json!({}),
            )
            .await,
        200,
    )
    .await;
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": begun["publicKey"] })).unwrap();
    let credential = device
        .do_registration(origin(), options)
        .expect("the authenticator registers");
    json_of(
        server
            .post(
                "/lukhas/v1/auth/passkeys/register/complete",
                Some(token),
                json!({ "credential": credential, "name": name }),
            )
            .await,
        201,
    )
    .await
}

async fn challenge(server: &TestServer, email: &str) -> Value {
    json_of(
        server
            .post(
                "/lukhas/v1/auth/passkeys/authenticate/begin",
                None,
                json!({ "username": email }),
            )
            .await,
        200,
    )
    .await
}

/// The assertion `device` makes for `options` at `at`, as `biometric_data` (base64 JSON).
fn assert_with(device: &mut SoftPasskey, options: &Value, at: Url) -> String {
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": options["publicKey"] })).unwrap();
    let assertion = device
        .do_authentication(at, options)
        .expect("the authenticator signs");
    STANDARD.encode(serde_json::to_vec(&assertion).unwrap())
}

async fn token_login(
    server: &TestServer,
    email: &str,
    password: &str,
    biometric: &str,
) -> reqwest::Response {
    server
        .post(
            "/lukhas/v1/auth/token",
            None,
            json!({ "username": email, "password": password, "biometric_data": biometric }),
        )
        .await
}

fn amr(token: &str) -> Vec<String> {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    serde_json::from_value(claims["amr"].clone()).unwrap_or_default()
}

async fn lambda_id(server: &TestServer, token: &str) -> String {
    let answer = server
        .graphql(Some(token), "{ viewer { lambdaId } }", json!({}))
        .await;
    answer["data"]["viewer"]["lambdaId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_registered_passkey_is_a_second_factor_the_tokens_carry() {
    let server = server().await;
    let email = unique_email("passkey");
    let (token, _, _) = server.sign_up(&email).await;
    let mut device = SoftPasskey::new(true);

    let passkey = register(&server, &token, &mut device, "Laptop").await;
    assert_eq!(passkey["name"], "Laptop");
    assert_eq!(passkey["counter"], 0);
    let listed = json_of(
        server.get("/lukhas/v1/auth/passkeys", Some(&token)).await,
        200,
    )
    .await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["passkeys"][0]["passkey_id"], passkey["passkey_id"]);

    // Password and passkey: the session's tokens say both, and a refresh keeps them.
    let options = challenge(&server, &email).await;
    let biometric = assert_with(&mut device, &options, origin());
    let login = json_of(
        token_login(&server, &email, PASSWORD, &biometric).await,
        200,
    )
    .await;
    let access = login["access_token"].as_str().unwrap();
    assert_eq!(amr(access), ["pwd", "hwk", "mfa"]);
    let refreshed = json_of(
        server
            .post(
                "/lukhas/v1/auth/refresh",
                None,
                json!({ "refresh_token": login["refresh_token"] }),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(
        amr(refreshed["access_token"].as_str().unwrap()),
        ["pwd", "hwk", "mfa"]
    );
    let listed = json_of(
        server.get("/lukhas/v1/auth/passkeys", Some(access)).await,
        200,
    )
    .await;
    assert_eq!(
        listed["passkeys"][0]["counter"], 1,
        "the counter advanced: {listed}"
    );
    assert!(listed["passkeys"][0]["last_used_at"].is_string());

    // The same assertion again: its challenge was answered.
    let replay = json_of(
        token_login(&server, &email, PASSWORD, &biometric).await,
        401,
    )
    .await;
    assert_eq!(replay["error"]["code"], "INVALID_TOKEN");

    // The constellation login raises a password session with a new assertion.
    let password_session = server.log_in(&email).await;
    assert_eq!(amr(&password_session), ["pwd"]);
    let lambda = lambda_id(&server, &password_session).await;
    let plain = json_of(
        server
            .post(
                "/lukhas/v1/constellation/identity/authenticate",
                Some(&password_session),
                json!({ "lambda_id": lambda }),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(
        plain["authentication_result"]["factors"],
        json!(["password"])
    );
    assert_eq!(plain["authentication_result"]["assurance_level"], 1);
    assert_eq!(
        plain["authentication_result"]["biometric_match"],
        Value::Null
    );
    assert_eq!(plain["authentication_result"]["tier_granted"], "ΛBASIC");
    assert_eq!(
        plain["access_permissions"]["matriz_pipeline"],
        "full_access"
    );
    assert_eq!(
        plain["access_permissions"]["registry_operations"],
        "read_write"
    );
    assert_eq!(plain["access_permissions"]["guardian_override"], false);
    assert_eq!(
        plain["session_metadata"]["t4_compliance_verified"], false,
        "no report ran"
    );

    let options = challenge(&server, &email).await;
    let raised = json_of(
        server
            .post(
                "/lukhas/v1/constellation/identity/authenticate",
                Some(&password_session),
                json!({
                    "lambda_id": lambda,
                    "biometric_data": assert_with(&mut device, &options, origin()),
                    "authentication_context": {"session_id": "session456", "requested_tier": "ΛPRIME", "constellation_context": true}
                }),
            )
            .await,
        200,
    )
    .await;
    let result = &raised["authentication_result"];
    assert_eq!(result["factors"], json!(["password", "passkey"]));
    assert_eq!(result["assurance_level"], 2);
    assert_eq!(result["biometric_match"], 1.0);
    assert_eq!(result["lambda_id_verified"], true);
    assert_eq!(
        result["status"], "tier_limited",
        "a free account asked for ΛPRIME"
    );
    assert_eq!(result["tier_granted"], "ΛBASIC");
    let constellation = raised["constellation_token"].as_str().unwrap();
    assert_eq!(amr(constellation), ["pwd", "hwk", "mfa"]);
    let me = server.get("/lunaos/auth/me", Some(constellation)).await;
    assert_eq!(
        me.status(),
        200,
        "the constellation token is a working bearer"
    );

    // Someone else's Lambda ID is refused; so is an API key (it has no session).
    let other = server.sign_up(&unique_email("other")).await.0;
    let theirs = lambda_id(&server, &other).await;
    let refused = server
        .post(
            "/lukhas/v1/constellation/identity/authenticate",
            Some(&password_session),
            json!({ "lambda_id": theirs }),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let (key, _) = server.create_key(&token).await;
    let by_key = server
        .post(
            "/lukhas/v1/constellation/identity/authenticate",
            Some(&key),
            json!({ "lambda_id": lambda }),
        )
        .await;
    assert_eq!(by_key.status(), 403);
    server.stop().await;
}

#[tokio::test]
async fn assertions_that_should_not_verify_do_not() {
    let server = server().await;
    let email = unique_email("passkey-refusals");
    let (token, _, user_id) = server.sign_up(&email).await;
    let mut device = SoftPasskey::new(true);
    let mine = register(&server, &token, &mut device, "").await;
    assert_eq!(mine["name"], "Passkey 1", "the default name");

    // Not an assertion at all: 400, whatever the password.
    for junk in ["base64_encoded_biometric", "", "{\"id\": 1}"] {
        let body = json_of(token_login(&server, &email, PASSWORD, junk).await, 400).await;
        assert_eq!(
            body["error"]["code"], "VALIDATION_ERROR",
            "{junk:?}: {body}"
        );
    }

    // Signed for another origin than the relying party's.
    let options = challenge(&server, &email).await;
    let elsewhere = assert_with(
        &mut device,
        &options,
        Url::parse("http://localhost:9999").unwrap(),
    );
    let body = json_of(
        token_login(&server, &email, PASSWORD, &elsewhere).await,
        401,
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("passkey not verified"),
        "{body}"
    );

    // A valid assertion does not rescue a wrong password.
    let options = challenge(&server, &email).await;
    let valid = assert_with(&mut device, &options, origin());
    json_of(
        token_login(&server, &email, "not the password", &valid).await,
        401,
    )
    .await;

    // A credential registered to another account, offered for this one.
    let (other_token, _, _) = server.sign_up(&unique_email("passkey-thief")).await;
    let mut other_device = SoftPasskey::new(true);
    let theirs = register(&server, &other_token, &mut other_device, "Theirs").await;
    let mut options = challenge(&server, &email).await;
    options["publicKey"]["allowCredentials"] =
        json!([{ "type": "public-key", "id": theirs["credential_id"] }]);
    let foreign = assert_with(&mut other_device, &options, origin());
    json_of(token_login(&server, &email, PASSWORD, &foreign).await, 401).await;

    // A counter that did not move past the stored one: a cloned authenticator.
    let db = server.database().await;
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!("UPDATE passkeys SET counter = 1000 WHERE user_id = '{user_id}'"),
    ))
    .await
    .unwrap();
    let options = challenge(&server, &email).await;
    let cloned = assert_with(&mut device, &options, origin());
    let body = json_of(token_login(&server, &email, PASSWORD, &cloned).await, 401).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not advance"),
        "{body}"
    );

    // BOLA: another account's passkey is not found; the owner deletes it.
    let stolen = server
        .delete(
            &format!(
                "/lukhas/v1/auth/passkeys/{}",
                mine["passkey_id"].as_str().unwrap()
            ),
            &other_token,
        )
        .await;
    assert_eq!(stolen.status(), 404);
    let deleted = server
        .delete(
            &format!(
                "/lukhas/v1/auth/passkeys/{}",
                mine["passkey_id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(deleted.status(), 200);

    // An account without passkeys and an unknown address answer alike.
    let none = json_of(
        server
            .post(
                "/lukhas/v1/auth/passkeys/authenticate/begin",
                None,
                json!({ "username": email }),
            )
            .await,
        404,
    )
    .await;
    let unknown = json_of(
        server
            .post(
                "/lukhas/v1/auth/passkeys/authenticate/begin",
                None,
                json!({ "username": "nobody@example.com" }),
            )
            .await,
        404,
    )
    .await;
    assert_eq!(none["error"]["message"], unknown["error"]["message"]);

    // API keys cannot register passkeys.
    let (key, _) = server.create_key(&token).await;
    let by_key = server
        .post(
            "/lukhas/v1/auth/passkeys/register/begin",
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(by_key.status(), 403);
    server.stop().await;
}

#[tokio::test]
async fn graphql_runs_the_ceremonies_and_the_constellation_login() {
    let server = server().await;
    let email = unique_email("passkey-graphql");
    let (token, _, _) = server.sign_up(&email).await;
    let mut device = SoftPasskey::new(true);

    let begun = server
        .graphql(
            Some(&token),
            "mutation { beginPasskeyRegistration { options expiresAt userErrors { code message } } }",
            json!({}),
        )
        .await;
    let options: CreationChallengeResponse =
        serde_json::from_value(begun["data"]["beginPasskeyRegistration"]["options"].clone())
            .unwrap_or_else(|e| panic!("{e}: {begun}"));
    let credential = device.do_registration(origin(), options).unwrap();
    let completed = server
        .graphql(
            Some(&token),
            "mutation($c: JSON!) { completePasskeyRegistration(input: {credential: $c, name: \"Phone\"}) { passkey { id name counter } userErrors { code message } } }",
            json!({ "c": credential }),
        )
        .await;
    assert_eq!(
        completed["data"]["completePasskeyRegistration"]["passkey"]["name"], "Phone",
        "{completed}"
    );
    let listed = server
        .graphql(Some(&token), "{ passkeys { name } }", json!({}))
        .await;
    assert_eq!(listed["data"]["passkeys"], json!([{ "name": "Phone" }]));

    let challenge_query = "mutation($e: String!) { beginPasskeyAuthentication(email: $e) { options userErrors { code } } }";
    let begun = server
        .graphql(None, challenge_query, json!({ "e": email }))
        .await;
    let options = begun["data"]["beginPasskeyAuthentication"]["options"].clone();
    let login = server
        .graphql(
            None,
            "mutation($e: String!, $p: String!, $a: String) { logIn(input: {email: $e, password: $p, passkeyAssertion: $a}) { accessToken userErrors { field code message } } }",
            json!({ "e": email, "p": PASSWORD, "a": assert_with(&mut device, &options, origin()) }),
        )
        .await;
    let access = login["data"]["logIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"));
    assert_eq!(amr(access), ["pwd", "hwk", "mfa"]);

    // A junk assertion is a user error on the field, not a failed request.
    let junk = server
        .graphql(
            None,
            "mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p, passkeyAssertion: \"nope\"}) { accessToken userErrors { field code } } }",
            json!({ "e": email, "p": PASSWORD }),
        )
        .await;
    assert_eq!(
        junk["data"]["logIn"]["userErrors"],
        json!([{ "field": "passkeyAssertion", "code": "BAD_USER_INPUT" }]),
        "{junk}"
    );

    let session = server.log_in(&email).await;
    let lambda = lambda_id(&server, &session).await;
    let begun = server
        .graphql(None, challenge_query, json!({ "e": email }))
        .await;
    let options = begun["data"]["beginPasskeyAuthentication"]["options"].clone();
    let raised = server
        .graphql(
            Some(&session),
            "mutation($l: String!, $a: String) { authenticateLambdaId(input: {lambdaId: $l, passkeyAssertion: $a}) { authentication { status tierGranted factors assuranceLevel passkeyVerified accessToken } userErrors { field code } } }",
            json!({ "l": lambda, "a": assert_with(&mut device, &options, origin()) }),
        )
        .await;
    let auth = &raised["data"]["authenticateLambdaId"]["authentication"];
    assert_eq!(auth["factors"], json!(["password", "passkey"]), "{raised}");
    assert_eq!(auth["assuranceLevel"], 2);
    assert_eq!(auth["passkeyVerified"], true);
    assert_eq!(
        amr(auth["accessToken"].as_str().unwrap()),
        ["pwd", "hwk", "mfa"]
    );

    // The same assertion again is an invalid credential on the field.
    let again = server
        .graphql(
            Some(&session),
            "mutation($l: String!, $a: String) { authenticateLambdaId(input: {lambdaId: $l, passkeyAssertion: $a}) { authentication { status } userErrors { field code } } }",
            json!({ "l": lambda, "a": assert_with(&mut device, &options, origin()) }),
        )
        .await;
    assert_eq!(
        again["data"]["authenticateLambdaId"]["userErrors"],
        json!([{ "field": "passkeyAssertion", "code": "INVALID_CREDENTIALS" }]),
        "{again}"
    );
    server.stop().await;
}
