//! The real latency-proxy binary in front of a real TCP echo server (and a
//! real memcached when installed): bytes, delay, pipelining and closing.
//! Timing checks are lower bounds, or ratios far from the expected values;
//! never tight upper bounds.

#![allow(clippy::unwrap_used)]

mod common;

use common::{echo_server, read_until, Proxy};
use std::io::{Read as _, Write as _};
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// A small deterministic generator for test data (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn bytes_are_preserved_in_both_directions() {
    let (upstream, _closed) = echo_server();
    let proxy = Proxy::start(&upstream, 200);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let data: Vec<u8> = (0..1_000_000).map(|_| rng.next() as u8).collect();

    let mut client = proxy.connect();
    let mut writer = client.try_clone().unwrap();
    let sent = data.clone();
    let write = std::thread::spawn(move || {
        let mut rng = Rng(42);
        let mut rest = &sent[..];
        let mut writes = 0;
        while !rest.is_empty() {
            let n = (1 + rng.next() as usize % 8192).min(rest.len());
            writer.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
            writes += 1;
        }
        // End of stream: the proxy passes it on, the echo server closes,
        // and that close comes back to us as the end of the echo.
        writer.shutdown(Shutdown::Write).unwrap();
        writes
    });
    let mut echoed = Vec::new();
    client.read_to_end(&mut echoed).unwrap();
    let writes = write.join().unwrap();
    assert!(writes > 100, "only {writes} writes");
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "echoed bytes differ");
}

#[test]
fn a_round_trip_takes_at_least_twice_the_delay() {
    let (upstream, _closed) = echo_server();
    let proxy = Proxy::start(&upstream, 2000);
    let mut client = proxy.connect();
    for _ in 0..3 {
        let start = Instant::now();
        client.write_all(b"ping\r\n").unwrap();
        assert_eq!(read_until(&mut client, b"\r\n"), b"ping\r\n");
        let rtt = start.elapsed();
        assert!(rtt >= Duration::from_millis(4), "round trip {rtt:?}");
    }
}

#[test]
fn pipelined_requests_are_not_serialised() {
    const REQUESTS: u32 = 50;
    const DELAY: Duration = Duration::from_millis(5);
    let (upstream, _closed) = echo_server();
    let proxy = Proxy::start(&upstream, DELAY.as_micros() as u64);
    let mut client = proxy.connect();
    let mut writer = client.try_clone().unwrap();
    let start = Instant::now();
    let write = std::thread::spawn(move || {
        for i in 0..REQUESTS {
            writer
                .write_all(format!("req {i:04}\r\n").as_bytes())
                .unwrap();
            // Separate chunks for the proxy, as independent requests would be.
            std::thread::sleep(Duration::from_micros(100));
        }
        start.elapsed()
    });
    for i in 0..REQUESTS {
        let reply = read_until(&mut client, b"\r\n");
        assert_eq!(reply, format!("req {i:04}\r\n").as_bytes());
    }
    let elapsed = start.elapsed();
    let writing = write.join().unwrap();
    assert!(elapsed >= DELAY * 2, "{elapsed:?}");
    // A proxy that delayed chunk after chunk in series would take at least
    // REQUESTS × DELAY (one direction alone), whatever the machine; a
    // pipelining one takes the time the client spent writing (measured, so
    // a loaded machine's late sleeps count for it) plus one round trip.
    let serial = DELAY * REQUESTS;
    assert!(
        elapsed < writing + serial / 2,
        "{REQUESTS} pipelined requests took {elapsed:?} (writing them {writing:?}); serialised would be at least {serial:?}"
    );
}

#[test]
fn closing_the_client_closes_the_upstream_connection() {
    let (upstream, closed) = echo_server();
    let proxy = Proxy::start(&upstream, 500);
    let mut client = proxy.connect();
    client.write_all(b"hello\n").unwrap();
    assert_eq!(read_until(&mut client, b"\n"), b"hello\n");
    assert!(closed.try_recv().is_err(), "upstream closed too early");
    drop(client);
    closed
        .recv_timeout(Duration::from_secs(20))
        .expect("the upstream connection was not closed");
}

#[test]
fn memcached_set_and_get_through_the_proxy() {
    let installed = std::process::Command::new("which")
        .arg("memcached")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("memcached is not installed: skipped");
        return;
    }
    let memcached = misp_enrich_memcached::TestServer::start();
    let proxy = Proxy::start(&memcached.addr(), 500);
    let mut client = proxy.connect();
    client
        .write_all(b"set misp-ip:192.0.2.7 0 0 5\r\nhello\r\n")
        .unwrap();
    assert_eq!(read_until(&mut client, b"\r\n"), b"STORED\r\n");
    client.write_all(b"get misp-ip:192.0.2.7\r\n").unwrap();
    assert_eq!(
        read_until(&mut client, b"END\r\n"),
        b"VALUE misp-ip:192.0.2.7 0 5\r\nhello\r\nEND\r\n"
    );
}
