//! The batch wire format: a proptest on the decoder (arbitrary and mutated
//! buffers never panic, never over-allocate, and valid ones round-trip), and
//! malformed or absurd buffers through a real engine.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use misp_enrich_core::Namespace;
use misp_enrich_engine::wire::{decode, encode_request, Item, Kind, MAX_ITEMS, RESULT_MAGIC};
use misp_enrich_engine::WireError;
use proptest::prelude::*;

fn kind_strategy() -> impl Strategy<Value = Kind> {
    let n = Kind::all().count() as u8;
    (0..n).prop_map(|id| Kind::from_id(id).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let mut with_magic = b"MEL1".to_vec();
        with_magic.extend_from_slice(&bytes);
        if let Ok(items) = decode(&with_magic) {
            // Whatever decodes lies inside the buffer.
            let total: usize = items.iter().map(|i| 9 + i.value.len()).sum();
            prop_assert_eq!(total + 8, with_magic.len());
        }
    }

    #[test]
    fn valid_batches_round_trip(items in proptest::collection::vec(
        (any::<u32>(), kind_strategy(), proptest::collection::vec(any::<u8>(), 0..64)), 0..40)) {
        let buf = encode_request(items.iter().map(|(s, k, v)| (*s, *k, v.as_slice())));
        let decoded = decode(&buf).unwrap();
        let expected: Vec<Item> = items.iter().map(|(s, k, v)| Item { slot: *s, kind: *k, value: v }).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn mutated_batches_never_panic(
        items in proptest::collection::vec((any::<u32>(), kind_strategy(), "[a-z0-9.]{0,20}"), 1..10),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut buf = encode_request(items.iter().map(|(s, k, v)| (*s, *k, v.as_bytes())));
        for (at, byte) in flips {
            let at = at % buf.len();
            buf[at] = byte;
        }
        let _ = decode(&buf);
        let _ = decode(&buf[..cut % (buf.len() + 1)]);
    }
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    let mut buf = b"MEL1".to_vec();
    buf.extend_from_slice(&(MAX_ITEMS + 1).to_le_bytes());
    assert!(matches!(decode(&buf), Err(WireError::BadCount { .. })));
    let mut buf = b"MEL1".to_vec();
    buf.extend_from_slice(&1_000_000u32.to_le_bytes());
    buf.extend_from_slice(&[0; 100]);
    assert!(matches!(decode(&buf), Err(WireError::BadCount { .. })));
}

#[test]
fn the_engine_refuses_malformed_buffers_and_survives_absurd_values() {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    put(&servers, Namespace::Domain, "evil.example", "1#domain");
    let engine = engine(&config(&servers));
    for bad in [
        &b""[..],
        b"MEL1",
        b"MEL2\0\0\0\0",
        b"MEL1\x01\0\0\0\0\0\0\0\x63\0\0\0\0",
        b"MEL1\0\0\0\0x",
    ] {
        assert!(engine.lookup_wire(bad).is_err(), "{bad:?}");
    }
    assert_eq!(engine.stats().totals.malformed_batches, 5);

    let mb = vec![b'a'; 1 << 20];
    let ns = Kind::Namespace(Namespace::Domain);
    let buf = encode_request([
        (0, ns, mb.as_slice()),
        (1, ns, b"\xc3\x28invalid-utf8".as_slice()),
        (2, ns, b"".as_slice()),
        (3, Kind::SysmonHashes, mb.as_slice()),
        (4, ns, b"evil.example".as_slice()),
    ]);
    let out = engine.lookup_wire(&buf).unwrap();
    // One record (slot 4), then no events.
    assert_eq!(&out[..4], RESULT_MAGIC);
    assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()), 4);
    assert_eq!(out[12], 0, "not failed");
    assert_eq!(engine.stats().totals.invalid_values, 4);
}

#[test]
fn results_encode_only_slots_that_matched_or_failed() {
    let server = TestServer::start();
    let servers = vec![server.addr()];
    put(&servers, Namespace::Ip, "10.0.0.5", "3#ip-dst");
    let engine = engine(&config(&servers));
    let ips: Vec<String> = (0..500)
        .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
        .collect();
    let buf = encode_request(
        ips.iter()
            .enumerate()
            .map(|(i, ip)| (i as u32, Kind::Namespace(Namespace::Ip), ip.as_bytes())),
    );
    let out = engine.lookup_wire(&buf).unwrap();
    // magic, count, slot, flags, matches, ns, kind, len+"10.0.0.5", entries, len+"3", len+"ip-dst", events
    let expected_len = 4 + 4 + 4 + 1 + 4 + 1 + 1 + 4 + 8 + 4 + 4 + 1 + 4 + 6 + 4;
    assert_eq!(out.len(), expected_len);
    assert_eq!(&out[8..12], &5u32.to_le_bytes());
}
