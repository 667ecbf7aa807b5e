//! Issue 14, misp-load's part: a MISP (or something answering in its place)
//! that sends an endless body, dribbles its answer, or is stopped mid-read;
//! values and event records larger than memcached's item limit; a key that
//! already holds 70,000 entries. Hostile servers are small TCP servers in
//! the test; memcached and misp-sim are real. Rows in
//! target/reliability/issue14-load-*.tsv.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use misp_enrich_core::record;
use serde_json::json;

const SECTION: &str = "Hostile input, round 2 (issue 14)";

fn verdict(ok: bool) -> &'static str {
    if ok {
        "pass"
    } else {
        "FAIL"
    }
}

/// Reads one HTTP request (headers and a Content-Length body).
fn read_request(stream: &TcpStream) -> bool {
    let mut r = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).is_ok()
}

/// An HTTP server answering every request with `respond`; returns its URL.
fn http_server(respond: fn(&mut TcpStream) -> std::io::Result<()>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || {
                if read_request(&stream) {
                    let _ = respond(&mut stream);
                }
            });
        }
    });
    url
}

/// Chunked transfer encoding, chunks of 64 KiB, forever.
fn endless_chunked(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    let chunk = vec![b' '; 64 * 1024];
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    loop {
        s.write_all(&framed)?;
    }
}

/// A valid, long answer sent one byte every 200 ms.
fn dribble(s: &mut TcpStream) -> std::io::Result<()> {
    let body = format!(
        "{{\"response\":{{\"Attribute\":[]}}}}{}",
        " ".repeat(10_000)
    );
    s.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    for b in body.as_bytes() {
        s.write_all(&[*b])?;
        thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn cfg_for(url: &str, mc: &TestServer, misp_extra: &str) -> Cfg {
    let cfg = Cfg::new(url, &[mc.addr()], misp_extra, "");
    // No retries: each figure is one request.
    cfg.write(&cfg.text().replace("  retries: 1\n", "  retries: 0\n"));
    cfg
}

#[test]
fn an_endless_body_is_cut_at_max_response_size() {
    let url = http_server(endless_chunked);
    let mc = TestServer::start();
    let cfg = cfg_for(&url, &mc, "  max_response_size: 16MB\n  timeout: 60\n");
    let started = Instant::now();
    let r = run(&cfg.path, &["-q", "--json"]);
    let took = started.elapsed();
    let summary = r.json();
    let rss = summary["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / 1024.0 / 1024.0;
    let ok = r.code == 2
        && r.stderr.contains("max_response_size")
        && took < Duration::from_secs(30)
        && rss < 16.0 + 100.0;
    record::row(
        "issue14-load-endless-body",
        SECTION,
        "misp-load: \"MISP\" answers the first page with an endless chunked body (misp.max_response_size 16MB here; default 256MB)",
        "exit 2 naming misp.max_response_size, not retried; peak RSS < the limit + 100 MB; the run ends long before misp.timeout (60 s)",
        &format!(
            "{}: exit {} after {took:.2?}, peak RSS {rss:.0} MB",
            verdict(ok),
            r.code
        ),
    );
    assert!(ok, "exit {} after {took:?}, {rss} MB\n{}", r.code, r.stderr);
}

#[test]
fn a_dribbled_answer_is_bounded_by_misp_timeout() {
    let url = http_server(dribble);
    let mc = TestServer::start();
    let cfg = cfg_for(&url, &mc, "  timeout: 3\n");
    let started = Instant::now();
    let r = run(&cfg.path, &["-q", "--json"]);
    let took = started.elapsed();
    let ok = r.code == 2 && r.stderr.contains("within 3 s") && took < Duration::from_secs(9);
    record::row(
        "issue14-load-dribble",
        SECTION,
        "misp-load: \"MISP\" sends a valid 10 KB answer one byte every 0.2 s (misp.timeout 3, retries 0)",
        "the request, body included, is bounded by misp.timeout: exit 2 \"did not answer within 3 s\", within 3 × the timeout",
        &format!("{}: exit {} after {took:.2?}", verdict(ok), r.code),
    );
    assert!(ok, "exit {} after {took:?}\n{}", r.code, r.stderr);
}

fn terminate(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_stops_a_request_in_flight_and_watch_cannot_be_stalled() {
    let url = http_server(dribble);
    let mc = TestServer::start();

    // One-shot run, a long timeout: SIGTERM mid-read.
    let cfg = cfg_for(&url, &mc, "  timeout: 300\n");
    let mut child = misp_load(&cfg.path)
        .args(["-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(1500));
    let signalled = Instant::now();
    terminate(child.id());
    let one_shot_code = child.wait().unwrap().code();
    let stop_took = signalled.elapsed();
    let one_shot_ok = one_shot_code == Some(130) && stop_took < Duration::from_secs(3);

    // --watch against the same server: every run ends at misp.timeout and
    // the next one starts; SIGTERM ends the loop with exit 0.
    let cfg = cfg_for(&url, &mc, "  timeout: 1\n");
    let mut child = misp_load(&cfg.path)
        .args(["--watch", "1", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    thread::sleep(Duration::from_secs(6));
    let signalled = Instant::now();
    terminate(child.id());
    let status = child.wait().unwrap();
    let watch_stop = signalled.elapsed();
    let text = reader.join().unwrap();
    let runs = text.matches("did not answer within 1 s").count();
    let watch_ok = status.code() == Some(0) && runs >= 2 && watch_stop < Duration::from_secs(3);
    record::row(
        "issue14-load-sigterm",
        SECTION,
        "misp-load: SIGTERM while \"MISP\" dribbles its answer (one-shot, misp.timeout 300); `--watch 1` against the same server (misp.timeout 1)",
        "one-shot: exit 130 within 3 s of the signal; watch: every run ends at misp.timeout and the next one starts (≥ 2 runs in 6 s), SIGTERM exits 0 within 3 s",
        &format!(
            "{}: one-shot exit {:?} {stop_took:.2?} after SIGTERM; watch: {runs} runs timed out in 6 s, exit {:?} {watch_stop:.2?} after SIGTERM",
            verdict(one_shot_ok && watch_ok),
            one_shot_code,
            status.code()
        ),
    );
    assert!(one_shot_ok, "one-shot: {stop_took:?}");
    assert!(
        watch_ok,
        "watch: {runs} runs, {watch_stop:?}, {status:?}\n{text}"
    );
}

#[test]
fn values_and_event_records_over_the_item_limit_are_skipped_and_the_run_goes_on() {
    // memcached with a 128 KB item limit: 12,000 events sharing one IP make
    // a value of ~150 KB; event 1's title is 200 KB.
    let mc = TestServer::start_with(&["-I", "128k", "-o", "slab_chunk_max=65536"]);
    let mut attrs: Vec<serde_json::Value> = (0..12_000u64)
        .map(|i| attr(i + 1, i + 1, "ip-dst", "198.51.100.77"))
        .collect();
    // Indicators after it in the run (higher ids: later pages).
    for i in 0..20u64 {
        attrs.push(attr(20_000 + i, 1, "domain", &format!("after{i}.example")));
    }
    let mut big = event(1, &"T".repeat(200 * 1024), &["tlp:amber"]);
    big["Event"]["id"] = json!("1");
    let events = json!([big, event(2, "a small event", &[])]);
    let sim = Sim::with_fixture(json!(attrs), events, &[]);
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "  page_size: 2000\n", "");
    let first = run(&cfg.path, &["-q", "--json"]);
    let s = first.json();
    let skipped_values = s["skipped"]["value too large for memcached"]
        .as_u64()
        .unwrap_or(0);
    let skipped_events = s["skipped"]["event metadata too large for memcached"]
        .as_u64()
        .unwrap_or(0);
    let domains_loaded = (0..20)
        .filter(|i| get(&mc, &format!("misp-domain:after{i}.example")).is_some())
        .count();
    let ip_held = get(&mc, "misp-ip:198.51.100.77").map_or(0, |v| v.split(',').count());
    let small_event = get(&mc, "misp-event:2").is_some();

    // A refresh with a revocation pending still revokes.
    sim.mutate(json!({"soft_delete": ["20000"]}));
    let second = run(&cfg.path, &["-q", "--json"]);
    let revoked = get(&mc, "misp-domain:after0.example").is_none();
    let ok = first.code == 0
        && skipped_values >= 1
        && skipped_events == 1
        && domains_loaded == 20
        && ip_held > 0
        && small_event
        && second.code == 0
        && revoked;
    record::row(
        "issue14-load-too-large",
        SECTION,
        "misp-load: memcached -I 128k; one IP in 12,000 events (its value outgrows the limit on a later page), one event whose title is 200 KB, 20 domains after them in the run; then a refresh with one of the domains deleted in MISP",
        "exit 0 both runs; the too-large value and event record skipped and counted (summary `skipped`), warned about by key; every indicator after them loaded; the IP keeps the entries it could hold; the refresh revokes the deleted domain",
        &format!(
            "{}: first run exit {}, skipped {skipped_values} value writes and {skipped_events} event record, {domains_loaded}/20 domains loaded, IP key holds {ip_held} entries; refresh exit {}, revoked: {revoked}",
            verdict(ok),
            first.code,
            second.code
        ),
    );
    assert!(ok, "{}\n{}\n{}", first.stderr, second.stdout, second.stderr);
}

#[test]
fn a_key_holding_70000_entries_is_merged_in_linear_time() {
    let mc = TestServer::start();
    let held: Vec<String> = (1..=70_000u64).map(|i| format!("{i}#ip-dst")).collect();
    set(&mc, "misp-ip:203.0.113.9", &held.join(","));
    // misp-stats > 0: a refresh, whose merge reads the 70,000 entries.
    set(&mc, "misp-stats", "1");
    let attrs = json!([attr(1, 90_001, "ip-dst", "203.0.113.9")]);
    let sim = Sim::with_fixture(attrs, json!([]), &[]);
    let cfg = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let started = Instant::now();
    let r = run(&cfg.path, &["-q", "--json"]);
    let took = started.elapsed();
    let after = get(&mc, "misp-ip:203.0.113.9").unwrap_or_default();
    let entries = after.split(',').count();
    let ok = r.code == 0 && entries == 70_001 && took < Duration::from_secs(30);
    record::row(
        "issue14-load-long-value",
        SECTION,
        "misp-load: a refresh adding one entry to a key that already holds 70,000 (878 KB)",
        "exit 0; the key holds 70,001 entries; the run takes seconds, not the minute of CPU the quadratic de-duplication took",
        &format!(
            "{}: exit {} after {took:.2?} (whole run, debug build), {entries} entries held",
            verdict(ok),
            r.code
        ),
    );
    assert!(ok, "{took:?} {entries}\n{}", r.stderr);
}

#[test]
fn an_http_url_to_another_host_draws_a_warning() {
    let mc = TestServer::start();
    // TEST-NET-1: nothing answers; the warning comes before the request.
    let remote = cfg_for("http://192.0.2.1:9", &mc, "  timeout: 1\n");
    let r = run(&remote.path, &["check"]);
    let warned = r.stderr.contains("unencrypted") && r.stderr.contains("192.0.2.1");
    // A loopback http:// MISP (misp-sim in the tests) draws none.
    let sim = Sim::with_fixture(json!([attr(1, 1, "domain", "a.example")]), json!([]), &[]);
    let local = Cfg::new(&sim.url, &[mc.addr()], "", "");
    let quiet = run(&local.path, &["-q"]);
    let ok = warned && !quiet.stderr.contains("unencrypted") && quiet.code == 0;
    record::row(
        "issue14-load-cleartext",
        SECTION,
        "misp-load: misp.url `http://` to a non-loopback host (suspected case: the API key crosses the network in clear text)",
        "a warning naming the host on every run (load, check, watch); none for loopback (`127.0.0.0/8`, `::1`, `localhost`)",
        &format!(
            "{}: warned for http://192.0.2.1 ({}), silent for {}",
            verdict(ok),
            if warned { "yes" } else { "no" },
            sim.url
        ),
    );
    assert!(ok, "{}\n---\n{}", r.stderr, quiet.stderr);
}
