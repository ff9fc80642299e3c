//! One delta round: follow `@odata.nextLink` from the stored delta link (or the initial query) to
//! the new `@odata.deltaLink`, merging every page as it arrives.
//!
//! Part of `source/`. Pages are parsed and folded into the round one at a time, never kept. An
//! object may come several times and anywhere (graph-delta.md §2–3): the last entry read wins,
//! and a large group's members are merged across the pages that repeat it. When Graph asks for a
//! resync, the round starts over as a full round.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use super::SourceError;
use super::http::{Failure, GraphHttp, path_of};
use super::model::{GroupChange, GroupsRound, Removal, RoundKind, RoundStats, User, UsersRound};
use super::page::{GroupEntry, MISSING_LINKS, Page, UserEntry, check_link};

/// How many times one round may start over on Graph's request before the cycle fails.
const MAX_RESYNCS: u64 = 2;

/// Folds the entries of a round's pages into its result.
trait Fold: Default {
    type Entry: DeserializeOwned;
    fn add(&mut self, entry: Self::Entry);
}

/// A finished round before it is given its public shape.
struct Round<F> {
    kind: RoundKind,
    folded: F,
    delta_link: String,
    stats: RoundStats,
}

/// Runs one round. `initial` is the query that starts a full round; `link` the stored delta link.
async fn run<F: Fold>(
    http: &GraphHttp,
    initial: &str,
    link: Option<&str>,
) -> Result<Round<F>, SourceError> {
    // A delta link stored for another graph_url (the config changed) is not followed: the
    // token would go there. The query starts over as a full round here.
    let link = link.filter(|link| match check_link("@odata.deltaLink", link, initial) {
        Ok(()) => true,
        Err(why) => {
            tracing::warn!(path = %path_of(initial), "a stored delta link leads elsewhere than [source] graph_url ({why}); that query reads everything again as a full round");
            false
        }
    });
    let mut kind = if link.is_some() {
        RoundKind::Incremental
    } else {
        RoundKind::Full
    };
    let mut url = link.unwrap_or(initial).to_owned();
    let mut folded = F::default();
    let mut stats = RoundStats::default();
    loop {
        match http
            .get_json::<Page<F::Entry>>(&url, &mut stats.requests)
            .await
        {
            Ok(page) => {
                stats.pages += 1;
                stats.objects += page.value.len() as u64;
                http.page_read(page.value.len());
                let malformed = |what: String| SourceError::Malformed {
                    path: path_of(&url),
                    what,
                };
                let next = page.next_url(&url, initial).map_err(malformed)?;
                let delta_link = match next {
                    Some(_) => None,
                    None => page.delta_url(initial).map_err(malformed)?,
                };
                for entry in page.value {
                    folded.add(entry);
                }
                match (next, delta_link) {
                    (Some(next), _) => url = next,
                    (None, Some(delta_link)) => {
                        return Ok(Round {
                            kind,
                            folded,
                            delta_link,
                            stats,
                        });
                    }
                    (None, None) => return Err(malformed(MISSING_LINKS.into())),
                }
            }
            Err(Failure::Resync) if stats.resyncs < MAX_RESYNCS => {
                tracing::warn!(path = %path_of(initial), "Graph asked for a resync; reading everything again as a full round");
                stats.resyncs += 1;
                kind = RoundKind::Full;
                url = initial.to_owned();
                folded = F::default();
            }
            Err(Failure::Resync) => {
                return Err(SourceError::ResyncLoop {
                    path: path_of(initial),
                });
            }
            Err(Failure::Error(err)) => return Err(err),
        }
    }
}

#[derive(Default)]
struct UsersFold {
    users: BTreeMap<String, User>,
    removed: BTreeMap<String, Removal>,
}

impl Fold for UsersFold {
    type Entry = UserEntry;

    fn add(&mut self, entry: UserEntry) {
        let id = entry.user.id.clone();
        match entry.removed {
            Some(mark) => {
                self.users.remove(&id);
                self.removed.insert(id, mark.removal());
            }
            None => {
                self.removed.remove(&id);
                self.users.insert(id, entry.user);
            }
        }
    }
}

#[derive(Default)]
struct GroupsFold {
    groups: BTreeMap<String, GroupChange>,
    removed: BTreeMap<String, Removal>,
}

impl Fold for GroupsFold {
    type Entry = GroupEntry;

    fn add(&mut self, entry: GroupEntry) {
        if let Some(mark) = entry.removed {
            self.groups.remove(&entry.id);
            self.removed.insert(entry.id, mark.removal());
            return;
        }
        self.removed.remove(&entry.id);
        let change = self.groups.entry(entry.id).or_default();
        if entry.display_name.is_some() {
            change.display_name = entry.display_name;
        }
        for member in entry.members_delta.into_iter().flatten() {
            if member.removed.is_some() {
                change.added.remove(&member.id);
                change.removed.insert(member.id);
            } else {
                let kind = member.kind();
                change.removed.remove(&member.id);
                change.added.insert(member.id, kind);
            }
        }
    }
}

/// A complete `users/delta` round.
pub async fn users_round(
    http: &GraphHttp,
    initial: &str,
    link: Option<&str>,
) -> Result<UsersRound, SourceError> {
    let round = run::<UsersFold>(http, initial, link).await?;
    Ok(UsersRound {
        kind: round.kind,
        users: round.folded.users,
        removed: round.folded.removed,
        delta_link: round.delta_link,
        stats: round.stats,
    })
}

/// A complete `groups/delta` round for one chunk of group ids.
pub async fn groups_round(
    http: &GraphHttp,
    ids: Vec<String>,
    initial: &str,
    link: Option<&str>,
) -> Result<GroupsRound, SourceError> {
    let round = run::<GroupsFold>(http, initial, link).await?;
    Ok(GroupsRound {
        ids,
        kind: round.kind,
        groups: round.folded.groups,
        removed: round.folded.removed,
        delta_link: round.delta_link,
        stats: round.stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::page::parse_page;

    fn fold<F: Fold>(pages: &[&str]) -> F {
        let mut folded = F::default();
        for body in pages {
            let page: Page<F::Entry> = parse_page(body.as_bytes()).expect("test page");
            page.value.into_iter().for_each(|e| folded.add(e));
        }
        folded
    }

    #[test]
    fn the_last_entry_of_a_user_wins() {
        let f: UsersFold = fold(&[
            r#"{"value":[{"id":"1","department":"A"},{"id":"2"}]}"#,
            r#"{"value":[{"id":"1","department":"B"},{"id":"2","@removed":{"reason":"deleted"}}]}"#,
            r#"{"value":[{"id":"3","@removed":{"reason":"changed"}},{"id":"3"}]}"#,
        ]);
        assert_eq!(f.users["1"].department.as_deref(), Some("B"));
        assert!(!f.users.contains_key("2"));
        assert_eq!(f.removed.get("2"), Some(&Removal::HardDeleted));
        assert!(
            f.users.contains_key("3") && !f.removed.contains_key("3"),
            "restored"
        );
    }

    #[test]
    fn a_group_repeated_across_pages_is_merged() {
        let f: GroupsFold = fold(&[
            r##"{"value":[{"id":"g","displayName":"G","members@delta":[{"id":"u1"},{"id":"u2"}]}]}"##,
            r##"{"value":[{"id":"g","displayName":"G","members@delta":[{"id":"u3","@odata.type":"#microsoft.graph.group"},{"id":"u1","@removed":{"reason":"deleted"}}]}]}"##,
            r##"{"value":[{"id":"h","displayName":"H"}]}"##,
        ]);
        let g = &f.groups["g"];
        assert_eq!(g.display_name.as_deref(), Some("G"));
        assert_eq!(g.added.keys().collect::<Vec<_>>(), ["u2", "u3"]);
        assert_eq!(g.removed.iter().collect::<Vec<_>>(), ["u1"]);
        assert!(
            f.groups["h"].added.is_empty(),
            "no members@delta: no change"
        );
    }
}
