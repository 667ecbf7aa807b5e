//! Normalisation fast paths for the commonest log values, which are usually
//! canonical already: IPv4 addresses, lower-case domains, hex digests
//! (lower-case, or Sysmon's upper-case, lowered into one buffer per batch
//! instead of one allocation per value).
//!
//! Each path answers only when its result is certain to be what
//! `misp_enrich_core::normalize` gives (property tests compare the two on
//! generated values); everything else goes to the core. The core's general
//! path formats every IP back to text and allocates for upper-case hashes,
//! which was a fifth of a warm-cache lookup.

use std::borrow::Cow;

use misp_enrich_core::{Namespace, ValueKind};

/// A normalised value of a batch.
#[derive(Clone)]
pub(crate) enum Value<'a> {
    /// Borrowed from the batch buffer (already canonical) or computed.
    Text(Cow<'a, str>),
    /// A hex digest lowered into the batch's arena: `arena[start..start + len]`, ASCII.
    Lowered { start: u32, len: u32 },
}

impl<'a> Value<'a> {
    pub(crate) fn bytes<'s>(&'s self, arena: &'s [u8]) -> &'s [u8] {
        match self {
            Value::Text(t) => t.as_bytes(),
            Value::Lowered { start, len } => {
                let start = *start as usize;
                arena.get(start..start + *len as usize).unwrap_or_default()
            }
        }
    }

    pub(crate) fn as_str<'s>(&'s self, arena: &'s [u8]) -> &'s str {
        match self {
            Value::Text(t) => t,
            // Lower-case hex digits only: always UTF-8.
            Value::Lowered { .. } => std::str::from_utf8(self.bytes(arena)).unwrap_or(""),
        }
    }
}

/// The canonical form of `raw` in `ns`, when a fast path is sure of it.
/// Lowered hex digests are appended to `arena`.
pub(crate) fn normalize<'a>(ns: Namespace, raw: &'a str, arena: &mut Vec<u8>) -> Option<Value<'a>> {
    match ns.kind() {
        // Rust's parser takes exactly four decimal octets without leading
        // zeros or spaces, which is exactly the canonical text.
        ValueKind::Ip => raw
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|_| Value::Text(Cow::Borrowed(raw))),
        ValueKind::Domain => plain_domain(raw).then_some(Value::Text(Cow::Borrowed(raw))),
        ValueKind::HexDigest(digits) => hex(raw, digits, arena),
        _ => None,
    }
}

/// A domain already in canonical form: lower-case ASCII letters, digits,
/// `-`, `_` and `.`, no empty label (so no outer or double dot), labels of
/// at most 63 bytes, at most 253 bytes.
fn plain_domain(raw: &str) -> bool {
    if raw.is_empty() || raw.len() > 253 {
        return false;
    }
    let mut label = 0usize;
    for b in raw.bytes() {
        match b {
            b'.' => {
                if label == 0 {
                    return false;
                }
                label = 0;
            }
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {
                label += 1;
                if label > 63 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    label > 0
}

/// Exactly `digits` hex digits, lowered (into `arena` if any was upper-case).
fn hex<'a>(raw: &'a str, digits: usize, arena: &mut Vec<u8>) -> Option<Value<'a>> {
    if raw.len() != digits {
        return None;
    }
    let mut upper = false;
    for b in raw.bytes() {
        match b {
            b'0'..=b'9' | b'a'..=b'f' => {}
            b'A'..=b'F' => upper = true,
            _ => return None,
        }
    }
    if !upper {
        return Some(Value::Text(Cow::Borrowed(raw)));
    }
    let start = u32::try_from(arena.len()).ok()?;
    let len = u32::try_from(digits).ok()?;
    arena.extend(raw.bytes().map(|b| b.to_ascii_lowercase()));
    Some(Value::Lowered { start, len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use misp_enrich_core::normalize as core;
    use proptest::prelude::*;

    fn agrees(ns: Namespace, raw: &str) -> Result<(), TestCaseError> {
        let mut arena = vec![b'x'; 3];
        if let Some(fast) = normalize(ns, raw, &mut arena) {
            let core = core(ns, raw).ok();
            prop_assert_eq!(
                core.as_ref().and_then(|n| n.as_exact()),
                Some(fast.as_str(&arena)),
                "{} {:?}",
                ns,
                raw
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        #[test]
        fn ips_agree(octets in proptest::array::uniform4(0u16..300), pad in "[ 0]{0,2}", raw in "[0-9a-fA-F.:/ %\\[\\]]{0,20}") {
            agrees(Namespace::Ip, &format!("{pad}{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]))?;
            agrees(Namespace::Ip, &raw)?;
        }

        #[test]
        fn domains_agree(raw in "[a-zA-Z0-9._ -]{0,70}", labels in proptest::collection::vec("[a-z0-9_-]{0,66}", 1..6)) {
            agrees(Namespace::Domain, &raw)?;
            agrees(Namespace::Domain, &labels.join("."))?;
        }

        #[test]
        fn hashes_agree(raw in "[0-9a-fA-FxX ]{30,130}", digits in "[0-9a-fA-F]{64}") {
            for ns in [Namespace::Md5, Namespace::Sha1, Namespace::Sha256, Namespace::Sha512, Namespace::Jarm] {
                agrees(ns, &raw)?;
                agrees(ns, &digits)?;
            }
        }
    }

    #[test]
    fn fast_paths_answer_the_common_cases_and_leave_the_rest() {
        let s = |ns, raw| {
            let mut arena = Vec::new();
            normalize(ns, raw, &mut arena).map(|v| v.as_str(&arena).to_owned())
        };
        assert_eq!(s(Namespace::Ip, "10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(
            s(Namespace::Domain, "a.evil.example").as_deref(),
            Some("a.evil.example")
        );
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(
            s(Namespace::Sha256, upper),
            Some(upper.to_ascii_lowercase())
        );
        for (ns, odd) in [
            (Namespace::Ip, "010.0.0.1"),
            (Namespace::Ip, " 10.0.0.1"),
            (Namespace::Ip, "::ffff:10.0.0.1"),
            (Namespace::Domain, "Evil.example"),
            (Namespace::Domain, "evil.example."),
            (Namespace::Domain, "bücher.example"),
            (Namespace::Sha256, &upper[1..]),
            (Namespace::Url, "http://x/"),
        ] {
            assert!(normalize(ns, odd, &mut Vec::new()).is_none(), "{odd}");
        }
    }
}
