//! The binary's cycle commands over the sample tenant into a file target (the rules of
//! `common::CLI_RULES`: 28 users in scope): `plan`'s table and JSON, `once --dry-run`, and exit
//! status 3 when a user fails. `status`, `log` and `reset` are in `cli_commands_status.rs`;
//! `provision_file.rs` covers the invariants these commands rest on.

mod common;

use std::process::Output;

use common::{
    assert_exit, cli_setup, entrasync, entrasync_ok as run_ok, file_users as users_in,
    set_department, stdout_json,
};
use serde_json::json;

const ANNA: &str = "anna.berg@contoso.com";
const BJORN: &str = "bjorn.dahl@contoso.com";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of a text report between `changes:` and the `plan:` totals.
fn change_lines(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| *l != "changes:")
        .skip(1)
        .take_while(|l| !l.starts_with("plan:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_before_any_cycle_prints_a_table_and_writes_nothing() {
    let (_emulator, dir, config) = cli_setup().await;
    let text = stdout(&run_ok(&config, &["plan"]).await);
    assert!(
        text.contains("\nrules: 28 users in scope, 3 rule errors (50 users evaluated)\n"),
        "{text}"
    );
    let changes = change_lines(&text);
    let anna = format!("  {:<10} {ANNA}", "create");
    let at = changes
        .iter()
        .position(|l| *l == anna)
        .expect("a line for Anna");
    assert_eq!(
        changes[at + 1..at + 3],
        [
            "             permissions Full User",
            "             department Sales"
        ]
    );
    let creates = changes
        .iter()
        .filter(|l| l.starts_with("  create "))
        .count();
    assert_eq!(creates, 28, "{text}");
    assert!(
        text.contains(
            "\nplan: 28 creates, 0 updates, 0 deactivations, 0 deletions; 0 held back, 0 not created\n"
        ),
        "{text}"
    );
    assert_eq!(text.lines().last(), Some("dry run: nothing was written"));

    let out = run_ok(&config, &["plan", "--json"]).await;
    let plan = stdout_json(&out);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["exit_status"], 0);
    assert_eq!(plan["in_scope"], 28);
    assert_eq!(
        plan["plan"],
        json!({"creates": 28, "updates": 0, "deactivations": 0, "deletions": 0, "held": 0,
               "not_created": 0})
    );
    let table = plan["table"].as_array().expect("the table");
    assert_eq!(table.len(), 28);
    assert!(table.iter().all(|l| l["operation"] == "create"), "{plan}");
    let line = |upn: &str| table.iter().find(|l| l["user_name"] == upn).cloned();
    assert_eq!(
        line(ANNA),
        Some(json!({"user_name": ANNA, "operation": "create",
                    "details": ["permissions Full User", "department Sales"]}))
    );
    // In both permission groups, by priority; a department no alias maps falls back.
    assert_eq!(
        line("karl.moen@contoso.com").map(|l| l["details"].clone()),
        Some(json!(["permissions Full User, Reader", "department Sales"]))
    );
    assert_eq!(
        line("eva.hansen@contoso.com").map(|l| l["details"].clone()),
        Some(json!(["permissions Full User", "department Unassigned"]))
    );
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(28));
    assert!(plan.get("held").is_none(), "nothing held: {plan}");
    assert_eq!(plan["applied"], 0);
    assert_eq!(plan["failures"], json!([]));
    let target = format!("file {}", dir.path().join("users.json").display());
    assert_eq!(plan["target"], target.as_str());
    assert_eq!(
        plan["unmapped"],
        json!({"groups": ["Stratsys Reporters"],
               "departments": ["Customer Success", "Engineering", "Human Resources", "Legal"]})
    );
    assert_eq!(plan["rule_errors"].as_array().map(Vec::len), Some(3));

    assert!(
        !dir.path().join("users.json").exists(),
        "plan wrote the target"
    );
    let status = stdout_json(&run_ok(&config, &["status", "--json"]).await);
    assert_eq!(status["provisioned"], 0, "{status}");
    assert_eq!(status["active"], 0, "{status}");
    assert_eq!(status["cycles"], json!([]), "a plan is no cycle: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_dry_run_after_a_cycle_show_the_one_changed_department() {
    let (emulator, dir, config) = cli_setup().await;
    run_ok(&config, &["once"]).await;
    let users_file = dir.path().join("users.json");
    let written = std::fs::read(&users_file).expect("written");
    let modified = || {
        std::fs::metadata(&users_file)
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let before = modified();

    set_department(&emulator, ANNA, "Finance");
    let text = stdout(&run_ok(&config, &["plan"]).await);
    assert_eq!(
        change_lines(&text),
        [
            format!("  {:<10} {ANNA}", "update"),
            "             department: \"Sales\" → \"Finance\"".to_owned()
        ],
        "{text}"
    );
    assert!(
        text.contains("\nplan: 0 creates, 1 updates, 0 deactivations, 0 deletions;"),
        "{text}"
    );
    let expected = json!([{"user_name": ANNA, "operation": "update",
                           "details": ["department: \"Sales\" → \"Finance\""]}]);
    for args in [&["plan", "--json"][..], &["once", "--dry-run", "--json"]] {
        let report = stdout_json(&run_ok(&config, args).await);
        assert_eq!(report["dry_run"], true, "{args:?}");
        assert_eq!(report["table"], expected, "{args:?}: {report}");
        assert_eq!(report["plan"]["updates"], 1, "{args:?}");
        assert_eq!(report["applied"], 0, "{args:?}");
        assert_eq!(
            std::fs::read(&users_file).expect("reads"),
            written,
            "{args:?}"
        );
        assert_eq!(modified(), before, "{args:?} touched the file");
    }
    let status = stdout_json(&run_ok(&config, &["status", "--json"]).await);
    assert_eq!(
        status["cycles"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );

    // The real cycle applies that one change; then there is nothing left to plan.
    let report = stdout_json(&run_ok(&config, &["once", "--json"]).await);
    assert_eq!(
        (report["dry_run"].clone(), report["applied"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(
        users_in(dir.path())[ANNA][ENTERPRISE]["department"],
        "Finance"
    );
    let text = stdout(&run_ok(&config, &["plan"]).await);
    assert!(change_lines(&text).is_empty(), "{text}");
    assert!(
        text.contains("\nplan: 0 creates, 0 updates, 0 deactivations"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_exits_3_when_one_user_fails_and_the_others_apply() {
    let (emulator, dir, config) = cli_setup().await;
    run_ok(&config, &["once"]).await;
    // Anna goes missing from the file behind entrasync's back; then she and Bjorn change.
    common::remove_from_file_target(dir.path(), ANNA);
    set_department(&emulator, ANNA, "Finance");
    set_department(&emulator, BJORN, "Finance");

    let out = entrasync(&config, &["once", "--json"]).await;
    assert_exit(&out, 3, "a user failed");
    let report = stdout_json(&out);
    assert_eq!(report["exit_status"], 3);
    assert_eq!(report["plan"]["updates"], 2, "{report}");
    assert_eq!(report["applied"], 1, "Bjorn's update went through");
    let failures = report["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0]["user_name"], ANNA);
    assert_eq!(failures[0]["result"], "missing");
    let message = failures[0]["message"].as_str().expect("a message");
    assert!(message.contains("creates it again"), "{message}");
    let users = users_in(dir.path());
    assert_eq!(users[BJORN][ENTERPRISE]["department"], "Finance");
    assert!(!users.contains_key(ANNA));

    let text = stdout(&run_ok(&config, &["status"]).await);
    assert!(
        text.contains("  partial ")
            && text.contains(
                "28 in scope; 0 created, 1 updated, 0 deactivated, 0 deleted; 1 failed, 0 held back, 3 rule errors\n"
            ),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n    {ANNA}: {message}\n")),
        "{text}"
    );
    let text = stdout(&run_ok(&config, &["log", "--user", ANNA]).await);
    assert!(
        text.lines().last().is_some_and(|l| l.contains(&format!(
            " GMT  {:<10} {:<12} {ANNA}: {message}",
            "update", "missing"
        ))),
        "{text}"
    );
}
