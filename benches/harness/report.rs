//! Measuring and reporting for the harness: CPU time and peak memory of a child run of the
//! binary (wait4), medians.

use std::time::Duration;

/// What one run of a child process cost: wall time, CPU time (user and system) and peak
/// resident memory in MB, from the kernel's accounting of it (wait4).
pub struct ChildCost {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_mb: f64,
    pub success: bool,
}

/// Runs `command` to its end and measures it.
pub fn run_measured(command: &mut std::process::Command) -> ChildCost {
    let clock = std::time::Instant::now();
    let child = command.spawn().expect("the binary starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes only into `status` and `usage`, which outlive the call; `pid` is our
    // own child, not yet waited for (the Child handle is never waited on).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 reaps the child");
    drop(child);
    ChildCost {
        wall: clock.elapsed(),
        cpu: of(usage.ru_utime) + of(usage.ru_stime),
        // ru_maxrss is in kilobytes on Linux.
        peak_mb: usage.ru_maxrss as f64 / 1024.0,
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
