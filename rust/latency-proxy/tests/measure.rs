//! A measurement, not a check (ignored by default): the round trip of
//! memcached's `version` command, direct and through the proxy, and the
//! proxy's CPU time. Needs memcached. Run it with
//! `cargo test --release -p latency-proxy --test measure -- --ignored --nocapture`
//! (`LATENCY_PROXY_DELAY_US`, default 100; `LATENCY_PROXY_SPIN_US`, default
//! the proxy's; `LATENCY_PROXY_ROUND_TRIPS`, default 10000).

#![allow(clippy::unwrap_used)]

mod common;

use common::{read_until, Proxy};
use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` sequential `version` round trips; their durations, sorted.
fn round_trips(s: &mut TcpStream, n: u64) -> Vec<Duration> {
    let mut rtts: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            s.write_all(b"version\r\n").unwrap();
            read_until(s, b"\r\n");
            start.elapsed()
        })
        .collect();
    rtts.sort();
    rtts
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// User and system CPU seconds of a process, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); field 3 is fields[0].
    let user: u64 = fields[11].parse().unwrap();
    let system: u64 = fields[12].parse().unwrap();
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    let hz: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (user as f64 / hz as f64, system as f64 / hz as f64)
}

#[test]
#[ignore = "a measurement; needs memcached; run by hand with --ignored --nocapture"]
fn added_round_trip_and_cpu() {
    let delay_us = env_u64("LATENCY_PROXY_DELAY_US", 100);
    let n = env_u64("LATENCY_PROXY_ROUND_TRIPS", 10_000);
    let memcached = misp_enrich_memcached::TestServer::start();
    let spin = std::env::var("LATENCY_PROXY_SPIN_US").ok();
    let flags: Vec<&str> = match &spin {
        Some(us) => vec!["--spin-us", us],
        None => vec![],
    };
    let proxy = Proxy::start_with(&memcached.addr(), delay_us, &flags);

    let mut direct = TcpStream::connect(memcached.addr()).unwrap();
    direct.set_nodelay(true).unwrap();
    let mut proxied = proxy.connect();
    round_trips(&mut direct, 1000);
    round_trips(&mut proxied, 1000);

    let d = round_trips(&mut direct, n);
    let cpu0 = cpu_seconds(proxy.pid());
    let wall = Instant::now();
    let p = round_trips(&mut proxied, n);
    let wall = wall.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(proxy.pid());
    let (user, system) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let cpu = user + system;

    let spin = spin.as_deref().unwrap_or("default");
    println!("--delay-us {delay_us} --spin-us {spin}, {n} sequential `version` round trips each");
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        let (dq, pq) = (pct(&d, q), pct(&p, q));
        println!(
            "{name}: direct {dq:7.1} µs  proxied {pq:7.1} µs  added {:7.1} µs",
            pq - dq
        );
    }
    println!(
        "proxy CPU: {cpu:.2} s ({user:.2} user, {system:.2} system) over {wall:.2} s wall, \
         {:.2} s per 10,000 round trips",
        cpu * 10_000.0 / n as f64
    );
}
