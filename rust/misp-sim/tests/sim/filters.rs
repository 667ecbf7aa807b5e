//! restSearch filters and output shapes, on a hand-written fixture with
//! hostile values.

use crate::harness::*;
use serde_json::{json, Value};

const H: i64 = 3600;
const D: i64 = 86_400;

pub fn long_url() -> String {
    format!("http://long.example/{}", "a".repeat(10_240))
}

/// Three events (10 published amber, 20 published green, 30 unpublished) and
/// nine attributes; 105 is soft-deleted, 103 is not IDS.
pub fn fixture(now: i64) -> Value {
    let ev = |id: u64, info: &str| {
        json!({"id": id.to_string(), "info": info, "org_id": "1",
        "orgc_id": "2", "distribution": "1", "uuid": format!("0000000{id}-0000-4000-8000-000000000000")})
    };
    let s = |x: i64| x.to_string();
    json!({
        "response": {"Attribute": [
            {"id": "101", "event_id": "10", "type": "ip-dst", "category": "Network activity",
             "value": "198.51.100.7", "to_ids": true, "timestamp": s(now - 3 * H),
             "uuid": "aaaaaaaa-0000-4000-8000-000000000101", "Event": ev(10, "Ten")},
            {"id": "102", "event_id": "10", "type": "domain|ip", "value": "evil.example|203.0.113.9",
             "to_ids": true, "timestamp": s(now - 3 * H),
             "Tag": [{"id": "50", "name": "kill-chain:Command and Control", "colour": "#b33225"}]},
            {"id": "103", "event_id": "10", "type": "sha256",
             "value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
             "to_ids": false, "timestamp": s(now - 3 * H)},
            {"id": "104", "event_id": "20", "type": "url", "value": "http://x.example/a\r\nInjected: 1",
             "to_ids": true, "timestamp": s(now - 10 * D), "Event": ev(20, "Twenty")},
            {"id": "105", "event_id": "20", "type": "filename|md5",
             "value": "Rechnung März 2024.exe|d41d8cd98f00b204e9800998ecf8427e",
             "to_ids": true, "deleted": true, "timestamp": s(now - 5 * D)},
            {"id": "106", "event_id": "20", "type": "url", "value": long_url(),
             "to_ids": true, "timestamp": s(now - 10 * D)},
            {"id": "107", "event_id": "30", "type": "md5", "value": "D41D8CD98F00B204E9800998ECF8427E",
             "to_ids": true, "timestamp": s(now - 30 * D), "Event": ev(30, "Thirty ünïcødé")},
            {"id": "108", "event_id": "30", "type": "email", "value": "x@y.example",
             "to_ids": true, "timestamp": s(now - 30 * D)},
            {"id": "109", "event_id": "30", "type": "yara",
             "value": "rule x {\n condition:\n  true\n}", "to_ids": true,
             "timestamp": s(now - 30 * D), "comment": "multi\nline"}
        ]},
        "Event": [
            {"Event": {"id": "10", "info": "Ten", "published": true, "timestamp": s(now - 2 * H),
                       "publish_timestamp": s(now - H), "threat_level_id": "1", "date": "2024-05-01",
                       "distribution": "1", "org_id": "1",
                       "uuid": "00000010-0000-4000-8000-000000000000",
                       "Orgc": {"id": "2", "name": "ACME-CSIRT", "uuid": "11111111-2222-4333-8444-555555555555"},
                       "Tag": [{"id": "3", "name": "tlp:amber", "colour": "#FFC000"}]}},
            {"Event": {"id": "20", "info": "Twenty", "published": true, "timestamp": s(now - 10 * D),
                       "publish_timestamp": s(now - 10 * D),
                       "Tag": [{"id": "2", "name": "tlp:green", "colour": "#339900"}]}},
            {"Event": {"id": "30", "info": "Thirty ünïcødé", "published": false,
                       "timestamp": s(now - 30 * D), "publish_timestamp": "0"}}
        ]
    })
}

pub fn start_fixture(name: &str) -> Sim {
    let path = write_file(name, &fixture(now()).to_string());
    Sim::start(&["--fixture", path.to_str().unwrap()])
}

fn ids(sim: &Sim, body: Value) -> Vec<u64> {
    let mut v = sim.ids(body);
    v.sort_unstable();
    v
}

#[test]
fn fixture_values_round_trip_exactly() {
    let sim = start_fixture("roundtrip.json");
    let attrs = sim.search(json!({"deleted": [0, 1]})).attrs();
    assert_eq!(attrs.len(), 9);
    let by_id = |id: &str| attrs.iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(by_id("104")["value"], "http://x.example/a\r\nInjected: 1");
    assert_eq!(
        by_id("105")["value"],
        "Rechnung März 2024.exe|d41d8cd98f00b204e9800998ecf8427e"
    );
    assert_eq!(by_id("106")["value"].as_str().unwrap(), long_url());
    assert_eq!(by_id("107")["value"], "D41D8CD98F00B204E9800998ECF8427E");
    assert_eq!(by_id("109")["value"], "rule x {\n condition:\n  true\n}");
    assert_eq!(by_id("107")["Event"]["info"], "Thirty ünïcødé");
}

#[test]
fn attribute_json_shape() {
    let sim = start_fixture("shape.json");
    let attrs = sim.search(json!({"eventid": 10})).attrs();
    let a = &attrs[0];
    assert_eq!(a["id"], "101");
    assert_eq!(a["event_id"], "10");
    assert_eq!(a["object_id"], "0");
    assert!(a["object_relation"].is_null());
    assert_eq!(a["category"], "Network activity");
    assert_eq!(a["type"], "ip-dst");
    assert_eq!(a["to_ids"], true);
    assert_eq!(a["deleted"], false);
    assert_eq!(a["disable_correlation"], false);
    assert_eq!(a["distribution"], "5");
    assert_eq!(a["sharing_group_id"], "0");
    assert!(a["timestamp"].is_string());
    assert!(a["first_seen"].is_null());
    assert_eq!(a["uuid"], "aaaaaaaa-0000-4000-8000-000000000101");
    let mut keys: Vec<&str> = a["Event"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "distribution",
            "id",
            "info",
            "org_id",
            "orgc_id",
            "publish_timestamp",
            "uuid"
        ]
    );
    assert_eq!(a["Event"]["id"], "10");
    assert_eq!(a["Event"]["orgc_id"], "2");
    // Tag only where tags exist; no event_uuid unless asked.
    assert!(a.get("Tag").is_none());
    assert!(a.get("event_uuid").is_none());
    assert_eq!(attrs[1]["Tag"][0]["name"], "kill-chain:Command and Control");
    assert_eq!(attrs[1]["Tag"][0]["id"], "50");
    assert_eq!(attrs[1]["Tag"][0]["is_galaxy"], false);
    // Composite values stay "a|b".
    assert_eq!(attrs[1]["value"], "evil.example|203.0.113.9");
}

#[test]
fn include_options() {
    let sim = start_fixture("include.json");
    let a = &sim
        .search(json!({"eventid": 10, "includeEventUuid": true}))
        .attrs()[0];
    assert_eq!(a["event_uuid"], "00000010-0000-4000-8000-000000000000");

    let a = &sim
        .search(json!({"eventid": 10, "includeEventTags": 1}))
        .attrs()[1];
    let tags: Vec<(&str, Option<i64>)> = a["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t.get("inherited").and_then(Value::as_i64),
            )
        })
        .collect();
    assert_eq!(
        tags,
        vec![
            ("kill-chain:Command and Control", None),
            ("tlp:amber", Some(1))
        ]
    );

    let a = &sim
        .search(json!({"eventid": 10, "includeContext": true}))
        .attrs()[0];
    let e = &a["Event"];
    assert_eq!(e["threat_level_id"], "1");
    assert_eq!(e["date"], "2024-05-01");
    assert_eq!(e["published"], true);
    assert_eq!(e["Orgc"]["name"], "ACME-CSIRT");
    assert_eq!(e["Tag"][0]["name"], "tlp:amber");
    assert_eq!(e["attribute_count"], "3");
    // PHP truthiness: "0" is false.
    let a = &sim
        .search(json!({"eventid": 10, "includeContext": "0"}))
        .attrs()[0];
    assert!(a["Event"].get("threat_level_id").is_none());
}

#[test]
fn type_filter_forms() {
    let sim = start_fixture("type.json");
    assert_eq!(ids(&sim, json!({"type": "md5"})), vec![107]);
    assert_eq!(
        ids(&sim, json!({"type": ["md5", "sha256"]})),
        vec![103, 107]
    );
    assert_eq!(ids(&sim, json!({"type": "md5||sha256"})), vec![103, 107]);
    assert_eq!(
        ids(
            &sim,
            json!({"type": {"OR": ["md5", "sha256"], "NOT": ["sha256"]}})
        ),
        vec![107]
    );
    assert_eq!(
        ids(&sim, json!({"type": ["url", "!url"]})),
        Vec::<u64>::new()
    );
    // email-src implies email.
    assert_eq!(ids(&sim, json!({"type": "email-src"})), vec![108]);
    assert_eq!(
        ids(&sim, json!({"type": "filename|%", "deleted": [0, 1]})),
        vec![105]
    );
    assert_eq!(
        ids(&sim, json!({"type": "no-such-type"})),
        Vec::<u64>::new()
    );
}

#[test]
fn to_ids_deleted_published() {
    let sim = start_fixture("flags.json");
    let ids_on = vec![101, 102, 104, 106, 107, 108, 109];
    for v in [json!(true), json!(1), json!("1"), json!("yes")] {
        assert_eq!(ids(&sim, json!({"to_ids": v})), ids_on, "{v}");
    }
    for v in [json!(false), json!(0), json!("no"), json!("exclude")] {
        assert_eq!(ids(&sim, json!({"to_ids": v})), vec![103], "{v}");
    }
    assert_eq!(ids(&sim, json!({"to_ids": [0, 1]})).len(), 8);
    // deleted: absent = live only; 1 = only deleted; [0,1] = both.
    assert_eq!(ids(&sim, all()).len(), 8);
    assert_eq!(ids(&sim, json!({"deleted": false})).len(), 8);
    assert_eq!(ids(&sim, json!({"deleted": 1})), vec![105]);
    assert_eq!(ids(&sim, json!({"deleted": true})), vec![105]);
    assert_eq!(ids(&sim, json!({"deleted": [0, 1]})).len(), 9);
    // published: omit = both.
    assert_eq!(
        ids(&sim, json!({"published": true})),
        vec![101, 102, 103, 104, 106]
    );
    assert_eq!(ids(&sim, json!({"published": false})), vec![107, 108, 109]);
    assert_eq!(ids(&sim, json!({"published": [0, 1]})).len(), 8);
}

#[test]
fn tag_filters() {
    let sim = start_fixture("tags.json");
    // OR: on the attribute or its event.
    assert_eq!(ids(&sim, json!({"tags": "tlp:amber"})), vec![101, 102, 103]);
    assert_eq!(
        ids(&sim, json!({"tags": ["tlp:amber", "tlp:green"]})),
        vec![101, 102, 103, 104, 106]
    );
    assert_eq!(
        ids(&sim, json!({"tags": "tlp:%"})),
        vec![101, 102, 103, 104, 106]
    );
    assert_eq!(ids(&sim, json!({"tags": "TLP:AMBER"})), vec![101, 102, 103]);
    assert_eq!(ids(&sim, json!({"tags": "3"})), vec![101, 102, 103]);
    assert_eq!(ids(&sim, json!({"tags": "kill-chain:%"})), vec![102]);
    // NOT: neither the attribute nor its event has it.
    assert_eq!(
        ids(&sim, json!({"tags": {"NOT": ["tlp:amber"]}})),
        vec![104, 106, 107, 108, 109]
    );
    assert_eq!(ids(&sim, json!({"tags": "!tlp:%"})), vec![107, 108, 109]);
    // AND: all present.
    assert_eq!(
        ids(
            &sim,
            json!({"tags": {"AND": ["tlp:amber", "kill-chain:%"]}})
        ),
        vec![102]
    );
    assert_eq!(
        ids(&sim, json!({"tags": "tlp:amber&&tlp:green"})),
        Vec::<u64>::new()
    );
    // Unknown OR tags: empty result.
    assert_eq!(ids(&sim, json!({"tags": "no-such-tag"})), Vec::<u64>::new());
    assert_eq!(
        ids(&sim, json!({"tags": ["no-such-tag", "tlp:green"]})),
        vec![104, 106]
    );
}

#[test]
fn time_filters() {
    let sim = start_fixture("time.json");
    let now = now();
    let recent = vec![101, 102, 103];
    assert_eq!(ids(&sim, json!({"timestamp": now - 4 * H})), recent);
    assert_eq!(
        ids(&sim, json!({"timestamp": (now - 4 * H).to_string()})),
        recent
    );
    assert_eq!(ids(&sim, json!({"attribute_timestamp": "4h"})), recent);
    assert_eq!(ids(&sim, json!({"timestamp": "240m"})), recent);
    assert_eq!(
        ids(&sim, json!({"timestamp": "11d"})),
        vec![101, 102, 103, 104, 106]
    );
    // A range, in either order.
    assert_eq!(
        ids(&sim, json!({"timestamp": ["11d", "4h"]})),
        vec![104, 106]
    );
    assert_eq!(
        ids(&sim, json!({"timestamp": [now - 4 * H, now - 11 * D]})),
        vec![104, 106]
    );
    assert_eq!(
        ids(&sim, json!({"timestamp": [0, "20d"]})),
        vec![107, 108, 109]
    );
    // Unparseable: empty, not an error; the string "[14d, 7d]" is no range.
    assert_eq!(
        ids(&sim, json!({"timestamp": "last tuesday"})),
        Vec::<u64>::new()
    );
    assert_eq!(
        ids(&sim, json!({"timestamp": "[14d, 7d]"})),
        Vec::<u64>::new()
    );
    assert_eq!(ids(&sim, json!({"timestamp": "1w"})), Vec::<u64>::new());
    // Event timestamps.
    assert_eq!(ids(&sim, json!({"event_timestamp": "3d"})), recent);
    assert_eq!(ids(&sim, json!({"publish_timestamp": "2h"})), recent);
    assert_eq!(ids(&sim, json!({"last": "2h"})), recent);
    assert_eq!(
        ids(&sim, json!({"publish_timestamp": ["40d", "5d"]})),
        vec![104, 106]
    );
    assert_eq!(
        ids(&sim, json!({"event_timestamp": ["40d", "5d"]})),
        vec![104, 106, 107, 108, 109]
    );
    // Date strings.
    let date = |t: i64| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%d"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let two_days_ago = date(now - 2 * D);
    assert_eq!(ids(&sim, json!({"timestamp": two_days_ago})), recent);
}

#[test]
fn value_eventid_uuid_filters() {
    let sim = start_fixture("value.json");
    // value matches value1 or value2 of composites.
    assert_eq!(ids(&sim, json!({"value": "203.0.113.9"})), vec![102]);
    assert_eq!(ids(&sim, json!({"value": "evil.example"})), vec![102]);
    assert_eq!(
        ids(&sim, json!({"value": "http://long.example/%"})),
        vec![106]
    );
    assert_eq!(
        ids(&sim, json!({"value": ["198.51.100.7", "x@y.example"]})),
        vec![101, 108]
    );
    assert_eq!(
        ids(&sim, json!({"eventid": [10, 30]})),
        vec![101, 102, 103, 107, 108, 109]
    );
    assert_eq!(ids(&sim, json!({"eventid": "20"})), vec![104, 106]);
    assert_eq!(
        ids(&sim, json!({"eventid": {"NOT": [10]}})),
        vec![104, 106, 107, 108, 109]
    );
    assert_eq!(
        ids(
            &sim,
            json!({"eventid": "00000010-0000-4000-8000-000000000000"})
        ),
        vec![101, 102, 103]
    );
    assert_eq!(
        ids(
            &sim,
            json!({"uuid": "aaaaaaaa-0000-4000-8000-000000000101"})
        ),
        vec![101]
    );
    // Unknown parameter names are ignored; names are case-sensitive.
    assert_eq!(ids(&sim, json!({"Type": "md5", "bogus": 1})).len(), 8);
}

#[test]
fn events_rest_search_metadata() {
    let sim = start_fixture("events.json");
    let r = sim.post(
        "/events/restSearch",
        &json!({"metadata": true, "eventid": [10, 30]}).to_string(),
        &json_headers(),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    let list = v["response"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let e = &list[0]["Event"];
    assert_eq!(e["id"], "10");
    assert_eq!(e["orgc_id"], "2");
    assert_eq!(e["org_id"], "1");
    assert_eq!(e["date"], "2024-05-01");
    assert_eq!(e["threat_level_id"], "1");
    assert_eq!(e["info"], "Ten");
    assert_eq!(e["published"], true);
    assert_eq!(e["uuid"], "00000010-0000-4000-8000-000000000000");
    assert_eq!(e["attribute_count"], "3");
    assert!(e["analysis"].is_string());
    assert!(e["timestamp"].is_string());
    assert!(e["publish_timestamp"].is_string());
    assert_eq!(e["distribution"], "1");
    assert_eq!(e["Orgc"]["uuid"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(e["Tag"][0]["name"], "tlp:amber");
    assert!(e.get("Attribute").is_none());
    assert_eq!(list[1]["Event"]["published"], false);
    assert!(list[1]["Event"].get("Tag").is_none());
    // Without metadata, events carry their live attributes.
    let full = sim
        .post(
            "/events/restSearch",
            &json!({"eventid": 20}).to_string(),
            &json_headers(),
        )
        .json();
    let attrs = full["response"][0]["Event"]["Attribute"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = attrs.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["104", "106"]);
    let none = sim
        .post(
            "/events/restSearch",
            &json!({"eventid": 99, "metadata": 1}).to_string(),
            &json_headers(),
        )
        .json();
    assert_eq!(none, json!({"response": []}));
}

#[test]
fn generated_data_has_the_documented_mix() {
    let sim = Sim::start(&["--generate", "20000", "--now", "1700000000"]);
    let attrs = sim
        .search(json!({"deleted": [0, 1], "includeEventTags": true}))
        .attrs();
    assert_eq!(attrs.len(), 20_000);
    let count = |f: &dyn Fn(&Value) -> bool| attrs.iter().filter(|a| f(a)).count();
    let frac = |n: usize| n as f64 / 20_000.0;
    let deleted = frac(count(&|a| a["deleted"] == true));
    assert!((0.02..0.04).contains(&deleted), "{deleted}");
    let non_ids = frac(count(&|a| a["to_ids"] == false));
    assert!((0.10..0.20).contains(&non_ids), "{non_ids}");
    let is = |a: &Value, t: &str| a["type"] == t;
    assert!(
        count(
            &|a| (is(a, "ip-dst") || is(a, "ip-src")) && a["value"].as_str().unwrap().contains('/')
        ) > 10
    );
    assert!(
        count(
            &|a| (is(a, "ip-dst") || is(a, "ip-src")) && a["value"].as_str().unwrap().contains(':')
        ) > 100
    );
    assert!(
        count(&|a| is(a, "sha256")
            && a["value"]
                .as_str()
                .unwrap()
                .bytes()
                .any(|b| b.is_ascii_uppercase()))
            > 5
    );
    for t in [
        "md5",
        "sha1",
        "sha512",
        "imphash",
        "filename|sha256",
        "malware-sample",
        "ip-dst|port",
        "domain|ip",
        "hostname|port",
        "url",
        "user-agent",
        "email-src",
        "mutex",
        "named pipe",
        "regkey|value",
        "ja3-fingerprint-md5",
        "sha224",
        "sha384",
        "ssdeep",
        "tlsh",
        "authentihash",
        "yara",
        "snort",
    ] {
        assert!(count(&|a| is(a, t)) > 0, "no {t}");
    }
    // Every attribute sees exactly one TLP tag through its event.
    assert!(attrs.iter().all(|a| a["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("tlp:"))
        .count()
        >= 1));
    // Event timestamps within the last 400 days of --now.
    for a in &attrs {
        let ts: i64 = a["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(
            (1_700_000_000 - 401 * D..1_700_000_000).contains(&ts),
            "{ts}"
        );
    }
    // Same seed, same data.
    let again = Sim::start(&["--generate", "50", "--now", "1700000000"]);
    let first: Vec<Value> = attrs[..50].to_vec();
    let mut second = again
        .search(json!({"deleted": [0, 1], "includeEventTags": true}))
        .attrs();
    second.truncate(50);
    assert_eq!(first.len(), second.len());
    for (x, y) in first.iter().zip(&second) {
        assert_eq!(x["value"], y["value"]);
        assert_eq!(x["uuid"], y["uuid"]);
    }
}
