//! The merge and revoke rules, pure and unit-tested: given what memcached
//! holds under a key (value and CAS unique) and what MISP says, what to write.
//! The store carries decisions out with `add` (absent keys), `cas` (present
//! keys) and CAS-guarded deletes, and asks again when another writer got in
//! between, so concurrent runs never lose entries.
//!
//! Also here: the compact record of what a run loaded (64-bit hashes of
//! key + entry), used to decide what a refresh may revoke and what a full
//! reconcile removes. A hash collision can only keep an entry that should
//! have gone, never remove one that should stay.

use std::hash::{DefaultHasher, Hash, Hasher};

use misp_enrich_core::{Entry, EntryList};

/// What to do with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Absent: create it (`add`).
    Create {
        /// The value.
        value: String,
        /// Entries in it.
        entries: usize,
    },
    /// Present: write this value if nobody changed the key since it was read.
    Replace {
        /// The new value.
        value: String,
        /// CAS unique of the read.
        cas: u64,
        /// Entries added.
        added: usize,
        /// Entries removed.
        removed: usize,
    },
    /// Present and already right.
    Keep,
    /// Present, and nothing would be left: delete if unchanged since read.
    Delete {
        /// CAS unique of the read.
        cas: u64,
        /// Entries removed.
        removed: usize,
    },
    /// Absent, and nothing to add.
    Absent,
}

/// The stored form of `list`, `1#domain,2#domain` (as `Display`, without
/// the formatting machinery: this runs once per written key).
pub fn value_string(list: &EntryList) -> String {
    let mut out = String::with_capacity(list.len() * 16);
    for (i, e) in list.entries().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e.event_id());
        out.push('#');
        out.push_str(e.misp_type());
    }
    out
}

/// The entries of a stored value (tolerating the seed's spacing and empty parts).
pub fn parse_value(value: &[u8]) -> EntryList {
    EntryList::parse(&String::from_utf8_lossy(value)).entries
}

/// Adds `additions` to what is stored. With `refresh_ttl`, a key that already
/// holds every entry is rewritten anyway, so its expiry starts again.
pub fn merge(existing: Option<(&[u8], u64)>, additions: &EntryList, refresh_ttl: bool) -> Decision {
    merge_checked(existing, additions, refresh_ttl).0
}

/// [`merge`], and whether the stored value held entries that are not among
/// `additions` (a full reconcile must then look at the key again; a key
/// without such entries holds only what this run loaded).
pub fn merge_checked(
    existing: Option<(&[u8], u64)>,
    additions: &EntryList,
    refresh_ttl: bool,
) -> (Decision, bool) {
    match existing {
        None if additions.is_empty() => (Decision::Absent, false),
        None => (
            Decision::Create {
                value: value_string(additions),
                entries: additions.len(),
            },
            false,
        ),
        Some((value, cas)) => {
            let mut list = parse_value(value);
            let foreign = list.entries().iter().any(|e| !additions.contains(e));
            let added = list.merge(additions);
            let decision = if added > 0 || (refresh_ttl && !list.is_empty()) {
                Decision::Replace {
                    value: value_string(&list),
                    cas,
                    added,
                    removed: 0,
                }
            } else {
                Decision::Keep
            };
            (decision, foreign)
        }
    }
}

/// A 64-bit hash of a key (for the set of keys a run wrote).
pub fn key_hash(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Removes `removals` from what is stored; a key left empty is deleted.
pub fn remove(existing: Option<(&[u8], u64)>, removals: &[Entry]) -> Decision {
    let Some((value, cas)) = existing else {
        return Decision::Absent;
    };
    let mut list = parse_value(value);
    let removed = if removals.len() > 16 {
        let removals: std::collections::HashSet<&Entry> = removals.iter().collect();
        list.retain(|e| !removals.contains(e))
    } else {
        list.retain(|e| !removals.contains(e))
    };
    if removed == 0 {
        Decision::Keep
    } else if list.is_empty() {
        Decision::Delete { cas, removed }
    } else {
        Decision::Replace {
            value: value_string(&list),
            cas,
            added: 0,
            removed,
        }
    }
}

/// A 64-bit hash of a key and an entry.
pub fn pair_hash(key: &str, entry: &Entry) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    entry.event_id().hash(&mut h);
    entry.misp_type().hash(&mut h);
    h.finish()
}

/// A set of [`pair_hash`]es: 8 bytes per loaded indicator.
#[derive(Debug, Clone, Default)]
pub struct PairSet {
    hashes: Vec<u64>,
    sorted: bool,
}

impl PairSet {
    /// Adds hashes.
    pub fn extend(&mut self, hashes: &[u64]) {
        self.hashes.extend_from_slice(hashes);
        self.sorted = false;
    }

    /// Sorts and de-duplicates; call before [`PairSet::contains`].
    pub fn seal(&mut self) {
        self.hashes.sort_unstable();
        self.hashes.dedup();
        self.hashes.shrink_to_fit();
        self.sorted = true;
    }

    /// Whether `key` + `entry` was loaded. Unsealed sets answer `true`
    /// (keep), so a bug can never turn into a removal.
    pub fn contains(&self, key: &str, entry: &Entry) -> bool {
        !self.sorted || self.hashes.binary_search(&pair_hash(key, entry)).is_ok()
    }

    /// Number of distinct pairs (after [`PairSet::seal`]).
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// A set of [`key_hash`]es.
#[derive(Debug, Clone, Default)]
pub struct KeySet(Vec<u64>);

impl KeySet {
    /// Adds hashes.
    pub fn extend(&mut self, hashes: &[u64]) {
        self.0.extend_from_slice(hashes);
    }

    /// Sorts and de-duplicates; call before [`KeySet::contains`].
    pub fn seal(&mut self) {
        self.0.sort_unstable();
        self.0.dedup();
        self.0.shrink_to_fit();
    }

    /// Whether `key` is in the (sealed) set.
    pub fn contains(&self, key: &str) -> bool {
        self.0.binary_search(&key_hash(key)).is_ok()
    }
}

/// Whether deleting `deletes` of `total` keys is more than `max_share` allows.
pub fn exceeds_share(deletes: u64, total: u64, max_share: f64) -> bool {
    deletes > 0 && (total == 0 || deletes as f64 > max_share * total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, t: &str) -> Entry {
        Entry::new(id, t).unwrap_or_else(|err| panic!("{err}"))
    }

    fn list(items: &[(&str, &str)]) -> EntryList {
        items.iter().map(|(i, t)| e(i, t)).collect()
    }

    #[test]
    fn merge_creates_appends_and_keeps() {
        let add = list(&[("3", "domain")]);
        assert_eq!(
            merge(None, &add, false),
            Decision::Create {
                value: "3#domain".into(),
                entries: 1
            }
        );
        // The seed's spacing and empty parts are tolerated, and not clobbered.
        assert_eq!(
            merge(Some((b"1#domain, 2#domain,,", 9)), &add, false),
            Decision::Replace {
                value: "1#domain,2#domain,3#domain".into(),
                cas: 9,
                added: 1,
                removed: 0
            }
        );
        assert_eq!(merge(Some((b"3#domain", 9)), &add, false), Decision::Keep);
        assert_eq!(
            merge(Some((b"3#domain", 9)), &add, true),
            Decision::Replace {
                value: "3#domain".into(),
                cas: 9,
                added: 0,
                removed: 0
            }
        );
        // Each entry once, even when a page repeats it.
        let twice = list(&[("3", "domain"), ("3", "domain"), ("4", "domain|ip")]);
        assert_eq!(
            merge(Some((b"3#domain", 1)), &twice, false),
            Decision::Replace {
                value: "3#domain,4#domain|ip".into(),
                cas: 1,
                added: 1,
                removed: 0
            }
        );
        assert_eq!(merge(None, &EntryList::default(), false), Decision::Absent);
    }

    #[test]
    fn foreign_entries_are_flagged() {
        let add = list(&[("3", "domain")]);
        assert!(!merge_checked(None, &add, false).1);
        assert!(!merge_checked(Some((b"3#domain", 1)), &add, false).1);
        assert!(merge_checked(Some((b"1#domain,3#domain", 1)), &add, false).1);
        assert_ne!(key_hash("a"), key_hash("b"));
    }

    #[test]
    fn value_string_is_display() {
        let l = list(&[
            ("1", "domain"),
            ("22", "named pipe"),
            ("3", "filename|sha256"),
        ]);
        assert_eq!(value_string(&l), l.to_string());
        assert_eq!(value_string(&EntryList::default()), "");
    }

    #[test]
    fn remove_shrinks_or_deletes() {
        let gone = [e("1", "domain")];
        assert_eq!(
            remove(Some((b"1#domain,2#domain", 5)), &gone),
            Decision::Replace {
                value: "2#domain".into(),
                cas: 5,
                added: 0,
                removed: 1
            }
        );
        assert_eq!(
            remove(Some((b" 1#domain,,", 5)), &gone),
            Decision::Delete { cas: 5, removed: 1 }
        );
        assert_eq!(remove(Some((b"2#domain", 5)), &gone), Decision::Keep);
        assert_eq!(remove(None, &gone), Decision::Absent);
    }

    #[test]
    fn pair_sets() {
        let mut s = PairSet::default();
        // Unsealed: everything counts as loaded, so nothing is ever removed.
        assert!(s.contains("k", &e("1", "md5")));
        s.extend(&[
            pair_hash("k", &e("1", "md5")),
            pair_hash("k", &e("1", "md5")),
        ]);
        s.seal();
        assert_eq!(s.len(), 1);
        assert!(s.contains("k", &e("1", "md5")));
        assert!(!s.contains("k", &e("2", "md5")));
        assert!(!s.contains("k2", &e("1", "md5")));
        // The hash separates key and entry parts.
        assert_ne!(
            pair_hash("k1", &e("2", "md5")),
            pair_hash("k", &e("12", "md5"))
        );
    }

    #[test]
    fn removal_share() {
        assert!(!exceeds_share(0, 0, 0.5));
        assert!(!exceeds_share(50, 100, 0.5));
        assert!(exceeds_share(51, 100, 0.5));
        assert!(exceeds_share(1, 0, 0.5));
        assert!(exceeds_share(1, 100, 0.0));
        assert!(!exceeds_share(100, 100, 1.0));
    }
}
