//! memcached's ASCII protocol authentication (`memcached -Y <file>`, 1.5.15
//! and later) against a real server: nothing works before logging in, the
//! right pair logs in, a wrong one is refused, and a server that does not ask
//! for authentication never receives the password.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use misp_enrich_memcached::{Connection, Error, Op, Reply, TestServer, Timeouts};

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        io: Duration::from_secs(2),
    }
}

fn auth_server(dir: &std::path::Path) -> TestServer {
    let file = dir.join("auth");
    std::fs::write(&file, "misp:s3cret-Pass\nother:x\n").unwrap();
    TestServer::start_with(&["-Y", file.to_str().unwrap()])
}

fn tempdir(label: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mc-auth-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_server_with_an_auth_file_needs_the_right_pair() {
    let dir = tempdir("needs");
    let server = auth_server(&dir);
    // Before logging in, every command is refused.
    let mut c = Connection::connect(&server.addr(), timeouts()).unwrap();
    match c.get_multi(&["k"], false) {
        Err(Error::Server(m)) => assert!(m.contains("unauthenticated"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A wrong password.
    let mut c = Connection::connect(&server.addr(), timeouts()).unwrap();
    match c.authenticate("misp", "wrong") {
        Err(e @ Error::Auth(_)) => assert!(!e.is_transient()),
        other => panic!("{other:?}"),
    }
    // The right pair: everything works, including listing and meta deletes.
    let mut c = Connection::connect(&server.addr(), timeouts()).unwrap();
    assert!(c.authenticate("misp", "s3cret-Pass").unwrap());
    let r = c
        .execute(&[Op::Set {
            key: "misp-domain:a.example",
            value: b"1#domain",
            exptime: 0,
        }])
        .unwrap();
    assert_eq!(r, vec![Reply::Stored]);
    let got = c.get_multi(&["misp-domain:a.example"], true).unwrap();
    let cas = got[0].as_ref().unwrap().cas;
    let mut keys = Vec::new();
    c.metadump(|k| keys.push(k.key)).unwrap();
    // Logging in stored nothing.
    assert_eq!(keys, vec!["misp-domain:a.example"]);
    assert_eq!(
        c.delete_if_unchanged(&[("misp-domain:a.example", cas)])
            .unwrap(),
        vec![Reply::Deleted]
    );
    // Characters the format cannot carry are refused before anything is sent.
    for (user, password) in [
        ("misp", "a b"),
        ("misp", "a\r\nflush_all"),
        ("", "x"),
        ("misp", ""),
    ] {
        let mut c = Connection::connect(&server.addr(), timeouts()).unwrap();
        assert!(
            matches!(c.authenticate(user, password), Err(Error::Auth(_))),
            "{user:?} {password:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_without_authentication_never_gets_the_password() {
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), timeouts()).unwrap();
    assert!(!c.authenticate("misp", "s3cret-Pass").unwrap());
    // The connection works, and the password was not stored anywhere.
    let mut keys = Vec::new();
    c.metadump(|k| keys.push(k.key)).unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    assert_eq!(c.get_multi(&["auth"], false).unwrap(), vec![None]);
}

#[test]
fn a_deadline_bounds_both_round_trips_of_the_login() {
    use std::io::{BufRead, BufReader, Write};
    use std::time::Instant;
    // A server that asks for the login at once, then never answers it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines();
        let _version = lines.next();
        writer
            .write_all(b"CLIENT_ERROR unauthenticated\r\n")
            .unwrap();
        // Hold the connection until the client gives up.
        lines.map_while(Result::ok).count()
    });
    let mut c = Connection::connect(
        &addr,
        Timeouts {
            connect: Duration::from_secs(1),
            io: Duration::from_secs(5),
        },
    )
    .unwrap();
    let started = Instant::now();
    c.set_deadline(started + Duration::from_millis(200));
    assert!(matches!(
        c.authenticate("misp", "s3cret-Pass"),
        Err(Error::Timeout)
    ));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the login waited {took:?}, past its 200 ms deadline (io timeout 5 s)"
    );
    drop(c);
    // The set line and the data line reached the server.
    assert_eq!(server.join().unwrap(), 2);
}
