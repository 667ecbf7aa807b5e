//! Keeping the IP range index (core's `ranges` format) in step with MISP.
//! CIDR indicators cannot be exact keys, so they live in one index: chunks of
//! a generation, then a head naming it. An update reads the current index,
//! applies the run's changes, writes the chunks of a new generation, swaps the
//! head with `cas` (or `add` when there is none), and only then deletes the
//! old generation's chunks. A reader following the head never sees half an
//! index, and two runs at once never lose each other's ranges (the loser of
//! the head swap drops its chunks, reads again and retries).

use std::collections::{BTreeMap, HashSet};

use ipnet::IpNet;
use misp_enrich_core::ranges::{decode_chunk, encode_chunks, RangeIndexHead};
use misp_enrich_core::{Entry, EntryList};
use misp_enrich_memcached::{Op, Reply};

use crate::store::{Store, StoreError};

/// Chunks outlive their head by this much, so a head that expires never
/// points at chunks that expired first.
const CHUNK_GRACE_SECS: u32 = 300;

/// What a run changes in the range index.
#[derive(Debug, Clone, Default)]
pub struct RangeChanges {
    /// Ranges and entries to add.
    pub adds: BTreeMap<IpNet, EntryList>,
    /// Entries to remove.
    pub removes: BTreeMap<IpNet, Vec<Entry>>,
    /// Full reconcile: entries of these types that are not in `adds` go.
    pub replace_types: Option<HashSet<String>>,
}

impl RangeChanges {
    /// Records an addition.
    pub fn add(&mut self, net: IpNet, entry: Entry) {
        self.adds.entry(net).or_default().insert(entry);
    }

    /// Records a removal.
    pub fn remove(&mut self, net: IpNet, entry: Entry) {
        let list = self.removes.entry(net).or_default();
        if !list.contains(&entry) {
            list.push(entry);
        }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.removes.is_empty() && self.replace_types.is_none()
    }
}

/// What an update did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RangeCounts {
    /// Ranges in the index afterwards.
    pub total: u64,
    /// Entries added.
    pub added: u64,
    /// Entries removed.
    pub revoked: u64,
    /// Whether a new generation was written.
    pub rewritten: bool,
}

/// The index as read: ranges, and the head with its CAS unique.
#[derive(Debug, Clone, Default)]
pub struct RangeIndex {
    /// The ranges.
    pub ranges: BTreeMap<IpNet, EntryList>,
    /// The head and its CAS unique, if there is an index.
    pub head: Option<(RangeIndexHead, u64)>,
    /// Chunks the head names that were missing (evicted or expired).
    pub missing_chunks: u32,
}

/// Reads the current index.
pub fn read(store: &mut Store) -> Result<RangeIndex, StoreError> {
    let ks = store.keyspace().clone();
    let Some(item) = store.get(&ks.ranges_head_key())? else {
        return Ok(RangeIndex::default());
    };
    let Some(head) = RangeIndexHead::parse(&String::from_utf8_lossy(&item.value)) else {
        tracing::warn!("the range index head is not `v1 <generation> <chunks>`; rebuilding it");
        return Ok(RangeIndex {
            head: Some((
                RangeIndexHead {
                    generation: 0,
                    chunks: 0,
                },
                item.cas,
            )),
            ..RangeIndex::default()
        });
    };
    let keys: Vec<String> = (0..head.chunks)
        .map(|n| ks.ranges_chunk_key(head.generation, n))
        .collect();
    let chunks = store.read(&keys, false)?;
    let mut index = RangeIndex {
        head: Some((head, item.cas)),
        ..RangeIndex::default()
    };
    for chunk in chunks {
        match chunk {
            Some(c) => {
                let (ranges, bad) = decode_chunk(&String::from_utf8_lossy(&c.value));
                if bad > 0 {
                    tracing::warn!("{bad} unreadable lines in the range index dropped");
                }
                for (net, entries) in ranges {
                    index.ranges.entry(net).or_default().merge(&entries);
                }
            }
            None => index.missing_chunks += 1,
        }
    }
    if index.missing_chunks > 0 {
        tracing::warn!(
            "{} of {} range index chunks are missing (evicted or expired); the index is rebuilt from what is left and what this run loads",
            index.missing_chunks,
            head.chunks
        );
    }
    Ok(index)
}

/// Applies `changes` to `ranges`; returns (entries added, entries removed).
pub fn apply(ranges: &mut BTreeMap<IpNet, EntryList>, changes: &RangeChanges) -> (u64, u64) {
    let mut added = 0u64;
    let mut removed = 0u64;
    if let Some(types) = &changes.replace_types {
        for (net, list) in ranges.iter_mut() {
            let fetched = changes.adds.get(net);
            removed += list.retain(|e| {
                !types.contains(e.misp_type()) || fetched.is_some_and(|f| f.entries().contains(e))
            }) as u64;
        }
    }
    for (net, entries) in &changes.removes {
        if let Some(list) = ranges.get_mut(net) {
            removed += list.retain(|e| !entries.contains(e)) as u64;
        }
    }
    for (net, entries) in &changes.adds {
        added += ranges.entry(*net).or_default().merge(entries) as u64;
    }
    ranges.retain(|_, list| !list.is_empty());
    (added, removed)
}

/// A generation number no other run is likely to pick.
fn new_generation(old: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut g = (now as u64) ^ (u64::from(std::process::id()) << 40);
    if g == old || g == 0 {
        g = g.wrapping_add(1).max(1);
    }
    g
}

/// Updates the index with `changes`; `exptime` as for the network category.
pub fn update(
    store: &mut Store,
    changes: &RangeChanges,
    exptime: u32,
    dry_run: bool,
) -> Result<RangeCounts, StoreError> {
    let ks = store.keyspace().clone();
    let head_key = ks.ranges_head_key();
    for _round in 0..16 {
        let mut index = read(store)?;
        let (added, revoked) = apply(&mut index.ranges, changes);
        let counts = RangeCounts {
            total: index.ranges.len() as u64,
            added,
            revoked,
            rewritten: false,
        };
        let unchanged = added == 0 && revoked == 0 && index.missing_chunks == 0 && exptime == 0;
        if (unchanged && (index.head.is_some() || index.ranges.is_empty())) || dry_run {
            return Ok(counts);
        }
        let old = index.head.map(|(h, _)| h);
        let generation = new_generation(old.map_or(0, |h| h.generation));
        let chunks = encode_chunks(index.ranges.iter());
        let chunk_count = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        let chunk_exptime = if exptime == 0 {
            0
        } else {
            exptime.saturating_add(CHUNK_GRACE_SECS)
        };
        let chunk_keys: Vec<String> = (0..chunk_count)
            .map(|n| ks.ranges_chunk_key(generation, n))
            .collect();
        let refused = store.set_many(
            chunk_keys
                .iter()
                .zip(&chunks)
                .map(|(k, c)| (k.clone(), c.as_bytes().to_vec(), chunk_exptime))
                .collect(),
        )?;
        // A missing chunk would make the index lie: fail instead (the old
        // index stays in place, its head untouched).
        if let Some((key, bytes)) = refused.into_iter().next() {
            store.delete_many(chunk_keys)?;
            return Err(crate::store::StoreError::TooLarge {
                server: store.server_addr(&key).to_owned(),
                key,
                bytes,
            });
        }
        let head = RangeIndexHead {
            generation,
            chunks: chunk_count,
        }
        .to_string();
        let reply = match index.head {
            Some((_, cas)) => store.write_one(Op::Cas {
                key: &head_key,
                value: head.as_bytes(),
                exptime,
                cas,
            })?,
            None => store.write_one(Op::Add {
                key: &head_key,
                value: head.as_bytes(),
                exptime,
            })?,
        };
        if reply == Reply::Stored {
            if let Some(old) = old {
                let stale = (0..old.chunks)
                    .map(|n| ks.ranges_chunk_key(old.generation, n))
                    .collect();
                store.delete_many(stale)?;
            }
            return Ok(RangeCounts {
                rewritten: true,
                ..counts
            });
        }
        // Another run swapped the head first: drop ours and start over.
        tracing::debug!("range index head changed by another writer; merging again");
        store.delete_many(chunk_keys)?;
    }
    Err(StoreError::Contention {
        server: ks.ranges_head_key(),
        keys: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn e(id: &str, t: &str) -> Entry {
        Entry::new(id, t).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn merge_revoke_and_replace() {
        let mut ranges = BTreeMap::new();
        let mut c = RangeChanges::default();
        c.add(net("10.0.0.0/8"), e("1", "ip-dst"));
        c.add(net("10.0.0.0/8"), e("2", "ip-src"));
        c.add(net("192.168.0.0/16"), e("3", "ip-dst"));
        assert_eq!(apply(&mut ranges, &c), (3, 0));
        assert_eq!(apply(&mut ranges, &c), (0, 0));

        let mut r = RangeChanges::default();
        r.remove(net("10.0.0.0/8"), e("1", "ip-dst"));
        r.remove(net("192.168.0.0/16"), e("3", "ip-dst"));
        assert_eq!(apply(&mut ranges, &r), (0, 2));
        assert_eq!(ranges.len(), 1);
        assert_eq!(ranges[&net("10.0.0.0/8")].to_string(), "2#ip-src");

        // A full reconcile keeps only what was fetched, for the fetched types.
        ranges
            .entry(net("172.16.0.0/12"))
            .or_default()
            .insert(e("9", "other-type"));
        let mut f = RangeChanges::default();
        f.add(net("10.0.0.0/8"), e("4", "ip-dst"));
        f.replace_types = Some(["ip-src".to_owned(), "ip-dst".to_owned()].into());
        assert_eq!(apply(&mut ranges, &f), (1, 1));
        assert_eq!(ranges[&net("10.0.0.0/8")].to_string(), "4#ip-dst");
        assert!(ranges.contains_key(&net("172.16.0.0/12")));
    }
}
