//! Refresh and reconcile: later runs add and revoke within their window,
//! `--full` removes what MISP no longer has (and refuses mass deletion), and a
//! fetch that fails half way removes nothing and is completed by the next run.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn domains(n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| attr(i + 1, 1 + i / 10, "domain", &format!("d{i}.example")))
        .collect()
}

#[test]
fn refresh_adds_and_revokes() {
    let attrs = json!([
        attr(1, 1, "domain", "gone.example"),
        attr(2, 2, "ip-dst", "203.0.113.5"),
        attr(3, 3, "ip-src", "203.0.113.5"),
        // The same value twice in one event: deleting one keeps the entry.
        attr(4, 4, "domain", "twice.example"),
        attr(5, 4, "domain", "twice.example"),
        attr(6, 5, "ip-dst", "10.20.0.0/16"),
        attr(7, 5, "ip-dst", "10.30.0.0/16"),
        attr(8, 6, "url", "http://stays.example/"),
    ]);
    let sim = Sim::with_fixture(attrs, json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let first = load(&cfg.path, &[]);
    assert_eq!(first["mode"], "initial");
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("4"));
    assert_eq!(
        get(&mc, "misp-ip:203.0.113.5").as_deref(),
        Some("2#ip-dst,3#ip-src")
    );

    sim.mutate(json!({
        "add": [{"event_id": "7", "type": "domain", "value": "new.example", "to_ids": true,
                 "Event": {"info": "a new event"}}],
        "soft_delete": ["1", "4", "6"],
        "unset_to_ids": ["2"],
    }));
    let s = load(&cfg.path, &[]);
    assert_eq!(s["mode"], "refresh");
    assert!(
        s["revocation_attributes_fetched"].as_u64().unwrap() >= 4,
        "{s}"
    );
    // Added.
    assert_eq!(
        get(&mc, "misp-domain:new.example").as_deref(),
        Some("7#domain")
    );
    let meta: Value = serde_json::from_str(&get(&mc, "misp-event:7").unwrap()).unwrap();
    assert_eq!(meta["info"], "a new event");
    // Deleted, and it was the only entry: the key goes.
    assert_eq!(get(&mc, "misp-domain:gone.example"), None);
    // Un-flagged in event 2; event 3 still has it.
    assert_eq!(get(&mc, "misp-ip:203.0.113.5").as_deref(), Some("3#ip-src"));
    // One of two identical attributes deleted: still loaded.
    assert_eq!(
        get(&mc, "misp-domain:twice.example").as_deref(),
        Some("4#domain")
    );
    assert_eq!(
        get(&mc, "misp-url:http://stays.example").as_deref(),
        Some("6#url")
    );
    // Ranges are revoked too.
    let head = get(&mc, "misp-ranges").unwrap();
    let gen = head.split(' ').nth(1).unwrap();
    assert_eq!(
        get(&mc, &format!("misp-ranges:{gen}:0")).as_deref(),
        Some("10.30.0.0/16 5#ip-dst\n")
    );
    assert_eq!(s["ranges"]["revoked"], 1);
    // misp-stats: one key created, one deleted.
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("4"));
    assert_eq!(s["keys_added"], 1);
    assert_eq!(s["keys_deleted"], 1);
    assert_eq!(s["entries_revoked"], 2);
    // The revocation query: IDS flag not filtered, deleted included.
    let reqs = sim.requests();
    let revoke = reqs
        .iter()
        .rev()
        .find(|r| r["path"] == "/attributes/restSearch" && r["body"].get("deleted").is_some())
        .unwrap();
    assert_eq!(revoke["body"]["deleted"], json!([0, 1]));
    assert!(revoke["body"].get("to_ids").is_none());
    assert_eq!(revoke["body"]["event_timestamp"], "1h");
}

#[test]
fn a_failure_on_page_3_of_5_removes_nothing_and_the_next_run_completes() {
    let sim = Sim::with_fixture(json!(domains(50)), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 10\n", "");
    load(&cfg.path, &[]);
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("50"));
    sim.mutate(json!({"soft_delete": ["1", "2"]}));
    sim.faults(json!({"rules": [{"page": 3, "status": 500}]}));
    let before = indicators(&mc);
    let r = run(&cfg.path, &["-q", "--json"]).expect(2);
    assert!(r.stderr.contains("page 3"), "{}", r.stderr);
    assert!(r.stderr.contains("HTTP 500"), "{}", r.stderr);
    let s = r.json();
    assert_eq!(s["ok"], false);
    assert_eq!(indicators(&mc), before, "a failed run removed something");
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("50"));
    // --full with the same fault: nothing removed either.
    run(&cfg.path, &["-q", "--full"]).expect(2);
    assert_eq!(indicators(&mc), before);
    // The fault clears; the next run completes and revokes.
    sim.faults(json!({}));
    let s = load(&cfg.path, &[]);
    assert_eq!(s["mode"], "refresh");
    assert_eq!(get(&mc, "misp-domain:d0.example"), None);
    assert_eq!(get(&mc, "misp-domain:d1.example"), None);
    assert_eq!(
        get(&mc, "misp-domain:d2.example").as_deref(),
        Some("1#domain")
    );
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("48"));
}

#[test]
fn a_first_load_that_fails_is_finished_by_the_next_run() {
    let sim = Sim::with_fixture(json!(domains(50)), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 10\n", "");
    sim.faults(json!({"rules": [{"page": 3, "status": 503}]}));
    let r = run(&cfg.path, &["-q", "--json"]).expect(2);
    let s = r.json();
    assert_eq!(s["mode"], "initial");
    // Pages 1 and 2 were kept.
    assert_eq!(s["keys_added"], 20);
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("20"));
    sim.faults(json!({}));
    // misp-stats > 0 now, but the first load never completed: initial again.
    let s = load(&cfg.path, &[]);
    assert_eq!(s["mode"], "initial");
    assert_eq!(s["keys_added"], 30);
    assert_eq!(indicators(&mc).len(), 50);
    assert_eq!(load(&cfg.path, &[])["mode"], "refresh");
}

#[test]
fn full_removes_what_misp_no_longer_has() {
    let attrs = json!([
        attr(1, 1, "domain", "hard.example"),
        attr(2, 2, "domain", "shared.example"),
        attr(3, 3, "domain", "shared.example"),
        attr(4, 4, "domain", "keep.example"),
    ]);
    let sim = Sim::with_fixture(attrs, json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    load(&cfg.path, &[]);
    assert!(get(&mc, "misp-event:1").is_some());
    // An entry of a type this config does not load stays, whatever --full finds.
    set(&mc, "misp-mutex:Global\\Other", "9#mutex");
    // Hard deletes leave no tombstone: a refresh cannot see them.
    sim.mutate(json!({"hard_delete": ["1", "2"]}));
    load(&cfg.path, &[]);
    assert!(get(&mc, "misp-domain:hard.example").is_some());
    let s = load(&cfg.path, &["--full"]);
    assert_eq!(s["mode"], "full");
    assert_eq!(get(&mc, "misp-domain:hard.example"), None);
    assert_eq!(
        get(&mc, "misp-domain:shared.example").as_deref(),
        Some("3#domain")
    );
    assert_eq!(
        get(&mc, "misp-domain:keep.example").as_deref(),
        Some("4#domain")
    );
    assert_eq!(
        get(&mc, "misp-mutex:Global\\Other").as_deref(),
        Some("9#mutex")
    );
    assert_eq!(s["reconcile"]["keys_deleted"], 1);
    assert_eq!(s["reconcile"]["entries_removed"], 2);
    // Events 1 and 2 have no indicator left: their metadata goes too.
    assert_eq!(get(&mc, "misp-event:1"), None);
    assert_eq!(get(&mc, "misp-event:2"), None);
    assert!(get(&mc, "misp-event:3").is_some());
    assert_eq!(s["reconcile"]["event_keys_deleted"], 2);
    // --full sets misp-stats to the indicator keys it found: the two
    // domains left and the mutex key another loader wrote.
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("3"));
    let rec: Value = serde_json::from_str(&get(&mc, "misp-load").unwrap()).unwrap();
    assert!(rec["last_full_run"].as_u64().is_some());
}

#[test]
fn full_refuses_to_remove_most_keys_unless_forced() {
    let sim = Sim::with_fixture(json!(domains(10)), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    load(&cfg.path, &[]);
    for i in 0..30 {
        set(&mc, &format!("misp-domain:stale{i}.example"), "99#domain");
    }
    let before = indicators(&mc);
    let r = run(&cfg.path, &["-q", "--full"]).expect(3);
    assert!(
        r.stderr.contains("refusing to delete 30 of 40 keys"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(indicators(&mc), before, "a refused run removed something");
    // A dry run reports the same plan without acting (and is refused the same way).
    run(&cfg.path, &["-q", "--full", "--dry-run"]).expect(3);
    // A higher limit, or --force, lets it through.
    let s = load(&cfg.path, &["--full", "--force"]);
    assert_eq!(s["reconcile"]["keys_deleted"], 30);
    assert_eq!(indicators(&mc).len(), 10);
}

#[test]
fn the_removal_limit_is_configurable() {
    let sim = Sim::with_fixture(json!(domains(10)), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(
        &sim.url,
        &[mc.addr()],
        "",
        "reconcile:\n  max_removal_share: 10%\n",
    );
    load(&cfg.path, &[]);
    for i in 0..2 {
        set(&mc, &format!("misp-domain:stale{i}.example"), "99#domain");
    }
    // 2 of 12 is 16.7% > 10%.
    run(&cfg.path, &["-q", "--full"]).expect(3);
    let cfg2 = Cfg::new(
        &sim.url,
        &[mc.addr()],
        "",
        "reconcile:\n  max_removal_share: 0.2\n",
    );
    load(&cfg2.path, &["--full"]);
    assert_eq!(indicators(&mc).len(), 10);
}
