//! Loading: keys and values exactly per the core's rules, for every seed
//! namespace and composite split, odd values, several servers, runs at the
//! same time, values the seed wrote, event metadata and the range index.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use misp_enrich_core::{Keyspace, Namespace, ServerRing};
use serde_json::{json, Value};

const SHA256: &str = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
const LONG_PATH: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn seed_fixture() -> (Value, Value) {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    let sha512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
    let imphash = "f34d5f2d4577ed6d9ceec516c1f5a744";
    let attrs = json!([
        attr(1, 1, "md5", &md5.to_uppercase()),
        attr(2, 1, "sha1", sha1),
        attr(3, 1, "sha256", SHA256),
        attr(4, 1, "sha512", sha512),
        attr(5, 1, "imphash", imphash),
        attr(6, 2, "filename|md5", &format!("calc.exe|{md5}")),
        attr(
            7,
            2,
            "filename|sha1",
            &format!("calc.exe|{}", sha1.to_uppercase())
        ),
        attr(8, 2, "filename|sha256", &format!("my calc.exe|{SHA256}")),
        attr(9, 2, "filename|sha512", &format!("calc.exe|{sha512}")),
        attr(10, 2, "filename|imphash", &format!("calc.exe|{imphash}")),
        attr(11, 3, "ip-src", "198.51.100.7"),
        attr(12, 3, "ip-dst", "2001:DB8:0:0:0:0:0:1"),
        attr(13, 3, "ip-src|port", "198.51.100.8|4444"),
        attr(14, 3, "ip-dst|port", "203.0.113.9|443"),
        attr(15, 3, "domain", "Evil.Example."),
        attr(16, 4, "domain|ip", "c2.example|203.0.113.9"),
        attr(17, 4, "url", "HTTP://Evil.Example:80/gate.php?id=1#frag"),
        attr(18, 4, "url", &format!("https://evil.example/{LONG_PATH}")),
        attr(19, 4, "url", "http://evil.example/a b\u{e9}"),
        attr(20, 5, "ip-dst", "10.1.2.3/16"),
        attr(21, 5, "sha256", "not-a-hash"),
        json!({"id": "22", "event_id": "5", "type": "domain", "value": "benign.example", "to_ids": false}),
        attr(23, 5, "yara", "rule x { condition: true }"),
    ]);
    let events = json!([
        event(1, "Hashes", &["tlp:amber"]),
        event(
            2,
            "File names",
            &["tlp:green", "misp-galaxy:malpedia=\"Emotet\""]
        ),
        event(3, "Network", &["tlp:red"]),
        event(4, "Web", &[]),
        event(5, "Ranges", &["tlp:white"]),
    ]);
    (attrs, events)
}

#[test]
fn every_seed_namespace_and_composite_split() {
    let (attrs, events) = seed_fixture();
    let sim = Sim::with_fixture(attrs, events, &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let s = load(&cfg.path, &[]);
    assert_eq!(s["mode"], "initial");
    let ks = Keyspace::default();
    let sha = SHA256.to_ascii_lowercase();
    let want: Vec<(String, &str)> = vec![
        ("misp-md5:d41d8cd98f00b204e9800998ecf8427e".into(), "1#md5,2#filename|md5"),
        ("misp-sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709".into(), "1#sha1,2#filename|sha1"),
        (format!("misp-sha256:{sha}"), "1#sha256,2#filename|sha256"),
        ("misp-sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".into(), "1#sha512,2#filename|sha512"),
        ("misp-imphash:f34d5f2d4577ed6d9ceec516c1f5a744".into(), "1#imphash,2#filename|imphash"),
        ("misp-ip:198.51.100.7".into(), "3#ip-src"),
        ("misp-ip:2001:db8::1".into(), "3#ip-dst"),
        ("misp-ip:198.51.100.8".into(), "3#ip-src|port"),
        ("misp-ip:203.0.113.9".into(), "3#ip-dst|port,4#domain|ip"),
        ("misp-domain:evil.example".into(), "3#domain"),
        ("misp-domain:c2.example".into(), "4#domain|ip"),
        ("misp-url:http://evil.example/gate.php?id=1".into(), "4#url"),
        (ks.key(Namespace::Url, &format!("https://evil.example/{LONG_PATH}")), "4#url"),
        (ks.key(Namespace::Url, "http://evil.example/a b\u{e9}"), "4#url"),
    ];
    let held = indicators(&mc);
    for (key, value) in &want {
        assert_eq!(held.get(key).map(String::as_str), Some(*value), "{key}");
    }
    assert_eq!(held.len(), want.len(), "{held:#?}");
    // Long and odd URLs get digest keys that are safe on the wire.
    for (key, _) in &want[12..] {
        assert!(
            key.starts_with("misp-url:~sha256:") && key.len() == 17 + 64,
            "{key}"
        );
    }
    // The seed's counter: one per indicator key.
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("14"));
    assert_eq!(s["keys_added"], 14);
    // Skips are reported by reason; non-IDS and unrequested types never arrive.
    assert_eq!(s["skipped"], json!({"invalid sha256 value": 1}));
    assert!(!held.contains_key("misp-domain:benign.example"));
    // The CIDR went to the range index, head last.
    let head = get(&mc, "misp-ranges").unwrap();
    let parts: Vec<&str> = head.split(' ').collect();
    assert_eq!((parts[0], parts[2]), ("v1", "1"), "{head}");
    let chunk = get(&mc, &format!("misp-ranges:{}:0", parts[1])).unwrap();
    assert_eq!(chunk, "10.1.0.0/16 5#ip-dst\n");
    assert_eq!(s["ranges"]["total"], 1);
    // Event metadata, one key per event with a loaded indicator.
    let meta: Value = serde_json::from_str(&get(&mc, "misp-event:2").unwrap()).unwrap();
    assert_eq!(meta["info"], "File names");
    assert_eq!(meta["threat_level"], "high");
    assert_eq!(meta["org"], "ACME CERT");
    assert_eq!(
        meta["tags"],
        json!(["tlp:green", "misp-galaxy:malpedia=\"Emotet\""])
    );
    assert!(meta["loaded_at"].as_u64().unwrap() > 1_700_000_000);
    for id in 1..=5 {
        assert!(
            get(&mc, &format!("misp-event:{id}")).is_some(),
            "event {id}"
        );
    }
    assert_eq!(s["events_written"], 5);
}

#[test]
fn the_request_carries_what_misp_needs() {
    let (attrs, events) = seed_fixture();
    let sim = Sim::with_fixture(attrs, events, &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 5\n", "");
    load(&cfg.path, &[]);
    let reqs = sim.requests();
    let pages: Vec<&Value> = reqs
        .iter()
        .filter(|r| r["path"] == "/attributes/restSearch")
        .collect();
    // 20 matching attributes in pages of 5: pages 1..4, then the empty 5th
    // (X-Result-Count of a full page is limit + 1).
    let numbers: Vec<u64> = pages
        .iter()
        .map(|r| r["body"]["page"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5]);
    let first = pages[0];
    assert_eq!(first["headers"]["accept"], "application/json");
    assert_eq!(first["headers"]["content-type"], "application/json");
    assert_eq!(first["headers"]["authorization"], "<redacted>");
    let body = &first["body"];
    assert_eq!(body["returnFormat"], "json");
    assert_eq!(body["to_ids"], true);
    assert_eq!(body["event_timestamp"], "365d");
    assert_eq!(body["order"], "Attribute.id asc");
    assert_eq!(body["limit"], 5);
    let types = body["type"]["OR"].as_array().unwrap();
    for t in [
        "md5",
        "filename|sha256",
        "ip-dst|port",
        "domain|ip",
        "url",
        "sha224",
        "user-agent",
    ] {
        assert!(types.contains(&json!(t)), "{t}");
    }
    // Categories not in the seed config stay off.
    assert!(!types.contains(&json!("mutex")) && !types.contains(&json!("email-src")));
    let events: Vec<&Value> = reqs
        .iter()
        .filter(|r| r["path"] == "/events/restSearch")
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["body"]["metadata"], true);
}

#[test]
fn running_twice_changes_nothing() {
    // Within the initial window (365d), so that --full sees the same data.
    let sim = Sim::start(&[
        "--generate",
        "3000",
        "--attrs-per-event",
        "30",
        "--span-days",
        "100",
    ]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 700\n", "");
    let first = load(&cfg.path, &[]);
    assert!(first["keys_added"].as_u64().unwrap() > 1000, "{first}");
    let before = snapshot(&mc);
    let stats = get(&mc, "misp-stats").unwrap();
    assert_eq!(stats, first["keys_added"].to_string());
    let second = load(&cfg.path, &[]);
    assert_eq!(second["mode"], "refresh");
    assert_eq!(second["keys_written"], 0, "{second}");
    assert_eq!(second["entries_revoked"], 0);
    let third = load(&cfg.path, &["--full"]);
    assert_eq!(third["keys_written"], 0, "{third}");
    assert_eq!(third["keys_deleted"], 0);
    assert_eq!(third["reconcile"]["keys_deleted"], 0);
    assert_eq!(get(&mc, "misp-stats").unwrap(), stats);
    let after = snapshot(&mc);
    let strip = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .filter(|(k, _)| {
                k.as_str() != "misp-load"
                    && !k.starts_with("misp-event:")
                    && !k.starts_with("misp-ranges")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&before), strip(&after));
}

#[test]
fn values_the_seed_wrote_are_merged_not_clobbered() {
    let sim = Sim::with_fixture(
        json!([
            attr(1, 3, "domain", "evil.example"),
            attr(2, 3, "domain", "new.example")
        ]),
        json!([event(3, "Seed merge", &[])]),
        &[],
    );
    let mc = TestServer::start();
    // As the seed's loader left them: its spacing, an empty part, a counter.
    set(&mc, "misp-domain:evil.example", "1#domain, 2#domain,,");
    set(&mc, "misp-stats", "1");
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let s = load(&cfg.path, &[]);
    // misp-stats > 0 and no run record: the seed's rule says refresh.
    assert_eq!(s["mode"], "refresh");
    assert_eq!(
        get(&mc, "misp-domain:evil.example").as_deref(),
        Some("1#domain,2#domain,3#domain")
    );
    assert_eq!(
        get(&mc, "misp-domain:new.example").as_deref(),
        Some("3#domain")
    );
    // Only the new key counts.
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("2"));
}

#[test]
fn keys_land_on_the_server_the_ring_picks() {
    let attrs: Vec<Value> = (0..400u64)
        .map(|i| attr(i + 1, 1 + i % 7, "domain", &format!("host{i}.example")))
        .collect();
    let sim = Sim::with_fixture(json!(attrs), json!([]), &[]);
    let servers = [
        TestServer::start(),
        TestServer::start(),
        TestServer::start(),
    ];
    let addrs: Vec<String> = servers.iter().map(TestServer::addr).collect();
    let cfg = Cfg::new(&sim.url, &addrs, "  page_size: 50\n", "");
    let s = load(&cfg.path, &[]);
    assert_eq!(s["keys_added"], 400);
    let ring = ServerRing::new(&addrs).unwrap();
    let mut per_server = [0usize; 3];
    for i in 0..400u64 {
        let key = format!("misp-domain:host{i}.example");
        let home = ring.server_for(key.as_bytes());
        for (n, server) in servers.iter().enumerate() {
            let held = get(server, &key);
            if n == home {
                assert_eq!(
                    held.as_deref(),
                    Some(format!("{}#domain", 1 + i % 7).as_str()),
                    "{key}"
                );
            } else {
                assert_eq!(held, None, "{key} also on server {n}");
            }
        }
        per_server[home] += 1;
    }
    assert!(per_server.iter().all(|n| *n > 50), "{per_server:?}");
    // misp-stats, the run record and event metadata follow the ring too.
    let stats_home = ring.server_for(b"misp-stats");
    assert_eq!(
        get(&servers[stats_home], "misp-stats").as_deref(),
        Some("400")
    );
    let event_home = ring.server_for(b"misp-event:3");
    assert!(get(&servers[event_home], "misp-event:3").is_some());
    // A second run through the same ring changes nothing.
    let again = load(&cfg.path, &["--full"]);
    assert_eq!(again["keys_written"], 0);
    assert_eq!(again["reconcile"]["keys_scanned"], 400);
}

/// Two MISPs that share `n` values under different events (1.. and 100..).
fn two_misps(n: u64) -> (Sim, Sim) {
    let a: Vec<Value> = (0..n)
        .map(|i| attr(i + 1, 1 + i % 10, "domain", &format!("shared{i}.example")))
        .collect();
    let b: Vec<Value> = (0..n)
        .map(|i| attr(i + 1, 100 + i % 10, "domain", &format!("shared{i}.example")))
        .collect();
    (
        Sim::with_fixture(json!(a), json!([]), &[]),
        Sim::with_fixture(json!(b), json!([]), &[]),
    )
}

/// Every `shared{i}` key holds exactly `extra` plus both MISPs' entries.
fn assert_both(mc: &TestServer, n: u64, extra: &[&str]) {
    let held = indicators(mc);
    assert_eq!(held.len() as u64, n);
    for i in 0..n {
        let v = &held[&format!("misp-domain:shared{i}.example")];
        let mut entries: Vec<&str> = v.split(',').collect();
        entries.sort_unstable();
        let mut want: Vec<String> = extra.iter().map(|e| (*e).to_owned()).collect();
        want.push(format!("{}#domain", 1 + i % 10));
        want.push(format!("{}#domain", 100 + i % 10));
        want.sort_unstable();
        assert_eq!(entries, want, "shared{i}");
    }
}

#[test]
fn two_instances_racing_on_the_same_keys_merge_their_entries() {
    // Deterministic: instance A is stopped (by a proxy in front of the real
    // memcached) right after it read a page of keys and sent its writes;
    // instance B then runs from start to end on the same keys; then A's
    // writes go on. A's `add`s of keys it found absent must come back
    // NOT_STORED, and its `cas` of keys it read must come back EXISTS, so
    // that it reads again and merges; a plain `set` would drop B's entries.
    use common::proxy::{Action, Proxy};
    use std::process::Stdio;
    use std::time::Duration;
    let n = 200;
    let (sim_a, sim_b) = two_misps(n);
    for (round, seeded) in [(1, false), (2, true)] {
        let mc = TestServer::start();
        let proxy = Proxy::start(&mc.addr());
        let cfg_a = Cfg::new(&sim_a.url, &[proxy.addr()], "  page_size: 100\n", "");
        let cfg_b = Cfg::new(&sim_b.url, &[mc.addr()], "  page_size: 100\n", "");
        if seeded {
            // Round 2: the seed loaded every key before, so both runs `cas`.
            for i in 0..n {
                set(&mc, &format!("misp-domain:shared{i}.example"), "999#domain");
            }
            set(&mc, "misp-stats", &n.to_string());
        }
        // Whatever command A writes with (a broken client might `set`).
        proxy.arm_any(
            &[
                "add misp-domain:shared",
                "cas misp-domain:shared",
                "set misp-domain:shared",
            ],
            Action::Hold,
        );
        let a = misp_load(&cfg_a.path)
            .args(["-q", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            proxy.wait_fired(Duration::from_secs(30)),
            "round {round}: A wrote nothing"
        );
        let b = load(&cfg_b.path, &[]);
        proxy.release();
        let ra: Ran = a.wait_with_output().unwrap().into();
        let a = ra.expect(0).json();
        if seeded {
            assert_both(&mc, n, &["999#domain"]);
            // Nobody created a key: the seed's count stands.
            assert_eq!(get(&mc, "misp-stats"), Some(n.to_string()));
        } else {
            assert_both(&mc, n, &[]);
            // B created every key, A none (its adds lost the race): each
            // key is counted once.
            assert_eq!(b["keys_added"], n);
            assert_eq!(a["keys_added"], 0);
            assert_eq!(get(&mc, "misp-stats"), Some(n.to_string()));
        }
    }
}

#[test]
fn long_expiries_are_written_as_absolute_times() {
    let sim = Sim::with_fixture(
        json!([
            attr(1, 1, "domain", "short.example"),
            attr(2, 1, "url", "http://long.example/x")
        ]),
        json!([]),
        &[],
    );
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    // network expires in an hour, web in 40 days (> memcached's 30-day limit).
    let text = cfg
        .text()
        .replace(
            "network:\n  enabled: true\n  expires: 0",
            "network:\n  enabled: true\n  expires: 3600",
        )
        .replace(
            "web:\n  enabled: true\n  expires: 0",
            "web:\n  enabled: true\n  expires: 40d",
        );
    cfg.write(&text);
    load(&cfg.path, &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut exp = std::collections::BTreeMap::new();
    common::mc(&mc)
        .metadump(|k| {
            exp.insert(k.key, k.expires);
        })
        .unwrap();
    let domain = exp["misp-domain:short.example"].unwrap();
    assert!(domain > now + 3500 && domain <= now + 3700, "{domain}");
    // 40 days, not "a unix time in 1970" (which would expire at once).
    let url = exp["misp-url:http://long.example/x"].unwrap();
    let forty = 40 * 86400;
    assert!(url > now + forty - 100 && url <= now + forty + 100, "{url}");
    assert!(get(&mc, "misp-url:http://long.example/x").is_some());
    // The counter never expires.
    assert_eq!(exp["misp-stats"], None);
}

#[test]
fn host_and_email_categories_when_enabled() {
    let sim = Sim::with_fixture(
        json!([
            attr(1, 1, "mutex", "Global\\EvilMutex"),
            attr(2, 1, "named pipe", "\\\\.\\pipe\\EvilPipe"),
            attr(3, 1, "regkey", "HKEY_LOCAL_MACHINE\\Software\\Run\\"),
            attr(4, 1, "email-src", "Bad@Evil.Example"),
        ]),
        json!([]),
        &[],
    );
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    load(&cfg.path, &[]);
    assert!(
        indicators(&mc).is_empty(),
        "host and email are off unless enabled"
    );
    let cfg = Cfg::new(
        &sim.url,
        &[mc.addr()],
        "",
        "email:\n  enabled: true\nhost:\n  enabled: true\n",
    );
    load(&cfg.path, &["--full"]);
    let held = indicators(&mc);
    assert_eq!(
        held.get("misp-mutex:Global\\EvilMutex").map(String::as_str),
        Some("1#mutex")
    );
    assert_eq!(
        held.get("misp-named-pipe:evilpipe").map(String::as_str),
        Some("1#named pipe")
    );
    assert_eq!(
        held.get("misp-regkey:hklm\\software\\run")
            .map(String::as_str),
        Some("1#regkey")
    );
    assert_eq!(
        held.get("misp-email:bad@evil.example").map(String::as_str),
        Some("1#email-src")
    );
}

#[test]
fn dry_run_writes_nothing() {
    let sim = Sim::start(&["--generate", "500"]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let s = load(&cfg.path, &["--dry-run"]);
    assert_eq!(s["dry_run"], true);
    assert!(s["keys_added"].as_u64().unwrap() > 100, "{s}");
    assert!(snapshot(&mc).is_empty(), "dry run wrote something");
}
