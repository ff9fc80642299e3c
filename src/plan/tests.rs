//! Table tests of the plan: each row a situation between what the rules want and what the
//! target last accepted, and the changes that must follow.

use super::*;
use crate::rules::{RuleErrorKind, Unmapped};

fn desired(id: &str, name: &str) -> DesiredUser {
    DesiredUser {
        id: id.to_owned(),
        user_name: format!("{name}@contoso.com"),
        attributes: [
            ("userName".to_owned(), format!("{name}@contoso.com")),
            ("displayName".to_owned(), name.to_owned()),
        ]
        .into_iter()
        .collect(),
        permissions: vec!["Reader".into()],
        department: DepartmentChoice::Mapped("Sales".into()),
    }
}

/// What the target holds after accepting `user`.
fn pushed_as(user: &DesiredUser) -> PushedUser {
    PushedUser {
        target_id: format!("t-{}", user.id),
        user_name: user.user_name.clone(),
        active: true,
        attributes: user.attributes.clone(),
        permissions: user.permissions.clone(),
        department: diff::department_of(&user.department),
    }
}

fn outcome(users: Vec<DesiredUser>) -> Outcome {
    Outcome {
        desired: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
        errors: Vec::new(),
        held: BTreeSet::new(),
        unmapped: Unmapped::default(),
        aliases: Vec::new(),
        unmapped_by_user: BTreeMap::new(),
    }
}

fn policy(when: WhenLeaving) -> Policy {
    Policy {
        when,
        max_deprovisions: 500,
        allow_deprovisions: false,
        exclude: BTreeSet::new(),
        managed: ["userName", "displayName", "title"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

fn pushed(users: &[&DesiredUser]) -> BTreeMap<String, PushedUser> {
    users.iter().map(|u| (u.id.clone(), pushed_as(u))).collect()
}

/// The plan as `op user` words, in order: `create bo`, `update al`, ...
fn words(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| {
            let op = match &c.operation {
                Operation::Create { .. } => "create",
                Operation::Update { .. } => "update",
                Operation::Deactivate { .. } => "deactivate",
                Operation::Delete { .. } => "delete",
            };
            format!("{op} {}", c.user_name.trim_end_matches("@contoso.com"))
        })
        .collect()
}

fn only_delta(plan: &Plan) -> &Delta {
    assert_eq!(plan.changes.len(), 1, "{:?}", words(plan));
    match &plan.changes[0].operation {
        Operation::Update { delta } => delta,
        other => panic!("not an update: {other:?}"),
    }
}

#[test]
fn a_first_cycle_creates_everyone_in_user_name_order() {
    let users = vec![desired("2", "bo"), desired("1", "Cy"), desired("3", "al")];
    let plan = plan(
        outcome(users),
        &BTreeMap::new(),
        &BTreeMap::new(),
        &policy(WhenLeaving::Deactivate),
    );
    assert_eq!(words(&plan), ["create al", "create bo", "create Cy"]);
    let Operation::Create {
        department,
        permissions,
        ..
    } = &plan.changes[0].operation
    else {
        panic!("a create");
    };
    assert_eq!(
        (department.as_deref(), permissions.as_slice()),
        (Some("Sales"), &["Reader".to_owned()][..])
    );
}

#[test]
fn nothing_changed_plans_nothing() {
    let (a, b) = (desired("1", "al"), desired("2", "bo"));
    let pushed = pushed(&[&a, &b]);
    let plan = plan(
        outcome(vec![a, b]),
        &pushed,
        &BTreeMap::new(),
        &policy(WhenLeaving::Deactivate),
    );
    assert!(plan.is_empty(), "{:?}", words(&plan));
}

#[test]
fn an_update_carries_only_what_changed() {
    type Edit = fn(&mut DesiredUser, &mut PushedUser);
    let cases: [(&str, Edit, Delta); 6] = [
        (
            "one attribute",
            |d, _| {
                d.attributes.insert("displayName".into(), "Al Berg".into());
            },
            Delta {
                attributes: [("displayName".to_owned(), Some("Al Berg".to_owned()))].into(),
                ..Delta::default()
            },
        ),
        (
            "an attribute whose expression now gives nothing",
            |d, _| {
                d.attributes.remove("displayName");
            },
            Delta {
                attributes: [("displayName".to_owned(), None)].into(),
                ..Delta::default()
            },
        ),
        (
            "an attribute entrasync does not manage is left alone",
            |_, p| {
                p.attributes.insert("nickName".into(), "set by hand".into());
            },
            Delta::default(),
        ),
        (
            "a new primary permission",
            |d, _| d.permissions = vec!["Full User".into(), "Reader".into()],
            Delta {
                permissions: Some((
                    vec!["Reader".into()],
                    vec!["Full User".into(), "Reader".into()],
                )),
                ..Delta::default()
            },
        ),
        (
            "a new department",
            |d, _| d.department = DepartmentChoice::Fallback("Unassigned".into()),
            Delta {
                department: Some(Some("Unassigned".into())),
                ..Delta::default()
            },
        ),
        (
            "no department alias and no fallback: the department stays",
            |d, _| d.department = DepartmentChoice::Unchanged,
            Delta::default(),
        ),
    ];
    for (name, edit, expected) in cases {
        let mut user = desired("1", "al");
        let mut before = pushed_as(&user);
        edit(&mut user, &mut before);
        let pushed = [(user.id.clone(), before)].into_iter().collect();
        let plan = plan(
            outcome(vec![user]),
            &pushed,
            &BTreeMap::new(),
            &policy(WhenLeaving::Deactivate),
        );
        if expected.is_empty() {
            assert!(plan.is_empty(), "{name}: {:?}", plan.changes);
        } else {
            assert_eq!(only_delta(&plan), &expected, "{name}");
        }
    }
}

#[test]
fn a_new_user_without_a_department_is_not_created() {
    let mut user = desired("1", "al");
    user.department = DepartmentChoice::Unchanged;
    let mut rules = outcome(vec![user]);
    rules.errors.push(RuleError {
        user_id: "1".into(),
        user_principal_name: Some("al@contoso.com".into()),
        kind: RuleErrorKind::NoDepartment,
        message: "No standard department defined".into(),
    });
    let plan = plan(
        rules,
        &BTreeMap::new(),
        &BTreeMap::new(),
        &policy(WhenLeaving::Deactivate),
    );
    assert!(plan.is_empty());
    assert_eq!(plan.not_created, ["1"]);
    assert_eq!(plan.errors.len(), 1);
}

/// (policy, what Entra says of the user who left, whether the target has them active, the plan)
#[test]
fn leaving_scope_follows_the_policy_and_the_evidence() {
    use WhenLeaving::*;
    let cases: [(WhenLeaving, Option<Removal>, bool, &[&str]); 10] = [
        (Deactivate, None, true, &["deactivate al"]),
        (Deactivate, None, false, &[]),
        (
            Deactivate,
            Some(Removal::SoftDeleted),
            true,
            &["deactivate al"],
        ),
        (Deactivate, Some(Removal::Absent), true, &["deactivate al"]),
        (Deactivate, Some(Removal::HardDeleted), true, &["delete al"]),
        (
            Deactivate,
            Some(Removal::HardDeleted),
            false,
            &["delete al"],
        ),
        (Delete, None, true, &["delete al"]),
        (Delete, Some(Removal::SoftDeleted), false, &["delete al"]),
        (Keep, None, true, &[]),
        (Keep, Some(Removal::HardDeleted), true, &[]),
    ];
    for (when, removal, active, expected) in cases {
        let user = desired("1", "al");
        let mut before = pushed_as(&user);
        before.active = active;
        let pushed = [(user.id.clone(), before)].into_iter().collect();
        let gone = removal.map(|r| ("1".to_owned(), r)).into_iter().collect();
        let plan = plan(outcome(vec![]), &pushed, &gone, &policy(when));
        assert_eq!(
            words(&plan),
            expected,
            "{when:?} {removal:?} active={active}"
        );
    }
}

#[test]
fn coming_back_into_scope_reactivates() {
    let user = desired("1", "al");
    let mut before = pushed_as(&user);
    before.active = false;
    let pushed = [(user.id.clone(), before)].into_iter().collect();
    let plan = plan(
        outcome(vec![user]),
        &pushed,
        &BTreeMap::new(),
        &policy(WhenLeaving::Deactivate),
    );
    assert_eq!(only_delta(&plan).active, Some(true));
}

#[test]
fn a_held_user_is_never_deprovisioned_and_an_excluded_one_never_touched() {
    let (held, excluded, new) = (desired("1", "al"), desired("2", "bo"), desired("3", "cy"));
    let pushed = pushed(&[&held, &excluded]);
    let mut rules = outcome(vec![new.clone()]);
    rules.held.insert("1".into());
    let mut policy = policy(WhenLeaving::Delete);
    policy.exclude = ["bo@contoso.com".to_owned(), "cy@contoso.com".to_owned()].into();
    let plan = plan(rules, &pushed, &BTreeMap::new(), &policy);
    assert!(plan.is_empty(), "{:?}", words(&plan));
}

#[test]
fn more_deprovisions_than_the_threshold_are_all_held_and_the_rest_applies() {
    let leavers: Vec<DesiredUser> = (0..600)
        .map(|i| desired(&format!("l{i:03}"), &format!("leaver{i:03}")))
        .collect();
    let stayer = desired("s", "stayer");
    let mut all: Vec<&DesiredUser> = leavers.iter().collect();
    let mut changed = stayer.clone();
    changed.attributes.insert("title".into(), "Boss".into());
    all.push(&stayer);
    let pushed = pushed(&all);
    let rules = outcome(vec![changed, desired("n", "newcomer")]);
    let mut policy = policy(WhenLeaving::Deactivate);
    let held = plan(rules.clone(), &pushed, &BTreeMap::new(), &policy);
    assert_eq!(words(&held), ["create newcomer", "update stayer"]);
    assert_eq!(held.held.len(), 600);
    policy.allow_deprovisions = true;
    let allowed = plan(rules.clone(), &pushed, &BTreeMap::new(), &policy);
    assert_eq!(allowed.changes.len(), 602);
    assert!(allowed.held.is_empty());
    policy.allow_deprovisions = false;
    policy.max_deprovisions = 600;
    assert_eq!(
        plan(rules.clone(), &pushed, &BTreeMap::new(), &policy)
            .changes
            .len(),
        602,
        "at the threshold"
    );
}

#[test]
fn changes_come_in_a_stable_order_whatever_the_input() {
    let (a, b, c, d) = (
        desired("1", "al"),
        desired("2", "Bo"),
        desired("3", "cy"),
        desired("4", "di"),
    );
    let mut changed_b = b.clone();
    changed_b.attributes.insert("title".into(), "x".into());
    let pushed = pushed(&[&b, &c, &d]);
    let gone = [("4".to_owned(), Removal::HardDeleted)]
        .into_iter()
        .collect();
    let plan = plan(
        outcome(vec![changed_b, a]),
        &pushed,
        &gone,
        &policy(WhenLeaving::Deactivate),
    );
    assert_eq!(
        words(&plan),
        ["create al", "update Bo", "deactivate cy", "delete di"]
    );
}
