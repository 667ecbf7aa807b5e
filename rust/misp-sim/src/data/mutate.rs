//! Changes to the data while the emulator runs, for refresh tests: add
//! attributes, soft-delete (bumps timestamps as MISP does), flip `to_ids`,
//! hard-delete (no tombstone), and touch events.

use super::fixture::{self, Pending};
use super::Store;
use serde::Deserialize;
use serde_json::{json, Map, Value};

fn yes() -> bool {
    true
}

/// The body of `POST /_sim/mutate`. Attribute references are ids (number or
/// string) or uuids; event references likewise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    /// Timestamp to record (default: the wall clock).
    #[serde(default)]
    pub now: Option<i64>,
    /// Attributes in MISP's JSON format; `event_id` (or `Event.id`) names the
    /// event, created when unknown (metadata from `Event`); `id` defaults to
    /// the next free id, `timestamp` to now.
    #[serde(default)]
    pub add: Vec<Map<String, Value>>,
    #[serde(default)]
    pub set_to_ids: Vec<Value>,
    #[serde(default)]
    pub unset_to_ids: Vec<Value>,
    #[serde(default)]
    pub soft_delete: Vec<Value>,
    #[serde(default)]
    pub hard_delete: Vec<Value>,
    #[serde(default)]
    pub touch_events: Vec<Value>,
    /// Whether touched events end published (publish_timestamp = now), as
    /// after a user publishes; `false` leaves them unpublished, as MISP does
    /// right after an edit. Default true.
    #[serde(default = "yes")]
    pub publish: bool,
}

fn key(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

/// Applies a mutation; returns a summary or an error (nothing applied when an
/// added attribute is malformed).
pub fn apply(store: &mut Store, m: &Mutation, wall: i64) -> Result<Value, String> {
    let now = m.now.unwrap_or(wall);
    let mut pending = Pending::default();
    let mut parsed = Vec::with_capacity(m.add.len());
    for (n, o) in m.add.iter().enumerate() {
        let (attr, id) = fixture::parse(store, &mut pending, o, now, None)
            .map_err(|e| format!("add[{n}]: {e}"))?;
        if let Some(id) = id {
            if store.find_attr(&id.to_string()).is_some()
                || parsed.iter().any(|(_, x)| *x == Some(id))
            {
                return Err(format!("add[{n}]: attribute id {id} exists"));
            }
        }
        parsed.push((attr, id));
    }

    let mut touched: Vec<u32> = Vec::new();
    let mut not_found = Vec::new();
    let mut added = Vec::new();
    for (mut attr, id) in parsed {
        attr.id = id.unwrap_or_else(|| store.next_attr_id());
        touched.push(attr.event);
        added.push(attr.id.to_string());
        match store.attrs.binary_search_by_key(&attr.id, |a| a.id) {
            Ok(_) => return Err(format!("attribute id {} exists", attr.id)),
            Err(pos) => store.attrs.insert(pos, attr),
        }
    }
    pending.finish(store);

    let mut edit = |list: &[Value], f: &dyn Fn(&mut super::Attribute)| -> usize {
        let mut n = 0;
        for v in list {
            let k = key(v);
            match store.find_attr(&k) {
                Some(pos) => {
                    let a = &mut store.attrs[pos];
                    f(a);
                    a.timestamp = now;
                    touched.push(a.event);
                    n += 1;
                }
                None => not_found.push(k),
            }
        }
        n
    };
    let set = edit(&m.set_to_ids, &|a| a.to_ids = true);
    let unset = edit(&m.unset_to_ids, &|a| a.to_ids = false);
    let soft = edit(&m.soft_delete, &|a| a.deleted = true);

    let mut hard = 0;
    for v in &m.hard_delete {
        let k = key(v);
        match store.find_attr(&k) {
            Some(pos) => {
                store.attrs.remove(pos);
                hard += 1;
            }
            None => not_found.push(k),
        }
    }
    let mut events = 0;
    for v in &m.touch_events {
        let k = key(v);
        match store.find_event(&k) {
            Some(i) => {
                touched.push(i);
                events += 1;
            }
            None => not_found.push(format!("event {k}")),
        }
    }
    touched.sort_unstable();
    touched.dedup();
    for &e in &touched {
        store.touch_event(e, now, m.publish);
    }
    store.recount();
    store.generation += 1;
    Ok(json!({
        "generation": store.generation,
        "now": now,
        "added": added,
        "set_to_ids": set,
        "unset_to_ids": unset,
        "soft_deleted": soft,
        "hard_deleted": hard,
        "touched_events": touched.iter().filter_map(|&i| store.events.get(i as usize)).map(|e| e.id.to_string()).collect::<Vec<_>>(),
        "touch_events_matched": events,
        "not_found": not_found,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        fixture::from_value(
            &json!({"response": {"Attribute": [
                {"id": 1, "event_id": 1, "type": "md5", "value": "a", "timestamp": 10},
                {"id": 2, "event_id": 1, "type": "md5", "value": "b", "timestamp": 10}
            ]}}),
            100,
        )
        .unwrap()
    }

    #[test]
    fn soft_delete_bumps_timestamps() {
        let mut s = store();
        let m: Mutation =
            serde_json::from_value(json!({"soft_delete": ["1"], "now": 500})).unwrap();
        let out = apply(&mut s, &m, 0).unwrap();
        assert_eq!(out["soft_deleted"], 1);
        assert!(s.attrs[0].deleted);
        assert_eq!(s.attrs[0].timestamp, 500);
        assert_eq!(s.events[0].timestamp, 500);
        assert_eq!(s.events[0].publish_timestamp, 500);
        assert_eq!(s.events[0].attribute_count, 1);
    }

    #[test]
    fn add_and_hard_delete() {
        let mut s = store();
        let m: Mutation = serde_json::from_value(json!({
            "add": [{"event_id": 9, "type": "domain", "value": "x.example",
                     "Event": {"info": "new one"}}],
            "hard_delete": [2, "nope"], "publish": false, "now": 600
        }))
        .unwrap();
        let out = apply(&mut s, &m, 0).unwrap();
        assert_eq!(out["added"], json!(["3"]));
        assert_eq!(out["not_found"], json!(["nope"]));
        assert_eq!(s.attrs.len(), 2);
        let e = &s.events[s.find_event("9").unwrap() as usize];
        assert_eq!(&*e.info, "new one");
        assert!(!e.published);
        assert_eq!(e.timestamp, 600);
        let bad: Mutation = serde_json::from_value(json!({"add": [{"value": "x"}]})).unwrap();
        assert!(apply(&mut s, &bad, 0).is_err());
        assert!(serde_json::from_value::<Mutation>(json!({"sfot_delete": []})).is_err());
    }
}
