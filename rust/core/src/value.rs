//! The value codec: `event_id#misp_type` entries, comma-separated.
//!
//! This is the seed's value format (`1#domain,2#domain`), which process_ioc.rb
//! parses into `[misp][event_id]` and `[misp][type]`. Values written by the
//! seed's loader may carry stray spaces, empty parts or duplicate entries;
//! [`EntryList::parse`] tolerates all of them, and [`EntryList`] writes each
//! entry once, in the order it was first added.

use std::fmt;

use crate::error::EntryError;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryList {
    entries: Vec<Entry>,
}

/// The result of parsing a stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The valid entries, de-duplicated.
    pub entries: EntryList,
    /// How many non-empty parts were not `event_id#type` and were dropped.
    pub malformed: usize,
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
        let mut entries = EntryList::default();
        let mut malformed = 0;
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part
                .split_once('#')
                .and_then(|(id, t)| Entry::new(id, t).ok())
            {
                Some(entry) => {
                    entries.insert(entry);
                }
                None => malformed += 1,
            }
        }
        Parsed { entries, malformed }
    }

    /// Adds an entry unless present; returns whether it was added.
    pub fn insert(&mut self, entry: Entry) -> bool {
        if self.entries.contains(&entry) {
            false
        } else {
            self.entries.push(entry);
            true
        }
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
        let before = self.entries.len();
        self.entries.retain(|e| e != entry);
        before != self.entries.len()
    }

    /// Keeps only the entries for which `keep` is true; returns how many went.
    pub fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(keep);
        before - self.entries.len()
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
        assert_eq!(p.malformed, 0);
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
    fn entries_that_would_break_the_format_are_refused() {
        assert!(Entry::new("12a", "domain").is_err());
        assert!(Entry::new("1", "do,main").is_err());
        assert!(Entry::new("1", "do#main").is_err());
        assert!(Entry::new("1", "a\r\nb").is_err());
        assert!(Entry::new("", "domain").is_err());
        assert!(Entry::new("123456789012345678901", "domain").is_err());
    }
}
