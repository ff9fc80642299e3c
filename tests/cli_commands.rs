//! The binary's command line as an operator meets it (ARCHITECTURE §3): `--help` of every
//! command, usage errors and configuration errors (exit 2, one line naming the file and the
//! key), Graph or the target out of reach (exit 1, saying what failed), and `check`'s lines.
//! Cycles through `plan` and `once` are in `cli_commands_cycles.rs`; `status`, `log` and `reset`
//! in `cli_commands_status.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_exit, cli_setup, closed_url, demo_setup, entrasync};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A valid config whose Graph and token endpoint are `url`, written to `dir`; line numbers
/// matter to the syntax tests: line 4 is `client_id`, line 8 `groups`.
fn config_text(url: &str) -> String {
    format!(
        "state_dir = \"state\"\n[source]\ntenant_id = \"contoso.onmicrosoft.com\"\n\
         client_id = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10\"\n\
         client_secret_file = \"client-secret\"\nauthority_url = \"{url}\"\ngraph_url = \"{url}\"\n\
         groups = [\"Stratsys Readers\"]\nmax_retry_wait = \"1s\"\nrequest_timeout = \"2s\"\n"
    )
}

fn write_text(dir: &Path, text: &str) -> PathBuf {
    std::fs::write(dir.join("client-secret"), "not-a-real-secret").expect("write the secret");
    let path = dir.join("entrasync.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// Commands that load the configuration first.
const LOADING: [&[&str]; 6] = [
    &["once"],
    &["plan"],
    &["status"],
    &["check"],
    &["log"],
    &["reset"],
];

/// Runs each command in `commands` on `config` and asserts exit 2, nothing on standard output,
/// one line on standard error that starts with `prefix` and contains each of `words`, and no
/// state directory made.
async fn assert_config_error(config: &Path, commands: &[&[&str]], prefix: &str, words: &[&str]) {
    for args in commands {
        let out = entrasync(config, args).await;
        assert_exit(&out, 2, &format!("{args:?}"));
        let err = stderr(&out);
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.starts_with(&format!("entrasync: {prefix}")),
            "{args:?}: starts with {prefix:?}: {err}"
        );
        for word in words {
            assert!(err.contains(word), "{args:?}: names {word:?}: {err}");
        }
        let state = config.parent().expect("a folder").join("state");
        assert!(!state.exists(), "{args:?} made the state directory");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_of_every_command_exits_0_and_names_its_flags() {
    // --help reads no configuration: the file does not exist.
    let nowhere = Path::new("/nonexistent/entrasync.toml");
    let cases: [(&[&str], &[&str]); 9] = [
        (
            &["--help"],
            &[
                "once",
                "plan",
                "status",
                "log",
                "check",
                "reset",
                "demo",
                "--config",
                "--log-format",
                "--verbose",
                "--quiet",
                "ENTRASYNC_CONFIG",
            ],
        ),
        (
            &["once", "--help"],
            &[
                "--dry-run",
                "--user",
                "--group",
                "--allow-deprovisions",
                "--json",
            ],
        ),
        (&["plan", "--help"], &["--json", "would change"]),
        (&["status", "--help"], &["--cycles", "--json"]),
        (&["log", "--help"], &["--user", "--since", "--json"]),
        (&["check", "--help"], &["--config", "connection"]),
        (&["reset", "--help"], &["--config", "delta links"]),
        (&["demo", "--help"], &["emulator"]),
        (&["help", "once"], &["--dry-run", "--allow-deprovisions"]),
    ];
    for (args, words) in cases {
        let out = entrasync(nowhere, args).await;
        assert_exit(&out, 0, &format!("{args:?}"));
        let text = stdout(&out);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
        for word in words {
            assert!(text.contains(word), "{args:?} names {word}: {text}");
        }
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
    // Each subcommand's help has its own flags only.
    let out = entrasync(nowhere, &["plan", "--help"]).await;
    let text = stdout(&out);
    let flags: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("--"))
        .collect();
    assert!(flags.iter().any(|l| l.starts_with("--json")), "{flags:?}");
    assert!(
        !flags.iter().any(|l| l.starts_with("--dry-run")),
        "{flags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_command_or_flag_exits_2_naming_it_on_standard_error() {
    let nowhere = Path::new("/nonexistent/entrasync.toml");
    let cases: [(&[&str], &str); 6] = [
        (&["frobnicate"], "frobnicate"),
        (&["once", "--frob"], "--frob"),
        (&["plan", "--dry-run"], "--dry-run"),
        (&["status", "--cycles", "many"], "many"),
        (&["--log-format", "xml", "once"], "xml"),
        (&[], "subcommand"),
    ];
    for (args, word) in cases {
        let out = entrasync(nowhere, args).await;
        assert_exit(&out, 2, &format!("{args:?}"));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(word), "{args:?} names {word}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_config_file_exits_2_naming_the_path_and_how_to_give_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere.toml");
    let path = missing.display().to_string();
    assert_config_error(
        &missing,
        &LOADING,
        &format!("cannot read the configuration {path}"),
        &["--config", "ENTRASYNC_CONFIG"],
    )
    .await;

    // Without --config, $ENTRASYNC_CONFIG names the file.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .arg("status")
        .env("ENTRASYNC_CONFIG", &missing)
        .env("ENTRASYNC_ALLOW_ROOT", "true")
        .output()
        .expect("run entrasync");
    assert_exit(&out, 2, "status with ENTRASYNC_CONFIG");
    assert!(stderr(&out).contains(&path), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toml_syntax_error_exits_2_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = config_text(&closed_url());
    // An unterminated string on line 4.
    let text = good.replacen(
        "client_id = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10\"",
        "client_id = \"3f6e8a52",
        1,
    );
    let config = write_text(dir.path(), &text);
    let path = config.display().to_string();
    assert_config_error(&config, &LOADING, &format!("{path}:4:"), &["client_id"]).await;
    let out = entrasync(&config, &["once"]).await;
    let column = stderr(&out)
        .trim_start_matches(&format!("entrasync: {path}:4:"))
        .split(':')
        .next()
        .and_then(|c| c.parse::<usize>().ok());
    assert!(column.is_some_and(|c| c > 1), "a column: {}", stderr(&out));

    // A value of the wrong type: the line, the table and the key.
    let text = format!("{good}[deprovision]\nmax_deprovisions = \"two\"\n");
    let config = write_text(dir.path(), &text);
    assert_config_error(
        &config,
        &LOADING[..4],
        &format!("{path}:12:"),
        &["[deprovision]", "max_deprovisions"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_exits_2_naming_it_and_the_keys_that_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        config_text(&closed_url()).replacen("groups = [", "grups = [\"All Staff\"]\ngroups = [", 1);
    let config = write_text(dir.path(), &text);
    let path = config.display().to_string();
    assert_config_error(
        &config,
        &LOADING[..4],
        &format!("{path}:8:1: in [source]"),
        &["`grups`", "`groups`", "`members`"],
    )
    .await;
    // At the top level too.
    let text = format!("sate_dir = \"x\"\n{}", config_text(&closed_url()));
    let config = write_text(dir.path(), &text);
    assert_config_error(
        &config,
        &[&["once"], &["status"]],
        &format!("{path}:1:1:"),
        &["`sate_dir`", "`state_dir`"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_value_exits_2_naming_the_file_the_key_and_the_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = config_text(&closed_url());
    let cases = [
        (
            format!("schedule = \"sometimes\"\n{good}"),
            "schedule",
            "\"sometimes\"",
        ),
        (
            good.replacen("max_retry_wait = \"1s\"", "members = \"everyone\"", 1),
            "[source] members",
            "\"everyone\"",
        ),
        (
            good.replacen("max_retry_wait = \"1s\"", "max_retry_wait = \"soon\"", 1),
            "[source] max_retry_wait",
            "\"soon\"",
        ),
        (
            format!("{good}[deprovision]\nmax_deprovisions = -1\n"),
            "[deprovision] max_deprovisions",
            "-1",
        ),
        (
            format!("{good}[target]\nkind = \"ftp\"\n"),
            "[target] kind",
            "\"ftp\"",
        ),
    ];
    for (text, key, value) in cases {
        let config = write_text(dir.path(), &text);
        let path = config.display().to_string();
        assert_config_error(&config, &LOADING[..4], &format!("{path}: {key} "), &[value]).await;
    }
    // A secret is read only by the commands that talk to Graph: `status`, `log` and `reset`
    // work where the service's credentials are not (outside its systemd unit).
    let text = good.replacen(
        "client_secret_file = \"client-secret\"",
        "client_secret_file = \"no-such-secret\"",
        1,
    );
    let config = write_text(dir.path(), &text);
    let path = config.display().to_string();
    assert_config_error(
        &config,
        &[&["once"], &["plan"], &["check"]],
        &format!("{path}: [source] client_secret_file "),
        &["no-such-secret"],
    )
    .await;
    for command in ["status", "log", "reset"] {
        let out = entrasync(&config, &[command]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_and_check_exit_1_when_the_token_endpoint_cannot_be_reached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = closed_url();
    let config = write_text(dir.path(), &config_text(&url));
    // Both at once: the token endpoint is tried three times, about three seconds.
    let (once, check) = tokio::join!(
        entrasync(&config, &["once", "--json"]),
        entrasync(&config, &["check"])
    );
    for (name, out) in [("once", &once), ("check", &check)] {
        assert_exit(out, 1, name);
        let last = stderr(out).trim().lines().last().unwrap_or("").to_owned();
        assert!(
            last.starts_with("entrasync: cannot get a token for tenant contoso.onmicrosoft.com")
                && last.contains(&format!("{url}/contoso.onmicrosoft.com/oauth2/v2.0/token"))
                && last.contains("[source] authority_url"),
            "{name}: {last}"
        );
    }
    assert!(stdout(&once).is_empty(), "no report: {}", stdout(&once));
    assert_eq!(
        stdout(&check),
        format!("config {}: ok\n", config.display()),
        "check stops at the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_and_check_exit_1_when_graph_cannot_be_reached() {
    let (emulator, _dir, config) = demo_setup("").await;
    // Tokens come from the emulator; Graph is a closed port.
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
    let (once, check) = tokio::join!(
        entrasync(&config, &["once"]),
        entrasync(&config, &["check"])
    );
    let host = closed.trim_start_matches("http://");
    for (name, out) in [("once", &once), ("check", &check)] {
        assert_exit(out, 1, name);
        let err = stderr(out);
        assert!(
            err.contains("GET /v1.0/") && err.contains("cannot connect"),
            "{name} says what failed: {err}"
        );
        assert!(
            err.contains(host) && err.contains("[source] graph_url"),
            "{name} names the URL and the key to check: {err}"
        );
    }
    let lines: Vec<String> = stdout(&check).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            format!("config {}: ok", config.display()),
            "token for tenant contoso.onmicrosoft.com: ok".to_owned()
        ],
        "check stops at Graph"
    );
    // Nothing was committed: the snapshot is as empty as before.
    let out = entrasync(&config, &["status", "--json"]).await;
    assert_exit(&out, 0, "status");
    let status = common::stdout_json(&out);
    assert_eq!(status["incremental"], false, "{status}");
    assert_eq!(status["snapshot"]["users"], 0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_one_line_per_step_and_exits_1_on_an_unreadable_file_target() {
    let (_emulator, dir, config) = cli_setup().await;
    let users = dir.path().join("users.json");
    let out = entrasync(&config, &["check"]).await;
    assert_exit(&out, 0, "check");
    assert_eq!(
        stdout(&out),
        format!(
            "config {}: ok\ntoken for tenant contoso.onmicrosoft.com: ok\n\
             Graph: 4 scoped groups found\ntarget file {}: ok\n",
            config.display(),
            users.display()
        )
    );
    assert!(!users.exists(), "check writes nothing");

    // A file that is not a users document: exit 1, naming the file; the steps before stand.
    std::fs::write(&users, "{not json").expect("write");
    let out = entrasync(&config, &["check"]).await;
    assert_exit(&out, 1, "check on a damaged file");
    assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("entrasync: the file target {}", users.display()))
            && err.contains("cannot be read"),
        "{err}"
    );
    assert_eq!(std::fs::read(&users).expect("reads"), b"{not json");

    // Without a target.
    let text = std::fs::read_to_string(&config).expect("reads");
    let text = text.replacen("[target]\nkind = \"file\"\npath = \"users.json\"\n", "", 1);
    std::fs::write(&config, text).expect("writes");
    let out = entrasync(&config, &["check"]).await;
    assert_exit(&out, 0, "check without a target");
    assert_eq!(
        stdout(&out).lines().last(),
        Some("target: none configured (cycles plan and write nothing)")
    );
}

/// Slow by nature (about 8 to 15 s): the SCIM client retries a refused connection five times
/// with back-off, and no setting shortens that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_1_naming_a_scim_target_that_cannot_be_reached() {
    let (_emulator, dir, config) = cli_setup().await;
    let scim = format!("{}/scim/v2", closed_url());
    std::fs::write(dir.path().join("scim-token"), "scim-token-value").expect("write");
    let text = std::fs::read_to_string(&config).expect("reads");
    let text = text.replacen(
        "kind = \"file\"\npath = \"users.json\"\n",
        &format!("kind = \"scim\"\nurl = \"{scim}\"\ntoken_file = \"scim-token\"\n"),
        1,
    );
    std::fs::write(&config, text).expect("writes");
    let out = entrasync(&config, &["check"]).await;
    assert_exit(&out, 1, "check");
    assert_eq!(stdout(&out).lines().count(), 3, "config, token, Graph");
    let last = stderr(&out).trim().lines().last().unwrap_or("").to_owned();
    assert!(
        last.starts_with(&format!("entrasync: the SCIM target {scim} cannot be used"))
            && last.contains("cannot connect"),
        "{last}"
    );
    assert!(
        !stderr(&out).contains("scim-token-value"),
        "the token never shows"
    );
}
