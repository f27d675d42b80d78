//! Lumen's terminal: a command is checked (the shell-parsing safety gate), then run in the
//! sandbox in the session's own work dir, streamed, and recorded in the signed ledger with
//! its decision, the sandbox layers, exit status and duration.

pub mod confine;
pub mod safety;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

pub use sandbox::{Finished, Stream};

use crate::config::TerminalConfig;
use crate::domain::governance::GovernanceService;
use crate::domain::identity::{Principal, Scope};
use crate::error::{DomainError, DomainResult};
use safety::Verdict;

pub struct ExecuteRequest {
    pub command: String,
    pub cwd: Option<String>,
    pub session: Option<String>,
}

/// What a client sees as a command goes.
#[derive(Clone, Debug, PartialEq)]
pub enum TerminalEvent {
    /// The safety check passed.
    Ack {
        command: String,
    },
    Start {
        command: String,
        cwd: String,
    },
    Output(Stream, String),
}

pub struct TerminalService {
    config: TerminalConfig,
    root: PathBuf,
    sandbox: Option<sandbox::Sandbox>,
    governance: Arc<GovernanceService>,
}

/// `session-12345` as a directory name; anything else becomes a hash of it.
fn session_dir(session: Option<&str>) -> String {
    match session {
        None => "default".into(),
        Some(s)
            if !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                && !s.starts_with('-') =>
        {
            s.to_string()
        }
        Some(s) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(s.as_bytes());
            format!(
                "s-{}",
                digest[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        }
    }
}

fn make_dir_for_sandbox(path: &Path) -> DomainResult<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| DomainError::Internal(format!("work dir {}: {e}", path.display())))?;
    // SAFETY: reads this process's effective uid.
    if unsafe { libc::geteuid() } == 0 {
        let _ = std::os::unix::fs::chown(path, Some(confine::NOBODY), Some(confine::NOBODY));
    }
    Ok(())
}

/// `cwd` resolved inside `workdir` (relative to it, or absolute beneath it), existing.
fn resolve_cwd(workdir: &Path, cwd: Option<&str>) -> DomainResult<PathBuf> {
    let base = workdir
        .canonicalize()
        .map_err(|e| DomainError::Internal(format!("work dir: {e}")))?;
    let Some(cwd) = cwd.filter(|c| !c.is_empty()) else {
        return Ok(base);
    };
    let outside = || {
        DomainError::invalid(
            "cwd",
            "cwd must be a directory inside the session's working directory",
        )
    };
    let joined = if Path::new(cwd).is_absolute() {
        PathBuf::from(cwd)
    } else {
        base.join(cwd)
    };
    let resolved = joined.canonicalize().map_err(|_| outside())?;
    if !resolved.starts_with(&base) || !resolved.is_dir() {
        return Err(outside());
    }
    Ok(resolved)
}

impl TerminalService {
    pub fn new(
        config: TerminalConfig,
        data_dir: &Path,
        governance: Arc<GovernanceService>,
    ) -> std::io::Result<Self> {
        let sandbox = if config.enabled {
            Some(sandbox::Sandbox::new(config.clone())?)
        } else {
            None
        };
        Ok(Self {
            config,
            root: data_dir.join("terminal"),
            sandbox,
            governance,
        })
    }

    pub fn enabled(&self) -> bool {
        self.sandbox.is_some()
    }

    pub fn bubblewrap(&self) -> bool {
        self.sandbox.as_ref().is_some_and(|s| s.bubblewrap())
    }

    async fn record(&self, user_id: &str, command: &str, data: serde_json::Value) {
        let mut data = data;
        data["command"] = command.into();
        if let Err(err) = self
            .governance
            .record("terminal.command", user_id, data)
            .await
        {
            tracing::error!(%err, "could not record a terminal command in the ledger");
        }
    }

    /// Checks and runs one command, sending its events to `events` as they happen.
    pub async fn execute(
        &self,
        principal: &Principal,
        request: ExecuteRequest,
        events: mpsc::UnboundedSender<TerminalEvent>,
    ) -> DomainResult<Finished> {
        let actor = principal.actor()?;
        let Some(sandbox) = &self.sandbox else {
            return Err(DomainError::Unavailable(
                "Terminal execution is disabled on this server (terminal.enabled = false)".into(),
            ));
        };
        actor.require(Scope::TerminalExecute)?;
        let command = request.command;
        if command.trim().is_empty() {
            return Err(DomainError::invalid("command", "command must not be empty"));
        }
        let decision = safety::classify(&command);
        match decision.verdict {
            Verdict::Blocked => {
                self.record(
                    &actor.user_id,
                    &command,
                    json!({"decision": "blocked", "reasons": decision.reasons}),
                )
                .await;
                return Err(DomainError::Forbidden(format!(
                    "Command blocked: {}",
                    decision.reasons.join("; ")
                )));
            }
            Verdict::NeedsApproval => {
                self.record(
                    &actor.user_id,
                    &command,
                    json!({"decision": "approval_required", "reasons": decision.reasons}),
                )
                .await;
                return Err(DomainError::Forbidden(format!(
                    "Command requires approval ({}); this server has no approval flow for the terminal yet, so it was not run",
                    decision.reasons.join("; ")
                )));
            }
            Verdict::Allowed => {}
        }
        let workdir = self
            .root
            .join(&actor.user_id)
            .join(session_dir(request.session.as_deref()));
        make_dir_for_sandbox(&self.root)?;
        make_dir_for_sandbox(&self.root.join(&actor.user_id))?;
        make_dir_for_sandbox(&workdir)?;
        let cwd = resolve_cwd(&workdir, request.cwd.as_deref())?;
        let workdir = workdir
            .canonicalize()
            .map_err(|e| DomainError::Internal(format!("work dir: {e}")))?;
        let _ = events.send(TerminalEvent::Ack {
            command: command.clone(),
        });
        let _ = events.send(TerminalEvent::Start {
            command: command.clone(),
            cwd: cwd.display().to_string(),
        });
        let (chunks, mut chunk_rx) = mpsc::unbounded_channel();
        let forward = {
            let events = events.clone();
            tokio::spawn(async move {
                while let Some((stream, text)) = chunk_rx.recv().await {
                    let _ = events.send(TerminalEvent::Output(stream, text));
                }
            })
        };
        let finished = sandbox.run(&workdir, &cwd, &command, chunks).await;
        let _ = forward.await;
        let finished = finished?;
        self.record(
            &actor.user_id,
            &command,
            json!({
                "decision": "allowed",
                "status": finished.status,
                "exit_code": finished.exit_code,
                "duration_ms": finished.duration_ms,
                "killed": finished.killed,
                "layers": finished.layers,
            }),
        )
        .await;
        Ok(finished)
    }

    pub fn timeout_secs(&self) -> u64 {
        self.config.timeout_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_stays_inside_the_work_dir() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("w");
        std::fs::create_dir_all(work.join("src")).unwrap();
        let base = work.canonicalize().unwrap();
        assert_eq!(resolve_cwd(&work, None).unwrap(), base);
        assert_eq!(resolve_cwd(&work, Some("src")).unwrap(), base.join("src"));
        assert!(resolve_cwd(&work, Some("../../")).is_err());
        assert!(resolve_cwd(&work, Some("/etc")).is_err());
        assert!(resolve_cwd(&work, Some("missing")).is_err());
        std::os::unix::fs::symlink("/etc", work.join("link")).unwrap();
        assert!(
            resolve_cwd(&work, Some("link")).is_err(),
            "symlinks out are refused"
        );
    }

    #[test]
    fn session_names_become_safe_directory_names() {
        assert_eq!(session_dir(Some("session-12345")), "session-12345");
        assert_eq!(session_dir(None), "default");
        assert!(session_dir(Some("../../etc")).starts_with("s-"));
    }
}
