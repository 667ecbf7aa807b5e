//! The batch wire format: one buffer in (every value of a Logstash batch),
//! one buffer out (only the slots that matched or failed). Built for one copy
//! each way across JRuby's FFI; specified in `docs/engine.md`.
//!
//! All integers are little-endian. In:
//!
//! ```text
//! "MEL1"  u32 count  count × { u32 slot, u8 namespace id, u32 len, len bytes }
//! ```
//!
//! Out:
//!
//! ```text
//! "MER1"  u32 records  records × { u32 slot, u8 flags (1 = failed), u32 matches,
//!           matches × { u8 namespace id, u8 kind (0 exact, 1 range, 2 suffix),
//!                       u32 len, matched value, u32 entries,
//!                       entries × { u32 len, event id, u32 len, MISP type } } }
//!         u32 events  events × { u32 len, event id, u32 len, metadata JSON }
//! ```
//!
//! The decoder is strict about structure (every length is bounds-checked
//! before use, the item count is checked against the bytes present before
//! anything is allocated, nothing may follow the last item) and lenient
//! about values: a value that cannot be an indicator (not UTF-8, too long)
//! is passed on and skipped by the engine, so hostile log data can fail only
//! its own lookup, never the batch.

use std::ffi::CStr;
use std::sync::LazyLock;

use misp_enrich_core::Namespace;

use crate::error::WireError;
use crate::{MatchKind, Outcome};

/// Magic bytes that start a batch buffer.
pub const REQUEST_MAGIC: &[u8; 4] = b"MEL1";
/// Magic bytes that start a result buffer.
pub const RESULT_MAGIC: &[u8; 4] = b"MER1";
/// Most items one batch may carry (a Logstash batch of 125 events with a few
/// fields holds hundreds).
pub const MAX_ITEMS: u32 = 4 * 1024 * 1024;
/// Bytes of an item without its value.
const ITEM_HEAD: usize = 4 + 1 + 4;

/// What an item's value is: a value of one namespace, or Sysmon's `Hashes`
/// string, whose parts go to their own namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A value of this namespace.
    Namespace(Namespace),
    /// Sysmon's `Hashes` field: `SHA1=...,MD5=...,SHA256=...,IMPHASH=...`.
    SysmonHashes,
}

/// The name of the Sysmon `Hashes` pseudo-namespace.
pub const SYSMON_HASHES: &str = "hashes";

impl Kind {
    /// The wire id: the position in [`Kind::all`].
    pub fn id(self) -> u8 {
        match self {
            Kind::Namespace(ns) => namespace_id(ns),
            Kind::SysmonHashes => Namespace::ALL.len() as u8,
        }
    }

    /// The kind with wire id `id`.
    pub fn from_id(id: u8) -> Option<Kind> {
        let id = usize::from(id);
        match Namespace::ALL.get(id) {
            Some(ns) => Some(Kind::Namespace(*ns)),
            None if id == Namespace::ALL.len() => Some(Kind::SysmonHashes),
            None => None,
        }
    }

    /// Every kind, in wire-id order.
    pub fn all() -> impl Iterator<Item = Kind> {
        (0..=u8::MAX).map_while(Kind::from_id)
    }

    /// The name (`sha256`, ..., `hashes`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace(ns) => ns.name(),
            Kind::SysmonHashes => SYSMON_HASHES,
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::all().find(|k| k.name() == name)
    }
}

/// The wire id of a namespace (its position in `Namespace::ALL`).
pub fn namespace_id(ns: Namespace) -> u8 {
    // `Namespace::ALL` has a few dozen entries; the id always fits a u8
    // (checked by a test), so the fallback is never taken.
    Namespace::ALL
        .iter()
        .position(|n| *n == ns)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(u8::MAX)
}

/// Every kind's name, one per line, in wire-id order, NUL-terminated: what
/// `misp_enrich_namespaces()` returns, so the plugin never hard-codes ids.
pub fn namespace_table() -> &'static CStr {
    static TABLE: LazyLock<Vec<u8>> = LazyLock::new(|| {
        let mut names = Kind::all()
            .map(Kind::name)
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        names.push(0);
        names
    });
    CStr::from_bytes_with_nul(&TABLE).unwrap_or(c"")
}

/// One item of a batch, borrowing its value from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// The caller's slot (e.g. the event's index in the batch).
    pub slot: u32,
    /// What the value is.
    pub kind: Kind,
    /// The raw value (normally UTF-8; anything else never matches).
    pub value: &'a [u8],
}

/// Decodes a batch buffer.
pub fn decode(buf: &[u8]) -> Result<Vec<Item<'_>>, WireError> {
    let mut r = Reader { buf, at: 0 };
    if r.take(4, "the magic")? != REQUEST_MAGIC {
        return Err(WireError::BadMagic);
    }
    let count = r.u32("the item count")?;
    if count > MAX_ITEMS {
        return Err(WireError::BadCount {
            count,
            why: format!("at most {MAX_ITEMS} are allowed per batch"),
        });
    }
    let left = buf.len() - r.at;
    if count as usize > left / ITEM_HEAD {
        return Err(WireError::BadCount {
            count,
            why: format!("only {left} bytes follow (each item takes at least {ITEM_HEAD})"),
        });
    }
    let mut items = Vec::with_capacity(count as usize);
    for index in 0..count as usize {
        let slot = r.u32("an item's slot")?;
        let id = r.take(1, "an item's namespace id")?[0];
        let kind = Kind::from_id(id).ok_or(WireError::UnknownNamespace { item: index, id })?;
        let len = r.u32("an item's value length")? as usize;
        let value = r.take(len, "an item's value")?;
        items.push(Item { slot, kind, value });
    }
    if r.at != buf.len() {
        return Err(WireError::TrailingBytes(buf.len() - r.at));
    }
    Ok(items)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let left = self.buf.len() - self.at;
        if n > left {
            return Err(WireError::Truncated {
                at: self.at,
                what,
                need: n,
                left,
            });
        }
        let part = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(part)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Encodes a batch (what the plugin does in Ruby; used by tests and tools).
pub fn encode_request<'a>(items: impl IntoIterator<Item = (u32, Kind, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(REQUEST_MAGIC);
    out.extend_from_slice(&[0; 4]);
    let mut count: u32 = 0;
    for (slot, kind, value) in items {
        out.extend_from_slice(&slot.to_le_bytes());
        out.push(kind.id());
        put_bytes(&mut out, value);
        count = count.wrapping_add(1);
    }
    out[4..8].copy_from_slice(&count.to_le_bytes());
    out
}

/// Appends `u32 len` and the bytes. Lengths over u32 cannot occur: values
/// and metadata come from memcached (at most 16 MiB) or the batch buffer.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..len as usize]);
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Encodes an outcome into the result format.
pub fn encode_outcome(outcome: &Outcome, out: &mut Vec<u8>) {
    out.extend_from_slice(RESULT_MAGIC);
    put_u32(out, outcome.slots.len());
    for slot in &outcome.slots {
        out.extend_from_slice(&slot.slot.to_le_bytes());
        out.push(u8::from(slot.failed));
        put_u32(out, slot.matches.len());
        for m in &slot.matches {
            out.push(namespace_id(m.namespace));
            out.push(match m.kind {
                MatchKind::Exact => 0,
                MatchKind::Range => 1,
                MatchKind::Suffix => 2,
            });
            put_bytes(out, m.value.as_bytes());
            put_u32(out, m.entries.len());
            for e in m.entries.iter() {
                put_bytes(out, e.event_id().as_bytes());
                put_bytes(out, e.misp_type().as_bytes());
            }
        }
    }
    put_u32(out, outcome.events.len());
    for (id, json) in &outcome.events {
        put_bytes(out, id.as_bytes());
        put_bytes(out, json.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_and_round_trip() {
        let kinds: Vec<Kind> = Kind::all().collect();
        assert_eq!(kinds.len(), Namespace::ALL.len() + 1);
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(usize::from(k.id()), i);
            assert_eq!(Kind::from_name(k.name()), Some(*k));
        }
        assert_eq!(Kind::from_id(kinds.len() as u8), None);
        let table = namespace_table().to_str().unwrap_or_default();
        assert!(table.starts_with("md5\nsha1\n"), "{table}");
        assert!(table.ends_with("\nhashes"));
    }

    #[test]
    fn decodes_what_it_encodes() {
        let ip = Kind::Namespace(Namespace::Ip);
        let buf = encode_request([
            (7, ip, b"10.0.0.1".as_slice()),
            (9, Kind::SysmonHashes, b""),
        ]);
        let items = decode(&buf).unwrap_or_default();
        assert_eq!(
            items,
            vec![
                Item {
                    slot: 7,
                    kind: ip,
                    value: b"10.0.0.1"
                },
                Item {
                    slot: 9,
                    kind: Kind::SysmonHashes,
                    value: b""
                }
            ]
        );
    }

    #[test]
    fn refuses_malformed_buffers() {
        let ip = Kind::Namespace(Namespace::Ip);
        let good = encode_request([(1, ip, b"10.0.0.1".as_slice())]);
        assert!(matches!(decode(b""), Err(WireError::Truncated { .. })));
        assert_eq!(decode(b"XXXX\0\0\0\0"), Err(WireError::BadMagic));
        assert_eq!(decode(b"MEL1\0\0\0\0"), Ok(vec![]));
        assert!(matches!(
            decode(b"MEL1\xff\xff\xff\xff"),
            Err(WireError::BadCount { .. })
        ));
        assert!(matches!(
            decode(b"MEL1\x02\0\0\0"),
            Err(WireError::BadCount { .. })
        ));
        assert!(matches!(
            decode(&good[..good.len() - 1]),
            Err(WireError::Truncated { .. })
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(WireError::TrailingBytes(1)));
        let mut bad_ns = good.clone();
        bad_ns[12] = 200;
        assert_eq!(
            decode(&bad_ns),
            Err(WireError::UnknownNamespace { item: 0, id: 200 })
        );
        let mut huge_len = good;
        huge_len[13..17].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode(&huge_len),
            Err(WireError::Truncated { .. })
        ));
    }
}
