//! Stratsys (`shared/seeds/stratsys-entra-user-sync.txt`): group aliases to permission groups,
//! many-to-one, unique; priority gives the primary permission; department aliases with a
//! fallback department per permission group.

use super::*;
use crate::rules::RuleErrorKind;

const GROUPS: [&str; 3] = [
    "Stratsys Full Users",
    "Stratsys Members",
    "Stratsys Readers",
];

fn stratsys() -> RulesConfig {
    stratsys_scoping(&[])
}

/// The Stratsys config with more `[source] groups` scoped beside the permission groups.
fn stratsys_scoping(more: &[&str]) -> RulesConfig {
    let groups: Vec<&str> = GROUPS.iter().chain(more).copied().collect();
    config(
        &groups,
        r#"
[[permission_groups]]
name = "Member"
aliases = ["Stratsys Members"]
priority = 2

[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users", "Strategy Team"]
priority = 1
fallback_department = "Head Office"

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers"]
priority = 3
fallback_department = "Unassigned"

[[departments]]
name = "Sales"
aliases = ["Sales EMEA", "Sales NA"]

[[departments]]
name = "Head Office"

[[departments]]
name = "Unassigned"
"#,
    )
}

#[test]
fn anna_in_two_groups_gets_full_user_as_primary_and_member_as_additional() {
    let tenant = Tenant::new()
        .user("anna", Some("Sales EMEA"))
        .group("Stratsys Members", &["anna"])
        .group("Stratsys Full Users", &["anna"]);
    let outcome = tenant.evaluate(&stratsys());
    assert_eq!(permissions(&outcome)["anna"], ["Full User", "Member"]);
    assert_eq!(
        outcome.desired["anna"].primary_permission(),
        Some("Full User")
    );
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
}

#[test]
fn many_aliases_map_to_one_permission_group_and_one_department() {
    let tenant = Tenant::new()
        .user("bo", Some("Sales NA"))
        .user("cy", Some("Sales EMEA"))
        .group("Stratsys Full Users", &["bo"])
        .group("Strategy Team", &["cy"]);
    let outcome = tenant.evaluate(&stratsys());
    assert_eq!(permissions(&outcome)["bo"], ["Full User"]);
    assert_eq!(permissions(&outcome)["cy"], ["Full User"]);
    for user in ["bo", "cy"] {
        assert_eq!(
            departments(&outcome)[user],
            DepartmentChoice::Mapped("Sales".into())
        );
    }
}

#[test]
fn an_unmapped_department_takes_the_fallback_of_the_primary_permission_group() {
    let tenant = Tenant::new()
        .user("dag", Some("Marketing"))
        .user("eva", Some("Marketing"))
        .group("Stratsys Full Users", &["dag"])
        .group("Stratsys Readers", &["dag", "eva"]);
    let outcome = tenant.evaluate(&stratsys());
    assert_eq!(
        departments(&outcome)["dag"],
        DepartmentChoice::Fallback("Head Office".into()),
        "Full User is dag's primary permission"
    );
    assert_eq!(
        departments(&outcome)["eva"],
        DepartmentChoice::Fallback("Unassigned".into())
    );
    assert!(outcome.unmapped.departments.contains("Marketing"));
}

#[test]
fn without_a_fallback_a_user_gets_no_department_and_the_error() {
    // "Member" has no fallback: a new user is not created, an existing one keeps its department
    // (the plan decides which, from what the target has).
    let tenant = Tenant::new()
        .user("fay", Some("Marketing"))
        .group("Stratsys Members", &["fay"]);
    let outcome = tenant.evaluate(&stratsys());
    assert_eq!(departments(&outcome)["fay"], DepartmentChoice::Unchanged);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].kind, RuleErrorKind::NoDepartment);
    assert_eq!(outcome.errors[0].message, "No standard department defined");
    assert!(!outcome.held.contains("fay"), "still updated if it exists");
}

#[test]
fn a_user_with_no_department_at_all_also_falls_back() {
    let tenant = Tenant::new()
        .user("gus", None)
        .group("Stratsys Readers", &["gus"]);
    let outcome = tenant.evaluate(&stratsys());
    assert_eq!(
        departments(&outcome)["gus"],
        DepartmentChoice::Fallback("Unassigned".into())
    );
}

#[test]
fn an_alias_may_belong_to_one_permission_group_only() {
    let err = try_config(
        &GROUPS,
        r#"
[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users"]
priority = 1

[[permission_groups]]
name = "Reader"
aliases = ["stratsys full users"]
priority = 2
"#,
    )
    .expect_err("a shared alias");
    let err = err.to_string();
    assert!(
        err.contains("\"Full User\"") && err.contains("\"Reader\""),
        "{err}"
    );
    assert!(err.contains("unique"), "{err}");
}

#[test]
fn an_alias_may_belong_to_one_department_only() {
    let err = try_config(
        &GROUPS,
        "[[departments]]\nname = \"Sales\"\naliases = [\"EMEA\"]\n\n[[departments]]\nname = \"Support\"\naliases = [\"EMEA\"]\n",
    )
    .expect_err("a shared alias");
    let err = err.to_string();
    assert!(
        err.contains("\"Sales\"") && err.contains("\"Support\""),
        "{err}"
    );
}

#[test]
fn priorities_are_positive_and_unique_and_fallbacks_exist() {
    let group = |name: &str, priority: &str, extra: &str| {
        format!(
            "[[permission_groups]]\nname = \"{name}\"\naliases = [\"{name}s\"]\npriority = {priority}\n{extra}\n"
        )
    };
    let cases = [
        (
            group("A", "1", "") + &group("B", "1", ""),
            "also the priority of \"A\"",
        ),
        (group("A", "0", ""), "from 1"),
        (group("A", "-3", ""), "from 1"),
        (
            group("A", "1", "fallback_department = \"Nowhere\""),
            "no [[departments]] name",
        ),
        (
            group("A", "1", "") + "default_permission = \"x\"\n",
            "unknown field",
        ),
    ];
    for (text, says) in cases {
        let err = try_config(&GROUPS, &text).expect_err(&text).to_string();
        assert!(err.contains(says), "{says}: {err}");
        assert!(err.contains("/etc/entrasync/rules-test.toml"), "{err}");
    }
}

#[test]
fn a_scoped_group_without_an_alias_is_reported_once() {
    let tenant = Tenant::new()
        .user("hal", Some("Sales NA"))
        .group("Stratsys Full Users", &["hal"])
        .group("Stratsys Readers", &["hal"])
        .group("Stratsys Guests", &["hal"]);
    let outcome = tenant.evaluate(&stratsys_scoping(&["Stratsys Guests"]));
    assert_eq!(
        outcome.unmapped.messages(),
        [
            "No matching group has been found for group with display name Stratsys Guests. A group has to be configured with this alias."
        ]
    );
    assert_eq!(permissions(&outcome)["hal"], ["Full User", "Reader"]);
}

#[test]
fn a_user_in_scope_with_no_mapped_group_is_held_with_the_error() {
    let tenant = Tenant::new()
        .user("ida", Some("Sales NA"))
        .group("Stratsys Guests", &["ida"]);
    let outcome = tenant.evaluate(&stratsys_scoping(&["Stratsys Guests"]));
    assert!(outcome.desired.is_empty());
    assert!(outcome.held.contains("ida"));
    assert_eq!(
        outcome.errors[0].message,
        "User ida has no main membership."
    );
    assert_eq!(outcome.errors[0].kind, RuleErrorKind::NoMainMembership);
}

#[test]
fn a_group_renamed_in_entra_keeps_granting_its_permission() {
    let tenant = Tenant::new()
        .user("jon", Some("Sales NA"))
        .group("Stratsys Full Users", &["jon"])
        .rename("Stratsys Full Users", "Stratsys Power Users");
    let outcome = tenant.evaluate(&stratsys());
    assert_eq!(permissions(&outcome)["jon"], ["Full User"]);
    assert!(outcome.unmapped.groups.is_empty(), "{:?}", outcome.unmapped);
    let bound = outcome
        .aliases
        .iter()
        .find(|a| a.alias == "Stratsys Full Users")
        .expect("the alias is listed");
    assert_eq!(bound.current_name.as_deref(), Some("Stratsys Power Users"));
    assert_eq!(bound.permission_group, "Full User");
}
