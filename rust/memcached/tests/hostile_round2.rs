//! Issue 14, the memcached client's part: what one call may cost against a
//! hostile or merely unusual server. A reply of many large values is cut at
//! [`MAX_REPLY_BYTES`] per call; a key listing is bounded as a whole, not
//! only line by line; a value over the server's item limit is one refused
//! command, not a failed batch. Each test writes its row of
//! docs/RELIABILITY.md (target/reliability/issue14-memcached-*.tsv).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use misp_enrich_core::record;
use misp_enrich_memcached::{
    Connection, Error, Op, Reply, TestServer, Timeouts, LISTING_SLACK_KEYS, MAX_REPLY_BYTES,
    MAX_VALUE_BYTES,
};

const SECTION: &str = "Hostile input, round 2 (issue 14)";

const MB: f64 = 1024.0 * 1024.0;

/// A server that answers every request line with `answer(line, writer)`
/// on each connection; returns its address.
fn hostile_server(
    answer: impl Fn(&str, &mut std::net::TcpStream) -> std::io::Result<()> + Send + Sync + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let answer = Arc::new(answer);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let answer = Arc::clone(&answer);
            thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    if answer(line.trim_end(), &mut w).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

#[test]
fn a_reply_of_many_large_values_is_cut_at_the_per_call_limit() {
    // 200 keys, each answered with a 16 MiB value (the most one value may
    // be): 3.2 GB if the client read on until its io timeout.
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let block = Arc::new(vec![b'x'; MAX_VALUE_BYTES]);
    let addr = hostile_server(move |line, w| {
        let keys: Vec<&str> = line.split(' ').skip(1).collect();
        for k in keys {
            w.write_all(format!("VALUE {k} 0 {MAX_VALUE_BYTES}\r\n").as_bytes())?;
            w.write_all(&block)?;
            w.write_all(b"\r\n")?;
            counter.fetch_add(MAX_VALUE_BYTES as u64, Ordering::Relaxed);
        }
        w.write_all(b"END\r\n")
    });
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        io: Duration::from_secs(20),
    };
    let mut c = Connection::connect(&addr, timeouts).unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("misp-ip:10.0.0.{i}")).collect();
    let started = Instant::now();
    let r = c.get_multi(&keys, false);
    let took = started.elapsed();
    // The server's writes that got through before the client hung up: what
    // the client read plus the sockets' buffers.
    thread::sleep(Duration::from_millis(300));
    let written = sent.load(Ordering::Relaxed) as f64 / MB;
    let refused = matches!(&r, Err(Error::Protocol(m)) if m.contains("reply of more than"));
    record::row(
        "issue14-memcached-reply-bytes",
        SECTION,
        "memcached client: a server answering a multi-get of 200 keys with 16 MiB values (3.2 GB) (suspected case)",
        "the call fails with a protocol error once the values announced pass MAX_REPLY_BYTES (64 MiB per call), before reading them; well before the 20 s io timeout",
        &format!(
            "{}: refused after {took:.2?}; the server got {written:.0} MB written before the client hung up (values of 16 MiB: the limit is checked before each is read)",
            if refused { "pass" } else { "FAIL" }
        ),
    );
    assert!(refused, "{r:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    // Nothing past the limit was read: the writer got at most the limit, one
    // more value being written and the socket buffers through.
    assert!(
        written <= (MAX_REPLY_BYTES + 3 * MAX_VALUE_BYTES) as f64 / MB,
        "{written} MB"
    );

    // A real memcached: the limit applies to what it holds, and a lower one
    // can be set; below the limit nothing changes.
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), timeouts).unwrap();
    let value = vec![b'v'; 900 * 1024];
    let keys: Vec<String> = (0..5).map(|i| format!("big{i}")).collect();
    let ops: Vec<Op> = keys
        .iter()
        .map(|k| Op::Set {
            key: k,
            value: &value,
            exptime: 0,
        })
        .collect();
    assert!(c.execute(&ops).unwrap().iter().all(|r| *r == Reply::Stored));
    assert!(c
        .get_multi(&keys, false)
        .unwrap()
        .iter()
        .all(Option::is_some));
    c.set_reply_limit(3 * 1024 * 1024);
    assert!(matches!(
        c.get_multi(&keys, false),
        Err(Error::Protocol(m)) if m.contains("reply of more than")
    ));
}

/// A server whose `stats` says it holds `items` and that answers
/// `lru_crawler metadump` with keys, one every `every` (forever).
fn listing_server(items: u64, every: Duration) -> String {
    hostile_server(move |line, w| {
        if line == "stats" {
            return w
                .write_all(format!("STAT pid 1\r\nSTAT curr_items {items}\r\nEND\r\n").as_bytes());
        }
        if line.starts_with("lru_crawler metadump") {
            let mut n = 0u64;
            loop {
                let mut chunk = String::new();
                for _ in 0..if every.is_zero() { 1000 } else { 1 } {
                    chunk.push_str(&format!(
                        "key=misp-ip%3A{n} exp=-1 la=1 cas=1 fetch=no cls=1 size=9\n"
                    ));
                    n += 1;
                }
                w.write_all(chunk.as_bytes())?;
                if !every.is_zero() {
                    thread::sleep(every);
                }
            }
        }
        w.write_all(b"ERROR\r\n")
    })
}

#[test]
fn a_key_listing_is_bounded_as_a_whole() {
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        io: Duration::from_millis(500),
    };
    // Dribbled: a key every 20 ms, each line well within the io timeout.
    let addr = listing_server(100, Duration::from_millis(20));
    let mut c = Connection::connect(&addr, timeouts).unwrap();
    let started = Instant::now();
    let mut listed = 0u64;
    let r = c.metadump(|_| listed += 1);
    let slow_took = started.elapsed();
    let slow_ok = matches!(r, Err(Error::Timeout));
    // Flooded: keys as fast as the socket takes them.
    let addr = listing_server(100, Duration::ZERO);
    let mut c = Connection::connect(&addr, timeouts).unwrap();
    let started = Instant::now();
    let mut flooded = 0u64;
    let r = c.metadump(|_| flooded += 1);
    let fast_took = started.elapsed();
    let fast_ok = matches!(&r, Err(Error::Protocol(m)) if m.contains("went past"));
    let max_keys = 2 * 100 + LISTING_SLACK_KEYS;
    record::row(
        "issue14-memcached-listing",
        SECTION,
        "memcached client: `lru_crawler metadump` answered by a server holding 100 items with an endless listing, dribbled (a key every 20 ms) or flooded (suspected case)",
        "the whole listing is bounded: io timeout (0.5 s) + 100 µs per item held, and at most 2 × items + 10,000 keys; each line was already bounded by the io timeout",
        &format!(
            "{}: dribbled: timed out after {slow_took:.2?} with {listed} keys listed; flooded: refused after {flooded} keys in {fast_took:.2?} (bound {max_keys})",
            if slow_ok && fast_ok { "pass" } else { "FAIL" }
        ),
    );
    assert!(slow_ok, "dribbled listing ended with {:?}", slow_took);
    assert!(slow_took < Duration::from_secs(5), "{slow_took:?}");
    assert!(fast_ok, "{r:?}");
    assert!(flooded <= max_keys + 1, "{flooded}");
    assert!(fast_took < Duration::from_secs(5), "{fast_took:?}");
}

#[test]
fn a_value_over_the_item_limit_is_one_refused_command() {
    let server = TestServer::start();
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        io: Duration::from_secs(5),
    };
    let mut c = Connection::connect(&server.addr(), timeouts).unwrap();
    let big = vec![b'1'; 1024 * 1024 + 10];
    let replies = c
        .execute(&[
            Op::Set {
                key: "before",
                value: b"1#ip-dst",
                exptime: 0,
            },
            Op::Add {
                key: "huge",
                value: &big,
                exptime: 0,
            },
            Op::Cas {
                key: "before",
                value: &big,
                exptime: 0,
                cas: 1,
            },
            Op::Set {
                key: "after",
                value: b"2#ip-dst",
                exptime: 0,
            },
        ])
        .unwrap();
    let ok = replies
        == [
            Reply::Stored,
            Reply::TooLarge,
            Reply::TooLarge,
            Reply::Stored,
        ];
    let after = c.get_multi(&["before", "huge", "after"], false).unwrap();
    let held = after[0].is_some() && after[1].is_none() && after[2].is_some();
    record::row(
        "issue14-memcached-too-large",
        SECTION,
        "memcached client: an `add` and a `cas` of 1 MiB + 10 bytes (over memcached's default item limit) between two small writes, in one pipelined batch",
        "the big ones answer Reply::TooLarge (memcached swallows their data), the others are stored, the connection stays usable; before, SERVER_ERROR failed the whole batch",
        &format!(
            "{}: replies {replies:?}",
            if ok && held { "pass" } else { "FAIL" }
        ),
    );
    assert!(ok, "{replies:?}");
    assert!(held);
}
