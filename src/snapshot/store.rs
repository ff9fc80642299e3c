//! Reading the snapshot's trees (`source → snapshot → rules → plan → target`): the open trees,
//! where they live, and the typed reads that both the public read API and the commit's
//! preparation use. Errors from sled and damaged values become [`SnapshotError`]s naming the
//! folder here, so no other file maps them.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sled::IVec;

use super::layout::{self, TREE_COUNT, TreeId};
use super::{Counts, DeltaLinks, SnapshotError};
use crate::source::Member;

/// The open trees of one snapshot and the folder they live in (`{state_dir}/snapshot`).
pub(super) struct Store {
    trees: [sled::Tree; TREE_COUNT],
    path: PathBuf,
}

impl Store {
    pub(super) fn new(trees: [sled::Tree; TREE_COUNT], path: PathBuf) -> Self {
        Store { trees, path }
    }

    pub(super) fn tree(&self, id: TreeId) -> &sled::Tree {
        &self.trees[id.index()]
    }

    /// Every tree, in [`TreeId::ALL`] order (for a transaction over all of them).
    pub(super) fn trees(&self) -> &[sled::Tree] {
        &self.trees
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Maps a sled error met while doing `action` ("read", "commit to", ...).
    pub(super) fn storage(&self, action: &'static str) -> impl Fn(sled::Error) -> SnapshotError {
        let path = self.path.clone();
        move |e| match e {
            // sled found a damaged page while reading: moving the folder aside is the remedy.
            sled::Error::Corruption { .. } => SnapshotError::Decode {
                path: path.clone(),
                what: "page (sled reports corruption)".into(),
                source: e.into(),
            },
            e => SnapshotError::Storage {
                path: path.clone(),
                action,
                source: e.into(),
            },
        }
    }

    /// A stored value that cannot be read back.
    pub(super) fn damaged(&self, what: impl Into<String>, source: io::Error) -> SnapshotError {
        SnapshotError::Decode {
            path: self.path.clone(),
            what: what.into(),
            source,
        }
    }

    fn damaged_entry(&self, id: TreeId, key: &[u8]) -> SnapshotError {
        self.damaged(
            format!("{} entry {:?}", id.name(), String::from_utf8_lossy(key)),
            io::Error::new(io::ErrorKind::InvalidData, "not in the snapshot's layout"),
        )
    }

    pub(super) fn get(&self, id: TreeId, key: &[u8]) -> Result<Option<IVec>, SnapshotError> {
        self.tree(id).get(key).map_err(self.storage("read"))
    }

    /// The JSON value under `key`, decoded.
    pub(super) fn get_json<T: DeserializeOwned>(
        &self,
        id: TreeId,
        key: &str,
    ) -> Result<Option<T>, SnapshotError> {
        self.get(id, key.as_bytes())?
            .map(|value| {
                layout::decode_json(&value)
                    .map_err(|e| self.damaged(format!("{} entry {key:?}", id.name()), e))
            })
            .transpose()
    }

    /// Every entry of a tree, in key order.
    pub(super) fn entries(
        &self,
        id: TreeId,
    ) -> impl Iterator<Item = Result<(IVec, IVec), SnapshotError>> + '_ {
        self.tree(id)
            .iter()
            .map(|e| e.map_err(self.storage("read")))
    }

    /// A whole tree of id → JSON value.
    pub(super) fn json_map<T: DeserializeOwned>(
        &self,
        id: TreeId,
    ) -> Result<BTreeMap<String, T>, SnapshotError> {
        self.entries(id)
            .map(|entry| {
                let (key, value) = entry?;
                let what = || format!("{} entry {:?}", id.name(), String::from_utf8_lossy(&key));
                let key = layout::decode_id(&key).map_err(|e| self.damaged(what(), e))?;
                let value = layout::decode_json(&value).map_err(|e| self.damaged(what(), e))?;
                Ok((key, value))
            })
            .collect()
    }

    /// A whole tree of UTF-8 key → UTF-8 value.
    pub(super) fn string_map(&self, id: TreeId) -> Result<BTreeMap<String, String>, SnapshotError> {
        self.entries(id)
            .map(|entry| {
                let (key, value) = entry?;
                let what = || format!("{} entry {:?}", id.name(), String::from_utf8_lossy(&key));
                let value = layout::decode_id(&value).map_err(|e| self.damaged(what(), e))?;
                let key = layout::decode_id(&key).map_err(|e| self.damaged(what(), e))?;
                Ok((key, value))
            })
            .collect()
    }

    /// One group's member list in `members` or `transitive`, sorted by member id (empty if the
    /// group has no entry).
    pub(super) fn memberships(
        &self,
        id: TreeId,
        group: &str,
    ) -> Result<Vec<Member>, SnapshotError> {
        match self.get(id, group.as_bytes())? {
            None => Ok(Vec::new()),
            Some(value) => layout::decode_members(&value)
                .ok_or_else(|| self.damaged_entry(id, group.as_bytes())),
        }
    }

    /// Every group's member list in `members` or `transitive`.
    pub(super) fn all_memberships(
        &self,
        id: TreeId,
    ) -> Result<BTreeMap<String, Vec<Member>>, SnapshotError> {
        self.entries(id)
            .map(|entry| {
                let (key, value) = entry?;
                let group = layout::decode_id(&key).map_err(|_| self.damaged_entry(id, &key))?;
                let members =
                    layout::decode_members(&value).ok_or_else(|| self.damaged_entry(id, &key))?;
                Ok((group, members))
            })
            .collect()
    }

    /// Every group's members in `members` or `transitive` that are among `ids` (sorted by id):
    /// what the rules need to evaluate just those users, without allocating every membership of
    /// the tenant. Groups with none of them are left out.
    pub(super) fn memberships_among(
        &self,
        id: TreeId,
        ids: &std::collections::BTreeSet<String>,
    ) -> Result<BTreeMap<String, Vec<Member>>, SnapshotError> {
        let mut lists = BTreeMap::new();
        for entry in self.entries(id) {
            let (key, value) = entry?;
            let members =
                layout::decode_member_refs(&value).ok_or_else(|| self.damaged_entry(id, &key))?;
            // Both sorted by id: one pass over each.
            let mut wanted = ids.iter().peekable();
            let mut found = Vec::new();
            for (member, kind) in members {
                while wanted.next_if(|w| w.as_str() < member).is_some() {}
                match wanted.peek() {
                    None => break,
                    Some(w) if w.as_str() == member => found.push(Member {
                        id: member.to_owned(),
                        kind,
                    }),
                    Some(_) => {}
                }
            }
            if !found.is_empty() {
                let group = layout::decode_id(&key).map_err(|_| self.damaged_entry(id, &key))?;
                lists.insert(group, found);
            }
        }
        Ok(lists)
    }

    /// The groups that have an entry in `members` or `transitive`: one key per group.
    pub(super) fn owners(&self, id: TreeId) -> Result<Vec<String>, SnapshotError> {
        self.tree(id)
            .iter()
            .keys()
            .map(|key| {
                let key = key.map_err(self.storage("read"))?;
                layout::decode_id(&key).map_err(|_| self.damaged_entry(id, &key))
            })
            .collect()
    }

    pub(super) fn counts(&self) -> Result<Counts, SnapshotError> {
        match self.get(TreeId::Meta, layout::COUNTS_KEY)? {
            None => Ok(Counts::default()),
            Some(value) => layout::decode_counts(&value)
                .ok_or_else(|| self.damaged_entry(TreeId::Meta, layout::COUNTS_KEY)),
        }
    }

    pub(super) fn delta_links(&self) -> Result<DeltaLinks, SnapshotError> {
        let mut links = DeltaLinks::default();
        for entry in self.entries(TreeId::Links) {
            let (key, value) = entry?;
            let what = || format!("delta link {:?}", String::from_utf8_lossy(&key));
            let link = layout::decode_id(&value).map_err(|e| self.damaged(what(), e))?;
            if key == layout::USERS_LINK_KEY {
                links.users = Some(link);
            } else if let Some(ids) = layout::decode_group_link_key(&key) {
                let ids = ids.map_err(|e| self.damaged(what(), e))?;
                links.groups.insert(ids, link);
            } else {
                return Err(self.damaged_entry(TreeId::Links, &key));
            }
        }
        Ok(links)
    }
}
