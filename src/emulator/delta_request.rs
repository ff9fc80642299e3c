//! A `users/delta` or `groups/delta` request answered: its `$skiptoken` or `$deltatoken` read
//! (or a round begun, or `$deltatoken=latest` answered with a delta link alone), the page cut,
//! and the page's context and next or delta link added; and the replay fault that repeats an
//! earlier page's objects.
//!
//! Part of `emulator/`: `server.rs` routes delta requests here; the page's objects come from
//! `delta.rs`, the tokens are `cursor.rs`'s. Delta queries accept only `$select` and a `$filter`
//! of ids (at most 50), as Graph's do.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::Shared;
use super::cursor::{Cursor, DeltaToken, Query};
use super::delta::{groups_page, users_page};
use super::faults::{Endpoint, lock};
use super::odata::odata_string;
use super::server::{GraphError, Request};

/// Graph accepts at most this many ids in one delta `$filter`.
const MAX_FILTER_IDS: usize = 50;

/// Puts the objects of an earlier page of the same round in front of this page's.
pub(super) fn replay(shared: &Shared, answer: &mut Value, (round, page): (u64, u32), earlier: u32) {
    let served = lock(&shared.served);
    let Some((_, old)) = served
        .iter()
        .find(|(key, _)| *key == (round, page.saturating_sub(earlier)))
    else {
        return;
    };
    if let Some(Value::Array(values)) = answer.get_mut("value") {
        let mut replayed = old.clone();
        replayed.append(values);
        *values = replayed;
    }
}

/// A page of `users/delta` or `groups/delta`, and its (round, page) for replays.
pub(super) type DeltaPage = (Value, Option<(u64, u32)>);

/// The page a delta request asks for, or the error to send.
pub(super) fn answer(
    shared: &Shared,
    endpoint: Endpoint,
    request: &Request,
) -> Result<DeltaPage, GraphError> {
    let kind = if endpoint == Endpoint::UsersDelta {
        "users"
    } else {
        "groups"
    };
    for unsupported in ["$expand", "$orderby"] {
        if request.get(unsupported).is_some() {
            return Err(GraphError::new(
                400,
                "Request_UnsupportedQuery",
                format!("{unsupported} is not supported with delta queries."),
            ));
        }
    }
    let generation = shared.generation.load(Ordering::SeqCst);
    let tenant = lock(&shared.tenant);
    let new_round = |query: Query, since: Option<u64>| Cursor {
        query,
        since,
        upto: tenant.position(),
        page: 0,
        resume: None,
        generation,
        round: shared.rounds.fetch_add(1, Ordering::SeqCst),
    };
    let cursor = if let Some(skip) = request.get("$skiptoken") {
        if request.get("$select").is_some() || request.get("$filter").is_some() {
            return Err(GraphError::new(
                400,
                "Request_BadRequest",
                "$select and $filter cannot be combined with $skiptoken; call the nextLink as returned.",
            ));
        }
        let cursor = Cursor::decode(skip).ok_or_else(|| {
            GraphError::new(400, "Request_BadRequest", "The skip token is invalid.")
        })?;
        if cursor.generation != generation {
            return Err(GraphError::sync_state_not_found());
        }
        cursor
    } else {
        let options = Query {
            select: request.select(),
            filter: id_filter(request.get("$filter"))?,
        };
        match request.get("$deltatoken") {
            None | Some("") => new_round(options, None),
            Some(latest) if latest.eq_ignore_ascii_case("latest") => {
                let token = DeltaToken {
                    query: options,
                    position: tenant.position(),
                    generation,
                };
                let page = json!({
                    "@odata.context": format!("{}/v1.0/$metadata#{kind}", request.base),
                    "@odata.deltaLink": format!("{}/v1.0/{kind}/delta?$deltatoken={}", request.base, token.encode()),
                    "value": [],
                });
                return Ok((page, None));
            }
            Some(token) => {
                let token = DeltaToken::decode(token).ok_or_else(|| {
                    GraphError::new(400, "Request_BadRequest", "The delta token is invalid.")
                })?;
                if token.generation != generation {
                    return Err(GraphError::sync_state_not_found());
                }
                let query = Query {
                    select: options.select.or(token.query.select),
                    filter: token.query.filter,
                };
                new_round(query, Some(token.position))
            }
        }
    };
    let options = &shared.options;
    let out = if endpoint == Endpoint::UsersDelta {
        users_page(&tenant, &cursor, options.user_page_size)
    } else {
        groups_page(
            &tenant,
            &cursor,
            options.member_page_size,
            options.group_page_size,
        )
    };
    drop(tenant);
    let context = match (&cursor.query.select, cursor.page) {
        (Some(select), 0) => {
            // Graph's quirk: the first groups page names its properties without `members`.
            let shown: Vec<&str> = select
                .iter()
                .map(String::as_str)
                .filter(|p| !p.eq_ignore_ascii_case("members"))
                .collect();
            format!(
                "{}/v1.0/$metadata#{kind}({})",
                request.base,
                shown.join(",")
            )
        }
        _ => format!("{}/v1.0/$metadata#{kind}", request.base),
    };
    if shared.faults.may_replay() {
        let mut served = lock(&shared.served);
        served.push_back(((cursor.round, cursor.page), out.value.clone()));
        while served.len() > 32 {
            served.pop_front();
        }
    }
    let mut page = json!({"@odata.context": context, "value": out.value});
    match out.next {
        Some(resume) => {
            let next = Cursor {
                page: cursor.page + 1,
                resume: Some(resume),
                ..cursor.clone()
            };
            page["@odata.nextLink"] = json!(format!(
                "{}/v1.0/{kind}/delta?$skiptoken={}",
                request.base,
                next.encode()
            ));
        }
        None => {
            let token = DeltaToken {
                query: cursor.query.clone(),
                position: cursor.upto,
                generation,
            };
            page["@odata.deltaLink"] = json!(format!(
                "{}/v1.0/{kind}/delta?$deltatoken={}",
                request.base,
                token.encode()
            ));
        }
    }
    Ok((page, Some((cursor.round, cursor.page))))
}

/// `id eq '…' or id eq '…'`, the only `$filter` delta queries accept, as sorted ids.
fn id_filter(filter: Option<&str>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let unsupported = || GraphError::new(400, "Request_UnsupportedQuery", "Unsupported Query.");
    let mut ids = Vec::new();
    let mut rest = filter.trim();
    loop {
        let clause = rest
            .strip_prefix("id")
            .ok_or_else(unsupported)?
            .trim_start();
        let clause = clause
            .strip_prefix("eq")
            .ok_or_else(unsupported)?
            .trim_start();
        let (id, tail) = odata_string(clause).ok_or_else(unsupported)?;
        ids.push(id);
        let tail = tail.trim_start();
        if tail.is_empty() {
            break;
        }
        rest = tail
            .strip_prefix("or ")
            .or_else(|| tail.strip_prefix("OR "))
            .ok_or_else(unsupported)?
            .trim_start();
    }
    if ids.len() > MAX_FILTER_IDS {
        return Err(GraphError::new(
            400,
            "Request_UnsupportedQuery",
            format!(
                "Too many ids in the filter clause: {} (at most {MAX_FILTER_IDS}).",
                ids.len()
            ),
        ));
    }
    ids.sort();
    ids.dedup();
    Ok(Some(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_id_filters_and_refuses_others() {
        let ids = id_filter(Some("id eq 'b' or id eq 'a''x'"))
            .expect("valid")
            .expect("some");
        assert_eq!(ids, ["a'x", "b"]);
        for bad in [
            "displayName eq 'x'",
            "id eq 'a' and id eq 'b'",
            "id eq 'a",
            "id ne 'a'",
        ] {
            assert!(id_filter(Some(bad)).is_err(), "{bad}");
        }
        let many = (0..51)
            .map(|i| format!("id eq '{i}'"))
            .collect::<Vec<_>>()
            .join(" or ");
        let err = id_filter(Some(&many)).expect_err("51 ids");
        assert_eq!(
            (err.status, err.code.as_str()),
            (400, "Request_UnsupportedQuery")
        );
    }
}
