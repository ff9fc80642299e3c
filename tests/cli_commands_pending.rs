//! CLI behaviour as it should be, where the binary does otherwise today: each test here fails
//! until the binary is fixed, so this file is kept apart from `cli_commands*.rs`, which pass.
//! The doc comment of each test says what happens now and what should.

mod common;

use std::process::Output;

use common::{
    DEMO_GROUPS, assert_exit, cli_setup, closed_url, demo_tenant, entrasync, entrasync_ok,
    file_users, set_department, stdout_json, write_config,
};
use entrasync::emulator::{Emulator, EmulatorOptions};
use serde_json::{Value, json};

const ANNA: &str = "anna.berg@contoso.com";
const GUEST: &str = "hanna_karlsen_fabrikam.com#EXT#@contoso.onmicrosoft.com";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Now: the file target answers an update of a user missing from the file with `failed` and
/// the message "… is not in the file any more; the next cycle creates it again", but the
/// pushed state keeps the user, so every later cycle plans the same update and fails again
/// (exit 3 for ever, even after `reset`). Should: as the SCIM target does for a user gone from
/// the application (`missing`), forget the pushed user so the next cycle creates it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_missing_from_the_file_target_is_created_again_by_the_next_cycle() {
    let (emulator, dir, config) = cli_setup().await;
    entrasync_ok(&config, &["once"]).await;
    let path = dir.path().join("users.json");
    let mut document: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("JSON");
    let resources = document["Resources"].as_array_mut().expect("a list");
    resources.retain(|u| u["userName"] != ANNA);
    document["totalResults"] = json!(resources.len());
    std::fs::write(&path, document.to_string()).expect("writes");
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

/// Now: `log --json` writes camelCase keys (`atUnix`, `userId`, `userName`), while the cycle
/// reports of `once --json`, `plan --json` and `status --json` write snake_case (`user_name` in
/// `table`, `held` and `failures`, `started_at`, `exit_status`). Should: one style; the
/// entries have `at_unix`, `user_id`, `user_name`, `operation`, `outcome`.
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

/// Now: `once --group "No Such Group"` exits 2 with "[source] groups: no group is named …",
/// sending the operator to a config key that is fine. Should: name the `--group` flag (the
/// contract: the message names the key, or here the flag, that is wrong).
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

/// Now: `once --user nobody@contoso.com` logs a warning "no such user in Entra; nothing is done
/// for it" and exits 0, as if it had been provisioned. Should: exit 2 naming the user, as
/// `--group` does for a name that matches nothing (at least not 0: a script cannot tell).
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

/// Now: `once --user ""` asks Graph for `GET /v1.0/users/`, gets 400, and exits 1 with "this
/// is a bug in entrasync … please report it". Should: refuse the empty value before anything
/// is sent (exit 2, naming --user).
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

/// Now: `once --user` with a guest's UPN (`…#EXT#@…`) warns "no such user in Entra" and does
/// nothing (exit 0); by object id the same guest works. The client escapes `#` as `%23` in the
/// path, as Graph needs; the emulator's path `decode` (src/emulator/server.rs) only undoes
/// `%20`, so it looks for a UPN with `%23` in it. Should: the emulator percent-decodes the
/// segment, and the guest is provisioned on demand (here: one update).
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

/// Now: with Graph on a closed port, `once` and `check` exit 1 (right) with "gave up on GET
/// /v1.0/groups after 1 attempts and 0ns of waiting; last: cannot connect: Connection refused
/// …; raise [source] max_retry_wait if Graph throttles for longer": neither the host nor the
/// key to check, and a hint about throttling. Should: name the Graph URL and `[source]
/// graph_url`, as the token error names the token URL and `[source] authority_url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_graph_is_named_by_its_url_and_key() {
    let emulator = Emulator::start(demo_tenant(), EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        &dir,
        &emulator,
        &DEMO_GROUPS,
        "direct",
        &emulator.client_secret(),
    );
    let closed = closed_url();
    let text = std::fs::read_to_string(&config).expect("reads");
    let text = text
        .replacen(
            &format!("graph_url = {:?}", emulator.base_url()),
            &format!("graph_url = {closed:?}"),
            1,
        )
        .replacen("max_retry_wait = \"3s\"", "max_retry_wait = \"1s\"", 1);
    std::fs::write(&config, text).expect("writes");
    for command in ["once", "check"] {
        let out = entrasync(&config, &[command]).await;
        assert_exit(&out, 1, command);
        let err = stderr(&out);
        let host = closed.trim_start_matches("http://");
        assert!(
            err.contains(host) && err.contains("[source] graph_url"),
            "{command}: {err}"
        );
    }
}

/// Now: with `--log-format json`, a command that fails ends with a plain-text line
/// "entrasync: …" on standard error (main.rs prints it with eprintln!), so a log shipper that
/// reads JSON lines loses the one line that says why. Should: every line on standard error is
/// a JSON object, the error among them.
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
