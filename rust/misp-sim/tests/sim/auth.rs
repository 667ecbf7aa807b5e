//! Keys, the Accept rule, error bodies, the small endpoints and the CLI.

use crate::harness::*;
use serde_json::json;

const AUTH_MSG: &str = "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.";

#[test]
fn ready_line_names_the_bound_port() {
    let sim = Sim::start(&[]);
    let rest = sim
        .ready_line
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap();
    let port: u16 = rest.parse().unwrap();
    assert_ne!(port, 0);
}

#[test]
fn missing_or_wrong_key_gives_misp_403_shape() {
    let sim = Sim::start(&["--generate", "10"]);
    for headers in [
        vec![("Accept", "application/json")],
        vec![("Authorization", "0123456789012345678901234567890123456789")],
        // A right key in Authorization is overridden by a wrong X-MISP-AUTH.
        vec![
            ("Authorization", KEY),
            ("X-MISP-AUTH", "wrongwrongwrongwrongwrongwrongwrongwrong"),
        ],
        vec![("Authorization", &format!("Bearer {KEY}"))],
    ] {
        let r = sim.post("/attributes/restSearch", r#"{"limit":1}"#, &headers);
        assert_eq!(r.status, 403, "{headers:?}");
        let v = r.json();
        assert_eq!(v["name"], AUTH_MSG);
        assert_eq!(v["message"], v["name"]);
        assert_eq!(v["url"], "/attributes/restSearch");
        assert_eq!(v.as_object().unwrap().len(), 3);
        // PHP's json_encode escapes slashes.
        assert!(
            r.body.contains(r#""url":"\/attributes\/restSearch""#),
            "{}",
            r.body
        );
        // Key order as MISP writes it.
        assert!(r.body.starts_with(r#"{"name":"#), "{}", r.body);
    }
    // X-MISP-AUTH alone, and several keys with a Basic value skipped.
    let ok = sim.post(
        "/attributes/restSearch",
        r#"{"limit":1}"#,
        &[("X-MISP-AUTH", KEY)],
    );
    assert_eq!(ok.status, 200);
    let basic = format!("Basic Zm9vOmJhcg==, {KEY}");
    let ok = sim.post(
        "/attributes/restSearch",
        r#"{"limit":1}"#,
        &[("Authorization", &basic)],
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn accept_rule_redirects_non_rest_requests_to_login() {
    let sim = Sim::start(&[]);
    // getVersion without Accept: application/json is a web request.
    let r = sim.get("/servers/getVersion", &[("Authorization", KEY)]);
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().ends_with("/users/login"));
    let r = sim.get(
        "/servers/getVersion",
        &[("Authorization", KEY), ("Accept", "*/*")],
    );
    assert_eq!(r.status, 302);
    // With it (or with .json) it is an API call.
    let r = sim.get(
        "/servers/getVersion",
        &[("Authorization", KEY), ("Accept", "application/json")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], "2.5.1");
    assert_eq!(r.json()["perm_sync"], false);
    let r = sim.get("/servers/getVersion.json", &[("Authorization", KEY)]);
    assert_eq!(r.status, 200);
    // A wrong key on an API call is a 403, not a redirect.
    let r = sim.get("/servers/getVersion", &[("Accept", "application/json")]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["url"], "/servers/getVersion");
    // restSearch works without Accept.
    let r = sim.post(
        "/attributes/restSearch",
        r#"{"limit":1}"#,
        &[("Authorization", KEY)],
    );
    assert_eq!(r.status, 200);
    // The login page answers 200 HTML (what a redirect-following client sees).
    let r = sim.get("/users/login", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("UserLoginForm"));
}

#[test]
fn users_view_me() {
    let sim = Sim::start(&[]);
    let r = sim.get(
        "/users/view/me",
        &[("Authorization", KEY), ("Accept", "application/json")],
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["Role"]["perm_auth"], true);
    assert_eq!(v["User"]["id"], "1");
    assert_eq!(v["Organisation"]["id"], "1");
    assert!(v["UserSetting"].is_array());
}

#[test]
fn body_errors_follow_misp() {
    let sim = Sim::start(&["--generate", "10"]);
    let h = json_headers();
    let empty = sim.post("/attributes/restSearch", "", &h);
    assert_eq!(empty.status, 400);
    assert_eq!(
        empty.json()["message"],
        "Either specify the search terms in the url, or POST a json with the filter parameters."
    );
    let bad = sim.post("/attributes/restSearch", "{\"limit\": 10,", &h);
    assert_eq!(bad.status, 405);
    assert!(bad.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid JSON input."));
    let get = sim.get("/attributes/restSearch", &[("Authorization", KEY)]);
    assert_eq!(get.status, 400);
    assert!(get.json()["name"]
        .as_str()
        .unwrap()
        .starts_with("Restsearch queries using GET"));
    // Wrapped in {"request": ...} works like the bare object.
    let wrapped = sim.post(
        "/attributes/restSearch",
        &json!({"request": {"limit": 2}}).to_string(),
        &h,
    );
    assert_eq!(wrapped.ids(), vec![1, 2]);
}

#[test]
fn bad_key_flag_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_misp-sim"))
        .args(["--key", "short", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key must be 40"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_misp-sim"))
        .args(["--key", KEY, "--fixture", "/nonexistent/fixture.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read fixture"));
}
