//! The API key never reaches stdout or stderr, whatever the verbosity, the
//! outcome or the output format.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

fn assert_clean(r: &Ran, key: &str) {
    assert!(!r.stdout.contains(key), "key in stdout:\n{}", r.stdout);
    assert!(!r.stderr.contains(key), "key in stderr:\n{}", r.stderr);
}

#[test]
fn the_key_is_never_printed() {
    let attrs = json!([
        attr(1, 1, "domain", "s.example"),
        attr(2, 1, "ip-dst", "198.51.100.1")
    ]);
    let sim = Sim::with_fixture(
        attrs,
        json!([event(1, "Secret test", &["tlp:amber"])]),
        &["--request-log", "100"],
    );
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 2\n", "");
    // Success, at the highest verbosity, in every format and subcommand.
    for args in [
        vec!["-vvv"],
        vec!["-vvv", "--json"],
        vec!["-vvv", "--full"],
        vec!["-vvv", "--dry-run"],
        vec!["-vvv", "check"],
        vec!["-vvv", "--json", "check"],
    ] {
        let r = run(&cfg.path, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        // The HTTP stack's trace output is there, and still no key.
        assert!(
            r.stderr.len() > 1000,
            "{args:?}: -vvv logged almost nothing"
        );
        assert_clean(&r, KEY);
    }
    for args in [vec!["-vvv", "stats"], vec!["-vvv", "lookup", "s.example"]] {
        let r = run(&cfg.path, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_clean(&r, KEY);
    }
    // RUST_LOG=trace for every crate, including the HTTP stack.
    let r: Ran = misp_load(&cfg.path)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean(&r, KEY);
    // Failures: a refused key, a failing page, a server that echoes the key.
    cfg.write(&cfg.text().replace(KEY, WRONG_KEY));
    let r = run(&cfg.path, &["-vvv", "--json"]);
    assert_eq!(r.code, 2);
    assert_clean(&r, WRONG_KEY);
    cfg.write(&cfg.text().replace(WRONG_KEY, KEY));
    sim.faults(json!({"rules": [{"page": 2, "status": 500, "body": format!("{{\"message\":\"bad key {KEY}\"}}")}]}));
    let r = run(&cfg.path, &["-vvv", "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad key ***"), "{}", r.stderr);
    assert_clean(&r, KEY);
}
