//! Lumen's terminal: a command is checked (the shell-parsing safety gate), then run in the
//! sandbox in the session's own work dir, streamed, and recorded in the signed ledger with
//! its decision, the sandbox layers, exit status and duration.

pub mod approvals;
mod cgroup;
pub mod confine;
pub mod safety;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::mpsc;

pub use sandbox::{Finished, Stream};

use crate::bus::{Event, EventBus};
use crate::config::TerminalConfig;
use crate::domain::governance::GovernanceService;
use crate::domain::identity::{Principal, Role, Scope};
use crate::error::{DomainError, DomainResult};
use safety::Verdict;

pub struct ExecuteRequest {
    pub command: String,
    pub cwd: Option<String>,
    pub session: Option<String>,
    /// Ask a person even when the check allows it (Lumen's `autoApprove: false`).
    pub require_approval: bool,
}

/// What a client sees as a command goes.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// What became of an execute request.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Finished(Finished),
    /// Stored for a person to approve (`POST /lumen/api/approvals/{id}`); it runs then.
    Pending {
        approval_id: String,
        reasons: Vec<String>,
    },
}

/// An approved command's progress, on the bus.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CommandFrame {
    Event(TerminalEvent),
    Complete(Finished),
    Rejected { by: String },
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CommandUpdate {
    pub approval_id: String,
    pub owner: String,
    pub session: Option<String>,
    pub frame: CommandFrame,
}

/// How an approval was resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    pub approval_id: String,
    pub command: String,
    /// `approved` (it is running) or `rejected`.
    pub status: &'static str,
}

/// A command past the gate.
struct Admitted {
    user_id: String,
    runner: Runner,
    decision: safety::Decision,
    workdir: PathBuf,
    cwd: PathBuf,
}

/// What running a checked command needs; cheap to clone into a background task.
#[derive(Clone)]
struct Runner {
    sandbox: sandbox::Sandbox,
    governance: Arc<GovernanceService>,
}

async fn record(
    governance: &GovernanceService,
    user_id: &str,
    command: &str,
    data: serde_json::Value,
) {
    let mut data = data;
    data["command"] = command.into();
    if let Err(err) = governance.record("terminal.command", user_id, data).await {
        tracing::error!(%err, "could not record a terminal command in the ledger");
    }
}

impl Runner {
    /// Runs a checked command, streaming to `events`, and records it in the ledger.
    async fn run(
        &self,
        user_id: &str,
        (workdir, cwd): (&Path, &Path),
        command: &str,
        events: mpsc::UnboundedSender<TerminalEvent>,
        approval: Option<&str>,
    ) -> DomainResult<Finished> {
        let command = command.to_string();
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
        let finished = self.sandbox.run(workdir, cwd, &command, chunks).await;
        let _ = forward.await;
        let finished = finished?;
        record(
            &self.governance,
            user_id,
            &command,
            json!({
                "decision": if approval.is_some() { "approved" } else { "allowed" },
                "approval_id": approval,
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
}

/// What the sandbox applies, as a real command (`true`) just ran under it.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxStatus {
    pub enabled: bool,
    /// The layers the helper reported (paths left out); `None` when off or it failed.
    pub layers: Option<serde_json::Value>,
    /// Why the probe could not run, when it could not.
    pub problem: Option<String>,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How long a probe's answer is reused: health checks stay cheap, and a changed machine
/// (bubblewrap removed, cgroups gone) shows within a minute.
const PROBE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

pub struct TerminalService {
    config: TerminalConfig,
    root: PathBuf,
    runner: Option<Runner>,
    probed: tokio::sync::Mutex<Option<(std::time::Instant, SandboxStatus)>>,
    governance: Arc<GovernanceService>,
    db: DatabaseConnection,
    bus: Arc<dyn EventBus>,
}

fn disabled() -> DomainError {
    DomainError::Unavailable(
        "Terminal execution is disabled on this server (terminal.enabled = false)".into(),
    )
}

impl TerminalService {
    pub fn new(
        config: TerminalConfig,
        data_dir: &Path,
        governance: Arc<GovernanceService>,
        db: DatabaseConnection,
        bus: Arc<dyn EventBus>,
    ) -> std::io::Result<Self> {
        let runner = if config.enabled {
            Some(Runner {
                sandbox: sandbox::Sandbox::new(config.clone())?,
                governance: governance.clone(),
            })
        } else {
            None
        };
        Ok(Self {
            config,
            root: data_dir.join("terminal"),
            runner,
            probed: tokio::sync::Mutex::new(None),
            governance,
            db,
            bus,
        })
    }

    pub fn enabled(&self) -> bool {
        self.runner.is_some()
    }

    pub fn bubblewrap(&self) -> bool {
        self.runner.as_ref().is_some_and(|r| r.sandbox.bubblewrap())
    }

    pub fn timeout_secs(&self) -> u64 {
        self.config.timeout_secs
    }

    /// The sandbox's layers as they are applied on this machine now: `true` run through
    /// the whole sandbox (at most once a minute; callers at once share one run).
    pub async fn sandbox_status(&self) -> SandboxStatus {
        let Some(runner) = &self.runner else {
            return SandboxStatus {
                enabled: false,
                layers: None,
                problem: None,
                checked_at: None,
            };
        };
        let mut probed = self.probed.lock().await;
        if let Some((at, status)) = probed.as_ref() {
            if at.elapsed() < PROBE_TTL {
                return status.clone();
            }
        }
        let probe = async {
            let workdir = self.workdir(".probe", None)?;
            let (chunks, _) = mpsc::unbounded_channel();
            runner.sandbox.run(&workdir, &workdir, "true", chunks).await
        };
        let (layers, problem) = match probe.await {
            Ok(done) if done.status == "success" => {
                let mut layers = done.layers;
                if let Some(map) = layers.as_object_mut() {
                    map.remove("workdir");
                }
                (Some(layers), None)
            }
            Ok(done) => (
                None,
                Some(format!(
                    "the probe command ended `{}`: {}",
                    done.status,
                    done.stderr.trim()
                )),
            ),
            Err(err) => (None, Some(err.to_string())),
        };
        let status = SandboxStatus {
            enabled: true,
            layers,
            problem,
            checked_at: Some(chrono::Utc::now()),
        };
        *probed = Some((std::time::Instant::now(), status.clone()));
        status
    }

    /// The session's work dir, made (and given to the sandbox user) when new.
    fn workdir(&self, user_id: &str, session: Option<&str>) -> DomainResult<PathBuf> {
        let workdir = self.root.join(user_id).join(session_dir(session));
        make_dir_for_sandbox(&self.root)?;
        make_dir_for_sandbox(&self.root.join(user_id))?;
        make_dir_for_sandbox(&workdir)?;
        workdir
            .canonicalize()
            .map_err(|e| DomainError::Internal(format!("work dir: {e}")))
    }

    /// The gate every command passes: the terminal is on, the credential may run commands,
    /// the command is not blocked (a blocked one is recorded), its work dir and `cwd` are
    /// sound. `autoApprove: false` turns an allowed command into one that needs approval.
    async fn admit(
        &self,
        principal: &Principal,
        request: &ExecuteRequest,
    ) -> DomainResult<Admitted> {
        let actor = principal.actor()?;
        let runner = self.runner.clone().ok_or_else(disabled)?;
        actor.require(Scope::TerminalExecute)?;
        if request.command.trim().is_empty() {
            return Err(DomainError::invalid("command", "command must not be empty"));
        }
        let mut decision = safety::classify(&request.command);
        if decision.verdict == Verdict::Blocked {
            record(
                &self.governance,
                &actor.user_id,
                &request.command,
                json!({"decision": "blocked", "reasons": decision.reasons}),
            )
            .await;
            return Err(DomainError::Forbidden(format!(
                "Command blocked: {}",
                decision.reasons.join("; ")
            )));
        }
        // Checked before anything waits for approval, so nothing waits that could not run.
        let workdir = self.workdir(&actor.user_id, request.session.as_deref())?;
        let cwd = resolve_cwd(&workdir, request.cwd.as_deref())?;
        if request.require_approval && decision.verdict == Verdict::Allowed {
            decision.verdict = Verdict::NeedsApproval;
            decision.reasons.push("autoApprove is off".into());
        }
        Ok(Admitted {
            user_id: actor.user_id.clone(),
            runner,
            decision,
            workdir,
            cwd,
        })
    }

    /// Checks one command and runs it (sending its events to `events` as they happen), or
    /// stores it for approval.
    pub async fn execute(
        &self,
        principal: &Principal,
        request: ExecuteRequest,
        events: mpsc::UnboundedSender<TerminalEvent>,
    ) -> DomainResult<Outcome> {
        let Admitted {
            user_id,
            runner,
            decision,
            workdir,
            cwd,
        } = self.admit(principal, &request).await?;
        let command = request.command;
        if decision.verdict == Verdict::NeedsApproval {
            let approval_id = approvals::create(
                &self.db,
                approvals::NewApproval {
                    status: approvals::PENDING,
                    user_id: &user_id,
                    session: request.session.as_deref(),
                    command: &command,
                    cwd: request.cwd.as_deref(),
                    reasons: &decision.reasons,
                },
            )
            .await?;
            record(&self.governance, &user_id, &command, json!({"decision": "approval_required", "reasons": decision.reasons, "approval_id": approval_id})).await;
            return Ok(Outcome::Pending {
                approval_id,
                reasons: decision.reasons,
            });
        }
        let finished = runner
            .run(&user_id, (&workdir, &cwd), &command, events, None)
            .await?;
        Ok(Outcome::Finished(finished))
    }

    /// Approves (the command runs in the background, its progress on the bus) or rejects a
    /// pending command. The owner may; reviewers and admins may when configured. Anyone else
    /// is told it does not exist.
    pub async fn resolve(
        &self,
        principal: &Principal,
        approval_id: &str,
        approve: bool,
    ) -> DomainResult<Resolution> {
        let actor = principal.actor()?;
        let not_found = || DomainError::NotFound("approval".into());
        let pending = approvals::find(&self.db, approval_id)
            .await?
            .ok_or_else(not_found)?;
        let owner = pending.user_id == actor.user_id;
        let reviewer = self.config.reviewers_approve
            && (actor.has_role(Role::Admin) || actor.has_role(Role::Reviewer));
        if !owner && !reviewer {
            return Err(not_found());
        }
        if !reviewer {
            actor.require(Scope::TerminalExecute)?;
        }
        let runner = self.runner.clone().ok_or_else(disabled)?;
        let status = if approve {
            approvals::RUNNING
        } else {
            approvals::REJECTED
        };
        if !approvals::claim(&self.db, approval_id, status, &actor.user_id).await? {
            return Err(DomainError::Conflict(format!(
                "approval {approval_id} was already resolved ({})",
                pending.status
            )));
        }
        let update = {
            let pending = pending.clone();
            move |frame| {
                Event::Command(Box::new(CommandUpdate {
                    approval_id: pending.id.clone(),
                    owner: pending.user_id.clone(),
                    session: pending.session.clone(),
                    frame,
                }))
            }
        };
        let resolution = Resolution {
            approval_id: pending.id.clone(),
            command: pending.command.clone(),
            status: if approve { "approved" } else { "rejected" },
        };
        if !approve {
            record(
                &self.governance,
                &pending.user_id,
                &pending.command,
                json!({"decision": "rejected", "approval_id": approval_id, "by": actor.user_id}),
            )
            .await;
            self.bus.publish(update(CommandFrame::Rejected {
                by: actor.user_id.clone(),
            }));
            return Ok(resolution);
        }
        let workdir = self.workdir(&pending.user_id, pending.session.as_deref())?;
        let cwd = resolve_cwd(&workdir, pending.cwd.as_deref())?;
        self.spawn(runner, pending, workdir, cwd);
        Ok(resolution)
    }

    /// Runs a stored command in the background: its frames go on the bus, its result into
    /// the store.
    fn spawn(
        &self,
        runner: Runner,
        run: orrery_entities::terminal_run::Model,
        workdir: PathBuf,
        cwd: PathBuf,
    ) {
        let update = {
            let run = run.clone();
            move |frame| {
                Event::Command(Box::new(CommandUpdate {
                    approval_id: run.id.clone(),
                    owner: run.user_id.clone(),
                    session: run.session.clone(),
                    frame,
                }))
            }
        };
        let (events, mut rx) = mpsc::unbounded_channel();
        let bus = self.bus.clone();
        let db = self.db.clone();
        tokio::spawn(async move {
            let forward = {
                let bus = bus.clone();
                let update = update.clone();
                tokio::spawn(async move {
                    while let Some(event) = rx.recv().await {
                        bus.publish(update(CommandFrame::Event(event)));
                    }
                })
            };
            let finished = runner
                .run(
                    &run.user_id,
                    (&workdir, &cwd),
                    &run.command,
                    events,
                    Some(&run.id),
                )
                .await;
            let _ = forward.await;
            let frame = match finished {
                Ok(finished) => {
                    if let Err(err) = approvals::finish(&db, &run.id, &finished).await {
                        tracing::error!(%err, "could not store a command's result");
                    }
                    CommandFrame::Complete(finished)
                }
                Err(err) => {
                    CommandFrame::Failed(crate::http::dialect::public_message(&err.logged()))
                }
            };
            bus.publish(update(frame));
        });
    }

    /// Checks a command and starts it in the background (or stores it for approval);
    /// follow it with [`TerminalService::run_of`] and the bus.
    pub async fn start(
        &self,
        principal: &Principal,
        request: ExecuteRequest,
    ) -> DomainResult<StoredRun> {
        let Admitted {
            user_id,
            runner,
            decision,
            workdir,
            cwd,
        } = self.admit(principal, &request).await?;
        let waits = decision.verdict == Verdict::NeedsApproval;
        let id = approvals::create(
            &self.db,
            approvals::NewApproval {
                status: if waits {
                    approvals::PENDING
                } else {
                    approvals::RUNNING
                },
                user_id: &user_id,
                session: request.session.as_deref(),
                command: &request.command,
                cwd: request.cwd.as_deref(),
                reasons: &decision.reasons,
            },
        )
        .await?;
        let run = approvals::find(&self.db, &id)
            .await?
            .ok_or_else(|| DomainError::Internal("a stored run vanished".into()))?;
        if waits {
            record(&self.governance, &user_id, &request.command, json!({"decision": "approval_required", "reasons": decision.reasons, "approval_id": id})).await;
        } else {
            self.spawn(runner, run.clone(), workdir, cwd);
        }
        Ok(stored(run))
    }

    /// One of the principal's runs (approvals included), as stored.
    pub async fn run_of(&self, principal: &Principal, id: &str) -> DomainResult<StoredRun> {
        let actor = principal.actor()?;
        approvals::find(&self.db, id)
            .await?
            .filter(|r| r.user_id == actor.user_id)
            .map(stored)
            .ok_or_else(|| DomainError::NotFound("command run".into()))
    }
}

/// A command run as stored: `pending`, `running`, `rejected`, or finished with its result.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    pub id: String,
    pub owner: String,
    pub command: String,
    pub status: String,
    pub reasons: Vec<String>,
    /// The finished run's `{status, exitCode, stdout, stderr, duration, killed, sandbox}`.
    pub result: Option<serde_json::Value>,
}

fn stored(run: orrery_entities::terminal_run::Model) -> StoredRun {
    StoredRun {
        reasons: serde_json::from_str(&run.reasons).unwrap_or_default(),
        result: run
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
        id: run.id,
        owner: run.user_id,
        command: run.command,
        status: run.status,
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
