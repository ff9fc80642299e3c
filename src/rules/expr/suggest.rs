//! "Did you mean ...?" for the attribute-expression parser (`rules/expr`): picks the known
//! property or function name closest to a misspelt one.
//!
//! `rules/` turns the source snapshot into desired target users; this helper only makes the
//! config-load errors of `[attributes]` friendlier, e.g. `[departmnet]` → `[department]`.

/// Case-insensitive equality, Unicode-aware (property names are compared this way).
pub(super) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// The candidate closest to `word` (case-insensitive edit distance, a swap of two adjacent
/// letters counting as one edit), if it is close enough to be a plausible typo. Ties go to
/// the earlier candidate.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    let limit = 1 + word.len() / 4;
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let cand: Vec<char> = candidate.chars().flat_map(char::to_lowercase).collect();
        if cand.len().abs_diff(word.len()) > limit {
            continue;
        }
        let d = distance(&word, &cand);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions each cost one.
fn distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    // Three rows: two back (for transpositions), previous, current.
    let mut two_back = vec![0usize; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur = vec![0usize; width];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut two_back, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let d = |a: &str, b: &str| {
            distance(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("", ""), 0);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("", "ab"), 2);
        assert_eq!(d("departmnet", "department"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("mail", "mial"), 1);
    }

    #[test]
    fn suggestions() {
        let known = ["department", "displayName", "mail", "objectId"];
        assert_eq!(closest("departmnet", known), Some("department"));
        assert_eq!(closest("DEPARTMENT", known), Some("department"));
        assert_eq!(closest("mial", known), Some("mail"));
        assert_eq!(closest("objectid2", known), Some("objectId"));
        assert_eq!(closest("x", known), None);
        assert_eq!(closest("dept", known), None);
        assert_eq!(closest("anything", []), None);
    }

    #[test]
    fn case_insensitive_equality() {
        assert!(eq_ignore_case("userPrincipalName", "USERPRINCIPALNAME"));
        assert!(eq_ignore_case("Ärger", "ärger"));
        assert!(!eq_ignore_case("mail", "mails"));
    }
}
