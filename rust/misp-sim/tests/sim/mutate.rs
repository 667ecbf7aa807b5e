//! Runtime data changes for refresh tests.

use crate::filters::start_fixture;
use crate::harness::*;
use serde_json::json;

fn ids(sim: &Sim, body: serde_json::Value) -> Vec<u64> {
    let mut v = sim.ids(body);
    v.sort_unstable();
    v
}

#[test]
fn soft_delete_bumps_timestamps_and_hides_the_row() {
    let sim = start_fixture("mut-soft.json");
    let t0 = now();
    let out = sim.admin("/_sim/mutate", json!({"soft_delete": ["104"]}));
    assert_eq!(out["soft_deleted"], 1);
    assert!(!ids(&sim, all()).contains(&104));
    assert_eq!(ids(&sim, json!({"deleted": 1})), vec![104, 105]);
    // A delta window on attribute timestamp finds the tombstone...
    let delta = sim
        .search(json!({"timestamp": t0 - 5, "deleted": [0, 1]}))
        .attrs();
    assert_eq!(delta.len(), 1);
    assert_eq!(delta[0]["id"], "104");
    assert_eq!(delta[0]["deleted"], true);
    // ...and the event moved too (published again by default).
    let ev = ids(&sim, json!({"event_timestamp": t0 - 5, "published": true}));
    assert_eq!(ev, vec![106]);
    let pubd = ids(
        &sim,
        json!({"publish_timestamp": t0 - 5, "deleted": [0, 1]}),
    );
    assert_eq!(pubd, vec![104, 105, 106]);
}

#[test]
fn edit_without_publish_unpublishes_the_event() {
    let sim = start_fixture("mut-unpub.json");
    sim.admin(
        "/_sim/mutate",
        json!({"unset_to_ids": [101], "publish": false}),
    );
    assert!(!ids(&sim, json!({"to_ids": true})).contains(&101));
    let a = &sim.search(json!({"value": "198.51.100.7"})).attrs()[0];
    assert_eq!(a["to_ids"], false);
    assert!(ids(&sim, json!({"published": true, "eventid": 10})).is_empty());
    sim.admin("/_sim/mutate", json!({"touch_events": [10]}));
    assert_eq!(
        ids(&sim, json!({"published": true, "eventid": 10})),
        vec![101, 102, 103]
    );
    sim.admin(
        "/_sim/mutate",
        json!({"set_to_ids": ["aaaaaaaa-0000-4000-8000-000000000101"]}),
    );
    assert!(ids(&sim, json!({"to_ids": true})).contains(&101));
}

#[test]
fn add_and_hard_delete() {
    let sim = start_fixture("mut-add.json");
    let out = sim.admin(
        "/_sim/mutate",
        json!({
            "add": [
                {"event_id": "10", "type": "domain", "value": "new.example"},
                {"event_id": "40", "type": "ip-src", "value": "192.0.2.1",
                 "Event": {"info": "Forty", "Tag": [{"name": "tlp:red"}]}}
            ],
            "hard_delete": [106]
        }),
    );
    assert_eq!(out["added"], json!(["110", "111"]));
    assert_eq!(out["hard_deleted"], 1);
    assert_eq!(ids(&sim, json!({"value": "new.example"})), vec![110]);
    let forty = sim
        .search(json!({"eventid": 40, "includeContext": 1}))
        .attrs();
    assert_eq!(forty[0]["Event"]["info"], "Forty");
    assert_eq!(forty[0]["Event"]["published"], true);
    assert_eq!(ids(&sim, json!({"tags": "tlp:red"})), vec![111]);
    // Hard deletes leave nothing behind.
    assert!(!ids(&sim, json!({"deleted": [0, 1]})).contains(&106));
    let st = sim.state();
    assert_eq!(st["attributes"]["total"], 10);
    assert_eq!(st["attributes"]["deleted"], 1);
    assert_eq!(st["events"]["total"], 4);
    assert_eq!(st["generation"], 1);
    // Malformed mutations are refused and change nothing.
    let r = sim.post("/_sim/mutate", r#"{"add":[{"value":"no type"}]}"#, &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("type"));
    let r = sim.post("/_sim/mutate", r#"{"softdelete":[1]}"#, &[]);
    assert_eq!(r.status, 400);
    assert_eq!(sim.state()["attributes"]["total"], 10);
}
