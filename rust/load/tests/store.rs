//! The memcached side under contention, driven through the library against a
//! real memcached: writers racing on the same keys never lose entries, and
//! removals never take what another writer just added.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use misp_enrich_core::{Entry, EntryList, Keyspace, Namespace, ServerRing};
use misp_load::store::{KeyAdd, KeyRemove, Store};

fn store(server: &TestServer) -> Store {
    let ring = ServerRing::new(&[server.addr()]).unwrap();
    Store::connect(&ring, &Keyspace::default(), Duration::from_secs(5)).unwrap()
}

fn adds(keys: &[String], event: u64) -> Vec<Vec<KeyAdd>> {
    vec![keys
        .iter()
        .map(|k| KeyAdd {
            key: k.clone(),
            ns: Namespace::Domain,
            entries: [Entry::new(&event.to_string(), "domain").unwrap()]
                .into_iter()
                .collect::<EntryList>(),
            exptime: 0,
        })
        .collect()]
}

#[test]
fn racing_merges_keep_every_entry_and_count_each_key_once() {
    let server = TestServer::start();
    for round in 0..5 {
        let keys: Vec<String> = (0..3000)
            .map(|i| format!("misp-domain:r{round}-{i}.example"))
            .collect();
        let writers = 4u64;
        let added: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..writers)
                .map(|w| {
                    let keys = &keys;
                    let server = &server;
                    s.spawn(move || {
                        let mut st = store(server);
                        // Small batches, so the writers interleave.
                        let mut created = 0;
                        for chunk in keys.chunks(100) {
                            let counts = st.merge(adds(chunk, w + 1), false).unwrap();
                            created += counts.counts.total().added;
                        }
                        created
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        // Every key was created exactly once, whoever won the race.
        assert_eq!(added, 3000, "round {round}");
        let mut c = mc(&server);
        let values = c.get_multi(&keys, false).unwrap();
        for (k, v) in keys.iter().zip(values) {
            let v = String::from_utf8(v.unwrap().value).unwrap();
            let mut got: Vec<&str> = v.split(',').collect();
            got.sort_unstable();
            assert_eq!(
                got,
                vec!["1#domain", "2#domain", "3#domain", "4#domain"],
                "{k}"
            );
        }
    }
}

#[test]
fn a_removal_never_takes_an_entry_added_meanwhile() {
    let server = TestServer::start();
    let keys: Vec<String> = (0..3000)
        .map(|i| format!("misp-domain:x{i}.example"))
        .collect();
    let mut st = store(&server);
    st.merge(adds(&keys, 1), false).unwrap();
    std::thread::scope(|s| {
        let remover = s.spawn(|| {
            let mut st = store(&server);
            let items: Vec<KeyRemove> = keys
                .iter()
                .map(|k| KeyRemove {
                    key: k.clone(),
                    ns: Namespace::Domain,
                    entries: vec![Entry::new("1", "domain").unwrap()],
                    exptime: 0,
                })
                .collect();
            for chunk in items.chunks(50) {
                st.remove(chunk.to_vec(), false).unwrap();
            }
        });
        let adder = s.spawn(|| {
            let mut st = store(&server);
            for chunk in keys.chunks(50) {
                st.merge(adds(chunk, 2), false).unwrap();
            }
        });
        remover.join().unwrap();
        adder.join().unwrap();
    });
    let mut c = mc(&server);
    let values = c.get_multi(&keys, false).unwrap();
    for (k, v) in keys.iter().zip(values) {
        // Whatever the interleaving: entry 1 is gone, entry 2 is there.
        let v = v.map(|v| String::from_utf8(v.value).unwrap());
        assert_eq!(v.as_deref(), Some("2#domain"), "{k}");
    }
}
