//! Fault injection and the request log.

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn error_on_page_two_then_success() {
    let sim = Sim::start(&["--generate", "300"]);
    sim.admin(
        "/_sim/faults",
        json!({"rules": [{"page": 2, "status": 500, "times": 1}]}),
    );
    let body = json!({"limit": 100, "page": 2});
    assert_eq!(sim.search(json!({"limit": 100, "page": 1})).status, 200);
    let failed = sim.search(body.clone());
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()["name"], "An Internal Error Has Occurred.");
    let retried = sim.search(body.clone());
    assert_eq!(retried.status, 200);
    assert_eq!(retried.ids().len(), 100);
    let f = sim.get("/_sim/faults", &[]).json();
    assert_eq!(f["rules"][0]["hits"], 1);
    assert_eq!(f["rules"][0]["times"], 0);
}

#[test]
fn startup_flags_fail_a_page() {
    let sim = Sim::start(&[
        "--generate",
        "300",
        "--fail-page",
        "2",
        "--fail-status",
        "502",
        "--fail-times",
        "2",
    ]);
    let body = json!({"limit": 100, "page": 2});
    for _ in 0..2 {
        let r = sim.search(body.clone());
        assert_eq!(r.status, 502);
        assert!(r.body.contains("502 Bad Gateway"));
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    }
    assert_eq!(sim.search(body).status, 200);
}

#[test]
fn rate_limit_with_retry_after() {
    let sim = Sim::start(&["--generate", "50"]);
    sim.admin(
        "/_sim/faults",
        json!({"rules": [{"status": 429, "retry_after": 3, "times": 2}]}),
    );
    for _ in 0..2 {
        let r = sim.search(json!({"limit": 10}));
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert_eq!(r.header("x-rate-limit-remaining"), Some("0"));
        assert_eq!(r.json()["message"], "Rate limit exceeded.");
    }
    assert_eq!(sim.search(json!({"limit": 10})).status, 200);
    // 503 also carries Retry-After.
    sim.admin(
        "/_sim/faults",
        json!({"rules": [{"status": 503, "times": 1}]}),
    );
    let r = sim.search(json!({"limit": 10}));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[test]
fn truncated_bodies() {
    let sim = Sim::start(&["--generate", "500", "--truncate-page", "2"]);
    // Connection mode: the announced length never arrives.
    let page2 = sim.try_search(json!({"limit": 200, "page": 2}));
    assert!(page2.is_err(), "a truncated body must fail to read");
    // Other pages are whole.
    assert_eq!(
        sim.search(json!({"limit": 200, "page": 1})).ids().len(),
        200
    );
    // Body mode: valid HTTP, broken JSON.
    sim.admin(
        "/_sim/faults",
        json!({"rules": [{"page": 1, "truncate": "body", "times": 1}]}),
    );
    let r = sim.search(json!({"limit": 200, "page": 1}));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&r.body).is_err());
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    assert!(r.body.starts_with("{\"response\": {\"Attribute\": [{"));
    // times:1 used up.
    assert_eq!(
        sim.search(json!({"limit": 200, "page": 1})).ids().len(),
        200
    );
}

#[test]
fn delay_and_login_redirect() {
    let sim = Sim::start(&["--generate", "20"]);
    sim.admin("/_sim/faults", json!({"delay_ms": 300}));
    let t = Instant::now();
    assert_eq!(sim.search(json!({"limit": 5})).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    sim.admin("/_sim/faults", json!({"redirect_login": true}));
    let r = sim.search(json!({"limit": 5}));
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().ends_with("/users/login"));
    // Clearing restores normal answers.
    sim.admin("/_sim/faults", json!({}));
    assert_eq!(sim.search(json!({"limit": 5})).status, 200);
    // Bad fault JSON is refused by name.
    let r = sim.post("/_sim/faults", r#"{"rules":[{"pgae":1}]}"#, &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("pgae"));
}

#[test]
fn per_rule_delay_on_one_page() {
    let sim = Sim::start(&["--generate", "100"]);
    sim.admin(
        "/_sim/faults",
        json!({"rules": [{"page": 2, "delay_ms": 400}]}),
    );
    let t = Instant::now();
    sim.search(json!({"limit": 10, "page": 1}));
    assert!(t.elapsed() < Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(sim.search(json!({"limit": 10, "page": 2})).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
}

#[test]
fn request_log_records_what_the_client_sent() {
    let sim = Sim::start(&["--generate", "20"]);
    let body = json!({"returnFormat": "json", "to_ids": true, "published": true,
                      "order": "Attribute.id asc", "limit": 5, "page": 1});
    sim.search(body.clone());
    sim.post("/attributes/restSearch", "{oops", &json_headers());
    sim.get(
        "/servers/getVersion",
        &[("Accept", "application/json"), ("X-MISP-AUTH", KEY)],
    );
    sim.state(); // admin calls are not logged
    let log = sim.get("/_sim/requests", &[]).json();
    assert_eq!(log["total"], 3);
    let reqs = log["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 3);
    let first = &reqs[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/attributes/restSearch");
    assert_eq!(first["body"], body);
    assert_eq!(first["status"], 200);
    assert_eq!(first["headers"]["authorization"], "<redacted>");
    assert_eq!(first["headers"]["accept"], "application/json");
    assert_eq!(first["headers"]["content-type"], "application/json");
    assert!(
        !log.to_string().contains(KEY),
        "the key must never be logged"
    );
    assert_eq!(reqs[1]["status"], 405);
    assert_eq!(reqs[1]["body_text"], "{oops");
    assert_eq!(reqs[2]["headers"]["x-misp-auth"], "<redacted>");
    let since = sim.get("/_sim/requests?since=2", &[]).json();
    assert_eq!(since["requests"].as_array().unwrap().len(), 1);
    let r = sim.agent_delete("/_sim/requests");
    assert_eq!(r, 200);
    assert_eq!(sim.get("/_sim/requests", &[]).json()["requests"], json!([]));
}
