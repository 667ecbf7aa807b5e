//! The `--full` reconcile: after a complete fetch of everything, remove what
//! memcached still holds but MISP no longer has. memcached cannot list keys by
//! prefix, so every server's keys are listed with `lru_crawler metadump all`
//! (memcached >= 1.4.31, crawler enabled), those under the prefix's indicator
//! namespaces are kept in one compact buffer (about 55 bytes a key) and then
//! read in batches (not while the listing runs: memcached's crawler can hold
//! locks that such reads would wait for), and an entry is stale when its type
//! was part of the fetch and
//! the fetch did not produce it for that key. The plan is computed in full
//! before anything is removed, and refused when it would delete more than
//! `reconcile.max_removal_share` of the keys (unless `--force`).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use misp_enrich_core::{Entry, Namespace};

use crate::error::Error;
use crate::plan::{exceeds_share, parse_value, KeySet, PairSet};
use crate::store::{Counts, KeyRemove, Server, Store, StoreError};
use crate::summary::ReconcileSummary;
use crate::ui::Ui;

/// Keys read per batch.
const BATCH: usize = 2000;

/// Listed keys, packed: one text buffer and end offsets (a million keys take
/// ~55 MB instead of ~100 MB as separate strings).
#[derive(Debug, Default)]
struct KeyBuf {
    text: String,
    ends: Vec<usize>,
    namespaces: Vec<Namespace>,
}

impl KeyBuf {
    fn push(&mut self, key: &str, ns: Namespace) {
        self.text.push_str(key);
        self.ends.push(self.text.len());
        self.namespaces.push(ns);
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> (&str, Namespace) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (&self.text[start..self.ends[i]], self.namespaces[i])
    }
}

/// The inputs of a reconcile.
#[derive(Debug)]
pub struct Plan<'a> {
    /// Key + entry pairs the complete fetch produced.
    pub loaded: &'a PairSet,
    /// The MISP types that were fetched (entries of other types are kept).
    pub fetched_types: &'a HashSet<&'a str>,
    /// Events with a loaded indicator.
    pub loaded_events: &'a HashSet<String>,
    /// Keys this run wrote or confirmed.
    pub written: &'a KeySet,
    /// Of those, keys whose stored value held entries this run did not
    /// merge in that moment. A written key that is not a suspect holds only
    /// entries of this run and is not read again.
    pub suspects: &'a KeySet,
    /// exptime per namespace, for rewritten values.
    pub exptimes: &'a BTreeMap<Namespace, u32>,
    /// Refusal threshold.
    pub max_share: f64,
    /// `--force`.
    pub force: bool,
    /// `--dry-run`.
    pub dry_run: bool,
}

/// What a reconcile did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Counts for the summary.
    pub summary: ReconcileSummary,
    /// Per-namespace write counts.
    pub counts: Counts,
}

/// The kind of key a listed key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `<prefix>-<namespace>:...`.
    Indicator(Namespace),
    /// `<prefix>-event:<id>`.
    Event,
    /// Anything else (other prefixes, `-stats`, `-load`, the range index).
    Other,
}

/// Classifies a key by the prefix `<prefix>-`.
pub fn classify(key: &str, prefix: &str) -> KeyKind {
    let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return KeyKind::Other;
    };
    let Some((name, _)) = rest.split_once(':') else {
        return KeyKind::Other;
    };
    if name == "event" {
        return KeyKind::Event;
    }
    match name.parse::<Namespace>() {
        Ok(ns) => KeyKind::Indicator(ns),
        Err(_) => KeyKind::Other,
    }
}

/// Stale entries of one stored value.
pub fn stale_entries(key: &str, value: &[u8], plan: &Plan<'_>) -> (Vec<Entry>, Vec<Entry>) {
    let list = parse_value(value);
    list.entries()
        .iter()
        .cloned()
        .partition(|e| plan.fetched_types.contains(e.misp_type()) && !plan.loaded.contains(key, e))
}

struct Scan {
    /// Removals per server.
    plan: Vec<Vec<KeyRemove>>,
    scanned: u64,
    deletes: u64,
    stale: u64,
    referenced: HashSet<String>,
    event_keys: Vec<String>,
}

/// Runs the reconcile.
pub fn run(
    store: &mut Store,
    plan: &Plan<'_>,
    ui: &Ui,
    stop: &Arc<AtomicBool>,
) -> Result<Outcome, Error> {
    let prefix = store.keyspace().prefix().to_owned();
    let servers = store.servers_mut().len();
    let mut scan = Scan {
        plan: (0..servers).map(|_| Vec::new()).collect(),
        scanned: 0,
        deletes: 0,
        stale: 0,
        referenced: HashSet::new(),
        event_keys: Vec::new(),
    };
    let bar = ui.phase("reconcile", "keys");
    for (index, server) in store.servers_mut().iter_mut().enumerate() {
        let mut keys = KeyBuf::default();
        let listed = server.metadump(|k| match classify(&k.key, &prefix) {
            KeyKind::Indicator(ns) => keys.push(&k.key, ns),
            KeyKind::Event => scan.event_keys.push(k.key),
            KeyKind::Other => {}
        });
        let listed = match listed {
            Ok(n) => n,
            Err(StoreError::Server { server, source }) => {
                return Err(Error::Unsupported(format!(
                    "--full needs to list memcached's keys with `lru_crawler metadump` (memcached 1.4.31 or later, LRU crawler enabled), and {server} refused: {source}. Nothing was removed"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        tracing::debug!(
            "memcached {}: {listed} keys listed, {} indicator keys",
            server.addr(),
            keys.len()
        );
        let mut batch: Vec<(String, Namespace)> = Vec::with_capacity(BATCH);
        for i in 0..keys.len() {
            let (key, ns) = keys.get(i);
            if plan.written.contains(key) && !plan.suspects.contains(key) {
                // Holds only what this run loaded: nothing stale in it.
                scan.scanned += 1;
            } else {
                batch.push((key.to_owned(), ns));
            }
            if batch.len() >= BATCH || i + 1 == keys.len() {
                check_batch(server, &mut batch, index, plan, &mut scan)?;
                bar.set_position(scan.scanned);
                if stop.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted);
                }
            }
        }
    }
    bar.finish_and_clear();
    if stop.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let summary_base = ReconcileSummary {
        keys_scanned: scan.scanned,
        ..ReconcileSummary::default()
    };
    if exceeds_share(scan.deletes, scan.scanned, plan.max_share) {
        let share = if scan.scanned == 0 {
            100.0
        } else {
            scan.deletes as f64 * 100.0 / scan.scanned as f64
        };
        if plan.force {
            tracing::warn!(
                "--force: deleting {} of {} keys ({share:.1}%)",
                scan.deletes,
                scan.scanned
            );
        } else {
            return Err(Error::Refused {
                deletes: scan.deletes,
                total: scan.scanned,
                share,
                max: plan.max_share * 100.0,
            });
        }
    }
    tracing::info!(
        "reconcile: {} keys checked, {} stale entries, {} keys to delete",
        scan.scanned,
        scan.stale,
        scan.deletes
    );
    let dry = plan.dry_run;
    let parts = store.per_server(std::mem::take(&mut scan.plan), |s, items| {
        s.remove(items, dry)
    })?;
    let mut counts = Counts::default();
    for p in &parts {
        counts.merge(p);
    }
    let total = counts.total();
    if !dry {
        // The exact count, whatever earlier runs lost: a write whose reply
        // was lost (a connection cut mid-batch) was applied but not counted.
        store.set_stats(scan.scanned.saturating_sub(total.deleted))?;
    }
    // Event metadata nobody refers to any more.
    let orphans: Vec<String> = scan
        .event_keys
        .into_iter()
        .filter(|k| {
            let id = k.rsplit_once(':').map_or("", |(_, id)| id);
            !plan.loaded_events.contains(id) && !scan.referenced.contains(id)
        })
        .collect();
    let event_keys_deleted = if dry {
        orphans.len() as u64
    } else {
        store.delete_many(orphans)?
    };
    Ok(Outcome {
        summary: ReconcileSummary {
            keys_deleted: total.deleted,
            entries_removed: total.revoked,
            event_keys_deleted,
            ..summary_base
        },
        counts,
    })
}

/// Reads a batch of listed keys and plans the removal of their stale entries.
fn check_batch(
    reader: &mut Server,
    batch: &mut Vec<(String, Namespace)>,
    server: usize,
    plan: &Plan<'_>,
    scan: &mut Scan,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = batch.iter().map(|(k, _)| k.as_str()).collect();
    let values = reader.read(&keys, false)?;
    for ((key, ns), value) in batch.drain(..).zip(values) {
        // Expired or deleted since listed.
        let Some(item) = value else { continue };
        scan.scanned += 1;
        let (stale, keep) = stale_entries(&key, &item.value, plan);
        for e in &keep {
            if !scan.referenced.contains(e.event_id()) {
                scan.referenced.insert(e.event_id().to_owned());
            }
        }
        if stale.is_empty() {
            continue;
        }
        scan.stale += stale.len() as u64;
        if keep.is_empty() {
            scan.deletes += 1;
        }
        scan.plan[server].push(KeyRemove {
            exptime: plan.exptimes.get(&ns).copied().unwrap_or(0),
            key,
            ns,
            entries: stale,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::pair_hash;

    #[test]
    fn keys_are_classified_by_prefix_and_namespace() {
        assert_eq!(
            classify("misp-ip:10.0.0.1", "misp"),
            KeyKind::Indicator(Namespace::Ip)
        );
        assert_eq!(
            classify("misp-named-pipe:evil", "misp"),
            KeyKind::Indicator(Namespace::NamedPipe)
        );
        assert_eq!(classify("misp-event:42", "misp"), KeyKind::Event);
        for other in [
            "misp-stats",
            "misp-load",
            "misp-ranges",
            "misp-ranges:1:0",
            "other-ip:1",
            "mispx-ip:1",
            "misp-nope:x",
        ] {
            assert_eq!(classify(other, "misp"), KeyKind::Other, "{other}");
        }
        assert_eq!(
            classify("prod-ip:1", "prod"),
            KeyKind::Indicator(Namespace::Ip)
        );
    }

    #[test]
    fn stale_means_fetched_type_and_not_loaded() {
        let e = |id: &str, t: &str| Entry::new(id, t).unwrap_or_else(|err| panic!("{err}"));
        let mut loaded = PairSet::default();
        loaded.extend(&[pair_hash("misp-domain:a", &e("1", "domain"))]);
        loaded.seal();
        let fetched: HashSet<&str> = ["domain", "domain|ip"].into();
        let events = HashSet::new();
        let exptimes = BTreeMap::new();
        let none = KeySet::default();
        let plan = Plan {
            loaded: &loaded,
            fetched_types: &fetched,
            loaded_events: &events,
            written: &none,
            suspects: &none,
            exptimes: &exptimes,
            max_share: 0.5,
            force: false,
            dry_run: false,
        };
        let (stale, keep) =
            stale_entries("misp-domain:a", b"1#domain,2#domain,3#mutex, junk", &plan);
        assert_eq!(stale, vec![e("2", "domain")]);
        assert_eq!(keep, vec![e("1", "domain"), e("3", "mutex")]);
    }
}
