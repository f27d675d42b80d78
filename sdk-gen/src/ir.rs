//! The API as the generators see it: operations with named, typed parameters and models,
//! read from one OpenAPI document and its naming config.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::config::{DialectConfig, OperationConfig, Pagination};
use crate::mock;
use crate::names::snake_case;

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Str,
    Int,
    Float,
    Bool,
    DateTime,
    /// Any JSON value.
    Any,
    /// A JSON object with no declared properties.
    Object,
    Model(String),
    /// One of these strings (an OpenAPI `enum`): a literal union in both languages.
    Enum(Vec<String>),
    List(Box<Ty>),
    Map(Box<Ty>),
}

/// The values of a string `enum` schema, if it is one.
fn string_enum(schema: &Value) -> Option<Vec<String>> {
    let values = schema["enum"].as_array()?;
    values
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Clone)]
pub struct Field {
    pub wire: String,
    pub ty: Ty,
    /// The server always sends it (or the request must carry it).
    pub required: bool,
    pub nullable: bool,
    pub description: Option<String>,
}

impl Field {
    /// May be absent or null.
    pub fn optional(&self) -> bool {
        !self.required || self.nullable
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub description: Option<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Body,
}

#[derive(Debug, Clone)]
pub struct Param {
    /// The name on the wire.
    pub wire: String,
    /// The SDK's name (snake_case; each generator spells it for its language).
    pub name: String,
    pub ty: Ty,
    pub required: bool,
    pub description: Option<String>,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    /// Method name, snake_case.
    pub name: String,
    /// Sub-resource (snake_case), or none for a method on the client.
    pub resource: Option<String>,
    pub method: String,
    pub path: String,
    pub summary: Option<String>,
    pub auth: bool,
    pub params: Vec<Param>,
    /// The operation takes a JSON body (even when every field is optional).
    pub has_body: bool,
    pub response: Ty,
    pub status: u16,
    pub error_class: Option<String>,
    pub idempotency_field: Option<String>,
    pub pagination: Option<(Pagination, String)>,
    pub mock_response: Value,
    /// The success envelope property holding the result.
    pub unwrap: Option<String>,
    pub stream: Option<Events>,
    pub session: Option<Session>,
    /// The body field (snake_case) the TypeScript method also takes alone.
    pub shorthand: Option<String>,
}

/// A streaming operation offered as a session: `client.<method>(…optional params)` opens
/// it, `session.<send>(value)` starts a run with `param`, iterating yields the events.
#[derive(Debug, Clone)]
pub struct Session {
    pub method: String,
    pub send: String,
    /// The sent parameter (the operation's one required parameter).
    pub param: String,
}

/// A server-sent-event stream: each event's name and the model its data decodes to.
pub type Events = Vec<(String, String)>;

/// A WebSocket the document describes under `x-websockets` (OpenAPI has no WebSocket
/// operations): the client sends one message and reads typed frames until a final one.
#[derive(Debug, Clone)]
pub struct Channel {
    /// The sub-resource the method lives on (`client.terminal`).
    pub resource: String,
    /// The method (snake_case): the message's `type`.
    pub name: String,
    pub message_type: String,
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// The query parameter that carries the credential where headers cannot (browsers).
    pub token_query: Option<String>,
    /// The message's fields but `type`, required first.
    pub params: Vec<Param>,
    /// Each frame's `type` and the model it decodes to.
    pub frames: Events,
    /// Frame types after which the server sends nothing more for this message.
    pub final_frames: Vec<String>,
    /// What mock mode replays: one example of each frame, up to the first final one.
    pub mock_frames: Vec<Value>,
}

impl Operation {
    pub fn required_body(&self) -> Vec<&str> {
        self.params
            .iter()
            .filter(|p| p.location == Location::Body && p.required)
            .map(|p| p.wire.as_str())
            .collect()
    }
}

#[derive(Debug)]
pub struct Api {
    pub key: String,
    /// Where the document says the API is mounted (`servers[0].url`, e.g. `/lexecon`).
    pub base_path: String,
    pub version: String,
    pub operations: Vec<Operation>,
    pub channels: Vec<Channel>,
    pub models: BTreeMap<String, Model>,
}

impl Api {
    /// Operations by sub-resource (`None`: methods on the client itself).
    pub fn by_resource(&self) -> BTreeMap<Option<String>, Vec<&Operation>> {
        let mut grouped: BTreeMap<Option<String>, Vec<&Operation>> = BTreeMap::new();
        for op in &self.operations {
            grouped.entry(op.resource.clone()).or_default().push(op);
        }
        grouped
    }
}

struct Reader<'a> {
    doc: &'a Value,
    config: &'a DialectConfig,
    models: BTreeMap<String, Model>,
    pending: BTreeSet<String>,
}

pub fn read(key: &str, doc: &Value, config: &DialectConfig) -> Result<Api> {
    let mut reader = Reader {
        doc,
        config,
        models: BTreeMap::new(),
        pending: BTreeSet::new(),
    };
    let mut operations = Vec::new();
    let paths = doc["paths"]
        .as_object()
        .ok_or_else(|| anyhow!("{key}: no paths"))?;
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let skipped = op["operationId"]
                .as_str()
                .and_then(|id| config.operations.get(id))
                .is_some_and(|c| c.skip.is_some());
            if skipped {
                continue;
            }
            let op = reader
                .operation(path, method, op)
                .with_context(|| format!("{key}: {} {path}", method.to_uppercase()))?;
            operations.push(op);
        }
    }
    for (name, c) in &config.operations {
        if c.skip.is_none() && !operations.iter().any(|op| &op.id == name) {
            bail!("{key}: the naming config names operation {name}, which the document lacks");
        }
    }
    let mut channels = Vec::new();
    for (resource, entry) in doc["x-websockets"].as_object().into_iter().flatten() {
        let channel = reader
            .channel(resource, entry)
            .with_context(|| format!("{key}: x-websockets.{resource}"))?;
        channels.push(channel);
    }
    reader.drain()?;
    let mut seen = BTreeSet::new();
    for op in &operations {
        let qualified = (op.resource.clone(), op.name.clone());
        if !seen.insert(qualified) {
            bail!("{key}: two operations are both named {}", op.name);
        }
    }
    Ok(Api {
        key: key.to_string(),
        base_path: doc["servers"][0]["url"].as_str().unwrap_or("").to_string(),
        version: doc["info"]["version"]
            .as_str()
            .unwrap_or("0.0.0")
            .to_string(),
        operations,
        channels,
        models: reader.models,
    })
}

impl<'a> Reader<'a> {
    fn model_name(&self, component: &str) -> String {
        self.config
            .models
            .get(component)
            .cloned()
            .unwrap_or_else(|| component.to_string())
    }

    fn component(&self, reference: &str) -> Result<(String, &'a Value)> {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| anyhow!("unsupported $ref {reference}"))?;
        let doc: &'a Value = self.doc;
        let schema = doc
            .pointer(&format!("/components/schemas/{name}"))
            .ok_or_else(|| anyhow!("dangling $ref {reference}"))?;
        Ok((name.to_string(), schema))
    }

    /// The type of `schema`, and whether it admits null. Inline objects with properties
    /// become models named `context`.
    fn ty(&mut self, schema: &Value, context: &str) -> Result<(Ty, bool)> {
        if let Some(reference) = schema["$ref"].as_str() {
            let (name, target) = self.component(reference)?;
            if let Some(values) = string_enum(target) {
                return Ok((Ty::Enum(values), false));
            }
            let model = self.model_name(&name);
            self.pending.insert(name);
            return Ok((Ty::Model(model), false));
        }
        for combinator in ["oneOf", "anyOf"] {
            if let Some(variants) = schema[combinator].as_array() {
                let non_null: Vec<&Value> = variants
                    .iter()
                    .filter(|v| v["type"].as_str() != Some("null"))
                    .collect();
                let nullable = non_null.len() < variants.len();
                if non_null.len() == 1 {
                    let (ty, inner_nullable) = self.ty(non_null[0], context)?;
                    return Ok((ty, nullable || inner_nullable));
                }
                return Ok((Ty::Any, nullable));
            }
        }
        if let Some(parts) = schema["allOf"].as_array() {
            if parts.len() == 1 {
                return self.ty(&parts[0], context);
            }
            let model = self.model(context, schema)?;
            self.models.insert(model.name.clone(), model);
            return Ok((Ty::Model(context.to_string()), false));
        }
        let (kind, nullable) = match &schema["type"] {
            Value::String(kind) => (kind.as_str(), false),
            Value::Array(kinds) => {
                let names: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = names.iter().copied().filter(|k| *k != "null").collect();
                let nullable = non_null.len() < names.len();
                match non_null.as_slice() {
                    [one] => (*one, nullable),
                    _ => return Ok((Ty::Any, nullable)),
                }
            }
            _ => return Ok((Ty::Any, false)),
        };
        let ty = match kind {
            "string" if string_enum(schema).is_some() => {
                Ty::Enum(string_enum(schema).unwrap_or_default())
            }
            "string" if schema["format"].as_str() == Some("date-time") => Ty::DateTime,
            "string" => Ty::Str,
            "integer" => Ty::Int,
            "number" => Ty::Float,
            "boolean" => Ty::Bool,
            "array" => {
                let (item, _) = self.ty(&schema["items"], &format!("{context}Item"))?;
                Ty::List(Box::new(item))
            }
            "object" => {
                if schema["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty())
                {
                    let model = self.model(context, schema)?;
                    self.models.insert(model.name.clone(), model);
                    Ty::Model(context.to_string())
                } else if schema["additionalProperties"].is_object() {
                    let (value, _) =
                        self.ty(&schema["additionalProperties"], &format!("{context}Value"))?;
                    Ty::Map(Box::new(value))
                } else {
                    Ty::Object
                }
            }
            _ => Ty::Any,
        };
        Ok((ty, nullable))
    }

    /// The properties of an object schema, following `allOf` and references.
    fn properties(&mut self, schema: &Value, model: &str) -> Result<(Vec<Field>, Option<String>)> {
        let mut fields: Vec<Field> = Vec::new();
        let mut description = schema["description"].as_str().map(str::to_string);
        if let Some(reference) = schema["$ref"].as_str() {
            let (_, target) = self.component(reference)?;
            return self.properties(target, model);
        }
        if let Some(parts) = schema["allOf"].as_array() {
            for part in parts {
                let (more, doc) = self.properties(part, model)?;
                description = description.or(doc);
                for field in more {
                    fields.retain(|f| f.wire != field.wire);
                    fields.push(field);
                }
            }
        }
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = schema["properties"].as_object() {
            for (wire, prop) in props {
                let context = format!("{model}{}", crate::names::pascal_case(wire));
                let (ty, nullable) = self.ty(prop, &context)?;
                fields.retain(|f| &f.wire != wire);
                fields.push(Field {
                    wire: wire.clone(),
                    ty,
                    required: required.contains(wire.as_str()),
                    nullable,
                    description: prop["description"]
                        .as_str()
                        .or_else(|| prop["oneOf"][1]["description"].as_str())
                        .map(str::to_string),
                });
            }
        }
        Ok((fields, description))
    }

    fn model(&mut self, name: &str, schema: &Value) -> Result<Model> {
        let (fields, description) = self.properties(schema, name)?;
        Ok(Model {
            name: name.to_string(),
            description,
            fields,
        })
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(component) = self.pending.pop_first() {
            let name = self.model_name(&component);
            if self.models.contains_key(&name) {
                continue;
            }
            let schema = self.doc["components"]["schemas"][&component].clone();
            let model = self.model(&name, &schema)?;
            self.models.insert(name, model);
        }
        Ok(())
    }

    fn operation(&mut self, path: &str, method: &str, op: &Value) -> Result<Operation> {
        let id = op["operationId"]
            .as_str()
            .ok_or_else(|| anyhow!("no operationId"))?
            .to_string();
        let default_config = OperationConfig::default();
        let config = self.config.operations.get(&id).unwrap_or(&default_config);
        let rename = |wire: &str| {
            config
                .params
                .get(wire)
                .cloned()
                .unwrap_or_else(|| snake_case(wire))
        };
        let mut params = Vec::new();
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            let wire = parameter["name"].as_str().unwrap_or_default().to_string();
            let location = match parameter["in"].as_str() {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                _ => continue,
            };
            let (ty, _) = self.ty(&parameter["schema"], &wire)?;
            params.push(Param {
                name: rename(&wire),
                wire,
                ty,
                required: parameter["required"].as_bool().unwrap_or(false),
                description: parameter["description"].as_str().map(str::to_string),
                location,
            });
        }
        let body = op
            .pointer("/requestBody/content/application~1json/schema")
            .map(without_null_alternative);
        if let Some(body) = body {
            let (fields, _) =
                self.properties(body, &format!("{}Body", crate::names::pascal_case(&id)))?;
            for field in fields {
                params.push(Param {
                    name: rename(&field.wire),
                    wire: field.wire.clone(),
                    required: field.required && !field.nullable,
                    ty: field.ty,
                    description: field.description,
                    location: Location::Body,
                });
            }
        }
        let params = order_params(params, &config.order)?;

        let responses = op["responses"]
            .as_object()
            .ok_or_else(|| anyhow!("no responses"))?;
        let (status, success) = responses
            .iter()
            .find(|(code, _)| code.starts_with('2'))
            .ok_or_else(|| anyhow!("no success response"))?;
        let status: u16 = status.parse().context("status code")?;
        let schema = success
            .pointer("/content/application~1json/schema")
            .cloned()
            .unwrap_or(Value::Null);
        let context = format!("{}Response", crate::names::pascal_case(&id));
        let response = self.success_type(&schema, &context)?;
        let mut mock_response = success
            .pointer("/content/application~1json/example")
            .cloned()
            .unwrap_or_else(|| mock::example(self.doc, &schema));
        // Framed as OpenAPI models SSE: the events' own schema is the `data` field's.
        let stream = match success
            .pointer("/content/text~1event-stream/schema/properties/data/contentSchema")
            .or_else(|| success.pointer("/content/text~1event-stream/schema"))
        {
            Some(events) if schema.is_null() => {
                let (stream, examples) = self.events(events)?;
                mock_response = Value::Array(examples);
                Some(stream)
            }
            _ => None,
        };

        let pagination = match &config.pagination {
            Some(pagination) => {
                let Ty::Model(page) = &response else {
                    bail!("a paginated response must be an object");
                };
                self.drain()?;
                let items = self.models[page]
                    .fields
                    .iter()
                    .find(|f| f.wire == pagination.items)
                    .ok_or_else(|| anyhow!("page has no {}", pagination.items))?;
                let Ty::List(item) = &items.ty else {
                    bail!("page items must be an array");
                };
                let Ty::Model(item) = item.as_ref() else {
                    bail!("page items must be objects");
                };
                Some((pagination.clone(), item.clone()))
            }
            None => None,
        };
        if let Some(class) = &config.error {
            if !self.config.operation_errors.contains_key(class) {
                bail!("error class {class} is not listed in operation_errors");
            }
        }
        let required: Vec<&Param> = params.iter().filter(|p| p.required).collect();
        let session = match &config.session {
            Some(session) => {
                if stream.is_none() {
                    bail!("a session needs a streaming operation");
                }
                let [param] = required.as_slice() else {
                    bail!(
                        "a session sends the operation's one required parameter; it has {}",
                        required.len()
                    );
                };
                Some(Session {
                    method: session.method.clone(),
                    send: session.send.clone(),
                    param: param.name.clone(),
                })
            }
            None => None,
        };
        let shorthand = match &config.shorthand {
            Some(wire) => {
                let [param] = required.as_slice() else {
                    bail!("a shorthand stands for the operation's one required parameter");
                };
                if param.wire != *wire || param.location != Location::Body || param.ty != Ty::Str {
                    bail!("the shorthand {wire} must be the one required body string");
                }
                Some(param.name.clone())
            }
            None => None,
        };
        Ok(Operation {
            name: config.name.clone().unwrap_or_else(|| snake_case(&id)),
            resource: config.resource.clone().filter(|r| !r.is_empty()),
            method: method.to_uppercase(),
            path: path.to_string(),
            summary: op["summary"].as_str().map(str::to_string),
            auth: op["security"].as_array().is_some_and(|s| !s.is_empty()),
            params,
            has_body: body.is_some(),
            response,
            status,
            error_class: config.error.clone(),
            idempotency_field: config.idempotency_field.clone(),
            pagination,
            unwrap: self.config.unwrap.clone().filter(|_| !schema.is_null()),
            mock_response,
            stream,
            session,
            shorthand,
            id,
        })
    }

    fn channel(&mut self, resource: &str, entry: &Value) -> Result<Channel> {
        let send = &entry["send"];
        let (fields, _) = self.properties(send, "Message")?;
        let mut kind = send.clone();
        if let Some(reference) = send["$ref"].as_str() {
            kind = self.component(reference)?.1.clone();
        }
        let mut kind = kind["properties"]["type"].clone();
        if let Some(reference) = kind["$ref"].as_str() {
            kind = self.component(reference)?.1.clone();
        }
        let message_type = kind["enum"][0]
            .as_str()
            .ok_or_else(|| anyhow!("the message's `type` names no message"))?
            .to_string();
        let mut params: Vec<Param> = fields
            .into_iter()
            .filter(|f| f.wire != "type")
            .map(|f| Param {
                name: snake_case(&f.wire),
                required: f.required && !f.nullable,
                wire: f.wire,
                ty: f.ty,
                description: f.description,
                location: Location::Body,
            })
            .collect();
        params.sort_by_key(|p| !p.required);
        let (frames, examples) = self.events(&entry["receive"])?;
        let final_frames: Vec<String> = entry["final"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        for name in &final_frames {
            if !frames.iter().any(|(frame, _)| frame == name) {
                bail!("final frame {name} is not one of the frames");
            }
        }
        let mut mock_frames = Vec::new();
        for example in examples {
            let last = final_frames.iter().any(|f| example["type"] == f.as_str());
            mock_frames.push(example);
            if last {
                break;
            }
        }
        Ok(Channel {
            resource: snake_case(resource),
            name: snake_case(&message_type),
            message_type,
            path: entry["path"]
                .as_str()
                .ok_or_else(|| anyhow!("no path"))?
                .to_string(),
            summary: entry["summary"].as_str().map(str::to_string),
            description: entry["description"].as_str().map(str::to_string),
            token_query: entry["auth"]["query"].as_str().map(str::to_string),
            params,
            frames,
            final_frames,
            mock_frames,
        })
    }

    /// A stream's events: `oneOf` event models, each naming itself in its `type` property
    /// (its `enum` values, or else its example); with one example of each.
    fn events(&mut self, schema: &Value) -> Result<(Events, Vec<Value>)> {
        let reference = schema["$ref"]
            .as_str()
            .ok_or_else(|| anyhow!("an event stream's schema must be a $ref"))?;
        let (name, union) = self.component(reference)?;
        let variants = union["oneOf"]
            .as_array()
            .ok_or_else(|| anyhow!("{name}: an event stream's schema must be a oneOf"))?;
        let mut events = Vec::new();
        let mut examples = Vec::new();
        for variant in variants {
            let reference = variant["$ref"]
                .as_str()
                .ok_or_else(|| anyhow!("{name}: each event must be a $ref"))?;
            let (component, target) = self.component(reference)?;
            let mut kind = &target["properties"]["type"];
            if let Some(reference) = kind["$ref"].as_str() {
                kind = self.component(reference)?.1;
            }
            let mut names: Vec<&str> = kind["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if names.is_empty() {
                names.extend(kind["example"].as_str());
            }
            if names.is_empty() {
                bail!("{component}: its `type` names no event");
            }
            for event in names {
                events.push((event.to_string(), self.model_name(&component)));
            }
            examples.push(mock::example(self.doc, variant));
            self.pending.insert(component);
        }
        Ok((events, examples))
    }

    /// The type a method returns: the success body, unwrapped from the dialect's envelope.
    fn success_type(&mut self, schema: &Value, context: &str) -> Result<Ty> {
        if schema.is_null() {
            return Ok(Ty::Any);
        }
        let Some(envelope) = &self.config.unwrap else {
            return Ok(self.ty(schema, context)?.0);
        };
        let reference = schema["$ref"]
            .as_str()
            .ok_or_else(|| anyhow!("an enveloped response must be a $ref"))?;
        let (name, target) = self.component(reference)?;
        let inner = target["properties"][envelope].clone();
        if inner.is_null() {
            bail!("{name} has no `{envelope}` envelope");
        }
        // `Data_Foo` wraps `Foo` when the document also names it.
        let bare = name
            .split_once('_')
            .map(|(_, rest)| rest)
            .unwrap_or(&name)
            .to_string();
        let ty = if self.doc["components"]["schemas"][&bare].is_object() {
            let model = self.model_name(&bare);
            self.pending.insert(bare);
            Ty::Model(model)
        } else {
            self.ty(&inner, context)?.0
        };
        Ok(ty)
    }
}

/// The config's order first, then path parameters, then required, then optional ones.
fn order_params(params: Vec<Param>, order: &[String]) -> Result<Vec<Param>> {
    for wire in order {
        if !params.iter().any(|p| &p.wire == wire) {
            bail!("the naming config orders parameter {wire}, which the operation lacks");
        }
    }
    let rank = |p: &Param| match order.iter().position(|w| w == &p.wire) {
        Some(i) => (0, i),
        None if p.location == Location::Path => (1, 0),
        None if p.required => (2, 0),
        None => (3, 0),
    };
    let mut params = params;
    params.sort_by_key(|p| rank(p));
    let mut names = BTreeSet::new();
    for p in &params {
        if !names.insert(p.name.clone()) {
            bail!("two parameters are both named {}", p.name);
        }
    }
    Ok(params)
}

/// An optional body's schema, `anyOf: [X, {"type": "null"}]`, as its `X`: a client sends
/// the fields (all optional then) or nothing.
fn without_null_alternative(schema: &Value) -> &Value {
    match schema["anyOf"].as_array().map(Vec::as_slice) {
        Some([inner, null]) if null["type"] == "null" => inner,
        _ => schema,
    }
}
