//! Table-driven tests of parsing (`rules/expr`): every error with its column and message,
//! and the property that no input, however broken, makes the parser or evaluator panic.
//!
//! `rules/` turns the source snapshot into desired target users; these errors are what an
//! operator sees at config load for a bad `[attributes]` entry.

use super::eval_tests::KNOWN;
use super::{Expr, ExprError};
use proptest::prelude::*;

const EXPECTED_EXPR: &str =
    "expected an expression (a [property], a \"string\" or a function call)";

fn error(text: &str) -> Option<ExprError> {
    Expr::parse(text, KNOWN).err()
}

#[test]
fn error_table() {
    let deep = format!("{}[mail]{}", "lower(".repeat(33), ")".repeat(33));
    let cases: Vec<(&str, usize, String)> = vec![
        // Unterminated things point at where they start.
        (r#"lower("abc"#, 7, "unterminated string: expected a closing `\"`".into()),
        ("lower('abc", 7, "unterminated string: expected a closing `'`".into()),
        (r#""abc\"#, 1, "unterminated string: expected a closing `\"`".into()),
        ("lower([mail", 7, "unterminated property reference: expected `]` after the name".into()),
        ("[ ]", 1, "expected a property name between `[` and `]`".into()),
        (r#""a\nb""#, 3, "unknown escape `\\n` in a string; the escapes are `\\\"`, `\\'` and `\\\\` (write `\\\\` for a backslash)".into()),
        // Missing parentheses.
        ("lower([mail]", 13, "expected `,` or `)` after argument 1 of lower, found end of input".into()),
        (r#"split([department], ">", 0"#, 27, "expected `)` after the arguments of split, found end of input".into()),
        (r#"split([department], ">", 0 [mail])"#, 28, "expected `)` after the arguments of split, found [mail]".into()),
        (r#"append("a" "b")"#, 12, "expected `,` or `)` after argument 1 of append, found a string".into()),
        ("lower [mail]", 1, "expected `(` after `lower`; a bare word is not an expression: write a [property], a \"string\" or a function call such as lower(...)".into()),
        // Trailing garbage.
        ("lower([mail]) x", 15, "expected the end of the expression, found `x` (to join values use append(a, b))".into()),
        ("lower([mail]))", 14, "expected the end of the expression, found `)`".into()),
        (r#"[mail] "x""#, 8, "expected the end of the expression, found a string (to join values use append(a, b))".into()),
        (r#"lower([mail]) + "x""#, 15, "unexpected `+`; there are no operators: to join values use append(a, b)".into()),
        ("[mail] & [surname]", 8, "unexpected `&`; there are no operators: to join values use append(a, b)".into()),
        ("lower(@)", 7, "unexpected character `@`; expected a [property], a \"string\", a function name, an integer, `(`, `,` or `)`".into()),
        // Nothing where an expression belongs.
        ("", 1, format!("{EXPECTED_EXPR}, found end of input")),
        ("   ", 4, format!("{EXPECTED_EXPR}, found end of input")),
        ("append([mail],)", 15, format!("{EXPECTED_EXPR}, found `)`")),
        ("lower(,[mail])", 7, format!("{EXPECTED_EXPR}, found `,`")),
        (")", 1, format!("{EXPECTED_EXPR}, found `)`")),
        // Bare words (including `none`, which only the config layer understands).
        ("none", 1, "expected `(` after `none`; a bare word is not an expression: write a [property], a \"string\" or a function call such as lower(...)".into()),
        ("mail", 1, "expected `(` after `mail`; write [mail] for the property or \"mail\" for the text".into()),
        // Wrong arity, named as written.
        (r#"split([department], ">")"#, 1, "split takes 3 arguments (value, separator, index), got 2".into()),
        (r#"Split([department], ">", 0, 1)"#, 1, "Split takes 3 arguments (value, separator, index), got 4".into()),
        ("lower()", 1, "lower takes 1 argument (value), or 2 (value, culture; the culture is ignored), got 0".into()),
        (r#"ToUpper([mail], "en", "x")"#, 1, "ToUpper takes 1 argument (value), or 2 (value, culture; the culture is ignored), got 3".into()),
        ("trim([mail], [mail])", 1, "trim takes 1 argument (value), got 2".into()),
        ("append([mail])", 1, "append takes at least 2 arguments (a, b, ...), got 1".into()),
        ("coalesce([mail])", 1, "coalesce takes at least 2 arguments (a, b, ...), got 1".into()),
        (r#"replace([mail], "a")"#, 1, "replace takes 3 arguments (value, find, with), got 2".into()),
        ("default([mail])", 1, "default takes 2 arguments (value, fallback), got 1".into()),
        (r#"trim(default([jobTitle]))"#, 6, "default takes 2 arguments (value, fallback), got 1".into()),
        // Unknown functions, with a suggestion when one is close.
        ("lowr([mail])", 1, "unknown function `lowr`; did you mean `lower`?".into()),
        ("trim(uper([mail]))", 6, "unknown function `uper`; did you mean `upper`?".into()),
        ("ToLowr([mail])", 1, "unknown function `ToLowr`; did you mean `ToLower`?".into()),
        ("frobnicate([mail])", 1, "unknown function `frobnicate`; the functions are append (or concat), coalesce, default, lower (or ToLower), replace, split, trim, upper (or ToUpper)".into()),
        // Unknown properties, with a suggestion when one is close.
        ("lower([departmnet])", 7, "unknown property [departmnet]; did you mean [department]?".into()),
        ("[userPrincipleName]", 1, "unknown property [userPrincipleName]; did you mean [userPrincipalName]?".into()),
        ("[zzz]", 1, format!("unknown property [zzz]; expected one of {}", KNOWN.iter().map(|k| format!("[{k}]")).collect::<Vec<_>>().join(", "))),
        // The index of split.
        (r#"split([department], ">", "0")"#, 26, "the index of split must be an integer literal such as 0 or -1, found a string".into()),
        (r#"split([department], ">", [mail])"#, 26, "the index of split must be an integer literal such as 0 or -1, found [mail]".into()),
        (r#"split([department], ">", trim("1"))"#, 26, "the index of split must be an integer literal such as 0 or -1, found a function call".into()),
        (r#"split([department], ">", 1.5)"#, 26, "the index of split must be an integer such as 0 or -1, found `1.5`".into()),
        (r#"split([department], ">", 99999999999999999999)"#, 26, "the index of split must be an integer such as 0 or -1, found `99999999999999999999`".into()),
        (r#"append("x", 3)"#, 13, "a number is only allowed as the index of split; write \"3\" for the text 3".into()),
        ("-1", 1, "a number is only allowed as the index of split; write \"-1\" for the text -1".into()),
        ("- 1", 1, "unexpected character `-`; expected a [property], a \"string\", a function name, an integer, `(`, `,` or `)`".into()),
        // Columns count characters, not bytes.
        (r#""é€" x"#, 6, "expected the end of the expression, found `x` (to join values use append(a, b))".into()),
        // Nesting is bounded.
        (&deep, 193, "expression nested too deeply: at most 32 function calls inside one another".into()),
    ];
    for (text, column, message) in cases {
        let want = ExprError { column, message };
        assert_eq!(error(text).as_ref(), Some(&want), "parsing {text:?}");
    }
}

#[test]
fn no_properties_known() {
    let err = Expr::parse("[mail]", &[]).err();
    let want = "unknown property [mail]; no properties are available here";
    assert_eq!(err.map(|e| e.message).as_deref(), Some(want));
}

#[test]
fn display_and_error_trait() {
    let err = error("lower([departmnet])");
    let shown = err.as_ref().map(ToString::to_string);
    assert_eq!(
        shown.as_deref(),
        Some("column 7: unknown property [departmnet]; did you mean [department]?")
    );
    let dyn_err: Option<&dyn std::error::Error> = err.as_ref().map(|e| e as _);
    assert!(dyn_err.is_some_and(|e| e.source().is_none()));
}

#[test]
fn accepted_forms() {
    let nested_ok = format!("{}[mail]{}", "lower(".repeat(32), ")".repeat(32));
    let ok = [
        "[mail]",
        "\"constant\"",
        "'constant'",
        " \t lower( [mail] ) \n",
        "LOWER([MAIL])",
        r#"split([department],">",-1)"#,
        "append([givenName], ' ', [surname], '.', [mail])",
        r#"ToLower([mail], "en-US")"#,
        nested_ok.as_str(),
    ];
    for text in ok {
        let parsed = Expr::parse(text, KNOWN);
        assert!(parsed.is_ok(), "{text:?}: {parsed:?}");
    }
}

/// Every prefix and every one-character deletion of some valid expressions: none panics.
#[test]
fn mangled_valid_expressions_never_panic() {
    let seeds = [
        r#"trim(split([department], ">", -1))"#,
        r#"append("contoso-sso:", [objectId])"#,
        r#"default(ToLower([mail], "en-US"), 'x\'y\\z')"#,
        r#"coalesce(replace([mail], "@", " at "), concat([givenName], [surname]))"#,
    ];
    for seed in seeds {
        let chars: Vec<char> = seed.chars().collect();
        for i in 0..=chars.len() {
            let prefix: String = chars.iter().take(i).collect();
            let deleted: String = chars
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, c)| c)
                .collect();
            for text in [prefix, deleted] {
                exercise(&text);
            }
        }
    }
}

/// Parses `text`; if it parses, evaluates it and checks the accessors are consistent.
fn exercise(text: &str) {
    match Expr::parse(text, KNOWN) {
        Ok(expr) => {
            assert_eq!(expr.source(), text);
            assert!(expr.properties().iter().all(|p| KNOWN.contains(p)));
            let _ = expr.eval(&|name| Some(format!("{name} > a|b ")));
            let _ = expr.eval(&|_| None);
        }
        Err(e) => {
            assert!(
                e.column >= 1 && e.column <= text.chars().count() + 1,
                "{text:?}: {e}"
            );
            assert!(!e.message.is_empty());
        }
    }
}

const PIECES: &[&str] = &[
    "lower(",
    "ToUpper(",
    "split(",
    "append(",
    "default(",
    "coalesce(",
    "replace(",
    "trim(",
    "(",
    ")",
    ",",
    " ",
    "[mail]",
    "[department]",
    "[",
    "]",
    "\"",
    "'",
    "\\",
    "\"a\"",
    "'>'",
    "0",
    "-1",
    "-",
    "1.5",
    "x",
    "é",
    "+",
    "\u{0}",
    "\n",
    "none",
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        exercise(&text);
    }

    #[test]
    fn token_soup_never_panics(pieces in prop::collection::vec(prop::sample::select(PIECES), 0..40)) {
        exercise(&pieces.concat());
    }
}

/// Found by `tests/fuzz_parsers.rs`: a property name holding a line break (or a terminal
/// escape) made a message of several lines; names are quoted as printable escapes.
#[test]
fn a_property_name_with_a_line_break_is_reported_on_one_line() {
    for text in [
        "[p\nD]",
        "lower([mail\r\nx])",
        "[\u{1b}[31m]",
        "[a\u{202e}b]",
    ] {
        let err = error(text).expect("an unknown property");
        let message = err.to_string();
        assert!(
            !message.contains(['\n', '\r', '\u{1b}', '\u{202e}']),
            "{text:?}: {message:?}"
        );
        assert!(message.contains("unknown property ["), "{message}");
    }
    let err = error("[p\nD]").expect("unknown");
    assert!(
        err.message.starts_with("unknown property [p\\nD]"),
        "{}",
        err.message
    );
}
