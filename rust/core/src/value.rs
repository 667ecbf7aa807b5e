//! The value codec: `event_id#misp_type` entries, comma-separated.
//!
//! This is the seed's value format (`1#domain,2#domain`), which process_ioc.rb
//! parses into `[misp][event_id]` and `[misp][type]`. Values written by the
//! seed's loader may carry stray spaces, empty parts or duplicate entries;
//! [`EntryList::parse`] tolerates all of them, and [`EntryList`] writes each
//! entry once, in the order it was first added.
//!
//! Every operation is linear in the entries involved: a list of more than
//! [`INDEX_FROM`] entries keeps a hash index next to them, so parsing or
//! merging a value of 70,000 entries (a 1 MB memcached item) costs
//! milliseconds, not the seconds a scan per entry cost (issue 14). Readers on
//! a deadline use [`EntryList::parse_capped`], which keeps at most a given
//! number of entries and counts the rest without parsing them.

use std::fmt;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::error::EntryError;

/// Lists longer than this keep a hash index (shorter ones are scanned:
/// cheaper than hashing for the one or two entries most keys hold).
pub const INDEX_FROM: usize = 16;

/// One `event_id#misp_type` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    event_id: String,
    misp_type: String,
}

impl Entry {
    /// An entry, checked so that it can be written and parsed back: the event
    /// id is 1 to 20 digits; the type is 1 to 64 printable ASCII characters
    /// without `,` or `#` (it may contain a space, as in `named pipe`).
    pub fn new(event_id: &str, misp_type: &str) -> Result<Self, EntryError> {
        let event_id = event_id.trim();
        if event_id.is_empty()
            || event_id.len() > 20
            || !event_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(EntryError::EventId(event_id.to_owned()));
        }
        let misp_type = misp_type.trim();
        let type_ok = !misp_type.is_empty()
            && misp_type.len() <= 64
            && misp_type
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'#');
        if !type_ok {
            return Err(EntryError::Type(misp_type.to_owned()));
        }
        Ok(Entry {
            event_id: event_id.to_owned(),
            misp_type: misp_type.to_owned(),
        })
    }

    /// The MISP event id.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The MISP attribute type (`domain`, `filename|sha256`, ...).
    pub fn misp_type(&self) -> &str {
        &self.misp_type
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.event_id, self.misp_type)
    }
}

/// The entries of one key, each once, in first-added order.
#[derive(Clone, Default)]
pub struct EntryList {
    entries: Vec<Entry>,
    /// Positions in `entries`, by hash, once the list is longer than [`INDEX_FROM`].
    index: Option<Box<Index>>,
}

#[derive(Clone)]
struct Index {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl Index {
    fn build(entries: &[Entry]) -> Box<Index> {
        let mut index = Box::new(Index {
            table: HashTable::with_capacity(entries.len()),
            hasher: RandomState::new(),
        });
        for i in 0..entries.len() {
            index.push(entries, i);
        }
        index
    }

    fn find(&self, entries: &[Entry], entry: &Entry) -> bool {
        let hash = self.hasher.hash_one(entry);
        self.table
            .find(hash, |&i| entries.get(i as usize) == Some(entry))
            .is_some()
    }

    /// Indexes `entries[i]` (already pushed).
    fn push(&mut self, entries: &[Entry], i: usize) {
        let Some(entry) = entries.get(i) else { return };
        let hasher = &self.hasher;
        let hash = hasher.hash_one(entry);
        self.table
            .insert_unique(hash, u32::try_from(i).unwrap_or(u32::MAX), |&j| {
                entries.get(j as usize).map_or(0, |e| hasher.hash_one(e))
            });
    }
}

impl fmt::Debug for EntryList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryList")
            .field("entries", &self.entries)
            .finish()
    }
}

impl PartialEq for EntryList {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for EntryList {}

/// The result of parsing a stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The valid entries, de-duplicated.
    pub entries: EntryList,
    /// How many non-empty parts were not `event_id#type` and were dropped.
    pub malformed: usize,
    /// [`EntryList::parse_capped`]: how many parts after the cap were not
    /// parsed (empty parts, malformed ones and duplicates included); 0 when
    /// the whole value was read.
    pub over_cap: usize,
}

impl EntryList {
    /// Parses a stored value, tolerating what the seed's loader could write:
    /// spaces around parts, empty parts (`1#a,,2#b,`), duplicates. Parts that
    /// are not `event_id#type` are counted in [`Parsed::malformed`].
    ///
    /// ```
    /// use misp_enrich_core::EntryList;
    /// let p = EntryList::parse(" 1#domain,,2#domain, 1#domain ,junk");
    /// assert_eq!(p.entries.to_string(), "1#domain,2#domain");
    /// assert_eq!(p.malformed, 1);
    /// ```
    pub fn parse(value: &str) -> Parsed {
        EntryList::parse_capped(value, usize::MAX)
    }

    /// [`EntryList::parse`], keeping at most `max` entries: parsing stops
    /// there, and the parts left are only counted ([`Parsed::over_cap`]), a
    /// scan for commas. Linear in the value's length whatever it holds.
    ///
    /// ```
    /// use misp_enrich_core::EntryList;
    /// let p = EntryList::parse_capped("1#ip-dst,2#ip-dst,3#ip-dst,,4#ip-dst", 2);
    /// assert_eq!(p.entries.to_string(), "1#ip-dst,2#ip-dst");
    /// assert_eq!(p.over_cap, 3);
    /// ```
    pub fn parse_capped(value: &str, max: usize) -> Parsed {
        let mut entries = EntryList::default();
        let mut malformed = 0;
        let mut over_cap = 0;
        let mut parts = value.split(',');
        for part in parts.by_ref() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match part
                .split_once('#')
                .and_then(|(id, t)| Entry::new(id, t).ok())
            {
                Some(entry) => {
                    entries.insert(entry);
                }
                None => malformed += 1,
            }
            if entries.len() >= max {
                over_cap = parts.count();
                break;
            }
        }
        Parsed {
            entries,
            malformed,
            over_cap,
        }
    }

    /// Whether `entry` is in the list.
    pub fn contains(&self, entry: &Entry) -> bool {
        match &self.index {
            Some(index) => index.find(&self.entries, entry),
            None => self.entries.contains(entry),
        }
    }

    /// Adds an entry unless present; returns whether it was added.
    pub fn insert(&mut self, entry: Entry) -> bool {
        if self.contains(&entry) {
            return false;
        }
        self.entries.push(entry);
        match &mut self.index {
            Some(index) => index.push(&self.entries, self.entries.len() - 1),
            None if self.entries.len() > INDEX_FROM => {
                self.index = Some(Index::build(&self.entries));
            }
            None => {}
        }
        true
    }

    /// Adds every entry of `other` that is not present; returns how many.
    pub fn merge(&mut self, other: &EntryList) -> usize {
        other
            .entries
            .iter()
            .filter(|e| self.insert((*e).clone()))
            .count()
    }

    /// Removes an entry; returns whether it was present.
    pub fn remove(&mut self, entry: &Entry) -> bool {
        if !self.contains(entry) {
            return false;
        }
        self.retain(|e| e != entry) > 0
    }

    /// Keeps only the entries for which `keep` is true; returns how many went.
    pub fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(keep);
        let gone = before - self.entries.len();
        if gone > 0 && self.index.is_some() {
            self.index = (self.entries.len() > INDEX_FROM).then(|| Index::build(&self.entries));
        }
        gone
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether there are no entries (such a key is deleted, not written).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

impl fmt::Display for EntryList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl FromIterator<Entry> for EntryList {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        let mut list = EntryList::default();
        for e in iter {
            list.insert(e);
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, t: &str) -> Entry {
        Entry::new(id, t).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn parses_the_seed_example() {
        let p = EntryList::parse("1#domain,2#domain");
        assert_eq!(p.entries.entries(), &[e("1", "domain"), e("2", "domain")]);
        assert_eq!((p.malformed, p.over_cap), (0, 0));
    }

    #[test]
    fn tolerates_what_the_seed_could_write() {
        let p = EntryList::parse(",1#ip-dst , 1#ip-dst,,5#named pipe,#x,7#,abc,");
        assert_eq!(p.entries.to_string(), "1#ip-dst,5#named pipe");
        assert_eq!(p.malformed, 3);
        assert_eq!(EntryList::parse("").entries.len(), 0);
    }

    #[test]
    fn merge_and_remove() {
        let mut a: EntryList = [e("1", "domain")].into_iter().collect();
        let b: EntryList = [e("2", "domain"), e("1", "domain")].into_iter().collect();
        assert_eq!(a.merge(&b), 1);
        assert_eq!(a.to_string(), "1#domain,2#domain");
        assert!(a.remove(&e("1", "domain")));
        assert!(!a.remove(&e("1", "domain")));
        assert_eq!(a.to_string(), "2#domain");
        assert_eq!(a.retain(|x| x.event_id() != "2"), 1);
        assert!(a.is_empty());
    }

    #[test]
    fn long_lists_are_indexed_and_stay_exact() {
        let mut a = EntryList::default();
        for i in 0..100 {
            assert!(a.insert(e(&i.to_string(), "ip-dst")));
        }
        for i in 0..100 {
            assert!(!a.insert(e(&i.to_string(), "ip-dst")));
            assert!(a.contains(&e(&i.to_string(), "ip-dst")));
        }
        assert!(!a.contains(&e("100", "ip-dst")));
        assert!(a.remove(&e("50", "ip-dst")));
        assert!(!a.contains(&e("50", "ip-dst")));
        assert!(a.contains(&e("51", "ip-dst")));
        assert_eq!(a.retain(|x| x.event_id().len() == 1), 89);
        assert_eq!(a.len(), 10);
        assert!(a.contains(&e("9", "ip-dst")));
        assert!(a.insert(e("50", "ip-dst")));
        let b: EntryList = (0..40).map(|i| e(&i.to_string(), "ip-dst")).collect();
        assert_eq!(a.clone().merge(&b), 30);
    }

    #[test]
    fn a_value_of_70000_entries_parses_in_linear_time() {
        let value: Vec<String> = (0..70_000).map(|i| format!("{i}#ip-dst")).collect();
        let value = value.join(",");
        let started = std::time::Instant::now();
        let p = EntryList::parse(&value);
        assert_eq!(p.entries.len(), 70_000);
        let capped = EntryList::parse_capped(&value, 1000);
        assert_eq!((capped.entries.len(), capped.over_cap), (1000, 69_000));
        // Quadratic de-duplication took seconds here; linear takes milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn entries_that_would_break_the_format_are_refused() {
        assert!(Entry::new("12a", "domain").is_err());
        assert!(Entry::new("1", "do,main").is_err());
        assert!(Entry::new("1", "do#main").is_err());
        assert!(Entry::new("1", "a\r\nb").is_err());
        assert!(Entry::new("", "domain").is_err());
        assert!(Entry::new("123456789012345678901", "domain").is_err());
    }
}
