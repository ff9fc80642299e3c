//! The shipped configuration files load, and a bad file gives exit status 2 with one message.

use std::path::Path;
use std::process::Command;

use entrasync::config::ScopeBy;
use entrasync::plan::WhenLeaving;
use entrasync::source::AppRef;

/// The example with `$CREDENTIALS_DIRECTORY` (set by systemd for the unit) pointed at a folder
/// holding the secret.
fn example_with_secret(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string("config/entrasync.example.toml").expect("example exists");
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "example-secret\n").expect("write secret");
    let text = text.replace("$CREDENTIALS_DIRECTORY", &dir.display().to_string());
    let path = dir.join("entrasync.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn the_commented_example_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        entrasync::config::load(&example_with_secret(dir.path())).expect("example is valid");
    assert_eq!(config.source.tenant_id, "contoso.onmicrosoft.com");
    assert_eq!(
        config.source.groups,
        ["Stratsys Full Users", "Stratsys Readers"]
    );
    assert_eq!(
        config.source.credential.secret().map(|s| s.expose()),
        Some("example-secret")
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn a_typo_exits_2_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = example_with_secret(dir.path());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("members = ", "membres = ");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .args(["--config", path.to_str().unwrap(), "once"])
        .env("ENTRASYNC_ALLOW_ROOT", "true")
        .output()
        .expect("run entrasync");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("membres") && stderr.contains("members"),
        "{stderr}"
    );
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// Loads `config/examples/NAME.toml` with its secret path pointed at a real file.
fn vendor_example(dir: &Path, name: &str) -> entrasync::config::Config {
    let source = format!("config/examples/{name}.toml");
    let text = std::fs::read_to_string(&source).expect("the example exists");
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "example-secret\n").expect("write secret");
    let text = text.replace("$CREDENTIALS_DIRECTORY", &dir.display().to_string());
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    entrasync::config::load(&path).unwrap_or_else(|e| panic!("{source}: {e}"))
}

#[test]
fn every_vendor_example_loads_and_says_what_its_guide_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = [
        "stratsys",
        "stacksync",
        "syncro",
        "signpath",
        "securepractice",
    ];
    let listed: Vec<String> = std::fs::read_dir("config/examples")
        .expect("the examples folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        listed.len(),
        names.len(),
        "every example is tested: {listed:?}"
    );
    for name in names {
        let config = vendor_example(dir.path(), name);
        assert!(config.warnings.is_empty(), "{name}: {:?}", config.warnings);
        let rules = &config.rules;
        let target = |t: &str| rules.attributes.iter().find(|a| a.target == t);
        match name {
            "stratsys" => {
                assert_eq!(rules.permission_groups[0].name, "Full User");
                assert_eq!(
                    rules.scope_groups.len(),
                    4,
                    "the aliases are the scoped groups"
                );
                assert_eq!(config.source.groups.len(), 4, "and Graph reads them");
            }
            "stacksync" => {
                assert_eq!(rules.default_permission.as_deref(), Some("viewer"));
                assert_eq!(
                    target("userName").expect("mapped").expr.source(),
                    "lower([mail])"
                );
                assert!(
                    matches!(config.source.app, Some(AppRef::ClientId(_))),
                    "the enterprise app by its client id"
                );
                assert_eq!(rules.scope, ScopeBy::Assigned, "the default with an app");
                assert!(config.source.groups.is_empty(), "no group is read");
                let roles: Vec<(&str, &[String])> = rules
                    .permission_groups
                    .iter()
                    .map(|p| (p.name.as_str(), p.app_roles.as_slice()))
                    .collect();
                assert_eq!(
                    roles,
                    [
                        ("editor", &["editor".to_owned()][..]),
                        ("viewer", &["viewer".to_owned()][..]),
                    ],
                    "by app role value, editor first"
                );
                let checked: Vec<&str> = config
                    .source
                    .app_roles
                    .iter()
                    .map(|(_, value)| value.as_str())
                    .collect();
                assert_eq!(checked, ["editor", "viewer"]);
            }
            "syncro" => {
                assert_eq!(
                    config.schedule.to_string(),
                    "cron \"0 0 * * * *\" (UTC)",
                    "hourly"
                );
                assert!(rules.scope_groups.is_empty(), "filter-only");
                assert!(rules.filter.departments.is_none(), "\"All\" departments");
                assert_eq!(
                    rules.filter.domains.as_deref(),
                    Some(&["contoso.com".to_owned()][..])
                );
            }
            "signpath" => {
                let external = target("externalId").expect("mapped").expr.source();
                assert!(external.starts_with("append("), "{external}");
                assert!(config.source.app.is_some(), "the enterprise app");
                assert_eq!(rules.scope, ScopeBy::Assigned);
                assert!(config.source.groups.is_empty(), "no group is read");
                // The guide's six roles by value, the five administrative ones exclusive and
                // above Regular User.
                let roles: Vec<(&str, bool)> = rules
                    .permission_groups
                    .iter()
                    .map(|p| {
                        assert_eq!(
                            p.app_roles,
                            std::slice::from_ref(&p.name),
                            "{}: by its value",
                            p.name
                        );
                        assert!(p.aliases.is_empty(), "{}: no group alias", p.name);
                        (p.name.as_str(), p.exclusive)
                    })
                    .collect();
                assert_eq!(
                    roles,
                    [
                        ("GlobalAdministrator", true),
                        ("CertificateAdministrator", true),
                        ("UserAdministrator", true),
                        ("ProjectAdministrator", true),
                        ("GlobalReader", true),
                        ("RegularUser", false),
                    ]
                );
                assert_eq!(
                    rules.default_permission, None,
                    "every assignment has a role"
                );
                assert_eq!(config.deprovision.when, WhenLeaving::Deactivate);
            }
            "securepractice" => {
                assert!(target("phoneNumbers[type eq \"mobile\"].value").is_none());
                assert!(
                    target("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division")
                        .is_some()
                );
            }
            _ => unreachable!("the names above"),
        }
    }
}
