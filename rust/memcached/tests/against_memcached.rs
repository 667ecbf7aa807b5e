//! The client against a real memcached, and against a fake server that sends
//! garbage or nothing at all.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use misp_enrich_memcached::{Connection, Error, Op, Pool, Reply, TestServer, Timeouts};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(300),
        io: Duration::from_millis(300),
    }
}

#[test]
fn set_get_cas_delete_incr() {
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), quick()).unwrap();
    let value = b"1#domain,2#domain\r\nflush_all\r\n".as_slice();
    let r = c
        .execute(&[
            Op::Set {
                key: "misp-domain:a.example",
                value,
                exptime: 0,
            },
            Op::Add {
                key: "misp-domain:a.example",
                value: b"x",
                exptime: 0,
            },
            Op::Set {
                key: "misp-stats",
                value: b"0",
                exptime: 0,
            },
            Op::Incr {
                key: "misp-stats",
                by: 5,
            },
            Op::Decr {
                key: "misp-stats",
                by: 2,
            },
            Op::Delete {
                key: "misp-domain:missing",
            },
        ])
        .unwrap();
    assert_eq!(
        r,
        vec![
            Reply::Stored,
            Reply::NotStored,
            Reply::Stored,
            Reply::Number(5),
            Reply::Number(3),
            Reply::NotFound
        ]
    );
    // A value holding CRLF and a command is data, not a command.
    let got = c
        .get_multi(
            &["misp-domain:a.example", "misp-domain:nope", "misp-stats"],
            true,
        )
        .unwrap();
    assert_eq!(got[0].as_ref().map(|i| i.value.as_slice()), Some(value));
    assert!(got[1].is_none());
    assert_eq!(
        got[2].as_ref().map(|i| i.value.as_slice()),
        Some(b"3".as_slice())
    );
    let cas = got[0].as_ref().unwrap().cas;
    assert!(cas > 0);
    let r = c
        .execute(&[
            Op::Cas {
                key: "misp-domain:a.example",
                value: b"new",
                exptime: 0,
                cas,
            },
            Op::Cas {
                key: "misp-domain:a.example",
                value: b"lost",
                exptime: 0,
                cas,
            },
            Op::Delete {
                key: "misp-domain:a.example",
            },
        ])
        .unwrap();
    assert_eq!(r, vec![Reply::Stored, Reply::Exists, Reply::Deleted]);
    assert!(c
        .version()
        .unwrap()
        .chars()
        .next()
        .unwrap()
        .is_ascii_digit());
    assert!(c.stats().unwrap().iter().any(|(k, _)| k == "curr_items"));
}

#[test]
fn many_keys_in_one_multi_get_and_big_pipelines() {
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), quick()).unwrap();
    let keys: Vec<String> = (0..5_000)
        .map(|i| format!("misp-ip:10.0.{}.{}", i / 256, i % 256))
        .collect();
    let values: Vec<String> = (0..5_000).map(|i| format!("{i}#ip-dst")).collect();
    let ops: Vec<Op> = keys
        .iter()
        .zip(&values)
        .filter(|(k, _)| !k.ends_with('7'))
        .map(|(k, v)| Op::Set {
            key: k,
            value: v.as_bytes(),
            exptime: 0,
        })
        .collect();
    assert!(c.execute(&ops).unwrap().iter().all(|r| *r == Reply::Stored));
    let got = c.get_multi(&keys, false).unwrap();
    for (i, (k, item)) in keys.iter().zip(&got).enumerate() {
        if k.ends_with('7') {
            assert!(item.is_none(), "{k}");
        } else {
            assert_eq!(item.as_ref().unwrap().value, values[i].as_bytes(), "{k}");
        }
    }
}

#[test]
fn unsafe_keys_never_reach_the_wire() {
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), quick()).unwrap();
    c.execute(&[Op::Set {
        key: "canary",
        value: b"1",
        exptime: 0,
    }])
    .unwrap();
    for key in ["a\r\nflush_all", "a b", "", &"k".repeat(251), "ключ"] {
        assert!(
            matches!(c.get_multi(&[key], false), Err(Error::UnsafeKey(_))),
            "{key:?}"
        );
        let op = Op::Set {
            key,
            value: b"x",
            exptime: 0,
        };
        assert!(matches!(c.execute(&[op]), Err(Error::UnsafeKey(_))));
    }
    assert!(c.get_multi(&["canary"], false).unwrap()[0].is_some());
}

#[test]
fn dead_server_fails_fast_and_pool_recovers_after_restart() {
    let mut server = TestServer::start();
    let pool = Pool::new(&server.addr(), quick(), 4);
    let set = |c: &mut Connection| {
        c.execute(&[Op::Set {
            key: "k",
            value: b"v",
            exptime: 0,
        }])
    };
    pool.with(set).unwrap();
    server.stop();
    let t = Instant::now();
    assert!(pool.with(|c| c.get_multi(&["k"], false)).is_err());
    assert!(t.elapsed() < Duration::from_secs(2));
    server.restart();
    // The idle connection is dead; the pool replaces it by itself.
    assert_eq!(
        pool.with(|c| c.get_multi(&["k"], false)).unwrap(),
        vec![None]
    );
    pool.with(set).unwrap();
}

/// A fake server: accepts one connection, reads a request, answers `reply`
/// (or stays silent when `None`).
fn fake_server(reply: Option<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            if let Some(r) = reply {
                let _ = s.write_all(&r);
            }
            thread::sleep(Duration::from_secs(2));
        }
    });
    addr
}

#[test]
fn silent_server_times_out_within_the_deadline() {
    let addr = fake_server(None);
    let mut c = Connection::connect(&addr, quick()).unwrap();
    let t = Instant::now();
    assert!(matches!(c.get_multi(&["k"], false), Err(Error::Timeout)));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
}

#[test]
fn set_deadline_shortens_the_next_call_only() {
    let addr = fake_server(None);
    let slow = Timeouts {
        connect: Duration::from_millis(300),
        io: Duration::from_secs(5),
    };
    let mut c = Connection::connect(&addr, slow).unwrap();
    c.set_deadline(Instant::now() + Duration::from_millis(200));
    let t = Instant::now();
    assert!(matches!(c.get_multi(&["k"], false), Err(Error::Timeout)));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn garbage_replies_are_protocol_errors() {
    let cases: Vec<&[u8]> = vec![
        b"HELLO\r\n",
        b"VALUE other 0 1\r\nx\r\nEND\r\n",
        b"VALUE k 0 99999999999\r\n",
        b"VALUE k 0 3\r\nabcdEND\r\n",
        b"VALUE k x 1\r\nx\r\nEND\r\n",
        b"\xff\xfe\r\n",
    ];
    for reply in cases {
        let addr = fake_server(Some(reply.to_vec()));
        let mut c = Connection::connect(&addr, quick()).unwrap();
        let r = c.get_multi(&["k"], false);
        assert!(
            matches!(r, Err(Error::Protocol(_))),
            "{:?}: {r:?}",
            String::from_utf8_lossy(reply)
        );
    }
    // An endless line is cut off, not buffered without bound.
    let addr = fake_server(Some(vec![b'A'; 100_000]));
    let mut c = Connection::connect(&addr, quick()).unwrap();
    assert!(matches!(
        c.get_multi(&["k"], false),
        Err(Error::Protocol(_))
    ));
    // SERVER_ERROR is a refusal.
    let addr = fake_server(Some(b"SERVER_ERROR out of memory\r\n".to_vec()));
    let mut c = Connection::connect(&addr, quick()).unwrap();
    assert!(matches!(c.get_multi(&["k"], false), Err(Error::Server(_))));
}

#[test]
fn connect_to_closed_port_is_a_connect_error() {
    let port = misp_enrich_memcached::free_port();
    let r = Connection::connect(&format!("127.0.0.1:{port}"), quick());
    assert!(matches!(r, Err(Error::Connect { .. })));
}
