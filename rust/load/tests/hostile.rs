//! A MISP serving hostile attributes: memcached commands after CRLF in
//! values, types and event ids; 10 KB, 100 KB and 200 KB values; NUL bytes,
//! terminal escapes, non-ASCII, spaces; composite values without `|`; types
//! with spaces; event ids that are not numbers; tags with commas. Each is
//! either mapped to a safe key by the core's one rule or refused and counted
//! under its reason; none reaches memcached raw, and none reaches the
//! terminal raw. What MISP's data model cannot hold (event ids that are not
//! numbers, types outside the request) comes as a raw page body, as from a
//! broken MISP or something impersonating it.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use misp_enrich_core::{is_safe_key, normalize, Keyspace, Namespace, Normalized};
use serde_json::{json, Value};

const INJECT: &str = "\r\nset misp-ip:1.2.3.4 0 0 1\r\nX\r\nflush_all\r\n";

fn a(id: u64, event: &str, t: &str, value: &str) -> Value {
    json!({"id": id.to_string(), "event_id": event, "type": t, "value": value, "to_ids": true})
}

/// The key the core's rule gives `raw` in `ns` (what the plugin looks up).
fn key_of(ns: Namespace, raw: &str) -> String {
    match normalize(ns, raw).unwrap() {
        Normalized::Exact(v) => Keyspace::default().key(ns, &v),
        Normalized::Range(net) => panic!("{net} is a range"),
    }
}

#[test]
fn hostile_attributes_are_mapped_to_safe_keys_or_refused() {
    let long10k = format!("http://evil.example/{}", "a".repeat(10 * 1024));
    let long100k = format!("http://evil.example/{}", "b".repeat(100 * 1024));
    let long200k = format!("http://evil.example/{}", "c".repeat(200 * 1024));
    let ua_inject = format!("Mozilla/5.0{INJECT}");
    let ua_nul = "Mozilla/5.0\u{0}evil";
    let ua_escape = "\u{1b}[2J\u{1b}[31mred\u{7}";
    let mutex_inject = format!("Global\\m{INJECT}");
    let regkey_space = "HKLM\\Software\\My Key";
    let attrs = json!([
        // Loaded, under digest keys (the value cannot be a key as it is).
        a(1, "1", "user-agent", &ua_inject),
        a(2, "1", "user-agent", ua_nul),
        a(3, "1", "user-agent", ua_escape),
        a(4, "1", "url", &long10k),
        a(5, "1", "url", &long100k),
        a(6, "1", "mutex", &mutex_inject),
        a(7, "1", "regkey", regkey_space),
        a(8, "1", "url", "http://evil.example/a b"),
        a(9, "1", "url", "http://bücher.example/ü"),
        // Loaded as the normal value (surrounding whitespace is not part of it).
        a(10, "1", "md5", "\r\nD41D8CD98F00B204E9800998ECF8427E\r\n"),
        a(11, "1", "named pipe", "\\\\.\\pipe\\Evil"),
        // Refused: not a domain / IP / email / URL with commands in it.
        a(20, "1", "domain", &format!("evil.example{INJECT}")),
        a(21, "1", "domain", "evil .example"),
        a(22, "1", "ip-dst", &format!("1.2.3.4{INJECT}")),
        a(23, "1", "ip-src", "1.2.3.4\u{0}"),
        a(24, "1", "email-src", &format!("a@evil.example{INJECT}")),
        a(25, "1", "sha256", &format!("{}{INJECT}", "e".repeat(64))),
        a(26, "1", "url", &long200k),
        // Refused: composite without `|`.
        a(30, "1", "filename|sha256", &"e".repeat(64)),
        a(31, "1", "domain|ip", "evil.example"),
        // Fine, in an event with hostile metadata.
        a(60, "2", "domain", "fine.example"),
        // Non-ASCII domain: punycode, as the plugin looks it up.
        a(61, "2", "domain", "Bücher.Example."),
    ]);
    let events = json!([
        event(1, &format!("Hostile{INJECT}info"), &["tlp:amber"]),
        event(
            2,
            "Tags with commas",
            &["misp-galaxy:threat-actor=\"APT, 28\"", "a,b,c", "tlp:white"]
        ),
    ]);
    let sim = Sim::with_fixture(attrs, events, &[]);
    let mc = TestServer::start();
    set(&mc, "canary", "still here");
    let cfg = Cfg::new(
        &sim.url,
        &[mc.addr()],
        "",
        "email:\n  enabled: true\nhost:\n  enabled: true\n",
    );
    let r = run(&cfg.path, &["--json", "-vv"]).expect(0);
    let s = r.json();

    // Refused, each under its reason.
    let skipped: BTreeMap<String, u64> = serde_json::from_value(s["skipped"].clone()).unwrap();
    let want: BTreeMap<String, u64> = [
        ("composite value without `|`", 2),
        ("invalid domain value", 2),
        ("invalid email value", 1),
        ("invalid ip value", 2),
        ("invalid sha256 value", 1),
        ("value too long", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(skipped, want, "{s}");

    // Loaded, under the key the core's rule gives (the plugin's lookup key).
    let held = held_keys(&mc);
    let mut expect: BTreeMap<String, String> = BTreeMap::new();
    for (ns, raw, t) in [
        (Namespace::UserAgent, ua_inject.as_str(), "user-agent"),
        (Namespace::UserAgent, ua_nul, "user-agent"),
        (Namespace::UserAgent, ua_escape, "user-agent"),
        (Namespace::Url, long10k.as_str(), "url"),
        (Namespace::Url, long100k.as_str(), "url"),
        (Namespace::Mutex, mutex_inject.as_str(), "mutex"),
        (Namespace::Regkey, regkey_space, "regkey"),
        (Namespace::Url, "http://evil.example/a b", "url"),
        (Namespace::Url, "http://bücher.example/ü", "url"),
        (Namespace::Md5, "D41D8CD98F00B204E9800998ECF8427E", "md5"),
        (Namespace::NamedPipe, "\\\\.\\pipe\\Evil", "named pipe"),
        (Namespace::Domain, "fine.example", "domain"),
        (Namespace::Domain, "Bücher.Example.", "domain"),
    ] {
        let ev = if t == "domain" { "2" } else { "1" };
        expect.insert(key_of(ns, raw), format!("{ev}#{t}"));
    }
    assert_eq!(held, expect);
    let digests = held.keys().filter(|k| k.contains(":~sha256:")).count();
    assert_eq!(digests, 9, "{held:#?}");
    assert!(held.contains_key("misp-domain:xn--bcher-kva.example"));
    assert_eq!(
        held.get("misp-md5:d41d8cd98f00b204e9800998ecf8427e")
            .map(String::as_str),
        Some("1#md5")
    );

    // memcached's whole key list: only safe keys of the expected families;
    // nothing injected, nothing flushed.
    let all = snapshot(&mc);
    for k in all.keys() {
        assert!(is_safe_key(k), "{k:?}");
        let known = k == "canary"
            || k == "misp-stats"
            || k == "misp-load"
            || k.starts_with("misp-event:")
            || held.contains_key(k);
        assert!(known, "unexpected key {k:?}");
    }
    assert!(!all.contains_key("misp-ip:1.2.3.4"));
    assert_eq!(all.get("canary").map(String::as_str), Some("still here"));
    let stats = mc_stats(&mc);
    assert_eq!(stats["cmd_flush"], "0");
    assert_eq!(get(&mc, "misp-stats"), Some(held.len().to_string()));

    // Event metadata keeps hostile text as data (JSON), tags with commas whole.
    let e1: Value = serde_json::from_str(&all["misp-event:1"]).unwrap();
    assert_eq!(e1["info"], format!("Hostile{INJECT}info"));
    let e2: Value = serde_json::from_str(&all["misp-event:2"]).unwrap();
    assert_eq!(
        e2["tags"],
        json!(["misp-galaxy:threat-actor=\"APT, 28\"", "a,b,c", "tlp:white"])
    );
    assert_eq!(all.len(), held.len() + 5, "{:#?}", all.keys());

    // Nothing hostile reached the terminal raw: no CR, NUL, BEL or ESC.
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for c in ['\r', '\0', '\u{7}', '\u{1b}'] {
            assert!(!text.contains(c), "{name} has {c:?}:\n{text}");
        }
    }
    // The text summary says why things were skipped.
    let r = run(&cfg.path, &["--full"]).expect(0);
    assert!(r.stdout.contains("value too long"), "{}", r.stdout);
    assert!(!r.stdout.contains('\r') && !r.stderr.contains('\u{1b}'));
    // A second run (a full reconcile) finds every key its own.
    assert_eq!(held_keys(&mc), expect);
}

/// The indicator keys (without the test's canary).
fn held_keys(mc: &TestServer) -> BTreeMap<String, String> {
    indicators(mc)
        .into_iter()
        .filter(|(k, _)| k != "canary")
        .collect()
}

/// memcached's `stats`.
fn mc_stats(server: &TestServer) -> BTreeMap<String, String> {
    mc(server).stats().unwrap().into_iter().collect()
}

#[test]
fn attributes_misp_could_not_hold_are_refused() {
    // A raw restSearch answer: what a broken or impersonated MISP could send.
    let body = json!({"response": {"Attribute": [
        {"id": "1", "event_id": "1 OR 1=1", "type": "domain", "value": "e1.example"},
        {"id": "2", "event_id": "12abc", "type": "domain", "value": "e2.example"},
        {"id": "3", "event_id": "-5", "type": "domain", "value": "e3.example"},
        {"id": "4", "event_id": format!("7{INJECT}"), "type": "domain", "value": "e4.example"},
        {"id": "5", "event_id": "123456789012345678901", "type": "domain", "value": "e5.example"},
        {"id": "6", "event_id": "", "type": "domain", "value": "e6.example"},
        {"id": "7", "event_id": "8", "type": "ip dst", "value": "1.2.3.4"},
        {"id": "8", "event_id": "8", "type": format!("domain{INJECT}"), "value": "e8.example"},
        {"id": "9", "event_id": "8", "type": "Domain", "value": "e9.example"},
        {"id": "10", "event_id": "8", "type": "domain", "value": null},
        {"id": "11", "event_id": "8", "type": "domain", "value": format!("{INJECT}")},
        // Fine: an id as a JSON number, a type with a space.
        {"id": "12", "event_id": 7, "type": "domain", "value": "num.example"},
        {"id": "13", "event_id": "8", "type": "named pipe", "value": "\\\\.\\pipe\\x"},
    ]}});
    let sim = Sim::with_fixture(json!([]), json!([]), &[]);
    sim.faults(json!({"rules": [{"page": 1, "status": 200,
                                 "body": serde_json::to_string(&body).unwrap()}]}));
    let mc = TestServer::start();
    set(&mc, "canary", "still here");
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "host:\n  enabled: true\n");
    let r = run(&cfg.path, &["--json", "-vv"]).expect(0);
    let s = r.json();
    let skipped: BTreeMap<String, u64> = serde_json::from_value(s["skipped"].clone()).unwrap();
    let want: BTreeMap<String, u64> = [
        ("bad event id", 6),
        ("unknown type", 3),
        ("empty value", 1),
        ("invalid domain value", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(skipped, want, "{s}");
    let all = snapshot(&mc);
    let held = held_keys(&mc);
    let want: BTreeMap<String, String> = [
        ("misp-domain:num.example", "7#domain"),
        ("misp-named-pipe:x", "8#named pipe"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(held, want);
    for k in all.keys() {
        assert!(is_safe_key(k), "{k:?}");
        assert!(
            ["canary", "misp-stats", "misp-load"].contains(&k.as_str()) || held.contains_key(k),
            "unexpected key {k:?}"
        );
    }
    assert_eq!(all.get("canary").map(String::as_str), Some("still here"));
    assert_eq!(mc_stats(&mc)["cmd_flush"], "0");
    for c in ['\r', '\0', '\u{1b}'] {
        assert!(!r.stderr.contains(c) && !r.stdout.contains(c), "{c:?}");
    }
}
