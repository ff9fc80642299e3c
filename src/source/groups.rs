//! Scoped groups: binding the configured names to object ids, and listing a group's members
//! with nested groups resolved (`members = "transitive"`).
//!
//! Part of `source/`. A name is looked up once (`/groups?$filter=displayName eq '…'`) and the
//! binding kept in the snapshot, so a group renamed in Entra stays in scope.

use std::collections::BTreeMap;

use super::SourceError;
use super::http::{Failure, GraphHttp, endpoint, path_of};
use super::model::{MemberKind, RoundStats, ScopedGroup, TransitiveListing};
use super::page::{GroupHit, MemberEntry, Page};

/// True for a GUID-shaped entry (`8-4-4-4-12` hex digits): taken as an object id, not a name.
pub fn looks_like_object_id(entry: &str) -> bool {
    let groups: Vec<&str> = entry.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An OData string literal: quotes doubled.
pub(super) fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Binds each configured entry to a group id: a kept binding, an object id as written, or a
/// lookup by display name that must find exactly one group.
pub async fn resolve(
    http: &GraphHttp,
    graph: &str,
    configured: &[String],
    bindings: &BTreeMap<String, String>,
) -> Result<Vec<ScopedGroup>, SourceError> {
    let mut scoped = Vec::with_capacity(configured.len());
    for entry in configured {
        let id = if let Some(id) = bindings.get(entry) {
            id.clone()
        } else if looks_like_object_id(entry) {
            entry.clone()
        } else {
            let mut url = reqwest::Url::parse(&format!("{graph}/v1.0/groups")).map_err(|e| {
                SourceError::Malformed {
                    path: graph.to_owned(),
                    what: format!("graph_url does not make a URL: {e}"),
                }
            })?;
            url.query_pairs_mut()
                .append_pair(
                    "$filter",
                    &format!("displayName eq {}", odata_string(entry)),
                )
                .append_pair("$select", "id,displayName");
            let page: Page<GroupHit> = http
                .get_json(url.as_str(), &mut 0)
                .await
                .map_err(unexpected_resync)?;
            // Graph compares names without regard to case; keep only exact matches if any.
            let exact: Vec<&GroupHit> = page
                .value
                .iter()
                .filter(|g| g.display_name.as_deref() == Some(entry.as_str()))
                .collect();
            let hits: Vec<&GroupHit> = if exact.is_empty() {
                page.value.iter().collect()
            } else {
                exact
            };
            match hits.as_slice() {
                [one] => one.id.clone(),
                [] => {
                    return Err(SourceError::GroupNotFound {
                        name: entry.clone(),
                    });
                }
                many => {
                    return Err(SourceError::GroupAmbiguous {
                        name: entry.clone(),
                        ids: many
                            .iter()
                            .map(|g| g.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        };
        scoped.push(ScopedGroup {
            configured: entry.clone(),
            id,
        });
    }
    Ok(scoped)
}

/// Every member of a group, nested groups resolved, read in full (Graph has no delta for it).
pub async fn transitive_members(
    http: &GraphHttp,
    graph: &str,
    group_id: &str,
) -> Result<TransitiveListing, SourceError> {
    let mut stats = RoundStats::default();
    let members = list(
        http,
        graph,
        &["groups", group_id, "transitiveMembers"],
        &mut stats,
    )
    .await?;
    Ok(TransitiveListing {
        group_id: group_id.to_owned(),
        members,
        stats,
    })
}

/// Every directory object of a collection under `{graph}/v1.0/` (`groups/{id}/members`,
/// `users/{id}/memberOf`, ...), following `@odata.nextLink`, by id.
pub async fn list(
    http: &GraphHttp,
    graph: &str,
    segments: &[&str],
    stats: &mut RoundStats,
) -> Result<BTreeMap<String, MemberKind>, SourceError> {
    let url = endpoint(graph, segments, &[("$select", "id"), ("$top", "999")])?;
    let entries: Vec<MemberEntry> = every_page(http, url.to_string(), stats).await?;
    Ok(entries
        .into_iter()
        .map(|member| {
            let kind = member.kind();
            (member.id, kind)
        })
        .collect())
}

/// Every item of a collection from its first page at `home`, following `@odata.nextLink`
/// (checked to stay on Graph's origin and to move on).
pub(super) async fn every_page<T: serde::de::DeserializeOwned>(
    http: &GraphHttp,
    home: String,
    stats: &mut RoundStats,
) -> Result<Vec<T>, SourceError> {
    let mut next = Some(home.clone());
    let mut items = Vec::new();
    while let Some(url) = next.take() {
        let page: Page<T> = http
            .get_json(&url, &mut stats.requests)
            .await
            .map_err(unexpected_resync)?;
        stats.pages += 1;
        stats.objects += page.value.len() as u64;
        next = page
            .next_url(&url, &home)
            .map_err(|what| SourceError::Malformed {
                path: path_of(&url),
                what,
            })?;
        items.extend(page.value);
    }
    Ok(items)
}

/// Outside delta queries a resync answer (410) makes no sense: report it as the error it is.
pub(super) fn unexpected_resync(failure: Failure) -> SourceError {
    match failure {
        Failure::Error(err) => err,
        Failure::Resync => SourceError::Malformed {
            path: path_of("groups"),
            what:
                "a resync answer (410 or syncStateNotFound) to a request that is not a delta query"
                    .into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_told_from_names() {
        assert!(looks_like_object_id("02bd9fd6-8f93-4758-87c3-1fb73740a315"));
        assert!(!looks_like_object_id("Stratsys Full Users"));
        assert!(!looks_like_object_id("02bd9fd6-8f93-4758-87c3-1fb73740a31"));
        assert!(!looks_like_object_id(
            "02bd9fd6x8f93-4758-87c3-1fb73740a315"
        ));
    }

    #[test]
    fn quotes_are_doubled_in_odata_strings() {
        assert_eq!(odata_string("O'Brien's team"), "'O''Brien''s team'");
    }
}
