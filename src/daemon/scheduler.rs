//! The service's loop: a cycle at start, then one whenever the schedule says, never two at once.
//!
//! Part of `daemon/` (`entrasync run`). It knows *when*, never *how*: a cycle is whatever
//! [`Cycles::cycle`] does (the engine, in production). One loop runs cycles one after another,
//! so they cannot overlap; a cycle that overruns its slot delays the next, which then starts at
//! once and says so. Shutdown comes in as a [`CancellationToken`]: while waiting it ends the loop
//! at once; during a cycle it lets the cycle finish within `stop_within`. A reload request is
//! taken between cycles. After [`QUARANTINE_AFTER`] failed cycles in a row the loop backs off,
//! as Entra's provisioning quarantine does, until a cycle succeeds or the config is reloaded.
//! Time comes from a [`Clock`] passed in, so the tests run it under tokio's paused time.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::state::{Outcome, ServiceState};
use crate::config::{Schedule, format_duration};

/// Failed cycles in a row after which the loop backs off.
pub const QUARANTINE_AFTER: u32 = 3;
/// The wait after the [`QUARANTINE_AFTER`]th failure; it doubles with each further one.
const FIRST_BACKOFF: Duration = Duration::from_secs(3600);
/// The longest wait between attempts in quarantine (Entra's: once a day).
const LONGEST_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// How long the loop sleeps at most before it looks at the clock again (a suspended machine or
/// a clock step does not leave it sleeping for the wrong time).
const LOOK_AGAIN: Duration = Duration::from_secs(60);

/// What the loop runs: a cycle, and a fresh configuration on request.
pub trait Cycles {
    /// Runs one cycle to its end.
    fn cycle(&mut self) -> impl Future<Output = Outcome>;
    /// Re-reads the configuration; `Err` says why the new one was refused (the old one stays).
    fn reload(&mut self) -> Result<Schedule, String>;
}

/// Where the time comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The machine's clock, in UTC.
    System,
    /// `start` at the moment `at`, moving with tokio's clock (which tests pause and advance).
    Tokio {
        start: DateTime<Utc>,
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `start` now and then moves with tokio's time.
    pub fn tokio_from(start: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            start,
            at: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { start, at } => *start + at.elapsed(),
        }
    }

    /// Sleeps until `time`, looking at the clock again at least every [`LOOK_AGAIN`].
    pub async fn sleep_until(&self, time: DateTime<Utc>) {
        loop {
            let Ok(left) = (time - self.now()).to_std() else {
                return;
            };
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(LOOK_AGAIN)).await;
        }
    }
}

/// Why the next cycle starts when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Its time in the schedule.
    OnSchedule,
    /// The last cycle ran past the time it was due: it starts as soon as the last one ended.
    Overran { due: DateTime<Utc> },
    /// Backing off after `failures` failed cycles in a row: not before `wait` after the last.
    Quarantine { failures: u32, wait: Duration },
}

/// When the cycle after one that ran from `started` to `ended` starts, after `failures` failed
/// cycles in a row. Pure: the table tests pin it down.
pub fn next_start(
    schedule: &Schedule,
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    failures: u32,
) -> (DateTime<Utc>, Why) {
    let due = schedule
        .next_after(started)
        .unwrap_or(ended + LONGEST_BACKOFF);
    if failures >= QUARANTINE_AFTER {
        let doublings = (failures - QUARANTINE_AFTER).min(16);
        let wait = (FIRST_BACKOFF * 2u32.pow(doublings)).min(LONGEST_BACKOFF);
        return (due.max(ended + wait), Why::Quarantine { failures, wait });
    }
    if due < ended {
        (ended, Why::Overran { due })
    } else {
        (due, Why::OnSchedule)
    }
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to stop while waiting for the next cycle.
    Waiting,
    /// Asked to stop during a cycle, which then finished.
    AfterCycle,
    /// Asked to stop during a cycle that did not finish within the bound: it was dropped
    /// midway (safe: nothing it had not finished is recorded, and the next run converges).
    CutOff,
}

/// Runs cycles on `schedule` until `shutdown`, publishing what happens in `state`.
pub async fn run<C: Cycles>(
    cycles: &mut C,
    mut schedule: Schedule,
    clock: Clock,
    shutdown: CancellationToken,
    mut reloads: mpsc::Receiver<()>,
    state: &watch::Sender<ServiceState>,
    stop_within: Duration,
) -> Stopped {
    let mut next = clock.now();
    // When the last cycle started and ended.
    let mut last: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    loop {
        state.send_modify(|s| s.next_at = Some(next));
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Stopped::Waiting,
            Some(()) = reloads.recv() => {
                if let Some(now) = reload(cycles, &mut schedule, state, clock.now()) {
                    next = now;
                } else if let Some((started, ended)) = last {
                    let failures = state.borrow().consecutive_failures;
                    next = next_start(&schedule, started, ended, failures).0;
                }
                continue;
            }
            _ = clock.sleep_until(next) => {}
        }

        let started = clock.now();
        state.send_modify(|s| s.cycle_started(started));
        let mut reload_asked = false;
        let outcome = {
            let cycle = cycles.cycle();
            tokio::pin!(cycle);
            let stop = async {
                shutdown.cancelled().await;
                tracing::info!(
                    "stopping: the running cycle may finish within {}",
                    format_duration(stop_within)
                );
                tokio::time::sleep(stop_within).await;
            };
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    // A cycle that ends at the bound's very moment counts as finished.
                    biased;
                    outcome = &mut cycle => break Some(outcome),
                    () = &mut stop => break None,
                    Some(()) = reloads.recv(), if !reload_asked => {
                        reload_asked = true;
                        tracing::info!("the configuration is read again when the running cycle ends");
                    }
                }
            }
        };
        let ended = clock.now();
        let Some(outcome) = outcome else {
            tracing::warn!(
                "the cycle did not finish within {} of the stop request and was stopped midway; nothing it had not finished is recorded, and the next run picks up from there",
                format_duration(stop_within)
            );
            return Stopped::CutOff;
        };
        last = Some((started, ended));
        state.send_modify(|s| s.cycle_ended(started, ended, &outcome));
        if shutdown.is_cancelled() {
            return Stopped::AfterCycle;
        }
        if reload_asked {
            if let Some(now) = reload(cycles, &mut schedule, state, ended) {
                next = now;
                continue;
            }
        }
        let failures = state.borrow().consecutive_failures;
        let (at, why) = next_start(&schedule, started, ended, failures);
        next = at;
        match why {
            Why::OnSchedule => {}
            Why::Overran { due } => tracing::warn!(
                took = %format_duration((ended - started).to_std().unwrap_or_default()),
                due = %due.format("%H:%M:%S UTC"),
                "the cycle ran past the next one's time ({schedule}): the next starts now, and none are run twice"
            ),
            Why::Quarantine { failures, wait } => tracing::warn!(
                failures,
                next = %at.format("%Y-%m-%d %H:%M:%S UTC"),
                "{failures} cycles in a row failed: backing off, the next try in {} (reload the configuration to try at once)",
                format_duration(wait)
            ),
        }
        state.send_modify(|s| {
            s.quarantine = match why {
                Why::Quarantine { failures, wait } => Some(super::state::Quarantine {
                    failures,
                    wait_s: wait.as_secs(),
                }),
                _ => None,
            }
        });
    }
}

/// Reloads the configuration. `Some(now)` when the next cycle should start at once: a good
/// config ends a quarantine (the operator fixed something).
fn reload<C: Cycles>(
    cycles: &mut C,
    schedule: &mut Schedule,
    state: &watch::Sender<ServiceState>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match cycles.reload() {
        Ok(new) => {
            tracing::info!("configuration read again; schedule {new}");
            *schedule = new;
            let quarantined = state.borrow().quarantine.is_some();
            state.send_modify(|s| s.reloaded(now, schedule));
            quarantined.then(|| {
                tracing::info!("the configuration changed during the back-off: trying again now");
                now
            })
        }
        Err(why) => {
            tracing::error!("{why}; the configuration loaded before stays in use");
            None
        }
    }
}
