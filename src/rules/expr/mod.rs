//! Attribute expressions: the small language of the `[attributes]` config table.
//!
//! `rules/` turns the source snapshot into desired target users; this module parses and
//! evaluates the expressions that compute each mapped SCIM attribute from a user's Entra
//! properties, e.g. `lower([userPrincipalName])` or `trim(split([department], ">", -1))`.
//! The syntax stays close to Entra's own attribute-mapping expressions; the operator-facing
//! reference is `docs/attribute-expressions.md`.
//!
//! Parsing checks everything that can be checked without a user (syntax, function names,
//! arity, property names against the known set), so a bad mapping fails at config load.
//! Evaluation is pure and total: values are `Option<String>` (null or a string) and every
//! function has a defined result for null input.
//!
//! Layout: `lex` (tokens), `parse` (grammar), `functions` (the function table and its
//! synonyms), `suggest` ("did you mean" for typos), `eval` (the semantics).

mod eval;
mod functions;
mod lex;
mod parse;
mod suggest;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod seed_tests;

/// A parsed attribute expression, ready to evaluate against any number of users.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    root: Node,
    /// Property names read by `root`, in known casing, sorted and deduplicated.
    properties: Vec<String>,
}

/// Why an expression did not parse: where (1-based column, counted in characters) and what
/// was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl ExprError {
    /// The message may quote the expression: it is made one printable line.
    fn new(column: usize, message: impl Into<String>) -> Self {
        ExprError {
            column,
            message: crate::config::printable(&message.into()),
        }
    }
}

/// The syntax tree. Property names are stored in known casing; arity and literal
/// arguments are already checked, so evaluation cannot fail.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Property(String),
    Lower(Box<Node>),
    Upper(Box<Node>),
    Trim(Box<Node>),
    Append(Vec<Node>),
    Coalesce(Vec<Node>),
    Split {
        value: Box<Node>,
        separator: Box<Node>,
        index: i64,
    },
    Replace {
        value: Box<Node>,
        find: Box<Node>,
        with: Box<Node>,
    },
    Default {
        value: Box<Node>,
        fallback: Box<Node>,
    },
}

impl Expr {
    /// Parses `text`. `properties` is the set of property names a user can have; a
    /// reference to any other name is an error (names match case-insensitively).
    pub fn parse(text: &str, properties: &[&str]) -> Result<Expr, ExprError> {
        let root = parse::parse(text, properties)?;
        let mut names = Vec::new();
        root.collect_properties(&mut names);
        names.sort_unstable();
        names.dedup();
        let properties = names.into_iter().map(str::to_owned).collect();
        Ok(Expr {
            source: text.to_owned(),
            root,
            properties,
        })
    }

    /// Evaluates against a user's properties; `get` is called with the property name as
    /// written in KNOWN casing (the entry of `properties` it matched), returns None for
    /// null/missing.
    pub fn eval(&self, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        eval::eval(&self.root, get)
    }

    /// The property names the expression reads (known casing, deduplicated, sorted), so
    /// the caller can $select them.
    pub fn properties(&self) -> Vec<&str> {
        self.properties.iter().map(String::as_str).collect()
    }

    /// The source text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl Node {
    fn collect_properties<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Text(_) => {}
            Node::Property(name) => out.push(name),
            Node::Lower(x) | Node::Upper(x) | Node::Trim(x) => x.collect_properties(out),
            Node::Append(args) | Node::Coalesce(args) => {
                args.iter().for_each(|a| a.collect_properties(out));
            }
            Node::Split {
                value, separator, ..
            } => {
                value.collect_properties(out);
                separator.collect_properties(out);
            }
            Node::Replace { value, find, with } => {
                value.collect_properties(out);
                find.collect_properties(out);
                with.collect_properties(out);
            }
            Node::Default { value, fallback } => {
                value.collect_properties(out);
                fallback.collect_properties(out);
            }
        }
    }
}
