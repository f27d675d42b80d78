//! The OpenAPI documents: one per dialect (generated from the routes it serves) and one for
//! all, and their export to `schema/`.

use std::path::Path;

use serde_json::{json, Value};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

use crate::rest::Dialects;

/// Every dialect's document merged, each path under its dialect's prefix.
pub fn combined(dialects: &Dialects) -> OpenApi {
    let info = InfoBuilder::new()
        .title("Orrery — all REST dialects")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Every REST dialect Orrery serves, each under its own prefix. The primary interface is GraphQL at /graphql.",
        ))
        .build();
    let mut all: OpenApi = OpenApiBuilder::new().info(info).build();
    for dialect in &dialects.0 {
        let mut doc = dialect.openapi.clone();
        doc.servers = None;
        // Operation ids are unique per document; in the merged one they carry the dialect.
        for operation in crate::rest::shared::operations_mut(&mut doc) {
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("{}_{id}", dialect.name));
            }
        }
        all = all.nest(dialect.prefix, doc);
    }
    all
}

pub fn to_json(doc: &OpenApi) -> String {
    let mut text =
        serde_json::to_string_pretty(&document(doc)).expect("OpenAPI documents serialize");
    text.push('\n');
    text
}

/// A document as it is served and exported: utoipa's, with event streams framed.
pub fn document(doc: &OpenApi) -> Value {
    let mut value = serde_json::to_value(doc).expect("OpenAPI documents serialize");
    frame_event_streams(&mut value);
    admit_null_bodies(&mut value);
    value
}

/// Every operation of every path item.
fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
}

/// An optional JSON body may be absent or `null` (both read as "none"): its schema says so.
fn admit_null_bodies(doc: &mut Value) {
    for operation in operations_mut(doc) {
        let Some(body) = operation.get_mut("requestBody") else {
            continue;
        };
        if body["required"] == Value::Bool(true) {
            continue;
        }
        if let Some(schema) = body.pointer_mut("/content/application~1json/schema") {
            let inner = schema.take();
            *schema = serde_json::json!({"anyOf": [inner, {"type": "null"}]});
        }
    }
}

/// `text/event-stream` responses as OpenAPI models that format: each event an object with
/// its `event` name and its `data` string, whose JSON the route's own schema describes
/// (`contentMediaType` + `contentSchema`), so validators check what is on the wire.
fn frame_event_streams(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].clone();
    for operation in operations_mut(doc) {
        let Some(responses) = operation["responses"].as_object_mut() else {
            continue;
        };
        for response in responses.values_mut() {
            let Some(stream) = response
                .pointer_mut("/content/text~1event-stream")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let framed = |schema: &Value| {
                let target = match schema["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    Some(name) => &schemas[name],
                    None => schema,
                };
                target["properties"]["data"].is_object()
            };
            // A document that models the frame itself (`/v1`'s `ChatStreamEvent`) stays.
            if stream.get("schema").is_none_or(framed) {
                continue;
            }
            let Some(data) = stream.remove("schema") else {
                continue;
            };
            if let Some(example) = stream.remove("example") {
                let name = example["type"].as_str().unwrap_or("message").to_string();
                stream.insert(
                    "example".into(),
                    json!({"event": name, "data": example.to_string()}),
                );
            }
            let names = event_names(&data, &schemas);
            let mut event = json!({"type": "string", "description": "The event's name; `data.type` repeats it."});
            if !names.is_empty() {
                event["enum"] = json!(names);
            }
            stream.insert(
                "schema".into(),
                json!({
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "event": event,
                        "data": {
                            "type": "string",
                            "description": "The event as JSON.",
                            "contentMediaType": "application/json",
                            "contentSchema": data,
                        },
                    },
                }),
            );
        }
    }
}

/// The names a `oneOf` of event schemas declares (each in a one-value `type` enum).
fn event_names(schema: &Value, schemas: &Value) -> Vec<String> {
    let resolve = |value: &Value| -> Value {
        match value["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            Some(name) => schemas[name].clone(),
            None => value.clone(),
        }
    };
    let union = resolve(schema);
    union["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|variant| {
            let kind = resolve(&resolve(variant)["properties"]["type"]);
            kind["enum"][0].as_str().map(str::to_string)
        })
        .collect()
}

/// `(file name, contents)` of every generated schema file, relative to `schema/`.
pub fn generated_files(dialects: &Dialects) -> Vec<(String, String)> {
    let mut files = vec![("schema.graphql".to_string(), crate::graphql::sdl())];
    for dialect in &dialects.0 {
        files.push((
            format!("openapi/{}.json", dialect.name),
            to_json(&dialect.openapi),
        ));
    }
    files.push(("openapi/orrery.json".into(), to_json(&combined(dialects))));
    files
}

pub fn write_all(dir: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    for (name, contents) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    Ok(())
}

/// Names of the files under `dir` that differ from what this build generates.
pub fn stale_files(dir: &Path, files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(name, contents)| {
            std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(contents.as_str())
        })
        .map(|(name, _)| name.clone())
        .collect()
}
