//! The sandbox helper: the server re-runs its own binary as `orrery sandbox-exec`, which
//! confines itself layer by layer and then becomes `/bin/sh -c <command>`. It runs before
//! any thread exists (Landlock and seccomp bind the calling thread), writes the layers it
//! put in place as one JSON line to fd 3, and never returns. Seccomp fails closed: without
//! it nothing runs.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::FromRawFd;

use serde_json::{json, Value};

/// What the helper is told on its command line.
#[derive(Debug, PartialEq)]
pub struct Spec {
    pub workdir: String,
    pub cpu_secs: u64,
    pub address_space: u64,
    pub file_size: u64,
    pub open_files: u64,
    pub processes: u64,
    pub command: String,
}

impl Spec {
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "sandbox-exec".into(),
            "--workdir".into(),
            self.workdir.clone(),
            "--cpu".into(),
            self.cpu_secs.to_string(),
            "--as".into(),
            self.address_space.to_string(),
            "--fsize".into(),
            self.file_size.to_string(),
            "--nofile".into(),
            self.open_files.to_string(),
            "--nproc".into(),
            self.processes.to_string(),
            "--".into(),
            self.command.clone(),
        ]
    }

    pub fn parse(args: &[String]) -> Option<Spec> {
        let mut spec = Spec {
            workdir: String::new(),
            cpu_secs: 0,
            address_space: 0,
            file_size: 0,
            open_files: 0,
            processes: 0,
            command: String::new(),
        };
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            if flag == "--" {
                spec.command = rest.next()?.clone();
                break;
            }
            let value = rest.next()?;
            match flag.as_str() {
                "--workdir" => spec.workdir = value.clone(),
                "--cpu" => spec.cpu_secs = value.parse().ok()?,
                "--as" => spec.address_space = value.parse().ok()?,
                "--fsize" => spec.file_size = value.parse().ok()?,
                "--nofile" => spec.open_files = value.parse().ok()?,
                "--nproc" => spec.processes = value.parse().ok()?,
                _ => return None,
            }
        }
        (!spec.workdir.is_empty() && !spec.command.is_empty()).then_some(spec)
    }
}

/// The unprivileged user commands run as when the server runs as root.
pub const NOBODY: u32 = 65534;

/// Writes the report to fd 3 and closes it, so the command cannot write a report of its own.
fn report(layers: &Value) {
    // SAFETY: only queries whether fd 3 is open.
    if unsafe { libc::fcntl(3, libc::F_GETFD) } < 0 {
        return;
    }
    // SAFETY: fd 3 is open and is the report pipe the server gave this process; the file
    // owns and closes it.
    let mut file = unsafe { std::fs::File::from_raw_fd(3) };
    let _ = writeln!(file, "{layers}");
}

fn fail(layers: &mut Value, why: String) -> ! {
    layers["error"] = why.clone().into();
    report(layers);
    eprintln!("sandbox: {why}; the command was not run");
    std::process::exit(126);
}

/// Entry point of `orrery sandbox-exec …`.
pub fn helper_main(args: &[String]) -> ! {
    let mut layers = json!({});
    let Some(spec) = Spec::parse(args) else {
        fail(&mut layers, "bad sandbox-exec arguments".into());
    };
    if let Err(why) = confine(&spec, &mut layers) {
        fail(&mut layers, why);
    }
    report(&layers);
    let sh = CString::new("/bin/sh").expect("static");
    let argv = [
        CString::new("sh").expect("static"),
        CString::new("-c").expect("static"),
        CString::new(spec.command.replace('\0', "")).expect("no NUL left"),
    ];
    let env = [
        "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
        format!("HOME={}", spec.workdir),
        format!("TMPDIR={}/.tmp", spec.workdir),
        format!(
            "PWD={}",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        ),
        "LANG=C.UTF-8".to_string(),
        "TERM=dumb".to_string(),
    ];
    let env: Vec<CString> = env
        .into_iter()
        .filter_map(|e| CString::new(e).ok())
        .collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and null-terminated pointer arrays that outlive the call.
    unsafe { libc::execve(sh.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    eprintln!(
        "sandbox: cannot run /bin/sh: {}",
        std::io::Error::last_os_error()
    );
    std::process::exit(127);
}

fn confine(spec: &Spec, layers: &mut Value) -> Result<(), String> {
    // The server started this process in the (checked) cwd inside the work dir.
    let _ = std::fs::create_dir_all(format!("{}/.tmp", spec.workdir));
    layers["environment"] = "cleared".into();
    layers["workdir"] = spec.workdir.clone().into();
    set_limits(spec)?;
    layers["rlimits"] = json!({
        "cpu_secs": spec.cpu_secs, "address_space": spec.address_space,
        "file_size": spec.file_size, "open_files": spec.open_files,
        "processes": spec.processes, "core": 0
    });
    // SAFETY: prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err("cannot set no_new_privs".into());
    }
    layers["no_new_privs"] = true.into();
    // Before the user changes: the work dir's parents may not be open to `nobody`.
    layers["landlock"] = landlock(&spec.workdir);
    // SAFETY: plain syscalls on this process.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let _ =
            std::os::unix::fs::chown(format!("{}/.tmp", spec.workdir), Some(NOBODY), Some(NOBODY));
        // SAFETY: dropping supplementary groups, then group, then user, in that order.
        let dropped = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(NOBODY) == 0
                && libc::setuid(NOBODY) == 0
        };
        if !dropped {
            return Err(format!(
                "cannot drop to uid {NOBODY}: {}",
                std::io::Error::last_os_error()
            ));
        }
        layers["user"] = "nobody".into();
    } else {
        layers["user"] = "unchanged (the server is not root)".into();
    }
    seccomp()?;
    layers["seccomp"] = json!({"network_sockets": "denied", "ptrace": "denied", "new_sessions": "denied", "mounts": "denied", "io_uring": "denied"});
    Ok(())
}

fn set_limits(spec: &Spec) -> Result<(), String> {
    let limits = [
        (libc::RLIMIT_CPU, spec.cpu_secs),
        (libc::RLIMIT_AS, spec.address_space),
        (libc::RLIMIT_FSIZE, spec.file_size),
        (libc::RLIMIT_NOFILE, spec.open_files),
        (libc::RLIMIT_NPROC, spec.processes),
        (libc::RLIMIT_CORE, 0),
    ];
    for (resource, value) in limits {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: a valid rlimit for this process.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(format!(
                "setrlimit({resource}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

// Landlock's ABI (linux/landlock.h).
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: u32 = 1;
const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_READ_FILE: u64 = 1 << 2;
const FS_READ_DIR: u64 = 1 << 3;
const FS_TRUNCATE: u64 = 1 << 14;
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// Filesystem rights each ABI version knows (bits 0–12, then REFER, TRUNCATE, IOCTL_DEV).
fn fs_rights(abi: i64) -> u64 {
    let mut rights = (1u64 << 13) - 1;
    if abi >= 2 {
        rights |= 1 << 13;
    }
    if abi >= 3 {
        rights |= 1 << 14;
    }
    if abi >= 5 {
        rights |= 1 << 15;
    }
    rights
}

/// Read-only everywhere, read-write in the work dir, no TCP (ABI ≥ 4), no signals or
/// abstract sockets outside the sandbox (ABI ≥ 6). `null` when the kernel has no Landlock.
fn landlock(workdir: &str) -> Value {
    // SAFETY: the version query takes no ruleset.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi < 1 {
        return Value::Null;
    }
    let all = fs_rights(abi);
    let attr = RulesetAttr {
        handled_access_fs: all,
        handled_access_net: if abi >= 4 {
            NET_BIND_TCP | NET_CONNECT_TCP
        } else {
            0
        },
        scoped: if abi >= 6 {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        },
    };
    let size = match abi {
        1..=3 => 8,
        4 | 5 => 16,
        _ => std::mem::size_of::<RulesetAttr>(),
    };
    // SAFETY: `attr` is valid for `size` bytes.
    let ruleset = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr, size, 0u32) };
    if ruleset < 0 {
        return json!({"abi": abi, "error": std::io::Error::last_os_error().to_string()});
    }
    let ruleset = ruleset as i32;
    let read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;
    let rules = [
        ("/", read),
        (workdir, all),
        (
            "/dev/null",
            FS_READ_FILE | FS_WRITE_FILE | if abi >= 3 { FS_TRUNCATE } else { 0 },
        ),
    ];
    for (path, access) in rules {
        let Ok(c_path) = CString::new(path) else {
            continue;
        };
        // SAFETY: a NUL-terminated path; the fd is closed below.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            continue;
        }
        let beneath = PathBeneath {
            allowed_access: access & all,
            parent_fd: fd,
        };
        // SAFETY: a valid rule for an open ruleset.
        unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset,
                LANDLOCK_RULE_PATH_BENEATH,
                &beneath,
                0u32,
            );
            libc::close(fd);
        }
    }
    // SAFETY: restricts this (single-threaded) process.
    let restricted = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) } == 0;
    // SAFETY: closing our own fd.
    unsafe { libc::close(ruleset) };
    json!({
        "abi": abi,
        "enforced": restricted,
        "filesystem": "read-only except the work dir",
        "tcp": if abi >= 4 { "denied" } else { "not supported by this kernel" },
        "signals": if abi >= 6 { "scoped to the sandbox" } else { "not supported by this kernel" },
    })
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn seccomp() -> Result<(), String> {
    use libc::{sock_filter, sock_fprog};
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let stmt = |code, k| sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code, k, jt, jf| sock_filter { code, jt, jf, k };
    let errno = |e: i32| libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA);
    let denied: &[(libc::c_long, i32)] = &[
        (libc::SYS_ptrace, libc::EPERM),
        (libc::SYS_process_vm_readv, libc::EPERM),
        (libc::SYS_process_vm_writev, libc::EPERM),
        (libc::SYS_setsid, libc::EPERM),
        (libc::SYS_setpgid, libc::EPERM),
        (libc::SYS_mount, libc::EPERM),
        (libc::SYS_umount2, libc::EPERM),
        (libc::SYS_pivot_root, libc::EPERM),
        (libc::SYS_chroot, libc::EPERM),
        (libc::SYS_unshare, libc::EPERM),
        (libc::SYS_setns, libc::EPERM),
        (libc::SYS_io_uring_setup, libc::ENOSYS),
        (libc::SYS_bpf, libc::EPERM),
        (libc::SYS_perf_event_open, libc::EPERM),
        (libc::SYS_kexec_load, libc::EPERM),
    ];
    let mut program = vec![
        // Only this architecture's calling convention.
        stmt(LD_W_ABS, 4),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, 0),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        // The x32 ABI's numbers would slip past the list below.
        program.push(jump(JGE_K, 0x4000_0000, 0, 1));
        program.push(stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = JGE_K;
    for (nr, e) in denied {
        program.push(jump(JEQ_K, *nr as u32, 0, 1));
        program.push(stmt(RET_K, errno(*e)));
    }
    // socket(domain, …): AF_UNIX only.
    program.push(jump(JEQ_K, libc::SYS_socket as u32, 0, 4));
    program.push(stmt(LD_W_ABS, 16));
    program.push(jump(JEQ_K, libc::AF_UNIX as u32, 1, 0));
    program.push(stmt(RET_K, errno(libc::EACCES)));
    program.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    program.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    let fprog = sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: a well-formed filter program that outlives the call; no_new_privs is set.
    let installed = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const sock_fprog,
        )
    };
    if installed != 0 {
        return Err(format!("seccomp: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn seccomp() -> Result<(), String> {
    Err("seccomp filters are not built for this architecture".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_round_trips() {
        let spec = Spec {
            workdir: "/tmp/w".into(),
            cpu_secs: 10,
            address_space: 1 << 30,
            file_size: 1 << 26,
            open_files: 128,
            processes: 64,
            command: "echo -- hi".into(),
        };
        let args = spec.to_args();
        assert_eq!(Spec::parse(&args[1..]), Some(spec));
        assert_eq!(Spec::parse(&["--workdir".into()]), None);
    }
}
