//! Invariants 3 and 5 against real crashes with a real target: `entrasync once` is killed
//! (SIGKILL) at 50 random moments — while it reads Graph, while it commits, while it applies to
//! scim2-server — with the tenant changing between runs. After each kill the snapshot must open
//! cleanly; after one complete run the target must hold exactly what a clean run from scratch
//! gives for the same tenant: no duplicate user, no lost update. Once with scoped groups, once
//! with app roles deciding scope and permissions (assignments changing between runs too).
//!
//! The kill moments are log-uniform between 5 ms and 3 s, from a seed printed on failure
//! (`ENTRASYNC_CRASH_SEED` replays one).

mod common;
#[path = "common/scim_server.rs"]
mod scim_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Rng, write_config};
use entrasync::emulator::{
    AppRole, DEFAULT_ACCESS, Emulator, EmulatorOptions, Tenant, synthetic_group_id,
};
use entrasync::snapshot::Snapshot;
use serde_json::{Value, json};

const USERS: usize = 80;
const GROUPS: usize = 4;
const KILLS: usize = 50;
/// The app of the app-role run, and its role values.
const APP_ID: &str = "7e1d3c5b-9a2f-4b8d-8c6e-2f4a6b8d0c1e";
const ROLES: [&str; 2] = ["editor", "viewer"];
/// How long after a kill the next run starts (systemd's RestartSec is 30 s).
const SETTLE: Duration = Duration::from_millis(300);

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Ran to the end (any exit status).
    Finished(Option<i32>),
    /// Killed before it committed what it read.
    KilledReading,
    /// Killed after the commit: while planning or applying.
    KilledApplying,
}

/// Runs `entrasync -v once`, killing it after `kill_after` if it has not finished.
async fn once(config: &Path, kill_after: Duration) -> Ended {
    let log = config.with_file_name("once.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .arg("--config")
        .arg(config)
        .args(["-v", "once"])
        .env_remove("ENTRASYNC_CONFIG")
        .env("ENTRASYNC_ALLOW_ROOT", "true")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("entrasync starts");
    let clock = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            return Ended::Finished(status.code());
        }
        if clock.elapsed() >= kill_after {
            child.kill().expect("kill works");
            child.wait().expect("the killed child is reaped");
            // Requests the killed process had sent may still be on their way through the proxy
            // to the server; a restarted service starts long after they landed.
            tokio::time::sleep(SETTLE).await;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return if text.contains("source committed") {
                Ended::KilledApplying
            } else {
                Ended::KilledReading
            };
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A duration log-uniform between 5 ms and 3 s.
fn kill_after(rng: &mut Rng) -> Duration {
    let unit = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64(0.005 * (600f64).powf(unit))
}

/// The app with its two roles: every third user assigned one directly (or default access), and
/// the first two groups assigned a role.
fn with_app(tenant: &mut Tenant) {
    let roles = ROLES.iter().map(|v| AppRole::new(v, v)).collect();
    let sp = tenant
        .add_service_principal("Crash App", APP_ID, roles)
        .expect("the app registers");
    let roles: Vec<String> = tenant.app_roles(&sp).into_iter().map(|r| r.id).collect();
    for (i, user) in tenant.user_ids().iter().enumerate().step_by(3) {
        let role = if i % 2 == 0 {
            DEFAULT_ACCESS
        } else {
            &roles[i % 2]
        };
        tenant.assign_app_role(&sp, user, role).expect("assigns");
    }
    for (i, group) in (0..2).map(synthetic_group_id).enumerate() {
        tenant
            .assign_app_role(&sp, &group, &roles[i])
            .expect("assigns");
    }
}

/// Two assignments given or taken back, when the tenant has the app.
fn change_assignments(tenant: &mut Tenant, rng: &mut Rng) {
    let Some(sp) = tenant.service_principal_id(APP_ID) else {
        return;
    };
    let ids = tenant.user_ids();
    let roles: Vec<String> = tenant.app_roles(&sp).into_iter().map(|r| r.id).collect();
    for _ in 0..2 {
        let user = &ids[rng.next() as usize % ids.len()];
        let role = &roles[rng.next() as usize % roles.len()];
        let held = tenant.app_role_assignments(&sp).into_iter();
        let mut held = held.filter(|a| &a.principal_id == user && &a.app_role_id == role);
        match held.next() {
            Some(assignment) => {
                tenant.unassign(&sp, &assignment.id);
            }
            // A deleted user cannot be assigned.
            None => drop(tenant.assign_app_role(&sp, user, role)),
        }
    }
}

/// What happens between two runs: attribute changes, a move between groups, now and then a
/// leaver, a deleted account and a joiner; and assignments, with the app.
fn change_the_tenant(tenant: &mut Tenant, rng: &mut Rng, run: usize) {
    change_assignments(tenant, rng);
    let ids = tenant.user_ids();
    for _ in 0..15 {
        let id = &ids[rng.next() as usize % ids.len()];
        tenant.update_user(id, json!({"jobTitle": format!("Title {run}"), "department": format!("Dept {}", rng.next() % 5)}));
    }
    let id = &ids[rng.next() as usize % ids.len()];
    let from = synthetic_group_id(rng.next() as usize % GROUPS);
    let to = synthetic_group_id(rng.next() as usize % GROUPS);
    if tenant.members(&from).contains(id) {
        tenant.remove_member(&from, id);
    }
    tenant.add_member(&to, id);
    if run % 7 == 3 {
        tenant.soft_delete_user(&ids[rng.next() as usize % ids.len()]);
    }
    if run % 9 == 5 {
        let joiner = tenant.add_user(json!({
            "userPrincipalName": format!("joiner{run}@contoso.com"),
            "displayName": format!("Joiner {run}"),
            "givenName": "Joiner", "surname": format!("{run}"),
            "mail": format!("joiner{run}@contoso.com"),
            "accountEnabled": true, "userType": "Member",
        }));
        tenant.add_member(&synthetic_group_id(0), &joiner);
    }
}

/// A config for `emulator` with all groups scoped (or, with `app`, the app's assigned users and
/// permissions by app role) and `server` as the SCIM target, in `dir`.
fn scim_config(
    dir: &tempfile::TempDir,
    emulator: &Emulator,
    server: &scim_server::ScimServer,
    app: bool,
) -> PathBuf {
    let scoped: Vec<String> = (0..GROUPS).map(synthetic_group_id).collect();
    let names: Vec<&str> = scoped.iter().map(String::as_str).collect();
    let names = if app { &[][..] } else { &names[..] };
    let path = write_config(dir, emulator, names, "direct", &emulator.client_secret());
    std::fs::write(dir.path().join("scim-token"), &server.token).expect("write the token");
    let mut text = std::fs::read_to_string(&path).expect("reads");
    if app {
        let source = format!("app = {{ client_id = \"{APP_ID}\" }}");
        text = format!(
            "default_permission = \"viewer\"\n{}",
            text.replace("groups = []", &source)
        );
        for (i, role) in ROLES.iter().enumerate() {
            text.push_str(&format!(
                "\n[[permission_groups]]\nname = \"{role}\"\napp_roles = [\"{role}\"]\npriority = {}\n",
                i + 1
            ));
        }
    }
    text.push_str(&format!(
        "\n[deprovision]\nmax_deprovisions = 1000\n\n[target]\nkind = \"scim\"\nurl = \"{}\"\ntoken_file = \"scim-token\"\n",
        server.base_url
    ));
    std::fs::write(&path, text).expect("writes");
    path
}

/// The target's users by externalId, without what the server assigns (id, meta), with lists in
/// a stable order; panics on a duplicate.
async fn users_by_external_id(server: &scim_server::ScimServer) -> BTreeMap<String, Value> {
    let mut users = BTreeMap::new();
    for mut user in server.users().await {
        if let Some(object) = user.as_object_mut() {
            object.remove("id");
            object.remove("meta");
            for list in object.values_mut() {
                if let Value::Array(items) = list {
                    items.sort_by_key(Value::to_string);
                }
            }
        }
        let key = user["externalId"].as_str().unwrap_or_default().to_owned();
        let name = user["userName"].clone();
        assert!(
            users.insert(key.clone(), user).is_none(),
            "a duplicate user: {key} ({name})"
        );
    }
    let mut names: Vec<&Value> = users.values().map(|u| &u["userName"]).collect();
    let count = names.len();
    names.sort_by_key(|v| v.to_string());
    names.dedup();
    assert_eq!(names.len(), count, "a userName twice in the target");
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_50_random_moments_the_target_ends_as_a_clean_run_leaves_it() {
    killed_at_random_moments(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_with_app_roles_deciding_scope_and_permissions() {
    killed_at_random_moments(true).await;
}

async fn killed_at_random_moments(app: bool) {
    let (mut rng, seed) = Rng::from_env("ENTRASYNC_CRASH_SEED");
    let mut tenant = Tenant::synthetic(USERS, GROUPS, USERS * 2, seed);
    if app {
        with_app(&mut tenant);
    }
    let emulator = Emulator::start(
        tenant,
        EmulatorOptions {
            user_page_size: 50,
            ..EmulatorOptions::default()
        },
    )
    .await
    .expect("the emulator starts");
    let server = scim_server::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = scim_config(&dir, &emulator, &server, app);

    let mut endings = Vec::new();
    for run in 0..KILLS {
        let ended = once(&config, kill_after(&mut rng)).await;
        let opened = Snapshot::open(&dir.path().join("state"))
            .unwrap_or_else(|e| panic!("seed {seed}, run {run}: the snapshot does not open: {e}"));
        assert!(
            opened.recovered_from.is_none(),
            "seed {seed}, run {run} ({ended:?}): the kill damaged the snapshot"
        );
        drop(opened);
        endings.push(ended);
        emulator.mutate(|t| change_the_tenant(t, &mut rng, run));
    }
    let count = |f: fn(&Ended) -> bool| endings.iter().filter(|e| f(e)).count();
    let reading = count(|e| *e == Ended::KilledReading);
    let applying = count(|e| *e == Ended::KilledApplying);
    println!(
        "kills while reading: {reading}, while applying: {applying}, runs that finished: {}",
        KILLS - reading - applying
    );
    assert!(
        reading >= 5 && applying >= 5,
        "seed {seed}: kills spread over the cycle: {endings:?}"
    );

    let ended = once(&config, Duration::from_secs(600)).await;
    assert_eq!(
        ended,
        Ended::Finished(Some(0)),
        "seed {seed}: the complete run succeeds"
    );
    let got = users_by_external_id(&server).await;

    // The oracle: a clean run from scratch, into a fresh server, of the same final tenant.
    let reference = scim_server::start().await;
    let clean = tempfile::tempdir().expect("tempdir");
    let clean_config = scim_config(&clean, &emulator, &reference, app);
    let ended = once(&clean_config, Duration::from_secs(600)).await;
    assert_eq!(ended, Ended::Finished(Some(0)), "the clean run succeeds");
    let want = users_by_external_id(&reference).await;
    assert!(
        want.len() >= USERS / 4,
        "seed {seed}: the clean run provisions a good part of the tenant: {}",
        want.len()
    );

    let active = |users: &BTreeMap<String, Value>| -> BTreeMap<String, Value> {
        users
            .iter()
            .filter(|(_, u)| u["active"] == true)
            .map(|(k, u)| (k.clone(), u.clone()))
            .collect()
    };
    // Users the crashed history created and later deprovisioned stay, deactivated; the clean run
    // never created them. Everyone active must be exactly as the clean run has them.
    let got_active = active(&got);
    let differences: Vec<String> = got_active
        .keys()
        .chain(want.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| got_active.get(*k) != want.get(*k))
        .map(|k| {
            format!(
                "{k}:\n  after the crashes: {:?}\n  clean run:         {:?}",
                got_active.get(k),
                want.get(k)
            )
        })
        .collect();
    assert!(
        differences.is_empty(),
        "seed {seed}: the target differs from a clean run's for {} users:\n{}",
        differences.len(),
        differences.join("\n")
    );
    for (id, user) in &got {
        if user["active"] != true {
            assert!(
                !want.contains_key(id),
                "seed {seed}: {id} is deactivated but should be active"
            );
        }
    }
}
