//! The service loop under tokio's paused time: the schedule (interval and cron), no overlap, a
//! slow cycle delaying the next, shutdown while waiting and during a cycle, the back-off after
//! failures, and reloads. The cycle here is a script (how long each takes, how it ends); the
//! real one — the engine against the emulator — is tested through the binary in
//! `tests/service.rs`.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::scheduler::{self, Clock, Cycles, Stopped, Why, next_start};
use super::state::{CycleResult, Outcome, ServiceState};
use crate::config::Schedule;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a test time in RFC 3339")
        .with_timezone(&Utc)
}

fn schedule(text: &str) -> Schedule {
    Schedule::parse(text).expect("a valid test schedule")
}

fn ok() -> Outcome {
    Outcome::Ran {
        exit_status: 0,
        headline: "done".into(),
    }
}

fn failed() -> Outcome {
    Outcome::Failed {
        error: "Graph unavailable".into(),
    }
}

const MIN: Duration = Duration::from_secs(60);

/// Cycles that take the scripted time and end as scripted (the last step repeats), recording
/// when each started and ended.
struct Script {
    clock: Clock,
    steps: VecDeque<(Duration, Outcome)>,
    reloads: VecDeque<Result<Schedule, String>>,
    runs: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    started: Vec<DateTime<Utc>>,
}

impl Script {
    fn new(clock: Clock, steps: &[(Duration, Outcome)]) -> Script {
        Script {
            clock,
            steps: steps.iter().cloned().collect(),
            reloads: VecDeque::new(),
            runs: Vec::new(),
            started: Vec::new(),
        }
    }
}

impl Cycles for Script {
    async fn cycle(&mut self) -> Outcome {
        let start = self.clock.now();
        self.started.push(start);
        let (takes, outcome) = if self.steps.len() > 1 {
            self.steps.pop_front()
        } else {
            self.steps.front().cloned()
        }
        .expect("a script has at least one step");
        tokio::time::sleep(takes).await;
        self.runs.push((start, self.clock.now()));
        outcome
    }

    fn reload(&mut self) -> Result<Schedule, String> {
        self.reloads
            .pop_front()
            .unwrap_or_else(|| Err("no reload scripted".into()))
    }
}

/// A loop running `script` on `schedule` from `start`, with its controls.
struct Running {
    shutdown: CancellationToken,
    reload: mpsc::Sender<()>,
    state: watch::Receiver<ServiceState>,
    task: tokio::task::JoinHandle<(Script, Stopped)>,
}

fn start(mut script: Script, schedule: Schedule, stop_within: Duration) -> Running {
    let shutdown = CancellationToken::new();
    let (reload, reloads) = mpsc::channel(1);
    let (state_tx, state) = watch::channel(ServiceState::new(script.clock.now(), &schedule));
    let token = shutdown.clone();
    let clock = script.clock;
    let task = tokio::spawn(async move {
        let stopped = scheduler::run(
            &mut script,
            schedule,
            clock,
            token,
            reloads,
            &state_tx,
            stop_within,
        )
        .await;
        (script, stopped)
    });
    Running {
        shutdown,
        reload,
        state,
        task,
    }
}

impl Running {
    /// Lets `time` pass, then stops the loop and returns what ran.
    async fn stop_after(self, time: Duration) -> (Script, Stopped) {
        tokio::time::sleep(time).await;
        self.shutdown.cancel();
        self.task.await.expect("the loop does not panic")
    }
}

fn starts(script: &Script) -> Vec<DateTime<Utc>> {
    script.runs.iter().map(|(s, _)| *s).collect()
}

#[tokio::test(start_paused = true)]
async fn an_interval_starts_a_cycle_at_once_then_every_interval_from_the_last_start() {
    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let script = Script::new(clock, &[(Duration::from_secs(90), ok())]);
    let running = start(script, schedule("40m"), MIN);
    let (script, stopped) = running.stop_after(125 * MIN).await;
    assert_eq!(stopped, Stopped::Waiting);
    let want: Vec<_> = ["10:00:00", "10:40:00", "11:20:00", "12:00:00"]
        .iter()
        .map(|t| at(&format!("2026-12-06T{t}Z")))
        .collect();
    assert_eq!(starts(&script), want);
}

#[tokio::test(start_paused = true)]
async fn a_cron_expression_starts_on_its_times_in_utc() {
    let clock = Clock::tokio_from(at("2026-12-06T10:59:50Z"));
    let script = Script::new(clock, &[(Duration::from_secs(5), ok())]);
    let running = start(script, schedule("0 0 * * * *"), MIN);
    let (script, _) = running
        .stop_after(TimeDelta::minutes(70).to_std().unwrap_or(MIN))
        .await;
    let want: Vec<_> = ["10:59:50", "11:00:00", "12:00:00"]
        .iter()
        .map(|t| at(&format!("2026-12-06T{t}Z")))
        .collect();
    assert_eq!(starts(&script), want);
}

#[tokio::test(start_paused = true)]
async fn a_slow_cycle_delays_the_next_and_cycles_never_overlap() {
    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let script = Script::new(clock, &[(50 * MIN, ok())]);
    let running = start(script, schedule("40m"), MIN);
    let (script, stopped) = running.stop_after(149 * MIN + MIN / 2).await;
    assert_eq!(stopped, Stopped::AfterCycle);
    assert_eq!(script.runs.len(), 3, "{:?}", script.runs);
    for pair in script.runs.windows(2) {
        let ((_, ended), (next, _)) = (pair[0], pair[1]);
        assert_eq!(
            next, ended,
            "the next starts as soon as the slow one ends, not before"
        );
    }
    assert_eq!(
        script.started.len(),
        script.runs.len(),
        "no cycle started twice"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_while_waiting_ends_at_once() {
    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let script = Script::new(clock, &[(MIN, ok())]);
    let running = start(script, schedule("40m"), MIN);
    let before = tokio::time::Instant::now();
    let (script, stopped) = running.stop_after(10 * MIN).await;
    assert_eq!(stopped, Stopped::Waiting);
    assert_eq!(script.runs.len(), 1);
    assert_eq!(before.elapsed(), 10 * MIN, "no time passes after the stop");
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_a_cycle_lets_it_finish_within_the_bound() {
    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let script = Script::new(clock, &[(Duration::from_secs(30), ok())]);
    let running = start(script, schedule("40m"), MIN);
    let before = tokio::time::Instant::now();
    let (script, stopped) = running.stop_after(Duration::from_secs(10)).await;
    assert_eq!(stopped, Stopped::AfterCycle);
    assert_eq!(script.runs.len(), 1, "the cycle finished");
    assert_eq!(before.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_cycle_longer_than_the_bound_is_cut_off_at_the_bound() {
    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let script = Script::new(clock, &[(5 * MIN, ok())]);
    let running = start(script, schedule("40m"), MIN);
    let before = tokio::time::Instant::now();
    let (script, stopped) = running.stop_after(Duration::from_secs(10)).await;
    assert_eq!(stopped, Stopped::CutOff);
    assert!(script.runs.is_empty(), "the cycle did not finish");
    assert_eq!(before.elapsed(), Duration::from_secs(70));
}

#[tokio::test(start_paused = true)]
async fn failed_cycles_in_a_row_back_off_until_one_succeeds() {
    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let steps = [
        (MIN, failed()),
        (MIN, failed()),
        (MIN, failed()),
        (MIN, failed()),
        (MIN, ok()),
    ];
    let script = Script::new(clock, &steps);
    let running = start(script, schedule("40m"), MIN);
    let state = running.state.clone();
    tokio::time::sleep(90 * MIN).await;
    {
        let state = state.borrow();
        assert_eq!(state.consecutive_failures, 3);
        let quarantine = state.quarantine.as_ref().expect("backing off after 3");
        assert_eq!(quarantine.wait_s, 3600);
        assert_eq!(state.next_at, Some(at("2026-12-06T12:21:00Z")));
    }
    let (script, _) = running.stop_after(8 * 60 * MIN).await;
    // 0, 40m, 80m fail; then 1 h after the 3rd ended (81m + 60m), 2 h after the 4th ended
    // (142m + 120m), which succeeds; then the schedule again.
    let want: Vec<_> = [
        "10:00:00", "10:40:00", "11:20:00", "12:21:00", "14:22:00", "15:02:00",
    ]
    .iter()
    .map(|t| at(&format!("2026-12-06T{t}Z")))
    .collect();
    assert_eq!(&starts(&script)[..want.len()], &want[..]);
    let state = state.borrow();
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.quarantine, None);
}

#[tokio::test(start_paused = true)]
async fn a_reload_changes_the_schedule_a_bad_one_keeps_the_old_and_one_in_quarantine_runs_now() {
    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let mut script = Script::new(clock, &[(MIN, ok())]);
    script.reloads = VecDeque::from([
        Err("bad.toml: schedule is wrong".into()),
        Ok(schedule("10m")),
    ]);
    let running = start(script, schedule("40m"), MIN);
    tokio::time::sleep(5 * MIN).await;
    running.reload.send(()).await.expect("the loop listens");
    tokio::time::sleep(MIN).await;
    assert_eq!(
        running.state.borrow().schedule,
        "every 40m",
        "a refused config changes nothing"
    );
    running.reload.send(()).await.expect("the loop listens");
    tokio::time::sleep(MIN).await;
    assert_eq!(running.state.borrow().schedule, "every 10m");
    let (script, _) = running.stop_after(15 * MIN).await;
    // 10:00, then 10 minutes after that start under the new schedule, then 10:20.
    let want: Vec<_> = ["10:00:00", "10:10:00", "10:20:00"]
        .iter()
        .map(|t| at(&format!("2026-12-06T{t}Z")))
        .collect();
    assert_eq!(starts(&script), want);

    let clock = Clock::tokio_from(at("2026-12-06T10:00:00Z"));
    let mut script = Script::new(clock, &[(MIN, failed())]);
    script.reloads = VecDeque::from([Ok(schedule("40m"))]);
    let running = start(script, schedule("40m"), MIN);
    tokio::time::sleep(90 * MIN).await;
    assert!(running.state.borrow().quarantine.is_some());
    running.reload.send(()).await.expect("the loop listens");
    let (script, _) = running.stop_after(MIN / 2).await;
    assert_eq!(
        starts(&script).last(),
        Some(&at("2026-12-06T11:30:00Z")),
        "ran at once"
    );
}

#[test]
fn the_next_start_follows_the_schedule_overruns_and_backs_off() {
    let every = schedule("40m");
    let hourly = schedule("0 0 * * * *");
    let t = |s: &str| at(&format!("2026-12-06T{s}Z"));
    let cases = [
        (
            &every,
            "10:00:00",
            "10:01:00",
            0,
            "10:40:00",
            Why::OnSchedule,
        ),
        (
            &every,
            "10:00:00",
            "10:50:00",
            0,
            "10:50:00",
            Why::Overran { due: t("10:40:00") },
        ),
        (
            &every,
            "10:00:00",
            "10:40:00",
            0,
            "10:40:00",
            Why::OnSchedule,
        ),
        (
            &hourly,
            "10:00:00",
            "10:05:00",
            2,
            "11:00:00",
            Why::OnSchedule,
        ),
        (
            &hourly,
            "10:00:00",
            "11:30:00",
            0,
            "11:30:00",
            Why::Overran { due: t("11:00:00") },
        ),
        (
            &every,
            "10:00:00",
            "10:01:00",
            3,
            "11:01:00",
            Why::Quarantine {
                failures: 3,
                wait: 60 * MIN,
            },
        ),
        (
            &every,
            "10:00:00",
            "10:01:00",
            5,
            "14:01:00",
            Why::Quarantine {
                failures: 5,
                wait: 240 * MIN,
            },
        ),
    ];
    for (schedule, started, ended, failures, want_at, want_why) in cases {
        let (next, why) = next_start(schedule, t(started), t(ended), failures);
        assert_eq!(
            (next, &why),
            (t(want_at), &want_why),
            "{schedule} {started}–{ended} after {failures} failures"
        );
    }
    let (next, why) = next_start(&every, t("10:00:00"), t("10:01:00"), 30);
    assert_eq!(
        why,
        Why::Quarantine {
            failures: 30,
            wait: 24 * 60 * MIN
        }
    );
    assert_eq!(
        next,
        t("10:01:00") + TimeDelta::days(1),
        "never more than a day"
    );
}

#[test]
fn health_is_good_while_starting_after_success_and_shortly_after_a_failure() {
    let start = at("2026-12-06T10:00:00Z");
    let mut state = ServiceState::new(start, &schedule("40m"));
    assert_eq!(state.health(start), Ok(()), "starting");
    state.cycle_started(start);
    assert!(
        state.health(start + TimeDelta::hours(3)).is_err(),
        "a cycle stuck for hours"
    );
    state.cycle_ended(start, start + TimeDelta::minutes(1), &ok());
    assert_eq!(
        state.health(start + TimeDelta::hours(5)),
        Ok(()),
        "the last cycle ran"
    );
    let later = start + TimeDelta::minutes(40);
    state.cycle_ended(later, later + TimeDelta::minutes(1), &failed());
    assert_eq!(
        state.health(later + TimeDelta::minutes(2)),
        Ok(()),
        "the last success is recent"
    );
    let err = state
        .health(later + TimeDelta::hours(2))
        .expect_err("the last success is old");
    assert!(err.contains("Graph unavailable"), "{err}");
    assert_eq!(
        state.last.as_ref().map(|l| l.result),
        Some(CycleResult::Failed)
    );

    let mut never = ServiceState::new(start, &schedule("40m"));
    never.cycle_ended(start, start + TimeDelta::minutes(1), &failed());
    let err = never
        .health(start + TimeDelta::minutes(2))
        .expect_err("never succeeded");
    assert!(err.contains("no cycle has succeeded yet"), "{err}");
}
