//! The server process's own resource use, read from `/proc/self` (Linux): resident memory
//! and CPU time. CPU use is a rate, so it is measured between two readings: the previous
//! status request's and this one's (the first is measured since the process started).
//! Elsewhere both are unknown (`None`), never made up.

use std::sync::Mutex;
use std::time::Instant;

/// Resident memory of this process, in bytes.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time this process has used (user + system), in seconds.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after its `)` are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks_per_second()?)
}

#[cfg(unix)]
fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

#[cfg(not(unix))]
fn clock_ticks_per_second() -> Option<f64> {
    None
}

/// Measures CPU use between successive readings.
pub struct CpuMeter {
    last: Mutex<(Instant, f64)>,
}

impl CpuMeter {
    /// The first reading is now.
    pub fn starting_now() -> Self {
        Self {
            last: Mutex::new((Instant::now(), cpu_seconds().unwrap_or(0.0))),
        }
    }

    /// Percent of one core used since the previous reading (can exceed 100 on several
    /// cores, as `top` shows it).
    pub fn percent(&self) -> Option<f64> {
        let now_cpu = cpu_seconds()?;
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (then, then_cpu) = *last;
        let wall = now.duration_since(then).as_secs_f64();
        *last = (now, now_cpu);
        (wall > 0.0).then(|| ((now_cpu - then_cpu).max(0.0) / wall * 100.0 * 10.0).round() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        assert!(resident_bytes().unwrap() > 1024 * 1024);
        let meter = CpuMeter::starting_now();
        let before = cpu_seconds().unwrap();
        // Burn a little CPU so the reading has something to show.
        let mut x = 0u64;
        while cpu_seconds().unwrap() - before < 0.05 {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        assert!(meter.percent().unwrap() > 1.0);
    }
}
