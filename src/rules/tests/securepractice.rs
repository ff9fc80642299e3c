//! Secure Practice (`shared/seeds/securepractice-entra-sync.txt`): an org path in the single
//! `department` field, delimited by `>` or `|`, split into organization, division and
//! department; and attributes one does not want synced, such as mobile phone numbers.

use super::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn split_path(delimiter: &str) -> RulesConfig {
    config(
        &["Secure Practice"],
        &format!(
            r#"
[attributes]
"{ENTERPRISE}:organization" = 'trim(split([department], "{delimiter}", 0))'
"{ENTERPRISE}:division" = 'trim(split([department], "{delimiter}", 1))'
"{ENTERPRISE}:department" = 'trim(split([department], "{delimiter}", -1))'
"phoneNumbers[type eq \"mobile\"].value" = "none"
"#
        ),
    )
}

#[test]
fn a_department_path_is_split_into_organization_division_and_department() {
    for (delimiter, path) in [
        (">", "Contoso > Finance > Payroll"),
        ("|", "Contoso|Finance|Payroll"),
    ] {
        let tenant = Tenant::new()
            .user("pia", Some(path))
            .group("Secure Practice", &["pia"]);
        let outcome = tenant.evaluate(&split_path(delimiter));
        let pia = &outcome.desired["pia"];
        assert_eq!(
            pia.attributes[&format!("{ENTERPRISE}:organization")],
            "Contoso",
            "{path}"
        );
        assert_eq!(
            pia.attributes[&format!("{ENTERPRISE}:division")],
            "Finance",
            "{path}"
        );
        assert_eq!(
            pia.department,
            DepartmentChoice::Mapped("Payroll".into()),
            "{path}"
        );
    }
}

#[test]
fn no_mobile_phone_is_sent_when_it_is_mapped_to_none() {
    let tenant = Tenant::new()
        .user("rut", Some("Contoso > Sales"))
        .edit("rut", |u| u.mobile_phone = Some("+47 999 99 999".into()))
        .group("Secure Practice", &["rut"]);
    let outcome = tenant.evaluate(&split_path(">"));
    let rut = &outcome.desired["rut"];
    assert!(
        rut.attributes.keys().all(|k| !k.contains("phoneNumbers")),
        "{rut:?}"
    );
    assert!(rut.attributes.values().all(|v| !v.contains("999")));
}

#[test]
fn the_defaults_send_what_the_file_example_shows() {
    let tenant = Tenant::new()
        .user("sol", Some("Sales"))
        .group("Secure Practice", &["sol"]);
    let outcome = tenant.evaluate(&config(&["Secure Practice"], ""));
    let sol = &outcome.desired["sol"];
    let keys: Vec<&str> = sol.attributes.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "displayName",
            "emails[type eq \"work\"].value",
            "externalId",
            "name.familyName",
            "name.givenName",
            "userName"
        ]
    );
    assert_eq!(sol.department, DepartmentChoice::Mapped("Sales".into()));
}

#[test]
fn an_expression_error_points_at_the_key_and_the_column() {
    let err = try_config(&["x"], "[attributes]\ntitle = 'lower([jobTitel])'\n").expect_err("typo");
    let err = err.to_string();
    assert!(err.contains("[attributes] \"title\""), "{err}");
    assert!(err.contains("column"), "{err}");
    assert!(err.contains("jobTitle"), "suggests the right name: {err}");
}
