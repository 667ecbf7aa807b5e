//! The IP range index in memory: built from misp-load's range index
//! (`<prefix>-ranges` and its chunks, see `misp_enrich_core::ranges`), held
//! behind an `ArcSwap` so lookups never lock, replaced whole on refresh.
//!
//! The structure: one sorted array of network addresses per prefix length
//! that occurs, most specific first. An address is masked to each length and
//! binary-searched: O(L log n) for L distinct prefix lengths (a handful in
//! practice), no allocation, and every enclosing range is found, not only
//! the longest match, so `10.1.2.3` reports both `10.1.0.0/16` and
//! `10.0.0.0/8` when MISP has both. It is built once per refresh and never
//! mutated, which is all the index needs; a trie crate would add a
//! dependency for mutation we do not use.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use misp_enrich_core::ranges::{decode_chunk, RangeIndexHead};
use misp_enrich_core::{Entry, EntryList, Keyspace, ServerRing};
use misp_enrich_memcached::{Connection, Timeouts};
use thiserror::Error;

use crate::config::Login;
use crate::servers::{login_hint, open};

/// Chunk counts above this are refused as corrupt (at 512 KiB per chunk,
/// this is 2 GiB of ranges).
const MAX_CHUNKS: u32 = 4096;

/// Ranges of one prefix length.
#[derive(Debug, Default)]
struct Level<T> {
    prefix_len: u8,
    mask: T,
    /// (network address, index into `RangeIndex::nets`), sorted.
    nets: Vec<(T, u32)>,
}

/// The IP ranges of MISP, ready for lookups.
#[derive(Debug, Default)]
pub(crate) struct RangeIndex {
    /// The generation loaded (`None`: no index in memcached).
    pub generation: Option<u64>,
    nets: Vec<(IpNet, Arc<[Entry]>)>,
    v4: Vec<Level<u32>>,
    v6: Vec<Level<u128>>,
    /// Lines of the chunks that did not parse.
    pub bad_lines: usize,
}

impl RangeIndex {
    /// An index from `(range, entries)` pairs; entries of a range listed
    /// twice are merged.
    pub(crate) fn build(
        generation: Option<u64>,
        ranges: Vec<(IpNet, EntryList)>,
        bad_lines: usize,
    ) -> Self {
        let mut merged: Vec<(IpNet, EntryList)> = Vec::with_capacity(ranges.len());
        let mut sorted = ranges;
        sorted.sort_by_key(|a| a.0);
        for (net, entries) in sorted {
            let net = net.trunc();
            match merged.last_mut() {
                Some((last, list)) if *last == net => {
                    list.merge(&entries);
                }
                _ => merged.push((net, entries)),
            }
        }
        let nets: Vec<(IpNet, Arc<[Entry]>)> = merged
            .into_iter()
            .map(|(n, list)| (n, Arc::from(list.entries())))
            .collect();
        let mut index = RangeIndex {
            generation,
            bad_lines,
            ..RangeIndex::default()
        };
        for (i, (net, _)) in nets.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match net {
                IpNet::V4(n) => {
                    let len = n.prefix_len();
                    let level = level(&mut index.v4, len, mask4(len));
                    level.nets.push((u32::from(n.network()), i));
                }
                IpNet::V6(n) => {
                    let len = n.prefix_len();
                    let level = level(&mut index.v6, len, mask6(len));
                    level.nets.push((u128::from(n.network()), i));
                }
            }
        }
        for l in &mut index.v4 {
            l.nets.sort_unstable();
        }
        for l in &mut index.v6 {
            l.nets.sort_unstable();
        }
        index.v4.sort_by_key(|l| std::cmp::Reverse(l.prefix_len));
        index.v6.sort_by_key(|l| std::cmp::Reverse(l.prefix_len));
        index.nets = nets;
        index
    }

    /// Number of ranges.
    pub(crate) fn len(&self) -> usize {
        self.nets.len()
    }

    /// Appends the indexes of every range containing `addr`, most specific first.
    pub(crate) fn find(&self, addr: IpAddr, out: &mut Vec<u32>) {
        match addr {
            IpAddr::V4(a) => find_in(&self.v4, u32::from(a), out),
            IpAddr::V6(a) => find_in(&self.v6, u128::from(a), out),
        }
    }

    /// The range at `index` (from [`Self::find`]).
    pub(crate) fn get(&self, index: u32) -> Option<&(IpNet, Arc<[Entry]>)> {
        self.nets.get(index as usize)
    }
}

fn level<T: Default>(levels: &mut Vec<Level<T>>, prefix_len: u8, mask: T) -> &mut Level<T> {
    let at = match levels.iter().position(|l| l.prefix_len == prefix_len) {
        Some(at) => at,
        None => {
            levels.push(Level {
                prefix_len,
                mask,
                nets: Vec::new(),
            });
            levels.len() - 1
        }
    };
    &mut levels[at]
}

fn find_in<T>(levels: &[Level<T>], addr: T, out: &mut Vec<u32>)
where
    T: Copy + Ord + std::ops::BitAnd<Output = T>,
{
    for l in levels {
        let net = addr & l.mask;
        if let Ok(at) = l.nets.binary_search_by(|(n, _)| n.cmp(&net)) {
            out.push(l.nets[at].1);
        }
    }
}

fn mask4(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// Why a refresh failed (the old index stays in use).
#[derive(Debug, Error)]
pub(crate) enum RefreshError {
    #[error("cannot read the range index from memcached: {0}")]
    Memcached(#[from] misp_enrich_memcached::Error),
    #[error("the range index head `{0}` is not `v1 <generation> <chunks>`")]
    BadHead(String),
    #[error("the range index claims {0} chunks (at most {MAX_CHUNKS} are accepted)")]
    TooManyChunks(u32),
    #[error(
        "chunk {0} of the range index is missing or not text (misp-load may be writing a new one)"
    )]
    MissingChunk(u32),
}

/// Reads the range index from memcached. `Ok(None)`: the generation in
/// memcached is `current`, nothing to do.
pub(crate) fn load(
    ring: &ServerRing,
    keyspace: &Keyspace,
    timeouts: Timeouts,
    current: Option<u64>,
    current_is_empty: bool,
    login: Option<&Login>,
) -> Result<Option<RangeIndex>, RefreshError> {
    let mut conns: Vec<Option<Connection>> = ring.servers().iter().map(|_| None).collect();
    let mut get = |keys: &[String]| -> Result<Vec<Option<Vec<u8>>>, RefreshError> {
        let mut out = vec![None; keys.len()];
        let mut by_server: Vec<Vec<usize>> = vec![Vec::new(); conns.len()];
        for (i, k) in keys.iter().enumerate() {
            by_server[ring.server_for(k.as_bytes())].push(i);
        }
        for (s, wanted) in by_server.iter().enumerate() {
            if wanted.is_empty() {
                continue;
            }
            let conn = match &mut conns[s] {
                Some(c) => c,
                slot => slot.insert(open(&ring.servers()[s], timeouts, login, None)?),
            };
            let ks: Vec<&String> = wanted.iter().map(|&i| &keys[i]).collect();
            let items = conn.get_multi(&ks, false).map_err(login_hint)?;
            for (&i, item) in wanted.iter().zip(items) {
                out[i] = item.filter(|it| it.flags == 0).map(|it| it.value);
            }
        }
        Ok(out)
    };
    let head = get(&[keyspace.ranges_head_key()])?.pop().flatten();
    let Some(head) = head else {
        return Ok((current.is_some() || !current_is_empty).then(RangeIndex::default));
    };
    let text = String::from_utf8_lossy(&head);
    let head = RangeIndexHead::parse(&text)
        .ok_or_else(|| RefreshError::BadHead(misp_enrich_core::excerpt(&text)))?;
    if Some(head.generation) == current {
        return Ok(None);
    }
    if head.chunks > MAX_CHUNKS {
        return Err(RefreshError::TooManyChunks(head.chunks));
    }
    let keys: Vec<String> = (0..head.chunks)
        .map(|n| keyspace.ranges_chunk_key(head.generation, n))
        .collect();
    let mut ranges = Vec::new();
    let mut bad_lines = 0;
    for (n, chunk) in (0..head.chunks).zip(get(&keys)?) {
        let text = chunk
            .and_then(|c| String::from_utf8(c).ok())
            .ok_or(RefreshError::MissingChunk(n))?;
        let (mut part, bad) = decode_chunk(&text);
        ranges.append(&mut part);
        bad_lines += bad;
    }
    Ok(Some(RangeIndex::build(
        Some(head.generation),
        ranges,
        bad_lines,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn list(s: &str) -> EntryList {
        EntryList::parse(s).entries
    }

    fn found(index: &RangeIndex, addr: &str) -> Vec<String> {
        let mut out = Vec::new();
        index.find(addr.parse().unwrap_or_else(|e| panic!("{e}")), &mut out);
        out.iter()
            .filter_map(|i| index.get(*i))
            .map(|(n, _)| n.to_string())
            .collect()
    }

    #[test]
    fn finds_every_enclosing_range_most_specific_first() {
        let index = RangeIndex::build(
            Some(1),
            vec![
                (net("10.0.0.0/8"), list("1#ip-dst")),
                (net("10.1.0.0/16"), list("2#ip-dst")),
                (net("10.1.0.0/16"), list("3#ip-src,2#ip-dst")),
                (net("192.168.0.0/24"), list("4#ip-dst")),
                (net("2001:db8::/32"), list("5#ip-dst")),
                (net("0.0.0.0/0"), list("6#ip-dst")),
            ],
            0,
        );
        assert_eq!(index.len(), 5);
        assert_eq!(
            found(&index, "10.1.2.3"),
            vec!["10.1.0.0/16", "10.0.0.0/8", "0.0.0.0/0"]
        );
        assert_eq!(found(&index, "10.2.0.1"), vec!["10.0.0.0/8", "0.0.0.0/0"]);
        assert_eq!(found(&index, "192.168.1.1"), vec!["0.0.0.0/0"]);
        assert_eq!(
            found(&index, "192.168.0.255"),
            vec!["192.168.0.0/24", "0.0.0.0/0"]
        );
        assert_eq!(found(&index, "2001:db8:1::1"), vec!["2001:db8::/32"]);
        assert_eq!(found(&index, "2001:db9::1"), Vec::<String>::new());
        let mut out = Vec::new();
        index.find(
            "10.1.0.0".parse().unwrap_or_else(|e| panic!("{e}")),
            &mut out,
        );
        let merged = index.get(out[0]).map(|(_, e)| e.len());
        assert_eq!(merged, Some(2), "entries of a duplicated range are merged");
    }

    #[test]
    fn masks_cover_the_edges() {
        assert_eq!(mask4(0), 0);
        assert_eq!(mask4(32), u32::MAX);
        assert_eq!(mask4(8), 0xff00_0000);
        assert_eq!(mask6(0), 0);
        assert_eq!(mask6(128), u128::MAX);
    }
}
