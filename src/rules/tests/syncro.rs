//! Syncro (`shared/seeds/syncro-entra-user-sync.txt`): users are synced when they meet ALL the
//! selected criteria (user type, domain, office location, department, group); "All" in a
//! section (here: leaving the criterion out) includes future values too; no group needed.

use super::*;

fn syncro() -> RulesConfig {
    config(
        &[],
        r#"
[filter]
user_types = ["member"]
domains = ["Contoso.com"]
departments = ["Sales"]
office_locations = ["Oslo"]
groups = ["All Staff"]
"#,
    )
}

#[test]
fn every_listed_criterion_must_match() {
    let base = |t: Tenant, id: &str| {
        t.user(id, Some("Sales"))
            .edit(id, |u| u.office_location = Some("Oslo".into()))
    };
    let mut tenant = Tenant::new();
    for id in ["all", "guest", "domain", "dept", "office", "nogroup"] {
        tenant = base(tenant, id);
    }
    let tenant = tenant
        .edit("guest", |u| u.user_type = Some("Guest".into()))
        .edit("domain", |u| {
            u.user_principal_name = Some("domain@fabrikam.com".into())
        })
        .edit("dept", |u| u.department = Some("Support".into()))
        .edit("office", |u| u.office_location = Some("Bergen".into()))
        .group("All Staff", &["all", "guest", "domain", "dept", "office"]);
    let outcome = tenant.evaluate(&syncro());
    assert_eq!(outcome.desired.keys().collect::<Vec<_>>(), ["all"]);
}

#[test]
fn an_omitted_criterion_matches_everyone_also_values_that_appear_later() {
    let config = config(&[], "[filter]\nuser_types = [\"Member\"]\n");
    let tenant = Tenant::new()
        .user("new", Some("A Department Created Today"))
        .edit("new", |u| u.office_location = Some("A New Office".into()))
        .user("guest", None)
        .edit("guest", |u| u.user_type = Some("Guest".into()));
    let outcome = tenant.evaluate(&config);
    assert_eq!(outcome.desired.keys().collect::<Vec<_>>(), ["new"]);
}

#[test]
fn with_no_group_and_no_filter_every_enabled_user_is_in_scope() {
    let tenant = Tenant::new()
        .user("a", None)
        .user("b", None)
        .user("off", None)
        .edit("off", |u| u.account_enabled = Some(false));
    let outcome = tenant.evaluate(&config(&[], ""));
    assert_eq!(outcome.desired.keys().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn a_disabled_account_is_out_of_scope_even_in_a_scoped_group() {
    let tenant = Tenant::new()
        .user("off", None)
        .edit("off", |u| u.account_enabled = Some(false))
        .group("Staff", &["off"]);
    assert!(tenant.evaluate(&config(&["Staff"], "")).desired.is_empty());
}

#[test]
fn a_guest_matches_the_domain_of_its_user_principal_name() {
    let config = config(&[], "[filter]\ndomains = [\"contoso.onmicrosoft.com\"]\n");
    let tenant = Tenant::new().user("g", None).edit("g", |u| {
        u.user_type = Some("Guest".into());
        u.user_principal_name = Some("g_fabrikam.com#EXT#@Contoso.onmicrosoft.com".into());
    });
    assert_eq!(tenant.evaluate(&config).desired.len(), 1);
}

#[test]
fn an_empty_criterion_or_an_unknown_user_type_is_refused() {
    for (text, says) in [
        ("[filter]\ndepartments = []\n", "leave the key out"),
        (
            "[filter]\nuser_types = [\"Admin\"]\n",
            "\"Member\" and \"Guest\"",
        ),
        ("[filter]\noffice = [\"Oslo\"]\n", "office_locations"),
    ] {
        let err = try_config(&[], text).expect_err(text).to_string();
        assert!(err.contains(says), "{says}: {err}");
    }
}
