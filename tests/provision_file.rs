//! Whole cycles through the binary into a file target: `plan` and `--dry-run` write nothing
//! (Invariant 7), a cycle without change writes nothing (Invariant 4), leaving scope
//! deactivates, and more deprovisions than the threshold are held with exit status 3 until
//! `--allow-deprovisions`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{DEMO_GROUPS, entrasync};
use entrasync::emulator::Emulator;
use entrasync::snapshot::Snapshot;

const RULES: &str = r#"
[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users", "Strategy Team"]
priority = 1

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers", "Stratsys Reporters"]
priority = 2

[deprovision]
max_deprovisions = 2

[target]
kind = "file"
path = "users.json"
"#;

fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The file target's document.
fn read_document(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("the file is written")).expect("JSON")
}

fn pushed_count(dir: &Path) -> usize {
    let snapshot = Snapshot::open(&dir.join("state")).expect("opens").snapshot;
    snapshot.pushed().expect("reads").len()
}

/// The sample tenant in an emulator, and a config with [`RULES`] into `users.json` beside it.
async fn setup() -> (Emulator, tempfile::TempDir, std::path::PathBuf) {
    common::demo_setup(RULES).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_into_a_file_follow_the_invariants() {
    let (emulator, dir, config) = setup().await;
    let users_file = dir.path().join("users.json");

    // plan and --dry-run: a full plan, nothing written anywhere.
    for args in [&["plan", "--json"][..], &["once", "--dry-run", "--json"]] {
        let out = entrasync(&config, args).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = report(&out);
        assert_eq!(report["dry_run"], true);
        assert!(
            report["plan"]["creates"].as_u64().unwrap_or(0) > 10,
            "{report}"
        );
        assert!(
            !report["changes"]
                .as_array()
                .expect("the changes")
                .is_empty()
        );
        assert!(!users_file.exists(), "{args:?} wrote the target");
        assert_eq!(
            pushed_count(dir.path()),
            0,
            "{args:?} changed the pushed state"
        );
    }

    // A real cycle creates everyone in scope.
    let out = entrasync(&config, &["once", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = report(&out);
    let created = first["plan"]["creates"].as_u64().expect("a count") as usize;
    assert_eq!(first["applied"], created);
    let document = std::fs::read(&users_file).expect("the file is written");
    let users: serde_json::Value = serde_json::from_slice(&document).expect("JSON");
    assert_eq!(users["totalResults"], created);
    assert_eq!(pushed_count(dir.path()), created);

    // The provisioning log has one entry per create; `check` passes every step.
    let out = entrasync(&config, &["log", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let entries: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(entries.len(), created);
    assert!(
        entries
            .iter()
            .all(|e| e["outcome"] == "created" && e["operation"] == "create")
    );
    let out = entrasync(
        &config,
        &["log", "--user", "ANNA.BERG@contoso.com", "--since", "1h"],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("anna.berg@contoso.com") && text.contains("created"),
        "{text}"
    );
    let out = entrasync(&config, &["check"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 4, "one line per check: {text}");
    assert!(
        text.lines()
            .all(|l| l.ends_with("ok") || l.contains("found")),
        "{text}"
    );

    // Nothing changed in Entra: nothing is written.
    let modified = std::fs::metadata(&users_file)
        .and_then(|m| m.modified())
        .expect("mtime");
    let out = entrasync(&config, &["--log-format", "json", "once", "--json"]).await;
    let again = report(&out);
    let log_lines = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!log_lines.trim().is_empty(), "a summary line at least");
    for line in log_lines.lines() {
        let line: serde_json::Value = serde_json::from_str(line).expect("JSON log lines");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    assert_eq!(again["plan"]["creates"], 0);
    assert_eq!(again["plan"]["updates"], 0, "{again}");
    assert_eq!(again["applied"], 0);
    assert_eq!(std::fs::read(&users_file).expect("reads"), document);
    assert_eq!(
        std::fs::metadata(&users_file)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );

    // Three leave scope, the threshold is two: none is deactivated, exit 3.
    let leavers = emulator.mutate(|t| {
        let readers = t.group_id_by_name("Stratsys Readers").expect("Readers");
        let others: Vec<String> = DEMO_GROUPS
            .iter()
            .filter(|g| **g != "Stratsys Readers")
            .filter_map(|g| t.group_id_by_name(g))
            .flat_map(|g| t.members(&g))
            .collect();
        let only_readers: Vec<String> = t
            .members(&readers)
            .into_iter()
            .filter(|m| t.user(m).is_some() && !others.contains(m))
            .take(3)
            .collect();
        for user in &only_readers {
            t.remove_member(&readers, user);
        }
        only_readers
    });
    assert_eq!(leavers.len(), 3);
    let out = entrasync(&config, &["once", "--json"]).await;
    assert_eq!(out.status.code(), Some(3), "held deprovisions exit 3");
    let held = report(&out);
    assert_eq!(held["plan"]["held"], 3);
    assert_eq!(held["plan"]["deactivations"], 0);
    let users: serde_json::Value = read_document(&users_file);
    let inactive = |users: &serde_json::Value| {
        users["Resources"]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|u| u["active"] == false)
            .count()
    };
    assert_eq!(inactive(&users), 0, "nobody was deactivated");
    // status says how many are held and why.
    let out = entrasync(&config, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let status = report(&out);
    assert_eq!(status["cycles"][0]["plan"]["held"], 3, "{status}");
    assert_eq!(status["cycles"][0]["exit_status"], 3);
    assert_eq!(status["provisioned"], created);
    let out = entrasync(&config, &["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 deactivations/deletions held back")
            && text.contains("--allow-deprovisions"),
        "{text}"
    );

    // --allow-deprovisions applies them; the next cycle is quiet again.
    let out = entrasync(&config, &["once", "--allow-deprovisions", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report(&out)["plan"]["deactivations"], 3);
    let users: serde_json::Value = read_document(&users_file);
    assert_eq!(inactive(&users), 3);
    let out = entrasync(&config, &["once", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report(&out)["applied"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_provisions_only_the_named_users_and_leaves_the_delta_links() {
    let (emulator, dir, config) = setup().await;
    let out = entrasync(&config, &["once", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links = || {
        let snapshot = Snapshot::open(&dir.path().join("state"))
            .expect("opens")
            .snapshot;
        snapshot.delta_links().expect("reads")
    };
    let before = links();

    // Anna and Bjorn change; only Anna is asked for.
    emulator.mutate(|t| {
        for (upn, name) in [
            ("anna.berg@contoso.com", "Anna B."),
            ("bjorn.dahl@contoso.com", "Bjorn D."),
        ] {
            let id = t.user_id_by_upn(upn).expect("in the tenant");
            t.update_user(&id, serde_json::json!({"displayName": name}));
        }
    });
    let out = entrasync(
        &config,
        &["once", "--user", "anna.berg@contoso.com", "--json"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = report(&out);
    assert_eq!(answer["plan"]["updates"], 1, "{answer}");
    assert_eq!(answer["plan"]["creates"], 0);
    assert_eq!(answer["plan"]["deactivations"], 0, "nobody else is touched");
    assert_eq!(links(), before, "the delta links are untouched");
    let users: serde_json::Value = read_document(&dir.path().join("users.json"));
    let name_of = |upn: &str| {
        users["Resources"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|u| u["userName"] == upn)
            .map(|u| u["displayName"].clone())
    };
    assert_eq!(name_of("anna.berg@contoso.com"), Some("Anna B.".into()));
    assert_ne!(
        name_of("bjorn.dahl@contoso.com"),
        Some("Bjorn D.".into()),
        "not asked for"
    );

    // A joiner of a group, provisioned by naming the group.
    emulator.mutate(|t| {
        let team = t.group_id_by_name("Strategy Team").expect("the team");
        let id = t.add_user(
            serde_json::json!({"userPrincipalName": "nora.lind@contoso.com",
            "displayName": "Nora Lind", "accountEnabled": true, "userType": "Member"}),
        );
        t.add_member(&team, &id);
    });
    let out = entrasync(&config, &["once", "--group", "Strategy Team", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = report(&out);
    assert_eq!(answer["plan"]["creates"], 1, "{answer}");
    assert_eq!(
        answer["plan"]["updates"], 0,
        "the team's others are as they were"
    );
    assert_eq!(answer["on_demand"], true);
    let status = entrasync(&config, &["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(" on demand; 1 created"),
        "status tells on-demand runs apart: {text}"
    );

    // The next full cycle reads what happened since, from the links: Bjorn, once.
    let out = entrasync(&config, &["once", "--json"]).await;
    let answer = report(&out);
    assert_eq!(answer["users_round"]["kind"], "incremental");
    assert_eq!(answer["plan"]["updates"], 1, "Bjorn: {answer}");
    assert_eq!(answer["plan"]["creates"], 0, "Nora is there already");
}
