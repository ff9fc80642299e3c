//! The binary's record of cycles over the sample tenant into a file target (the rules of
//! `common::CLI_RULES`: 28 users in scope): `status` before and after cycles, held
//! deprovisions and unmapped names; `log` and its filters; `reset`.

mod common;

use std::process::Output;

use common::{
    assert_exit, cli_setup, entrasync, entrasync_ok as run_ok, set_department, stdout_json,
};
use entrasync::emulator::Emulator;
use serde_json::{Value, json};

const ANNA: &str = "anna.berg@contoso.com";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_before_any_cycle_says_so_without_asking_graph() {
    let (emulator, dir, config) = cli_setup().await;
    let text = stdout(&run_ok(&config, &["status"]).await);
    assert_eq!(
        text,
        format!(
            "service: `entrasync run` has not run with this state directory\n\
             snapshot {}: 0 users, 0 groups, 0 memberships; next cycle: full rounds\n\
             provisioned: 0 users (0 active)\nno cycle has run yet\n",
            dir.path().join("state").display()
        )
    );
    let status = stdout_json(&run_ok(&config, &["status", "--json"]).await);
    assert_eq!(
        status,
        json!({"service": null, "snapshot": {"users": 0, "groups": 0, "memberships": 0},
               "provisioned": 0, "active": 0, "incremental": false, "cycles": []})
    );
    let out = run_ok(&config, &["log"]).await;
    assert!(out.stdout.is_empty(), "an empty log: {}", stdout(&out));
    assert_eq!(
        emulator.requests().graph_total(),
        0,
        "status and log read no Graph"
    );
}

/// The members of "Stratsys Readers" in no other scoped group: they leave scope when removed.
fn readers_only(emulator: &Emulator, n: usize) -> Vec<String> {
    emulator.mutate(|t| {
        let readers = t.group_id_by_name("Stratsys Readers").expect("Readers");
        let others: Vec<String> = common::DEMO_GROUPS
            .iter()
            .filter(|g| **g != "Stratsys Readers")
            .filter_map(|g| t.group_id_by_name(g))
            .flat_map(|g| t.members(&g))
            .collect();
        let leavers: Vec<String> = t
            .members(&readers)
            .into_iter()
            .filter(|m| t.user(m).is_some() && !others.contains(m))
            .take(n)
            .collect();
        leavers
            .iter()
            .map(|id| {
                t.remove_member(&readers, id);
                t.user(id).expect("a user")["userPrincipalName"]
                    .as_str()
                    .expect("a UPN")
                    .to_owned()
            })
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_the_cycles_with_held_deprovisions_and_unmapped_names() {
    let (emulator, dir, config) = cli_setup().await;
    run_ok(&config, &["once"]).await;
    let mut leavers = readers_only(&emulator, 3);
    leavers.sort();
    let out = entrasync(&config, &["once", "--json"]).await;
    assert_exit(&out, 3, "three leavers, a threshold of two");
    let held_report = stdout_json(&out);

    let status = stdout_json(&run_ok(&config, &["status", "--json"]).await);
    assert_eq!(status["provisioned"], 28);
    assert_eq!(status["active"], 28, "nobody deactivated");
    assert_eq!(status["incremental"], true);
    assert_eq!(status["snapshot"], held_report["snapshot"]);
    let cycles = status["cycles"].as_array().expect("cycles");
    assert_eq!(cycles.len(), 2, "{status}");
    let (last, first) = (&cycles[0], &cycles[1]);
    for key in [
        "started_at",
        "duration",
        "users_round",
        "group_rounds",
        "graph_requests",
        "snapshot",
        "in_scope",
        "rule_errors",
        "rule_error_count",
        "unmapped",
        "plan",
        "dry_run",
        "target",
        "applied",
        "failures",
        "failure_count",
        "exit_status",
    ] {
        assert!(last.get(key).is_some(), "a cycle has {key}: {last}");
    }
    assert!(
        last.get("changes").is_none(),
        "the summary drops the changes"
    );
    assert!(last["started_at"].as_u64() >= first["started_at"].as_u64());
    assert_eq!(last["exit_status"], 3);
    assert_eq!(last["in_scope"], 25);
    assert_eq!(
        last["plan"],
        json!({"creates": 0, "updates": 0, "deactivations": 0, "deletions": 0, "held": 3,
               "not_created": 0})
    );
    let held = last["held"].as_array().expect("the held lines");
    let mut names: Vec<&str> = held
        .iter()
        .filter_map(|l| l["user_name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, leavers);
    assert!(
        held.iter()
            .all(|l| l["operation"] == "deactivate"
                && l["details"] == json!(["left scope in Entra"])),
        "{last}"
    );
    assert_eq!(
        (last["applied"].clone(), last["failure_count"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(last["rule_error_count"], 3);
    assert_eq!(last["unmapped"]["groups"], json!(["Stratsys Reporters"]));
    assert_eq!(
        last["unmapped"]["departments"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(last["users_round"]["kind"], "incremental");
    assert_eq!(first["users_round"]["kind"], "full");
    assert_eq!(
        (first["plan"]["creates"].clone(), first["applied"].clone()),
        (json!(28), json!(28))
    );
    assert_eq!(first["exit_status"], 0);

    let text = stdout(&run_ok(&config, &["status"]).await);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        lines[0],
        format!(
            "snapshot {}: 50 users, 4 groups, {} memberships; next cycle: incremental",
            dir.path().join("state").display(),
            held_report["snapshot"]["memberships"]
        )
    );
    assert_eq!(lines[1], "provisioned: 28 users (28 active)");
    assert_eq!(lines[2], "last cycles, newest first:");
    let cycle_lines: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("  20") && l.contains(" UTC  "))
        .collect();
    assert_eq!(cycle_lines.len(), 2, "{text}");
    assert!(
        cycle_lines[0].contains("  partial ")
            && cycle_lines[0].ends_with("  25 in scope; 0 created, 0 updated, 0 deactivated, 0 deleted; 0 failed, 3 held back, 3 rule errors"),
        "{text}"
    );
    assert!(
        cycle_lines[1].contains("  ok ")
            && cycle_lines[1].ends_with("  28 in scope; 28 created, 0 updated, 0 deactivated, 0 deleted; 0 failed, 0 held back, 3 rule errors"),
        "{text}"
    );
    for expected in [
        "    3 deactivations/deletions held back: more than [deprovision] max_deprovisions (2);",
        "\nunmapped group: Stratsys Reporters\n",
        "\ndepartments no alias maps: Customer Success, Engineering, Human Resources, Legal\n",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let status = stdout_json(&run_ok(&config, &["status", "--cycles", "1", "--json"]).await);
    assert_eq!(status["cycles"].as_array().map(Vec::len), Some(1));
    assert_eq!(status["cycles"][0]["exit_status"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lists_each_change_and_filters_by_user_and_since() {
    let (emulator, _dir, config) = cli_setup().await;
    run_ok(&config, &["once"]).await;
    let anna_id = emulator.mutate(|t| t.user_id_by_upn(ANNA).expect("Anna"));

    let text = stdout(&run_ok(&config, &["log"]).await);
    assert_eq!(text.lines().count(), 28, "{text}");
    let anna_line = format!(" GMT  {:<10} {:<12} {ANNA}", "create", "created");
    assert_eq!(
        text.lines().filter(|l| l.ends_with(&anna_line)).count(),
        1,
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.contains(" GMT  create     created      ")),
        "{text}"
    );

    for user in ["ANNA.Berg@Contoso.COM", anna_id.as_str()] {
        let text = stdout(&run_ok(&config, &["log", "--user", user]).await);
        assert_eq!(text.lines().collect::<Vec<_>>().len(), 1, "{user}: {text}");
        assert!(text.ends_with(&format!("{anna_line}\n")), "{user}: {text}");
    }
    let out = run_ok(&config, &["log", "--user", "nobody@contoso.com"]).await;
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let text = stdout(&run_ok(&config, &["log", "--since", "1h"]).await);
    assert_eq!(text.lines().count(), 28);

    // One JSON object per line. (The key names are in cli_commands_pending.rs.)
    let text = stdout(&run_ok(&config, &["log", "--json", "--since", "7d"]).await);
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(entries.len(), 28);
    assert!(
        entries
            .iter()
            .all(|e| e["operation"] == "create" && e["outcome"] == "created")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let values = |e: &Value| {
        e.as_object()
            .expect("an object")
            .values()
            .cloned()
            .collect::<Vec<_>>()
    };
    let anna: Vec<Vec<Value>> = entries
        .iter()
        .map(values)
        .filter(|v| v.contains(&json!(ANNA)))
        .collect();
    assert_eq!(anna.len(), 1);
    assert!(anna[0].contains(&json!(anna_id)), "{anna:?}");
    let at = anna[0].iter().find_map(Value::as_u64).expect("a time");
    assert!(now.abs_diff(at) < 3600, "{at} is about now ({now})");

    // A later update is a second entry, oldest first.
    set_department(&emulator, ANNA, "Finance");
    run_ok(&config, &["once"]).await;
    let text = stdout(&run_ok(&config, &["log", "--user", ANNA]).await);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with(&anna_line));
    assert!(lines[1].ends_with(&format!(" GMT  {:<10} {:<12} {ANNA}", "update", "updated")));

    for bad in ["3x", "yesterday"] {
        let out = entrasync(&config, &["log", "--since", bad]).await;
        assert_exit(&out, 2, bad);
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--since") && err.contains(bad), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_makes_the_next_cycle_a_full_round_that_deprovisions_nobody() {
    let (emulator, dir, config) = cli_setup().await;
    run_ok(&config, &["once"]).await;
    let written = std::fs::read(dir.path().join("users.json")).expect("written");
    let status = stdout_json(&run_ok(&config, &["status", "--json"]).await);
    assert_eq!(status["incremental"], true);

    let graph_before = emulator.requests().graph_total();
    let text = stdout(&run_ok(&config, &["reset"]).await);
    assert_eq!(
        text,
        format!(
            "forgot the delta links in {}: the next cycle reads everything again and evaluates every user\n",
            dir.path().join("state").display()
        )
    );
    assert_eq!(
        emulator.requests().graph_total(),
        graph_before,
        "reset asks Graph nothing"
    );
    let status = stdout_json(&run_ok(&config, &["status", "--json"]).await);
    assert_eq!(status["incremental"], false, "{status}");
    assert_eq!(status["provisioned"], 28, "the pushed state stays");

    let report = stdout_json(&run_ok(&config, &["once", "--json"]).await);
    assert_eq!(report["users_round"]["kind"], "full");
    let groups = report["group_rounds"].as_array().expect("group rounds");
    assert!(
        !groups.is_empty() && groups.iter().all(|g| g["kind"] == "full"),
        "{report}"
    );
    assert_eq!(
        report["plan"],
        json!({"creates": 0, "updates": 0, "deactivations": 0, "deletions": 0, "held": 0,
               "not_created": 0})
    );
    assert_eq!(
        (report["applied"].clone(), report["exit_status"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(
        std::fs::read(dir.path().join("users.json")).expect("reads"),
        written
    );
    let report = stdout_json(&run_ok(&config, &["once", "--json"]).await);
    assert_eq!(report["users_round"]["kind"], "incremental");
}
