//! Regression (issue 7): a server that sends more than it was asked for.
//!
//! A reply followed by bytes nobody asked for (an extra `END`, a `VALUE` for
//! another key) used to leave those bytes in the connection's buffer; the
//! next multi-get on the pooled connection then read them as its own answer:
//! an indicator silently missed (`END` read as "no hits"), or a value
//! reported for a key that is not an indicator. Found by the plugin's
//! garbage-reply specs (spec/reliability/garbage_replies_spec.rb). Now the
//! call that leaves bytes behind fails, and the connection is not reused.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use misp_enrich_memcached::{Connection, Error, Timeouts};

/// A fake server answering the first request with `first` (one write), and
/// any later one with `END` per `get` line.
fn server(first: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines();
        let mut first = Some(first);
        while let Some(Ok(_line)) = lines.next() {
            let reply = first.take().unwrap_or(b"END\r\n");
            if writer.write_all(reply).is_err() {
                return;
            }
        }
    });
    addr
}

fn connect(addr: &str) -> Connection {
    let t = Timeouts {
        connect: Duration::from_millis(500),
        io: Duration::from_millis(500),
    };
    Connection::connect(addr, t).unwrap()
}

#[test]
fn an_extra_end_after_a_reply_fails_the_call() {
    let addr = server(b"VALUE k1 0 3\r\n1#a\r\nEND\r\nEND\r\n");
    let mut c = connect(&addr);
    match c.get_multi(&["k1"], false) {
        Err(Error::Protocol(m)) => assert!(m.contains("after the last answer"), "{m}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn a_value_nobody_asked_for_after_a_reply_fails_the_call() {
    let addr = server(b"END\r\nVALUE k2 0 3\r\n9#x\r\nEND\r\n");
    let mut c = connect(&addr);
    assert!(matches!(
        c.get_multi(&["k1"], false),
        Err(Error::Protocol(_))
    ));
}

#[test]
fn an_exact_reply_leaves_the_connection_usable() {
    let addr = server(b"VALUE k1 0 3\r\n1#a\r\nEND\r\n");
    let mut c = connect(&addr);
    let got = c.get_multi(&["k1", "k2"], false).unwrap();
    assert_eq!(
        got[0].as_ref().map(|i| i.value.clone()),
        Some(b"1#a".to_vec())
    );
    assert!(got[1].is_none());
    assert_eq!(c.get_multi(&["k2"], false).unwrap(), vec![None]);
}
