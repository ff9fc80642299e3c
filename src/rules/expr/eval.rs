//! Semantics of the attribute-expression language (`rules/expr`): evaluates a checked
//! syntax tree against one user's properties.
//!
//! `rules/` turns the source snapshot into desired target users; this file computes one
//! attribute value of one desired user. It is pure and total: values are `Option<String>`
//! (`None` is null), every function defines its result for null, and nothing can fail.

use super::Node;

/// The value of `node` for the user whose properties `get` returns.
pub(super) fn eval(node: &Node, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let value = |n: &Node| eval(n, get);
    match node {
        Node::Text(text) => Some(text.clone()),
        Node::Property(name) => get(name),
        Node::Lower(x) => value(x).map(|s| s.to_lowercase()),
        Node::Upper(x) => value(x).map(|s| s.to_uppercase()),
        Node::Trim(x) => value(x).map(|s| s.trim().to_owned()),
        Node::Append(args) => append(args.iter().map(value)),
        Node::Coalesce(args) => args.iter().map(value).find(is_present).flatten(),
        Node::Split {
            value: x,
            separator,
            index,
        } => {
            let text = value(x)?;
            let separator = value(separator).unwrap_or_default();
            split(&text, &separator, *index)
        }
        Node::Replace {
            value: x,
            find,
            with,
        } => {
            let text = value(x)?;
            let find = value(find).unwrap_or_default();
            if find.is_empty() {
                return Some(text);
            }
            Some(text.replace(&find, &value(with).unwrap_or_default()))
        }
        Node::Default { value: x, fallback } => {
            let v = value(x);
            if is_present(&v) { v } else { value(fallback) }
        }
    }
}

/// Neither null nor empty.
fn is_present(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|s| !s.is_empty())
}

/// Joins the values; a null counts as empty, unless all are null.
fn append(values: impl Iterator<Item = Option<String>>) -> Option<String> {
    let mut joined: Option<String> = None;
    for v in values.flatten() {
        joined.get_or_insert_with(String::new).push_str(&v);
    }
    joined
}

/// Part `index` of `text` split at every `separator` (0-based; negative counts from the
/// end, -1 being the last). An empty separator leaves the text whole, as one part.
/// Out of range is null.
fn split(text: &str, separator: &str, index: i64) -> Option<String> {
    let parts: Vec<&str> = if separator.is_empty() {
        vec![text]
    } else {
        text.split(separator).collect()
    };
    let position = if index >= 0 {
        usize::try_from(index).ok()?
    } else {
        let back = usize::try_from(index.unsigned_abs()).ok()?;
        parts.len().checked_sub(back)?
    };
    parts.get(position).map(|part| (*part).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_indices() {
        let cases: &[(&str, &str, i64, Option<&str>)] = &[
            ("a>b>c", ">", 0, Some("a")),
            ("a>b>c", ">", 2, Some("c")),
            ("a>b>c", ">", 3, None),
            ("a>b>c", ">", -1, Some("c")),
            ("a>b>c", ">", -3, Some("a")),
            ("a>b>c", ">", -4, None),
            ("a>b>c", ">", i64::MIN, None),
            ("a>b>c", ">", i64::MAX, None),
            ("abc", "", 0, Some("abc")),
            ("abc", "", -1, Some("abc")),
            ("abc", "", 1, None),
            ("", ">", 0, Some("")),
            ("a>>b", ">", 1, Some("")),
            ("a::b::c", "::", 1, Some("b")),
        ];
        for &(text, sep, index, want) in cases {
            assert_eq!(
                split(text, sep, index).as_deref(),
                want,
                "split({text:?}, {sep:?}, {index})"
            );
        }
    }

    #[test]
    fn append_nulls() {
        assert_eq!(append([None, None].into_iter()), None);
        assert_eq!(
            append([None, Some("a".into())].into_iter()),
            Some("a".into())
        );
        assert_eq!(
            append([Some(String::new())].into_iter()),
            Some(String::new())
        );
        assert_eq!(append(std::iter::empty()), None);
    }
}
