//! Helpers shared by the engine's integration tests: real memcached servers,
//! writing indicators where misp-load would, a server that never answers.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use misp_enrich_core::{normalize, Keyspace, Namespace, ServerRing};
use misp_enrich_engine::{Config, Engine, Item, Kind, Match, MatchKind, Outcome};
use misp_enrich_memcached::{Connection, Op, Timeouts};

pub use misp_enrich_memcached::TestServer;

pub fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        io: Duration::from_secs(2),
    }
}

/// A configuration for tests: short timeouts, a quick breaker, no event metadata.
pub fn config(servers: &[String]) -> Config {
    let mut c = Config::new(servers);
    c.connect_timeout_ms = 300;
    c.io_timeout_ms = 400;
    c.breaker_failures = 2;
    c.breaker_backoff_ms = 300;
    c.range_refresh_ms = 0;
    // Tests that count round trips would count the metadata fetch too;
    // the metadata tests turn it on.
    c.event_metadata = false;
    c
}

pub fn engine(c: &Config) -> Engine {
    Engine::new(c).unwrap()
}

/// Stores raw `value` under `key` with `flags` on the server the ring picks,
/// speaking the text protocol directly (the client always writes flags 0).
pub fn set_raw(servers: &[String], key: &str, value: &[u8], flags: u32) {
    let ring = ServerRing::new(servers).unwrap();
    let addr = &ring.servers()[ring.server_for(key.as_bytes())];
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("set {key} {flags} 0 {}\r\n", value.len()).as_bytes())
        .unwrap();
    s.write_all(value).unwrap();
    s.write_all(b"\r\n").unwrap();
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"STORED\r\n");
}

/// Stores `value` under the key of `raw` in `ns`, as misp-load or the seed would.
pub fn put(servers: &[String], ns: Namespace, raw: &str, value: &str) {
    let v = normalize(ns, raw).unwrap();
    let key = Keyspace::default().key(ns, v.as_exact().unwrap());
    set_raw(servers, &key, value.as_bytes(), 0);
}

/// Deletes the key of `raw` in `ns`.
pub fn delete(servers: &[String], ns: Namespace, raw: &str) {
    let v = normalize(ns, raw).unwrap();
    let key = Keyspace::default().key(ns, v.as_exact().unwrap());
    let ring = ServerRing::new(servers).unwrap();
    let mut c =
        Connection::connect(&ring.servers()[ring.server_for(key.as_bytes())], timeouts()).unwrap();
    c.execute(&[Op::Delete { key: &key }]).unwrap();
}

pub fn item(slot: u32, ns: Namespace, value: &str) -> Item<'_> {
    Item {
        slot,
        kind: Kind::Namespace(ns),
        value: value.as_bytes(),
    }
}

/// `(namespace, kind, value, "id#type,...")` of every match of `slot`.
pub fn matches(outcome: &Outcome, slot: u32) -> Vec<(String, MatchKind, String, String)> {
    outcome
        .slots
        .iter()
        .filter(|s| s.slot == slot)
        .flat_map(|s| &s.matches)
        .map(|m: &Match| {
            let entries: Vec<String> = m
                .entries
                .iter()
                .map(|e| format!("{}#{}", e.event_id(), e.misp_type()))
                .collect();
            (
                m.namespace.name().to_owned(),
                m.kind,
                m.value.clone(),
                entries.join(","),
            )
        })
        .collect()
}

pub fn failed(outcome: &Outcome) -> Vec<u32> {
    outcome
        .slots
        .iter()
        .filter(|s| s.failed)
        .map(|s| s.slot)
        .collect()
}

pub fn matched(outcome: &Outcome) -> Vec<u32> {
    outcome
        .slots
        .iter()
        .filter(|s| !s.matches.is_empty())
        .map(|s| s.slot)
        .collect()
}

/// A server that accepts connections (the kernel does, from its backlog)
/// and never answers. Dropping the listener closes it.
pub fn blackhole() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}
