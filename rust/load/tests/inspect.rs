//! The subcommands that look without loading: `check`, `stats`, `lookup`.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

const SHA: &str = "7d0ecb1f4a4c7f2c5be0a3e0ac3b8e2f8b8b6e5e6b5a2d3c1f0e9d8c7b6a5f4e";

fn loaded() -> (Sim, TestServer, Cfg) {
    let attrs = json!([
        attr(1, 1, "filename|sha256", &format!("calc.exe|{SHA}")),
        attr(2, 2, "sha256", SHA),
        attr(3, 2, "ip-dst", "10.9.0.0/16"),
        attr(4, 2, "domain", "trencansky.sk"),
    ]);
    let events = json!([
        event(1, "Calc dropper", &["tlp:amber"]),
        event(2, "C2 infra", &["tlp:red"])
    ]);
    let sim = Sim::with_fixture(attrs, events, &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    load(&cfg.path, &[]);
    (sim, mc, cfg)
}

#[test]
fn check_reports_misp_and_memcached() {
    let (sim, mc, cfg) = loaded();
    let r = run(&cfg.path, &["check"]).expect(0);
    assert!(r.stdout.contains("version 2.5.1"), "{}", r.stdout);
    assert!(r.stdout.contains("perm_auth"), "{}", r.stdout);
    assert!(r.stdout.contains(&mc.addr()), "{}", r.stdout);
    assert!(r.stdout.contains("restSearch  OK"), "{}", r.stdout);
    let j: Value =
        serde_json::from_str(&run(&cfg.path, &["check", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(j["misp"]["version"], "2.5.1");
    assert_eq!(j["memcached"][0]["metadump"], true);
    assert_eq!(j["stats"], "2");
    // getVersion is called as an API call.
    let v = sim
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/servers/getVersion")
        .unwrap();
    assert_eq!(v["headers"]["accept"], "application/json");
    // A memcached that is down: exit 2, naming it.
    let dead = format!("127.0.0.1:{}", misp_enrich_memcached::free_port());
    let cfg2 = Cfg::new(&sim.url, &[mc.addr(), dead.clone()], "", "");
    let r = run(&cfg2.path, &["check"]).expect(2);
    assert!(r.stderr.contains(&dead), "{}", r.stderr);
    // A wrong key: exit 2.
    cfg.write(&cfg.text().replace(KEY, WRONG_KEY));
    let r = run(&cfg.path, &["check"]).expect(2);
    assert!(r.stderr.contains("403"), "{}", r.stderr);
}

#[test]
fn stats_shows_counts_and_the_last_run() {
    let (_sim, _mc, cfg) = loaded();
    let r = run(&cfg.path, &["stats"]).expect(0);
    assert!(r.stdout.contains("misp-stats  2"), "{}", r.stdout);
    assert!(r.stdout.contains("initial ok"), "{}", r.stdout);
    assert!(r.stdout.contains("IP ranges   1"), "{}", r.stdout);
    let j: Value =
        serde_json::from_str(&run(&cfg.path, &["stats", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(j["keys"]["sha256"], 1);
    assert_eq!(j["keys"]["domain"], 1);
    assert_eq!(j["keys"]["(event metadata)"], 2);
    assert_eq!(j["record"]["last_run"]["mode"], "initial");
    assert_eq!(j["record"]["initial_complete"], true);
    let j: Value = serde_json::from_str(
        &run(&cfg.path, &["stats", "--json", "--no-scan"])
            .expect(0)
            .stdout,
    )
    .unwrap();
    assert!(j["keys"].is_null());
}

#[test]
fn lookup_shows_the_key_the_value_and_the_events() {
    let (_sim, _mc, cfg) = loaded();
    // Sysmon writes hashes upper-case.
    let r = run(
        &cfg.path,
        &["lookup", &SHA.to_uppercase(), "--type", "sha256"],
    )
    .expect(0);
    assert!(
        r.stdout.contains(&format!("misp-sha256:{SHA}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1#filename|sha256,2#sha256"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Calc dropper") && r.stdout.contains("TLP:AMBER"),
        "{}",
        r.stdout
    );
    // A MISP type splits the value as the loader does.
    let r = run(
        &cfg.path,
        &[
            "lookup",
            "--json",
            &format!("x.exe|{SHA}"),
            "-t",
            "filename|sha256",
        ],
    )
    .expect(0);
    let j: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["found"], true);
    assert_eq!(j["results"][0]["key"], format!("misp-sha256:{SHA}"));
    // An IP inside a loaded range.
    let r = run(&cfg.path, &["lookup", "10.9.200.1"]).expect(0);
    assert!(
        r.stdout.contains("in range 10.9.0.0/16: 2#ip-dst"),
        "{}",
        r.stdout
    );
    // Without --type: every namespace it fits.
    let r = run(&cfg.path, &["lookup", "Trencansky.SK."]).expect(0);
    assert!(
        r.stdout
            .contains("misp-domain:trencansky.sk\n    on 127.0.0.1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(": 2#domain"), "{}", r.stdout);
    let j: Value = serde_json::from_str(
        &run(&cfg.path, &["lookup", "--json", "nothing.example"])
            .expect(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(j["found"], false);
    let r = run(&cfg.path, &["lookup", "x", "--type", "yara"]).expect(1);
    assert!(r.stderr.contains("yara"), "{}", r.stderr);
    let _ = json!(null);
}
