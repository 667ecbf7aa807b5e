//! One load run, start to end: pick the mode (first run, refresh, full), fetch
//! MISP's pages on one thread while the previous page is written on this one,
//! revoke what MISP deleted or un-flagged, reconcile on `--full`, update the
//! range index, and record the run. The order of things is the safety rule:
//! additions are applied page by page, but nothing is removed until every
//! fetch of the run has completed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use misp_enrich_core::{Entry, EntryList, Namespace, ServerRing};
use misp_enrich_memcached::Op;
use serde_json::{json, Value};

use crate::category::Category;
use crate::config::{self, Config};
use crate::error::Error;
use crate::events::EventWorker;
use crate::extract::{Extractor, Skips, Target};
use crate::misp::{Misp, MispError};
use crate::page::{parse_attributes, Flag};
use crate::plan::{pair_hash, KeySet, PairSet};
use crate::range_index::{self, RangeChanges};
use crate::reconcile;
use crate::record::{self, LoadRecord, RunRecord};
use crate::store::{KeyAdd, KeyRemove, Store};
use crate::summary::Summary;
use crate::ui::Ui;

/// Skip reason of a key whose merged value memcached refused as over its
/// item size limit (the key keeps what it held).
pub const KEY_TOO_LARGE: &str = "value too large for memcached";

/// Skip reason of an event metadata record over memcached's item size limit.
pub const EVENT_TOO_LARGE: &str = "event metadata too large for memcached";

/// Which window a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// First run: `initial_event_timestamp`.
    Initial,
    /// Later runs: `refresh_event_timestamp`, plus revocation.
    Refresh,
    /// Everything, then remove what MISP no longer has.
    Full,
}

impl Mode {
    /// Name in summaries and records.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Initial => "initial",
            Mode::Refresh => "refresh",
            Mode::Full => "full",
        }
    }
}

/// Command-line choices for a load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// `--full`.
    pub full: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--force`.
    pub force: bool,
}

/// The mode: full when asked; initial when `misp-stats` is absent or 0 (the
/// seed's rule) or when an earlier initial load never completed; else refresh.
pub fn decide_mode(full: bool, stats: Option<u64>, record: Option<&LoadRecord>) -> Mode {
    if full {
        Mode::Full
    } else if stats.unwrap_or(0) == 0 || record.is_some_and(|r| !r.initial_complete) {
        Mode::Initial
    } else {
        Mode::Refresh
    }
}

/// The restSearch body of the load query.
pub fn load_query(cfg: &Config, types: &[&str], mode: Mode) -> Value {
    let mut q = json!({
        "returnFormat": "json",
        "type": {"OR": types},
        "to_ids": true,
        "order": "Attribute.id asc",
    });
    let window = match mode {
        Mode::Initial => Some(&cfg.initial_event_timestamp),
        Mode::Refresh => Some(&cfg.refresh_event_timestamp),
        Mode::Full => None,
    };
    if let (Some(map), Some(w)) = (q.as_object_mut(), window) {
        map.insert("event_timestamp".into(), Value::from(w.as_str()));
    }
    let f = &cfg.filters;
    if let Some(map) = q.as_object_mut() {
        if f.published {
            map.insert("published".into(), Value::from(true));
        }
        if !f.tags.is_empty() || !f.exclude_tags.is_empty() {
            let mut tags = serde_json::Map::new();
            if !f.tags.is_empty() {
                tags.insert("OR".into(), json!(f.tags));
            }
            if !f.exclude_tags.is_empty() {
                tags.insert("NOT".into(), json!(f.exclude_tags));
            }
            map.insert("tags".into(), Value::Object(tags));
        }
        if f.enforce_warninglist {
            map.insert("enforceWarninglist".into(), Value::from(true));
        }
        if f.exclude_decayed {
            map.insert("excludeDecayed".into(), Value::from(true));
        }
    }
    q
}

/// The restSearch body of the revocation query of a refresh: the same types
/// and window, IDS flag not filtered, deleted attributes included.
pub fn revocation_query(cfg: &Config, types: &[&str]) -> Value {
    json!({
        "returnFormat": "json",
        "type": {"OR": types},
        "deleted": [0, 1],
        "event_timestamp": cfg.refresh_event_timestamp,
        "order": "Attribute.id asc",
    })
}

/// What the fetch thread makes of one page.
#[derive(Debug, Default)]
struct PageBatch {
    attributes: usize,
    /// Load: additions per server.
    groups: Vec<Vec<KeyAdd>>,
    /// Revoke: candidate removals.
    removals: Vec<(String, Namespace, Entry)>,
    ranges: Vec<(IpNet, Entry)>,
    events: Vec<String>,
    pairs: Vec<u64>,
    /// Full runs: hashes of the keys written.
    keys: Vec<u64>,
    skips: Skips,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Load,
    Revoke,
}

/// Turns page bodies into batches (runs on the fetch thread).
#[derive(Debug, Clone)]
struct BatchBuilder {
    extractor: Extractor,
    ring: ServerRing,
    exptimes: BTreeMap<Namespace, u32>,
    purpose: Purpose,
    collect_pairs: bool,
    collect_keys: bool,
}

impl BatchBuilder {
    fn build(&self, body: &[u8]) -> Result<PageBatch, serde_json::Error> {
        let mut batch = PageBatch::default();
        let mut keys: HashMap<String, (Namespace, EntryList)> = HashMap::new();
        let mut events: HashSet<String> = HashSet::new();
        let mut skips = Skips::default();
        let mut ignore = Skips::default();
        batch.attributes = parse_attributes(body, &mut |a| {
            let revoked = a.deleted.0 || a.to_ids == Some(Flag(false));
            match self.purpose {
                Purpose::Load if a.deleted.0 => return skips.add("deleted"),
                Purpose::Load if revoked => return skips.add("not IDS-flagged"),
                Purpose::Revoke if !revoked => return,
                _ => {}
            }
            let counted = if self.purpose == Purpose::Load {
                &mut skips
            } else {
                &mut ignore
            };
            let Some(ind) = self.extractor.extract(&a, counted) else {
                return;
            };
            if self.purpose == Purpose::Load && !events.contains(ind.entry.event_id()) {
                events.insert(ind.entry.event_id().to_owned());
            }
            for target in ind.targets {
                match (target, self.purpose) {
                    (Target::Key { key, ns }, Purpose::Load) => {
                        if self.collect_pairs {
                            batch.pairs.push(pair_hash(&key, &ind.entry));
                        }
                        keys.entry(key)
                            .or_insert_with(|| (ns, EntryList::default()))
                            .1
                            .insert(ind.entry.clone());
                    }
                    (Target::Key { key, ns }, Purpose::Revoke) => {
                        batch.removals.push((key, ns, ind.entry.clone()));
                    }
                    (Target::Range(net), _) => batch.ranges.push((net, ind.entry.clone())),
                }
            }
        })?;
        let servers = self.ring.servers().len();
        batch.groups = (0..servers).map(|_| Vec::new()).collect();
        for (key, (ns, entries)) in keys {
            if self.collect_keys {
                batch.keys.push(crate::plan::key_hash(&key));
            }
            let s = self.ring.server_for(key.as_bytes());
            let exptime = self.exptimes.get(&ns).copied().unwrap_or(0);
            batch.groups[s].push(KeyAdd {
                key,
                ns,
                entries,
                exptime,
            });
        }
        batch.events = events.into_iter().collect();
        batch.skips = skips;
        Ok(batch)
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The memcached exptime of each namespace (its category's `expires`).
fn exptimes(cfg: &Config, now: u64) -> BTreeMap<Namespace, u32> {
    Namespace::ALL
        .iter()
        .filter_map(|ns| {
            let c = Category::of_namespace(*ns)?;
            Some((*ns, config::exptime(cfg.category(c).expires, now)))
        })
        .collect()
}

/// Event metadata lives as long as the longest-living indicators.
fn event_exptime(cfg: &Config, now: u64) -> u32 {
    let enabled: Vec<u64> = cfg
        .categories
        .iter()
        .filter(|c| c.enabled)
        .map(|c| c.expires)
        .collect();
    if enabled.contains(&0) {
        0
    } else {
        config::exptime(enabled.into_iter().max().unwrap_or(0), now)
    }
}

/// State of one run, shared by its phases.
struct Run<'a> {
    cfg: &'a Config,
    opts: LoadOptions,
    ui: &'a Ui,
    stop: &'a Arc<AtomicBool>,
    misp: Misp,
    now: u64,
    summary: Summary,
}

/// Runs one load. The summary is returned in every case (with `ok` and
/// `error` set), next to the error that decides the exit code.
pub fn load(
    cfg: &Config,
    opts: LoadOptions,
    ui: &Ui,
    stop: &Arc<AtomicBool>,
) -> (Summary, Result<(), Error>) {
    let started = Instant::now();
    let now = unix_now();
    let mut summary = Summary {
        dry_run: opts.dry_run,
        mode: if opts.full { "full" } else { "load" }.into(),
        ..Summary::default()
    };
    if cfg.misp.ignore_cert_errors {
        tracing::warn!(
            "ignore_cert_errors is set: MISP's TLS certificate is NOT verified, and the API key could be sent to an impostor. Set misp.ca_file to MISP's CA instead"
        );
    }
    let misp = match Misp::new(&cfg.misp, stop.clone()) {
        Ok(m) => m,
        Err(e) => {
            summary.error = Some(e.to_string());
            summary.finish(started.elapsed().as_secs_f64());
            return (summary, Err(e.into()));
        }
    };
    let mut run = Run {
        cfg,
        opts,
        ui,
        stop,
        misp,
        now,
        summary,
    };
    let result = run.execute();
    let mut summary = run.summary;
    summary.ok = result.is_ok();
    if let Err(e) = &result {
        summary.error = Some(e.to_string());
    }
    summary.finish(started.elapsed().as_secs_f64());
    (summary, result)
}

impl Run<'_> {
    fn execute(&mut self) -> Result<(), Error> {
        let cfg = self.cfg;
        let ring = ServerRing::new(&cfg.servers)
            .map_err(|e| Error::Usage(format!("memcached.servers: {e}")))?;
        let mut store = Store::connect_with(
            &ring,
            &cfg.keyspace,
            cfg.memcached_timeout,
            cfg.memcached_auth.as_ref(),
        )?;
        let record = record::read(&mut store)?;
        let stats = store
            .get(&cfg.keyspace.stats_key())?
            .and_then(|i| String::from_utf8_lossy(&i.value).trim().parse::<u64>().ok());
        let mode = decide_mode(self.opts.full, stats, record.as_ref());
        self.summary.mode = mode.name().into();
        let types = cfg.enabled_types();
        if types.is_empty() {
            return Err(Error::Usage(format!(
                "{}: every category is disabled; nothing to load",
                cfg.path.display()
            )));
        }
        tracing::info!(
            "{} run: {} MISP types from {} into {} memcached server(s)",
            mode.name(),
            types.len(),
            self.misp.url(),
            cfg.servers.len()
        );
        let mut record = record.unwrap_or(LoadRecord {
            version: 1,
            // A memcached loaded by the seed counts as initially loaded.
            initial_complete: stats.unwrap_or(0) > 0,
            ..LoadRecord::default()
        });
        if !self.opts.dry_run {
            store.write_one(Op::Add {
                key: &cfg.keyspace.stats_key(),
                value: b"0",
                exptime: 0,
            })?;
            if mode == Mode::Initial {
                // Until this run completes, the next one starts over. (A
                // failed full run leaves an earlier completion standing.)
                record.initial_complete = false;
                record::write(&mut store, &record)?;
            }
        }
        let started_at = self.now;
        let result = self.phases(&mut store, mode, &types);
        if !self.opts.dry_run {
            let ok = result.is_ok();
            if ok {
                record.last_success = Some(unix_now());
                record.initial_complete = true;
                if mode == Mode::Full {
                    record.last_full_run = Some(unix_now());
                }
            }
            record.last_run = Some(RunRecord {
                started_at,
                finished_at: unix_now(),
                mode: mode.name().into(),
                ok,
                error: result.as_ref().err().map(ToString::to_string),
                attributes: self.summary.attributes_fetched,
                namespaces: self.summary.namespaces.clone(),
                ranges: self.summary.ranges.total,
                events: self.summary.events_written,
            });
            if let Err(e) = record::write(&mut store, &record) {
                tracing::warn!("could not write the run record: {e}");
            }
        }
        result
    }

    fn phases(
        &mut self,
        store: &mut Store,
        mode: Mode,
        types: &[&'static str],
    ) -> Result<(), Error> {
        let cfg = self.cfg;
        let dry = self.opts.dry_run;
        let extractor = Extractor::new(cfg.keyspace.clone(), types);
        let exptimes = exptimes(cfg, self.now);
        let events = if dry {
            None
        } else {
            let events_store = Store::connect_with(
                store.ring(),
                &cfg.keyspace,
                cfg.memcached_timeout,
                cfg.memcached_auth.as_ref(),
            )?;
            Some(EventWorker::spawn(
                self.misp.clone(),
                events_store,
                event_exptime(cfg, self.now),
                self.now,
            ))
        };

        // 1. Load: additions, page by page.
        let mut loaded = PairSet::default();
        // Full runs: keys written, and those that held other entries too.
        let mut written = KeySet::default();
        let mut suspects = KeySet::default();
        let mut ranges = RangeChanges::default();
        let builder = BatchBuilder {
            extractor: extractor.clone(),
            ring: store.ring().clone(),
            exptimes: exptimes.clone(),
            purpose: Purpose::Load,
            collect_pairs: mode != Mode::Initial,
            collect_keys: mode == Mode::Full,
        };
        let query = load_query(cfg, types, mode);
        let mut seen_events: HashSet<String> = HashSet::new();
        let bar = self.ui.phase("fetch", "attributes");
        let fetched = self.pipeline(store, &query, builder, |run, store, batch| {
            let merged = store.merge(batch.groups, dry)?;
            let counts = merged.counts;
            written.extend(&batch.keys);
            if !batch.keys.is_empty() {
                suspects.extend(&merged.suspects);
            }
            run.summary.add_counts(&counts);
            run.summary.add_skips(&batch.skips);
            run.summary.skip(KEY_TOO_LARGE, merged.too_large);
            run.summary.attributes_fetched += batch.attributes as u64;
            if !dry {
                store.adjust_stats(i64::try_from(counts.total().added).unwrap_or(i64::MAX))?;
            }
            loaded.extend(&batch.pairs);
            for (net, entry) in batch.ranges {
                ranges.add(net, entry);
            }
            let new: Vec<String> = batch
                .events
                .into_iter()
                .filter(|e| seen_events.insert(e.clone()))
                .collect();
            if let Some(w) = &events {
                w.send(new);
            }
            bar.inc(batch.attributes as u64);
            Ok(())
        });
        bar.finish_and_clear();
        let events_result = events.map(EventWorker::finish);
        match fetched {
            Ok(pages) => self.summary.pages = pages,
            Err(e) => {
                if let Some(Ok(n)) = events_result {
                    self.summary.events_written = n.written;
                    self.summary.skip(EVENT_TOO_LARGE, n.too_large);
                }
                return Err(e);
            }
        }
        loaded.seal();
        written.seal();
        suspects.seal();

        // 2. Everything needed was fetched: removals are safe from here on.
        let mut removals: BTreeMap<String, (Namespace, Vec<Entry>)> = BTreeMap::new();
        if mode == Mode::Refresh {
            let builder = BatchBuilder {
                extractor,
                ring: store.ring().clone(),
                exptimes: exptimes.clone(),
                purpose: Purpose::Revoke,
                collect_pairs: false,
                collect_keys: false,
            };
            let query = revocation_query(cfg, types);
            let bar = self.ui.phase("revoke", "attributes");
            let loaded_ref = &loaded;
            let ranges_ref = &mut ranges;
            let removals_ref = &mut removals;
            let result = self.pipeline(store, &query, builder, |run, _store, batch| {
                run.summary.revocation_attributes_fetched += batch.attributes as u64;
                for (key, ns, entry) in batch.removals {
                    // The same value may still be loaded by another attribute
                    // of the same event and type.
                    if !loaded_ref.contains(&key, &entry) {
                        let slot = removals_ref.entry(key).or_insert_with(|| (ns, Vec::new()));
                        if !slot.1.contains(&entry) {
                            slot.1.push(entry);
                        }
                    }
                }
                for (net, entry) in batch.ranges {
                    ranges_ref.remove(net, entry);
                }
                bar.inc(batch.attributes as u64);
                Ok(())
            });
            bar.finish_and_clear();
            result?;
            // A range loaded in this run stays, even if a duplicate was deleted.
            let adds = ranges.adds.clone();
            for (net, list) in ranges.removes.iter_mut() {
                if let Some(added) = adds.get(net) {
                    list.retain(|e| !added.entries().contains(e));
                }
            }
        }
        if let Some(r) = events_result {
            let n = r?;
            self.summary.events_written = n.written;
            self.summary.skip(EVENT_TOO_LARGE, n.too_large);
        }
        if self.stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if !removals.is_empty() {
            let items: Vec<KeyRemove> = removals
                .into_iter()
                .map(|(key, (ns, entries))| KeyRemove {
                    exptime: exptimes.get(&ns).copied().unwrap_or(0),
                    key,
                    ns,
                    entries,
                })
                .collect();
            let counts = store.remove(items, dry)?;
            self.summary.add_counts(&counts);
            if !dry {
                store.adjust_stats(-i64::try_from(counts.total().deleted).unwrap_or(0))?;
            }
        }

        // 3. Full: remove what MISP no longer has.
        if mode == Mode::Full {
            let fetched_types: HashSet<&str> = types.iter().copied().collect();
            let outcome = reconcile::run(
                store,
                &reconcile::Plan {
                    loaded: &loaded,
                    fetched_types: &fetched_types,
                    loaded_events: &seen_events,
                    written: &written,
                    suspects: &suspects,
                    exptimes: &exptimes,
                    max_share: cfg.max_removal_share,
                    force: self.opts.force,
                    dry_run: dry,
                },
                self.ui,
                self.stop,
            )?;
            self.summary.add_counts(&outcome.counts);
            self.summary.reconcile = Some(outcome.summary);
            ranges.replace_types = Some(
                ["ip-src", "ip-dst"]
                    .into_iter()
                    .filter(|t| fetched_types.contains(t))
                    .map(str::to_owned)
                    .collect(),
            );
        }

        // 4. The range index (only when the types that carry ranges were loaded).
        if types.contains(&"ip-src") || types.contains(&"ip-dst") {
            let exptime = config::exptime(cfg.category(Category::Network).expires, self.now);
            self.summary.ranges = range_index::update(store, &ranges, exptime, dry)?;
        }
        Ok(())
    }

    /// Three stages at once: one thread fetches pages, one parses the page
    /// before into a batch, and this one writes the batch before that
    /// (`apply`). Returns the number of pages. A failure at any stage stops
    /// all three; the first real error is returned.
    fn pipeline(
        &mut self,
        store: &mut Store,
        query: &Value,
        builder: BatchBuilder,
        mut apply: impl FnMut(&mut Self, &mut Store, PageBatch) -> Result<(), Error>,
    ) -> Result<u32, Error> {
        let (answers_tx, answers_rx) = sync_channel::<(u32, crate::misp::Answer)>(1);
        let (batches_tx, batches_rx) = sync_channel::<PageBatch>(1);
        let misp = self.misp.clone();
        let stop = self.stop.clone();
        let label = match builder.purpose {
            Purpose::Load => "/attributes/restSearch",
            Purpose::Revoke => "/attributes/restSearch (revocation query)",
        };
        std::thread::scope(|scope| {
            let fetcher = scope.spawn(move || -> Result<u32, Error> {
                misp.for_each_page(query, label, |page, answer| {
                    // The parser stopped (failed or interrupted): stop too.
                    answers_tx
                        .send((page, answer))
                        .map_err(|_| Error::Interrupted)
                })
            });
            let parser = scope.spawn(move || -> Result<(), Error> {
                for (page, answer) in answers_rx {
                    let t = Instant::now();
                    let batch = builder.build(&answer.body).map_err(|e| MispError::Json {
                        what: format!("page {page} of {label}"),
                        detail: e.to_string(),
                    })?;
                    drop(answer);
                    tracing::debug!(
                        "page {page}: {} attributes parsed in {:.3} s",
                        batch.attributes,
                        t.elapsed().as_secs_f64()
                    );
                    batches_tx.send(batch).map_err(|_| Error::Interrupted)?;
                }
                Ok(())
            });
            let mut write_error = None;
            for batch in &batches_rx {
                let t = Instant::now();
                let result = apply(self, store, batch);
                tracing::debug!("batch written in {:.3} s", t.elapsed().as_secs_f64());
                if let Err(e) = result {
                    write_error = Some(e);
                    break;
                }
                if stop.load(Ordering::Relaxed) {
                    write_error = Some(Error::Interrupted);
                    break;
                }
            }
            drop(batches_rx);
            let panicked = |what: &str| Error::Internal(format!("the {what} thread panicked"));
            let parsed = parser.join().unwrap_or_else(|_| Err(panicked("parse")));
            let fetched = fetcher.join().unwrap_or_else(|_| Err(panicked("fetch")));
            let real = |r: &Result<_, Error>| matches!(r, Err(e) if !matches!(e, Error::Interrupted | Error::Misp(MispError::Interrupted { .. })));
            match (write_error, parsed, fetched) {
                (Some(e), _, _) => Err(e),
                (None, Err(e), _) if !matches!(e, Error::Interrupted) => Err(e),
                (None, _, f) if real(&f) => f,
                (None, _, Err(_)) => Err(Error::Interrupted),
                (None, _, Ok(pages)) => Ok(pages),
            }
        })
    }
}

/// Runs loads every `interval` until `stop` is set: the first run as asked,
/// later ones as refreshes. `report` gets each outcome. A failed run is
/// reported and retried at the next interval; a configuration error ends the
/// loop. A signal ends it cleanly (`Ok`): the run in progress stops after its
/// current page and removes nothing.
pub fn watch(
    cfg: &Config,
    opts: LoadOptions,
    interval: Duration,
    ui: &Ui,
    stop: &Arc<AtomicBool>,
    mut report: impl FnMut(&Summary, &Result<(), Error>),
) -> Result<(), Error> {
    let mut opts = opts;
    loop {
        let (summary, result) = load(cfg, opts, ui, stop);
        report(&summary, &result);
        match result {
            Err(Error::Interrupted) | Err(Error::Misp(MispError::Interrupted { .. })) => {
                return Ok(())
            }
            // Configuration problems do not fix themselves.
            Err(e @ Error::Config(_)) | Err(e @ Error::Usage(_)) => return Err(e),
            _ => {}
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        opts.full = false;
        let until = Instant::now() + interval;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                tracing::info!("stopping: signal received between runs");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(extra: &str) -> Config {
        let text = format!("misp:\n  url: https://m\n  token: abcdefgh\n{extra}");
        Config::parse(&text, Path::new("c.yml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn modes_follow_the_seed_rule_and_resume_unfinished_first_loads() {
        let done = LoadRecord {
            initial_complete: true,
            ..LoadRecord::default()
        };
        let unfinished = LoadRecord::default();
        assert_eq!(decide_mode(false, None, None), Mode::Initial);
        assert_eq!(decide_mode(false, Some(0), Some(&done)), Mode::Initial);
        // Loaded by the seed: no record, misp-stats > 0.
        assert_eq!(decide_mode(false, Some(5), None), Mode::Refresh);
        assert_eq!(decide_mode(false, Some(5), Some(&done)), Mode::Refresh);
        assert_eq!(
            decide_mode(false, Some(5), Some(&unfinished)),
            Mode::Initial
        );
        assert_eq!(decide_mode(true, Some(5), Some(&done)), Mode::Full);
    }

    #[test]
    fn queries() {
        let c = cfg(
            "filters:\n  published: true\n  exclude_tags: [tlp:red]\n  enforce_warninglist: true\n",
        );
        let q = load_query(&c, &["md5", "url"], Mode::Initial);
        assert_eq!(q["type"]["OR"], json!(["md5", "url"]));
        assert_eq!(q["to_ids"], json!(true));
        assert_eq!(q["event_timestamp"], json!("365d"));
        assert_eq!(q["order"], json!("Attribute.id asc"));
        assert_eq!(q["published"], json!(true));
        assert_eq!(q["tags"], json!({"NOT": ["tlp:red"]}));
        assert_eq!(q["enforceWarninglist"], json!(true));
        assert!(q.get("excludeDecayed").is_none());
        assert_eq!(
            load_query(&c, &["md5"], Mode::Refresh)["event_timestamp"],
            json!("1h")
        );
        assert!(load_query(&c, &["md5"], Mode::Full)
            .get("event_timestamp")
            .is_none());
        let r = revocation_query(&c, &["md5"]);
        assert!(r.get("to_ids").is_none());
        assert_eq!(r["deleted"], json!([0, 1]));
        assert_eq!(r["event_timestamp"], json!("1h"));
    }

    #[test]
    fn expiries_per_namespace() {
        let c = cfg("hash:\n  expires: 60\nweb:\n  expires: 40d\n");
        let e = exptimes(&c, 1_000);
        assert_eq!(e[&Namespace::Sha256], 60);
        assert_eq!(e[&Namespace::Ip], 0);
        assert_eq!(e[&Namespace::Url], 1_000 + 40 * 86400);
        assert_eq!(event_exptime(&c, 1_000), 0);
        let c = cfg("hash:\n  expires: 60\nnetwork:\n  expires: 120\nweb:\n  enabled: false\n");
        assert_eq!(event_exptime(&c, 1_000), 120);
    }
}
