//! Hand-written data in MISP's own JSON format: a fixture file
//! (`{"response":{"Attribute":[...]}}`, optionally with a top-level `"Event"`
//! list) and the attributes added through `POST /_sim/mutate`. Values are
//! kept verbatim so tests can serve hostile data.

use super::{default_category, gen::uuid_from, AttrExtra, Attribute, Event, Store};
use serde_json::{Map, Value};

/// Attribute keys that the renderer computes; dropped from fixture input.
const COMPUTED: &[&str] = &[
    "Event",
    "Object",
    "Tag",
    "event_uuid",
    "warnings",
    "decay_score",
    "value1",
    "value2",
    "_sim",
];

/// Reads a fixture file into a store.
pub fn load(path: &std::path::Path, now: i64) -> anyhow::Result<Store> {
    let text = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read fixture {}: {e}", path.display()))?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("fixture {} is not JSON: {e}", path.display()))?;
    from_value(&v, now).map_err(|e| anyhow::anyhow!("fixture {}: {e}", path.display()))
}

/// Builds a store from a parsed fixture.
pub fn from_value(v: &Value, now: i64) -> Result<Store, String> {
    let mut store = Store::default();
    store.org_index(1, Some("Sim CERT"), None);
    let attrs = v
        .pointer("/response/Attribute")
        .or_else(|| v.get("Attribute"))
        .and_then(Value::as_array)
        .ok_or("expected {\"response\":{\"Attribute\":[...]}}")?;
    let mut pending = Pending::default();
    if let Some(events) = v.get("Event").and_then(Value::as_array) {
        for e in events {
            let e = e.get("Event").unwrap_or(e);
            let obj = e.as_object().ok_or("Event entries must be objects")?;
            let id = obj
                .get("id")
                .and_then(as_u64)
                .ok_or("every Event needs an id")?;
            if store.event_index.contains_key(&id) {
                return Err(format!("duplicate Event id {id}"));
            }
            event_from(&mut store, &mut pending, id, Some(obj), now);
        }
    }
    let mut parsed = Vec::with_capacity(attrs.len());
    for (n, a) in attrs.iter().enumerate() {
        let obj = a
            .as_object()
            .ok_or_else(|| format!("Attribute #{n} is not an object"))?;
        let (attr, id) = parse(&mut store, &mut pending, obj, now, Some(1))
            .map_err(|e| format!("Attribute #{n}: {e}"))?;
        parsed.push((attr, id));
    }
    let mut next = parsed.iter().filter_map(|(_, id)| *id).max().unwrap_or(0) + 1;
    for (mut attr, id) in parsed {
        attr.id = id.unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        store.attrs.push(attr);
    }
    store.sort();
    if let Some(w) = store.attrs.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(format!("duplicate attribute id {}", w[0].id));
    }
    pending.finish(&mut store);
    store.recount();
    Ok(store)
}

/// Events whose timestamps were not given: they take their attributes' latest.
#[derive(Default)]
pub struct Pending {
    ts: Vec<u32>,
    pts: Vec<u32>,
}

impl Pending {
    /// Fills defaulted event timestamps from the attributes.
    pub fn finish(self, store: &mut Store) {
        let mut max = vec![0i64; store.events.len()];
        for a in &store.attrs {
            if let Some(m) = max.get_mut(a.event as usize) {
                *m = (*m).max(a.timestamp);
            }
        }
        for i in self.ts {
            if let (Some(e), Some(&m)) = (store.events.get_mut(i as usize), max.get(i as usize)) {
                e.timestamp = e.timestamp.max(m);
            }
        }
        for i in self.pts {
            if let Some(e) = store.events.get_mut(i as usize) {
                if e.published {
                    e.publish_timestamp = e.publish_timestamp.max(e.timestamp);
                }
            }
        }
    }
}

/// A non-negative integer from a JSON number or numeric string.
pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean from MISP's encodings (bool, 0/1, "0"/"1", "true"/"false").
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|x| x != 0),
        Value::String(s) => match s.trim() {
            "1" | "true" | "True" => Some(true),
            "0" | "false" | "False" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn small(v: Option<&Value>, default: u8) -> u8 {
    v.and_then(as_u64)
        .and_then(|x| u8::try_from(x).ok())
        .unwrap_or(default)
}

/// Tag indexes from a `Tag` array; the second list holds those marked
/// `inherited` (event tags seen through an attribute).
fn tags_of(store: &mut Store, v: Option<&Value>) -> (Vec<u32>, Vec<u32>) {
    let (mut own, mut inherited) = (Vec::new(), Vec::new());
    for t in v.and_then(Value::as_array).into_iter().flatten() {
        let name = match t.get("name").and_then(Value::as_str) {
            Some(n) => n,
            None => continue,
        };
        let id = t
            .get("id")
            .and_then(as_u64)
            .and_then(|x| u32::try_from(x).ok());
        let idx = store.tag_index(name, id, t.get("colour").and_then(Value::as_str));
        if let Some(tag) = store.tags.get_mut(idx as usize) {
            if let Some(n) = t.get("numerical_value").and_then(as_string) {
                tag.numerical_value = Some(n.into());
            }
            if let Some(g) = t.get("is_galaxy").and_then(as_bool) {
                tag.is_galaxy = g;
            }
        }
        let list = if t.get("inherited").and_then(as_bool) == Some(true) {
            &mut inherited
        } else {
            &mut own
        };
        if !list.contains(&idx) {
            list.push(idx);
        }
    }
    (own, inherited)
}

/// Creates event `id` from an optional MISP Event object (either the short
/// form nested in attributes or full metadata).
pub fn event_from(
    store: &mut Store,
    pending: &mut Pending,
    id: u64,
    obj: Option<&Map<String, Value>>,
    now: i64,
) -> u32 {
    let empty = Map::new();
    let o = obj.unwrap_or(&empty);
    let orgc = match o.get("Orgc") {
        Some(org) => store.org_index(
            org.get("id")
                .and_then(as_u64)
                .and_then(|x| u32::try_from(x).ok())
                .unwrap_or(1),
            org.get("name").and_then(Value::as_str),
            org.get("uuid").and_then(Value::as_str),
        ),
        None => {
            let id = o
                .get("orgc_id")
                .and_then(as_u64)
                .and_then(|x| u32::try_from(x).ok())
                .unwrap_or(1);
            store.org_index(id, None, None)
        }
    };
    let org_id = o
        .get("org_id")
        .and_then(as_u64)
        .and_then(|x| u32::try_from(x).ok())
        .unwrap_or(1);
    let org = store.org_index(org_id, None, None);
    let timestamp = o.get("timestamp").and_then(as_i64);
    let published = o.get("published").and_then(as_bool).unwrap_or(true);
    let publish_timestamp = o.get("publish_timestamp").and_then(as_i64);
    let (mut tags, inherited) = tags_of(store, o.get("Tag"));
    tags.extend(inherited);
    let ev = Event {
        id,
        uuid: o
            .get("uuid")
            .and_then(Value::as_str)
            .map_or_else(|| uuid_from(0xE0E0_0000_0000 ^ id).into(), Into::into),
        info: o
            .get("info")
            .and_then(Value::as_str)
            .map_or_else(|| format!("misp-sim event {id}").into(), Into::into),
        org,
        orgc,
        distribution: small(o.get("distribution"), 0),
        sharing_group_id: o
            .get("sharing_group_id")
            .and_then(as_u64)
            .and_then(|x| u32::try_from(x).ok())
            .unwrap_or(0),
        threat_level_id: small(o.get("threat_level_id"), 4),
        analysis: small(o.get("analysis"), 2),
        date: o.get("date").and_then(Value::as_str).map_or_else(
            || crate::timeutil::date_string(timestamp.unwrap_or(now)).into(),
            Into::into,
        ),
        published,
        timestamp: timestamp.unwrap_or(0),
        publish_timestamp: publish_timestamp.unwrap_or(0),
        tags,
        attribute_count: 0,
    };
    let idx = store.push_event(ev);
    if timestamp.is_none() {
        pending.ts.push(idx);
    }
    if publish_timestamp.is_none() {
        pending.pts.push(idx);
    }
    idx
}

/// Parses one attribute object; events it names are created when unknown.
/// Returns the row (its `id` still 0) and the id the input gave, if any.
pub fn parse(
    store: &mut Store,
    pending: &mut Pending,
    o: &Map<String, Value>,
    now: i64,
    default_event: Option<u64>,
) -> Result<(Attribute, Option<u64>), String> {
    let kind_name = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or("missing \"type\"")?;
    let value = match o.get("value").and_then(as_string) {
        Some(v) => v,
        None => match (
            o.get("value1").and_then(as_string),
            o.get("value2").and_then(as_string),
        ) {
            (Some(a), Some(b)) if !b.is_empty() => format!("{a}|{b}"),
            (Some(a), _) => a,
            _ => return Err("missing \"value\"".into()),
        },
    };
    let ev_obj = o.get("Event").and_then(Value::as_object);
    let event_id = o
        .get("event_id")
        .and_then(as_u64)
        .or_else(|| ev_obj.and_then(|e| e.get("id")).and_then(as_u64))
        .or(default_event)
        .unwrap_or_else(|| store.next_event_id());
    let event = match store.event_index.get(&event_id) {
        Some(&i) => i,
        None => event_from(store, pending, event_id, ev_obj, now),
    };
    let (tags, inherited) = tags_of(store, o.get("Tag"));
    if let Some(e) = store.events.get_mut(event as usize) {
        for t in inherited {
            if !e.tags.contains(&t) {
                e.tags.push(t);
            }
        }
    }
    let kind = store.intern_type(kind_name);
    let category = store.categories.intern(
        o.get("category")
            .and_then(Value::as_str)
            .unwrap_or_else(|| default_category(kind_name)),
    );
    let id = o.get("id").and_then(as_u64);
    let sim = o.get("_sim");
    let flag = |k: &str| sim.and_then(|s| s.get(k)).and_then(as_bool) == Some(true);
    let mut extra = AttrExtra {
        object_relation: o
            .get("object_relation")
            .and_then(Value::as_str)
            .map(Into::into),
        first_seen: o.get("first_seen").and_then(Value::as_str).map(Into::into),
        last_seen: o.get("last_seen").and_then(Value::as_str).map(Into::into),
        sharing_group_id: o
            .get("sharing_group_id")
            .and_then(as_u64)
            .and_then(|x| u32::try_from(x).ok())
            .unwrap_or(0),
        fields: Vec::new(),
    };
    const KNOWN: &[&str] = &[
        "id",
        "event_id",
        "object_id",
        "object_relation",
        "category",
        "type",
        "value",
        "to_ids",
        "uuid",
        "timestamp",
        "distribution",
        "sharing_group_id",
        "comment",
        "deleted",
        "disable_correlation",
        "first_seen",
        "last_seen",
    ];
    for (k, v) in o {
        if !KNOWN.contains(&k.as_str()) && !COMPUTED.contains(&k.as_str()) {
            extra.fields.push((k.as_str().into(), v.clone()));
        }
    }
    let has_extra = extra.object_relation.is_some()
        || extra.first_seen.is_some()
        || extra.last_seen.is_some()
        || extra.sharing_group_id != 0
        || !extra.fields.is_empty();
    let seed = id.unwrap_or_else(|| store.attrs.len() as u64 + 1_000_000_007);
    let attr = Attribute {
        id: 0,
        event,
        object_id: o.get("object_id").and_then(as_u64).unwrap_or(0),
        kind,
        category,
        value: value.into(),
        uuid: o.get("uuid").and_then(Value::as_str).map_or_else(
            || uuid_from(0xF1F1_0000_0000_0000 ^ seed ^ now as u64).into(),
            Into::into,
        ),
        comment: o
            .get("comment")
            .and_then(as_string)
            .unwrap_or_default()
            .into(),
        timestamp: o.get("timestamp").and_then(as_i64).unwrap_or(now),
        distribution: small(o.get("distribution"), 5),
        to_ids: o.get("to_ids").and_then(as_bool).unwrap_or(true),
        deleted: o.get("deleted").and_then(as_bool).unwrap_or(false),
        disable_correlation: o
            .get("disable_correlation")
            .and_then(as_bool)
            .unwrap_or(false),
        warninglisted: flag("warninglisted"),
        decayed: flag("decayed"),
        tags: tags.into_boxed_slice(),
        extra: has_extra.then(|| Box::new(extra)),
    };
    Ok((attr, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loads_attributes_events_and_tags() {
        let v = json!({
            "response": {"Attribute": [
                {"id": "7", "event_id": "3", "type": "ip-dst", "value": "1.2.3.4",
                 "to_ids": true, "timestamp": "100",
                 "Event": {"id": "3", "info": "ev three", "uuid": "u-3", "org_id": "1",
                           "orgc_id": "2", "distribution": "1", "publish_timestamp": "150"},
                 "Tag": [{"id": "9", "name": "tlp:amber", "colour": "#FFC000"},
                         {"name": "tlp:red", "inherited": 1}]},
                {"event_id": 3, "type": "domain|ip", "value1": "a.example", "value2": "5.6.7.8",
                 "timestamp": 120, "_sim": {"warninglisted": true}, "custom": {"x": 1}}
            ]},
            "Event": [{"Event": {"id": "4", "info": "empty", "published": false, "timestamp": "50"}}]
        });
        let s = from_value(&v, 1000).unwrap();
        assert_eq!(s.attrs.len(), 2);
        assert_eq!(s.attrs[0].id, 7);
        assert_eq!(s.attrs[1].id, 8);
        assert_eq!(&*s.attrs[1].value, "a.example|5.6.7.8");
        assert!(s.attrs[1].warninglisted);
        let e = &s.events[s.attrs[0].event as usize];
        assert_eq!(e.id, 3);
        assert_eq!(e.timestamp, 120);
        assert_eq!(e.publish_timestamp, 150);
        assert_eq!(e.attribute_count, 2);
        assert_eq!(s.tags[e.tags[0] as usize].name.as_ref(), "tlp:red");
        assert_eq!(s.tags[s.attrs[0].tags[0] as usize].id, 9);
        assert_eq!(s.events.len(), 2);
        assert!(!s.events[s.find_event("4").unwrap() as usize].published);
    }

    #[test]
    fn rejects_duplicates_and_bad_shape() {
        assert!(from_value(&json!({"x": 1}), 0).is_err());
        let dup = json!({"response": {"Attribute": [
            {"id": 1, "type": "md5", "value": "a"}, {"id": 1, "type": "md5", "value": "b"}]}});
        assert!(from_value(&dup, 0).is_err());
    }
}
