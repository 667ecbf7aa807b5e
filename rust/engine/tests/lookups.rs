//! Lookups against a real memcached: exact, seed-format values, Sysmon
//! hashes, suffix and range matches, event metadata, values that are not
//! ours, the cache and the negative cache, and three servers.
#![allow(clippy::unwrap_used)]

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use misp_enrich_core::ranges::{encode_chunks, RangeIndexHead};
use misp_enrich_core::{EntryList, Keyspace, Namespace};
use misp_enrich_engine::{DomainMatch, Engine, Item, Kind, MatchKind};

const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

mod exact {
    use super::*;

    #[test]
    fn exact_hits_misses_and_seed_format_values() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        // The seed's loader wrote values like this: spaces, empty parts.
        put(
            &servers,
            Namespace::Domain,
            "trencansky.sk",
            "1#domain, 2#domain,,",
        );
        put(&servers, Namespace::Ip, "10.0.0.1", "7#ip-dst");
        put(
            &servers,
            Namespace::Sha256,
            SHA256,
            "3#sha256,3#sha256,4#filename|sha256",
        );
        let engine = engine(&config(&servers));
        let upper = SHA256.to_ascii_uppercase();
        let out = engine.lookup(&[
            item(0, Namespace::Domain, "Trencansky.SK."),
            item(1, Namespace::Ip, "10.0.0.2"),
            item(2, Namespace::Ip, "::ffff:10.0.0.1"),
            item(3, Namespace::Sha256, &upper),
            item(4, Namespace::Url, "http://nothing.example/"),
        ]);
        assert_eq!(
            matches(&out, 0),
            vec![(
                "domain".into(),
                MatchKind::Exact,
                "trencansky.sk".into(),
                "1#domain,2#domain".into()
            )]
        );
        assert_eq!(
            matches(&out, 2),
            vec![(
                "ip".into(),
                MatchKind::Exact,
                "10.0.0.1".into(),
                "7#ip-dst".into()
            )]
        );
        assert_eq!(
            matches(&out, 3),
            vec![(
                "sha256".into(),
                MatchKind::Exact,
                SHA256.into(),
                "3#sha256,4#filename|sha256".into()
            )]
        );
        // Only slots that matched or failed are reported.
        assert_eq!(matched(&out), vec![0, 2, 3]);
        assert!(failed(&out).is_empty());
        let stats = engine.stats();
        assert_eq!(stats.totals.items, 5);
        assert_eq!(stats.totals.matches, 3);
        assert_eq!(
            stats.totals.memcached_round_trips, 1,
            "one multi-get for the whole batch"
        );
        assert_eq!(stats.totals.memcached_keys, 5);
    }

    #[test]
    fn debug_output_never_shows_indicators() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(
            &servers,
            Namespace::Domain,
            "secret-indicator.example",
            "1#domain",
        );
        let engine = engine(&config(&servers));
        let out = engine.lookup(&[item(0, Namespace::Domain, "secret-indicator.example")]);
        assert_eq!(matched(&out), vec![0]);
        let debug = format!("{engine:?}");
        assert!(debug.contains("cache_entries: 1"), "{debug}");
        assert!(!debug.contains("secret-indicator"), "{debug}");
    }

    #[test]
    fn values_are_deduplicated_and_slots_merged() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(&servers, Namespace::Ip, "10.9.9.9", "5#ip-src");
        let engine = engine(&config(&servers));
        // Slot 4 appears twice, not adjacent; the same IP in two spellings.
        let out = engine.lookup(&[
            item(4, Namespace::Ip, "10.9.9.9"),
            item(1, Namespace::Ip, "10.9.9.9"),
            item(4, Namespace::Ip, "::ffff:10.9.9.9"),
            item(4, Namespace::Domain, "not-there.example"),
        ]);
        assert_eq!(matched(&out), vec![1, 4]);
        assert_eq!(matches(&out, 4).len(), 1, "one match per value per slot");
        assert_eq!(out.slots.iter().filter(|s| s.slot == 4).count(), 1);
        let stats = engine.stats();
        assert_eq!(stats.totals.lookups, 2, "10.9.9.9 once, the domain once");
        assert_eq!(stats.totals.memcached_keys, 2);
    }

    #[test]
    fn values_that_cannot_be_indicators_are_skipped_not_fatal() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(&servers, Namespace::Ip, "10.1.1.1", "1#ip-dst");
        let engine = engine(&config(&servers));
        let big = "a".repeat(1 << 20);
        let out = engine.lookup(&[
            Item {
                slot: 0,
                kind: Kind::Namespace(Namespace::Ip),
                value: b"\xff\xfe10.1.1.1",
            },
            item(1, Namespace::Url, &big),
            item(2, Namespace::Sha256, "not-a-hash"),
            item(3, Namespace::Ip, ""),
            item(4, Namespace::Ip, "10.0.0.0/8"),
            item(5, Namespace::Ip, "10.1.1.1"),
        ]);
        assert_eq!(matched(&out), vec![5]);
        assert!(failed(&out).is_empty());
        assert_eq!(engine.stats().totals.invalid_values, 5);
    }
}

mod stored_values {
    use super::*;

    #[test]
    fn dalli_marshal_values_and_garbage_are_misses_and_counted() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        let ks = Keyspace::default();
        // Dalli's Marshal flag (1): written by another client.
        set_raw(
            &servers,
            &ks.key(Namespace::Domain, "marshal.example"),
            b"\x04\x08I\"\x0e1#domain\x06:\x06ET",
            1,
        );
        set_raw(
            &servers,
            &ks.key(Namespace::Domain, "garbage.example"),
            b"hello world",
            0,
        );
        set_raw(
            &servers,
            &ks.key(Namespace::Domain, "binary.example"),
            b"\xff\x00\x01",
            0,
        );
        set_raw(
            &servers,
            &ks.key(Namespace::Domain, "half.example"),
            b"junk,9#domain",
            0,
        );
        let engine = engine(&config(&servers));
        let out = engine.lookup(&[
            item(0, Namespace::Domain, "marshal.example"),
            item(1, Namespace::Domain, "garbage.example"),
            item(2, Namespace::Domain, "binary.example"),
            item(3, Namespace::Domain, "half.example"),
        ]);
        assert_eq!(matched(&out), vec![3]);
        assert_eq!(matches(&out, 3)[0].3, "9#domain");
        let t = engine.stats().totals;
        assert_eq!(t.foreign_values, 3);
        assert_eq!(t.malformed_entries, 1 + 1, "`hello world` and `junk`");
        assert_eq!(t.memcached_hits, 4);
    }

    #[test]
    fn event_metadata_is_returned_for_hits_and_cached() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(
            &servers,
            Namespace::Domain,
            "evil.example",
            "42#domain,43#domain",
        );
        let meta = r#"{"id":"42","uuid":"u-1","info":"Emotet wave","threat_level":"high","date":"2024-01-02","org":"CIRCL","tags":["tlp:amber"],"loaded_at":1700000000,"unknown":1}"#;
        set_raw(
            &servers,
            &Keyspace::default().event_key("42"),
            meta.as_bytes(),
            0,
        );
        let mut c = config(&servers);
        c.event_metadata = true;
        let engine = engine(&c);
        let out = engine.lookup(&[
            item(0, Namespace::Domain, "evil.example"),
            item(1, Namespace::Domain, "fine.example"),
        ]);
        assert_eq!(out.events.len(), 1, "event 43 has no metadata");
        let (id, json) = &out.events[0];
        assert_eq!(id, "42");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["info"], "Emotet wave");
        assert_eq!(v["tags"][0], "tlp:amber");
        assert!(
            v.get("unknown").is_none(),
            "only known fields are passed on"
        );
        assert_eq!(
            engine.stats().totals.memcached_round_trips,
            2,
            "keys, then metadata of hits only"
        );
        // Second time: everything from the cache (the negative for 43 too).
        let again = engine.lookup(&[item(0, Namespace::Domain, "evil.example")]);
        assert_eq!(again.events, out.events);
        let t = engine.stats().totals;
        assert_eq!(t.memcached_round_trips, 2);
        assert_eq!(t.event_cache_hits, 2);
    }

    #[test]
    fn no_metadata_round_trip_when_turned_off_or_nothing_matched() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(&servers, Namespace::Domain, "evil.example", "42#domain");
        let mut c = config(&servers);
        c.event_metadata = false;
        let off = engine(&c);
        let out = off.lookup(&[item(0, Namespace::Domain, "evil.example")]);
        assert_eq!(matched(&out), vec![0]);
        assert!(out.events.is_empty());
        assert_eq!(off.stats().totals.memcached_round_trips, 1);
        c.event_metadata = true;
        let on = engine(&c);
        assert!(on
            .lookup(&[item(0, Namespace::Domain, "fine.example")])
            .slots
            .is_empty());
        assert_eq!(on.stats().totals.memcached_round_trips, 1);
    }
}

mod hashes {
    use super::*;

    #[test]
    fn sysmon_hashes_go_to_their_own_namespaces() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(&servers, Namespace::Sha256, SHA256, "1#sha256");
        put(&servers, Namespace::Md5, MD5, "2#md5");
        let engine = engine(&config(&servers));
        let sysmon = format!(
            "SHA1=DA39A3EE5E6B4B0D3255BFEF95601890AFD80709,MD5={},SHA256={},IMPHASH=00000000000000000000000000000000",
            MD5.to_ascii_uppercase(),
            SHA256.to_ascii_uppercase()
        );
        let lower_names = format!("sha256={SHA256},md5=ffffffffffffffffffffffffffffffff");
        let out = engine.lookup(&[
            Item {
                slot: 0,
                kind: Kind::SysmonHashes,
                value: sysmon.as_bytes(),
            },
            Item {
                slot: 1,
                kind: Kind::SysmonHashes,
                value: lower_names.as_bytes(),
            },
            Item {
                slot: 2,
                kind: Kind::SysmonHashes,
                value: b"CRC=1",
            },
        ]);
        assert_eq!(
            matches(&out, 0),
            vec![
                ("md5".into(), MatchKind::Exact, MD5.into(), "2#md5".into()),
                (
                    "sha256".into(),
                    MatchKind::Exact,
                    SHA256.into(),
                    "1#sha256".into()
                ),
            ]
        );
        assert_eq!(
            matches(&out, 1),
            vec![(
                "sha256".into(),
                MatchKind::Exact,
                SHA256.into(),
                "1#sha256".into()
            )]
        );
        assert_eq!(
            engine.stats().totals.invalid_values,
            1,
            "a Hashes string without a known hash"
        );
    }
}

mod suffix {
    use super::*;

    #[test]
    fn suffix_matching_reports_the_parent_on_label_boundaries_only() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(&servers, Namespace::Domain, "evil.example", "1#domain");
        put(&servers, Namespace::Domain, "il.example", "2#domain");
        put(&servers, Namespace::Domain, "co.uk", "3#domain");
        put(&servers, Namespace::Domain, "bad.co.uk", "4#domain");
        put(&servers, Namespace::Domain, "example", "5#domain");
        let mut c = config(&servers);
        c.domain_match = DomainMatch::Suffix;
        let engine = engine(&c);
        let out = engine.lookup(&[
            item(0, Namespace::Domain, "a.b.evil.example"),
            item(1, Namespace::Domain, "x.bad.co.uk"),
            item(2, Namespace::Domain, "fine.co.uk"),
            item(3, Namespace::Domain, "evil.example"),
            item(4, Namespace::Domain, "devil.example"),
        ]);
        assert_eq!(
            matches(&out, 0),
            vec![(
                "domain".into(),
                MatchKind::Suffix,
                "evil.example".into(),
                "1#domain".into()
            )]
        );
        assert_eq!(
            matches(&out, 1),
            vec![(
                "domain".into(),
                MatchKind::Suffix,
                "bad.co.uk".into(),
                "4#domain".into()
            )]
        );
        assert_eq!(
            matches(&out, 3),
            vec![(
                "domain".into(),
                MatchKind::Exact,
                "evil.example".into(),
                "1#domain".into()
            )]
        );
        // `co.uk` and `example` are public suffixes; `il.example` is not on a
        // label boundary of `devil.example`.
        assert_eq!(matched(&out), vec![0, 1, 3]);

        // In exact mode (the default) parents are not looked up.
        let exact = engine_exact(&servers);
        let out = exact.lookup(&[item(0, Namespace::Domain, "a.b.evil.example")]);
        assert!(out.slots.is_empty());
    }

    fn engine_exact(servers: &[String]) -> Engine {
        engine(&config(servers))
    }
}

mod ranges {
    use super::*;

    fn write_index(servers: &[String], generation: u64, ranges: &[(&str, &str)]) {
        let parsed: Vec<(ipnet::IpNet, EntryList)> = ranges
            .iter()
            .map(|(n, e)| (n.parse().unwrap(), EntryList::parse(e).entries))
            .collect();
        let chunks = encode_chunks(parsed.iter().map(|(n, e)| (n, e)));
        let ks = Keyspace::default();
        for (i, chunk) in chunks.iter().enumerate() {
            set_raw(
                servers,
                &ks.ranges_chunk_key(generation, i as u32),
                chunk.as_bytes(),
                0,
            );
        }
        let head = RangeIndexHead {
            generation,
            chunks: chunks.len() as u32,
        };
        set_raw(
            servers,
            &ks.ranges_head_key(),
            head.to_string().as_bytes(),
            0,
        );
    }

    #[test]
    fn ips_match_ranges_and_exact_keys_both_reported() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        write_index(
            &servers,
            1,
            &[
                ("10.0.0.0/8", "1#ip-dst"),
                ("10.1.0.0/16", "2#ip-src"),
                ("2001:db8::/32", "3#ip-dst"),
            ],
        );
        put(&servers, Namespace::Ip, "10.1.2.3", "9#ip-dst");
        let engine = engine(&config(&servers));
        assert_eq!(engine.stats().ranges.ranges, 3);
        let out = engine.lookup(&[
            item(0, Namespace::Ip, "10.1.2.3"),
            item(1, Namespace::Ip, "2001:DB8::5"),
            item(2, Namespace::Ip, "11.0.0.1"),
        ]);
        assert_eq!(
            matches(&out, 0),
            vec![
                (
                    "ip".into(),
                    MatchKind::Exact,
                    "10.1.2.3".into(),
                    "9#ip-dst".into()
                ),
                (
                    "ip".into(),
                    MatchKind::Range,
                    "10.1.0.0/16".into(),
                    "2#ip-src".into()
                ),
                (
                    "ip".into(),
                    MatchKind::Range,
                    "10.0.0.0/8".into(),
                    "1#ip-dst".into()
                ),
            ]
        );
        assert_eq!(
            matches(&out, 1),
            vec![(
                "ip".into(),
                MatchKind::Range,
                "2001:db8::/32".into(),
                "3#ip-dst".into()
            )]
        );
        assert_eq!(matched(&out), vec![0, 1]);
        assert_eq!(engine.stats().totals.range_matches, 3);
    }

    #[test]
    fn the_index_is_refreshed_and_a_failed_refresh_keeps_the_old_one() {
        let mut server = TestServer::start();
        let servers = vec![server.addr()];
        write_index(&servers, 1, &[("192.168.0.0/16", "1#ip-dst")]);
        let mut c = config(&servers);
        c.range_refresh_ms = 100;
        let engine = engine(&c);
        let hit = |e: &Engine, ip: &str| !e.lookup(&[item(0, Namespace::Ip, ip)]).slots.is_empty();
        assert!(hit(&engine, "192.168.1.1"));
        write_index(&servers, 2, &[("172.16.0.0/12", "2#ip-dst")]);
        // The background refresher picks it up (bounded wait, no fixed sleep).
        let start = Instant::now();
        while !hit(&engine, "172.16.5.5") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the new index was never loaded"
            );
            sleep(Duration::from_millis(50));
        }
        assert!(!hit(&engine, "192.168.1.1"), "the old generation is gone");
        // memcached dies: refreshes fail, the index in memory stays.
        server.stop();
        assert!(engine.refresh_ranges().is_err());
        assert!(engine.stats().ranges.last_error.is_some());
        assert!(hit(&engine, "172.16.5.5"));
        // A head without its chunks (a loader mid-write) is refused too.
        server.restart();
        set_raw(
            &servers,
            &Keyspace::default().ranges_head_key(),
            b"v1 3 2",
            0,
        );
        assert!(engine.refresh_ranges().unwrap_err().contains("chunk 0"));
        assert!(hit(&engine, "172.16.5.5"));
        assert_eq!(engine.stats().ranges.generation, Some(2));
    }
}

mod cache {
    use super::*;

    #[test]
    fn cached_answers_are_served_without_memcached() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(&servers, Namespace::Domain, "evil.example", "1#domain");
        let engine = engine(&config(&servers));
        let batch = [
            item(0, Namespace::Domain, "evil.example"),
            item(1, Namespace::Domain, "fine.example"),
        ];
        assert_eq!(matched(&engine.lookup(&batch)), vec![0]);
        delete(&servers, Namespace::Domain, "evil.example");
        // Positive and negative answers both come from the cache now.
        assert_eq!(matched(&engine.lookup(&batch)), vec![0]);
        let t = engine.stats().totals;
        assert_eq!(t.memcached_round_trips, 1);
        assert_eq!(
            (t.cache_hits, t.cache_negative_hits, t.cache_misses),
            (2, 1, 2)
        );
    }

    #[test]
    fn an_indicator_added_after_a_negative_answer_is_found_once_its_ttl_passes() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        let mut c = config(&servers);
        c.negative_ttl_ms = 1_500;
        let engine = engine(&c);
        let batch = [item(0, Namespace::Domain, "late.example")];
        let first = Instant::now();
        assert!(engine.lookup(&batch).slots.is_empty());
        put(&servers, Namespace::Domain, "late.example", "8#domain");
        let still_negative = engine.lookup(&batch).slots.is_empty();
        // Only meaningful if the machine did not stall past the TTL.
        if first.elapsed() < Duration::from_millis(1_400) {
            assert!(still_negative, "the negative answer was not cached");
            assert_eq!(engine.stats().totals.cache_negative_hits, 1);
        }
        sleep(Duration::from_millis(1_600));
        assert_eq!(matched(&engine.lookup(&batch)), vec![0]);
    }

    #[test]
    fn positive_answers_expire_after_their_own_ttl() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        put(&servers, Namespace::Domain, "gone.example", "8#domain");
        let mut c = config(&servers);
        c.cache_ttl_ms = 500;
        c.negative_ttl_ms = 60_000;
        let engine = engine(&c);
        let batch = [item(0, Namespace::Domain, "gone.example")];
        assert_eq!(matched(&engine.lookup(&batch)), vec![0]);
        delete(&servers, Namespace::Domain, "gone.example");
        sleep(Duration::from_millis(700));
        assert!(
            engine.lookup(&batch).slots.is_empty(),
            "the expired positive answer was served"
        );
    }

    #[test]
    fn cache_size_zero_always_asks_memcached() {
        let server = TestServer::start();
        let servers = vec![server.addr()];
        let mut c = config(&servers);
        c.cache_size = 0;
        let engine = engine(&c);
        let batch = [item(0, Namespace::Domain, "x.example")];
        engine.lookup(&batch);
        engine.lookup(&batch);
        assert_eq!(engine.stats().totals.memcached_round_trips, 2);
    }
}

mod three_servers {
    use super::*;

    #[test]
    fn keys_are_read_from_the_server_the_ring_picks() {
        let servers_owned: Vec<TestServer> = (0..3).map(|_| TestServer::start()).collect();
        let servers: Vec<String> = servers_owned.iter().map(TestServer::addr).collect();
        let values: Vec<String> = (0..60).map(|i| format!("host{i}.evil.example")).collect();
        for (i, v) in values.iter().enumerate() {
            if i % 3 != 0 {
                put(&servers, Namespace::Domain, v, &format!("{i}#domain"));
            }
        }
        let engine = engine(&config(&servers));
        let batch: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| item(i as u32, Namespace::Domain, v))
            .collect();
        let out = engine.lookup(&batch);
        let expected: Vec<u32> = (0..60).filter(|i| i % 3 != 0).collect();
        assert_eq!(matched(&out), expected);
        for i in &expected {
            assert_eq!(matches(&out, *i)[0].3, format!("{i}#domain"));
        }
        let stats = engine.stats();
        assert_eq!(
            stats.totals.memcached_round_trips, 3,
            "one multi-get per server"
        );
        assert!(stats.servers.iter().all(|s| s.keys > 0));
    }
}
