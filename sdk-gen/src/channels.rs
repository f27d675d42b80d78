//! What both languages say of a WebSocket channel: its frame models and the protocol section
//! of the package READMEs (the protocol itself, for clients that speak it without the SDK).

use std::fmt::Write;

use crate::config::DialectConfig;
use crate::ir::{Api, Channel, Ty};
use crate::names::{python_ident, ts_ident};

/// The frame models, each once, in the document's order.
pub fn frame_models(channel: &Channel) -> Vec<String> {
    let mut models: Vec<String> = Vec::new();
    for (_, model) in &channel.frames {
        if !models.contains(model) {
            models.push(model.clone());
        }
    }
    models
}

fn wire_type(ty: &Ty) -> String {
    match ty {
        Ty::Str => "string".into(),
        Ty::Int | Ty::Float => "number".into(),
        Ty::Bool => "boolean".into(),
        Ty::DateTime => "date-time string".into(),
        Ty::Enum(values) => values.join(" \\| "),
        Ty::List(inner) => format!("{}[]", wire_type(inner)),
        Ty::Model(name) => name.clone(),
        Ty::Any | Ty::Object | Ty::Map(_) => "object".into(),
    }
}

/// The protocol: the message, then each frame with its fields.
fn protocol(api: &Api, channel: &Channel) -> String {
    let mut out = String::new();
    if let Some(description) = &channel.description {
        let _ = writeln!(out, "{description}\n");
    }
    let _ = writeln!(
        out,
        "The client sends one JSON text message:\n\n| field | type | |\n|---|---|---|\n| `type` | `\"{}\"` | required |",
        channel.message_type
    );
    for p in &channel.params {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            p.wire,
            wire_type(&p.ty),
            p.description
                .as_deref()
                .map(|d| d.replace('\n', " "))
                .unwrap_or_else(|| if p.required {
                    "required".into()
                } else {
                    String::new()
                })
        );
    }
    out.push_str("\nThe server answers with JSON text frames, told apart by `type`:\n\n| `type` | fields |\n|---|---|\n");
    for (frame, model) in &channel.frames {
        let fields: Vec<String> = api
            .models
            .get(model)
            .map(|m| {
                m.fields
                    .iter()
                    .filter(|f| f.wire != "type")
                    .map(|f| format!("`{}`", f.wire))
                    .collect()
            })
            .unwrap_or_default();
        let last = if channel.final_frames.contains(frame) {
            " (final)"
        } else {
            ""
        };
        let _ = writeln!(out, "| `{frame}`{last} | {} |", fields.join(", "));
    }
    out
}

fn example_call(channel: &Channel, ident: fn(&str) -> String) -> (String, String) {
    let call = format!(
        "client.{}.{}",
        ident(&channel.resource),
        ident(&channel.name)
    );
    let first = channel
        .params
        .iter()
        .find(|p| p.required)
        .map(|p| p.wire.clone())
        .unwrap_or_default();
    (call, first)
}

pub fn python_readme(api: &Api, config: &DialectConfig, channel: &Channel) -> String {
    let py = &config.python;
    let (call, _) = example_call(channel, python_ident);
    let mut out = format!(
        "\n## WebSocket: `{call}`\n\n\
```sh\npip install './sdks/python/{package}[websocket]'     # adds the `websockets` package\n```\n\n\
```python\nimport asyncio\nfrom {package} import {async_client}\n\nasync def main() -> None:\n    client = {async_client}(base_url=\"http://localhost:8080{prefix}\", api_key=\"lnos_live_…\")\n    async for msg in {call}(\"ls -la\"):\n        if msg.type in (\"stdout\", \"stderr\"):\n            print(msg.data, end=\"\")\n        elif msg.type == \"complete\":\n            print(\"exit\", msg.result.exit_code, \"in\", msg.result.duration, \"ms\")\n        elif msg.type == \"approval_required\":\n            print(\"waiting for approval\", msg.approval_id)\n        elif msg.type == \"error\":\n            print(\"error:\", msg.message)\n\nasyncio.run(main())\n```\n\n\
`{client}` has the same method as a plain iterator (`for msg in …`). The URL is the base URL's\nwith `ws`/`wss` for `http`/`https`; the credential goes in the upgrade request's headers. A\nrefused handshake raises the same typed errors as any call (`AuthenticationError`, …); a\nconnection that closes before a final frame raises `APIConnectionError`. The call is never\nretried (the message starts work). `mock=True` replays the document's example frames.\n\n",
        package = py.package,
        async_client = py.async_client,
        client = py.client,
        prefix = api.base_path,
    );
    out.push_str(&protocol(api, channel));
    out
}

pub fn typescript_readme(api: &Api, config: &DialectConfig, channel: &Channel) -> String {
    let ts = &config.typescript;
    let (call, _) = example_call(channel, ts_ident);
    let mut out = format!(
        "\n## WebSocket: `{call}`\n\n\
```ts\nimport {{ {client} }} from '{package}';\n\nconst client = new {client}({{ baseURL: 'http://localhost:8080{prefix}', apiKey: process.env.{env}_API_KEY }});\nfor await (const msg of {call}('ls -la')) {{\n  if (msg.type === 'stdout' || msg.type === 'stderr') process.stdout.write(msg.data);\n  else if (msg.type === 'complete') console.log('exit', msg.result.exitCode, 'in', msg.result.duration, 'ms');\n  else if (msg.type === 'approval_required') console.log('waiting for approval', msg.approvalId);\n  else if (msg.type === 'error') console.error('error:', msg.message);\n}}\n```\n\n\
Which WebSocket it uses: `options.WebSocket` when given; on Node the `ws` package when it is\ninstalled (`npm install ws`; the credential then goes in the upgrade request's headers, and a\nrefused handshake throws the typed error for its status); otherwise the global `WebSocket`\n(browsers, Node ≥ 22), which cannot send headers, so the credential goes in `?{query}=`. A\nconnection that closes before a final frame throws `APIConnectionError`; leaving the loop\ncloses the socket; `options.signal` aborts it. Never retried (the message starts work).\n`mock: true` replays the document's example frames.\n\n",
        package = ts.package,
        client = ts.client,
        prefix = api.base_path,
        env = config.env_prefix,
        query = channel.token_query.as_deref().unwrap_or("token"),
    );
    out.push_str(&protocol(api, channel));
    out
}
