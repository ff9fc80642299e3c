//! A corpus of bad configurations, each run through the binary as an operator would meet it
//! (issue 6, item 4): `once` and `check` must both exit 2 with nothing on standard output and
//! exactly one line on standard error that names the file and the key (or `line:column` for
//! syntax), says what to do, shows no secret and no panic, and leaves no state directory.
//!
//! The corpus is a Rust table rather than one file per case: most cases are one edit of the
//! same valid base (the table shows the edit, and the base cannot drift from 60 copies), and
//! many must be made at run time — invalid UTF-8, 5 MB files, a symlink to `/dev/zero`, a
//! directory where a secret file should be, the URL of a closed port — which a `.toml` file
//! with a header comment cannot hold. Each row names its case, how it is made, and the words
//! the message must contain.
//!
//! The unit tables in `src/config/tests.rs` check the loader's messages one by one; this file
//! checks the whole path to the operator (exit status, streams) on a broader corpus.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_exit, closed_url, entrasync};

/// The client secret and SCIM token of the base: no message may show them.
const SECRET: &str = "hostile-client-secret-4c1e9";
const TOKEN: &str = "hostile-scim-token-b7d02";

/// A valid configuration (`{url}` is a closed port: nothing is ever reached). Each case edits
/// it; `the_base_config_is_valid` proves that every error comes from the edit.
const BASE: &str = r#"state_dir = "state"
schedule = "40m"

[source]
tenant_id = "contoso.onmicrosoft.com"
client_id = "3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10"
client_secret_file = "client-secret"
authority_url = "{url}"
graph_url = "{url}"
groups = ["Stratsys Readers"]
members = "direct"
max_retry_wait = "1s"
request_timeout = "2s"

[filter]
user_types = ["Member"]

[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users"]
priority = 1
fallback_department = "Unassigned"

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers"]
priority = 2

[[departments]]
name = "Sales"
aliases = ["Sales EMEA"]

[[departments]]
name = "Unassigned"

[attributes]
userName = "lower([userPrincipalName])"

[deprovision]
when = "deactivate"
max_deprovisions = 50

[target]
kind = "scim"
url = "https://app.example.com/scim/v2"
token_file = "scim-token"

[http]
listen = "127.0.0.1:9464"
"#;

/// How a case's configuration is made.
enum Make {
    /// The base with the first `from` replaced by `to` (`from` must occur in it).
    Replace(&'static str, &'static str),
    /// The base with this appended.
    Append(&'static str),
    /// This text alone.
    Text(&'static str),
    /// Bytes made at run time.
    Bytes(fn() -> Vec<u8>),
    /// A step in the case's folder (a file, a directory, a link) that returns the
    /// configuration's text; the folder holds the base's secret files already.
    Setup(fn(&Path) -> String),
    /// The config path itself made by a step in the folder (a link to a device).
    Path(fn(&Path) -> PathBuf),
}

struct Case {
    name: &'static str,
    make: Make,
    /// What the line must contain: the key or `:line:column`, and what to do.
    says: &'static [&'static str],
}

/// The base with `from` replaced by `to`, for run-time cases.
fn replaced(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "the base holds {from:?}");
    BASE.replacen(from, to, 1)
}

const SECRET_LINE: &str = "client_secret_file = \"client-secret\"";
const TOKEN_LINE: &str = "token_file = \"scim-token\"";

fn corpus() -> Vec<Case> {
    use Make::*;
    let case = |name, make, says| Case { name, make, says };
    vec![
        // --- TOML syntax and encoding ------------------------------------------------------
        case(
            "table header not closed",
            Replace("[target]", "[target"),
            &[":43:8:", "unclosed table", "expected `]`"],
        ),
        case(
            "key without =",
            Replace("tenant_id = ", "tenant_id "),
            &[":5:", "in [source]", "expected `=`"],
        ),
        case(
            "group names without quotes",
            Replace("[\"Stratsys Readers\"]", "[Stratsys Readers]"),
            &[":10:", "key `groups`", "string"],
        ),
        case(
            "array without a comma",
            Replace(
                "aliases = [\"Sales EMEA\"]",
                "aliases = [\"Sales EMEA\" \"Sales NA\"]",
            ),
            &[
                ":31:25:",
                "in [[departments]]",
                "key `aliases`",
                "expected `,`",
            ],
        ),
        case(
            "multi-line string never closed",
            Replace(
                "userName = \"lower([userPrincipalName])\"",
                "userName = \"\"\"lower(\n",
            ),
            &[
                ":37:12:",
                "in [attributes]",
                "key `userName`",
                "never closed",
            ],
        ),
        case(
            "NUL byte in the text",
            Replace("client_id = \"3f6e", "client_id = \"\u{0}3f6e"),
            &[":6:", "key `client_id`"],
        ),
        case(
            "binary garbage",
            Bytes(|| {
                // A fixed pseudo-random sequence: the same garbage on every run.
                let mut x: u32 = 0x9e37_79b9;
                (0..4096)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        (x >> 24) as u8 | 0x80
                    })
                    .collect()
            }),
            &[":1:1:", "is not UTF-8", "save the file as UTF-8"],
        ),
        case(
            "Latin-1 byte inside a string",
            Bytes(|| {
                replaced(
                    "\"contoso.onmicrosoft.com\"",
                    "\"contoso\u{e6}.onmicrosoft.com\"",
                )
                .replace('\u{e6}', "\u{1}")
                .into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xe6 } else { b })
                .collect()
            }),
            &[":5:21:", "0xE6 is not UTF-8"],
        ),
        case(
            "saved as UTF-16 by a Windows editor",
            Bytes(|| {
                let mut bytes = vec![0xff, 0xfe];
                for unit in BASE.encode_utf16() {
                    bytes.extend(unit.to_le_bytes());
                }
                bytes
            }),
            &[":1:1:", "0xFF is not UTF-8", "save the file as UTF-8"],
        ),
        case(
            "5 MB of comments, then an error on the last line",
            Bytes(|| {
                let mut text = BASE.replace("\n[http]", "\n# padding\n[http]");
                let comment = format!("# {}\n", "x".repeat(98));
                text.push_str(&comment.repeat(50_000));
                text.push_str("listen_too = \n");
                text.into_bytes()
            }),
            &[
                ":50051:14:",
                "in [http]",
                "key `listen_too`",
                "must be quoted",
            ],
        ),
        case(
            "a link to /dev/zero",
            Path(|dir| {
                let path = dir.join("entrasync.toml");
                std::os::unix::fs::symlink("/dev/zero", &path).expect("a symlink");
                path
            }),
            &["the file is larger than 8 MiB", "--config"],
        ),
        case(
            "arrays nested 10,000 deep",
            Setup(|_| {
                let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
                replaced(
                    "[attributes]\n",
                    &format!("[attributes]\ntitle = {nested}\n"),
                )
            }),
            &[":37:89:", "in [attributes]", "key `title`", "recursion"],
        ),
        case(
            "inline tables nested 10,000 deep",
            Setup(|_| {
                let nested = format!("{}1{}", "{a = ".repeat(10_000), "}".repeat(10_000));
                replaced(
                    "[attributes]\n",
                    &format!("[attributes]\ntitle = {nested}\n"),
                )
            }),
            &[":37:409:", "in [attributes]", "recursion"],
        ),
        // --- keys written twice or in the wrong place --------------------------------------
        case(
            "a key written twice",
            Replace(
                "client_id = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10\"\n",
                "client_id = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10\"\nclient_id = \"x\"\n",
            ),
            &[":7:1:", "duplicate key `client_id`", "once"],
        ),
        case(
            "a table written twice",
            Append("\n[deprovision]\nwhen = \"keep\"\n"),
            &[":51:2:", "duplicate key `deprovision`", "once"],
        ),
        case(
            "a table after an array of tables of that name",
            Append("\n[permission_groups]\nname = \"X\"\n"),
            &[":51:2:", "duplicate key `permission_groups`", "once"],
        ),
        case(
            "default_permission under [[departments]]",
            Replace(
                "name = \"Unassigned\"\n",
                "name = \"Unassigned\"\ndefault_permission = \"Reader\"\n",
            ),
            &[
                "in [[departments]]",
                "`default_permission`",
                "expected `name` or `aliases`",
                "move it above the first [table]",
            ],
        ),
        // --- unknown keys --------------------------------------------------------------------
        case(
            "alias instead of aliases",
            Replace(
                "aliases = [\"Stratsys Readers\"]",
                "alias = [\"Stratsys Readers\"]",
            ),
            &["in [[permission_groups]]", "`alias`", "`aliases`"],
        ),
        case(
            "tokenfile in [target]",
            Replace(TOKEN_LINE, "tokenfile = \"scim-token\""),
            &["in [target]", "`tokenfile`", "`token_file`"],
        ),
        case(
            "[attribute] for [attributes]",
            Replace("[attributes]", "[attribute]"),
            &[":36:2:", "`attribute`", "`attributes`"],
        ),
        case(
            "max_deprovision in [deprovision]",
            Replace("max_deprovisions = 50", "max_deprovision = 50"),
            &[
                "in [deprovision]",
                "`max_deprovision`",
                "`max_deprovisions`",
            ],
        ),
        // --- wrong types ---------------------------------------------------------------------
        case(
            "groups as a string",
            Replace("[\"Stratsys Readers\"]", "\"Stratsys Readers\""),
            &[":10:", "key `groups`", "expected an array"],
        ),
        case(
            "priority as a string",
            Replace("priority = 2", "priority = \"2\""),
            &[":27:", "key `priority`", "expected a whole number"],
        ),
        case(
            "priority as a float",
            Replace("priority = 2", "priority = 1.5"),
            &[":27:", "key `priority`", "expected a whole number"],
        ),
        case(
            "aliases as numbers",
            Replace("[\"Sales EMEA\"]", "[1, 2]"),
            &[":31:", "key `aliases`", "expected a string"],
        ),
        case(
            "adopt_existing as a word",
            Append("adopt_existing = \"yes\"\n"),
            &["in [http]", "`adopt_existing`"],
        ),
        case(
            "[target] as a string",
            Setup(|_| {
                let text = BASE.split("\n[target]").next().unwrap_or_default();
                format!("target = \"file\"\n{text}")
            }),
            &[":1:", "key `target`", "expected a table"],
        ),
        case(
            "state_dir as a number",
            Replace("state_dir = \"state\"", "state_dir = 42"),
            &[":1:", "key `state_dir`", "integer"],
        ),
        case(
            "an inline client secret as a bare number",
            Replace(SECRET_LINE, "client_secret = 4319927781"),
            &[
                ":7:",
                "key `client_secret`",
                "not shown",
                "client_secret_file",
            ],
        ),
        case(
            "an inline SCIM token as a bare number",
            Replace(TOKEN_LINE, "token = 9871234560"),
            &[
                ":46:9:",
                "in [target]",
                "key `token`",
                "not shown",
                "token_file",
            ],
        ),
        // --- [[permission_groups]] and [[departments]] ------------------------------------
        case(
            "two permission groups of one name",
            Replace("name = \"Reader\"", "name = \"Full User\""),
            &[
                "[[permission_groups]] #2 (Full User)",
                "used twice",
                "write each permission group once",
            ],
        ),
        case(
            "priority 0",
            Replace("priority = 2", "priority = 0"),
            &[
                "[[permission_groups]] #2 (Reader) priority",
                "is 0",
                "from 1",
            ],
        ),
        case(
            "a negative priority",
            Replace("priority = 2", "priority = -3"),
            &["(Reader) priority", "is -3", "from 1"],
        ),
        case(
            "a priority beyond u32",
            Replace("priority = 2", "priority = 9999999999"),
            &["(Reader) priority", "is 9999999999", "whole numbers"],
        ),
        case(
            "two permission groups of one priority",
            Replace("priority = 2", "priority = 1"),
            &[
                "(Reader) priority",
                "also the priority of \"Full User\"",
                "its own",
            ],
        ),
        case(
            "a permission group without a priority",
            Replace("priority = 2\n", ""),
            &["(Reader) priority", "is missing"],
        ),
        case(
            "a permission group without a name",
            Replace("name = \"Reader\"\n", ""),
            &[
                "[[permission_groups]] #2 name",
                "missing or empty",
                "write the name",
            ],
        ),
        case(
            "an empty alias list",
            Replace("aliases = [\"Stratsys Readers\"]", "aliases = []"),
            &[
                "[[permission_groups]] (Reader) aliases",
                "no user can get this permission",
                "default_permission",
            ],
        ),
        case(
            "an alias in two permission groups",
            Replace(
                "aliases = [\"Stratsys Readers\"]",
                "aliases = [\"Stratsys Readers\", \"stratsys full users\"]",
            ),
            &["[[permission_groups]]", "belongs to both", "keep it in one"],
        ),
        case(
            "an alias listed twice in one group",
            Replace(
                "aliases = [\"Stratsys Readers\"]",
                "aliases = [\"Stratsys Readers\", \"Stratsys Readers \"]",
            ),
            &["(Reader) aliases", "twice; remove one"],
        ),
        case(
            "an alias in two departments",
            Replace(
                "name = \"Unassigned\"\n",
                "name = \"Unassigned\"\naliases = [\"SALES EMEA\"]\n",
            ),
            &["[[departments]]", "belongs to both", "unique"],
        ),
        case(
            "two departments of one name",
            Replace("name = \"Unassigned\"", "name = \"Sales\""),
            &["[[departments]] #2", "\"Sales\" is used twice"],
        ),
        case(
            "default_permission naming nothing",
            Replace(
                "schedule = \"40m\"\n",
                "schedule = \"40m\"\ndefault_permission = \"Viewer\"\n",
            ),
            &[
                "default_permission",
                "\"Viewer\"",
                "use one of \"Full User\", \"Reader\"",
            ],
        ),
        case(
            "default_permission empty",
            Replace(
                "schedule = \"40m\"\n",
                "schedule = \"40m\"\ndefault_permission = \" \"\n",
            ),
            &["default_permission", "is empty", "leave the key out"],
        ),
        case(
            "fallback_department naming no department",
            Replace(
                "fallback_department = \"Unassigned\"",
                "fallback_department = \"Unasigned\"",
            ),
            &[
                "(Full User) fallback_department",
                "\"Unasigned\"",
                "\"Sales\", \"Unassigned\"",
            ],
        ),
        // --- [filter] -------------------------------------------------------------------------
        case(
            "an empty filter list",
            Replace("user_types = [\"Member\"]", "user_types = []"),
            &["[filter] user_types", "empty list", "leave the key out"],
        ),
        case(
            "an unknown user type",
            Replace("user_types = [\"Member\"]", "user_types = [\"Admin\"]"),
            &[
                "[filter] user_types",
                "\"Admin\"",
                "\"Member\" and \"Guest\"",
            ],
        ),
        case(
            "an empty domain",
            Replace(
                "user_types = [\"Member\"]",
                "user_types = [\"Member\"]\ndomains = [\"contoso.com\", \"  \"]",
            ),
            &["[filter] domains", "empty entry; remove it"],
        ),
        // --- [attributes] ---------------------------------------------------------------------
        case(
            "two values without append",
            Replace(
                "userName = \"lower([userPrincipalName])\"",
                "displayName = \"[givenName] [surname]\"",
            ),
            &["[attributes] \"displayName\"", "column 13", "append(a, b)"],
        ),
        case(
            "a misspelt property",
            Replace("[userPrincipalName]", "[userPrincipleName]"),
            &[
                "[attributes] \"userName\"",
                "column 7",
                "did you mean [userPrincipalName]",
            ],
        ),
        case(
            "an unknown function",
            Replace(
                "lower([userPrincipalName])",
                "lowercase([userPrincipalName])",
            ),
            &[
                "[attributes] \"userName\"",
                "column 1",
                "unknown function `lowercase`",
            ],
        ),
        case(
            "split without its index",
            Replace(
                "userName = \"lower([userPrincipalName])\"",
                "userName = \"split([userPrincipalName], \\\"@\\\")\"",
            ),
            &["[attributes] \"userName\"", "split takes 3 arguments"],
        ),
        case(
            "a property name with a line break",
            Replace("[userPrincipalName]", "[userPrincipal\\nName]"),
            &["[attributes] \"userName\"", "[userPrincipal\\nName]"],
        ),
        case(
            "an attribute entrasync cannot send",
            Replace(
                "userName = \"lower",
                "email = \"[mail]\"\nuserName = \"lower",
            ),
            &["[attributes] \"email\"", "the attributes are \"userName\""],
        ),
        case(
            "userName as none",
            Replace("\"lower([userPrincipalName])\"", "\"none\""),
            &["[attributes] \"userName\"", "cannot be \"none\""],
        ),
        case(
            "active from an expression",
            Replace(
                "userName = \"lower",
                "active = \"[accountEnabled]\"\nuserName = \"lower",
            ),
            &["[attributes] \"active\"", "scope and accountEnabled"],
        ),
        case(
            "an expression that is not a string",
            Replace("userName = \"lower", "title = 5\nuserName = \"lower"),
            &["[attributes] \"title\"", "must be a string"],
        ),
        // --- [target] ---------------------------------------------------------------------
        case(
            "a file target with a token file",
            Replace("kind = \"scim\"", "kind = \"file\"\npath = \"users.json\""),
            &["[target] url", "a file target takes path only"],
        ),
        case(
            "a SCIM token given two ways",
            Replace(
                TOKEN_LINE,
                "token_file = \"scim-token\"\ntoken_env = \"HOME\"",
            ),
            &["[target] token", "more than one way", "keep exactly one"],
        ),
        case(
            "max_concurrency 65",
            Replace(
                TOKEN_LINE,
                "token_file = \"scim-token\"\nmax_concurrency = 65",
            ),
            &["[target] max_concurrency", "is 65", "1 to 64"],
        ),
        case(
            "max_concurrency negative",
            Replace(
                TOKEN_LINE,
                "token_file = \"scim-token\"\nmax_concurrency = -1",
            ),
            &["[target] max_concurrency", "is -1", "1 to 64"],
        ),
        case(
            "SCIM over plain http to a private address",
            Replace("https://app.example.com", "http://10.20.30.40"),
            &["[target] url", "plain http to a remote host", "use https"],
        ),
        case(
            "SCIM url with a password",
            Replace(
                "https://app.example.com",
                "https://admin:hunter2-pw@app.example.com",
            ),
            &[
                "[target] url",
                "user name or password",
                "remove the part before @",
            ],
        ),
        case(
            "SCIM request_timeout of zero",
            Replace(
                TOKEN_LINE,
                "token_file = \"scim-token\"\nrequest_timeout = \"0ms\"",
            ),
            &[
                "[target] request_timeout",
                "longer than zero",
                "such as \"30s\"",
            ],
        ),
        case(
            "a SCIM token pasted into token_env",
            Replace(TOKEN_LINE, "token_env = \"hostile-scim-token-b7d02\""),
            &[
                "[target] token_env",
                "not the name of an environment variable",
                "not shown",
            ],
        ),
        case(
            "the SCIM token file is a directory",
            Setup(|dir| {
                std::fs::create_dir(dir.join("token-dir")).expect("mkdir");
                replaced(TOKEN_LINE, "token_file = \"token-dir\"")
            }),
            &[
                "[target] token_file",
                "token-dir",
                "cannot be read",
                "check the path",
            ],
        ),
        case(
            "the SCIM token file is missing",
            Replace(TOKEN_LINE, "token_file = \"/nonexistent/scim-token\""),
            &[
                "[target] token_file",
                "/nonexistent/scim-token",
                "No such file",
                "check the path",
            ],
        ),
        case(
            "the SCIM token file is empty",
            Setup(|dir| {
                std::fs::write(dir.join("empty-token"), "\n\n").expect("write");
                replaced(TOKEN_LINE, "token_file = \"empty-token\"")
            }),
            &["[target] token", "is empty", "put the secret's value there"],
        ),
        // --- [http] -----------------------------------------------------------------------
        case(
            "listen on port 99999",
            Replace("127.0.0.1:9464", "127.0.0.1:99999"),
            &[
                "[http] listen",
                "\"127.0.0.1:99999\"",
                "such as \"127.0.0.1:9464\"",
            ],
        ),
        case(
            "listen as a number",
            Replace("listen = \"127.0.0.1:9464\"", "listen = 9464"),
            &[":49:10:", "in [http]", "key `listen`", "expected a string"],
        ),
        // --- schedule ---------------------------------------------------------------------
        case(
            "minute 61 in a cron expression",
            Replace("\"40m\"", "\"0 61 * * * *\""),
            &[
                "schedule",
                "not a cron expression the scheduler accepts",
                "six fields",
            ],
        ),
        case(
            "an interval under a minute",
            Replace("\"40m\"", "\"59s\""),
            &["schedule", "shorter than a minute", "at least \"1m\""],
        ),
        case(
            "a cron day that never comes",
            Replace("\"40m\"", "\"0 0 0 31 2 *\""),
            &["schedule", "never comes", "day and month"],
        ),
        case(
            "a negative interval",
            Replace("\"40m\"", "\"-5m\""),
            &["schedule", "expected a number"],
        ),
        // --- [source] ---------------------------------------------------------------------
        case(
            "Graph over plain http",
            Replace(
                "graph_url = \"{url}\"",
                "graph_url = \"http://graph.microsoft.com\"",
            ),
            &[
                "[source] graph_url",
                "plain http to a remote host",
                "use https",
            ],
        ),
        case(
            "a look-alike of localhost",
            Replace(
                "graph_url = \"{url}\"",
                "graph_url = \"http://localhost.example.com:8080\"",
            ),
            &["[source] graph_url", "plain http to a remote host"],
        ),
        case(
            "the authority with a query",
            Replace(
                "authority_url = \"{url}\"",
                "authority_url = \"https://login.microsoftonline.com/?tenant=x\"",
            ),
            &["[source] authority_url", "must not carry a query"],
        ),
        case(
            "Graph URL with a password",
            Replace(
                "graph_url = \"{url}\"",
                "graph_url = \"https://svc:Pa55-w0rd@graph.microsoft.com\"",
            ),
            &[
                "[source] graph_url",
                "user name or password",
                "remove the part before @",
            ],
        ),
        case(
            "a tenant id with a path in it",
            Replace(
                "contoso.onmicrosoft.com",
                "contoso.onmicrosoft.com/../common",
            ),
            &[
                "[source] tenant_id",
                "neither a directory (tenant) id nor a domain",
                "verified domain",
            ],
        ),
        case(
            "an empty state_dir",
            Replace("state_dir = \"state\"", "state_dir = \"\""),
            &["state_dir is empty", "/var/lib/entrasync"],
        ),
        case(
            "state_dir is a file",
            Setup(|dir| {
                std::fs::write(dir.join("state.db"), "").expect("write");
                replaced("state_dir = \"state\"", "state_dir = \"state.db\"")
            }),
            &[
                "state_dir \"",
                "state.db\" is a file, not a directory",
                "point state_dir at a directory",
            ],
        ),
        case(
            "state_dir under a file",
            Setup(|dir| {
                std::fs::write(dir.join("state.db"), "").expect("write");
                replaced("state_dir = \"state\"", "state_dir = \"state.db/state\"")
            }),
            &[
                "state_dir \"",
                "state.db/state\" cannot be a directory",
                "state.db\" above it is a file, not a directory",
                "point state_dir at a directory",
            ],
        ),
        case(
            "members with a capital",
            Replace("members = \"direct\"", "members = \"Transitive\""),
            &["[source] members", "\"direct\" or \"transitive\""],
        ),
        case(
            "the secret file is a directory",
            Setup(|dir| {
                std::fs::create_dir(dir.join("secrets")).expect("mkdir");
                replaced(SECRET_LINE, "client_secret_file = \"secrets\"")
            }),
            &[
                "[source] client_secret_file",
                "cannot be read",
                "check the path",
            ],
        ),
        case(
            "the secret file holds only blanks",
            Setup(|dir| {
                std::fs::write(dir.join("blank-secret"), "  \r\n").expect("write");
                replaced(SECRET_LINE, "client_secret_file = \"blank-secret\"")
            }),
            &[
                "[source] client secret",
                "is empty",
                "put the secret's value there",
            ],
        ),
        case(
            "a secret pasted into client_secret_env",
            Replace(
                SECRET_LINE,
                "client_secret_env = \"hostile-client-secret-4c1e9\"",
            ),
            &[
                "[source] client_secret_env",
                "not the name of an environment variable",
            ],
        ),
        case(
            "a certificate file that is not PEM",
            Replace(SECRET_LINE, "client_certificate_file = \"scim-token\""),
            &[
                "[source] client_certificate_file",
                "holds no certificate",
                "one PEM file",
            ],
        ),
        case(
            "a certificate file that is a directory",
            Setup(|dir| {
                std::fs::create_dir(dir.join("cert.pem")).expect("mkdir");
                replaced(SECRET_LINE, "client_certificate_file = \"cert.pem\"")
            }),
            &["[source] client_certificate_file", "cannot be read"],
        ),
        case(
            "$CREDENTIALS_DIRECTORY outside systemd",
            Replace(
                SECRET_LINE,
                "client_secret_file = \"$CREDENTIALS_DIRECTORY/client-secret\"",
            ),
            &[
                "[source] client_secret_file",
                "$CREDENTIALS_DIRECTORY",
                "give the file's own path",
            ],
        ),
        case(
            "no [source] at all",
            Setup(|_| {
                let (head, rest) = BASE.split_once("[source]").expect("a [source]");
                let rest = rest.split_once("[filter]").expect("a [filter]").1;
                format!("{head}[filter]{rest}")
            }),
            &["[source] is missing", "tenant_id, client_id"],
        ),
        case("an empty file", Text(""), &["[source] is missing"]),
        case(
            "max_deprovisions as a float",
            Replace("max_deprovisions = 50", "max_deprovisions = 5e1"),
            &[
                ":41:20:",
                "in [deprovision]",
                "key `max_deprovisions`",
                "expected a whole number",
            ],
        ),
        // --- app roles (issue 7) -------------------------------------------------------------
        case(
            "an app named twice",
            Replace(
                "members = \"direct\"",
                "members = \"direct\"\napp = { client_id = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10\", service_principal_id = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d11\" }",
            ),
            &["[source] app", "not both"],
        ),
        case(
            "an app by display name",
            Replace(
                "members = \"direct\"",
                "members = \"direct\"\napp = { client_id = \"stacksync\" }",
            ),
            &[
                "[source] app client_id",
                "no GUID",
                "Enterprise applications",
            ],
        ),
        case(
            "an app without an id",
            Replace("members = \"direct\"", "members = \"direct\"\napp = {}"),
            &["[source] app", "names no app"],
        ),
        case(
            "an app as a plain string",
            Replace(
                "members = \"direct\"",
                "members = \"direct\"\napp = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10\"",
            ),
            &["key `app`", "expected a table"],
        ),
        case(
            "scope misspelt",
            Replace(
                "members = \"direct\"",
                "members = \"direct\"\nscope = \"assigend\"",
            ),
            &["[source] scope", "\"assigned\""],
        ),
        case(
            "scope assigned without an app",
            Replace("groups = [\"Stratsys Readers\"]", "scope = \"assigned\""),
            &["[source] scope", "needs [source] app"],
        ),
        case(
            "scope all beside listed groups",
            Replace(
                "members = \"direct\"",
                "members = \"direct\"\nscope = \"all\"",
            ),
            &["[source] groups", "[filter] groups"],
        ),
        case(
            "app roles without an app",
            Replace("priority = 2\n", "priority = 2\napp_roles = [\"Reader\"]\n"),
            &["(Reader) app_roles", "needs [source] app"],
        ),
        case(
            "an app role in two permission groups",
            Setup(|_| {
                replaced(
                    "members = \"direct\"",
                    "members = \"direct\"\napp = { client_id = \"3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10\" }",
                )
                .replace("priority = 1\n", "priority = 1\napp_roles = [\"reader\"]\n")
                .replace("priority = 2\n", "priority = 2\napp_roles = [\"Reader\"]\n")
            }),
            &[
                "[[permission_groups]]",
                "app role \"Reader\" belongs to both",
            ],
        ),
        case(
            "exclusive as a string",
            Replace("priority = 2\n", "priority = 2\nexclusive = \"yes\"\n"),
            &["exclusive", "expected a boolean"],
        ),
    ]
}

/// Writes the case's files into `dir` and returns the config's path.
fn make(case: &Case, dir: &Path, url: &str) -> PathBuf {
    std::fs::write(dir.join("client-secret"), SECRET).expect("write the secret");
    std::fs::write(dir.join("scim-token"), TOKEN).expect("write the token");
    let path = dir.join("entrasync.toml");
    let bytes = match &case.make {
        Make::Replace(from, to) => {
            assert!(
                BASE.contains(from),
                "{}: the base holds {from:?}",
                case.name
            );
            BASE.replacen(from, to, 1).into_bytes()
        }
        Make::Append(text) => format!("{BASE}{text}").into_bytes(),
        Make::Text(text) => text.as_bytes().to_vec(),
        Make::Bytes(make) => make(),
        Make::Setup(setup) => setup(dir).into_bytes(),
        Make::Path(link) => return link(dir),
    };
    let text = String::from_utf8_lossy(&bytes);
    let bytes = if text.contains("{url}") && std::str::from_utf8(&bytes).is_ok() {
        text.replace("{url}", url).into_bytes()
    } else {
        bytes
    };
    std::fs::write(&path, bytes).expect("write the config");
    path
}

/// What is wrong with one run of a case, if anything.
fn verdict(case: &Case, config: &Path, command: &str, out: &Output) -> Option<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut wrong = Vec::new();
    if out.status.code() != Some(2) {
        wrong.push(format!("exit status {:?}, not 2", out.status.code()));
    }
    if !stdout.is_empty() {
        wrong.push(format!("standard output: {stdout:?}"));
    }
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.len() != 1 {
        wrong.push(format!("{} lines on standard error", lines.len()));
    }
    let line = lines.first().copied().unwrap_or_default();
    if !line.starts_with("entrasync: ") || !line.contains(&config.display().to_string()) {
        wrong.push("does not name the file".into());
    }
    for word in case.says {
        if !line.contains(word) {
            wrong.push(format!("does not say {word:?}"));
        }
    }
    for secret in [
        SECRET,
        TOKEN,
        "hunter2-pw",
        "Pa55-w0rd",
        "4319927781",
        "9871234560",
    ] {
        if stderr.contains(secret) {
            wrong.push(format!("shows the secret {secret}"));
        }
    }
    for panic in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        if stderr.contains(panic) {
            wrong.push(format!("says {panic:?}"));
        }
    }
    if line.chars().count() > 1200 {
        wrong.push(format!("a line of {} characters", line.chars().count()));
    }
    if config.parent().is_some_and(|d| d.join("state").exists()) {
        wrong.push("made the state directory".into());
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "{} ({command}): {}\n    stderr: {}",
            case.name,
            wrong.join("; "),
            stderr.chars().take(600).collect::<String>()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_config_exits_2_with_one_clear_line() {
    assert!(
        std::env::var_os("CREDENTIALS_DIRECTORY").is_none(),
        "the $CREDENTIALS_DIRECTORY case needs the variable unset"
    );
    let url = closed_url();
    let corpus = corpus();
    assert!(corpus.len() >= 40, "{} cases", corpus.len());
    let mut names: Vec<&str> = corpus.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), corpus.len(), "case names are unique");
    // ENTRASYNC_SHOW_CORPUS=1 prints every case's line, to read them all at once.
    let show = std::env::var_os("ENTRASYNC_SHOW_CORPUS").is_some();
    let mut failures = Vec::new();
    for case in &corpus {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = make(case, dir.path(), &url);
        for command in ["once", "check"] {
            let out = entrasync(&config, &[command]).await;
            if show && command == "once" {
                let line = String::from_utf8_lossy(&out.stderr);
                println!("{:<50} {}", case.name, line.trim_end());
            }
            failures.extend(verdict(case, &config, command, &out));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_config_is_valid() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let case = Case {
        name: "base",
        make: Make::Text(BASE),
        says: &[],
    };
    let config = make(&case, dir.path(), &closed_url());
    // `status` checks every key and reads no network.
    let out = entrasync(&config, &["status"]).await;
    assert_exit(&out, 0, "status on the base");
}

/// Found: a `state_dir` that exists as a file failed every command that opens the snapshot
/// with exit 1 ("cannot create the state directory"), as if the machine were at fault; it is a
/// mistake in the config. The corpus runs `once` and `check`; the commands that only read the
/// state (`status`, `log`, `reset`) and `plan` must say the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_dir_that_is_a_file_is_a_config_error_for_every_command() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let case = Case {
        name: "state_dir is a file",
        make: Make::Setup(|dir| {
            std::fs::write(dir.join("state.db"), "not a directory").expect("write");
            replaced("state_dir = \"state\"", "state_dir = \"state.db\"")
        }),
        says: &[
            "state_dir",
            "state.db\" is a file, not a directory: point state_dir at a directory",
        ],
    };
    let config = make(&case, dir.path(), &closed_url());
    for command in ["status", "log", "reset", "plan", "once", "check"] {
        let out = entrasync(&config, &[command]).await;
        if let Some(wrong) = verdict(&case, &config, command, &out) {
            panic!("{wrong}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("state.db"))
            .ok()
            .as_deref(),
        Some("not a directory"),
        "the file is left as it was"
    );
}
