//! Fuzzing (issue 7), with proptest on the stable toolchain: the batch wire
//! decoder, whole batches through a real engine and a real memcached (the
//! result buffer parsed back strictly; every indicator found, nothing else),
//! and the engine configuration parser (and engines built from what it
//! accepts). Plus the regression test of the Sysmon `Hashes` cap.
//!
//! Run by misp_enrich_core::fuzz_harness: 1,000 cases per property here
//! unless `PROPTEST_CASES` says otherwise (CI runs 20,000 in the debug
//! build, overflow checks on), rows in `target/reliability/fuzz-engine-*.tsv`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use misp_enrich_core::fuzz_harness::FuzzSuite;
use misp_enrich_core::{normalize, EntryList, Namespace, Normalized};
use misp_enrich_engine::wire::{decode, encode_request, Kind, RESULT_MAGIC};
use misp_enrich_engine::{Config, Engine};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const FUZZ: FuzzSuite = FuzzSuite {
    name: "engine",
    default_cases: 1_000,
};

fn kinds() -> impl Strategy<Value = Kind> {
    let n = Kind::all().count() as u8;
    (0..n).prop_map(|id| Kind::from_id(id).unwrap())
}

// ---- the wire decoder --------------------------------------------------------

/// A batch buffer: valid ones, then broken in the ways a buggy caller could
/// break one (bytes flipped, cut, extended, the count or a length replaced).
fn batch_buffers() -> impl Strategy<Value = Vec<u8>> {
    let items = prop::collection::vec(
        (
            any::<u32>(),
            kinds(),
            prop::collection::vec(any::<u8>(), 0..40),
        ),
        0..12,
    );
    let valid = items
        .prop_map(|items| encode_request(items.iter().map(|(s, k, v)| (*s, *k, v.as_slice()))))
        .boxed();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| [b"MEL1".as_slice(), &b].concat()),
        valid.clone(),
        (
            valid.clone(),
            prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)
        )
            .prop_map(|(mut b, flips)| {
                for (at, byte) in flips {
                    let at = at % b.len();
                    b[at] = byte;
                }
                b
            }),
        (valid.clone(), any::<usize>()).prop_map(|(b, cut)| b[..cut % (b.len() + 1)].to_vec()),
        (valid.clone(), prop::collection::vec(any::<u8>(), 1..20))
            .prop_map(|(b, tail)| [b, tail].concat()),
        (
            valid.clone(),
            prop_oneof![
                Just(u32::MAX),
                Just(4 * 1024 * 1024 + 1),
                any::<u32>(),
                0..20u32
            ]
        )
            .prop_map(|(mut b, count)| {
                b[4..8].copy_from_slice(&count.to_le_bytes());
                b
            }),
        (
            valid,
            any::<usize>(),
            prop_oneof![Just(u32::MAX), any::<u32>(), 0..64u32]
        )
            .prop_map(|(mut b, at, len)| {
                // Replace the length field of one item (found by walking the buffer).
                let mut offsets = Vec::new();
                let mut p = 8;
                while p + 9 <= b.len() {
                    offsets.push(p + 5);
                    let l = u32::from_le_bytes(b[p + 5..p + 9].try_into().unwrap()) as usize;
                    p += 9 + l;
                }
                if !offsets.is_empty() {
                    let o = offsets[at % offsets.len()];
                    b[o..o + 4].copy_from_slice(&len.to_le_bytes());
                }
                b
            }),
    ]
}

#[test]
fn wire_decoder() {
    FUZZ.run(
        "wire",
        "batch wire decoder (engine wire::decode, format MEL1)",
        "no panic; an accepted buffer re-encodes to exactly the same bytes (every byte read once, none past the end, none left over); a refused one gives a message, naming an offset inside the buffer when truncated",
        batch_buffers(),
        |buf| {
            match decode(&buf) {
                Ok(items) => {
                    let again = encode_request(items.iter().map(|i| (i.slot, i.kind, i.value)));
                    prop_assert_eq!(again, buf);
                }
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    if let misp_enrich_engine::WireError::Truncated { at, left, .. } = e {
                        prop_assert!(at <= buf.len() && at + left == buf.len());
                    }
                }
            }
            Ok(())
        },
    );
}

// ---- whole batches through a real engine -------------------------------------

/// What the fuzzed engine's memcached holds: namespace → normalised value → entries.
struct Store {
    server: TestServer,
    indicators: BTreeMap<Namespace, BTreeMap<String, String>>,
}

const EVENT_META: &str = r#"{"id":"7","info":"control","threat_level":"high","junk":"x"}"#;

/// Starts memcached (stopped when the Store is dropped) with the indicators.
fn start_store() -> Store {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    let raw = [
        (Namespace::Ip, "203.0.113.7", "7#ip-dst"),
        (Namespace::Ip, "2001:db8::7", "8#ip-src,7#ip-dst"),
        (Namespace::Domain, "evil.example", "9#domain"),
        (Namespace::Domain, "xn--bcher-kva.example", "10#hostname"),
        (Namespace::Url, "http://evil.example/gate.php?a=B", "11#url"),
        (Namespace::Sha256, &"ab".repeat(32), "12#sha256"),
        (Namespace::Md5, &"0f".repeat(16), "13#md5"),
        (Namespace::Sha1, &"c0".repeat(20), "14#filename|sha1"),
        (
            Namespace::UserAgent,
            "Evil Agent/1.0 (x\r\ny)",
            "15#user-agent",
        ),
        (Namespace::Regkey, "hklm\\software\\evil", "16#regkey"),
        (Namespace::NamedPipe, "evilpipe", "17#named pipe"),
        (Namespace::Email, "bad@evil.example", "18#email-src"),
    ];
    let mut indicators: BTreeMap<Namespace, BTreeMap<String, String>> = BTreeMap::new();
    for (ns, value, entries) in raw {
        put(&servers, ns, value, entries);
        let n = normalize(ns, value).unwrap().as_exact().unwrap().to_owned();
        indicators
            .entry(ns)
            .or_default()
            .insert(n, EntryList::parse(entries).entries.to_string());
    }
    set_raw(&servers, "misp-event:7", EVENT_META.as_bytes(), 0);
    Store { server, indicators }
}

fn fuzz_engine(store: &Store) -> Engine {
    let mut c = Config::new(&[store.server.addr()]);
    c.connect_timeout_ms = 2_000;
    c.io_timeout_ms = 5_000;
    c.range_refresh_ms = 0;
    c.domain_match = misp_enrich_engine::DomainMatch::Suffix;
    c.cache_size = 500;
    Engine::new(&c).unwrap()
}

/// Log values: spellings of stored indicators (case, padding, dots, IPv6
/// forms, Sysmon Hashes strings), near misses, and hostile text.
fn log_value() -> impl Strategy<Value = (Kind, Vec<u8>)> {
    let indicator = prop::sample::select(vec![
        (Namespace::Ip, "203.0.113.7"),
        (Namespace::Ip, "2001:DB8:0:0::7"),
        (Namespace::Ip, "::ffff:203.0.113.7"),
        (Namespace::Ip, "[2001:db8::7]"),
        (Namespace::Ip, "203.0.113.7/32"),
        (Namespace::Domain, "EVIL.example."),
        (Namespace::Domain, "a.b.evil.example"),
        (Namespace::Domain, "bücher.example"),
        (Namespace::Domain, "x.xn--bcher-kva.example"),
        (Namespace::Url, "HTTP://Evil.Example:80/gate.php?a=B#frag"),
        (
            Namespace::Sha256,
            "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
        ),
        (Namespace::Md5, " 0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F "),
        (Namespace::UserAgent, "Evil Agent/1.0 (x\r\ny)"),
        (Namespace::Regkey, "HKEY_LOCAL_MACHINE\\Software\\Evil\\"),
        (Namespace::NamedPipe, "\\\\.\\pipe\\EvilPipe"),
        (Namespace::Email, "BAD@Evil.Example"),
    ]);
    let mutate = (indicator.clone(), any::<usize>(), any::<char>(), 0..3u8).prop_map(
        |((ns, v), at, c, how)| {
            let mut chars: Vec<char> = v.chars().collect();
            let at = at % (chars.len() + 1);
            match how {
                0 => chars.insert(at, c),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ if at < chars.len() => chars[at] = c,
                _ => {}
            }
            (
                Kind::Namespace(ns),
                chars.into_iter().collect::<String>().into_bytes(),
            )
        },
    );
    let hashes = prop::collection::vec(
        prop::sample::select(vec![
            "SHA256=ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
            "md5 = 0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
            "SHA1=C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0",
            "IMPHASH=00000000000000000000000000000000",
            "CRC32=1234",
            "junk",
            "SHA256=\r\nflush_all",
        ]),
        0..6,
    )
    .prop_map(|parts| (Kind::SysmonHashes, parts.join(",").into_bytes()));
    prop_oneof![
        4 => indicator.prop_map(|(ns, v)| (Kind::Namespace(ns), v.as_bytes().to_vec())),
        3 => mutate,
        2 => hashes,
        2 => (kinds(), prop::collection::vec(any::<u8>(), 0..60)),
        2 => (kinds(), "[ -~]{0,30}(\r\n)?(flush_all|delete misp-ip:203.0.113.7)?".prop_map(String::into_bytes)),
    ]
}

/// One match of a parsed result: namespace id, kind, value, (event id, type) entries.
type ParsedMatch = (u8, u8, String, Vec<(String, String)>);

/// A result buffer (MER1), read strictly.
#[derive(Debug)]
struct Parsed {
    slots: Vec<(u32, bool, Vec<ParsedMatch>)>,
    events: Vec<(String, String)>,
}

fn parse_result(buf: &[u8]) -> Result<Parsed, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let part = buf
            .get(at..at + n)
            .ok_or_else(|| format!("result truncated at {at}"))?;
        at += n;
        Ok(part)
    };
    if take(4)? != RESULT_MAGIC {
        return Err("bad magic".into());
    }
    let u32_ = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    let records = u32_(take(4)?);
    let mut slots = Vec::new();
    for _ in 0..records {
        let slot = u32_(take(4)?);
        let flags = take(1)?[0];
        if flags > 1 {
            return Err(format!("flags {flags}"));
        }
        let n = u32_(take(4)?);
        let mut matches = Vec::new();
        for _ in 0..n {
            let ns = take(1)?[0];
            let kind = take(1)?[0];
            let len = u32_(take(4)?) as usize;
            let value = String::from_utf8(take(len)?.to_vec()).map_err(|e| e.to_string())?;
            let entries_n = u32_(take(4)?);
            let mut entries = Vec::new();
            for _ in 0..entries_n {
                let l = u32_(take(4)?) as usize;
                let id = String::from_utf8(take(l)?.to_vec()).map_err(|e| e.to_string())?;
                let l = u32_(take(4)?) as usize;
                let ty = String::from_utf8(take(l)?.to_vec()).map_err(|e| e.to_string())?;
                entries.push((id, ty));
            }
            matches.push((ns, kind, value, entries));
        }
        slots.push((slot, flags == 1, matches));
    }
    let events_n = u32_(take(4)?);
    let mut events = Vec::new();
    for _ in 0..events_n {
        let l = u32_(take(4)?) as usize;
        let id = String::from_utf8(take(l)?.to_vec()).map_err(|e| e.to_string())?;
        let l = u32_(take(4)?) as usize;
        let json = String::from_utf8(take(l)?.to_vec()).map_err(|e| e.to_string())?;
        events.push((id, json));
    }
    if at != buf.len() {
        return Err(format!("{} bytes after the result", buf.len() - at));
    }
    Ok(Parsed { slots, events })
}

/// (namespace, normalised value) pairs an item asks for, as the core sees it.
fn wanted(kind: Kind, value: &[u8]) -> Vec<(Namespace, String)> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Vec::new();
    };
    let parts: Vec<(Namespace, String)> = match kind {
        Kind::Namespace(ns) => vec![(ns, text.to_owned())],
        Kind::SysmonHashes => text
            .split(',')
            .filter_map(|p| {
                let (name, v) = p.split_once('=')?;
                let ns: Namespace = name.trim().to_ascii_lowercase().parse().ok()?;
                matches!(
                    ns,
                    Namespace::Md5
                        | Namespace::Sha1
                        | Namespace::Sha224
                        | Namespace::Sha256
                        | Namespace::Sha384
                        | Namespace::Sha512
                        | Namespace::Imphash
                )
                .then(|| (ns, v.trim().to_owned()))
            })
            .collect(),
    };
    parts
        .into_iter()
        .filter_map(|(ns, v)| match normalize(ns, &v) {
            Ok(Normalized::Exact(n)) => Some((ns, n.into_owned())),
            _ => None,
        })
        .collect()
}

#[test]
fn engine_batches() {
    let store = start_store();
    let engine = fuzz_engine(&store);
    let ns_names: Vec<&str> = Kind::all().map(Kind::name).collect();
    FUZZ.run(
        "engine",
        "whole batches through a real engine and memcached (engine lookup_wire, result format MER1)",
        "no panic, no error for a well-formed batch; the result parses strictly (slots ascending and unique, each one the batch sent, known namespace ids and kinds, nothing after the end); every item spelling a stored indicator gets it (the engine's fast paths agree with the core's normalisation); every match is a stored indicator the slot's values ask for, with its stored entries; no slot flagged failed while memcached is up; event metadata only for matched events, re-serialised (unknown fields dropped)",
        prop::collection::vec((0..24u32, log_value()), 0..40),
        |items| {
            let buf = encode_request(items.iter().map(|(s, (k, v))| (*s, *k, v.as_slice())));
            let out = engine
                .lookup_wire(&buf)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let parsed = parse_result(&out).map_err(TestCaseError::fail)?;
            let sent: BTreeSet<u32> = items.iter().map(|(s, _)| *s).collect();
            let mut previous = None;
            let mut matched_events = BTreeSet::new();
            for (slot, failed, matches) in &parsed.slots {
                prop_assert!(previous < Some(*slot), "slots not ascending: {:?}", parsed.slots);
                previous = Some(*slot);
                prop_assert!(sent.contains(slot), "slot {} was not sent", slot);
                prop_assert!(!failed, "slot {} failed with memcached up", slot);
                let asks: Vec<(Namespace, String)> = items
                    .iter()
                    .filter(|(s, _)| s == slot)
                    .flat_map(|(_, (k, v))| wanted(*k, v))
                    .collect();
                for (ns_id, kind, value, entries) in matches {
                    let ns: Namespace = ns_names
                        .get(usize::from(*ns_id))
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| TestCaseError::fail(format!("namespace id {ns_id}")))?;
                    let stored = store
                        .indicators
                        .get(&ns)
                        .and_then(|m| m.get(value))
                        .ok_or_else(|| TestCaseError::fail(format!("{ns}:{value} is not stored")))?;
                    let written: Vec<String> = entries.iter().map(|(i, t)| format!("{i}#{t}")).collect();
                    prop_assert_eq!(&written.join(","), stored);
                    let asked = match kind {
                        0 => asks.iter().any(|(n, v)| *n == ns && v == value),
                        2 => asks.iter().any(|(n, v)| {
                            *n == ns && ns == Namespace::Domain && v.ends_with(&format!(".{value}"))
                        }),
                        _ => false,
                    };
                    prop_assert!(asked, "slot {} matched {}:{} (kind {}) but asked {:?}", slot, ns, value, kind, asks);
                    matched_events.extend(entries.iter().map(|(i, _)| i.clone()));
                }
            }
            // Completeness: every stored indicator an item spells is reported.
            for (slot, (kind, value)) in &items {
                for (ns, n) in wanted(*kind, value) {
                    if store.indicators.get(&ns).is_some_and(|m| m.contains_key(&n)) {
                        let found = parsed.slots.iter().any(|(s, _, ms)| {
                            s == slot && ms.iter().any(|(_, k, v, _)| *k == 0 && *v == n)
                        });
                        prop_assert!(found, "slot {} asked {}:{} (stored) but got {:?}", slot, ns, n, parsed.slots);
                    }
                }
            }
            for (id, json) in &parsed.events {
                prop_assert!(matched_events.contains(id), "metadata of unmatched event {}", id);
                let v: serde_json::Value = serde_json::from_str(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(v.get("junk").is_none(), "unknown field passed: {}", json);
            }
            if matched_events.contains("7") {
                prop_assert!(parsed.events.iter().any(|(id, _)| id == "7"));
            }
            Ok(())
        },
    );
    assert_eq!(engine.stats().totals.failed_slots, 0);
}

// ---- the configuration parser --------------------------------------------------

const KNOWN_FIELDS: &[&str] = &[
    "servers",
    "prefix",
    "connect_timeout_ms",
    "io_timeout_ms",
    "batch_timeout_ms",
    "cache_size",
    "cache_ttl_ms",
    "negative_ttl_ms",
    "domain_match",
    "range_refresh_ms",
    "range_timeout_ms",
    "breaker_failures",
    "breaker_backoff_ms",
    "event_metadata",
    "max_idle_connections",
];

fn closed_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(misp_enrich_memcached::free_port)
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let port = closed_port();
    let server = prop::sample::select(vec![
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("localhost:{port}"),
        "127.0.0.1:0".into(),
        "127.0.0.1:99999".into(),
        "a b:1".into(),
        "".into(),
        ":".into(),
        "[::1".into(),
        "127.0.0.1:1:2".into(),
        "x".repeat(300),
        "host\r\n:1".into(),
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(u64::MAX / 1000),
            0..5_000u64
        ]
        .prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "exact", "suffix", "EXACT", "fuzzy", "misp", "a b", "misp-x"
        ])
        .prop_map(|s| Value::String(s.into())),
        prop::collection::vec(server, 0..4).prop_map(|v| json!(v)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Configuration text: JSON objects of known and unknown fields with values
/// of any type, cut or corrupted JSON, and arbitrary text.
fn config_text() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        6 => prop::sample::select(KNOWN_FIELDS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_ \r\n\u{0}é]{0,12}",
    ];
    let object = prop::collection::vec((field, json_value()), 0..8)
        .prop_map(|pairs| {
            let mut map = serde_json::Map::new();
            for (k, v) in pairs {
                map.insert(k, v);
            }
            serde_json::Value::Object(map).to_string()
        })
        .boxed();
    // Valid configurations with a few fields set to anything.
    let port = closed_port();
    let near_valid = prop::collection::vec(
        (
            prop::sample::select(KNOWN_FIELDS[1..].to_vec()),
            json_value(),
        ),
        0..4,
    )
    .prop_map(move |pairs| {
        let mut map = serde_json::Map::new();
        map.insert(
            "servers".into(),
            serde_json::json!([format!("127.0.0.1:{port}")]),
        );
        for (k, v) in pairs {
            map.insert(k.to_owned(), v);
        }
        serde_json::Value::Object(map).to_string()
    });
    // Every field of the right type, at extreme values.
    let number = prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX / 1_000),
        Just(u64::from(u32::MAX)),
        1..100_000u64
    ];
    let typed = (
        prop::collection::vec(
            (prop::sample::select(KNOWN_FIELDS[2..].to_vec()), number),
            0..8,
        ),
        prop::sample::select(vec!["exact", "suffix"]),
        any::<bool>(),
        "[A-Za-z0-9_.]{1,64}|[ -~]{0,3}",
    )
        .prop_map(move |(numbers, domain_match, metadata, prefix)| {
            let mut map = serde_json::Map::new();
            map.insert(
                "servers".into(),
                serde_json::json!([format!("127.0.0.1:{port}")]),
            );
            map.insert("prefix".into(), serde_json::json!(prefix));
            map.insert("domain_match".into(), serde_json::json!(domain_match));
            map.insert("event_metadata".into(), serde_json::json!(metadata));
            for (k, v) in numbers {
                let v = if matches!(k, "breaker_failures") {
                    v.min(u64::from(u32::MAX))
                } else {
                    v
                };
                map.insert(k.to_owned(), serde_json::json!(v));
            }
            serde_json::Value::Object(map).to_string()
        });
    prop_oneof![
        4 => typed,
        4 => near_valid,
        4 => object.clone(),
        1 => (object.clone(), any::<usize>()).prop_map(|(s, cut)| {
            let mut end = cut % (s.len() + 1);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        }),
        1 => (object, any::<usize>(), any::<char>()).prop_map(|(s, at, c)| {
            let mut chars: Vec<char> = s.chars().collect();
            let at = at % (chars.len() + 1);
            chars.insert(at, c);
            chars.into_iter().collect()
        }),
        1 => any::<String>(),
        1 => Just("1e400".to_owned()),
        1 => Just(r#"{"servers":["127.0.0.1:1"],"io_timeout_ms":1e400}"#.to_owned()),
    ]
}

#[test]
fn config_parser() {
    let port = closed_port();
    let accepted = AtomicU64::new(0);
    let built = AtomicU64::new(0);
    FUZZ.run_noting(
        "config",
        "engine configuration parser (Config::from_json) and Engine::new on what it accepts",
        "no panic; a refused configuration gives a non-empty message (naming the field for unknown ones); an accepted one builds an engine or gives a message, and that engine answers a lookup (servers down: slots flagged failed, within its budget) and frees cleanly",
        config_text(),
        |text| {
            match Config::from_json(&text) {
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(message.len() > "invalid misp-enrich engine configuration: ".len());
                    if message.contains("unknown field") {
                        prop_assert!(message.contains("expected one of") || message.contains("there are no fields"));
                    }
                }
                Ok(mut config) => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    // Only loopback addresses that refuse connections: no DNS,
                    // no waiting on a real network.
                    config.servers.retain(|s| !s.contains("localhost") || s.ends_with(&port.to_string()));
                    let started = Instant::now();
                    match Engine::new(&config) {
                        Err(e) => prop_assert!(!e.to_string().is_empty()),
                        Ok(engine) => {
                            built.fetch_add(1, Ordering::Relaxed);
                            let ip = Kind::Namespace(Namespace::Ip);
                            let buf = encode_request([(0, ip, b"203.0.113.7".as_slice()), (1, ip, b"x".as_slice())]);
                            let out = engine.lookup_wire(&buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
                            let parsed = parse_result(&out).map_err(TestCaseError::fail)?;
                            prop_assert!(parsed.slots.iter().all(|(s, failed, m)| *s == 0 && *failed && m.is_empty()));
                            let _ = serde_json::to_string(&engine.stats()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                            drop(engine);
                        }
                    }
                    // Refused loopback connects: nothing here may wait long,
                    // whatever the configured timeouts.
                    prop_assert!(started.elapsed() < Duration::from_secs(10), "{:?} took {:?}", text, started.elapsed());
                }
            }
            Ok(())
        },
        || {
            format!(
                " ({} accepted by the parser, {} engines built and used)",
                accepted.load(Ordering::Relaxed),
                built.load(Ordering::Relaxed)
            )
        },
    );
}

// ---- regressions ---------------------------------------------------------------

/// Issue 7: one Sysmon `Hashes` field of 10 MB made ~145,000 lookups, which
/// evicted the whole cache and could use up the batch's time budget for
/// every other event of the batch. Now at most 16 hashes are taken per field.
#[test]
fn issue7_hashes_field_is_capped() {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    put(&servers, Namespace::Ip, "203.0.113.7", "7#ip-dst");
    let engine = engine(&config(&servers));
    let huge: String = (0..100_000).map(|i| format!("SHA256={i:064x},")).collect();
    let out = engine.lookup(&[
        item(0, Namespace::Ip, "203.0.113.7"),
        misp_enrich_engine::Item {
            slot: 1,
            kind: Kind::SysmonHashes,
            value: huge.as_bytes(),
        },
    ]);
    assert_eq!(matched(&out), vec![0]);
    assert!(failed(&out).is_empty());
    // The IP and the first 16 hashes.
    assert_eq!(engine.stats().totals.lookups, 17);
}

/// Issue 7 (found by `config_parser`): `max_idle_connections` of 2^64-1
/// panicked in Engine::new (capacity overflow), and a merely huge one made
/// it allocate the whole idle queue at once and abort the process. Both are
/// now configuration errors naming the field.
#[test]
fn issue7_absurd_max_idle_connections_is_a_config_error() {
    for n in [u64::MAX, 1 << 40, 4_097] {
        let json = format!(r#"{{"servers":["127.0.0.1:1"],"max_idle_connections":{n}}}"#);
        let config = Config::from_json(&json).unwrap();
        match Engine::new(&config) {
            Err(e) => assert!(e.to_string().contains("max_idle_connections"), "{e}"),
            Ok(_) => panic!("{json} was accepted"),
        }
    }
    let ok =
        Config::from_json(r#"{"servers":["127.0.0.1:1"],"max_idle_connections":4096}"#).unwrap();
    assert!(Engine::new(&ok).is_ok());
}
