//! Issue 14, case 2: crafted DNS names in some events of a batch must not
//! hide a real indicator in another. With `domain_match: suffix` each name
//! is also looked up under its parents: at most `MAX_PARENTS`, the ones
//! nearest the registrable domain; a batch asks memcached for at most
//! `max_lookups_per_batch` keys, every event's first values first; what is
//! left out flags only its own events. Alone in its test binary, so the
//! process's peak RSS is this test's. Rows in
//! target/reliability/issue14-engine-suffix-*.tsv.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use misp_enrich_core::{record, Namespace};
use misp_enrich_engine::{DomainMatch, MatchKind, MAX_PARENTS};

const SECTION: &str = "Hostile input, round 2 (issue 14)";

/// A 122-label name whose every parent is distinct from other names'
/// (`a.a.....a.c<i>.ex`, 248 bytes; `ex` falls under the list's default rule).
fn crafted(i: usize) -> String {
    format!("{}c{i}.ex", "a.".repeat(120))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
fn crafted_names_cost_their_own_events_never_a_real_hit() {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    put(&servers, Namespace::Domain, "victim.example", "7#domain");
    let mut c = config(&servers);
    c.domain_match = DomainMatch::Suffix;
    // The plugin's defaults: connect 100 ms, io 150 ms.
    c.connect_timeout_ms = 100;
    c.io_timeout_ms = 150;
    c.batch_timeout_ms = Some(500);
    c.cache_size = 0;
    let e = engine(&c);

    // Three events of 1,000 crafted names each (the plugin's per-field
    // cap), then one with the indicator and one with a name under it.
    let names: Vec<String> = (0..3_000).map(crafted).collect();
    let mut batch: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| item((i / 1000) as u32, Namespace::Domain, n))
        .collect();
    batch.push(item(3, Namespace::Domain, "victim.example"));
    batch.push(item(4, Namespace::Domain, "mail.victim.example"));
    let started = Instant::now();
    let outcome = e.lookup(&batch);
    let took = started.elapsed();
    let t = e.stats().totals;
    let exact = matches(&outcome, 3);
    let suffix = matches(&outcome, 4);
    let flagged = failed(&outcome);
    let ok = exact.len() == 1
        && suffix.len() == 1
        && suffix[0].1 == MatchKind::Suffix
        && !flagged.contains(&3)
        && !flagged.contains(&4)
        // Every crafted name planned lost 112 of its 120 parents.
        && t.parents_over_cap > 0
        && t.parents_over_cap.is_multiple_of((120 - MAX_PARENTS) as u64)
        && t.lookups <= 3_002 * (1 + MAX_PARENTS) as u64
        && took < Duration::from_millis(500) + Duration::from_secs(3);
    record::row(
        "issue14-engine-suffix-3000",
        SECTION,
        "engine, domain_match suffix, batch_timeout_ms 500 (connect 100, io 150): 3 events of 1,000 crafted 122-label names (120 parents each, all distinct), one event with the indicator `victim.example`, one with `mail.victim.example`",
        "both real hits matched and not flagged; at most 8 parents per name (the ones nearest the registrable domain); planning stops at half the budget or 2 × max_lookups_per_batch keys, every event's first values first; at most max_lookups_per_batch (10,000) keys asked; only crafted events flagged; batch within budget + 3 s",
        &format!(
            "{}: {took:.3?}; {} distinct keys planned, {} asked from memcached in {} round trips, {} over the batch cap, {} parents over the per-name cap; flagged slots {flagged:?}",
            if ok { "pass" } else { "FAIL" },
            t.lookups,
            t.memcached_keys,
            t.memcached_round_trips,
            t.lookups_over_cap,
            t.parents_over_cap
        ),
    );
    assert!(ok, "{took:?} {exact:?} {suffix:?} {flagged:?} {t:?}");

    // 20,000 crafted names in one batch: bounded work and memory.
    let names: Vec<String> = (0..20_000).map(|i| crafted(10_000 + i)).collect();
    let mut batch: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| item((i / 1000) as u32, Namespace::Domain, n))
        .collect();
    batch.push(item(20, Namespace::Domain, "www.victim.example"));
    let before = e.stats().totals;
    let started = Instant::now();
    let outcome = e.lookup(&batch);
    let took = started.elapsed();
    let t = e.stats().totals;
    let lookups = t.lookups - before.lookups;
    let rss = peak_rss_mb();
    let ok = matches(&outcome, 20).len() == 1
        && !failed(&outcome).contains(&20)
        && lookups <= 20_001 * (1 + MAX_PARENTS) as u64
        && took < Duration::from_millis(500) + Duration::from_secs(5);
    record::row(
        "issue14-engine-suffix-20000",
        SECTION,
        "engine, domain_match suffix: 20 events of 1,000 crafted 122-label names and one event with `www.victim.example`",
        "the real hit matched and not flagged; keys planned ≤ 9 per name; batch within budget + 5 s; peak RSS of the test process reported (744 MB before the caps, per the issue)",
        &format!(
            "{}: {took:.3?}; {lookups} distinct keys planned (2.4 million without the caps), {} asked from memcached; test process peak RSS {rss:.0} MB",
            if ok { "pass" } else { "FAIL" },
            t.memcached_keys - before.memcached_keys,
        ),
    );
    assert!(ok, "{took:?} {lookups}");
}
