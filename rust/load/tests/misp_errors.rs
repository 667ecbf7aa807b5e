//! Talking to MISP when things go wrong: a wrong key, TLS with a private CA,
//! a login redirect, transient failures that retries absorb, broken JSON,
//! unreachable servers. Each says what happened and exits 2.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn small_sim(args: &[&str]) -> Sim {
    let attrs: Vec<serde_json::Value> = (0..30u64)
        .map(|i| attr(i + 1, 1, "domain", &format!("e{i}.example")))
        .collect();
    Sim::with_fixture(json!(attrs), json!([]), args)
}

#[test]
fn a_wrong_key_says_so_exits_2_and_is_never_printed() {
    let sim = small_sim(&[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    cfg.write(&cfg.text().replace(KEY, WRONG_KEY));
    let r = run(&cfg.path, &["--json", "-vvv"]).expect(2);
    assert!(
        r.stderr.contains("refused the API key (HTTP 403)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Authentication failed"), "{}", r.stderr);
    assert!(!r.stderr.contains(WRONG_KEY) && !r.stdout.contains(WRONG_KEY));
    assert_eq!(r.json()["ok"], false);
    assert!(indicators(&mc).is_empty());
    // Retrying cannot fix a key: one request only.
    let attempts = sim
        .requests()
        .iter()
        .filter(|r| r["path"] == "/attributes/restSearch")
        .count();
    assert_eq!(attempts, 1);
}

#[test]
fn self_signed_tls_needs_ca_file_or_ignore_cert_errors() {
    let dir = tempdir::Dir::new("tls");
    let ca = dir.path().join("ca.pem");
    let sim = small_sim(&["--tls", "--ca-out", ca.to_str().unwrap()]);
    assert!(sim.url.starts_with("https://"), "{}", sim.url);
    let mc = TestServer::start();

    // Verified by default: the unknown CA is refused, with the fix named.
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let r = run(&cfg.path, &["-q"]).expect(2);
    assert!(r.stderr.contains("TLS certificate"), "{}", r.stderr);
    assert!(r.stderr.contains("ca_file"), "{}", r.stderr);
    assert!(indicators(&mc).is_empty());

    // The private CA makes it work with verification on.
    let with_ca = Cfg::new(
        &sim.url,
        &[mc.addr()],
        &format!("  ca_file: {}\n", ca.display()),
        "",
    );
    let r = run(&with_ca.path, &["--json"]).expect(0);
    assert!(!r.stderr.contains("NOT verified"), "{}", r.stderr);
    assert_eq!(r.json()["keys_added"], 30);

    // A CA file that is not PEM is a clear error.
    let junk = write_file(dir.path(), "junk.pem", "not a certificate\n");
    let bad = Cfg::new(
        &sim.url,
        &[mc.addr()],
        &format!("  ca_file: {}\n", junk.display()),
        "",
    );
    let r = run(&bad.path, &["-q"]).expect(2);
    assert!(r.stderr.contains("misp.ca_file"), "{}", r.stderr);

    // ignore_cert_errors turns verification off, with a warning every run.
    let insecure = Cfg::new(&sim.url, &[mc.addr()], "", "");
    insecure.write(
        &insecure
            .text()
            .replace("ignore_cert_errors: false", "ignore_cert_errors: true"),
    );
    let r = run(&insecure.path, &["--json"]).expect(0);
    assert!(r.stderr.contains("NOT verified"), "{}", r.stderr);
    // Every run, whatever it does, and with -q.
    for args in [
        &["-q", "--json"][..],
        &["-q", "check"][..],
        &["-q", "--full"][..],
    ] {
        let r = run(&insecure.path, args).expect(0);
        assert!(r.stderr.contains("NOT verified"), "{args:?}: {}", r.stderr);
    }

    // The name is verified too, not only the chain: a certificate from the
    // trusted CA for another name is refused.
    let other_ca = dir.path().join("other-ca.pem");
    let other = small_sim(&[
        "--tls",
        "--ca-out",
        other_ca.to_str().unwrap(),
        "--tls-name",
        "misp.example.org",
    ]);
    let wrong_name = Cfg::new(
        &other.url,
        &[mc.addr()],
        &format!("  ca_file: {}\n", other_ca.display()),
        "",
    );
    let r = run(&wrong_name.path, &["-q"]).expect(2);
    assert!(r.stderr.contains("TLS certificate"), "{}", r.stderr);
    assert!(
        r.stderr.to_ascii_lowercase().contains("name"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_login_redirect_is_explained() {
    let sim = small_sim(&["--redirect-login"]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let r = run(&cfg.path, &["-q"]).expect(2);
    assert!(r.stderr.contains("login page"), "{}", r.stderr);
    assert!(r.stderr.contains("/users/login"), "{}", r.stderr);
}

#[test]
fn transient_failures_are_retried() {
    let sim = small_sim(&[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 10\n", "");
    cfg.write(&cfg.text().replace("retries: 1", "retries: 3"));
    sim.faults(json!({"rules": [
        {"page": 2, "status": 500, "times": 1},
        {"page": 3, "status": 429, "retry_after": 1, "times": 1},
        {"page": 4, "truncate": "connection", "times": 1},
    ]}));
    let t = Instant::now();
    let r = run(&cfg.path, &["--json"]).expect(0);
    // Retry-After was honoured.
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(r.json()["keys_added"], 30);
    assert!(r.stderr.contains("retry 1 of 3"), "{}", r.stderr);
    let pages: Vec<u64> = sim
        .requests()
        .iter()
        .filter(|q| q["path"] == "/attributes/restSearch")
        .map(|q| q["body"]["page"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, vec![1, 2, 2, 3, 3, 4, 4]);
}

#[test]
fn malformed_json_names_the_page() {
    let sim = small_sim(&[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 10\n", "");
    sim.faults(json!({"rules": [{"page": 2, "truncate": "body"}]}));
    let r = run(&cfg.path, &["-q"]).expect(2);
    assert!(
        r.stderr.contains("page 2 of /attributes/restSearch"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("malformed JSON"), "{}", r.stderr);
}

#[test]
fn unreachable_misp_or_memcached_exit_2_naming_it() {
    let sim = small_sim(&[]);
    let mc = TestServer::start();
    let port = misp_enrich_memcached::free_port();
    let cfg = Cfg::new(&format!("http://127.0.0.1:{port}"), &[mc.addr()], "", "");
    let r = run(&cfg.path, &["-q"]).expect(2);
    assert!(r.stderr.contains("cannot connect to MISP"), "{}", r.stderr);
    let dead = format!("127.0.0.1:{}", misp_enrich_memcached::free_port());
    let cfg = Cfg::new(&sim.url, std::slice::from_ref(&dead), "", "");
    let r = run(&cfg.path, &["-q"]).expect(2);
    assert!(
        r.stderr.contains(&format!("memcached {dead}")),
        "{}",
        r.stderr
    );
}
