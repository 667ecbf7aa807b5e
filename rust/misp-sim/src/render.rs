//! MISP's JSON output shapes (misp_api.md §3, §4): attributes with integer
//! columns as strings and tinyint(1) columns as booleans, the nested `Event`
//! object (short, or full metadata with `includeContext`), `Tag` arrays only
//! when tags exist, and the `{"response": ...}` envelopes. Serialised straight
//! into a byte buffer so a 10k page costs milliseconds.

use crate::data::{Attribute, Event, Store};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

/// Serialises an integer as a JSON string, as MySQL int columns come out.
struct IntStr(i64);

impl Serialize for IntStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

fn int(x: impl TryInto<i64>) -> IntStr {
    IntStr(x.try_into().unwrap_or(i64::MAX))
}

/// What a restSearch request asked to include.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    pub include_event_uuid: bool,
    pub include_event_tags: bool,
    pub include_context: bool,
    pub warninglist_hits: bool,
    pub decay_score: bool,
    /// For decay scores.
    pub now: i64,
}

struct TagJson<'a> {
    store: &'a Store,
    idx: u32,
    inherited: bool,
}

impl Serialize for TagJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(t) = self.store.tags.get(self.idx as usize) else {
            return s.serialize_none();
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &int(t.id))?;
        m.serialize_entry("name", &*t.name)?;
        m.serialize_entry("colour", &*t.colour)?;
        m.serialize_entry("numerical_value", &t.numerical_value.as_deref())?;
        m.serialize_entry("is_galaxy", &t.is_galaxy)?;
        m.serialize_entry("local", &false)?;
        if self.inherited {
            m.serialize_entry("inherited", &1)?;
        }
        m.end()
    }
}

struct Tags<'a> {
    store: &'a Store,
    own: &'a [u32],
    inherited: &'a [u32],
}

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for &idx in self.own {
            seq.serialize_element(&TagJson {
                store: self.store,
                idx,
                inherited: false,
            })?;
        }
        for &idx in self.inherited {
            if !self.own.contains(&idx) {
                seq.serialize_element(&TagJson {
                    store: self.store,
                    idx,
                    inherited: true,
                })?;
            }
        }
        seq.end()
    }
}

struct OrgJson<'a>(&'a Store, u32);

impl Serialize for OrgJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(o) = self.0.orgs.get(self.1 as usize) else {
            return s.serialize_none();
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &int(o.id))?;
        m.serialize_entry("name", &*o.name)?;
        m.serialize_entry("uuid", &*o.uuid)?;
        m.serialize_entry("local", &(o.id == 1))?;
        m.end()
    }
}

/// The short `Event` object nested in each attribute.
struct EventBrief<'a>(&'a Store, &'a Event);

impl Serialize for EventBrief<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (st, e) = (self.0, self.1);
        let org = |i: u32| st.orgs.get(i as usize).map_or(0, |o| o.id);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("org_id", &int(org(e.org)))?;
        m.serialize_entry("distribution", &int(e.distribution))?;
        m.serialize_entry("publish_timestamp", &int(e.publish_timestamp))?;
        m.serialize_entry("id", &int(e.id))?;
        m.serialize_entry("info", &*e.info)?;
        m.serialize_entry("orgc_id", &int(org(e.orgc)))?;
        m.serialize_entry("uuid", &*e.uuid)?;
        m.end()
    }
}

/// An event's full metadata (`includeContext`, `/events/restSearch`).
pub struct EventFull<'a> {
    pub store: &'a Store,
    pub event: &'a Event,
    /// Positions of the event's attributes, for the `Attribute`/`Object`
    /// arrays of events restSearch without `metadata`.
    pub attributes: Option<&'a [usize]>,
}

impl Serialize for EventFull<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (st, e) = (self.store, self.event);
        let org = |i: u32| st.orgs.get(i as usize).map_or(0, |o| o.id);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &int(e.id))?;
        m.serialize_entry("orgc_id", &int(org(e.orgc)))?;
        m.serialize_entry("org_id", &int(org(e.org)))?;
        m.serialize_entry("date", &*e.date)?;
        m.serialize_entry("threat_level_id", &int(e.threat_level_id))?;
        m.serialize_entry("info", &*e.info)?;
        m.serialize_entry("published", &e.published)?;
        m.serialize_entry("uuid", &*e.uuid)?;
        m.serialize_entry("attribute_count", &int(e.attribute_count))?;
        m.serialize_entry("analysis", &int(e.analysis))?;
        m.serialize_entry("timestamp", &int(e.timestamp))?;
        m.serialize_entry("distribution", &int(e.distribution))?;
        m.serialize_entry("proposal_email_lock", &false)?;
        m.serialize_entry("locked", &false)?;
        m.serialize_entry("publish_timestamp", &int(e.publish_timestamp))?;
        m.serialize_entry("sharing_group_id", &int(e.sharing_group_id))?;
        m.serialize_entry("disable_correlation", &false)?;
        m.serialize_entry("extends_uuid", "")?;
        m.serialize_entry("protected", &None::<bool>)?;
        m.serialize_entry("Org", &OrgJson(st, e.org))?;
        m.serialize_entry("Orgc", &OrgJson(st, e.orgc))?;
        if let Some(rows) = self.attributes {
            let attrs: Vec<&Attribute> = rows.iter().filter_map(|&i| st.attrs.get(i)).collect();
            m.serialize_entry("Attribute", &AttrList(st, &attrs))?;
            m.serialize_entry("Object", &[(); 0])?;
        }
        if !e.tags.is_empty() {
            m.serialize_entry(
                "Tag",
                &Tags {
                    store: st,
                    own: &e.tags,
                    inherited: &[],
                },
            )?;
        }
        m.end()
    }
}

struct AttrList<'a>(&'a Store, &'a [&'a Attribute]);

impl Serialize for AttrList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1.len()))?;
        for a in self.1 {
            seq.serialize_element(&AttrJson {
                store: self.0,
                attr: a,
                opts: None,
            })?;
        }
        seq.end()
    }
}

struct Warning<'a>(&'a str);

impl Serialize for Warning<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1))?;
        let mut m = std::collections::BTreeMap::new();
        m.insert("match", self.0);
        m.insert("value", self.0);
        m.insert("warninglist_id", "1");
        m.insert("warninglist_name", "misp-sim known benign values");
        m.insert("warninglist_category", "false_positive");
        seq.serialize_element(&m)?;
        seq.end()
    }
}

/// An emulated decay score: polynomial model, lifetime 180 days, speed 2,
/// base 80, threshold 30; rows flagged decayed always score 0.
struct Decay<'a>(&'a Attribute, i64);

impl Serialize for Decay<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = ((self.1 - self.0.timestamp).max(0) as f64) / 86_400.0;
        let mut score = 80.0 * (1.0 - (t / 180.0).min(1.0).powf(0.5));
        if self.0.decayed {
            score = 0.0;
        } else if score < 30.0 {
            score = 30.5;
        }
        let score = (score * 100.0).round() / 100.0;
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&serde_json::json!({
            "score": score,
            "base_score": 80,
            "decayed": self.0.decayed,
            "DecayingModel": {"id": "1", "name": "NIDS Simple Decaying Model"}
        }))?;
        seq.end()
    }
}

/// One attribute. `opts` is `None` inside an event (no nested `Event`).
pub struct AttrJson<'a> {
    pub store: &'a Store,
    pub attr: &'a Attribute,
    pub opts: Option<&'a Opts>,
}

impl Serialize for AttrJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (st, a) = (self.store, self.attr);
        let ev = st.events.get(a.event as usize);
        let x = a.extra.as_deref();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &int(a.id))?;
        m.serialize_entry("event_id", &int(ev.map_or(0, |e| e.id)))?;
        m.serialize_entry("object_id", &int(a.object_id))?;
        m.serialize_entry(
            "object_relation",
            &x.and_then(|x| x.object_relation.as_deref()),
        )?;
        m.serialize_entry("category", st.categories.name(a.category))?;
        m.serialize_entry("type", st.types.name(a.kind))?;
        m.serialize_entry("to_ids", &a.to_ids)?;
        m.serialize_entry("uuid", &*a.uuid)?;
        m.serialize_entry("timestamp", &int(a.timestamp))?;
        m.serialize_entry("distribution", &int(a.distribution))?;
        m.serialize_entry(
            "sharing_group_id",
            &int(x.map_or(0, |x| x.sharing_group_id)),
        )?;
        m.serialize_entry("comment", &*a.comment)?;
        m.serialize_entry("deleted", &a.deleted)?;
        m.serialize_entry("disable_correlation", &a.disable_correlation)?;
        m.serialize_entry("first_seen", &x.and_then(|x| x.first_seen.as_deref()))?;
        m.serialize_entry("last_seen", &x.and_then(|x| x.last_seen.as_deref()))?;
        m.serialize_entry("value", &*a.value)?;
        if let Some(x) = x {
            for (k, v) in &x.fields {
                m.serialize_entry(&**k, v)?;
            }
        }
        let Some(opts) = self.opts else {
            if !a.tags.is_empty() {
                m.serialize_entry(
                    "Tag",
                    &Tags {
                        store: st,
                        own: &a.tags,
                        inherited: &[],
                    },
                )?;
            }
            return m.end();
        };
        if let Some(e) = ev {
            if opts.include_context {
                m.serialize_entry(
                    "Event",
                    &EventFull {
                        store: st,
                        event: e,
                        attributes: None,
                    },
                )?;
            } else {
                m.serialize_entry("Event", &EventBrief(st, e))?;
            }
        }
        if a.object_id != 0 {
            m.serialize_entry(
                "Object",
                &serde_json::json!({
                    "id": a.object_id.to_string(),
                    "distribution": "5",
                    "sharing_group_id": "0"
                }),
            )?;
        }
        let inherited: &[u32] = match ev {
            Some(e) if opts.include_event_tags => &e.tags,
            _ => &[],
        };
        if !a.tags.is_empty() || !inherited.is_empty() {
            m.serialize_entry(
                "Tag",
                &Tags {
                    store: st,
                    own: &a.tags,
                    inherited,
                },
            )?;
        }
        if opts.include_event_uuid {
            m.serialize_entry("event_uuid", ev.map_or("", |e| &e.uuid))?;
        }
        if opts.warninglist_hits && a.warninglisted && a.to_ids {
            m.serialize_entry("warnings", &Warning(&a.value))?;
        }
        if opts.decay_score {
            m.serialize_entry("decay_score", &Decay(a, opts.now))?;
        }
        m.end()
    }
}

/// `{"response": {"Attribute": [...]}}` plus a newline, as JsonExport writes it.
pub fn attributes_body(store: &Store, rows: &[usize], opts: &Opts) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + rows.len() * 700);
    out.extend_from_slice(b"{\"response\": {\"Attribute\": [");
    for (n, &i) in rows.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if let Some(a) = store.attrs.get(i) {
            // Writing to a Vec cannot fail, and the Serialize impls never error.
            let _ = serde_json::to_writer(
                &mut out,
                &AttrJson {
                    store,
                    attr: a,
                    opts: Some(opts),
                },
            );
        }
    }
    out.extend_from_slice(b"]}}\n");
    out
}

/// `{"response": [{"Event": {...}}, ...]}` plus a newline.
pub fn events_body(store: &Store, events: &[usize], metadata: bool) -> Vec<u8> {
    let mut per_event: std::collections::HashMap<u32, Vec<usize>> = Default::default();
    if !metadata {
        for &i in events {
            per_event.insert(u32::try_from(i).unwrap_or(u32::MAX), Vec::new());
        }
        for (pos, a) in store.attrs.iter().enumerate() {
            if !a.deleted {
                if let Some(v) = per_event.get_mut(&a.event) {
                    v.push(pos);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(64 + events.len() * 1000);
    out.extend_from_slice(b"{\"response\": [");
    for (n, &i) in events.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if let Some(e) = store.events.get(i) {
            out.extend_from_slice(b"{\"Event\":");
            let _ = serde_json::to_writer(
                &mut out,
                &EventFull {
                    store,
                    event: e,
                    attributes: if metadata {
                        None
                    } else {
                        Some(
                            per_event
                                .get(&u32::try_from(i).unwrap_or(u32::MAX))
                                .map_or(&[][..], Vec::as_slice),
                        )
                    },
                },
            );
            out.push(b'}');
        }
    }
    out.extend_from_slice(b"]}\n");
    out
}

/// MISP's error body `{name, message, url}` with `name == message` and `/`
/// escaped as `\/`, as PHP's json_encode writes it.
pub fn error_body(message: &str, url: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct MispError<'a> {
        name: &'a str,
        message: &'a str,
        url: &'a str,
    }
    let e = MispError {
        name: message,
        message,
        url,
    };
    // Escaping `/` anywhere in JSON text is valid and changes no value.
    serde_json::to_string(&e)
        .unwrap_or_default()
        .replace('/', "\\/")
        .into_bytes()
}
