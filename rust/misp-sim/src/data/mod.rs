//! The emulated MISP database: compact rows for attributes, events, tags and
//! organisations, plus the mutations the admin endpoint applies. Generation
//! (`gen`) and fixture loading (`fixture`) both fill a [`Store`]; the filter and
//! render modules only read it.

pub mod fixture;
pub mod gen;
pub mod mutate;

use std::collections::HashMap;

/// Index of an interned string (attribute type or category).
pub type Sym = u16;

/// Interned strings: restSearch compares types and categories per row, so rows
/// hold a small number and filters resolve names once per request.
#[derive(Debug, Default)]
pub struct Interner {
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, Sym>,
}

impl Interner {
    /// The symbol for `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> Sym {
        if let Some(&s) = self.index.get(name) {
            return s;
        }
        let s = Sym::try_from(self.names.len()).unwrap_or(Sym::MAX);
        if s == Sym::MAX {
            // 65k distinct types or categories only come from a hostile fixture;
            // fold the rest into one bucket rather than fail.
            return s - 1;
        }
        self.names.push(name.into());
        self.index.insert(name.into(), s);
        s
    }

    /// The symbol for `name` if it was ever interned.
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.index.get(name).copied()
    }

    /// The string of a symbol.
    pub fn name(&self, s: Sym) -> &str {
        self.names.get(usize::from(s)).map_or("", |b| b)
    }

    /// Number of interned strings.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// All (symbol, name) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (Sym, &str)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (Sym::try_from(i).unwrap_or(Sym::MAX), &**n))
    }
}

/// A tag as MISP exports it.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: u32,
    pub name: Box<str>,
    pub colour: Box<str>,
    pub numerical_value: Option<Box<str>>,
    pub is_galaxy: bool,
}

/// An organisation (event creator or owner).
#[derive(Debug, Clone)]
pub struct Org {
    pub id: u32,
    pub name: Box<str>,
    pub uuid: Box<str>,
}

/// One MISP event's metadata. Attributes point at it by index.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: u64,
    pub uuid: Box<str>,
    pub info: Box<str>,
    /// Index into [`Store::orgs`] of the owner org.
    pub org: u32,
    /// Index into [`Store::orgs`] of the creator org.
    pub orgc: u32,
    pub distribution: u8,
    pub sharing_group_id: u32,
    pub threat_level_id: u8,
    pub analysis: u8,
    /// `YYYY-MM-DD`.
    pub date: Box<str>,
    pub published: bool,
    pub timestamp: i64,
    pub publish_timestamp: i64,
    /// Indexes into [`Store::tags`].
    pub tags: Vec<u32>,
    /// Live (not soft-deleted) attributes of the event.
    pub attribute_count: u32,
}

/// Rarely used attribute columns, boxed so the common row stays small.
#[derive(Debug, Clone, Default)]
pub struct AttrExtra {
    pub object_relation: Option<Box<str>>,
    pub first_seen: Option<Box<str>>,
    pub last_seen: Option<Box<str>>,
    pub sharing_group_id: u32,
    /// Unknown fields of a fixture attribute, emitted back verbatim.
    pub fields: Vec<(Box<str>, serde_json::Value)>,
}

/// One attribute row.
#[derive(Debug, Clone)]
pub struct Attribute {
    pub id: u64,
    /// Index into [`Store::events`].
    pub event: u32,
    pub object_id: u64,
    pub kind: Sym,
    pub category: Sym,
    pub value: Box<str>,
    pub uuid: Box<str>,
    pub comment: Box<str>,
    pub timestamp: i64,
    pub distribution: u8,
    pub to_ids: bool,
    pub deleted: bool,
    pub disable_correlation: bool,
    /// Hit by an (emulated) enabled warninglist: dropped by `enforceWarninglist`.
    pub warninglisted: bool,
    /// Decayed under the (emulated) decaying model: dropped by `excludeDecayed`.
    pub decayed: bool,
    /// Indexes into [`Store::tags`].
    pub tags: Box<[u32]>,
    pub extra: Option<Box<AttrExtra>>,
}

impl Attribute {
    /// MISP's value1/value2 split: composite types store `a|b`.
    pub fn value_parts<'a>(&'a self, store: &Store) -> (&'a str, Option<&'a str>) {
        if store.is_composite(self.kind) {
            if let Some((a, b)) = self.value.split_once('|') {
                return (a, Some(b));
            }
        }
        (&self.value, None)
    }
}

/// The whole emulated database.
#[derive(Debug, Default)]
pub struct Store {
    /// Sorted by id ascending.
    pub attrs: Vec<Attribute>,
    pub events: Vec<Event>,
    pub event_index: HashMap<u64, u32>,
    pub tags: Vec<Tag>,
    pub orgs: Vec<Org>,
    pub types: Interner,
    pub categories: Interner,
    composite: Vec<bool>,
    /// Bumped by every mutation.
    pub generation: u64,
}

/// Composite types per misp_api.md §5 (value is `a|b`).
pub fn is_composite_type(t: &str) -> bool {
    t.contains('|') || t == "malware-sample"
}

/// MISP's default category for the types this emulator knows; `Other` else.
pub fn default_category(t: &str) -> &'static str {
    match t {
        "ip-src"
        | "ip-dst"
        | "ip-src|port"
        | "ip-dst|port"
        | "domain"
        | "hostname"
        | "domain|ip"
        | "hostname|port"
        | "url"
        | "uri"
        | "user-agent"
        | "email-dst"
        | "ja3-fingerprint-md5"
        | "jarm-fingerprint"
        | "AS"
        | "snort" => "Network activity",
        "mutex" | "named pipe" => "Artifacts dropped",
        "regkey" | "regkey|value" => "Persistence mechanism",
        "yara" | "sigma" | "pattern-in-file" => "Payload installation",
        "link" => "External analysis",
        "comment" | "text" | "other" => "Other",
        "whois-registrant-email" => "Attribution",
        "email" => "Social network",
        "btc" => "Financial fraud",
        _ if t.starts_with("filename") => "Payload delivery",
        "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512" | "imphash" | "ssdeep"
        | "tlsh" | "authentihash" | "malware-sample" | "email-src" => "Payload delivery",
        _ => "Other",
    }
}

impl Store {
    /// Interns a type, remembering whether it is composite.
    pub fn intern_type(&mut self, t: &str) -> Sym {
        let s = self.types.intern(t);
        let i = usize::from(s);
        if self.composite.len() <= i {
            self.composite.resize(i + 1, false);
            self.composite[i] = is_composite_type(t);
        }
        s
    }

    /// Whether values of this type are `a|b`.
    pub fn is_composite(&self, s: Sym) -> bool {
        self.composite.get(usize::from(s)).copied().unwrap_or(false)
    }

    /// Index of the tag with this name, adding it (with the given id, or the
    /// next free one) when new.
    pub fn tag_index(&mut self, name: &str, id: Option<u32>, colour: Option<&str>) -> u32 {
        if let Some(i) = self.tags.iter().position(|t| &*t.name == name) {
            return u32::try_from(i).unwrap_or(u32::MAX);
        }
        let id = match id {
            Some(id) if !self.tags.iter().any(|t| t.id == id) => id,
            _ => self.tags.iter().map(|t| t.id).max().unwrap_or(0) + 1,
        };
        self.tags.push(Tag {
            id,
            name: name.into(),
            colour: colour.unwrap_or("#0088cc").into(),
            numerical_value: None,
            is_galaxy: name.starts_with("misp-galaxy:"),
        });
        u32::try_from(self.tags.len() - 1).unwrap_or(u32::MAX)
    }

    /// Index of the org with this id, adding a placeholder when unknown.
    pub fn org_index(&mut self, id: u32, name: Option<&str>, uuid: Option<&str>) -> u32 {
        if let Some(i) = self.orgs.iter().position(|o| o.id == id) {
            return u32::try_from(i).unwrap_or(0);
        }
        self.orgs.push(Org {
            id,
            name: name.map_or_else(|| format!("ORG{id}").into(), Into::into),
            uuid: uuid.map_or_else(
                || gen::uuid_from(0x6f72_6700 ^ u64::from(id)).into(),
                Into::into,
            ),
        });
        u32::try_from(self.orgs.len() - 1).unwrap_or(0)
    }

    /// Adds an event (its id must be new) and returns its index.
    pub fn push_event(&mut self, ev: Event) -> u32 {
        let idx = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        self.event_index.insert(ev.id, idx);
        self.events.push(ev);
        idx
    }

    /// Recomputes every event's live attribute count.
    pub fn recount(&mut self) {
        for e in &mut self.events {
            e.attribute_count = 0;
        }
        for a in &self.attrs {
            if !a.deleted {
                if let Some(e) = self.events.get_mut(a.event as usize) {
                    e.attribute_count += 1;
                }
            }
        }
    }

    /// Sorts attributes by id (after loading a fixture in any order).
    pub fn sort(&mut self) {
        self.attrs.sort_by_key(|a| a.id);
    }

    /// Position of an attribute given its id or uuid.
    pub fn find_attr(&self, key: &str) -> Option<usize> {
        if let Ok(id) = key.parse::<u64>() {
            return self.attrs.binary_search_by_key(&id, |a| a.id).ok();
        }
        self.attrs.iter().position(|a| &*a.uuid == key)
    }

    /// Index of an event given its id or uuid.
    pub fn find_event(&self, key: &str) -> Option<u32> {
        if let Ok(id) = key.parse::<u64>() {
            return self.event_index.get(&id).copied();
        }
        self.events
            .iter()
            .position(|e| &*e.uuid == key)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// Next free attribute id.
    pub fn next_attr_id(&self) -> u64 {
        self.attrs.last().map_or(1, |a| a.id + 1)
    }

    /// Next free event id.
    pub fn next_event_id(&self) -> u64 {
        self.events.iter().map(|e| e.id).max().unwrap_or(0) + 1
    }

    /// Records an edit of an event at `now`, as MISP's `touch` does: the event
    /// timestamp moves, and the event ends published (publish_timestamp = now)
    /// or unpublished, as asked.
    pub fn touch_event(&mut self, idx: u32, now: i64, publish: bool) {
        if let Some(e) = self.events.get_mut(idx as usize) {
            e.timestamp = now;
            e.published = publish;
            if publish {
                e.publish_timestamp = now;
            }
        }
    }
}

/// Reads a lock, ignoring poisoning (a panicked request must not take the
/// emulator down with it).
pub fn read<T>(l: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes a lock, ignoring poisoning.
pub fn write<T>(l: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Locks a mutex, ignoring poisoning.
pub fn lock<T>(l: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
