//! The API key never reaches stdout or stderr, whatever the verbosity, the
//! outcome, the key's source or the output format; a file holding the key
//! that other users can read draws a warning on every run.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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

#[test]
fn the_key_is_never_printed_from_any_source_or_error_path() {
    let sim = Sim::with_fixture(json!([attr(1, 1, "domain", "s.example")]), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let no_token = cfg.text().replace(&format!("  token: \"{KEY}\"\n"), "");
    // From MISP_KEY (the config has no token), at -vvv, with backtraces on.
    cfg.write(&no_token);
    let run_env = |args: &[&str]| -> Ran {
        misp_load(&cfg.path)
            .args(args)
            .env("MISP_KEY", KEY)
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LIB_BACKTRACE", "1")
            .output()
            .unwrap()
            .into()
    };
    let r = run_env(&["-vvv", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean(&r, KEY);
    // From a key file.
    write_file(cfg.dir.path(), "misp.key", &format!("{KEY}\n"));
    cfg.write(&no_token.replace("misp:\n", "misp:\n  token_file: misp.key\n"));
    let r = run(&cfg.path, &["-vvv", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean(&r, KEY);
    // Error paths, with backtraces asked for: memcached down, MISP down,
    // a 500 echoing the key, TLS refused, a config error next to the key.
    cfg.write(&no_token);
    let dead = format!("127.0.0.1:{}", misp_enrich_memcached::free_port());
    cfg.write(&no_token.replace(
        &mc.addr().replace(':', "\n  port: "),
        &dead.replace(':', "\n  port: "),
    ));
    let r = run_env(&["-vvv", "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&dead), "{}", r.stderr);
    assert_clean(&r, KEY);
    cfg.write(&no_token.replace(&sim.url, "http://127.0.0.1:1"));
    let r = run_env(&["-vvv", "--json", "check"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_clean(&r, KEY);
    cfg.write(&no_token);
    sim.faults(json!({"rules": [{"path": "*", "status": 500, "body": format!("{{\"message\":\"echo {KEY}\"}}")}]}));
    for args in [&["-vvv", "--json"][..], &["-vvv", "check"][..]] {
        let r = run_env(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("echo ***"), "{}", r.stderr);
        assert_clean(&r, KEY);
    }
    sim.faults(json!({}));
    let dir = tempdir::Dir::new("tls");
    let ca = dir.path().join("ca.pem");
    let tls = Sim::start(&["--tls", "--ca-out", ca.to_str().unwrap()]);
    cfg.write(&no_token.replace(&sim.url, &tls.url));
    let r = run_env(&["-vvv", "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("TLS certificate"), "{}", r.stderr);
    assert_clean(&r, KEY);
    cfg.write(&format!("{}  page_size: [{KEY}\n", cfg.text()));
    let r = run_env(&["-vvv"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_clean(&r, KEY);
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

const EXPOSED: &str = "holds the MISP API key and other users may read it";

#[test]
fn a_key_file_others_can_read_draws_a_warning() {
    let sim = Sim::with_fixture(json!([attr(1, 1, "domain", "w.example")]), json!([]), &[]);
    let mc = TestServer::start();
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let config = cfg.path.display().to_string();
    // The token in the config file.
    for (mode, warned) in [
        (0o644, true),
        (0o640, true),
        (0o604, true),
        (0o600, false),
        (0o400, false),
    ] {
        chmod(&cfg.path, mode);
        for args in [&["-q", "--json"][..], &["check"][..]] {
            let r = run(&cfg.path, args);
            assert_eq!(r.code, 0, "{mode:o} {args:?}: {}", r.stderr);
            let line = r.stderr.lines().find(|l| l.contains(EXPOSED));
            assert_eq!(line.is_some(), warned, "{mode:o} {args:?}: {}", r.stderr);
            if let Some(line) = line {
                assert!(line.contains(&config), "{line}");
                assert!(line.contains(&format!("mode {mode:04o}")), "{line}");
                assert!(line.contains(&format!("chmod 600 {config}")), "{line}");
            }
            assert_clean(&r, KEY);
        }
    }
    // The token in a key file: the key file's mode counts, not the config's.
    let no_token = cfg.text().replace(&format!("  token: \"{KEY}\"\n"), "");
    let key = write_file(cfg.dir.path(), "misp.key", &format!("{KEY}\n"));
    cfg.write(&no_token.replace("misp:\n", "misp:\n  token_file: misp.key\n"));
    chmod(&cfg.path, 0o644);
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        chmod(&key, mode);
        let r = run(&cfg.path, &["-q", "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let line = r.stderr.lines().find(|l| l.contains(EXPOSED));
        assert_eq!(line.is_some(), warned, "{mode:o}: {}", r.stderr);
        if let Some(line) = line {
            assert!(line.contains(&key.display().to_string()), "{line}");
            assert!(!line.contains(&config), "{line}");
        }
    }
    // The key in MISP_KEY, none in the file: nothing to warn about.
    cfg.write(&no_token);
    let r: Ran = misp_load(&cfg.path)
        .args(["-q", "--json"])
        .env("MISP_KEY", KEY)
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(EXPOSED), "{}", r.stderr);
}
