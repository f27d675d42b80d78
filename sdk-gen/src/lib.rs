//! orrery-sdk-gen: the OpenAPI documents under `schema/openapi/` plus the naming config under
//! `sdk-gen/config/` in, the Python and TypeScript packages under `sdks/` out. Pure and
//! deterministic: the same inputs give byte-identical files.

pub mod channels;
pub mod config;
pub mod errors;
pub mod ir;
pub mod mock;
pub mod names;
pub mod python;
pub mod typescript;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Every API the SDKs cover, by config file stem.
pub const DIALECTS: &[&str] = &["lexecon", "lukhas", "lumen", "lunaos"];

/// The file listing what the generator wrote, so files it no longer writes are removed.
pub const MANIFEST: &str = ".generated";

/// A dialect's naming config and the OpenAPI document it names.
pub fn load(repo: &Path, dialect: &str) -> Result<(config::DialectConfig, serde_json::Value)> {
    let config_path = repo.join("sdk-gen/config").join(format!("{dialect}.toml"));
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config: config::DialectConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", config_path.display()))?;
    let doc_path = repo.join("schema/openapi").join(&config.document);
    let doc = serde_json::from_str(
        &std::fs::read_to_string(&doc_path)
            .with_context(|| format!("reading {}", doc_path.display()))?,
    )
    .with_context(|| format!("parsing {}", doc_path.display()))?;
    Ok((config, doc))
}

/// Every generated file, by path relative to `sdks/`.
pub fn generate(repo: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    let mut ts_dirs = Vec::new();
    for dialect in DIALECTS {
        let (config, doc) = load(repo, dialect)?;
        let api = ir::read(dialect, &doc, &config)?;
        ts_dirs.push(config.typescript.dir.clone());
        for (path, content) in python::render(&api, &config)? {
            files.insert(PathBuf::from(path), content);
        }
        for (path, content) in typescript::render(&api, &config)? {
            files.insert(PathBuf::from(path), content);
        }
    }
    files.insert(
        PathBuf::from("typescript/tsconfig.json"),
        typescript::solution(&ts_dirs),
    );
    let manifest: String = files.keys().map(|p| format!("{}\n", p.display())).collect();
    files.insert(PathBuf::from(MANIFEST), manifest);
    Ok(files)
}

/// Paths under `sdks/` that differ from what the generator writes (missing, changed, or
/// listed in the old manifest and no longer generated).
pub fn stale(repo: &Path) -> Result<Vec<PathBuf>> {
    let sdks = repo.join("sdks");
    let files = generate(repo)?;
    let mut stale = Vec::new();
    for (path, content) in &files {
        match std::fs::read_to_string(sdks.join(path)) {
            Ok(existing) if &existing == content => {}
            _ => stale.push(path.clone()),
        }
    }
    for old in previous_manifest(&sdks) {
        if !files.contains_key(&old) && sdks.join(&old).exists() {
            stale.push(old);
        }
    }
    Ok(stale)
}

/// Writes `sdks/`, removing the files an earlier run generated that this one does not.
pub fn write(repo: &Path) -> Result<usize> {
    let sdks = repo.join("sdks");
    let files = generate(repo)?;
    for old in previous_manifest(&sdks) {
        if !files.contains_key(&old) {
            let _ = std::fs::remove_file(sdks.join(&old));
        }
    }
    for (path, content) in &files {
        let target = sdks.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read_to_string(&target).ok().as_deref() != Some(content.as_str()) {
            std::fs::write(&target, content)
                .with_context(|| format!("writing {}", target.display()))?;
        }
    }
    Ok(files.len())
}

fn previous_manifest(sdks: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(sdks.join(MANIFEST))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn generation_is_deterministic() {
        let first = generate(&repo()).unwrap();
        let second = generate(&repo()).unwrap();
        assert_eq!(first, second);
    }

    /// The committed documents are what the server serves (checked by the API's own tests);
    /// here every operation of each document must have a method in both SDKs of its dialect.
    #[test]
    fn every_documented_operation_has_a_method_in_both_languages() {
        let files = generate(&repo()).unwrap();
        for dialect in DIALECTS {
            let (config, doc) = load(&repo(), dialect).unwrap();
            let api = ir::read(dialect, &doc, &config).unwrap();
            let documented = doc["paths"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|item| item.as_object().unwrap().values())
                .filter_map(|op| op["operationId"].as_str())
                .filter(|id| config.operations.get(*id).is_none_or(|c| c.skip.is_none()))
                .count();
            assert_eq!(api.operations.len(), documented, "{dialect}");
            let py = &files[&PathBuf::from(format!(
                "python/{0}/src/{0}/_client.py",
                config.python.package
            ))];
            let ts = &files[&PathBuf::from(format!(
                "typescript/{}/src/client.ts",
                config.typescript.dir
            ))];
            for op in &api.operations {
                let py_method = format!("def {}(", names::python_ident(&op.name));
                // Resources may share a method name (`client.agents.list`, `client.chains.list`).
                let same_name = api.operations.iter().filter(|o| o.name == op.name).count();
                assert_eq!(
                    py.matches(&py_method).count(),
                    2 * same_name,
                    "{dialect}: sync + async {py_method}"
                );
                assert!(
                    py.contains(&format!("{:?},", op.id)),
                    "{dialect}: {}",
                    op.id
                );
                let ts_method = format!("  {}(", names::ts_ident(&op.name));
                assert!(ts.contains(&ts_method), "{dialect}: {ts_method}");
            }
        }
    }

    #[test]
    fn committed_sdks_are_fresh() {
        let stale = stale(&repo()).unwrap();
        assert!(
            stale.is_empty(),
            "sdks/ is stale (run `cargo run -p orrery-sdk-gen`): {stale:?}"
        );
    }
}
