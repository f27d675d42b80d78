//! The OpenAPI documents list exactly what is served, and the committed schema files are fresh.

use std::path::PathBuf;

use orrery_tests::TestServer;
use serde_json::Value;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema")
}

#[tokio::test]
async fn committed_schema_files_are_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let app = orrery_api::build_app(orrery_tests::test_config(dir.path()))
        .await
        .unwrap();
    let files = orrery_api::openapi::generated_files(&app.dialects);
    let stale = orrery_api::openapi::stale_files(&schema_dir(), &files);
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `cargo run -p orrery-api -- schema export`"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let server = TestServer::start().await;
    for (dialect, prefix) in [
        ("lunaos", "/lunaos"),
        ("lukhas", "/lukhas/v1"),
        ("lumen", "/lumen"),
        ("lexecon", "/lexecon"),
        ("openai", "/v1"),
    ] {
        let doc: Value = server
            .get(&format!("{prefix}/openapi.json"), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(doc["servers"][0]["url"], prefix);
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            count,
            "operation ids of {dialect} are unique (SDK method names)"
        );
        let committed: Value = serde_json::from_str(
            &std::fs::read_to_string(schema_dir().join(format!("openapi/{dialect}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            doc, committed,
            "served {dialect} document equals the committed one"
        );
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                // Any path parameter gets a value that parses but names nothing.
                let concrete: String = path
                    .split('/')
                    .map(|segment| {
                        if segment.starts_with('{') {
                            "00000000-0000-0000-0000-000000000000"
                        } else {
                            segment
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let url = server.url(&format!("{prefix}{concrete}"));
                let response = server
                    .client
                    .request(method.to_uppercase().parse().unwrap(), url)
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let unrouted = status == 405
                    || body.to_string().contains("Route not found")
                    || body.to_string().contains("route not found");
                assert!(
                    !unrouted,
                    "{method} {prefix}{path} is documented but not served ({status} {body})"
                );
            }
        }
    }
    let all: Value = server
        .get("/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(all["paths"]
        .as_object()
        .unwrap()
        .contains_key("/lunaos/api-keys/{id}"));
}

/// Closed value sets are `enum`s in the served documents (SDKs type them as literal unions,
/// mock mode answers real values), and what the server sends is one of them.
#[tokio::test]
async fn closed_value_sets_are_enums_and_the_server_keeps_to_them() {
    let server = TestServer::start().await;
    let doc: Value = server
        .get("/lexecon/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let outcomes = schemas["Outcome"]["enum"]
        .as_array()
        .expect("Outcome is an enum");
    assert_eq!(
        schemas["DecisionResponse"]["properties"]["decision"]["$ref"],
        "#/components/schemas/Outcome"
    );
    assert!(schemas["EventType"]["enum"].as_array().unwrap().len() > 5);

    let admin = server.admin().await;
    let decided: Value = server
        .post(
            "/lexecon/decide",
            Some(&admin),
            serde_json::json!({ "actor": "model", "proposed_action": "Search", "tool": "web_search" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(outcomes.contains(&decided["decision"]), "{decided}");
    let ledger: Value = server
        .get("/lexecon/ledger?limit=100", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let event_types = schemas["EventType"]["enum"].as_array().unwrap();
    for entry in ledger["entries"].as_array().unwrap() {
        assert!(event_types.contains(&entry["event_type"]), "{entry}");
    }

    let luna: Value = server
        .get("/lunaos/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        luna["components"]["schemas"]["TierName"]["enum"],
        serde_json::json!(["free", "pro", "team"])
    );
}

/// A document offers credentials (Swagger UI's "Authorize") only when one of its operations
/// asks for them, and an operation documented without security answers without one.
#[tokio::test]
async fn security_schemes_only_where_operations_use_them() {
    let server = TestServer::start().await;
    for (doc, prefix, secured) in [
        ("/lumen/openapi.json", "/lumen", true),
        ("/lunaos/openapi.json", "/lunaos", true),
        ("/lexecon/openapi.json", "/lexecon", true),
    ] {
        let document: Value = server.get(doc, None).await.json().await.unwrap();
        let schemes = document["components"]["securitySchemes"]
            .as_object()
            .is_some_and(|s| !s.is_empty());
        assert_eq!(schemes, secured, "{doc}");
        for (path, item) in document["paths"].as_object().unwrap() {
            let Some(get) = item.get("get") else { continue };
            if get.get("security").is_none() && !path.contains('{') {
                let status = server.get(&format!("{prefix}{path}"), None).await.status();
                assert_ne!(status, 401, "{prefix}{path} is documented as public");
            }
        }
    }
}

/// Swagger UI and the SDKs' mock mode show the documents' examples: no string field of any
/// schema may be left without an example, an enum or a format (it would read "string").
#[tokio::test]
async fn every_string_field_has_a_realistic_example() {
    let server = TestServer::start().await;
    let mut bare = Vec::new();
    for doc in [
        "/lexecon/openapi.json",
        "/lukhas/v1/openapi.json",
        "/lumen/openapi.json",
        "/lunaos/openapi.json",
        "/v1/openapi.json",
    ] {
        let document: Value = server.get(doc, None).await.json().await.unwrap();
        for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
            let Some(properties) = schema["properties"].as_object() else {
                continue;
            };
            for (field, property) in properties {
                let types = match &property["type"] {
                    Value::String(t) => vec![t.clone()],
                    Value::Array(ts) => ts
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect(),
                    _ => vec![],
                };
                let described = ["example", "examples", "enum", "format"]
                    .iter()
                    .any(|k| property.get(*k).is_some());
                if types.iter().any(|t| t == "string") && !described {
                    bare.push(format!("{doc} {name}.{field}"));
                }
            }
        }
    }
    assert!(
        bare.is_empty(),
        "string fields without an example: {bare:#?}"
    );
}

/// Request ids and clocks differ per answer, and LunaOS's `detail` exists only in development
/// mode (the test servers'); everything else of a documented error example must be what the
/// server says.
fn without_volatile(mut body: Value) -> Value {
    if let Value::Object(object) = &mut body {
        for key in ["request_id", "requestId", "trace_id", "timestamp", "detail"] {
            object.remove(key);
        }
        for value in object.values_mut() {
            *value = without_volatile(value.take());
        }
    }
    body
}

/// Every operation shows a request example (when it takes a body), a success example and an
/// example per error status — and the error examples are what the server really answers:
/// an anonymous call to a secured operation gets the documented 401 body, and the documented
/// request example without the field the 400 example names gets the documented 400 body.
#[tokio::test]
async fn every_operation_has_examples_and_error_examples_are_what_the_server_says() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (key, _) = server.create_key(&admin).await;
    let mut missing = Vec::new();
    let mut checked = 0;
    for (doc, prefix) in [
        ("/lexecon/openapi.json", "/lexecon"),
        ("/lukhas/v1/openapi.json", "/lukhas/v1"),
        ("/lumen/openapi.json", "/lumen"),
        ("/lunaos/openapi.json", "/lunaos"),
        ("/v1/openapi.json", "/v1"),
    ] {
        let document: Value = server.get(doc, None).await.json().await.unwrap();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let name = format!("{method} {prefix}{path}");
                let json = |v: &Value| v["content"]["application/json"].clone();
                let body = json(&op["requestBody"]);
                if !body.is_null() && body.get("example").is_none() {
                    missing.push(format!("{name} request"));
                }
                for (status, response) in op["responses"].as_object().unwrap() {
                    let content = json(response);
                    if !content.is_null() && content.get("example").is_none() {
                        missing.push(format!("{name} {status}"));
                    }
                }
                let url = server.url(&format!("{prefix}{path}").replace(['{', '}'], ""));
                let client = reqwest::Client::new();
                let request = |credential: Option<&str>, payload: Option<Value>| {
                    let mut request = client.request(method.to_uppercase().parse().unwrap(), &url);
                    if let Some(credential) = credential {
                        request = request.bearer_auth(credential);
                    }
                    if let Some(payload) = payload {
                        request = request.json(&payload);
                    }
                    request.send()
                };
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                if secured {
                    let expected = json(&op["responses"]["401"])["example"].clone();
                    let answer = request(
                        None,
                        body["example"].as_object().map(|_| body["example"].clone()),
                    )
                    .await
                    .unwrap();
                    assert_eq!(answer.status(), 401, "{name}");
                    let got: Value = answer.json().await.unwrap();
                    assert_eq!(
                        without_volatile(got),
                        without_volatile(expected),
                        "{name} 401"
                    );
                    checked += 1;
                }
                let expected_400 = json(&op["responses"]["400"])["example"].clone();
                let field = expected_400
                    .to_string()
                    .split("Missing required field: ")
                    .nth(1)
                    .map(|rest| rest.split('"').next().unwrap().to_string());
                if let (Some(field), Some(example)) = (field, body["example"].as_object()) {
                    let mut payload = example.clone();
                    payload.remove(&field);
                    let answer = request(Some(&key), Some(Value::Object(payload)))
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), 400, "{name} without {field}");
                    let got: Value = answer.json().await.unwrap();
                    assert_eq!(
                        without_volatile(got),
                        without_volatile(expected_400),
                        "{name} 400"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without examples: {missing:#?}"
    );
    assert!(checked > 20, "only {checked} error examples were checked");
}

/// The combined document (`/openapi.json`) merges every dialect's components by name: two
/// dialects naming different schemas alike would make one of them wrong there.
#[tokio::test]
async fn component_names_mean_one_schema_across_dialects() {
    let server = TestServer::start().await;
    let mut seen: std::collections::BTreeMap<String, (String, Value)> = Default::default();
    for doc in [
        "/lexecon/openapi.json",
        "/lukhas/v1/openapi.json",
        "/lumen/openapi.json",
        "/lunaos/openapi.json",
        "/v1/openapi.json",
    ] {
        let document: Value = server.get(doc, None).await.json().await.unwrap();
        for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
            if let Some((first, earlier)) = seen.get(name) {
                assert_eq!(earlier, schema, "{name} differs between {first} and {doc}");
            } else {
                seen.insert(name.clone(), (doc.to_string(), schema.clone()));
            }
        }
    }
}
