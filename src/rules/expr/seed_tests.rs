//! The seed recipes as tests (`rules/expr`): Stacksync's lower-cased mail, SignPath's
//! `Append("<sso-identifier>:", [objectId])` and Secure Practice's department path split
//! into organization / division / department.
//!
//! `rules/` turns the source snapshot into desired target users; these are the vendor
//! set-ups of `/work/shared/seeds/` written as `[attributes]` expressions, as documented in
//! `docs/attribute-expressions.md`.

use super::eval_tests::{check, eval_with};
#[test]
fn seed_stacksync_lowercased_mail() {
    check(&[(
        "ToLower([mail])",
        &[("mail", "Jane.Doe@Contoso.com")],
        Some("jane.doe@contoso.com"),
    )]);
}

#[test]
fn seed_signpath_external_id() {
    let id = "6e7b768e-07e2-4810-8459-485f84f8f204";
    let want = format!("contoso-sso:{id}");
    check(&[
        (
            r#"Append("contoso-sso:", [objectId])"#,
            &[("objectId", id)],
            Some(&want),
        ),
        (
            r#"append("contoso-sso:", [objectId])"#,
            &[("objectId", id)],
            Some(&want),
        ),
    ]);
}

#[test]
fn seed_securepractice_department_path() {
    let levels = [
        r#"trim(split([department], SEP, 0))"#,
        r#"trim(split([department], SEP, 1))"#,
        r#"trim(split([department], SEP, 2))"#,
    ];
    let paths: &[(&str, &str, [Option<&str>; 3])] = &[
        (
            "Contoso > Sales > EMEA",
            "\">\"",
            [Some("Contoso"), Some("Sales"), Some("EMEA")],
        ),
        (
            "Contoso|Sales|EMEA",
            "'|'",
            [Some("Contoso"), Some("Sales"), Some("EMEA")],
        ),
        (
            " Contoso | Sales | EMEA ",
            "\"|\"",
            [Some("Contoso"), Some("Sales"), Some("EMEA")],
        ),
        // Fewer levels: the missing one is null, so it is not sent.
        (
            "Contoso > Sales",
            "\">\"",
            [Some("Contoso"), Some("Sales"), None],
        ),
        ("Contoso", "\">\"", [Some("Contoso"), None, None]),
    ];
    for (path, sep, want) in paths {
        for (level, want) in levels.iter().zip(want) {
            let text = level.replace("SEP", sep);
            let got = eval_with(&text, &[("department", path)]);
            assert_eq!(got.as_deref(), *want, "{text} on {path:?}");
        }
    }
    // The last level, whatever the depth.
    let last = r#"trim(split([department], ">", -1))"#;
    check(&[
        (
            last,
            &[("department", "Contoso > Sales > EMEA")],
            Some("EMEA"),
        ),
        (last, &[("department", "Sales")], Some("Sales")),
    ]);
}
