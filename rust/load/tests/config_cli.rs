//! The config file and the command line as a user meets them: the seed's
//! file works unchanged, broken or missing files say which key or file is
//! wrong (exit 1), and key sources other than the file.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

/// The config.yml of the seed's getting_started.md, verbatim.
const SEED_CONFIG: &str = include_str!("fixtures/seed-config.yml");

#[test]
fn the_seed_config_is_accepted_as_is() {
    let dir = tempdir::Dir::new("seed");
    let path = write_file(dir.path(), "config.yml", SEED_CONFIG);
    // There is no MISP at https://127.0.0.1 here: the config is fine (not
    // exit 1); reaching MISP fails (exit 2); the insecure setting is warned.
    let r = run(&path, &["check"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("NOT verified"), "{}", r.stderr);
    assert!(r.stderr.contains("https://127.0.0.1"), "{}", r.stderr);
    assert!(!r
        .stderr
        .contains("IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr"));
}

#[test]
fn a_missing_config_names_the_file() {
    let r = run(std::path::Path::new("/nonexistent/dir/config.yml"), &[]).expect(1);
    assert!(
        r.stderr.contains("/nonexistent/dir/config.yml"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--config"), "{}", r.stderr);
    // The default is ./config.yml, like the seed.
    let dir = tempdir::Dir::new("nocfg");
    let r: Ran = std::process::Command::new(env!("CARGO_BIN_EXE_misp-load"))
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("config.yml"), "{}", r.stderr);
}

#[test]
fn broken_configs_name_the_key_and_file() {
    let dir = tempdir::Dir::new("broken");
    let cases = [
        (
            SEED_CONFIG.replace(
                "  refresh_event_timestamp: 1h",
                "  refresh_event_timestamp: 1h\n  verify_tls: true",
            ),
            "verify_tls",
            "line 10",
        ),
        (SEED_CONFIG.replace("web:", "webb:"), "webb", "line 16"),
        (
            SEED_CONFIG.replace("port: 11211", "port: eleven"),
            "memcached.port",
            "",
        ),
        (
            SEED_CONFIG.replace("365d", "2 weeks"),
            "misp.initial_event_timestamp",
            "",
        ),
        (
            SEED_CONFIG.replace("  expires: 0\nweb", "  expires: forever\nweb"),
            "network.expires",
            "",
        ),
        (SEED_CONFIG.replace("misp:\n", "misp: [\n"), "line", ""),
    ];
    for (text, key, line) in cases {
        let path = write_file(dir.path(), "config.yml", &text);
        let r = run(&path, &["check"]).expect(1);
        assert!(
            r.stderr.contains(path.to_str().unwrap()),
            "{key}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(key), "{key}: {}", r.stderr);
        assert!(r.stderr.contains(line), "{key}: {}", r.stderr);
        assert!(
            !r.stderr
                .contains("IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let dir = tempdir::Dir::new("usage");
    let path = write_file(dir.path(), "config.yml", SEED_CONFIG);
    run(&path, &["--no-such-flag"]).expect(1);
    run(&path, &["--watch", "0"]).expect(1);
    run(&path, &["check", "--full"]).expect(1);
    let r = run(&path, &["--help"]).expect(0);
    assert!(
        r.stdout.contains("--full") && r.stdout.contains("lookup"),
        "{}",
        r.stdout
    );
    run(&path, &["--version"]).expect(0);
}

#[test]
fn the_key_can_come_from_the_environment_or_a_file() {
    let attrs = json!([attr(1, 1, "domain", "k.example")]);
    let sim = Sim::with_fixture(attrs, json!([]), &[]);
    let mc = TestServer::start();
    // The file's token is wrong; MISP_KEY wins.
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    cfg.write(&cfg.text().replace(KEY, WRONG_KEY));
    let r: Ran = misp_load(&cfg.path)
        .args(["-q", "--json"])
        .env("MISP_KEY", KEY)
        .output()
        .unwrap()
        .into();
    assert_eq!(r.expect(0).json()["keys_added"], 1);
    // A key file next to the config (relative path), no token in the config.
    write_file(cfg.dir.path(), "misp.key", &format!("{KEY}\n"));
    let text = cfg.text().replace(
        &format!("  token: \"{WRONG_KEY}\"\n"),
        "  token_file: misp.key\n",
    );
    cfg.write(&text);
    load(&cfg.path, &[]);
    // Neither: a clear error.
    cfg.write(&text.replace("  token_file: misp.key\n", ""));
    let r = run(&cfg.path, &["-q"]).expect(1);
    assert!(
        r.stderr.contains("no MISP API key") && r.stderr.contains("MISP_KEY"),
        "{}",
        r.stderr
    );
}
