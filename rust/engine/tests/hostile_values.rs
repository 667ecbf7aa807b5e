//! Issue 14, case 1: a stored value of tens of thousands of entries, from a
//! real memcached or a hostile one, costs one lookup a bounded amount of
//! work: at most `MAX_ENTRIES_PER_VALUE` entries are parsed (the rest is
//! counted), the parse is linear, and the batch ends near its budget.
//! Rows in target/reliability/issue14-engine-*.tsv.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use misp_enrich_core::{record, Namespace};
use misp_enrich_engine::MAX_ENTRIES_PER_VALUE;

const SECTION: &str = "Hostile input, round 2 (issue 14)";

fn entries(n: usize) -> String {
    let parts: Vec<String> = (1..=n).map(|i| format!("{i}#ip-dst")).collect();
    parts.join(",")
}

#[test]
fn a_key_of_70000_entries_is_read_within_the_batch_budget() {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    let value = entries(70_000);
    assert!(value.len() > 850 * 1024 && value.len() < 1024 * 1024);
    put(&servers, Namespace::Ip, "203.0.113.7", &value);
    put(&servers, Namespace::Ip, "198.51.100.1", "5#ip-dst");
    let mut c = config(&servers);
    c.batch_timeout_ms = Some(500);
    c.event_metadata = true;
    let e = engine(&c);
    let batch = [
        item(0, Namespace::Ip, "203.0.113.7"),
        item(1, Namespace::Ip, "198.51.100.1"),
    ];
    let started = Instant::now();
    let outcome = e.lookup(&batch);
    let took = started.elapsed();
    let hit = &outcome.slots[0].matches[0];
    let stats = e.stats();
    let ok = hit.entries.len() == MAX_ENTRIES_PER_VALUE
        && stats.totals.entries_over_cap == (70_000 - MAX_ENTRIES_PER_VALUE) as u64
        && matched(&outcome) == vec![0, 1]
        && failed(&outcome).is_empty()
        && took < Duration::from_millis(500) + Duration::from_secs(2);
    record::row(
        "issue14-engine-long-value",
        SECTION,
        "engine: one key holding 70,000 `event_id#type` entries (878 KB, under memcached's 1 MB item limit) next to an ordinary indicator, batch_timeout_ms 500",
        "the batch ends within its budget + 2 s; the match carries the first 1,000 entries (MAX_ENTRIES_PER_VALUE), the other 69,000 are counted in entries_over_cap; the other indicator matched; nothing flagged",
        &format!(
            "{}: {took:.3?} for the batch, {} entries in the match, entries_over_cap {}",
            if ok { "pass" } else { "FAIL" },
            hit.entries.len(),
            stats.totals.entries_over_cap
        ),
    );
    assert!(ok, "{took:?} {} {:?}", hit.entries.len(), stats.totals);
}

#[test]
fn a_hostile_memcached_sending_140000_entries_costs_one_bounded_batch() {
    // Answers every get with a 2 MB value of 140,000 entries per key.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let value = entries(140_000);
    let value_len = value.len();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let value = value.clone();
            thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    let mut out = Vec::new();
                    for key in line.trim_end().split(' ').skip(1) {
                        out.extend_from_slice(
                            format!("VALUE {key} 0 {}\r\n", value.len()).as_bytes(),
                        );
                        out.extend_from_slice(value.as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"END\r\n");
                    if w.write_all(&out).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    let servers = vec![addr];
    let mut c = config(&servers);
    c.io_timeout_ms = 700;
    c.batch_timeout_ms = Some(1000);
    let e = engine(&c);
    let values: Vec<String> = (0..4).map(|i| format!("192.0.2.{i}")).collect();
    let batch: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| item(i as u32, Namespace::Ip, v))
        .collect();
    let started = Instant::now();
    let outcome = e.lookup(&batch);
    let took = started.elapsed();
    let most = outcome
        .slots
        .iter()
        .flat_map(|s| &s.matches)
        .map(|m| m.entries.len())
        .max()
        .unwrap_or(0);
    let ok = took < Duration::from_millis(1000) + Duration::from_secs(2)
        && most == MAX_ENTRIES_PER_VALUE
        && failed(&outcome).is_empty();
    record::row(
        "issue14-engine-hostile-value",
        SECTION,
        &format!(
            "engine: a hostile memcached answering each of 4 keys with {value_len} bytes of 140,000 entries, batch_timeout_ms 1000"
        ),
        "the batch ends within its budget + 2 s; no match carries more than 1,000 entries",
        &format!(
            "{}: {took:.3?} for the batch, at most {most} entries per match, entries_over_cap {}",
            if ok { "pass" } else { "FAIL" },
            e.stats().totals.entries_over_cap
        ),
    );
    assert!(ok, "{took:?} {most}");
}
