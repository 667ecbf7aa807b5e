//! Long-running behaviour: `--watch` refreshes on its interval and stops
//! cleanly on SIGTERM; a one-shot run stopped by SIGINT exits 130 and removes
//! nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;

fn signal(child: &std::process::Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn watch_refreshes_and_stops_cleanly_on_sigterm() {
    let sim = Sim::with_fixture(
        json!([attr(1, 1, "domain", "first.example")]),
        json!([]),
        &[],
    );
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let child = misp_load(&cfg.path)
        .args(["--watch", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || get(
        &mc,
        "misp-domain:first.example"
    )
    .is_some()));
    sim.mutate(json!({"add": [{"event_id": "2", "type": "domain", "value": "second.example"}]}));
    assert!(
        eventually(Duration::from_secs(10), || get(
            &mc,
            "misp-domain:second.example"
        )
        .is_some()),
        "the next refresh did not load the new attribute"
    );
    signal(&child, "-TERM");
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output().unwrap();
        let _ = tx.send(());
        out
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "did not stop on SIGTERM"
    );
    let r: Ran = waiter.join().unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    // One JSON summary per run.
    let runs = r.stdout.lines().filter(|l| l.starts_with('{')).count();
    assert!(runs >= 2, "{}", r.stdout);
}

#[test]
fn sigint_stops_a_run_exits_130_and_removes_nothing() {
    let attrs: Vec<serde_json::Value> = (0..100u64)
        .map(|i| attr(i + 1, 1 + i / 10, "domain", &format!("i{i}.example")))
        .collect();
    let sim = Sim::with_fixture(json!(attrs), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 10\n", "");
    load(&cfg.path, &[]);
    sim.mutate(json!({"soft_delete": ["1"]}));
    // Slow pages from now on, so the signal arrives mid-run.
    sim.faults(json!({"delay_ms": 300}));
    let child = misp_load(&cfg.path)
        .args(["--json", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    signal(&child, "-INT");
    let r: Ran = child.wait_with_output().unwrap().into();
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert!(r.stderr.contains("interrupted"), "{}", r.stderr);
    assert_eq!(r.json()["ok"], false);
    assert_eq!(
        get(&mc, "misp-domain:i0.example").as_deref(),
        Some("1#domain")
    );
    assert_eq!(get(&mc, "misp-stats").as_deref(), Some("100"));
}
