//! memcached's ASCII protocol authentication (`memcached -Y <file>`): with a
//! user and password misp-load loads, checks and reconciles; without them,
//! or with a wrong one, it says so; a server that does not ask never gets the
//! password; the password is never printed.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::json;

const PASSWORD: &str = "Mc-Pass-0123456789";

#[test]
fn a_memcached_with_authentication() {
    let dir = tempdir::Dir::new("mcauth");
    let authfile = write_file(dir.path(), "auth", &format!("misp:{PASSWORD}\n"));
    let mc = TestServer::start_with(&["-Y", authfile.to_str().unwrap()]);
    let sim = Sim::with_fixture(
        json!([
            attr(1, 1, "domain", "a.example"),
            attr(2, 1, "domain", "b.example")
        ]),
        json!([]),
        &[],
    );
    let base = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let plain = base.text();
    let with = |auth: &str| plain.replace("memcached:\n", &format!("memcached:\n{auth}"));

    // No credentials: the server refuses, and the message says what to set.
    let r = run(&base.path, &["-q"]).expect(2);
    assert!(
        r.stderr.contains("requires authentication") && r.stderr.contains("memcached.username"),
        "{}",
        r.stderr
    );
    // A wrong password.
    base.write(&with("  username: misp\n  password: wrong-password\n"));
    let r = run(&base.path, &["-q"]).expect(2);
    assert!(
        r.stderr.contains("refused the user name or password"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("wrong-password"), "{}", r.stderr);

    // The right pair from a password file: load, check, --full all work.
    let pass = write_file(base.dir.path(), "mc.pass", &format!("{PASSWORD}\n"));
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    base.write(&with("  username: misp\n  password_file: mc.pass\n"));
    std::fs::set_permissions(&base.path, std::fs::Permissions::from_mode(0o600)).unwrap();
    for args in [
        &["-vvv", "--json"][..],
        &["-vvv", "check"][..],
        &["-vvv", "--full", "--json"][..],
        &["-vvv", "stats"][..],
    ] {
        let r = run(&base.path, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));
        assert!(
            !r.stderr.contains("other users may read it"),
            "{}",
            r.stderr
        );
    }
    // What it wrote, read through an authenticated connection.
    let mut c = mc_auth(&mc);
    let got = c
        .get_multi(&["misp-domain:a.example", "misp-stats"], false)
        .unwrap();
    assert_eq!(got[0].as_ref().unwrap().value, b"1#domain");
    assert_eq!(got[1].as_ref().unwrap().value, b"2");

    // A password in a file others can read draws the warning.
    base.write(&with(&format!(
        "  username: misp\n  password: \"{PASSWORD}\"\n"
    )));
    std::fs::set_permissions(&base.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(&base.path, &["-q", "--json"]).expect(0);
    assert!(
        r.stderr.contains(
            "holds the memcached password and the MISP API key and other users may read it"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(PASSWORD));

    // A user name without a password is a config error.
    base.write(&with("  username: misp\n"));
    let r = run(&base.path, &["-q"]).expect(1);
    assert!(r.stderr.contains("memcached.password"), "{}", r.stderr);
}

#[test]
fn a_memcached_without_authentication_never_gets_the_password() {
    let mc = TestServer::start();
    let sim = Sim::with_fixture(json!([attr(1, 1, "domain", "a.example")]), json!([]), &[]);
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    cfg.write(&cfg.text().replace(
        "memcached:\n",
        &format!("memcached:\n  username: misp\n  password: \"{PASSWORD}\"\n"),
    ));
    let r = run(&cfg.path, &["--json"]).expect(0);
    assert!(
        r.stderr.contains("does not ask for authentication"),
        "{}",
        r.stderr
    );
    // The password is nowhere in memcached.
    for (k, v) in snapshot(&mc) {
        assert!(!v.contains(PASSWORD) && !k.contains("auth"), "{k} = {v}");
    }
    assert_eq!(
        get(&mc, "misp-domain:a.example").as_deref(),
        Some("1#domain")
    );
}

fn mc_auth(server: &TestServer) -> Connection {
    let mut c = mc_raw(server);
    assert!(c.authenticate("misp", PASSWORD).unwrap());
    c
}

fn mc_raw(server: &TestServer) -> Connection {
    Connection::connect(
        &server.addr(),
        Timeouts {
            connect: std::time::Duration::from_secs(1),
            io: std::time::Duration::from_secs(5),
        },
    )
    .unwrap()
}
