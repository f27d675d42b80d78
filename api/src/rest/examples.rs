//! Media-type examples for every operation of a dialect's document: the request body and
//! the success response composed from the schemas' field examples (the same composition the
//! SDKs' mock mode uses), and one error body per documented status rendered by the dialect's
//! own error renderer, so Swagger UI and mock mode show exactly what the server answers.

use futures::FutureExt;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi, RefOr};

use crate::error::{DomainError, RateLimitInfo};
use crate::http::dialect::Dialect;

pub(crate) fn add_examples<D: Dialect>(openapi: &mut OpenApi) {
    let doc = serde_json::to_value(&*openapi).expect("OpenAPI documents serialize");
    for (path, item) in openapi.paths.paths.iter_mut() {
        let methods = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in methods {
            let Some(operation) = operation else { continue };
            let described = &doc["paths"][path.as_str()][method];
            add_to_operation::<D>(&doc, path, described, operation);
        }
    }
}

fn add_to_operation<D: Dialect>(doc: &Value, path: &str, described: &Value, op: &mut Operation) {
    if let Some(body) = op.request_body.as_mut() {
        for (media, content) in body.content.iter_mut() {
            let schema = &described["requestBody"]["content"][media.as_str()]["schema"];
            fill(content, || orrery_sdk_gen::mock::example(doc, schema));
        }
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        for (media, content) in response.content.iter_mut() {
            let schema =
                &described["responses"][status.as_str()]["content"][media.as_str()]["schema"];
            let error_body = D::ERROR_SCHEMA.is_some_and(|name| {
                schema["$ref"].as_str() == Some(&format!("#/components/schemas/{name}"))
            });
            match representative_error(status, path, doc, described) {
                Some(err) if error_body => fill(content, || rendered::<D>(&err)),
                // Bodies that are not errors (a degraded health report's 503) and statuses
                // without a typical cause show their schema's example.
                _ => fill(content, || orrery_sdk_gen::mock::example(doc, schema)),
            }
        }
    }
}

fn fill(content: &mut Content, example: impl FnOnce() -> Value) {
    if content.example.is_none() && content.examples.is_empty() {
        let example = example();
        if !example.is_null() {
            content.example = Some(example);
        }
    }
}

/// The body `D` answers `err` with.
fn rendered<D: Dialect>(err: &DomainError) -> Value {
    let response =
        crate::http::request_id::as_request("req_4f9c2b7e1d8a4c3b9e6f0a2d5c7b8e1f", || {
            D::render(err)
        });
    // Rendered bodies are complete buffers: the future is ready at once.
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .now_or_never()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    fix_clocks(&mut body);
    body
}

/// Error bodies carry the time they were made; a document must be the same on every build.
fn fix_clocks(value: &mut Value) {
    if let Value::Object(object) = value {
        for (key, value) in object.iter_mut() {
            if key == "timestamp" && value.is_string() {
                *value = Value::from("2026-01-01T00:00:00Z");
            } else {
                fix_clocks(value);
            }
        }
    }
}

/// What a client typically gets with `status` on this operation.
fn representative_error(status: &str, path: &str, doc: &Value, op: &Value) -> Option<DomainError> {
    Some(match status {
        "400" => invalid_input(doc, op),
        "401" => DomainError::Unauthenticated(crate::http::dialect::AUTHENTICATION_REQUIRED.into()),
        "403" => DomainError::Forbidden("this credential may not do this".into()),
        "404" => DomainError::NotFound(resource_name(path)),
        "409" => DomainError::Conflict("the resource is not in a state that allows this".into()),
        "413" => DomainError::PayloadTooLarge,
        "429" => DomainError::RateLimited(RateLimitInfo {
            limit: 60,
            remaining: 0,
            reset_after: std::time::Duration::from_secs(30),
            retry_after: std::time::Duration::from_secs(2),
        }),
        "422" => DomainError::Unprocessable(
            "the model's output does not validate against the schema `verdict` after one repair: $.verdict: must be one of [\"allow\",\"deny\"]".into(),
        ),
        "502" => DomainError::Upstream(
            "provider ollama: cannot reach http://127.0.0.1:11434/v1/chat/completions: Connection refused (os error 111)".into(),
        ),
        "503" => DomainError::Unavailable("the database is unavailable; retry shortly".into()),
        "500" => DomainError::Internal(String::new()),
        _ => return None,
    })
}

/// A missing required body field when there is one (what the body parser says), else a bad
/// parameter, else malformed JSON.
fn invalid_input(doc: &Value, op: &Value) -> DomainError {
    let schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
    let schema = match schema["$ref"].as_str() {
        Some(reference) => doc["components"]["schemas"]
            [reference.trim_start_matches("#/components/schemas/")]
        .clone(),
        None => schema,
    };
    if let Some(field) = schema["required"].get(0).and_then(Value::as_str) {
        return DomainError::Invalid {
            field: Some(field.into()),
            message: format!("Missing required field: {field}"),
        };
    }
    if let Some(param) = op["parameters"].get(0).and_then(|p| p["name"].as_str()) {
        return DomainError::Invalid {
            field: Some(param.into()),
            message: format!("{param}: invalid value"),
        };
    }
    DomainError::Malformed {
        message: "malformed JSON: EOF while parsing a value".into(),
    }
}

/// `/reviews/{review_id}/approve` → `review`; the last literal segment otherwise.
fn resource_name(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let param = segments
        .iter()
        .rev()
        .find_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')));
    let name = match param {
        Some(param) => param
            .trim_end_matches("_id")
            .trim_end_matches("Id")
            .trim_end_matches("_name")
            .to_string(),
        None => segments.last().map_or_else(String::new, |s| singular(s)),
    };
    if name.is_empty() {
        "resource".into()
    } else {
        name.replace('_', " ")
    }
}

fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else {
        word.strip_suffix('s').unwrap_or(word).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::resource_name;

    #[test]
    fn resources_are_named_from_the_path() {
        assert_eq!(resource_name("/reviews/{review_id}/approve"), "review");
        assert_eq!(resource_name("/memory/recall/{memory_id}"), "memory");
        assert_eq!(resource_name("/api-keys/{keyId}"), "key");
        assert_eq!(resource_name("/policies"), "policy");
    }
}
