//! Regression (issue 7): a server that sends more than it was asked for.
//!
//! A reply followed by bytes nobody asked for (an extra `END`, a `VALUE` for
//! another key) used to leave those bytes in the connection's buffer; the
//! next multi-get on the pooled connection then read them as its own answer:
//! an indicator silently missed (`END` read as "no hits"), or a value
//! reported for a key that is not an indicator. Found by the plugin's
//! garbage-reply specs (spec/reliability/garbage_replies_spec.rb). Now the
//! call that leaves bytes behind fails, and the connection is not reused.
//! The same holds for pipelined writes (`execute`, one check per batch),
//! guarded deletes, the login of `authenticate`, `version` and `stats`.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use misp_enrich_memcached::{Connection, Error, Op, Reply, Timeouts};

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

/// A fake server following a script: for each step, it reads that many
/// request lines, then sends the reply (one write). After the script it
/// answers nothing more and keeps the connection open until the client
/// closes it. Returns the address and a handle that yields the lines read.
fn scripted(script: Vec<(usize, Vec<u8>)>) -> (String, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines();
        let mut read = Vec::new();
        for (count, reply) in script {
            for _ in 0..count {
                match lines.next() {
                    Some(Ok(line)) => read.push(line),
                    _ => return read,
                }
            }
            if writer.write_all(&reply).is_err() {
                return read;
            }
        }
        // Drain until the client hangs up, so nothing it sends is refused.
        for line in lines.map_while(Result::ok) {
            read.push(line);
        }
        read
    });
    (addr, handle)
}

fn deletes(keys: &[String]) -> Vec<Op<'_>> {
    keys.iter().map(|key| Op::Delete { key }).collect()
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

fn assert_left_over(result: Result<impl std::fmt::Debug, Error>, extra: &str) {
    match result {
        Err(Error::Protocol(m)) => {
            assert!(m.contains("bytes after the last answer"), "{m}");
            assert!(m.contains(extra), "{m} should show {extra:?}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn an_extra_line_after_the_replies_of_a_write_fails_the_call() {
    // Two deletes answered, then a third line nobody asked for.
    let (addr, server) = scripted(vec![(2, b"DELETED\r\nNOT_FOUND\r\nSTORED\r\n".to_vec())]);
    let mut c = connect(&addr);
    let keys = vec!["k1".to_owned(), "k2".to_owned()];
    assert_left_over(c.execute(&deletes(&keys)), "STORED");
    drop(c);
    assert_eq!(server.join().unwrap(), vec!["delete k1", "delete k2"]);
}

#[test]
fn an_exact_reply_to_a_write_leaves_the_connection_usable() {
    let (addr, server) = scripted(vec![
        (2, b"DELETED\r\nNOT_FOUND\r\n".to_vec()),
        (1, b"DELETED\r\n".to_vec()),
    ]);
    let mut c = connect(&addr);
    let keys = vec!["k1".to_owned(), "k2".to_owned()];
    assert_eq!(
        c.execute(&deletes(&keys)).unwrap(),
        vec![Reply::Deleted, Reply::NotFound]
    );
    assert_eq!(
        c.execute(&deletes(&keys[..1])).unwrap(),
        vec![Reply::Deleted]
    );
    drop(c);
    assert_eq!(server.join().unwrap().len(), 3);
}

#[test]
fn bytes_left_after_a_full_batch_stop_a_long_write_before_its_next_batch() {
    // `execute` pipelines at most 512 commands per batch: the first batch is
    // answered with one line too many, so the second batch is never sent.
    let keys: Vec<String> = (0..600).map(|i| format!("k{i}")).collect();
    let mut first = b"DELETED\r\n".repeat(512);
    first.extend_from_slice(b"END\r\n");
    let (addr, server) = scripted(vec![(512, first)]);
    let mut c = connect(&addr);
    assert_left_over(c.execute(&deletes(&keys)), "END");
    drop(c);
    let read = server.join().unwrap();
    assert_eq!(read.len(), 512, "the second batch was sent");
    assert_eq!(read.last().map(String::as_str), Some("delete k511"));
}

#[test]
fn an_extra_line_after_guarded_deletes_fails_the_call() {
    let (addr, server) = scripted(vec![(1, b"HD\r\nHD\r\n".to_vec())]);
    let mut c = connect(&addr);
    assert_left_over(c.delete_if_unchanged(&[("k1", 7)]), "HD");
    drop(c);
    assert_eq!(server.join().unwrap(), vec!["md k1 C7"]);
}

#[test]
fn an_extra_line_after_a_login_fails_it() {
    // memcached -Y refuses `version` before the login, then accepts it; an
    // extra `END` would otherwise be read as the answer of the first get.
    let (addr, server) = scripted(vec![
        (1, b"CLIENT_ERROR unauthenticated\r\n".to_vec()),
        (2, b"STORED\r\nEND\r\n".to_vec()),
    ]);
    let mut c = connect(&addr);
    assert_left_over(c.authenticate("misp", "pw"), "END");
    drop(c);
    assert_eq!(server.join().unwrap()[0], "version");
}

#[test]
fn an_extra_line_after_the_version_of_a_server_without_auth_fails_the_login() {
    let (addr, _server) = scripted(vec![(1, b"VERSION 1.6.21\r\nEND\r\n".to_vec())]);
    let mut c = connect(&addr);
    assert_left_over(c.authenticate("misp", "pw"), "END");
}

#[test]
fn an_extra_line_after_a_version_fails_the_call() {
    let addr = server(b"VERSION 1.6.18\r\nEND\r\n");
    assert_left_over(connect(&addr).version(), "END");
}

#[test]
fn an_extra_line_after_stats_fails_the_call() {
    let addr = server(b"STAT pid 1\r\nEND\r\nEND\r\n");
    assert_left_over(connect(&addr).stats(), "END");
}

#[test]
fn an_exact_version_and_stats_leave_the_connection_usable() {
    let (addr, _lines) = scripted(vec![
        (1, b"VERSION 1.6.18\r\n".to_vec()),
        (1, b"STAT pid 1\r\nSTAT uptime 5\r\nEND\r\n".to_vec()),
    ]);
    let mut conn = connect(&addr);
    assert_eq!(conn.version().unwrap(), "1.6.18");
    assert_eq!(conn.stats().unwrap().len(), 2);
}
