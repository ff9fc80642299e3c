//! The command line at its edges: on-demand flags that name nothing, a user gone from the file
//! target, `log --json` keys, and a fatal error under `--log-format json`.
//! Each of these was once wrong; the doc comment of each test says what it pins down.

mod common;

use std::process::Output;

use common::{
    assert_exit, cli_setup, entrasync, entrasync_ok, file_users, remove_from_file_target,
    set_department, stdout_json,
};
use serde_json::{Value, json};

const ANNA: &str = "anna.berg@contoso.com";
const GUEST: &str = "hanna_karlsen_fabrikam.com#EXT#@contoso.onmicrosoft.com";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A user deleted from the file behind entrasync's back: the update reports `missing` (exit 3),
/// the pushed user is forgotten, and the next cycle creates the user again (it once failed
/// the same way for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_missing_from_the_file_target_is_created_again_by_the_next_cycle() {
    let (emulator, dir, config) = cli_setup().await;
    entrasync_ok(&config, &["once"]).await;
    remove_from_file_target(dir.path(), ANNA);
    set_department(&emulator, ANNA, "Finance");
    let out = entrasync(&config, &["once"]).await;
    assert_exit(&out, 3, "the update fails");

    let out = entrasync(&config, &["once", "--json"]).await;
    assert_exit(&out, 0, "the next cycle creates Anna again");
    let report = stdout_json(&out);
    assert_eq!(report["plan"]["creates"], 1, "{report}");
    let users = file_users(dir.path());
    let department =
        &users[ANNA]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"];
    assert_eq!(department, "Finance");
}

/// `log --json` uses the snake_case keys of every report: `at_unix`, `user_id`, `user_name`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_json_lines_have_the_snake_case_keys_of_the_reports() {
    let (emulator, _dir, config) = cli_setup().await;
    entrasync_ok(&config, &["once"]).await;
    let anna_id = emulator.mutate(|t| t.user_id_by_upn(ANNA).expect("Anna"));
    let out = entrasync_ok(&config, &["log", "--json", "--user", ANNA]).await;
    let entry: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert!(entry["at_unix"].is_u64(), "{entry}");
    assert_eq!(entry["user_id"], anna_id.as_str(), "{entry}");
    assert_eq!(entry["user_name"], ANNA, "{entry}");
    assert_eq!(entry["operation"], "create");
    assert_eq!(entry["outcome"], "created");
}

/// `once --group` with a name Entra does not have: exit 2 naming `--group`, not `[source]
/// groups`, which is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_group_given_with_the_group_flag_is_named_as_that_flag() {
    let (_emulator, _dir, config) = cli_setup().await;
    let out = entrasync(&config, &["once", "--group", "No Such Group"]).await;
    assert_exit(&out, 2, "an unknown group");
    let err = stderr(&out);
    assert!(err.contains("No Such Group"), "{err}");
    assert!(
        err.contains("--group") && !err.contains("[source] groups"),
        "names the flag, not the config: {err}"
    );
}

/// `once --user` with a user Entra does not have: exit 2 naming the user and the flag (a script
/// must be able to tell it from success).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_for_a_user_entra_does_not_have_exits_2_naming_it() {
    let (_emulator, _dir, config) = cli_setup().await;
    let out = entrasync(&config, &["once", "--user", "nobody@contoso.com"]).await;
    assert_exit(&out, 2, "a user Entra does not have");
    let err = stderr(&out);
    assert!(
        err.contains("nobody@contoso.com") && err.contains("--user"),
        "{err}"
    );
}

/// `once --user ""` is refused (exit 2, naming `--user`) before anything is sent to Graph.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_user_flag_exits_2_before_asking_graph() {
    let (emulator, _dir, config) = cli_setup().await;
    let out = entrasync(&config, &["once", "--user", ""]).await;
    assert_exit(&out, 2, "an empty --user");
    assert!(stderr(&out).contains("--user"), "{}", stderr(&out));
    assert_eq!(
        emulator.requests().graph_total(),
        0,
        "nothing sent to Graph"
    );
}

/// A guest by its `…#EXT#@…` UPN: the client escapes `#` in the path and the emulator decodes
/// it, as Graph does, so the guest is provisioned on demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_user_finds_a_guest_by_the_ext_upn() {
    let (emulator, dir, config) = cli_setup().await;
    entrasync_ok(&config, &["once"]).await;
    emulator.mutate(|t| {
        let id = t.user_id_by_upn(GUEST).expect("the guest");
        t.update_user(&id, json!({"displayName": "Hanna K."}));
    });
    let out = entrasync(&config, &["once", "--user", GUEST, "--json"]).await;
    assert_exit(&out, 0, "on demand");
    let report = stdout_json(&out);
    assert_eq!(report["in_scope"], 1, "{report}");
    assert_eq!(report["plan"]["updates"], 1, "{report}");
    assert_eq!(file_users(dir.path())[GUEST]["displayName"], "Hanna K.");
}

/// With `--log-format json`, every line on standard error is a JSON object, the final error
/// among them, so a log shipper keeps the line that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_log_format_json_a_fatal_error_is_a_json_line_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere.toml");
    let out = entrasync(&missing, &["--log-format", "json", "status"]).await;
    assert_exit(&out, 2, "a missing config");
    let err = stderr(&out);
    let lines: Vec<Value> = err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.to_string().contains("cannot read the configuration")),
        "{err}"
    );
}
