//! The outcome must not depend on the order of users, groups or members in the input, nor on the
//! order in which the configuration lists permission groups and departments: Graph guarantees no
//! order, and a user must never flip between primary permissions from one cycle to the next.

use proptest::prelude::*;

use super::*;

const DEPARTMENTS: [&str; 4] = ["Sales EMEA", "Sales NA", "Finance", "Unknown"];

fn rules(reversed: bool) -> RulesConfig {
    let mut groups = [
        "[[permission_groups]]\nname = \"Full\"\naliases = [\"G0\", \"G3\"]\npriority = 1\nfallback_department = \"Office\"\n",
        "[[permission_groups]]\nname = \"Reporter\"\naliases = [\"G1\"]\npriority = 2\n",
        "[[permission_groups]]\nname = \"Reader\"\naliases = [\"G2\"]\npriority = 3\nfallback_department = \"Office\"\n",
    ];
    let mut departments = [
        "[[departments]]\nname = \"Sales\"\naliases = [\"Sales EMEA\", \"Sales NA\"]\n",
        "[[departments]]\nname = \"Finance\"\n",
        "[[departments]]\nname = \"Office\"\n",
    ];
    if reversed {
        groups.reverse();
        departments.reverse();
    }
    config(&["G4"], &(groups.concat() + &departments.concat()))
}

/// A tenant from (user → department index) and (user, group) memberships, with each group's
/// members in the order given.
fn tenant(departments: &[usize], memberships: &[(usize, usize)], reorder: bool) -> Tenant {
    let mut t = Tenant::new();
    let users: Vec<usize> = if reorder {
        (0..departments.len()).rev().collect()
    } else {
        (0..departments.len()).collect()
    };
    for u in users {
        t = t.user(
            &format!("u{u}"),
            Some(DEPARTMENTS[departments[u] % DEPARTMENTS.len()]),
        );
    }
    for g in 0..5 {
        let mut members: Vec<String> = memberships
            .iter()
            .filter(|(_, group)| group % 5 == g)
            .map(|(user, _)| format!("u{}", user % departments.len()))
            .collect();
        if reorder {
            members.reverse();
            let half = members.len() / 2;
            members.rotate_left(half);
        }
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        t = t.group(&format!("G{g}"), &refs);
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_outcome_does_not_depend_on_input_order(
        departments in proptest::collection::vec(0usize..4, 1..40),
        memberships in proptest::collection::vec((0usize..40, 0usize..5), 0..120),
    ) {
        let forward = tenant(&departments, &memberships, false).evaluate(&rules(false));
        let backward = tenant(&departments, &memberships, true).evaluate(&rules(true));
        prop_assert_eq!(&forward, &backward);
        // And the priorities hold: nobody in G0 has anything but Full as primary.
        for (id, user) in &forward.desired {
            let in_g0 = memberships.iter().any(|(u, g)| g % 5 == 0 && format!("u{}", u % departments.len()) == *id);
            if in_g0 {
                prop_assert_eq!(user.primary_permission(), Some("Full"));
            }
        }
    }
}
