//! Table-driven tests of evaluation (`rules/expr`): every function with its null rules,
//! nesting, case-insensitivity, `properties()` and `source()`.
//!
//! `rules/` turns the source snapshot into desired target users; these tests pin down what
//! each `[attributes]` expression computes for one user.

use super::Expr;

/// The property names these tests declare, in Graph casing.
pub(super) const KNOWN: &[&str] = &[
    "accountEnabled",
    "companyName",
    "department",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "objectId",
    "surname",
    "userPrincipalName",
];

/// Evaluates `text` for a user with `props` (name in known casing, value); a property not
/// listed is null. Panics (test only) if `text` does not parse.
pub(super) fn eval_with(text: &str, props: User<'_>) -> Option<String> {
    let expr = match Expr::parse(text, KNOWN) {
        Ok(expr) => expr,
        Err(e) => panic!("{text:?} did not parse: {e}"),
    };
    let get = |name: &str| {
        assert!(
            KNOWN.contains(&name),
            "get called with unknown casing {name:?}"
        );
        props
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    expr.eval(&get)
}

/// A user: (property in known casing, value) pairs; unlisted properties are null.
pub(super) type User<'a> = &'a [(&'a str, &'a str)];

/// Checks each (expression, user, expected value).
pub(super) fn check(cases: &[(&str, User<'_>, Option<&str>)]) {
    for &(text, props, want) in cases {
        assert_eq!(
            eval_with(text, props).as_deref(),
            want,
            "{text} with {props:?}"
        );
    }
}

const NONE: &[(&str, &str)] = &[];

#[test]
fn literals_and_properties() {
    check(&[
        (r#""Employee""#, NONE, Some("Employee")),
        (r#""""#, NONE, Some("")),
        (r#"'single'"#, NONE, Some("single")),
        (r#""say \"hi\" \\ \'""#, NONE, Some(r#"say "hi" \ '"#)),
        (r#"'it\'s "fine"'"#, NONE, Some(r#"it's "fine""#)),
        ("[mail]", &[("mail", "a@b.c")], Some("a@b.c")),
        ("[mail]", NONE, None),
        (
            "[accountEnabled]",
            &[("accountEnabled", "true")],
            Some("true"),
        ),
        ("  [ mail ]  ", &[("mail", "x")], Some("x")),
    ]);
}

#[test]
fn lower_upper_trim() {
    check(&[
        (
            "lower([mail])",
            &[("mail", "Ann.Lee@Contoso.COM")],
            Some("ann.lee@contoso.com"),
        ),
        ("lower([mail])", NONE, None),
        ("upper([givenName])", &[("givenName", "Åsa")], Some("ÅSA")),
        ("upper([givenName])", NONE, None),
        ("lower('ÄÖÜ')", NONE, Some("äöü")),
        (
            "trim([department])",
            &[("department", "  Sales \t")],
            Some("Sales"),
        ),
        ("trim([department])", &[("department", "   ")], Some("")),
        ("trim([department])", NONE, None),
        // Entra spellings, with the ignored culture argument.
        ("ToLower([mail])", &[("mail", "A@B")], Some("a@b")),
        (
            r#"ToLower([mail], "en-US")"#,
            &[("mail", "A@B")],
            Some("a@b"),
        ),
        (
            r#"ToUpper([mail], "tr-TR")"#,
            &[("mail", "a@b")],
            Some("A@B"),
        ),
        ("ToLowercase([mail])", &[("mail", "A@B")], Some("a@b")),
        ("ToUppercase([mail])", &[("mail", "a@b")], Some("A@B")),
    ]);
}

#[test]
fn append_and_concat() {
    check(&[
        (r#"append("a", "b")"#, NONE, Some("ab")),
        (r#"append("a", "b", "c", "d")"#, NONE, Some("abcd")),
        (
            r#"concat([givenName], " ", [surname])"#,
            &[("givenName", "Ann"), ("surname", "Lee")],
            Some("Ann Lee"),
        ),
        // A null argument counts as empty ...
        (r#"append("x:", [objectId])"#, NONE, Some("x:")),
        (
            r#"append([givenName], [surname])"#,
            &[("surname", "Lee")],
            Some("Lee"),
        ),
        // ... unless all are null.
        ("append([givenName], [surname])", NONE, None),
        (r#"append([givenName], "")"#, NONE, Some("")),
        ("Concat([mail], [mail])", &[("mail", "m")], Some("mm")),
    ]);
}

#[test]
fn coalesce() {
    let both: &[(&str, &str)] = &[("mail", "m@x"), ("userPrincipalName", "u@x")];
    check(&[
        ("coalesce([mail], [userPrincipalName])", both, Some("m@x")),
        (
            "coalesce([mail], [userPrincipalName])",
            &[("userPrincipalName", "u@x")],
            Some("u@x"),
        ),
        // Empty is skipped like null.
        (
            "coalesce([mail], [userPrincipalName])",
            &[("mail", ""), ("userPrincipalName", "u@x")],
            Some("u@x"),
        ),
        ("coalesce([mail], [userPrincipalName])", NONE, None),
        (r#"coalesce([mail], "", [jobTitle])"#, &[("mail", "")], None),
        (
            r#"Coalesce([mail], "none@example.com")"#,
            NONE,
            Some("none@example.com"),
        ),
    ]);
}

#[test]
fn split() {
    let d: &[(&str, &str)] = &[("department", "A>B>C")];
    check(&[
        (r#"split([department], ">", 0)"#, d, Some("A")),
        (r#"split([department], ">", 1)"#, d, Some("B")),
        (r#"split([department], ">", 2)"#, d, Some("C")),
        (r#"split([department], ">", 3)"#, d, None),
        (r#"split([department], ">", -1)"#, d, Some("C")),
        (r#"split([department], ">", -3)"#, d, Some("A")),
        (r#"split([department], ">", -4)"#, d, None),
        (r#"split([department], ">", 0)"#, NONE, None),
        (r#"split([department], "|", 0)"#, d, Some("A>B>C")),
        (r#"split([department], "", 0)"#, d, Some("A>B>C")),
        (r#"split([department], [jobTitle], -1)"#, d, Some("A>B>C")),
        (r#"split([department], [jobTitle], 1)"#, d, None),
        (
            r#"split([mail], "@", 1)"#,
            &[("mail", "ann@contoso.com")],
            Some("contoso.com"),
        ),
        (
            r#"split([department], ">", 1)"#,
            &[("department", "A>>C")],
            Some(""),
        ),
    ]);
}

#[test]
fn replace() {
    let m: &[(&str, &str)] = &[("mail", "ann@old.example, bob@old.example")];
    check(&[
        (
            r#"replace([mail], "old", "new")"#,
            m,
            Some("ann@new.example, bob@new.example"),
        ),
        (
            r#"replace([mail], "@old.example", "")"#,
            m,
            Some("ann, bob"),
        ),
        (
            r#"replace([mail], "@old.example", [jobTitle])"#,
            m,
            Some("ann, bob"),
        ),
        (
            r#"replace([mail], "absent", "x")"#,
            m,
            Some("ann@old.example, bob@old.example"),
        ),
        (r#"replace([mail], "", "x")"#, &[("mail", "ab")], Some("ab")),
        (
            r#"replace([mail], [jobTitle], "x")"#,
            &[("mail", "ab")],
            Some("ab"),
        ),
        (r#"replace([mail], "a", "b")"#, NONE, None),
        // Plain text, not a pattern.
        (
            r#"replace([mail], ".", "_")"#,
            &[("mail", "a.b.c")],
            Some("a_b_c"),
        ),
        (
            r#"replace([mail], "*", "")"#,
            &[("mail", "a*b")],
            Some("ab"),
        ),
    ]);
}

#[test]
fn default() {
    check(&[
        (
            r#"default([jobTitle], "Employee")"#,
            &[("jobTitle", "Engineer")],
            Some("Engineer"),
        ),
        (r#"default([jobTitle], "Employee")"#, NONE, Some("Employee")),
        (
            r#"default([jobTitle], "Employee")"#,
            &[("jobTitle", "")],
            Some("Employee"),
        ),
        (
            r#"default([jobTitle], "Employee")"#,
            &[("jobTitle", " ")],
            Some(" "),
        ),
        ("default([jobTitle], [department])", NONE, None),
        (
            "default([jobTitle], [department])",
            &[("department", "Ops")],
            Some("Ops"),
        ),
    ]);
}

#[test]
fn nesting() {
    let user: &[(&str, &str)] = &[
        ("givenName", " Ann "),
        ("surname", "Lee"),
        ("department", "Contoso > Sales > EMEA"),
    ];
    check(&[
        (
            r#"lower(append(trim([givenName]), ".", [surname], "@contoso.com"))"#,
            user,
            Some("ann.lee@contoso.com"),
        ),
        (
            r#"upper(trim(split([department], ">", 1)))"#,
            user,
            Some("SALES"),
        ),
        (
            r#"default(trim(split([department], ">", 5)), "Unknown")"#,
            user,
            Some("Unknown"),
        ),
        (
            r#"coalesce(split([mail], "@", 0), lower([surname]))"#,
            user,
            Some("lee"),
        ),
        (
            r#"replace(lower(split([department], " > ", -1)), "emea", "Europe")"#,
            user,
            Some("Europe"),
        ),
    ]);
}

#[test]
fn case_insensitive_names() {
    let user: &[(&str, &str)] = &[("userPrincipalName", "Ann@X"), ("department", "a|b")];
    check(&[
        ("LOWER([USERPRINCIPALNAME])", user, Some("ann@x")),
        ("Lower([userprincipalname])", user, Some("ann@x")),
        ("tolower([UserPrincipalName])", user, Some("ann@x")),
        (r#"SPLIT([Department], "|", -1)"#, user, Some("b")),
        (r#"DeFaUlT([JOBTITLE], "x")"#, user, Some("x")),
    ]);
}

#[test]
fn properties_and_source() {
    let text = r#"append([Surname], lower([MAIL]), [surname], coalesce([mail], [department]))"#;
    let expr = Expr::parse(text, KNOWN).ok();
    let expr = expr.as_ref();
    assert_eq!(expr.map(Expr::source), Some(text));
    assert_eq!(
        expr.map(Expr::properties),
        Some(vec!["department", "mail", "surname"])
    );
    let constant = Expr::parse(r#""Employee""#, KNOWN).ok();
    assert_eq!(constant.as_ref().map(Expr::properties), Some(vec![]));
    // The ignored culture argument is not read.
    let culture = Expr::parse("ToLower([mail], [department])", KNOWN).ok();
    assert_eq!(culture.as_ref().map(Expr::properties), Some(vec!["mail"]));
}

#[test]
fn parsed_expressions_compare_and_clone() {
    let a = Expr::parse("lower([mail])", KNOWN);
    let b = Expr::parse("lower([mail])", KNOWN);
    assert_eq!(a, b);
    assert_eq!(a.clone(), a);
    assert_ne!(a, Expr::parse("LOWER([mail])", KNOWN));
}
