//! The pages of `users/delta` and `groups/delta`, cut from the tenant as graph-delta.md §2–3
//! describes them.
//!
//! Part of `emulator/`: `delta_request.rs` decodes the request into a [`Cursor`] and gets the
//! page's objects here, plus the cursor of the next page (or none: the round ends with a delta
//! link). A full round lists the current state; an incremental one lists each object changed
//! between the two log positions once, in its current state — users whole (every selected
//! property), groups with only their changed memberships in `members@delta`. A large group is
//! cut across pages and repeated on each with the next slice of its members.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::cursor::{Cursor, Query, Resume};
use super::tenant::{Change, Presence, Tenant};

/// Graph's `users/delta` properties when the query has no `$select` (graph-delta.md §2).
pub const DEFAULT_USER_SELECT: [&str; 10] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// One page's objects, and where the next page starts (`None`: this page ends the round).
pub struct PageOut {
    pub value: Vec<Value>,
    pub next: Option<Resume>,
}

/// An object with `id` and those of `props` that `select` names (a property never set is
/// omitted, as Graph omits it).
pub fn project(id: &str, props: &Map<String, Value>, select: &[&str]) -> Value {
    let mut object = Map::with_capacity(select.len() + 1);
    object.insert("id".into(), Value::String(id.to_owned()));
    for prop in select {
        if let Some((key, value)) = props.iter().find(|(k, _)| k.eq_ignore_ascii_case(prop)) {
            object.insert(key.clone(), value.clone());
        }
    }
    Value::Object(object)
}

pub fn selected<'a>(query: &'a Query, defaults: &'a [&'a str]) -> Vec<&'a str> {
    match &query.select {
        Some(select) => select.iter().map(String::as_str).collect(),
        None => defaults.to_vec(),
    }
}

fn named(select: &[&str], prop: &str) -> bool {
    select.iter().any(|s| s.eq_ignore_ascii_case(prop))
}

fn in_filter(query: &Query, id: &str) -> bool {
    query
        .filter
        .as_ref()
        .is_none_or(|ids| ids.binary_search_by(|i| i.as_str().cmp(id)).is_ok())
}

fn starts_after(resume: &Option<Resume>, id: &str) -> bool {
    match resume {
        None => true,
        Some(Resume::After(after)) => id > after.as_str(),
        Some(Resume::Within(within, _)) => id >= within.as_str(),
    }
}

fn removed(id: &str, reason: &str) -> Value {
    json!({"id": id, "@removed": {"reason": reason}})
}

/// A page of `users/delta`.
pub fn users_page(tenant: &Tenant, cursor: &Cursor, page_size: usize) -> PageOut {
    let select = selected(&cursor.query, &DEFAULT_USER_SELECT);
    let ids: Vec<&String> = match cursor.since {
        None => tenant
            .users
            .iter()
            .filter(|(_, u)| u.presence != Presence::HardDeleted)
            .map(|(id, _)| id)
            .filter(|id| starts_after(&cursor.resume, id) && in_filter(&cursor.query, id))
            .take(page_size + 1)
            .collect(),
        Some(since) => {
            let mut changed = BTreeSet::new();
            for change in tenant.changes(since, cursor.upto) {
                match change {
                    Change::User { id, props }
                        if props
                            .as_ref()
                            .is_none_or(|p| p.iter().any(|p| named(&select, p))) =>
                    {
                        changed.insert(id);
                    }
                    Change::UserRemoved { id } => {
                        changed.insert(id);
                    }
                    _ => {}
                }
            }
            changed
                .into_iter()
                .filter(|id| starts_after(&cursor.resume, id) && in_filter(&cursor.query, id))
                .take(page_size + 1)
                .collect()
        }
    };
    let more = ids.len() > page_size;
    let page = &ids[..ids.len().min(page_size)];
    let value = page
        .iter()
        .filter_map(|id| {
            let user = tenant.users.get(id.as_str())?;
            Some(match user.presence.removed_reason() {
                Some(reason) => removed(id, reason),
                None => project(id, &user.props, &select),
            })
        })
        .collect();
    let next = match (more, page.last()) {
        (true, Some(last)) => Some(Resume::After((*last).clone())),
        _ => None,
    };
    PageOut { value, next }
}

/// One group as a round reports it.
struct GroupItem {
    id: String,
    removed: Option<&'static str>,
    /// `(member id, is a group, removed)`.
    members: Vec<(String, bool, bool)>,
}

/// What changed in one group between two log positions.
#[derive(Default)]
struct GroupDelta {
    removed: bool,
    props: bool,
    members: BTreeMap<String, bool>,
}

/// A page of `groups/delta`: at most `member_budget` members and `group_budget` groups.
pub fn groups_page(
    tenant: &Tenant,
    cursor: &Cursor,
    member_budget: usize,
    group_budget: usize,
) -> PageOut {
    let select = selected(&cursor.query, &[]);
    let with_members = cursor.query.select.is_none() || named(&select, "members");
    let props_of = |id: &str| -> Map<String, Value> {
        let Some(group) = tenant.groups.get(id) else {
            return Map::new();
        };
        group
            .props
            .iter()
            .filter(|(k, _)| cursor.query.select.is_none() || named(&select, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let kind = |member: &str| tenant.is_group(member);
    let items: Box<dyn Iterator<Item = GroupItem> + '_> = match cursor.since {
        None => {
            let ids: Vec<String> = match &cursor.query.filter {
                Some(ids) => ids.clone(),
                None => tenant.group_ids(),
            };
            Box::new(
                ids.into_iter()
                    .filter(move |id| starts_after(&cursor.resume, id))
                    .filter_map(move |id| {
                        let group = tenant.groups.get(&id)?;
                        let removed = group.presence.removed_reason();
                        let members = if removed.is_some() || !with_members {
                            Vec::new()
                        } else {
                            group
                                .members
                                .iter()
                                .map(|m| (m.clone(), kind(m), false))
                                .collect()
                        };
                        Some(GroupItem {
                            id,
                            removed,
                            members,
                        })
                    }),
            )
        }
        Some(since) => {
            let mut deltas: BTreeMap<&str, GroupDelta> = BTreeMap::new();
            for change in tenant.changes(since, cursor.upto) {
                match change {
                    Change::Group { id, props } => {
                        let relevant = props.as_ref().is_none_or(|p| {
                            cursor.query.select.is_none() || p.iter().any(|p| named(&select, p))
                        });
                        if relevant {
                            deltas.entry(id).or_default().props = true;
                        }
                    }
                    Change::GroupRemoved { id } => deltas.entry(id).or_default().removed = true,
                    Change::Member {
                        group,
                        member,
                        added,
                    } if with_members => {
                        deltas
                            .entry(group)
                            .or_default()
                            .members
                            .insert(member.clone(), *added);
                    }
                    _ => {}
                }
            }
            Box::new(
                deltas
                    .into_iter()
                    .filter(|(id, _)| in_filter(&cursor.query, id))
                    .filter(|(id, _)| starts_after(&cursor.resume, id))
                    .filter_map(|(id, delta)| {
                        let group = tenant.groups.get(id)?;
                        let removed = group.presence.removed_reason();
                        let members = if removed.is_some() {
                            Vec::new()
                        } else {
                            delta
                                .members
                                .into_iter()
                                .map(|(m, added)| {
                                    let is_group = kind(&m);
                                    (m, is_group, !added)
                                })
                                .collect()
                        };
                        (delta.removed || delta.props || !members.is_empty()).then(|| GroupItem {
                            id: id.to_owned(),
                            removed,
                            members,
                        })
                    }),
            )
        }
    };
    let mut items = items.peekable();
    let mut offset = match &cursor.resume {
        Some(Resume::Within(_, offset)) => *offset,
        _ => 0,
    };
    let mut members_left = member_budget.max(1);
    let mut groups_left = group_budget.max(1);
    let mut value = Vec::new();
    while let Some(item) = items.next() {
        if let Some(reason) = item.removed {
            value.push(removed(&item.id, reason));
        } else {
            let rest = item.members.get(offset..).unwrap_or_default();
            let take = rest.len().min(members_left);
            let mut object = props_of(&item.id);
            object.insert("id".into(), Value::String(item.id.clone()));
            if !item.members.is_empty() {
                let slice = rest[..take].iter().map(|(id, is_group, gone)| {
                    let kind = if *is_group { "group" } else { "user" };
                    let mut entry =
                        json!({"@odata.type": format!("#microsoft.graph.{kind}"), "id": id});
                    if *gone {
                        entry["@removed"] = json!({"reason": "deleted"});
                    }
                    entry
                });
                object.insert("members@delta".into(), Value::Array(slice.collect()));
            }
            value.push(Value::Object(object));
            members_left -= take;
            if take < rest.len() {
                return PageOut {
                    value,
                    next: Some(Resume::Within(item.id, offset + take)),
                };
            }
        }
        offset = 0;
        groups_left -= 1;
        if (members_left == 0 || groups_left == 0) && items.peek().is_some() {
            return PageOut {
                value,
                next: Some(Resume::After(item.id)),
            };
        }
    }
    PageOut { value, next: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cursor(since: Option<u64>, upto: u64, select: &[&str]) -> Cursor {
        Cursor {
            query: Query {
                select: Some(select.iter().map(|s| (*s).to_owned()).collect()),
                filter: None,
            },
            since,
            upto,
            page: 0,
            resume: None,
            generation: 0,
            round: 0,
        }
    }

    /// Follows a round to its end, returning every page.
    fn round(t: &Tenant, mut c: Cursor, groups: bool, size: usize) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        loop {
            let out = if groups {
                groups_page(t, &c, size, 100)
            } else {
                users_page(t, &c, size)
            };
            pages.push(out.value);
            match out.next {
                Some(resume) => c.resume = Some(resume),
                None => return pages,
            }
        }
    }

    #[test]
    fn a_large_group_repeats_across_pages_with_the_next_slice() {
        let mut t = Tenant::new("t", "c");
        let g = t.add_group("Big");
        for i in 0..12 {
            let u = t.add_user(json!({"userPrincipalName": format!("u{i}@x")}));
            t.add_member(&g, &u);
        }
        let pages = round(
            &t,
            cursor(None, t.position(), &["displayName", "members"]),
            true,
            5,
        );
        assert_eq!(pages.len(), 3);
        let sizes: Vec<usize> = pages
            .iter()
            .map(|p| p[0]["members@delta"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(sizes, [5, 5, 2]);
        assert!(pages.iter().all(|p| p[0]["displayName"] == "Big"));
    }

    #[test]
    fn an_incremental_round_names_each_changed_object_once() {
        let mut t = Tenant::new("t", "c");
        let a = t.add_user(json!({"userPrincipalName": "a@x", "jobTitle": "A"}));
        let b = t.add_user(json!({"userPrincipalName": "b@x"}));
        let g = t.add_group("G");
        t.add_member(&g, &a);
        let since = t.position();
        t.update_user(&a, json!({"jobTitle": "B"}));
        t.update_user(&a, json!({"jobTitle": "C"}));
        t.update_user(&b, json!({"preferredLanguage": "nb"}));
        t.remove_member(&g, &a);
        t.add_member(&g, &b);
        let users = round(
            &t,
            cursor(Some(since), t.position(), &["jobTitle"]),
            false,
            10,
        );
        assert_eq!(
            users,
            [vec![json!({"id": a, "jobTitle": "C"})]],
            "b's change is not selected"
        );
        let groups = round(
            &t,
            cursor(Some(since), t.position(), &["displayName", "members"]),
            true,
            10,
        );
        let members = groups[0][0]["members@delta"]
            .as_array()
            .expect("member changes");
        assert_eq!(members.len(), 2);
        let gone = members.iter().find(|m| m["id"] == a.as_str()).expect("a");
        assert_eq!(gone["@removed"]["reason"], "deleted");
    }

    #[test]
    fn deleted_users_show_as_removed_with_the_reason() {
        let mut t = Tenant::new("t", "c");
        let a = t.add_user(json!({"userPrincipalName": "a@x"}));
        let b = t.add_user(json!({"userPrincipalName": "b@x"}));
        let since = t.position();
        t.soft_delete_user(&a);
        t.hard_delete_user(&b);
        let pages = round(
            &t,
            cursor(Some(since), t.position(), &["userPrincipalName"]),
            false,
            10,
        );
        let reasons: BTreeMap<String, String> = pages[0]
            .iter()
            .map(|v| {
                (
                    v["id"].as_str().unwrap().to_owned(),
                    v["@removed"]["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(reasons[&a], "changed");
        assert_eq!(reasons[&b], "deleted");
        // A full round lists the soft-deleted one as removed and omits the purged one.
        let full = round(
            &t,
            cursor(None, t.position(), &["userPrincipalName"]),
            false,
            10,
        );
        assert_eq!(
            full,
            [vec![json!({"id": a, "@removed": {"reason": "changed"}})]]
        );
    }
}
