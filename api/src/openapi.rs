//! The OpenAPI documents: one per dialect (generated from the routes it serves) and one for
//! all, and their export to `schema/`.

use std::path::Path;

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
    let mut text = serde_json::to_string_pretty(doc).expect("OpenAPI documents serialize");
    text.push('\n');
    text
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
