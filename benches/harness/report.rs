//! Measuring and reporting for the harness: CPU time (wait4) and peak memory (its VmHWM) of a
//! child run of the binary, medians.

use std::time::Duration;

/// What one run of a child process cost: wall time, CPU time (user and system) and peak
/// resident memory in MB, from the kernel's accounting of it (wait4).
pub struct ChildCost {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_mb: f64,
    pub success: bool,
}

/// Runs `command` to its end and measures it. The peak memory is the child's own VmHWM, read
/// from /proc every few milliseconds while it runs: wait4's `ru_maxrss` would also count the
/// harness's memory, which the child shares until it execs.
pub fn run_measured(command: &mut std::process::Command) -> ChildCost {
    let clock = std::time::Instant::now();
    let child = command.spawn().expect("the binary starts");
    let pid = child.id() as libc::pid_t;
    let status_file = format!("/proc/{pid}/status");
    let mut peak_kb = 0.0f64;
    let mut status = 0;
    // SAFETY: wait4 writes only into `status` and `usage`, which outlive the calls; `pid` is our
    // own child, not yet waited for (the Child handle is never waited on).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        if let Some(kb) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:")))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        // SAFETY: as above.
        let waited = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if waited == pid {
            break;
        }
        assert_eq!(waited, 0, "wait4 watches the child");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(child);
    ChildCost {
        wall: clock.elapsed(),
        cpu: of(usage.ru_utime) + of(usage.ru_stime),
        peak_mb: peak_kb / 1024.0,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    }
}

fn of(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

pub fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN among the samples"));
    values[values.len() / 2]
}
