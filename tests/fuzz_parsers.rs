//! Fuzzing of the three parsers that read what others wrote: the config loader
//! (`config::parse`), the attribute-expression parser (`Expr::parse`) and the Graph page parser
//! (`source::parse_graph_page`). Each gets arbitrary text or bytes and structured near-valid
//! mutations of a good input; the properties are the same everywhere: no panic, and a refusal
//! is one line (what an operator reads in the journal).
//!
//! Bounded for CI: about `DEFAULT_CASES` cases per property, a few seconds in a debug build.
//! `ENTRASYNC_FUZZ_CASES=100000 cargo test --release --test fuzz_parsers` runs longer. A crash
//! found here is fixed in the module that owns it and gets its own named regression test.

use std::path::Path;

use entrasync::config;
use entrasync::rules::expr::Expr;
use entrasync::source::{GraphPageKind, parse_graph_page};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};

const DEFAULT_CASES: u32 = 256;

/// The case count: `ENTRASYNC_FUZZ_CASES`, else `DEFAULT_CASES` scaled by `weight` (cheap
/// properties run more cases).
fn cases(weight: u32) -> ProptestConfig {
    let cases = std::env::var("ENTRASYNC_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES * weight);
    ProptestConfig {
        cases,
        // A failure is turned into a named regression test by hand, not a file in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Asserts that a refusal is one non-empty line.
fn one_line(what: &str, input: &dyn std::fmt::Debug, message: &str) {
    assert!(
        !message.trim().is_empty(),
        "{what}: an empty message for {input:?}"
    );
    assert!(
        !message.contains(['\n', '\r']),
        "{what}: a message of several lines for {input:?}: {message}"
    );
}

// ---------------------------------------------------------------------------------------------
// The config loader

/// A config that loads (its secret comes from a variable every case sets to the same value).
const GOOD_CONFIG: &str = r#"state_dir = "state"
schedule = "40m"
default_permission = "Reader"

[source]
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret_env = "ENTRASYNC_FUZZ_SECRET"
graph_url = "http://127.0.0.1:9"
groups = ["Stratsys Full Users", "Stratsys Readers"]
members = "direct"
request_timeout = "30s"

[filter]
user_types = ["Member"]
domains = ["contoso.com"]

[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users", "Strategy Team"]
priority = 1
fallback_department = "Unassigned"

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers"]
priority = 2

[[departments]]
name = "Sales"
aliases = ["Sales EMEA", "Sales NA"]

[[departments]]
name = "Unassigned"

[attributes]
userName = "lower([userPrincipalName])"
externalId = "append(\"sso:\", [objectId])"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" = "trim(split([department], \">\", -1))"

[deprovision]
when = "deactivate"
max_deprovisions = 20

[target]
kind = "file"
path = "users.json"

[http]
listen = "127.0.0.1:9464"
"#;

const SECRET: &str = "fuzz-secret-value-7f3a";

fn parse_config(text: &str) -> Result<config::Config, config::ConfigError> {
    // SAFETY of set_var: every test of this file sets this variable to the same value.
    unsafe { std::env::set_var("ENTRASYNC_FUZZ_SECRET", SECRET) };
    config::parse(text, Path::new("/etc/entrasync/fuzz.toml"))
}

/// The config properties: no panic; a refusal is one line naming the file, and shows no
/// secret.
fn check_config(text: &str) {
    if let Err(err) = parse_config(text) {
        let message = err.to_string();
        one_line("config", &text, &message);
        assert!(
            message.starts_with("/etc/entrasync/fuzz.toml"),
            "names the file: {message}"
        );
        assert!(!message.contains(SECRET), "shows the secret: {message}");
    }
}

/// Values that TOML accepts in many places, and some it does not.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"\\n\\t\\u0000\"".to_owned()),
        Just("\"none\"".to_owned()),
        Just("[[[[[[[[[[1]]]]]]]]]]".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        ".{0,24}".prop_map(|s| format!("{s:?}")),
        ".{0,12}",
        prop::collection::vec(".{0,8}", 0..4).prop_map(|v| format!("{v:?}")),
    ]
}

/// One edit of a line-structured text.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    /// Replace the value after `=` on the line.
    Value(usize, String),
    /// Insert text at a byte position (moved to a char boundary).
    Insert(usize, String),
    Truncate(usize),
    /// Swap two lines.
    Swap(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        at.prop_map(Edit::Delete),
        at.prop_map(Edit::Duplicate),
        (at, toml_value()).prop_map(|(i, v)| Edit::Value(i, v)),
        (
            at,
            prop_oneof![
                ".{0,6}",
                Just("\n".to_owned()),
                Just("[".to_owned()),
                Just("\"".to_owned()),
                Just("=".to_owned()),
                Just("[source]\n".to_owned()),
                Just("[[departments]]\n".to_owned()),
                Just("\u{feff}".to_owned()),
                Just("\u{0}".to_owned()),
            ]
        )
            .prop_map(|(i, t)| Edit::Insert(i, t)),
        at.prop_map(Edit::Truncate),
        (at, at).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines.len().max(1);
    match edit {
        Edit::Delete(i) if !lines.is_empty() => {
            lines.remove(i % n);
        }
        Edit::Duplicate(i) if !lines.is_empty() => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Edit::Value(i, value) if !lines.is_empty() => {
            let line = &mut lines[i % n];
            if let Some((key, _)) = line.split_once('=') {
                *line = format!("{key}= {value}");
            }
        }
        Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
        Edit::Insert(at, inserted) => {
            let mut text = lines.join("\n");
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, inserted);
            return text;
        }
        Edit::Truncate(at) => {
            let text = lines.join("\n");
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            return text[..at].to_owned();
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

#[test]
fn the_good_config_loads() {
    let config = parse_config(GOOD_CONFIG).expect("the base of the mutations is valid");
    assert_eq!(config.rules.permission_groups.len(), 2);
}

proptest! {
    #![proptest_config(cases(4))]

    #[test]
    fn config_arbitrary_text_never_panics(text in ".{0,200}") {
        check_config(&text);
    }

    #[test]
    fn config_toml_shaped_soup_never_panics(
        pieces in prop::collection::vec(prop::sample::select(CONFIG_PIECES), 0..40)
    ) {
        check_config(&pieces.concat());
    }

    #[test]
    fn config_near_valid_mutations_never_panic(edits in prop::collection::vec(edit(), 1..4)) {
        let text = edits.iter().fold(GOOD_CONFIG.to_owned(), |text, e| apply(&text, e));
        check_config(&text);
    }
}

const CONFIG_PIECES: &[&str] = &[
    "[source]\n",
    "[[permission_groups]]\n",
    "[[departments]]\n",
    "[attributes]\n",
    "[target]\n",
    "[http]\n",
    "[filter]\n",
    "[deprovision]\n",
    "tenant_id = \"t\"\n",
    "client_id = \"c\"\n",
    "client_secret_env = \"ENTRASYNC_FUZZ_SECRET\"\n",
    "client_secret = \"fuzz-secret-value-7f3a\"\n",
    "token = \"fuzz-secret-value-7f3a\"\n",
    "client_secret = 1\n",
    "token = 1.5\n",
    "groups = [\"A\", \"a\"]\n",
    "name = \"N\"\n",
    "aliases = [\"A\"]\n",
    "aliases = []\n",
    "priority = 0\n",
    "priority = 1\n",
    "priority = -9223372036854775808\n",
    "fallback_department = \"X\"\n",
    "default_permission = \"\"\n",
    "userName = \"lower([mail]\"\n",
    "\"a\\nb\" = \"none\"\n",
    "kind = \"scim\"\n",
    "kind = \"file\"\n",
    "url = \"http://example.com\"\n",
    "path = \"\"\n",
    "listen = \"[::1]:0\"\n",
    "schedule = \"0 61 * * * *\"\n",
    "schedule = \"1ms\"\n",
    "max_deprovisions = 18446744073709551615\n",
    "when = \"keep\"\n",
    "state_dir = \"\"\n",
    "x = {a = {b = [1, {c = 2}]}}\n",
    "= 1\n",
    "\"\"\"\n",
    "'''\n",
    "#",
    "é",
    "\u{0}",
    "\r\n",
    " ",
];

// ---------------------------------------------------------------------------------------------
// The expression parser

fn properties() -> Vec<&'static str> {
    config::EXPRESSION_PROPERTIES.to_vec()
}

/// The expression properties: no panic; a refusal is one line within the text; what parses
/// evaluates without panic over users with and without values.
fn check_expression(text: &str) {
    match Expr::parse(text, &properties()) {
        Ok(expr) => {
            let _ = expr.eval(&|name| Some(format!("{name} > a|b\n")));
            let _ = expr.eval(&|_| None);
            let _ = expr.eval(&|_| Some(String::new()));
        }
        Err(err) => {
            one_line("expression", &text, &err.to_string());
            assert!(
                err.column >= 1 && err.column <= text.chars().count() + 1,
                "column {} outside {text:?}",
                err.column
            );
        }
    }
}

/// A valid expression, printed: properties, strings with every escape, and calls of every
/// function with the right number of arguments.
fn valid_expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(config::EXPRESSION_PROPERTIES.to_vec()).prop_map(|p| format!("[{p}]")),
        ".{0,8}".prop_map(|s| quote(&s, '"')),
        ".{0,8}".prop_map(|s| quote(&s, '\'')),
    ];
    leaf.prop_recursive(6, 40, 4, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec!["lower", "ToLower", "upper", "trim"]),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|args| format!("append({})", args.join(", "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|args| format!("Coalesce({})", args.join(","))),
            (inner.clone(), inner.clone(), any::<i32>())
                .prop_map(|(a, b, i)| format!("split({a}, {b}, {i})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("replace({a},{b},{c})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("default( {a} , {b} )")),
        ]
    })
}

/// A string literal of `text` in `quote`, with the escapes the language has.
fn quote(text: &str, quote: char) -> String {
    let mut out = String::from(quote);
    for c in text.chars() {
        if c == '\\' || c == quote {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(quote);
    out
}

proptest! {
    #![proptest_config(cases(8))]

    #[test]
    fn expression_arbitrary_text_never_panics(text in "\\PC{0,80}|.{0,80}") {
        check_expression(&text);
    }

    #[test]
    fn expression_grammar_soup_never_panics(
        text in "[\\[\\]()\",'\\\\ a-zA-Z0-9_.\\-\n\t\u{0}é>]{0,80}"
    ) {
        check_expression(&text);
    }

    #[test]
    fn valid_expressions_parse(text in valid_expression()) {
        let parsed = Expr::parse(&text, &properties());
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.err());
        check_expression(&text);
    }

    #[test]
    fn near_valid_expressions_never_panic(
        text in valid_expression(),
        at in any::<usize>(),
        cut in any::<bool>(),
        inserted in prop_oneof![".{0,3}", Just(")".to_owned()), Just("(".to_owned()),
            Just(",".to_owned()), Just("[".to_owned()), Just("\\".to_owned()), Just("\"".to_owned())],
    ) {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mutated = if cut {
            text[..at].to_owned()
        } else {
            format!("{}{inserted}{}", &text[..at], &text[at..])
        };
        check_expression(&mutated);
    }
}

// ---------------------------------------------------------------------------------------------
// The Graph page parser

const KINDS: [GraphPageKind; 4] = [
    GraphPageKind::UsersDelta,
    GraphPageKind::GroupsDelta,
    GraphPageKind::Members,
    GraphPageKind::GroupsList,
];

/// Where the round being read started: a next or delta link must stay there.
const GRAPH: &str = "https://graph.microsoft.com/v1.0/users/delta?$select=id";

/// The page properties: no panic, for every kind of page; a refusal is one line of bounded
/// length (a body can be megabytes; the message must not carry it).
fn check_page(body: &[u8]) {
    for kind in KINDS {
        if let Err(message) = parse_graph_page(kind, body, GRAPH) {
            one_line("page", &String::from_utf8_lossy(body), &message);
            assert!(
                message.chars().count() <= 400,
                "a message of {} characters",
                message.chars().count()
            );
        }
    }
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(PAGE_KEYS), inner, 0..6).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

const PAGE_KEYS: &[&str] = &[
    "value",
    "id",
    "@odata.nextLink",
    "@odata.deltaLink",
    "@removed",
    "reason",
    "members@delta",
    "@odata.type",
    "displayName",
    "userPrincipalName",
    "accountEnabled",
    "department",
    "error",
    "code",
    "innerError",
];

/// A well-formed page of `kind` (entries and links), as JSON.
fn good_page() -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/users/delta?$skiptoken=abc",
        "value": [
            {"id": "1", "userPrincipalName": "a@contoso.com", "accountEnabled": true,
             "department": "Sales", "displayName": "A",
             "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u1"}]},
            {"id": "2", "@removed": {"reason": "deleted"}},
        ]
    })
}

/// Replaces the value at a path of keys and indexes (chosen by `picks`) with `with`.
fn mutate(value: &mut Value, picks: &[usize], with: Value) {
    let Some((&pick, rest)) = picks.split_first() else {
        *value = with;
        return;
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(pick % map.len())
                .cloned()
                .unwrap_or_default();
            if rest.is_empty() && pick % 3 == 0 {
                map.remove(&key);
            } else if let Some(child) = map.get_mut(&key) {
                mutate(child, rest, with);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let n = items.len();
            mutate(&mut items[pick % n], rest, with);
        }
        _ => *value = with,
    }
}

proptest! {
    #![proptest_config(cases(4))]

    #[test]
    fn page_arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        check_page(&body);
    }

    #[test]
    fn page_arbitrary_json_never_panics(value in json_value()) {
        check_page(value.to_string().as_bytes());
    }

    #[test]
    fn page_near_valid_mutations_never_panic(
        picks in prop::collection::vec(any::<usize>(), 0..4),
        with in json_value(),
        truncate in prop::option::of(any::<usize>()),
    ) {
        let mut page = good_page();
        mutate(&mut page, &picks, with);
        let mut body = page.to_string().into_bytes();
        if let Some(at) = truncate {
            body.truncate(at % (body.len() + 1));
        }
        check_page(&body);
    }

    #[test]
    fn page_links_anywhere_never_panic(
        link in prop_oneof![
            ".{0,40}",
            "(https?|ftp|file)://[a-z0-9.:@\\[\\]%-]{0,20}/[ -~]{0,20}",
            Just("https://graph.microsoft.com:443/v1.0/users/delta".to_owned()),
            Just("https://graph.microsoft.com.evil.example/v1.0/users/delta".to_owned()),
            Just("//evil.example/v1.0".to_owned()),
        ],
        delta in any::<bool>(),
    ) {
        let key = if delta { "@odata.deltaLink" } else { "@odata.nextLink" };
        let body = json!({ key: link, "value": [] }).to_string();
        check_page(body.as_bytes());
    }
}

/// Nesting far deeper than any page, in every place a page can hold it: refused or ignored,
/// never a stack overflow (which would abort the process, not panic).
#[test]
fn deeply_nested_pages_do_not_overflow_the_stack() {
    let deep =
        |open: &str, close: &str| format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
    let bodies = [
        format!(r#"{{"@odata.context": {}, "value": []}}"#, deep("[", "]")),
        format!(
            r#"{{"value": [{{"id": "1", "x": {}}}]}}"#,
            deep("{\"a\":", "}")
        ),
        format!(
            r#"{{"error": {{"innerError": {}}}}}"#,
            deep("{\"innerError\":", "}")
        ),
        deep("[", "]"),
    ];
    for body in bodies {
        check_page(body.as_bytes());
    }
}
