//! `metadump` (key enumeration) and `delete_if_unchanged` (CAS-guarded
//! delete) against a real memcached, and metadump against fake servers.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use misp_enrich_memcached::{Connection, Error, Op, Reply, TestServer, Timeouts};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(300),
        io: Duration::from_millis(500),
    }
}

#[test]
fn metadump_lists_every_key_decoded_with_expiry() {
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), quick()).unwrap();
    let keys: Vec<String> = (0..3_000)
        .map(|i| format!("misp-url:http://e.example/%{i}?a=b&c"))
        .collect();
    let mut ops: Vec<Op> = keys
        .iter()
        .map(|k| Op::Set {
            key: k,
            value: b"1#url",
            exptime: 0,
        })
        .collect();
    ops.push(Op::Set {
        key: "expiring",
        value: b"x",
        exptime: 3600,
    });
    c.execute(&ops).unwrap();
    let mut seen = Vec::new();
    let mut expiring = None;
    let summary = c
        .metadump(|k| {
            if k.key == "expiring" {
                expiring = k.expires;
            } else {
                assert_eq!(k.expires, None, "{}", k.key);
            }
            seen.push(k.key);
        })
        .unwrap();
    assert_eq!(summary.listed, 3_001);
    assert_eq!(summary.unusable, 0);
    seen.retain(|k| k != "expiring");
    seen.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(seen, want);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = expiring.unwrap();
    assert!(exp > now + 3000 && exp <= now + 3700, "{exp} vs {now}");
    // The connection stays usable after a listing.
    assert!(c.get_multi(&[&keys[0]], false).unwrap()[0].is_some());
}

#[test]
fn metadump_reports_a_disabled_crawler() {
    let server = TestServer::start_with(&["-o", "no_lru_crawler"]);
    let mut c = Connection::connect(&server.addr(), quick()).unwrap();
    let r = c.metadump(|_| {});
    assert!(
        matches!(&r, Err(Error::Server(m)) if m.contains("disabled")),
        "{r:?}"
    );
}

/// A fake server that answers `stats` (a few items) and then the first
/// other request with `reply`.
fn fake_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    return;
                }
                if buf[..n].starts_with(b"stats") {
                    let _ = s.write_all(b"STAT curr_items 4\r\nEND\r\n");
                    continue;
                }
                let _ = s.write_all(reply);
                thread::sleep(Duration::from_secs(2));
                return;
            }
        }
    });
    addr
}

#[test]
fn metadump_skips_unusable_keys_and_refuses_garbage() {
    let addr = fake_server(
        b"key=ok%3Aa exp=-1 la=1 cas=1 fetch=no cls=1 size=1\n\
          key=has%20space exp=-1 la=1 cas=2 fetch=no cls=1 size=1\n\
          key=bad%zz exp=-1\n\
          key=%FF%FE exp=5\n\
          END\r\n",
    );
    let mut c = Connection::connect(&addr, quick()).unwrap();
    let mut keys = Vec::new();
    let s = c.metadump(|k| keys.push(k.key)).unwrap();
    assert_eq!(keys, vec!["ok:a".to_owned()]);
    assert_eq!((s.listed, s.unusable), (1, 3));

    let addr = fake_server(b"key=a exp=-1\nHELLO\n");
    let mut c = Connection::connect(&addr, quick()).unwrap();
    assert!(matches!(c.metadump(|_| {}), Err(Error::Protocol(_))));

    // A listing that stops mid-way is an error, never a short success.
    let addr = fake_server(b"key=a exp=-1\n");
    let mut c = Connection::connect(&addr, quick()).unwrap();
    assert!(c.metadump(|_| {}).is_err());
}

#[test]
fn delete_if_unchanged_keeps_values_changed_since_read() {
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), quick()).unwrap();
    c.execute(&[
        Op::Set {
            key: "a",
            value: b"1",
            exptime: 0,
        },
        Op::Set {
            key: "b",
            value: b"1",
            exptime: 0,
        },
    ])
    .unwrap();
    let read = c.get_multi(&["a", "b"], true).unwrap();
    let (cas_a, cas_b) = (read[0].as_ref().unwrap().cas, read[1].as_ref().unwrap().cas);
    // Someone else changes `b` after we read it.
    c.execute(&[Op::Set {
        key: "b",
        value: b"2",
        exptime: 0,
    }])
    .unwrap();
    let r = c
        .delete_if_unchanged(&[("a", cas_a), ("b", cas_b), ("gone", 1)])
        .unwrap();
    assert_eq!(r, vec![Reply::Deleted, Reply::Exists, Reply::NotFound]);
    let after = c.get_multi(&["a", "b"], false).unwrap();
    assert!(after[0].is_none());
    assert_eq!(after[1].as_ref().unwrap().value, b"2");
    assert!(matches!(
        c.delete_if_unchanged(&[("a b", 1)]),
        Err(Error::UnsafeKey(_))
    ));
}

#[test]
fn metadump_lists_keys_that_were_read() {
    // Reads move items between LRU segments; the listing still has them all.
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), quick()).unwrap();
    let keys: Vec<String> = (0..50_000).map(|i| format!("misp-ip:k{i}")).collect();
    let ops: Vec<Op> = keys
        .iter()
        .map(|k| Op::Set {
            key: k,
            value: b"1#ip-dst",
            exptime: 0,
        })
        .collect();
    c.execute(&ops).unwrap();
    for chunk in keys.chunks(3).step_by(2) {
        c.get_multi(chunk, true).unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    c.metadump(|k| {
        seen.insert(k.key);
    })
    .unwrap();
    assert_eq!(seen.len(), keys.len());
}

#[test]
fn metadump_falls_back_to_the_lru_walk_on_older_servers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        if let Ok((s, _)) = listener.accept() {
            let mut w = s.try_clone().unwrap();
            let mut r = std::io::BufReader::new(s);
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) > 0 {
                let reply: &[u8] = if line.starts_with("stats") {
                    b"STAT curr_items 1\r\nEND\r\n"
                } else if line.contains("metadump hash") {
                    b"CLIENT_ERROR bad class id\r\n"
                } else {
                    b"key=old%3Akey exp=-1 la=1 cas=1 fetch=no cls=1 size=1\nEND\r\n"
                };
                w.write_all(reply).unwrap();
                line.clear();
            }
        }
    });
    let mut c = Connection::connect(&addr, quick()).unwrap();
    let mut keys = Vec::new();
    c.metadump(|k| keys.push(k.key)).unwrap();
    assert_eq!(keys, vec!["old:key".to_owned()]);
}
