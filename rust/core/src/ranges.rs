//! The IP range index: how CIDR indicators are stored in memcached.
//!
//! MISP allows ranges (`10.0.0.0/8`) in ip-src/ip-dst. A range cannot be an
//! exact key, so misp-load writes all ranges into one index that the plugin
//! loads into memory and refreshes on an interval:
//!
//! - `<prefix>-ranges` (the head) holds `v1 <generation> <chunks>`;
//! - `<prefix>-ranges:<generation>:<n>` for n in 0..chunks holds lines of
//!   `<cidr> <entries>\n`, where `<entries>` is the usual value format.
//!
//! A writer stores the chunks of a new generation first and the head last, so
//! a reader never sees half an index; chunks stay under memcached's default
//! 1 MB item size.

use std::fmt;

use ipnet::IpNet;

use crate::value::EntryList;

/// Chunks are cut below this many bytes.
pub const MAX_CHUNK_BYTES: usize = 512 * 1024;

/// The head record of the range index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeIndexHead {
    /// Changes whenever the index is rewritten.
    pub generation: u64,
    /// Number of chunks in this generation.
    pub chunks: u32,
}

impl RangeIndexHead {
    /// Parses `v1 <generation> <chunks>`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_ascii_whitespace();
        if parts.next()? != "v1" {
            return None;
        }
        let generation = parts.next()?.parse().ok()?;
        let chunks = parts.next()?.parse().ok()?;
        parts
            .next()
            .is_none()
            .then_some(RangeIndexHead { generation, chunks })
    }
}

impl fmt::Display for RangeIndexHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1 {} {}", self.generation, self.chunks)
    }
}

/// Encodes ranges into chunk texts of at most [`MAX_CHUNK_BYTES`] each.
pub fn encode_chunks<'a>(
    ranges: impl IntoIterator<Item = (&'a IpNet, &'a EntryList)>,
) -> Vec<String> {
    let mut chunks = vec![String::new()];
    for (net, entries) in ranges {
        if entries.is_empty() {
            continue;
        }
        let line = format!("{net} {entries}\n");
        let last = chunks.last_mut();
        match last {
            Some(c) if c.len() + line.len() <= MAX_CHUNK_BYTES => c.push_str(&line),
            _ => chunks.push(line),
        }
    }
    if chunks.len() > 1 && chunks[0].is_empty() {
        chunks.remove(0);
    }
    chunks
}

/// Decodes one chunk; lines that do not parse are counted, not fatal.
pub fn decode_chunk(text: &str) -> (Vec<(IpNet, EntryList)>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parsed = line.split_once(' ').and_then(|(net, entries)| {
            let net: IpNet = net.parse().ok()?;
            let parsed = EntryList::parse(entries);
            (!parsed.entries.is_empty()).then_some((net.trunc(), parsed.entries))
        });
        match parsed {
            Some(r) => out.push(r),
            None => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Entry;

    #[test]
    fn head_round_trip() {
        let h = RangeIndexHead {
            generation: 1_700_000_000,
            chunks: 3,
        };
        assert_eq!(RangeIndexHead::parse(&h.to_string()), Some(h));
        for bad in ["", "v2 1 1", "v1 x 1", "v1 1", "v1 1 1 1"] {
            assert_eq!(RangeIndexHead::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn chunks_round_trip_and_stay_small() {
        let entries: EntryList = [Entry::new("7", "ip-dst").unwrap_or_else(|e| panic!("{e}"))]
            .into_iter()
            .collect();
        let nets: Vec<IpNet> = (0..40_000u32)
            .map(|i| {
                IpNet::new(std::net::Ipv4Addr::from(i << 8).into(), 24)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let chunks = encode_chunks(nets.iter().map(|n| (n, &entries)));
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.len() <= MAX_CHUNK_BYTES));
        let decoded: Vec<_> = chunks.iter().flat_map(|c| decode_chunk(c).0).collect();
        assert_eq!(decoded.len(), nets.len());
        assert_eq!(decoded[5], (nets[5], entries.clone()));
        let (ok, bad) = decode_chunk("10.0.0.0/8 1#ip-src\nnot-a-net 1#x\n10.0.0.0/8\n");
        assert_eq!((ok.len(), bad), (1, 2));
    }
}
