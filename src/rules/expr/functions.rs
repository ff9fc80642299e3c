//! The function table of the attribute-expression language (`rules/expr`): every function,
//! the spellings it answers to (including Entra's, e.g. `ToLower`, `Append`), and its arity.
//!
//! `rules/` turns the source snapshot into desired target users; this file is what the
//! parser consults when it meets `name(...)`, so arity is checked at config load.

/// The functions of the language. Names are matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Lower,
    Upper,
    Trim,
    Append,
    Coalesce,
    Split,
    Replace,
    Default,
}

/// Every accepted spelling, in the casing used when one is suggested.
const SPELLINGS: &[(&str, Func)] = &[
    ("lower", Func::Lower),
    ("ToLower", Func::Lower),
    ("ToLowercase", Func::Lower),
    ("upper", Func::Upper),
    ("ToUpper", Func::Upper),
    ("ToUppercase", Func::Upper),
    ("trim", Func::Trim),
    ("append", Func::Append),
    ("concat", Func::Append),
    ("coalesce", Func::Coalesce),
    ("split", Func::Split),
    ("replace", Func::Replace),
    ("default", Func::Default),
];

/// The list shown when an unknown name has no close match.
pub(super) const KNOWN_LIST: &str = "append (or concat), coalesce, default, lower (or ToLower), \
                                     replace, split, trim, upper (or ToUpper)";

impl Func {
    /// The function `name` denotes, if any (case-insensitive).
    pub(super) fn lookup(name: &str) -> Option<Func> {
        SPELLINGS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(name))
            .map(|&(_, func)| func)
    }

    /// All spellings, for "did you mean".
    pub(super) fn spellings() -> impl Iterator<Item = &'static str> {
        SPELLINGS.iter().map(|&(spelling, _)| spelling)
    }

    /// Smallest and largest number of arguments (`None`: no upper bound).
    pub(super) fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::Lower | Func::Upper => (1, Some(2)),
            Func::Trim => (1, Some(1)),
            Func::Append | Func::Coalesce => (2, None),
            Func::Split | Func::Replace => (3, Some(3)),
            Func::Default => (2, Some(2)),
        }
    }

    /// Whether `count` arguments are acceptable.
    pub(super) fn accepts(self, count: usize) -> bool {
        let (min, max) = self.arity();
        count >= min && max.is_none_or(|max| count <= max)
    }

    /// "split takes 3 arguments (value, separator, index), got 2", with `name` as written.
    pub(super) fn arity_message(self, name: &str, got: usize) -> String {
        let takes = match self {
            Func::Lower | Func::Upper => {
                "1 argument (value), or 2 (value, culture; the culture is ignored)"
            }
            Func::Trim => "1 argument (value)",
            Func::Append | Func::Coalesce => "at least 2 arguments (a, b, ...)",
            Func::Split => "3 arguments (value, separator, index)",
            Func::Replace => "3 arguments (value, find, with)",
            Func::Default => "2 arguments (value, fallback)",
        };
        format!("{name} takes {takes}, got {got}")
    }
}
