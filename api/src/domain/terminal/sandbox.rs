//! Running one command in the sandbox: the helper (`orrery sandbox-exec`, optionally under
//! bubblewrap) in its own process group with a cleared environment, its output streamed in
//! chunks and capped per stream, the whole group killed at the timeout, at the cap, and when
//! the command's shell exits (so background children do not outlive it).

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::cgroup::{self, CommandCgroup};
use super::confine::Spec;
use crate::config::TerminalConfig;
use crate::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finished {
    /// `success`, `error` (non-zero exit or a signal), `timeout` or `killed` (output cap).
    #[serde(deserialize_with = "crate::bus::wire::interned")]
    pub status: crate::bus::wire::StaticName,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
    pub killed: bool,
    /// The layers the helper reported, plus `process_group` and `bubblewrap`.
    pub layers: Value,
}

impl Finished {
    /// The document's `result` object: `{status, exitCode, stdout, stderr, duration, killed}`.
    pub fn result_json(&self) -> Value {
        serde_json::json!({
            "status": self.status,
            "exitCode": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "duration": self.duration_ms,
            "killed": self.killed,
        })
    }
}

/// Where the helper binary is and whether bubblewrap can wrap it.
#[derive(Clone, Debug)]
pub struct Sandbox {
    helper: PathBuf,
    bubblewrap: Option<PathBuf>,
    config: TerminalConfig,
}

fn find_bwrap() -> Option<PathBuf> {
    ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn kill_group(pid: u32) {
    // `kill(0, …)` and `kill(-1, …)` would reach this server's own group or every process.
    if pid <= 1 || pid > i32::MAX as u32 {
        return;
    }
    // SAFETY: signals the process group this sandbox started (its leader's pid).
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

impl Sandbox {
    pub fn new(config: TerminalConfig) -> std::io::Result<Self> {
        let helper = match &config.helper {
            Some(path) => path.clone(),
            None => std::env::current_exe()?,
        };
        let bubblewrap = config.bubblewrap.then(find_bwrap).flatten();
        Ok(Self {
            helper,
            bubblewrap,
            config,
        })
    }

    pub fn bubblewrap(&self) -> bool {
        self.bubblewrap.is_some()
    }

    fn command(&self, workdir: &Path, cwd: &Path, command: &str) -> tokio::process::Command {
        let spec = Spec {
            workdir: workdir.display().to_string(),
            cpu_secs: self.config.cpu_secs,
            address_space: self.config.memory_mb * 1024 * 1024,
            file_size: self.config.file_size_mb * 1024 * 1024,
            open_files: self.config.open_files,
            processes: self.config.processes,
            command: command.to_string(),
        };
        let mut cmd = match &self.bubblewrap {
            Some(bwrap) => {
                let mut cmd = tokio::process::Command::new(bwrap);
                let work = workdir.display().to_string();
                let helper = self.helper.display().to_string();
                // As root, no user namespace: inside one the helper could not become
                // `nobody`, and its mapped root would still own root's files.
                // SAFETY: reads this process's effective uid.
                if unsafe { libc::geteuid() } == 0 {
                    cmd.args(["--unshare-ipc", "--unshare-pid", "--unshare-net"])
                        .args(["--unshare-uts", "--unshare-cgroup-try"]);
                } else {
                    cmd.arg("--unshare-all");
                }
                cmd.args(["--die-with-parent", "--ro-bind", "/", "/"])
                    .args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"])
                    .args([
                        "--bind",
                        &work,
                        &work,
                        "--chdir",
                        &cwd.display().to_string(),
                    ])
                    .args(["--", &helper]);
                cmd
            }
            None => tokio::process::Command::new(&self.helper),
        };
        cmd.args(spec.to_args())
            .current_dir(cwd)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }

    /// Runs `command` with `cwd` (inside `workdir`), sending output chunks to `chunks` as
    /// they come.
    pub async fn run(
        &self,
        workdir: &Path,
        cwd: &Path,
        command: &str,
        chunks: mpsc::UnboundedSender<(Stream, String)>,
    ) -> DomainResult<Finished> {
        let mut fds = [0i32; 2];
        // SAFETY: a fresh close-on-exec pipe for the helper's layer report.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(DomainError::Internal(format!(
                "pipe: {}",
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: both fds were just created and are owned here.
        let (report_read, report_write) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut cmd = self.command(workdir, cwd, command);
        let write_fd = std::os::fd::AsRawFd::as_raw_fd(&report_write);
        let cgroup = if self.config.cgroups {
            CommandCgroup::create(self.config.processes, self.config.memory_mb * 1024 * 1024)
        } else {
            Err("off (terminal.cgroups = false)".into())
        };
        let join_fds = cgroup.as_ref().map(|c| c.join_fds()).unwrap_or_default();
        // SAFETY: dup2 and write are async-signal-safe; the child gets the report pipe as
        // fd 3 and enters the command's cgroups before it execs anything.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(write_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                cgroup::join(&join_fds)
            });
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| DomainError::Unavailable(format!("cannot start the sandbox: {e}")))?;
        drop(report_write);
        let pid = child.id().unwrap_or(0);
        // However this ends — even by the caller going away — the group goes with it.
        let _group = GroupGuard(pid);
        let report = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            let mut file = std::fs::File::from(report_read);
            let _ = std::io::Read::read_to_string(&mut file, &mut text);
            text
        });
        let cap = self.config.max_output_bytes;
        let (tx, mut rx) = mpsc::unbounded_channel::<(Stream, Option<Vec<u8>>)>();
        for (stream, pipe) in [
            (
                Stream::Stdout,
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            ),
            (
                Stream::Stderr,
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            ),
        ] {
            let Some(mut pipe) = pipe else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                loop {
                    match pipe.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send((stream, Some(buffer[..n].to_vec()))).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = tx.send((stream, None));
            });
        }
        drop(tx);
        let deadline = tokio::time::sleep(Duration::from_secs(self.config.timeout_secs.max(1)));
        tokio::pin!(deadline);
        let mut out: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        let mut open = 2;
        let mut exit: Option<std::process::ExitStatus> = None;
        let mut timed_out = false;
        let mut capped = false;
        while open > 0 || exit.is_none() {
            tokio::select! {
                item = rx.recv(), if open > 0 => match item {
                    Some((stream, Some(bytes))) => {
                        let slot = &mut out[stream as usize];
                        let room = cap.saturating_sub(slot.len());
                        let kept = &bytes[..bytes.len().min(room)];
                        slot.extend_from_slice(kept);
                        if !kept.is_empty() {
                            let _ = chunks.send((stream, String::from_utf8_lossy(kept).into_owned()));
                        }
                        if bytes.len() > room && !capped {
                            capped = true;
                            kill_group(pid);
                        }
                    }
                    Some((_, None)) => open -= 1,
                    None => open = 0,
                },
                status = child.wait(), if exit.is_none() => {
                    exit = Some(status.map_err(|e| DomainError::Internal(format!("wait: {e}")))?);
                    // Background children die with the command, in its group or not.
                    kill_group(pid);
                    if let Ok(cgroup) = &cgroup {
                        cgroup.kill_all();
                    }
                }
                _ = &mut deadline, if !timed_out => {
                    timed_out = true;
                    kill_group(pid);
                }
            }
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        let mut layers: Value =
            serde_json::from_str(report.await.unwrap_or_default().trim()).unwrap_or(Value::Null);
        if layers.is_object() {
            layers["process_group"] = true.into();
            layers["bubblewrap"] = self.bubblewrap().into();
            layers["cgroups"] = match &cgroup {
                Ok(cgroup) => cgroup.report(),
                Err(why) => json!({ "unavailable": why }),
            };
        }
        let exit_code = exit.and_then(|s| s.code());
        let status = if timed_out {
            "timeout"
        } else if capped {
            "killed"
        } else if exit_code == Some(0) {
            "success"
        } else {
            "error"
        };
        let [stdout, stderr] = out.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        Ok(Finished {
            status,
            exit_code,
            stdout,
            stderr,
            duration_ms,
            killed: timed_out || capped,
            layers,
        })
    }
}
