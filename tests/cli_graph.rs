//! The binary against the emulator, as an operator runs it: exit statuses of ARCHITECTURE §3,
//! one-line messages, and a secret that never shows.

mod common;

use std::process::Command;

use common::{DEMO_GROUPS, demo_tenant, entrasync, write_config};
use entrasync::emulator::{Emulator, EmulatorOptions};

async fn emulator() -> Emulator {
    Emulator::start(demo_tenant(), EmulatorOptions::default())
        .await
        .expect("the emulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_a_cycle_and_reports_it_as_json() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = write_config(&dir, &emulator, &DEMO_GROUPS, "direct", &secret);
    let out = entrasync(&config, &["once", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the report is JSON");
    assert_eq!(report["users_round"]["kind"], "full");
    let (users, _, _) = emulator.mutate(|t| t.counts());
    assert_eq!(report["snapshot"]["users"], users);

    let out = entrasync(&config, &["once", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["users_round"]["kind"], "incremental");
    assert_eq!(report["users_round"]["changed"], 0);

    // reset forgets the links: the next cycle is a full round again, and removes no one.
    let out = entrasync(&config, &["reset"]).await;
    assert_eq!(out.status.code(), Some(0));
    let out = entrasync(&config, &["once", "--json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["users_round"]["kind"], "full");
    assert_eq!(report["snapshot"]["users"], users);
    for output in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(output);
        assert!(!text.contains(&secret), "the secret leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_exits_1_with_the_aadsts_code_and_never_the_secret() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = "Wr0ng~Secret-value-that-must-not-leak";
    let config = write_config(&dir, &emulator, &DEMO_GROUPS, "direct", wrong);
    let out = entrasync(&config, &["once"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(stderr.contains("secret"), "says what to fix: {stderr}");
    for output in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(output).contains(wrong));
    }
    // Nothing was written: no delta link, so the next good run is a full round.
    std::fs::write(dir.path().join("client-secret"), emulator.client_secret()).expect("write");
    let out = entrasync(&config, &["once", "--json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["users_round"]["kind"], "full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_name_that_matches_nothing_exits_2_naming_it() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let groups = ["Stratsys Full Users", "Stratsys Redaers"];
    let config = write_config(&dir, &emulator, &groups, "direct", &secret);
    let out = entrasync(&config, &["once"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Stratsys Redaers"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn demo_runs_a_full_then_an_incremental_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_entrasync"));
        command.arg("demo").current_dir(dir.path());
        command.output().expect("run entrasync demo")
    };
    for _ in 0..2 {
        // Twice: a second demo starts from a fresh snapshot again.
        let out = run();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("users round (Full)"), "{stdout}");
        assert!(
            stdout.contains("users round (Incremental): 3 changed"),
            "{stdout}"
        );
        assert!(dir.path().join("entrasync-demo/entrasync.toml").is_file());
        assert!(
            stdout.contains("plan: 1 creates, 1 updates, 2 deactivations"),
            "{stdout}"
        );
        assert!(
            stdout.contains("department: \"Head Office\" → \"Finance\""),
            "the plan table: {stdout}"
        );
        let users: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("entrasync-demo/users.json"))
                .expect("the demo writes users.json"),
        )
        .expect("users.json is JSON");
        let resources = users["Resources"].as_array().expect("a ListResponse");
        assert_eq!(users["totalResults"], resources.len());
        let inactive = resources.iter().filter(|u| u["active"] == false).count();
        assert_eq!(
            inactive, 2,
            "the leaver and the disabled account stay, inactive"
        );
        assert!(
            resources
                .iter()
                .any(|u| u["userName"] == "nora.lind@contoso.com")
        );
    }
}

/// Invariant 6: neither the client secret nor an access token reaches the output at the most
/// verbose log level, nor any file of the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_neither_logs_nor_the_snapshot() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = write_config(&dir, &emulator, &DEMO_GROUPS, "direct", &secret);
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let out = entrasync(&config, &["-vv", "once", "--json"]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(out);
    }
    let tokens = emulator.issued_tokens();
    assert!(!tokens.is_empty(), "the runs got tokens");
    let stderr = String::from_utf8_lossy(&outputs[0].stderr).into_owned();
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "verbose logs were on"
    );
    let mut haystacks: Vec<(String, Vec<u8>)> = outputs
        .iter()
        .flat_map(|o| {
            [
                ("stdout".to_owned(), o.stdout.clone()),
                ("stderr".to_owned(), o.stderr.clone()),
            ]
        })
        .collect();
    let state = dir.path().join("state");
    let mut folders = vec![state];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("the state dir reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("a state file reads");
                haystacks.push((path.display().to_string(), bytes));
            }
        }
    }
    assert!(haystacks.len() > 4, "the snapshot has files");
    for needle in tokens.iter().chain([&secret]) {
        for (name, bytes) in &haystacks {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "a secret or token is in {name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_step_and_exits_1_on_a_wrong_secret() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        &dir,
        &emulator,
        &DEMO_GROUPS,
        "direct",
        "wrong-secret-value",
    );
    let out = entrasync(&config, &["check"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("config ") && l.ends_with("ok")),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AADSTS7000215") && !stderr.contains("wrong-secret-value"),
        "{stderr}"
    );
}
