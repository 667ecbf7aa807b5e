//! memcached's ASCII authentication (`memcached -Y <auth file>`) from the
//! engine's side, against real servers: the right login enriches (range
//! index included), a wrong or missing one fails the slots and opens the
//! breaker like a dead server, a server without authentication never gets
//! the password, and the password shows in no stats, error or `Debug` text,
//! even when a server echoes it back.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::thread;

use common::*;
use misp_enrich_core::ranges::{encode_chunks, RangeIndexHead};
use misp_enrich_core::{EntryList, Keyspace, Namespace, Secret};
use misp_enrich_engine::{BreakerState, Config, Engine, MatchKind};
use misp_enrich_memcached::{Connection, Op};

const USER: &str = "misp";
const PASSWORD: &str = "s3cret-Pass";

/// A memcached with an auth file holding `misp:s3cret-Pass`; the file's
/// directory is removed by the caller.
fn auth_server(label: &str) -> (TestServer, PathBuf) {
    let dir = std::env::temp_dir().join(format!("engine-auth-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("auth");
    std::fs::write(&file, format!("{USER}:{PASSWORD}\nother:x\n")).unwrap();
    (TestServer::start_with(&["-Y", file.to_str().unwrap()]), dir)
}

/// Writes `pairs` as misp-load would, logged in.
fn store(addr: &str, pairs: &[(String, Vec<u8>)]) {
    let mut c = Connection::connect(addr, timeouts()).unwrap();
    assert!(c.authenticate(USER, PASSWORD).unwrap());
    let ops: Vec<Op<'_>> = pairs
        .iter()
        .map(|(key, value)| Op::Set {
            key,
            value,
            exptime: 0,
        })
        .collect();
    c.execute(&ops).unwrap();
}

fn with_login(servers: &[String], user: &str, password: &str) -> Config {
    let mut c = config(servers);
    c.username = Some(user.to_owned());
    c.password = Some(Secret::new(password));
    c
}

/// Everything the engine lets out as text: stats JSON, `Debug`, the range
/// refresh error.
fn all_text(engine: &Engine, c: &Config) -> String {
    format!(
        "{}\n{engine:?}\n{c:?}\n{}\n{:?}",
        serde_json::to_string(&engine.stats()).unwrap(),
        serde_json::to_string(c).unwrap(),
        engine.refresh_ranges()
    )
}

#[test]
fn the_right_login_enriches_and_reads_the_range_index() {
    let (server, dir) = auth_server("right");
    let servers = vec![server.addr()];
    let ks = Keyspace::default();
    let ranges = [(
        "198.51.100.0/24".parse::<ipnet::IpNet>().unwrap(),
        EntryList::parse("8#ip-dst").entries,
    )];
    let chunks = encode_chunks(ranges.iter().map(|(n, e)| (n, e)));
    let mut pairs = vec![(
        ks.key(Namespace::Domain, "evil.example"),
        b"7#domain".to_vec(),
    )];
    for (i, chunk) in chunks.iter().enumerate() {
        pairs.push((ks.ranges_chunk_key(1, i as u32), chunk.as_bytes().to_vec()));
    }
    let head = RangeIndexHead {
        generation: 1,
        chunks: chunks.len() as u32,
    };
    pairs.push((ks.ranges_head_key(), head.to_string().into_bytes()));
    store(&servers[0], &pairs);

    let c = with_login(&servers, USER, PASSWORD);
    let engine = engine(&c);
    // Read when the engine was created, through a logged-in connection.
    assert_eq!(engine.stats().ranges.ranges, 1);
    assert_eq!(engine.stats().ranges.last_error, None);
    let out = engine.lookup(&[
        item(0, Namespace::Domain, "evil.example"),
        item(1, Namespace::Ip, "198.51.100.9"),
        item(2, Namespace::Domain, "fine.example"),
    ]);
    assert_eq!(failed(&out), Vec::<u32>::new());
    assert_eq!(
        matches(&out, 0),
        vec![(
            "domain".into(),
            MatchKind::Exact,
            "evil.example".into(),
            "7#domain".into()
        )]
    );
    assert_eq!(matches(&out, 1)[0].2, "198.51.100.0/24");
    let stats = engine.stats();
    assert_eq!(stats.servers[0].breaker, BreakerState::Closed);
    assert_eq!(stats.servers[0].errors, 0);
    assert_eq!(stats.servers[0].last_error, None);
    assert!(!all_text(&engine, &c).contains(PASSWORD));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_wrong_password_fails_the_slots_and_opens_the_breaker() {
    let (server, dir) = auth_server("wrong");
    let servers = vec![server.addr()];
    store(
        &servers[0],
        &[(
            Keyspace::default().key(Namespace::Domain, "evil.example"),
            b"7#domain".to_vec(),
        )],
    );
    let wrong = "wr0ng-Passw0rd";
    let c = with_login(&servers, USER, wrong);
    let engine = engine(&c);
    let refresh = engine.stats().ranges.last_error.unwrap_or_default();
    assert!(
        refresh.contains("refused the user name or password"),
        "{refresh}"
    );
    let batch = [item(0, Namespace::Domain, "evil.example")];
    for round in 0..c.breaker_failures {
        let out = engine.lookup(&batch);
        assert_eq!(failed(&out), vec![0], "round {round}");
        assert_eq!(matched(&out), Vec::<u32>::new(), "round {round}");
    }
    let s = &engine.stats().servers[0];
    assert_eq!(s.breaker, BreakerState::Open, "{s:?}");
    assert_eq!(s.breaker_opened, 1);
    assert_eq!(s.errors, u64::from(c.breaker_failures));
    let last = s.last_error.clone().unwrap_or_default();
    assert!(
        last.contains(
            "memcached authentication failed: memcached refused the user name or password"
        ),
        "{last}"
    );
    // While open, the server is not asked: no connect, no login.
    let connects = s.connects;
    assert_eq!(failed(&engine.lookup(&batch)), vec![0]);
    let s = &engine.stats().servers[0];
    assert_eq!(s.connects, connects);
    assert!(s.breaker_rejected >= 1);
    let text = all_text(&engine, &c);
    assert!(!text.contains(wrong), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_login_for_a_server_that_asks_for_one_is_an_auth_failure() {
    let (server, dir) = auth_server("none");
    let servers = vec![server.addr()];
    let c = config(&servers);
    let engine = engine(&c);
    let refresh = engine.stats().ranges.last_error.unwrap_or_default();
    assert!(refresh.contains("asks for a login"), "{refresh}");
    for _ in 0..c.breaker_failures {
        assert_eq!(
            failed(&engine.lookup(&[item(0, Namespace::Ip, "10.0.0.1")])),
            vec![0]
        );
    }
    let s = &engine.stats().servers[0];
    // A refusal of every command is not a live server: the breaker opens.
    assert_eq!(s.breaker, BreakerState::Open, "{s:?}");
    let last = s.last_error.clone().unwrap_or_default();
    assert!(
        last.contains("asks for a login") && last.contains("-Y"),
        "{last}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_without_authentication_never_gets_the_password() {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    put(&servers, Namespace::Domain, "evil.example", "7#domain");
    let c = with_login(&servers, USER, PASSWORD);
    let engine = engine(&c);
    let out = engine.lookup(&[item(0, Namespace::Domain, "evil.example")]);
    assert_eq!(matched(&out), vec![0]);
    assert_eq!(engine.stats().servers[0].last_error, None);
    // Nothing but the indicator is stored: the login's `set` never went out.
    let mut c = Connection::connect(&servers[0], timeouts()).unwrap();
    let mut keys = Vec::new();
    c.metadump(|k| keys.push(k.key)).unwrap();
    assert_eq!(
        keys,
        vec![Keyspace::default().key(Namespace::Domain, "evil.example")]
    );
}

/// A server that asks every connection for a login, then answers the login
/// with an error that quotes what it received (the password included).
fn echoing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut lines = BufReader::new(stream).lines();
                let _version = lines.next();
                let _ = writer.write_all(b"CLIENT_ERROR unauthenticated\r\n");
                let _set = lines.next();
                if let Some(Ok(data)) = lines.next() {
                    let _ =
                        writer.write_all(format!("SERVER_ERROR bad login {data}\r\n").as_bytes());
                }
                lines.map_while(Result::ok).count()
            });
        }
    });
    addr
}

#[test]
fn a_server_that_echoes_the_password_does_not_get_it_into_stats() {
    let addr = echoing_server();
    let servers = vec![addr];
    let c = with_login(&servers, USER, PASSWORD);
    let engine = engine(&c);
    assert_eq!(
        failed(&engine.lookup(&[item(0, Namespace::Ip, "10.0.0.1")])),
        vec![0]
    );
    let s = &engine.stats().servers[0];
    let last = s.last_error.clone().unwrap_or_default();
    // The echo arrived (so the check below means something), scrubbed.
    assert!(last.contains("bad login misp ***"), "{last}");
    let refresh = engine.stats().ranges.last_error.unwrap_or_default();
    assert!(refresh.contains("bad login misp ***"), "{refresh}");
    let text = all_text(&engine, &c);
    assert!(!text.contains(PASSWORD), "{text}");
}
