//! Table tests of configuration validation: each bad file names its key and says what to do.

use super::secrets::expand_credentials_directory;
use super::*;

const GOOD: &str = r#"
state_dir = "state"
schedule = "40m"

[source]
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret_env = "ENTRASYNC_TEST_SECRET_SET"
groups = ["Stratsys Full Users", "Stratsys Readers"]
"#;

fn load_text(text: &str) -> Result<Config, ConfigError> {
    // SAFETY of set_var: tests in this module only ever set this one variable to one value.
    unsafe { std::env::set_var("ENTRASYNC_TEST_SECRET_SET", "s3cret-value\n") };
    parse(text, Path::new("/etc/entrasync/test.toml"))
}

#[test]
fn a_good_file_gets_its_defaults() {
    let config = load_text(GOOD).expect("valid");
    assert_eq!(config.state_dir, Path::new("/etc/entrasync/state"));
    assert_eq!(config.schedule, Schedule::Every(Duration::from_secs(2400)));
    assert_eq!(
        config.source.credential.secret().map(|s| s.expose()),
        Some("s3cret-value")
    );
    assert_eq!(
        config.source.secret_origin,
        "client_secret_env ENTRASYNC_TEST_SECRET_SET"
    );
    assert_eq!(
        config.source.graph_url.as_str(),
        "https://graph.microsoft.com/"
    );
    assert_eq!(config.source.members, Members::Direct);
    assert_eq!(config.source.groups.len(), 2);
    assert!(config.warnings.is_empty());
}

#[test]
fn an_inline_secret_works_but_warns_without_showing_it() {
    let text = GOOD.replace(
        "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"",
        "client_secret = \"inline-secret-xyz\"",
    );
    let config = load_text(&text).expect("valid");
    assert_eq!(
        config.source.credential.secret().map(|s| s.expose()),
        Some("inline-secret-xyz")
    );
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].contains("client_secret_file"));
    assert!(!config.warnings[0].contains("inline-secret-xyz"));
    assert!(!format!("{config:?}").contains("inline-secret-xyz"));
}

#[test]
fn cron_and_transitive_are_accepted() {
    let text = GOOD.replace("\"40m\"", "\"0 0 * * * *\"") + "members = \"transitive\"\n";
    let config = load_text(&text).expect("valid");
    assert_eq!(
        config.schedule,
        Schedule::parse("0 0 * * * *").expect("hourly parses")
    );
    assert_eq!(config.source.members, Members::Transitive);
}

#[test]
fn loopback_http_is_allowed_for_the_emulator() {
    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:9",
    ] {
        let text = GOOD.replace("groups =", &format!("graph_url = \"{url}\"\ngroups ="));
        load_text(&text).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

/// (what is changed, the key the message must name, a phrase it must contain)
#[test]
fn http_listens_where_asked_and_warns_beyond_this_machine() {
    let config = load_text(GOOD).expect("valid");
    assert_eq!(config.http, None);
    let config =
        load_text(&format!("{GOOD}\n[http]\nlisten = \"127.0.0.1:9464\"\n")).expect("valid");
    let listen = config.http.expect("[http] given").listen;
    assert_eq!(listen, "127.0.0.1:9464".parse().expect("an address"));
    assert!(config.warnings.is_empty());
    let config = load_text(&format!("{GOOD}\n[http]\nlisten = \"0.0.0.0:9464\"\n")).expect("valid");
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("beyond this machine")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn bad_files_name_the_key_and_the_fix() {
    let secret_line = "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            GOOD.replace("tenant_id", "tenat_id"),
            "tenat_id",
            "tenant_id",
        ),
        (
            GOOD.replace("schedule = \"40m\"", "schedul = \"40m\""),
            "schedul",
            "state_dir",
        ),
        (GOOD.replace("\"40m\"", "\"40\""), "schedule", "unit"),
        (
            GOOD.replace("\"40m\"", "\"10s\""),
            "schedule",
            "shorter than a minute",
        ),
        (
            GOOD.replace("\"40m\"", "\"every hour\""),
            "schedule",
            "cron",
        ),
        (GOOD.replace("\"40m\"", "40"), "schedule", "string"),
        (
            GOOD.replace("\"40m\"", "\"0 61 * * * *\""),
            "schedule",
            "not a cron expression the scheduler accepts",
        ),
        (
            GOOD.replace("\"40m\"", "\"0 * * * *\""),
            "schedule",
            "seconds field",
        ),
        (
            GOOD.replace("client_id = \"00000000-0000-0000-0000-000000000000\"\n", ""),
            "client_id",
            "missing",
        ),
        (
            GOOD.replace("\"contoso.onmicrosoft.com\"", "\"  \""),
            "tenant_id",
            "empty",
        ),
        (
            GOOD.replace(secret_line, ""),
            "client_secret_file",
            "missing",
        ),
        (
            GOOD.replace(
                secret_line,
                "client_secret_env = \"ENTRASYNC_SURELY_UNSET_VAR\"",
            ),
            "client_secret_env",
            "not set",
        ),
        (
            GOOD.replace(secret_line, "client_secret_file = \"/nonexistent/secret\""),
            "client_secret_file",
            "cannot be read",
        ),
        (
            GOOD.replace(
                secret_line,
                &format!("{secret_line}\nclient_secret = \"x\""),
            ),
            "client_secret",
            "more than one way",
        ),
        (
            GOOD.replace(
                "groups =",
                "graph_url = \"http://graph.example.com\"\ngroups =",
            ),
            "graph_url",
            "plain http",
        ),
        (
            GOOD.replace("groups =", "authority_url = \"ftp://x\"\ngroups ="),
            "authority_url",
            "scheme",
        ),
        (
            GOOD.replace("groups =", "graph_url = \"not a url\"\ngroups ="),
            "graph_url",
            "not a URL",
        ),
        (
            GOOD.replace("\"Stratsys Readers\"", "\"stratsys full users\""),
            "groups",
            "twice",
        ),
        (
            GOOD.replace("\"Stratsys Readers\"", "\"\""),
            "groups",
            "empty entry",
        ),
        (
            GOOD.replace("groups =", "members = \"nested\"\ngroups ="),
            "members",
            "transitive",
        ),
        (
            GOOD.replace("groups =", "request_timeout = \"0s\"\ngroups ="),
            "request_timeout",
            "longer than zero",
        ),
        (
            GOOD.replace("groups =", "max_retry_wait = \"soon\"\ngroups ="),
            "max_retry_wait",
            "not a duration",
        ),
        (GOOD.replace("[source]", "[sorce]"), "sorce", "source"),
        (GOOD.replace("[source]", "[source"), "", "line 5"),
        (
            format!("{GOOD}\n[http]\nlisten = \"localhost\"\n"),
            "[http] listen",
            "127.0.0.1:9464",
        ),
        (format!("{GOOD}\n[http]\n"), "[http] listen", "is missing"),
        (format!("{GOOD}\n[http]\nport = 9464\n"), "port", "listen"),
        (
            GOOD.split("[source]").next().unwrap_or_default().to_owned(),
            "[source]",
            "missing",
        ),
    ];
    for (text, key, phrase) in cases {
        let err = load_text(&text).expect_err(&text).to_string();
        assert!(
            err.starts_with("/etc/entrasync/test.toml"),
            "names the file: {err}"
        );
        assert!(err.contains(key), "names {key}: {err}");
        assert!(
            err.contains(phrase) || err.contains(&phrase.replace("line 5", ":5:")),
            "says {phrase}: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(!err.contains("s3cret-value"), "no secret: {err}");
    }
}

#[test]
fn targets_and_deprovisioning_load_with_their_defaults() {
    // SAFETY of set_var: every test that sets this variable sets it to this one value.
    unsafe { std::env::set_var("ENTRASYNC_TEST_SCIM_TOKEN", "scim-token-value") };
    let file = load_text(&format!(
        "{GOOD}\n[target]\nkind = \"file\"\npath = \"out/users.json\"\n"
    ))
    .expect("valid");
    let target = file.target.expect("a target");
    assert!(
        matches!(&target.kind, TargetKind::File { path } if path == Path::new("/etc/entrasync/out/users.json"))
    );
    assert!(!target.adopt_existing);
    assert_eq!(file.deprovision, DeprovisionConfig::default());
    assert_eq!(file.deprovision.max_deprovisions, 500);

    let scim = load_text(&format!(
        "{GOOD}\n[deprovision]\nwhen = \"delete\"\nmax_deprovisions = 20\n\n[target]\nkind = \"scim\"\nurl = \"https://app.example.com/scim/v2/\"\ntoken_env = \"ENTRASYNC_TEST_SCIM_TOKEN\"\nexclude = [\"Admin@Contoso.com\"]\nadopt_existing = true\n"
    ))
    .expect("valid");
    assert_eq!(scim.deprovision.when, crate::plan::WhenLeaving::Delete);
    let target = scim.target.expect("a target");
    assert!(target.adopt_existing);
    assert!(target.exclude.contains("admin@contoso.com"));
    let TargetKind::Scim(config) = target.kind else {
        panic!("a SCIM target");
    };
    assert_eq!(config.url.as_str(), "https://app.example.com/scim/v2");
    assert_eq!(config.token.expose(), "scim-token-value");
    assert_eq!(config.dialect, Dialect::Entra);
    assert_eq!(config.permissions, PermissionsAs::Roles);
    assert_eq!(config.max_concurrency, 8);
    assert_eq!(config.match_attributes, ["externalId", "userName"]);
    assert!(!format!("{config:?}").contains("scim-token-value"));
}

#[test]
fn bad_targets_name_the_key_and_the_fix() {
    // SAFETY of set_var: every test that sets this variable sets it to this one value.
    unsafe { std::env::set_var("ENTRASYNC_TEST_SCIM_TOKEN", "scim-token-value") };
    let scim = "[target]\nkind = \"scim\"\nurl = \"https://app.example.com/scim\"\ntoken_env = \"ENTRASYNC_TEST_SCIM_TOKEN\"\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "[target]\npath = \"x\"\n".into(),
            "[target] kind",
            "missing",
        ),
        (
            "[target]\nkind = \"ldap\"\n".into(),
            "[target] kind",
            "\"scim\" or \"file\"",
        ),
        (
            "[target]\nkind = \"file\"\n".into(),
            "[target] path",
            "missing",
        ),
        (
            "[target]\nkind = \"file\"\npath = \"x\"\nurl = \"https://a\"\n".into(),
            "[target] url",
            "kind = \\\"scim\\\"",
        ),
        (
            "[target]\nkind = \"scim\"\ntoken_env = \"ENTRASYNC_TEST_SCIM_TOKEN\"\n".into(),
            "[target] url",
            "missing",
        ),
        (
            scim.replace("https://app.example.com", "http://app.example.com"),
            "[target] url",
            "plain http",
        ),
        (
            scim.replace("token_env = \"ENTRASYNC_TEST_SCIM_TOKEN\"\n", ""),
            "[target] token_file",
            "bearer token",
        ),
        (
            format!("{scim}token = \"t\"\n"),
            "[target] token",
            "more than one way",
        ),
        (
            format!("{scim}dialect = \"okta\"\n"),
            "[target] dialect",
            "entra-legacy",
        ),
        (
            format!("{scim}permissions = \"role\"\n"),
            "[target] permissions",
            "\"groups\"",
        ),
        (
            format!("{scim}max_concurrency = 0\n"),
            "[target] max_concurrency",
            "1 to 64",
        ),
        (
            format!("{scim}match = []\n"),
            "[target] match",
            "duplicates",
        ),
        (
            "[deprovision]\nwhen = \"disable\"\n".into(),
            "[deprovision] when",
            "\"keep\"",
        ),
        (
            "[deprovision]\nmax_deprovisions = -1\n".into(),
            "[deprovision] max_deprovisions",
            "0 or more",
        ),
    ];
    for (section, key, phrase) in cases {
        let text = format!("{GOOD}\n{section}");
        let err = load_text(&text).expect_err(&text).to_string();
        assert!(err.contains(key), "names {key}: {err}");
        assert!(
            err.contains(phrase.trim_matches('\\')) || err.contains(&phrase.replace('\\', "")),
            "says {phrase}: {err}"
        );
        assert!(!err.contains("scim-token-value"), "no secret: {err}");
    }
}

#[test]
fn secret_files_may_live_in_the_credentials_directory() {
    let cases = [
        (
            "$CREDENTIALS_DIRECTORY/client-secret",
            Some("/run/credentials/x"),
            Ok("/run/credentials/x/client-secret"),
        ),
        (
            "${CREDENTIALS_DIRECTORY}/client-secret",
            Some("/run/c"),
            Ok("/run/c/client-secret"),
        ),
        ("/etc/entrasync/secret", None, Ok("/etc/entrasync/secret")),
        (
            "$CREDENTIALS_DIRECTORY/client-secret",
            None,
            Err("LoadCredential="),
        ),
        (
            "$CREDENTIALS_DIRECTORY/client-secret",
            Some(""),
            Err("not set"),
        ),
    ];
    for (path, dir, expected) in cases {
        let got = expand_credentials_directory(Path::new(path), dir.map(Into::into));
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, PathBuf::from(want), "{path}"),
            (Err(why), Err(part)) => assert!(why.contains(part), "{path}: {why}"),
            (got, want) => panic!("{path}: got {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn commands_that_only_read_state_need_no_secret() {
    let text = GOOD.replace(
        "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"",
        "client_secret_file = \"$CREDENTIALS_DIRECTORY/nowhere\"",
    );
    let path = Path::new("/etc/entrasync/test.toml");
    let err = parse(&text, path).expect_err("the secret cannot be read here");
    assert!(err.to_string().contains("client_secret_file"), "{err}");
    let config = parse_with(&text, path, false).expect("valid without reading the secret");
    assert_eq!(
        config.source.credential.secret().map(|s| s.expose()),
        Some("")
    );
    assert_eq!(config.state_dir, Path::new("/etc/entrasync/state"));
    let missing = GOOD.replace("client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"", "");
    let err = parse_with(&missing, path, false).expect_err("a secret must still be named");
    assert!(err.to_string().contains("is missing"), "{err}");
}

#[test]
fn a_certificate_is_the_other_credential() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/client-certificate.pem"
    );
    let secret_line = "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"";
    let with = |line: &str| GOOD.replace(secret_line, line);
    let config = load_text(&with(&format!("client_certificate_file = \"{fixture}\"")))
        .expect("a certificate with its key loads");
    assert!(config.source.credential.secret().is_none());
    assert!(
        config.source.secret_origin.contains("x5t#S256"),
        "{}",
        config.source.secret_origin
    );
    let cases = [
        (
            format!("{secret_line}\nclient_certificate_file = \"{fixture}\""),
            "keep one",
        ),
        (
            "client_certificate_file = \"/nowhere/cert.pem\"".to_owned(),
            "cannot be read",
        ),
        (
            format!(
                "client_certificate_file = \"{}/Cargo.toml\"",
                env!("CARGO_MANIFEST_DIR")
            ),
            "holds no certificate",
        ),
    ];
    for (line, want) in cases {
        let err = load_text(&with(&line)).expect_err(want).to_string();
        assert!(err.contains("[source] client_certificate_file"), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("PRIVATE KEY"), "{err}");
    }
}

// Regression tests for what the hostile-input corpus and the fuzzing found
// (tests/hostile_configs.rs, tests/fuzz_parsers.rs).

#[test]
fn a_value_with_a_line_break_is_quoted_on_one_line() {
    let cases = [
        GOOD.replace("groups =", "members = \"a\\nb\"\ngroups ="),
        format!("{GOOD}\n[attributes]\n\"a\\r\\nb\" = \"x\"\n"),
        format!("{GOOD}\n[attributes]\nuserName = \"lower([mail\\nx])\"\n"),
        format!("{GOOD}\n[[permission_groups]]\nname = \"A\\u001b[31m\\u202eB\"\n"),
        "'\u{1b}7\r\u{202e}x{=Y".to_owned(),
    ];
    for text in cases {
        let err = load_text(&text).expect_err(&text).to_string();
        assert!(
            !err.contains(['\n', '\r', '\u{1b}', '\u{202e}']),
            "one printable line: {err:?}"
        );
    }
    let text = GOOD.replace("groups =", "members = \"a\\nb\"\ngroups =");
    let err = load_text(&text).expect_err("bad").to_string();
    assert!(
        err.contains("\"a\\nb\""),
        "the break is shown as \\n: {err}"
    );
}

#[test]
fn a_duplicate_key_or_table_is_named() {
    let cases = [
        (
            GOOD.replace("groups =", "tenant_id = \"x\"\ngroups ="),
            ":9:1: in [source] duplicate key `tenant_id`",
        ),
        (
            format!("{GOOD}[source]\n"),
            ":10:2: in [source] duplicate key `source`",
        ),
        (
            format!("{GOOD}[target\n"),
            ":10:8: unclosed table, expected `]`",
        ),
    ];
    for (text, want) in cases {
        let err = load_text(&text).expect_err(want).to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn an_inline_secret_of_the_wrong_type_is_not_shown() {
    let secret_line = "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"";
    for (section, line) in [
        ("", "client_secret = 4319927781"),
        ("", "client_secret = 43199.27781"),
        (
            "[target]\nkind = \"scim\"\nurl = \"https://a.example\"\n",
            "token = 9871234560",
        ),
    ] {
        let text = if section.is_empty() {
            GOOD.replace(secret_line, line)
        } else {
            format!("{GOOD}{section}{line}\n")
        };
        let err = load_text(&text).expect_err(line).to_string();
        assert!(err.contains("not shown"), "{err}");
        assert!(
            !err.contains("4319927781") && !err.contains("43199.27781"),
            "{err}"
        );
        assert!(!err.contains("9871234560"), "{err}");
    }
}

#[test]
fn a_secret_pasted_into_an_env_key_is_not_shown() {
    let secret_line = "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"";
    let text = GOOD.replace(secret_line, "client_secret_env = \"abc8Q~kJ.secret-value\"");
    let err = load_text(&text)
        .expect_err("not a variable name")
        .to_string();
    assert!(
        err.contains("[source] client_secret_env is not the name"),
        "{err}"
    );
    assert!(!err.contains("abc8Q"), "{err}");
}

#[test]
fn a_url_with_a_password_is_refused_without_showing_it() {
    for (key, url) in [
        ("graph_url", "https://svc:Pa55-w0rd@graph.microsoft.com"),
        ("authority_url", "http://user:Pa55-w0rd@127.0.0.1:8080"),
    ] {
        let text = GOOD.replace("groups =", &format!("{key} = \"{url}\"\ngroups ="));
        let err = load_text(&text).expect_err(url).to_string();
        assert!(
            err.contains(&format!("[source] {key} carries a user name or password")),
            "{err}"
        );
        assert!(!err.contains("Pa55-w0rd"), "{err}");
    }
}

#[test]
fn serde_type_names_are_said_in_toml_words() {
    let cases = [
        (
            format!("{GOOD}[deprovision]\nmax_deprovisions = 1.5\n"),
            "expected a whole number",
        ),
        (
            GOOD.replace("groups = [", "groups = \"x\"\nx = ["),
            "expected an array",
        ),
        ("target = 1\n".to_owned(), "expected a table"),
    ];
    for (text, want) in cases {
        let err = load_text(&text).expect_err(want).to_string();
        assert!(err.contains(want), "{want}: {err}");
        assert!(!err.contains("i64") && !err.contains("Raw"), "{err}");
    }
}

#[test]
fn an_unclosed_multi_line_string_is_reported_where_it_opens() {
    let text =
        format!("{GOOD}\n[attributes]\nuserName = \"\"\"lower(\n\n[target]\nkind = \"file\"\n");
    let err = load_text(&text).expect_err("never closed").to_string();
    assert!(
        err.contains(":12:12: in [attributes] key `userName`: a multi-line string opened here is never closed"),
        "{err}"
    );
}

#[test]
fn a_top_level_key_after_a_table_says_to_move_it() {
    let text = format!("{GOOD}default_permission = \"Reader\"\n");
    let err = load_text(&text).expect_err("in [source]").to_string();
    assert!(err.contains("unknown field `default_permission`"), "{err}");
    assert!(err.contains("move it above the first [table]"), "{err}");
}

#[test]
fn a_permission_group_no_alias_gives_is_refused_unless_it_is_the_default() {
    let group = "[[permission_groups]]\nname = \"Viewer\"\npriority = 1\n";
    let err = load_text(&format!("{GOOD}{group}"))
        .expect_err("unreachable")
        .to_string();
    assert!(
        err.contains("[[permission_groups]] (Viewer) aliases is empty"),
        "{err}"
    );
    let text = format!("default_permission = \"Viewer\"\n{GOOD}{group}aliases = []\n");
    let config = load_text(&text).expect("the default needs no alias");
    assert_eq!(config.rules.default_permission.as_deref(), Some("Viewer"));
}

#[test]
fn a_config_file_that_is_not_utf8_names_the_line_and_column() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("entrasync.toml");
    std::fs::write(
        &path,
        b"state_dir = \"s\"\n[source]\ntenant_id = \"caf\xe9\"\n",
    )
    .expect("write");
    let err = load(&path).expect_err("not UTF-8").to_string();
    assert!(
        err.starts_with(&format!(
            "{}:3:17: the byte 0xE9 is not UTF-8",
            path.display()
        )),
        "{err}"
    );
    assert!(
        !err.contains("--config"),
        "the path is right, the encoding is not: {err}"
    );
}

#[test]
fn a_config_path_to_an_endless_device_is_refused_without_reading_it_all() {
    let err = load(Path::new("/dev/zero"))
        .expect_err("endless")
        .to_string();
    assert!(
        err.contains("/dev/zero: the file is larger than 8 MiB"),
        "{err}"
    );
}

#[test]
fn a_tenant_id_that_would_change_the_token_url_is_refused() {
    for tenant in [
        "contoso.com/../x",
        "contoso?x=1",
        "a b",
        "contoso#frag",
        "t%2e",
    ] {
        let text = GOOD.replace("contoso.onmicrosoft.com", tenant);
        let err = load_text(&text).expect_err(tenant).to_string();
        assert!(err.contains("[source] tenant_id is"), "{tenant}: {err}");
        assert!(err.contains("verified domain"), "{err}");
    }
    for tenant in [
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "contoso.onmicrosoft.com",
        "t",
    ] {
        load_text(&GOOD.replace("contoso.onmicrosoft.com", tenant)).expect(tenant);
    }
}

#[test]
fn an_empty_state_dir_is_refused() {
    let err = load_text(&GOOD.replace("state_dir = \"state\"", "state_dir = \" \""))
        .expect_err("empty")
        .to_string();
    assert!(err.contains("state_dir is empty"), "{err}");
}

#[test]
fn a_type_error_on_a_secret_key_never_quotes_the_value() {
    let cases = [
        (
            GOOD.replace(
                "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"",
                "client_secret = 8675309424242",
            ),
            "key `client_secret`: is not a string",
        ),
        (
            GOOD.replace(
                "client_secret_env = \"ENTRASYNC_TEST_SECRET_SET\"",
                "\"client_secret\" = 8675309424242.5",
            ),
            "key `client_secret`: is not a string",
        ),
        (
            format!(
                "{GOOD}[target]\nkind = \"scim\"\nurl = \"https://a.example\"\ntoken = 8675309424242\n"
            ),
            "key `token`: is not a string",
        ),
        (
            format!("target = {{ kind = \"scim\", token = 8675309424242 }}\n{GOOD}"),
            "key `token`: is not a string",
        ),
    ];
    for (text, want) in cases {
        let err = load_text(&text).expect_err(&text).to_string();
        assert!(!err.contains("8675309424242"), "the value is quoted: {err}");
        assert!(err.contains(want), "{err}");
    }
    // Other keys keep their value in the message: it helps, and it is no secret.
    let text = GOOD.replace("schedule = \"40m\"", "schedule = 40");
    let err = load_text(&text).expect_err("a number").to_string();
    assert!(err.contains("`40`"), "{err}");
}

#[test]
fn ca_files_are_read_at_load_and_bad_ones_name_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-ca.pem");
    std::fs::copy(fixture, dir.path().join("ca.pem")).expect("copies");
    std::fs::write(dir.path().join("not-a-ca.pem"), "nothing here\n").expect("writes");
    let path = dir.path().join("entrasync.toml");
    // SAFETY of set_var: every test that sets this variable sets it to this one value.
    unsafe { std::env::set_var("ENTRASYNC_TEST_SCIM_TOKEN", "scim-token-value") };
    let scim = "[target]\nkind = \"scim\"\nurl = \"https://app.example.com/scim\"\ntoken_env = \"ENTRASYNC_TEST_SCIM_TOKEN\"\n";
    let with = |source_ca: &str, target: &str| {
        let text = GOOD.replace("groups = [", &format!("{source_ca}\ngroups = ["));
        format!("{text}\n{target}")
    };
    let good = with(
        "ca_file = \"ca.pem\"",
        &format!("{scim}ca_file = \"ca.pem\"\n"),
    );
    unsafe { std::env::set_var("ENTRASYNC_TEST_SECRET_SET", "s3cret-value\n") };
    let config = parse(&good, &path).expect("valid");
    let source_ca = config.source.ca.as_ref().expect("[source] ca_file read");
    assert_eq!(
        source_ca.path,
        dir.path().join("ca.pem"),
        "relative to the file"
    );
    assert_eq!(source_ca.len(), 1);
    let Some(TargetConfig {
        kind: TargetKind::Scim(scim_config),
        ..
    }) = &config.target
    else {
        panic!("a SCIM target");
    };
    assert!(scim_config.ca.is_some(), "[target] ca_file read");
    // Commands that connect nowhere do not read it.
    let missing = with("ca_file = \"missing.pem\"", "");
    assert!(
        load_without_secrets(&{
            std::fs::write(&path, &missing).expect("writes");
            path.clone()
        })
        .is_ok_and(|c| c.source.ca.is_none())
    );
    let cases = [
        (missing, "[source] ca_file", "missing.pem: cannot be read"),
        (
            with("ca_file = \"not-a-ca.pem\"", ""),
            "[source] ca_file",
            "holds no certificate",
        ),
        (with("ca_file = \"\"", ""), "[source] ca_file", "is empty"),
        (
            with("", &format!("{scim}ca_file = \"not-a-ca.pem\"\n")),
            "[target] ca_file",
            "holds no certificate",
        ),
        (
            with(
                "",
                "[target]\nkind = \"file\"\npath = \"u.json\"\nca_file = \"ca.pem\"\n",
            ),
            "[target] ca_file",
            "is for kind = \"scim\"",
        ),
    ];
    for (text, key, phrase) in cases {
        let err = parse(&text, &path).expect_err(&text).to_string();
        assert!(err.contains(key), "names {key}: {err}");
        assert!(err.contains(phrase), "says {phrase}: {err}");
    }
}

mod app;
