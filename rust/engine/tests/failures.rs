//! Failures: a memcached killed mid-run and restarted, a server that accepts
//! and never answers, one dead server of three, and eight threads sharing
//! one engine. Upper bounds on time are asserted only where the engine
//! promises one (the batch budget), with generous margins.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use common::*;
use misp_enrich_core::Namespace;
use misp_enrich_engine::BreakerState;

/// Slack for a loaded 2-core machine on top of the configured budget.
const MARGIN: Duration = Duration::from_millis(1_500);

#[test]
fn a_killed_server_fails_slots_fast_opens_the_breaker_and_lookups_resume() {
    let mut server = TestServer::start();
    let servers = vec![server.addr()];
    put(&servers, Namespace::Domain, "cached.example", "1#domain");
    let mut c = config(&servers);
    c.breaker_backoff_ms = 500;
    let engine = engine(&c);
    let budget = Duration::from_millis(c.connect_timeout_ms + 2 * c.io_timeout_ms);
    // Warm the cache with one answer.
    assert_eq!(
        matched(&engine.lookup(&[item(0, Namespace::Domain, "cached.example")])),
        vec![0]
    );

    server.stop();
    let batch = [
        item(0, Namespace::Domain, "cached.example"),
        item(1, Namespace::Domain, "unknown.example"),
        item(2, Namespace::Ip, "10.0.0.1"),
    ];
    for round in 0..4 {
        let t = Instant::now();
        let out = engine.lookup(&batch);
        assert!(
            t.elapsed() < budget + MARGIN,
            "round {round} took {:?}",
            t.elapsed()
        );
        // The cached answer is still served; the others could not be looked up.
        assert_eq!(matched(&out), vec![0], "round {round}");
        assert_eq!(failed(&out), vec![1, 2], "round {round}");
    }
    let stats = engine.stats();
    assert_eq!(stats.servers[0].breaker, BreakerState::Open);
    assert!(stats.servers[0].breaker_opened >= 1);
    assert!(
        stats.servers[0].breaker_rejected >= 1,
        "the open breaker refused calls"
    );
    assert!(stats.totals.failed_slots >= 8);

    server.restart();
    put(&servers, Namespace::Domain, "unknown.example", "2#domain");
    // After the backoff one probe goes through and lookups resume by themselves.
    let start = Instant::now();
    loop {
        let out = engine.lookup(&batch);
        if failed(&out).is_empty() {
            assert_eq!(matched(&out), vec![0, 1]);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "lookups never resumed"
        );
        sleep(Duration::from_millis(50));
    }
    assert_eq!(engine.stats().servers[0].breaker, BreakerState::Closed);
}

#[test]
fn a_server_that_never_answers_costs_at_most_the_batch_budget() {
    let (_listener, addr) = blackhole();
    let mut c = config(&[addr]);
    c.connect_timeout_ms = 200;
    c.io_timeout_ms = 300;
    c.batch_timeout_ms = Some(500);
    c.breaker_failures = 100;
    let engine = engine(&c);
    for i in 0..3 {
        let value = format!("host{i}.example");
        let t = Instant::now();
        let out = engine.lookup(&[item(7, Namespace::Domain, &value)]);
        let took = t.elapsed();
        assert!(took < Duration::from_millis(500) + MARGIN, "took {took:?}");
        assert!(
            took >= Duration::from_millis(250),
            "a real timeout happened ({took:?})"
        );
        assert_eq!(failed(&out), vec![7]);
    }
    let s = &engine.stats().servers[0];
    assert!(s.timeouts >= 3, "{s:?}");
}

#[test]
fn a_blackholed_server_of_three_does_not_slow_the_others_down() {
    let live: Vec<TestServer> = (0..2).map(|_| TestServer::start()).collect();
    let (_listener, dead) = blackhole();
    let servers = vec![live[0].addr(), dead, live[1].addr()];
    let values: Vec<String> = (0..90).map(|i| format!("h{i}.example")).collect();
    for v in &values {
        put_if_live(&servers, v);
    }
    let mut c = config(&servers);
    c.batch_timeout_ms = Some(1_000);
    let engine = engine(&c);
    let batch: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| item(i as u32, Namespace::Domain, v))
        .collect();
    let t = Instant::now();
    let out = engine.lookup(&batch);
    assert!(
        t.elapsed() < Duration::from_millis(1_000) + MARGIN,
        "{:?}",
        t.elapsed()
    );
    let ring = misp_enrich_core::ServerRing::new(&servers).unwrap();
    let key = |v: &str| misp_enrich_core::Keyspace::default().key(Namespace::Domain, v);
    let on_dead: Vec<u32> = (0..90u32)
        .filter(|&i| ring.server_for(key(&values[i as usize]).as_bytes()) == 1)
        .collect();
    let on_live: Vec<u32> = (0..90u32).filter(|i| !on_dead.contains(i)).collect();
    assert!(!on_dead.is_empty() && !on_live.is_empty());
    assert_eq!(failed(&out), on_dead);
    assert_eq!(matched(&out), on_live);
}

/// Writes `v` unless its key lives on the blackholed server (index 1).
fn put_if_live(servers: &[String], v: &str) {
    let ring = misp_enrich_core::ServerRing::new(servers).unwrap();
    let key = misp_enrich_core::Keyspace::default().key(Namespace::Domain, v);
    if ring.server_for(key.as_bytes()) != 1 {
        put(servers, Namespace::Domain, v, "1#domain");
    }
}

#[test]
fn eight_threads_share_one_engine() {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    for i in (0..400).step_by(4) {
        put(
            &servers,
            Namespace::Ip,
            &format!("10.0.{}.{}", i / 256, i % 256),
            &format!("{i}#ip-dst"),
        );
    }
    let mut c = config(&servers);
    c.cache_size = 150; // small: keeps evicting, so memcached stays busy
    let engine = Arc::new(engine(&c));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let engine = Arc::clone(&engine);
            thread::spawn(move || {
                for round in 0..40 {
                    let ips: Vec<String> = (0..100)
                        .map(|k| {
                            let i = (k * 4 + t + round * 7) % 400;
                            format!("10.0.{}.{}", i / 256, i % 256)
                        })
                        .collect();
                    let batch: Vec<_> = ips
                        .iter()
                        .enumerate()
                        .map(|(s, ip)| item(s as u32, Namespace::Ip, ip))
                        .collect();
                    let out = engine.lookup(&batch);
                    assert!(failed(&out).is_empty());
                    for (s, ip) in ips.iter().enumerate() {
                        let last: usize = ip.rsplit('.').next().unwrap().parse().unwrap();
                        let third: usize = ip.split('.').nth(2).unwrap().parse().unwrap();
                        let i = third * 256 + last;
                        let m = matches(&out, s as u32);
                        match i % 4 {
                            0 => {
                                assert_eq!(m.len(), 1, "{ip}");
                                assert_eq!(m[0].3, format!("{i}#ip-dst"));
                            }
                            _ => assert!(m.is_empty(), "{ip}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let t = engine.stats().totals;
    assert_eq!(t.batches, 8 * 40);
    assert_eq!(t.items, 8 * 40 * 100);
    assert_eq!(t.matched_slots, 8 * 40 * 25);
    assert_eq!(t.cache_hits + t.cache_misses, t.lookups);
}
