//! The peers' approach, for comparison: what Bitwarden's Directory Connector and ssosync do
//! every cycle — list every user, every group and every group's members (`/users`, `/groups`,
//! `/groups/{id}/members`) and compare the whole directory with the last listing — against the
//! same emulator, over the same loopback. Eight group listings run at a time (more generous
//! than the tools themselves, which list one after another).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use serde_json::Value;

/// A whole directory as listed: users by id, and each group's member ids.
#[derive(Default, PartialEq)]
pub struct Directory {
    pub users: BTreeMap<String, Value>,
    pub members: BTreeMap<String, BTreeSet<String>>,
}

/// Lists the whole directory; returns it with the number of requests it took.
pub async fn list(
    client: &reqwest::Client,
    base: &str,
    bearer: &str,
    select: &str,
) -> (Directory, u64) {
    let mut requests = 0;
    let mut directory = Directory::default();
    let users = format!("{base}/v1.0/users?$select={select}&$top=999");
    for page in pages(client, bearer, users, &mut requests).await {
        for user in page["value"].as_array().into_iter().flatten() {
            let id = user["id"].as_str().unwrap_or_default().to_owned();
            directory.users.insert(id, user.clone());
        }
    }
    let mut groups = Vec::new();
    for page in pages(
        client,
        bearer,
        format!("{base}/v1.0/groups?$top=999"),
        &mut requests,
    )
    .await
    {
        for group in page["value"].as_array().into_iter().flatten() {
            groups.push(group["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    let listings = futures_util::stream::iter(groups.into_iter().map(|group| async move {
        let mut requests = 0;
        let url = format!("{base}/v1.0/groups/{group}/members?$select=id&$top=999");
        let members: BTreeSet<String> = pages(client, bearer, url, &mut requests)
            .await
            .iter()
            .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect();
        (group, members, requests)
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    for (group, members, count) in listings {
        requests += count;
        directory.members.insert(group, members);
    }
    (directory, requests)
}

/// What changed between two listings: users added, changed or gone, and memberships added or
/// removed — the comparison the peers make in full every cycle.
pub fn compare(before: &Directory, after: &Directory) -> usize {
    let users = after
        .users
        .iter()
        .filter(|(id, user)| before.users.get(*id) != Some(user))
        .count()
        + before
            .users
            .keys()
            .filter(|id| !after.users.contains_key(*id))
            .count();
    let empty = BTreeSet::new();
    let memberships: usize = after
        .members
        .iter()
        .map(|(group, members)| {
            let was = before.members.get(group).unwrap_or(&empty);
            members.symmetric_difference(was).count()
        })
        .sum();
    users + memberships
}

/// Every page from `url`, following `@odata.nextLink` (a delta round ends in a delta link
/// instead); counts the requests.
pub async fn pages(
    client: &reqwest::Client,
    bearer: &str,
    mut url: String,
    requests: &mut u64,
) -> Vec<Value> {
    let mut pages = Vec::new();
    loop {
        let page: Value = client
            .get(&url)
            .bearer_auth(bearer)
            .send()
            .await
            .expect("a page")
            .json()
            .await
            .expect("page JSON");
        *requests += 1;
        let next = page["@odata.nextLink"].as_str().map(str::to_owned);
        pages.push(page);
        match next {
            Some(next) => url = next,
            None => return pages,
        }
    }
}
