//! Throughput and latency of the engine against a real memcached, printed
//! side by side: warm cache, cold cache with Logstash-sized batches (125
//! events × 4 fields, 1% hits), and the same with one lookup per call (the
//! seed's pattern: one round trip per field per event).
//!
//! Run: `bench/engine.sh` (or `cargo run --release -p misp-enrich-engine
//! --example bench`). Not a test: it asserts nothing, it measures.
//! Environment: `BENCH_SCALE=N` multiplies the work; `BENCH_ONLY=warm|cold`
//! runs one part (for profiling); `BENCH_CACHE=N` sets the cache size
//! (0: no cache).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use misp_enrich_core::{normalize, Keyspace, Namespace};
use misp_enrich_engine::wire::{encode_request, Kind};
use misp_enrich_engine::{Config, Engine};
use misp_enrich_memcached::{Connection, Op, TestServer, Timeouts};

const EVENTS: usize = 125;
const FIELDS: [Namespace; 4] = [
    Namespace::Ip,
    Namespace::Domain,
    Namespace::Sha256,
    Namespace::Ip,
];
const HIT_PERCENT: u64 = 1;

/// xorshift64*: reproducible, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The n-th distinct value of a namespace, as a log would carry it.
fn value(ns: Namespace, n: u64) -> String {
    match ns {
        Namespace::Ip => format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
        Namespace::Domain => format!("host{n}.cdn{}.example.com", n % 97),
        // Sysmon writes hashes upper-case.
        _ => format!(
            "{:064X}",
            u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        ),
    }
}

/// A batch: `events` events × 4 fields of fresh values starting at `*next`;
/// a value is an indicator when `is_hit` says so.
fn batch(events: usize, next: &mut u64) -> Vec<u8> {
    let mut values: Vec<(u32, Kind, String)> = Vec::with_capacity(events * FIELDS.len());
    for e in 0..events {
        for ns in FIELDS {
            values.push((e as u32, Kind::Namespace(ns), value(ns, *next)));
            *next += 1;
        }
    }
    encode_request(values.iter().map(|(s, k, v)| (*s, *k, v.as_bytes())))
}

fn is_hit(n: u64) -> bool {
    n % 100 < HIT_PERCENT
}

struct Run {
    lookups: u64,
    elapsed: Duration,
    /// CPU time of the calling threads (what "per core" means on a shared machine).
    cpu: Duration,
    latencies: Vec<Duration>,
}

/// This thread's time on a CPU so far (Linux: /proc/thread-self/schedstat, ns).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .map_or(Duration::ZERO, Duration::from_nanos)
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.lookups as f64 / self.elapsed.as_secs_f64()
    }
    fn per_cpu_sec(&self) -> f64 {
        self.lookups as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
    fn pct(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

fn run(engine: &Engine, batches: &[Vec<u8>], items_per_batch: u64) -> Run {
    let mut latencies = Vec::with_capacity(batches.len());
    let cpu = thread_cpu();
    let start = Instant::now();
    for b in batches {
        let t = Instant::now();
        let out = engine.lookup_wire(b).unwrap();
        latencies.push(t.elapsed());
        std::hint::black_box(out);
    }
    Run {
        lookups: items_per_batch * batches.len() as u64,
        elapsed: start.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu),
        latencies,
    }
}

fn run_threads(
    engine: &Arc<Engine>,
    batches: Vec<Vec<u8>>,
    items_per_batch: u64,
    threads: usize,
) -> Run {
    let per = batches.len() / threads;
    let batches = Arc::new(batches);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (engine, batches) = (Arc::clone(engine), Arc::clone(&batches));
            thread::spawn(move || run(&engine, &batches[t * per..(t + 1) * per], items_per_batch))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut lookups = 0;
    let mut cpu = Duration::ZERO;
    for h in handles {
        let r = h.join().unwrap();
        lookups += r.lookups;
        cpu += r.cpu;
        latencies.extend(r.latencies);
    }
    Run {
        lookups,
        elapsed: start.elapsed(),
        cpu,
        latencies,
    }
}

fn main() {
    let scale: u64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let server = TestServer::start_with(&["-t", "1", "-m", "1024"]);
    let servers = vec![server.addr()];
    let mut config = Config::new(&servers);
    config.range_refresh_ms = 0;
    if let Some(size) = std::env::var("BENCH_CACHE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.cache_size = size;
    }
    let engine = Arc::new(Engine::new(&config).unwrap());
    let items_per_batch = (EVENTS * FIELDS.len()) as u64;

    // Indicators: 1% of the values the cold runs will ask for, across 100 events.
    let cold_batches = 1_500 * scale as usize;
    let single_lookups = 6_000 * scale as usize;
    let total_values =
        (cold_batches as u64 + 4) * items_per_batch + single_lookups as u64 + 1_000_000;
    let mut conn = Connection::connect(
        &servers[0],
        Timeouts {
            connect: Duration::from_secs(2),
            io: Duration::from_secs(30),
        },
    )
    .unwrap();
    let ks = Keyspace::default();
    let mut keys_values: Vec<(String, String)> = Vec::new();
    for n in (0..total_values).filter(|n| is_hit(*n)) {
        let ns = FIELDS[(n % 4) as usize];
        let v = value(ns, n);
        let norm = normalize(ns, &v).unwrap();
        keys_values.push((
            ks.key(ns, norm.as_exact().unwrap()),
            format!("{}#{}", n % 100 + 1, ns.name()),
        ));
    }
    for e in 1..=100 {
        keys_values.push((
            ks.event_key(&e.to_string()),
            format!(r#"{{"id":"{e}","info":"bench event {e}","threat_level":"high"}}"#),
        ));
    }
    for chunk in keys_values.chunks(5_000) {
        let ops: Vec<Op> = chunk
            .iter()
            .map(|(k, v)| Op::Set {
                key: k,
                value: v.as_bytes(),
                exptime: 0,
            })
            .collect();
        conn.execute(&ops).unwrap();
    }
    eprintln!(
        "loaded {} indicator keys into memcached at {}",
        keys_values.len(),
        servers[0]
    );

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let only_warm = only == "warm";
    let only_cold = only == "cold";
    let cold_batches = if only_warm { 2 } else { cold_batches };
    let single_lookups = if only_warm { 4 } else { single_lookups };
    let mut next = 0u64;
    // Cold, batched: every value fresh, so every lookup goes to memcached.
    let warmup: Vec<Vec<u8>> = (0..50).map(|_| batch(EVENTS, &mut next)).collect();
    run(&engine, &warmup, items_per_batch);
    let cold: Vec<Vec<u8>> = (0..cold_batches)
        .map(|_| batch(EVENTS, &mut next))
        .collect();
    let mut cold_run = run(&engine, &cold, items_per_batch);
    let cold2: Vec<Vec<u8>> = (0..cold_batches)
        .map(|_| batch(EVENTS, &mut next))
        .collect();
    let mut cold2_run = run_threads(&engine, cold2, items_per_batch, 2);

    // Cold, one lookup per call (the seed's pattern).
    let singles: Vec<Vec<u8>> = (0..single_lookups)
        .map(|i| {
            let ns = FIELDS[i % 4];
            let v = value(ns, next);
            next += 1;
            encode_request([(0, Kind::Namespace(ns), v.as_bytes())])
        })
        .collect();
    let mut single_run = run(&engine, &singles, 1);

    // Warm: a working set already in the cache, drawn at random.
    let working_set = if only_cold { 4 } else { 20_000u64 };
    let working: Vec<(Kind, String)> = (0..working_set)
        .map(|i| {
            let ns = FIELDS[(i % 4) as usize];
            (Kind::Namespace(ns), value(ns, i))
        })
        .collect();
    let all = encode_request(working.iter().map(|(k, v)| (0, *k, v.as_bytes())));
    engine.lookup_wire(&all).unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let warm_batches = if only_cold { 2 } else { 4_000 * scale };
    let warm: Vec<Vec<u8>> = (0..warm_batches)
        .map(|_| {
            let picks: Vec<usize> = (0..items_per_batch)
                .map(|_| (rng.next() % working.len() as u64) as usize)
                .collect();
            encode_request(
                picks
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| ((i / 4) as u32, working[p].0, working[p].1.as_bytes())),
            )
        })
        .collect();
    run(&engine, &warm[..warm.len().min(200)], items_per_batch);
    let mut warm_run = run(&engine, &warm, items_per_batch);
    let mut warm2_run = run_threads(&engine, warm.clone(), items_per_batch, 2);

    let stats = engine.stats();
    println!("misp-enrich engine benchmark ({} cores, memcached -t 1 on loopback, {}% hits, event metadata on)", thread::available_parallelism().map_or(0, |n| n.get()), HIT_PERCENT);
    println!();
    println!("| mode | batch | threads | lookups/s (wall) | lookups per CPU-second | p50 batch | p99 batch |");
    println!("|---|---|---|---|---|---|---|");
    let row = |name: &str, batch: &str, threads: usize, r: &mut Run| {
        println!(
            "| {name} | {batch} | {threads} | {:.0} | {:.0} | {:.1?} | {:.1?} |",
            r.per_sec(),
            r.per_cpu_sec(),
            r.pct(0.5),
            r.pct(0.99)
        );
    };
    row("warm cache", "125×4", 1, &mut warm_run);
    row("warm cache", "125×4", 2, &mut warm2_run);
    row("cold cache", "125×4", 1, &mut cold_run);
    row("cold cache", "125×4", 2, &mut cold2_run);
    row("cold cache, batch size 1", "1", 1, &mut single_run);
    println!();
    println!(
        "cold batched / batch size 1: {:.1}×",
        cold_run.per_sec() / single_run.per_sec()
    );
    println!(
        "warm / cold batched: {:.1}×",
        warm_run.per_sec() / cold_run.per_sec()
    );
    println!(
        "engine counters: {} lookups, {} memcached round trips, {} keys, {} matches, {} errors",
        stats.totals.lookups,
        stats.totals.memcached_round_trips,
        stats.totals.memcached_keys,
        stats.totals.matches,
        stats.totals.errors
    );
}
