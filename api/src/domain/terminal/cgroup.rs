//! A cgroup per command (v1 `pids` and `memory` controllers, as this machine mounts them):
//! bounds on processes and memory across everything the command starts — rlimits bound one
//! process, or one user across all commands — and a complete list of what to kill at the
//! end, which a process group is not (a child may leave its group). Needs root; where it
//! cannot be made, the command runs without it and the report says why.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

const ROOT: &str = "/sys/fs/cgroup";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// One command's cgroups; dropping it kills what is left in them and removes them.
pub struct CommandCgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each, open for the child to write itself into before it execs.
    procs: Vec<OwnedFd>,
    pids_max: u64,
    memory_bytes: u64,
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("{}: {e}", path.display()))
}

impl CommandCgroup {
    /// Makes the cgroups (`Err` says why they cannot be).
    pub fn create(pids_max: u64, memory_bytes: u64) -> Result<Self, String> {
        let root = Path::new(ROOT);
        if root.join("cgroup.controllers").exists() {
            return Err("cgroup v2 (the unified hierarchy) is not supported yet".into());
        }
        // SAFETY: reads this process's effective uid.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the server is not root".into());
        }
        let name = format!(
            "cmd-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut cgroup = Self {
            dirs: Vec::new(),
            procs: Vec::new(),
            pids_max,
            memory_bytes,
        };
        for controller in ["pids", "memory"] {
            let mount = root.join(controller);
            if !mount.join("cgroup.procs").exists() {
                return Err(format!("the {controller} controller is not mounted"));
            }
            let dir = mount.join("orrery").join(&name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            cgroup.dirs.push(dir.clone());
            if controller == "pids" {
                write(&dir.join("pids.max"), &pids_max.to_string())?;
            } else {
                write(
                    &dir.join("memory.limit_in_bytes"),
                    &memory_bytes.to_string(),
                )?;
                // Without it, swap would stretch the bound (absent when swap accounting is off).
                let swap = dir.join("memory.memsw.limit_in_bytes");
                if swap.exists() {
                    write(&swap, &memory_bytes.to_string())?;
                }
            }
            let procs = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            cgroup.procs.push(procs.into());
        }
        Ok(cgroup)
    }

    /// The `cgroup.procs` descriptors the child writes `0` (itself) into, between fork and
    /// exec, so it and everything it starts are inside before anything runs.
    pub fn join_fds(&self) -> Vec<i32> {
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    pub fn report(&self) -> Value {
        json!({"version": 1, "pids_max": self.pids_max, "memory_bytes": self.memory_bytes})
    }

    /// SIGKILL to every process still in the command's cgroups.
    pub fn kill_all(&self) {
        for dir in &self.dirs {
            let listed = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in listed.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // Never this server or an unset pid.
                if pid > 1 && pid != std::process::id() as i32 {
                    // SAFETY: signals a process listed in the command's own cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

/// Writes `0` to each descriptor: moves the calling process into those cgroups. Only
/// async-signal-safe calls, for `pre_exec`.
pub fn join(fds: &[i32]) -> std::io::Result<()> {
    let zero = b"0";
    for &fd in fds {
        // SAFETY: `fd` is an open descriptor the parent passed for exactly this write.
        if unsafe { libc::write(fd, zero.as_ptr().cast(), zero.len()) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Drop for CommandCgroup {
    fn drop(&mut self) {
        self.kill_all();
        let dirs = std::mem::take(&mut self.dirs);
        // A cgroup is removable once its killed processes are reaped, which takes a moment.
        std::thread::spawn(move || {
            for _ in 0..100 {
                let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
                if left.is_empty() {
                    return;
                }
                for dir in left {
                    let _ = std::fs::remove_dir(dir);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            tracing::warn!(cgroups = ?names, "a command's cgroups could not be removed");
        });
    }
}
