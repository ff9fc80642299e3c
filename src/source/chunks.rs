//! Which groups go into which `groups/delta` query: at most [`MAX_IDS_PER_QUERY`] ids each, and
//! the same ids as last cycle wherever possible.
//!
//! Part of `source/` (pure). A delta link belongs to its query's exact id filter: a chunk whose
//! ids change must start over with a full round of all its groups. Cutting the sorted ids into
//! fifties afresh every cycle would shift every chunk after a group that joins or leaves scope —
//! a group assigned to the app, a group added to the config — and so re-read most of them. So
//! the stored chunks whose groups are all still wanted stay as they are, and only the groups
//! they do not cover are cut into new chunks. When that has left more than twice the chunks the
//! groups need, everything is cut afresh once (one full round of every group), so the number of
//! queries a quiet cycle sends stays bounded.

use std::collections::{BTreeMap, BTreeSet};

use super::MAX_IDS_PER_QUERY;

/// The chunks of this cycle's queries for `ids` (sorted, each once), given the chunks that have
/// a delta link stored (`stored`, keyed by their sorted ids).
pub fn plan(ids: &[String], stored: &BTreeMap<Vec<String>, String>) -> Vec<Vec<String>> {
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    let mut chunks: Vec<Vec<String>> = Vec::new();
    for chunk in stored.keys() {
        let keeps = !chunk.is_empty()
            && chunk.len() <= MAX_IDS_PER_QUERY
            && chunk
                .iter()
                .all(|id| wanted.contains(id.as_str()) && !covered.contains(id.as_str()));
        if keeps {
            covered.extend(chunk.iter().map(String::as_str));
            chunks.push(chunk.clone());
        }
    }
    let rest: Vec<String> = ids
        .iter()
        .filter(|id| !covered.contains(id.as_str()))
        .cloned()
        .collect();
    chunks.extend(rest.chunks(MAX_IDS_PER_QUERY).map(<[String]>::to_vec));
    let least = ids.len().div_ceil(MAX_IDS_PER_QUERY);
    if chunks.len() > 2 * least + 1 {
        return ids
            .chunks(MAX_IDS_PER_QUERY)
            .map(<[String]>::to_vec)
            .collect();
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("g{i:04}")).collect()
    }

    fn stored(chunks: &[Vec<String>]) -> BTreeMap<Vec<String>, String> {
        chunks
            .iter()
            .map(|c| (c.clone(), format!("link-{}", c[0])))
            .collect()
    }

    /// Every id once, no chunk over the limit.
    fn assert_covers(chunks: &[Vec<String>], ids: &[String]) {
        let mut all: Vec<&String> = chunks.iter().flatten().collect();
        all.sort();
        assert_eq!(all, ids.iter().collect::<Vec<_>>(), "each id in one chunk");
        assert!(
            chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= MAX_IDS_PER_QUERY)
        );
    }

    #[test]
    fn a_first_cycle_cuts_the_sorted_ids_into_fifties() {
        let all = ids(0..120);
        let chunks = plan(&all, &BTreeMap::new());
        assert_eq!(chunks, vec![ids(0..50), ids(50..100), ids(100..120)]);
    }

    #[test]
    fn a_group_that_joins_gets_a_chunk_of_its_own_and_the_others_keep_their_links() {
        let before = plan(&ids(0..120), &BTreeMap::new());
        // "g0010a" sorts among the first fifty: cut afresh, every chunk would shift.
        let mut now = ids(0..120);
        now.push("g0010a".into());
        now.sort();
        let chunks = plan(&now, &stored(&before));
        assert_covers(&chunks, &now);
        for chunk in &before {
            assert!(chunks.contains(chunk), "kept: {chunk:?}");
        }
        assert!(chunks.contains(&vec!["g0010a".to_owned()]));
    }

    #[test]
    fn a_group_that_leaves_restarts_its_own_chunk_only() {
        let before = plan(&ids(0..120), &BTreeMap::new());
        let now: Vec<String> = ids(0..120).into_iter().filter(|id| id != "g0060").collect();
        let chunks = plan(&now, &stored(&before));
        assert_covers(&chunks, &now);
        assert!(chunks.contains(&ids(0..50)));
        assert!(chunks.contains(&ids(100..120)));
        assert!(!chunks.contains(&ids(50..100)), "its chunk starts over");
    }

    #[test]
    fn too_many_small_chunks_are_cut_afresh() {
        // Ten groups that joined one at a time, each in a chunk of its own, beside 50 more.
        let mut chunks: Vec<Vec<String>> = vec![ids(0..50)];
        chunks.extend((50..60).map(|i| ids(i..i + 1)));
        let all = ids(0..60);
        let planned = plan(&all, &stored(&chunks));
        assert_eq!(
            planned,
            vec![ids(0..50), ids(50..60)],
            "2 chunks need not be 11"
        );
        // A few small ones are tolerated: their links stay good.
        let few: Vec<Vec<String>> = vec![ids(0..50), ids(50..51), ids(51..52)];
        assert_eq!(plan(&ids(0..52), &stored(&few)), few);
    }

    #[test]
    fn stored_chunks_that_overlap_or_overflow_are_not_kept() {
        let overflowing = ids(0..51);
        let overlapping = [ids(0..10), ids(5..15)];
        let stored = stored(&[overflowing, overlapping[0].clone(), overlapping[1].clone()]);
        let chunks = plan(&ids(0..20), &stored);
        assert_covers(&chunks, &ids(0..20));
        assert!(
            chunks.contains(&ids(0..10)),
            "the first of two overlapping ones"
        );
    }
}
