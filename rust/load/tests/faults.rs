//! Faults in the middle of a refresh that has both additions and
//! revocations pending: MISP failing on a page (also in the revocation query
//! and the event metadata), timing out, rate-limiting with Retry-After,
//! sending truncated JSON or half a response, refusing the key, redirecting
//! to its login page; and memcached disappearing in the middle of a write.
//! In every case memcached keeps every key and value it held before, the
//! exit code and message say what happened, and the next run completes.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use common::proxy::{Action, Proxy};
use common::*;
use misp_enrich_core::{EntryList, ServerRing};
use serde_json::{json, Value};

/// Every indicator value parses back without a malformed part.
fn assert_well_formed(held: &BTreeMap<String, String>) {
    for (k, v) in held {
        let parsed = EntryList::parse(v);
        assert_eq!(parsed.malformed, 0, "{k} = {v:?}");
        assert!(!parsed.entries.is_empty(), "{k} = {v:?}");
    }
}

/// Every key/value of `before` is still there, unchanged.
fn assert_kept(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>, case: &str) {
    for (k, v) in before {
        assert_eq!(after.get(k), Some(v), "{case}: {k} lost or changed");
    }
}

fn stats(mc: &TestServer) -> u64 {
    get(mc, "misp-stats").unwrap().parse().unwrap()
}

struct Case {
    name: &'static str,
    faults: Value,
    /// Config text changes (from, to).
    config: Option<(&'static str, &'static str)>,
    /// Texts the error message must contain.
    says: &'static [&'static str],
    /// Texts it must not contain.
    not: &'static [&'static str],
}

#[test]
fn misp_faults_mid_refresh_lose_nothing_and_the_next_run_completes() {
    // 50 IDS-flagged domains (pages 1-5 of 10, and an empty page 6) and 30
    // not IDS-flagged ones: the revocation query, which sees those too, has
    // 8 full pages, so page 8 exists only there.
    let mut attrs: Vec<Value> = (0..50u64)
        .map(|i| attr(i + 1, 1 + i / 10, "domain", &format!("d{i}.example")))
        .collect();
    attrs.extend((0..30u64).map(|i| {
        json!({"id": (51 + i).to_string(), "event_id": "9", "type": "domain",
               "value": format!("n{i}.example"), "to_ids": false})
    }));
    let sim = Sim::with_fixture(json!(attrs), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(
        &sim.url,
        &[mc.addr()],
        "  page_size: 10\n  timeout: 1\n",
        "",
    );
    assert_eq!(load(&cfg.path, &[])["keys_added"], 50);
    // Pending for the next refresh: two revocations and one addition (the
    // new attribute, id 81, comes last: page 6 of the load).
    sim.mutate(json!({
        "soft_delete": ["1", "2"],
        "add": [{"event_id": "20", "type": "domain", "value": "new.example"}],
    }));
    let before = indicators(&mc);
    let events_before: Vec<String> = snapshot(&mc)
        .into_keys()
        .filter(|k| k.starts_with("misp-event:"))
        .collect();
    assert_eq!(before.len(), 50);
    let good = cfg.text();

    let cases = [
        Case {
            name: "HTTP 500 on page 3, through every retry",
            faults: json!({"rules": [{"page": 3, "status": 500}]}),
            config: None,
            says: &[
                "page 3 of /attributes/restSearch: MISP answered HTTP 500",
                "An Internal Error Has Occurred",
                "lower `misp.page_size`",
            ],
            not: &[],
        },
        Case {
            name: "429 with Retry-After on page 3, through every retry",
            faults: json!({"rules": [{"page": 3, "status": 429, "retry_after": 1}]}),
            config: None,
            says: &[
                "page 3 of /attributes/restSearch: MISP answered HTTP 429",
                "Rate limit exceeded",
                "rate limit for this user's role",
                // Retry-After (1 s), not the configured backoff (0.05 s).
                "retry 1 of 1 in 1.0 s",
            ],
            not: &[],
        },
        Case {
            name: "page 3 slower than misp.timeout",
            faults: json!({"rules": [{"page": 3, "delay_ms": 3000}]}),
            config: None,
            says: &[
                "page 3 of /attributes/restSearch: MISP did not answer within 1 s",
                "raise `misp.timeout`",
                "retry 1 of 1",
            ],
            not: &[],
        },
        Case {
            name: "truncated JSON on page 3 (valid HTTP)",
            faults: json!({"rules": [{"page": 3, "truncate": "body"}]}),
            config: None,
            says: &["page 3 of /attributes/restSearch: MISP sent malformed JSON"],
            not: &[],
        },
        Case {
            name: "connection dropped half way through page 3",
            faults: json!({"rules": [{"page": 3, "truncate": "connection"}]}),
            config: None,
            says: &[
                "page 3 of /attributes/restSearch: the connection to MISP failed",
                "retry 1 of 1",
            ],
            not: &[],
        },
        Case {
            name: "302 to the login page",
            faults: json!({"redirect_login": true}),
            config: None,
            says: &["redirected to its login page", "/users/login"],
            not: &[],
        },
        Case {
            name: "wrong API key",
            faults: json!({}),
            config: Some((KEY, WRONG_KEY)),
            says: &[
                "refused the API key (HTTP 403): Authentication failed.",
                "Authorization header. Check that the key",
            ],
            not: &[],
        },
        // The load completes (new.example is added); the revocation query fails.
        Case {
            name: "503 on page 8, which only the revocation query has",
            faults: json!({"rules": [{"page": 8, "status": 503}]}),
            config: None,
            says: &[
                "page 8 of /attributes/restSearch (revocation query): MISP answered HTTP 503: an HTML page titled \"503 Service Unavailable\"",
            ],
            not: &[],
        },
        Case {
            name: "event metadata request fails",
            faults: json!({"rules": [{"path": "/events/restSearch", "status": 500}]}),
            config: None,
            says: &["/events/restSearch for 6 events: MISP answered HTTP 500"],
            // Page sizes do not apply to this request.
            not: &["page_size"],
        },
    ];
    for case in &cases {
        sim.faults(case.faults.clone());
        match case.config {
            Some((from, to)) => cfg.write(&good.replace(from, to)),
            None => cfg.write(&good),
        }
        let r = run(&cfg.path, &["--json", "-v"]);
        assert_eq!(r.code, 2, "{}: exit code\n{}", case.name, r.stderr);
        let summary = r.json();
        assert_eq!(summary["ok"], false, "{}", case.name);
        assert_eq!(summary["mode"], "refresh", "{}", case.name);
        let error = summary["error"].as_str().unwrap_or_default().to_owned();
        for text in case.says {
            assert!(
                r.stderr.contains(text),
                "{}: stderr lacks {text:?}:\n{}",
                case.name,
                r.stderr
            );
        }
        for text in case.not {
            assert!(!error.contains(text), "{}: {error}", case.name);
        }
        assert!(
            r.stderr.contains(&format!("misp-load: error: {error}")),
            "{}: the summary's error differs from the message:\n{error}\n{}",
            case.name,
            r.stderr
        );
        // Nothing held before is gone or changed; nothing was revoked.
        let after = indicators(&mc);
        assert_kept(&before, &after, case.name);
        assert_well_formed(&after);
        assert_eq!(entries_revoked(&summary), 0, "{}", case.name);
        // The counter matches the keys.
        assert_eq!(stats(&mc), after.len() as u64, "{}", case.name);
        let snap = snapshot(&mc);
        for k in &events_before {
            assert!(snap.contains_key(k), "{}: {k} lost", case.name);
        }
        // The run record says it failed, and why.
        let rec: Value = serde_json::from_str(&get(&mc, "misp-load").unwrap()).unwrap();
        assert_eq!(rec["last_run"]["ok"], false, "{}", case.name);
        assert_eq!(rec["last_run"]["error"], json!(error), "{}", case.name);
    }
    // The additions before the revocation failure were kept.
    assert_eq!(
        get(&mc, "misp-domain:new.example").as_deref(),
        Some("20#domain")
    );

    // Faults gone: the next run completes the work.
    sim.faults(json!({}));
    cfg.write(&good);
    let s = load(&cfg.path, &[]);
    assert_eq!(s["mode"], "refresh");
    let held = indicators(&mc);
    assert_eq!(get(&mc, "misp-domain:d0.example"), None);
    assert_eq!(get(&mc, "misp-domain:d1.example"), None);
    assert_eq!(held.len(), 49);
    assert_eq!(stats(&mc), 49);
    let rec: Value = serde_json::from_str(&get(&mc, "misp-load").unwrap()).unwrap();
    assert_eq!(rec["last_run"]["ok"], true);
}

fn entries_revoked(summary: &Value) -> u64 {
    summary["entries_revoked"].as_u64().unwrap_or(0)
}

/// Adds `m` domains `new{i}` (ten per event, from event 1000) and
/// soft-deletes attributes 1 to 10.
fn add_new_delete_ten(sim: &Sim, m: u64) {
    let add: Vec<Value> = (0..m)
        .map(|i| {
            json!({"event_id": (1000 + i / 10).to_string(), "type": "domain",
                        "value": format!("new{i}.example")})
        })
        .collect();
    let deleted: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    sim.mutate(json!({"add": add, "soft_delete": deleted}));
}

#[test]
fn memcached_cut_in_the_middle_of_a_write_loses_nothing() {
    // 1000 indicators loaded; the refresh adds 2000 and revokes 10. The
    // proxy in front of the real memcached cuts every connection in the
    // middle of one `add` command of the fourth page of new keys.
    let old: Vec<Value> = (0..1000u64)
        .map(|i| attr(i + 1, 1 + i / 10, "domain", &format!("old{i}.example")))
        .collect();
    let sim = Sim::with_fixture(json!(old), json!([]), &[]);
    let mc = TestServer::start();
    let proxy = Proxy::start(&mc.addr());
    let cfg = Cfg::new(&sim.url, &[proxy.addr()], "  page_size: 250\n", "");
    load(&cfg.path, &[]);
    add_new_delete_ten(&sim, 2000);
    let before = indicators(&mc);
    assert_eq!(before.len(), 1000);
    // Live rows in id order: old10..old999 (990), then new0..new1999, in
    // pages of 250; new600 is on page 7, so pages 4 (new0..new9), 5 and 6
    // are written before. Keys of a page are sent in no fixed order, so the
    // cut lands somewhere in page 7's batch.
    proxy.arm("add misp-domain:new600.example ", Action::CutMidway);
    let child = misp_load(&cfg.path)
        .args(["--json", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(proxy.wait_fired(Duration::from_secs(30)), "no write seen");
    let r: Ran = child.wait_with_output().unwrap().into();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("memcached {}", proxy.addr())),
        "the message does not name the server:\n{}",
        r.stderr
    );
    assert_eq!(r.json()["ok"], false);
    // The real server: everything it held is there, unchanged; some new
    // keys made it, not all; every value is well-formed.
    let after = indicators(&mc);
    assert_kept(&before, &after, "cut");
    assert_well_formed(&after);
    let new = after.len() - before.len();
    assert!((510..2000).contains(&new), "{new} new keys");
    for k in after.keys() {
        assert!(
            k.starts_with("misp-domain:old") || k.starts_with("misp-domain:new"),
            "{k}"
        );
    }
    // memcached is back: the next run completes the work.
    proxy.restore();
    let s = load(&cfg.path, &[]);
    assert_eq!(s["mode"], "refresh");
    let held = indicators(&mc);
    assert_eq!(held.len(), 2990, "{s}");
    assert_well_formed(&held);
    for i in 0..2000u64 {
        assert_eq!(
            held.get(&format!("misp-domain:new{i}.example")),
            Some(&format!("{}#domain", 1000 + i / 10)),
            "new{i}"
        );
    }
    for i in 0..10u64 {
        assert!(!held.contains_key(&format!("misp-domain:old{i}.example")));
    }
    // Replies lost in the cut may leave misp-stats off; --full sets it to
    // the number of indicator keys it found.
    let s = load(&cfg.path, &["--full"]);
    assert_eq!(s["reconcile"]["keys_deleted"], 0, "{s}");
    assert_eq!(stats(&mc), 2990);
}

#[test]
fn a_killed_server_of_three_costs_only_its_own_keys() {
    let old: Vec<Value> = (0..900u64)
        .map(|i| attr(i + 1, 1 + i / 10, "domain", &format!("old{i}.example")))
        .collect();
    let sim = Sim::with_fixture(json!(old), json!([]), &[]);
    let mut servers = [
        TestServer::start(),
        TestServer::start(),
        TestServer::start(),
    ];
    let addrs: Vec<String> = servers.iter().map(TestServer::addr).collect();
    // The second server is reached through a proxy, to catch the moment
    // misp-load writes to it; the proxy itself stays up.
    let proxy = Proxy::start(&addrs[1]);
    let via = vec![addrs[0].clone(), proxy.addr(), addrs[2].clone()];
    let cfg = Cfg::new(&sim.url, &via, "  page_size: 300\n", "");
    load(&cfg.path, &[]);
    add_new_delete_ten(&sim, 1500);
    let before: Vec<BTreeMap<String, String>> = servers.iter().map(indicators).collect();
    assert!(before.iter().all(|b| b.len() > 200), "uneven ring");
    let ring = ServerRing::new(&via).unwrap();

    proxy.arm("add misp-domain:new", Action::Hold);
    let child = misp_load(&cfg.path)
        .args(["--json", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(proxy.wait_fired(Duration::from_secs(30)), "no write seen");
    // Killed while misp-load's batch for it is in flight.
    servers[1].stop();
    proxy.release();
    let r: Ran = child.wait_with_output().unwrap().into();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("memcached {}", proxy.addr())),
        "{}",
        r.stderr
    );
    for n in [0, 2] {
        let after = indicators(&servers[n]);
        assert_kept(&before[n], &after, &format!("server {n}"));
        assert_well_formed(&after);
    }
    // Restarted empty (a killed memcached loses its data): the next run
    // reloads what belongs there.
    servers[1].restart();
    let s = load(&cfg.path, &[]);
    if s["mode"] == "initial" {
        // misp-stats was on the killed server: a first run, which loads
        // but does not revoke; the refresh after it revokes.
        assert_eq!(load(&cfg.path, &[])["mode"], "refresh");
    }
    let mut total = 0;
    for (n, server) in servers.iter().enumerate() {
        let held = indicators(server);
        assert_well_formed(&held);
        for k in held.keys() {
            assert_eq!(ring.server_for(k.as_bytes()), n, "{k} on server {n}");
        }
        total += held.len();
    }
    assert_eq!(total, 900 - 10 + 1500);
}
