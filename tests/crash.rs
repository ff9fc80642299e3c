//! Invariants 1 and 5 against real crashes: `entrasync once` is killed (SIGKILL) at many moments
//! of its cycle — while it fetches, while it commits a large first round in stages, while it
//! flushes, while it commits a bulk incremental change — and the tenant changes between runs.
//! Whatever was cut short, the next complete run leaves the snapshot exactly equal to the
//! tenant: no one lost, no one kept who is gone.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_snapshot_matches, write_config};
use entrasync::emulator::{Emulator, EmulatorOptions, Tenant, synthetic_group_id};
use entrasync::snapshot::Snapshot;
use serde_json::json;

const GROUPS: usize = 20;

/// Runs `entrasync once`, killing it after `kill_after` if it has not finished; true when it ran
/// to the end by itself with status 0.
async fn once(config: &std::path::Path, kill_after: Option<Duration>) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .arg("--config")
        .arg(config)
        .args(["-q", "once"])
        .env_remove("ENTRASYNC_CONFIG")
        .env("ENTRASYNC_ALLOW_ROOT", "true")
        .stdout(Stdio::null())
        .spawn()
        .expect("entrasync starts");
    let deadline = kill_after.unwrap_or(Duration::from_secs(600));
    let clock = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            return status.code() == Some(0);
        }
        if clock.elapsed() >= deadline {
            child.kill().expect("kill works");
            child.wait().expect("the killed child is reaped");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Changes some users and memberships, as a working day does.
fn a_working_day(tenant: &mut Tenant, day: usize) {
    let ids = tenant.user_ids();
    for (i, id) in ids.iter().enumerate().skip(day).step_by(997).take(20) {
        tenant.update_user(id, json!({"jobTitle": format!("Day {day} {i}")}));
    }
    tenant.soft_delete_user(&ids[day * 13 % ids.len()]);
    tenant.hard_delete_user(&ids[day * 29 % ids.len()]);
    let group = synthetic_group_id(day % GROUPS);
    for id in ids.iter().skip(day * 7).step_by(101).take(30) {
        if tenant.members(&group).contains(id) {
            tenant.remove_member(&group, id);
        } else {
            tenant.add_member(&group, id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_moment_the_next_complete_run_converges() {
    let tenant = Tenant::synthetic(12_000, GROUPS, 24_000, 99);
    let emulator = Emulator::start(
        tenant,
        EmulatorOptions {
            user_page_size: 500,
            ..EmulatorOptions::default()
        },
    )
    .await
    .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let scoped: Vec<String> = (0..GROUPS).map(synthetic_group_id).collect();
    let names: Vec<&str> = scoped.iter().map(String::as_str).collect();
    let config = write_config(&dir, &emulator, &names, "direct", &emulator.client_secret());

    // How long a clean first run takes, to spread the kills over it.
    let probe = tempfile::tempdir().expect("tempdir");
    let probe_config = write_config(
        &probe,
        &emulator,
        &names,
        "direct",
        &emulator.client_secret(),
    );
    let clock = std::time::Instant::now();
    assert!(
        once(&probe_config, None).await,
        "a clean first run succeeds"
    );
    let full = clock.elapsed();

    let mut killed = 0;
    for (day, percent) in [5, 20, 35, 50, 60, 70, 80, 90, 95, 99]
        .into_iter()
        .enumerate()
    {
        let kill_after = full.mul_f64(f64::from(percent) / 100.0);
        if !once(&config, Some(kill_after)).await {
            killed += 1;
        }
        if day % 3 == 2 {
            emulator.mutate(|t| a_working_day(t, day));
        }
    }
    assert!(killed >= 5, "most runs were cut short ({killed} of 10)");
    emulator.mutate(|t| a_working_day(t, 11));
    assert!(
        once(&config, None).await,
        "a complete run after the crashes"
    );

    // A large incremental round (a bulk change of 3,000 users) is committed in stages, with
    // delta links stored: kill it at several moments too.
    emulator.mutate(|t| {
        for id in t.user_ids().into_iter().take(3_000) {
            t.update_user(&id, json!({"department": "Reorganised"}));
        }
    });
    for millis in [40, 120, 250, 400, 700] {
        once(&config, Some(Duration::from_millis(millis))).await;
    }
    assert!(
        once(&config, None).await,
        "a complete run after the bulk change"
    );
    // And once more, incremental from the links that run stored.
    emulator.mutate(|t| a_working_day(t, 12));
    assert!(once(&config, None).await, "an incremental run");

    let state_dir = dir.path().join("state");
    let opened = Snapshot::open(&state_dir).expect("the snapshot opens");
    assert!(
        opened.recovered_from.is_none(),
        "killing never damaged the database"
    );
    assert_snapshot_matches(&opened.snapshot, &emulator, &scoped);
    let links = opened.snapshot.delta_links().expect("reads");
    assert!(links.users.is_some() && links.groups.len() == 1);
}
