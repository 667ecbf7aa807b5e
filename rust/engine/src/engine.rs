//! The engine: one per configuration, shared by every pipeline worker, and
//! the batch lookup itself.
//!
//! A batch goes through five steps: normalise and de-duplicate every value
//! (with Sysmon hash splitting and domain parents), check IPs against the
//! range index in memory, answer what the cache knows, send the rest to
//! memcached (one multi-get per server, servers in parallel), and, for hits
//! only, read the event metadata (cache first, then a second multi-get).
//! Nothing on this path takes a lock: the cache is concurrent, the range
//! index is an `ArcSwap` snapshot, counters are atomics, idle connections
//! sit in a lock-free queue.

use std::borrow::Cow;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hashbrown::{HashMap, HashTable};
use misp_enrich_core::{normalize, Entry, EntryList, EventMeta, Namespace, Normalized};
use misp_enrich_memcached::{Item as McItem, Timeouts};

use crate::cache::{Answer, Caches, EventJson};
use crate::config::{Config, DomainMatch, Settings};
use crate::error::{ConfigError, WireError};
use crate::fast::{self, Value};
use crate::ranges::{self, RangeIndex};
use crate::servers::{self, Breaker, FetchError, Server};
use crate::stats::{self, Counters, Delta, Latency, RangeStats, Stats, LATENCY_BUCKETS_US};
use crate::wire::{self, namespace_id, Item, Kind};
use crate::{hashes, suffix};

/// At most this many `event_id#type` entries of one stored value are read;
/// the rest of the value is counted (`entries_over_cap`) and not parsed. A
/// key that many MISP events share (or a hostile memcached) cannot make one
/// lookup parse a megabyte of entries or hand it to every matching event.
pub const MAX_ENTRIES_PER_VALUE: usize = 1_000;

/// Keys asked from memcached per round trip: a batch with more misses asks
/// in several, most important first, so a batch that runs out of time still
/// has the answers of its first rounds.
const KEYS_PER_ROUND: usize = 2_000;

/// The planning of a batch checks its deadline once per this many items.
const ITEMS_PER_DEADLINE_CHECK: usize = 256;

/// How a value matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// The value itself is an indicator.
    Exact,
    /// The IP lies in an indicator range; the match's value is the range.
    Range,
    /// A parent domain is an indicator; the match's value is that name.
    Suffix,
}

/// One match of a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The namespace it matched in (for Sysmon `Hashes`, the hash's own).
    pub namespace: Namespace,
    /// How it matched.
    pub kind: MatchKind,
    /// What matched: the normalised value, the range (CIDR) or the parent domain.
    pub value: String,
    /// The `event_id#type` entries, in stored order.
    pub entries: Arc<[Entry]>,
}

/// The result for one slot that matched or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotResult {
    /// The caller's slot.
    pub slot: u32,
    /// Whether some value of the slot could not be looked up (the answer may
    /// be incomplete: tag the event).
    pub failed: bool,
    /// The matches, in item order.
    pub matches: Vec<Match>,
}

/// The result of a batch: only slots that matched or failed, in slot order,
/// and the metadata of the MISP events they name (when stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Slots that matched or failed.
    pub slots: Vec<SlotResult>,
    /// `(event id, metadata JSON)` of the events in `slots` that have metadata.
    pub events: Vec<(String, Arc<str>)>,
}

/// The lookup engine. Create one per configuration and share it (`Send +
/// Sync`); `Debug` shows its configuration and sizes, never indicators.
pub struct Engine {
    inner: Arc<Inner>,
    refresher: Option<Refresher>,
}

struct Inner {
    settings: Settings,
    servers: Vec<Server>,
    caches: Caches,
    ranges: ArcSwap<RangeIndex>,
    range_state: Mutex<RangeStats>,
    counters: Counters,
    batch_micros_max: AtomicU64,
    hasher: foldhash::quality::RandomState,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.settings;
        let (answers, events) = self.inner.caches.entries();
        f.debug_struct("Engine")
            .field("servers", &s.ring.servers())
            .field("prefix", &s.keyspace.prefix())
            .field("domain_match", &s.domain_match)
            .field("cache_entries", &answers)
            .field("event_cache_entries", &events)
            .field("ranges", &self.inner.ranges.load().len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Creates an engine. Makes no connection to the lookup servers yet,
    /// except one bounded attempt to read the range index (a failure leaves
    /// the index empty and is retried by the refresher); so this never fails
    /// because memcached is down.
    pub fn new(config: &Config) -> Result<Engine, ConfigError> {
        let settings = config.settings()?;
        let timeouts = Timeouts {
            connect: settings.connect_timeout,
            io: settings.io_timeout,
        };
        let servers = settings
            .ring
            .servers()
            .iter()
            .map(|addr| {
                let breaker = Breaker::new(settings.breaker_failures, settings.breaker_backoff);
                Server::new(
                    addr,
                    timeouts,
                    settings.max_idle_connections,
                    breaker,
                    settings.login.clone(),
                )
            })
            .collect();
        let inner = Arc::new(Inner {
            caches: Caches::new(
                settings.cache_size,
                settings.cache_ttl,
                settings.negative_ttl,
            ),
            servers,
            ranges: ArcSwap::from_pointee(RangeIndex::default()),
            range_state: Mutex::new(RangeStats::default()),
            counters: Counters::default(),
            batch_micros_max: AtomicU64::new(0),
            hasher: foldhash::quality::RandomState::default(),
            settings,
        });
        // A failure is in the stats; the refresher retries.
        let _ = inner.refresh_ranges();
        let refresher = inner
            .settings
            .range_refresh
            .map(|every| Refresher::start(Arc::clone(&inner), every));
        Ok(Engine { inner, refresher })
    }

    /// Looks up a batch in the wire format and returns the result in the wire
    /// format (see [`crate::wire`]).
    pub fn lookup_wire(&self, input: &[u8]) -> Result<Vec<u8>, WireError> {
        let items = wire::decode(input).inspect_err(|_| {
            self.inner.counters.malformed_batches.fetch_add(1, Relaxed);
        })?;
        let outcome = self.lookup(&items);
        let mut out = Vec::with_capacity(64);
        wire::encode_outcome(&outcome, &mut out);
        Ok(out)
    }

    /// Looks up a batch.
    pub fn lookup(&self, items: &[Item<'_>]) -> Outcome {
        let started = Instant::now();
        let inner = &*self.inner;
        let mut delta = Delta {
            batches: 1,
            items: items.len() as u64,
            ..Delta::default()
        };
        let outcome = inner.lookup(items, started, &mut delta);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        delta.batch_micros_total = micros;
        inner.counters.add(&delta);
        inner.counters.latency[stats::bucket(micros)].fetch_add(1, Relaxed);
        inner.batch_micros_max.fetch_max(micros, Relaxed);
        outcome
    }

    /// Reads the range index now (the refresher does this on its interval).
    /// Returns the number of ranges in memory afterwards, or the error (the
    /// old index stays).
    pub fn refresh_ranges(&self) -> Result<usize, String> {
        self.inner.refresh_ranges()
    }

    /// A snapshot of the counters and states.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let (cache_entries, event_cache_entries) = inner.caches.entries();
        let ranges = inner
            .range_state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        Stats {
            version: env!("CARGO_PKG_VERSION"),
            totals: inner.counters.totals(),
            batch_micros_max: inner.batch_micros_max.load(Relaxed),
            latency: Latency {
                le_us: LATENCY_BUCKETS_US.to_vec(),
                counts: inner
                    .counters
                    .latency
                    .iter()
                    .map(|c| c.load(Relaxed))
                    .collect(),
            },
            cache_entries,
            event_cache_entries,
            ranges,
            servers: inner.servers.iter().map(Server::stats).collect(),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.stop();
        }
    }
}

/// State of one distinct key of a batch.
#[derive(Debug, Clone)]
enum State {
    Pending,
    Hit(Arc<[Entry]>),
    Miss,
    Failed,
}

/// One distinct (namespace, normalised value) of a batch.
struct Lookup<'a> {
    ns: Namespace,
    value: Value<'a>,
    state: State,
    /// Range matches: `ranges_found[start..end]`.
    ranges: (u32, u32),
    /// The lowest rank of the refs asking for it: memcached is asked in
    /// this order, and past the batch's cap, the highest ranks go unasked.
    priority: u32,
}

/// One value an item asked for.
#[derive(Clone, Copy)]
struct Ref {
    lookup: u32,
    kind: MatchKind,
}

/// The distinct keys of a batch and which items asked for them.
struct Plan<'a> {
    lookups: Vec<Lookup<'a>>,
    table: HashTable<u32>,
    refs: Vec<Ref>,
    /// Per item: `refs[start..end]`.
    items: Vec<(u32, u32)>,
    /// Per item: whether it was planned. Items are planned round-robin over
    /// the events (every event's first value, then every event's second,
    /// ...); those not reached when the batch's time ran out are flagged
    /// failed.
    planned: Vec<bool>,
    /// Bytes of values lowered by the fast paths ([`Value::Lowered`]).
    arena: Vec<u8>,
    /// Per slot: values and parent names asked so far. A value's rank is
    /// its position among its own event's values (parents counted apart),
    /// so the first values of every event come before the 1,000th of any.
    ranks: HashMap<u32, (u32, u32), foldhash::fast::RandomState>,
    /// Parent names left out by [`suffix::MAX_PARENTS`].
    parents_over_cap: u64,
}

impl<'a> Plan<'a> {
    fn intern(
        &mut self,
        hasher: &impl BuildHasher,
        ns: Namespace,
        value: Value<'a>,
        rank: u32,
    ) -> u32 {
        let arena = &self.arena;
        let bytes = value.bytes(arena);
        let hash = hasher.hash_one((namespace_id(ns), bytes));
        let lookups = &self.lookups;
        if let Some(&i) = self.table.find(hash, |&i| {
            let l = &lookups[i as usize];
            l.ns == ns && l.value.bytes(arena) == bytes
        }) {
            if let Some(l) = self.lookups.get_mut(i as usize) {
                l.priority = l.priority.min(rank);
            }
            return i;
        }
        let i = u32::try_from(self.lookups.len()).unwrap_or(u32::MAX);
        self.lookups.push(Lookup {
            ns,
            value,
            state: State::Pending,
            ranges: (0, 0),
            priority: rank,
        });
        let lookups = &self.lookups;
        self.table.insert_unique(hash, i, |&j| {
            let l = &lookups[j as usize];
            hasher.hash_one((namespace_id(l.ns), l.value.bytes(arena)))
        });
        i
    }

    fn add(
        &mut self,
        hasher: &impl BuildHasher,
        suffix_mode: bool,
        slot: u32,
        ns: Namespace,
        raw: &'a str,
    ) -> bool {
        let value = match fast::normalize(ns, raw, &mut self.arena) {
            Some(v) => v,
            None => match normalize(ns, raw) {
                Ok(Normalized::Exact(v)) => Value::Text(v),
                // A log value that is a CIDR range is not an address: skipped.
                Ok(Normalized::Range(_)) | Err(_) => return false,
            },
        };
        let parents: Vec<Value<'a>> = if suffix_mode && ns == Namespace::Domain {
            let (parents, left_out) = match &value {
                Value::Text(Cow::Borrowed(v)) => {
                    let (parents, left_out) = suffix::parents(v);
                    (
                        parents.map(|p| Value::Text(Cow::Borrowed(p))).collect(),
                        left_out,
                    )
                }
                other => {
                    let (parents, left_out) = suffix::parents(other.as_str(&self.arena));
                    (
                        parents
                            .map(|p| Value::Text(Cow::Owned(p.to_owned())))
                            .collect(),
                        left_out,
                    )
                }
            };
            self.parents_over_cap += left_out as u64;
            parents
        } else {
            Vec::new()
        };
        let ranks = self.ranks.entry(slot).or_insert((0, 0));
        let rank = ranks.0;
        ranks.0 = ranks.0.saturating_add(1);
        let first_parent_rank = ranks.1;
        ranks.1 = ranks
            .1
            .saturating_add(u32::try_from(parents.len()).unwrap_or(u32::MAX));
        let lookup = self.intern(hasher, ns, value, rank);
        self.refs.push(Ref {
            lookup,
            kind: MatchKind::Exact,
        });
        for (n, p) in parents.into_iter().enumerate() {
            let rank = first_parent_rank.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            let lookup = self.intern(hasher, ns, p, rank);
            self.refs.push(Ref {
                lookup,
                kind: MatchKind::Suffix,
            });
        }
        true
    }
}

impl Inner {
    fn lookup(&self, items: &[Item<'_>], started: Instant, delta: &mut Delta) -> Outcome {
        let deadline = started + self.settings.batch_timeout;
        // Planning may take half of the budget, and plan twice as many keys
        // as memcached will be asked for (the cache answers some): the rest
        // of the time is memcached's.
        let planning_deadline = started + self.settings.batch_timeout / 2;
        let max_planned = self.settings.max_lookups_per_batch.saturating_mul(2);
        let suffix_mode = self.settings.domain_match == DomainMatch::Suffix;
        let mut plan = Plan {
            lookups: Vec::with_capacity(items.len()),
            table: HashTable::with_capacity(items.len()),
            refs: Vec::with_capacity(items.len()),
            items: vec![(0, 0); items.len()],
            planned: vec![false; items.len()],
            arena: Vec::new(),
            ranks: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            parents_over_cap: 0,
        };
        for (n, &i) in round_robin(items).iter().enumerate() {
            let Some(item) = items.get(i as usize) else {
                continue;
            };
            // Planning is linear, but a huge batch must not plan past its share.
            if plan.lookups.len() >= max_planned
                || (n % ITEMS_PER_DEADLINE_CHECK == 0
                    && n > 0
                    && Instant::now() >= planning_deadline)
            {
                delta.failed_lookups += (items.len() - n) as u64;
                break;
            }
            let start = plan.refs.len() as u32;
            let ok = match std::str::from_utf8(item.value) {
                Ok(value) => match item.kind {
                    Kind::Namespace(ns) => {
                        plan.add(&self.hasher, suffix_mode, item.slot, ns, value)
                    }
                    Kind::SysmonHashes => {
                        let mut any = false;
                        for (ns, v) in hashes::split(value) {
                            any |= plan.add(&self.hasher, suffix_mode, item.slot, ns, v);
                        }
                        any
                    }
                },
                Err(_) => false,
            };
            if !ok {
                delta.invalid_values += 1;
            }
            plan.items[i as usize] = (start, plan.refs.len() as u32);
            plan.planned[i as usize] = true;
        }
        delta.lookups = plan.lookups.len() as u64;
        delta.parents_over_cap = plan.parents_over_cap;

        // IPs against the range index (in memory, never fails).
        let range_index = self.ranges.load_full();
        let mut ranges_found: Vec<u32> = Vec::new();
        if range_index.len() > 0 {
            for l in plan.lookups.iter_mut().filter(|l| l.ns == Namespace::Ip) {
                if let Ok(addr) = l.value.as_str(&plan.arena).parse::<IpAddr>() {
                    let start = ranges_found.len() as u32;
                    range_index.find(addr, &mut ranges_found);
                    l.ranges = (start, ranges_found.len() as u32);
                }
            }
        }

        // The cache.
        let now = self.caches.now();
        let mut misses: Vec<u32> = Vec::new();
        let mut key = Vec::with_capacity(256);
        for (i, l) in plan.lookups.iter_mut().enumerate() {
            cache_key(&mut key, l.ns, l.value.bytes(&plan.arena));
            match self.caches.answer(&key, now) {
                Some(Some(entries)) => l.state = State::Hit(entries),
                Some(None) => {
                    l.state = State::Miss;
                    delta.cache_negative_hits += 1;
                }
                None => misses.push(i as u32),
            }
        }
        delta.cache_misses = misses.len() as u64;
        delta.cache_hits = delta.lookups - delta.cache_misses;

        // memcached, for what the cache did not know: every event's first
        // values first, at most `max_lookups_per_batch` keys, in rounds.
        if misses.len() > 1 {
            misses.sort_by_key(|&i| (plan.lookups[i as usize].priority, i));
        }
        let cap = self.settings.max_lookups_per_batch;
        if misses.len() > cap {
            for &i in &misses[cap..] {
                plan.lookups[i as usize].state = State::Failed;
            }
            let over = (misses.len() - cap) as u64;
            delta.lookups_over_cap += over;
            delta.failed_lookups += over;
            misses.truncate(cap);
        }
        let mut gave_up = false;
        for round in misses.chunks(KEYS_PER_ROUND) {
            if gave_up {
                for &i in round {
                    plan.lookups[i as usize].state = State::Failed;
                }
                delta.failed_lookups += round.len() as u64;
                continue;
            }
            // All keys in one buffer: one allocation, not one per key.
            let mut buf = String::with_capacity(round.len() * 48);
            let mut ends = Vec::with_capacity(round.len());
            for &i in round {
                let l = &plan.lookups[i as usize];
                self.settings
                    .keyspace
                    .push_key(&mut buf, l.ns, l.value.as_str(&plan.arena));
                ends.push(buf.len());
            }
            let keys: Vec<&str> = ends
                .iter()
                .scan(0, |start, &end| {
                    let key = buf.get(*start..end).unwrap_or_default();
                    *start = end;
                    Some(key)
                })
                .collect();
            let answers = self.fetch(&keys, deadline, delta);
            let mut out_of_time = false;
            for (&i, got) in round.iter().zip(answers) {
                let l = &mut plan.lookups[i as usize];
                // Parsing is bounded per value, and stops with the batch's time.
                out_of_time = out_of_time || Instant::now() >= deadline;
                let item = match got {
                    Ok(item) if !out_of_time => item,
                    _ => {
                        // A server that failed, or no time left: later
                        // rounds are not asked.
                        gave_up = true;
                        l.state = State::Failed;
                        delta.failed_lookups += 1;
                        continue;
                    }
                };
                let answer = self.parse_answer(item, delta);
                cache_key(&mut key, l.ns, l.value.bytes(&plan.arena));
                self.caches.put_answer(&key, answer.clone(), now);
                l.state = match answer {
                    Some(entries) => State::Hit(entries),
                    None => State::Miss,
                };
            }
        }

        let mut outcome = self.assemble(items, &plan, &range_index, &ranges_found, delta);
        if self.settings.event_metadata && !outcome.slots.is_empty() {
            outcome.events = self.events(&outcome, deadline, now, delta);
        }
        outcome
    }

    /// Turns a stored value into an answer: ours (flags 0, `event_id#type`
    /// entries) or not (anything else counts as "not an indicator").
    fn parse_answer(&self, item: Option<McItem>, delta: &mut Delta) -> Answer {
        let item = item?;
        delta.memcached_hits += 1;
        // Dalli marks Marshal-serialised values with flag 1 and compressed
        // ones with flag 2: written by another client, not misp-load or the seed.
        if item.flags != 0 {
            delta.foreign_values += 1;
            return None;
        }
        let Ok(text) = std::str::from_utf8(&item.value) else {
            delta.foreign_values += 1;
            return None;
        };
        let parsed = EntryList::parse_capped(text, MAX_ENTRIES_PER_VALUE);
        delta.malformed_entries += parsed.malformed as u64;
        delta.entries_over_cap += parsed.over_cap as u64;
        if parsed.entries.is_empty() {
            delta.foreign_values += 1;
            return None;
        }
        Some(Arc::from(parsed.entries.entries()))
    }

    /// Reads `keys` from their servers (one multi-get each, in parallel when
    /// several servers are involved). The result is aligned with `keys`:
    /// `Err(())` where the key's server could not be asked.
    #[allow(clippy::type_complexity)]
    fn fetch(
        &self,
        keys: &[&str],
        deadline: Instant,
        delta: &mut Delta,
    ) -> Vec<Result<Option<McItem>, ()>> {
        let mut out: Vec<Result<Option<McItem>, ()>> = (0..keys.len()).map(|_| Err(())).collect();
        let n = self.servers.len();
        let mut groups: Vec<(Vec<usize>, Vec<&str>)> = vec![(Vec::new(), Vec::new()); n];
        for (i, k) in keys.iter().enumerate() {
            let s = if n == 1 {
                0
            } else {
                self.settings.ring.server_for(k.as_bytes())
            };
            groups[s].0.push(i);
            groups[s].1.push(k);
        }
        let busy: Vec<usize> = (0..n).filter(|s| !groups[*s].0.is_empty()).collect();
        let mut results: Vec<Option<Result<Vec<Option<McItem>>, FetchError>>> =
            (0..n).map(|_| None).collect();
        match busy.as_slice() {
            [] => {}
            [s] => results[*s] = Some(self.servers[*s].get_multi(&groups[*s].1, deadline)),
            [first, rest @ ..] => thread::scope(|scope| {
                let handles: Vec<_> = rest
                    .iter()
                    .map(|&s| {
                        let (server, keys) = (&self.servers[s], &groups[s].1);
                        (s, scope.spawn(move || server.get_multi(keys, deadline)))
                    })
                    .collect();
                results[*first] = Some(self.servers[*first].get_multi(&groups[*first].1, deadline));
                for (s, h) in handles {
                    results[s] = h.join().ok();
                }
            }),
        }
        for s in busy {
            let (indexes, keys) = &groups[s];
            match results[s].take() {
                Some(Ok(items)) => {
                    delta.memcached_round_trips += 1;
                    delta.memcached_keys += keys.len() as u64;
                    for (&i, item) in indexes.iter().zip(items) {
                        out[i] = Ok(item);
                    }
                }
                other => {
                    if matches!(other, Some(Err(FetchError::Failed(_))) | None) {
                        delta.memcached_round_trips += 1;
                        delta.memcached_keys += keys.len() as u64;
                        delta.errors += 1;
                    }
                }
            }
        }
        out
    }

    /// Builds the per-slot result from the answered plan.
    fn assemble(
        &self,
        items: &[Item<'_>],
        plan: &Plan<'_>,
        range_index: &RangeIndex,
        ranges_found: &[u32],
        delta: &mut Delta,
    ) -> Outcome {
        // Items with something to report, in slot order (stable: item order within a slot).
        let mut reported: Vec<(u32, usize)> = Vec::new();
        for (i, &(start, end)) in plan.items.iter().enumerate() {
            let any = !plan.planned[i]
                || plan.refs[start as usize..end as usize].iter().any(|r| {
                    let l = &plan.lookups[r.lookup as usize];
                    matches!(l.state, State::Hit(_) | State::Failed)
                        || (r.kind == MatchKind::Exact && l.ranges.0 < l.ranges.1)
                });
            if any {
                reported.push((items[i].slot, i));
            }
        }
        reported.sort_by_key(|(slot, _)| *slot);
        let mut slots: Vec<SlotResult> = Vec::new();
        for (slot, i) in reported {
            if slots.last().map(|s| s.slot) != Some(slot) {
                slots.push(SlotResult {
                    slot,
                    failed: false,
                    matches: Vec::new(),
                });
            }
            let Some(result) = slots.last_mut() else {
                continue;
            };
            if !plan.planned[i] {
                result.failed = true;
                continue;
            }
            let (start, end) = plan.items[i];
            for r in &plan.refs[start as usize..end as usize] {
                let l = &plan.lookups[r.lookup as usize];
                match &l.state {
                    State::Hit(entries) => {
                        push_match(result, l.ns, r.kind, l.value.as_str(&plan.arena), entries)
                    }
                    State::Failed => result.failed = true,
                    State::Pending | State::Miss => {}
                }
                if r.kind == MatchKind::Exact {
                    for &n in &ranges_found[l.ranges.0 as usize..l.ranges.1 as usize] {
                        if let Some((net, entries)) = range_index.get(n) {
                            push_match(result, l.ns, MatchKind::Range, &net.to_string(), entries);
                        }
                    }
                }
            }
        }
        for s in &slots {
            delta.failed_slots += u64::from(s.failed);
            delta.matched_slots += u64::from(!s.matches.is_empty());
            delta.matches += s.matches.len() as u64;
            for m in &s.matches {
                delta.range_matches += u64::from(m.kind == MatchKind::Range);
                delta.suffix_matches += u64::from(m.kind == MatchKind::Suffix);
            }
        }
        Outcome {
            slots,
            events: Vec::new(),
        }
    }

    /// Metadata of the events named by the matches: from the cache, else one
    /// more multi-get (within the same deadline). Failures only leave
    /// metadata out.
    fn events(
        &self,
        outcome: &Outcome,
        deadline: Instant,
        now: u64,
        delta: &mut Delta,
    ) -> Vec<(String, Arc<str>)> {
        let mut ids: Vec<&str> = outcome
            .slots
            .iter()
            .flat_map(|s| &s.matches)
            .flat_map(|m| m.entries.iter())
            .map(Entry::event_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut found: Vec<(String, Arc<str>)> = Vec::new();
        let mut wanted: Vec<&str> = Vec::new();
        for id in ids {
            match self.caches.event(id, now) {
                Some(json) => {
                    delta.event_cache_hits += 1;
                    if let Some(json) = json {
                        found.push((id.to_owned(), json));
                    }
                }
                None => wanted.push(id),
            }
        }
        // Metadata is extra: past the batch's key cap it is left out.
        wanted.truncate(self.settings.max_lookups_per_batch);
        if !wanted.is_empty() {
            delta.event_fetches += wanted.len() as u64;
            let keys: Vec<String> = wanted
                .iter()
                .map(|id| self.settings.keyspace.event_key(id))
                .collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let answers = self.fetch(&keys, deadline, delta);
            for (id, got) in wanted.iter().zip(answers) {
                let Ok(item) = got else { continue };
                let json = item.and_then(|it| event_json(&it, delta));
                self.caches.put_event(id, json.clone(), now);
                if let Some(json) = json {
                    found.push(((*id).to_owned(), json));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    fn refresh_ranges(&self) -> Result<usize, String> {
        let current = self.ranges.load_full();
        let timeouts = Timeouts {
            connect: self.settings.connect_timeout,
            io: self.settings.range_timeout,
        };
        let result = ranges::load(
            &self.settings.ring,
            &self.settings.keyspace,
            timeouts,
            current.generation,
            current.len() == 0,
            self.settings.login.as_ref(),
        );
        let mut state = self.range_state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(fresh) => {
                if let Some(index) = fresh {
                    state.generation = index.generation;
                    state.ranges = index.len() as u64;
                    state.bad_lines = index.bad_lines as u64;
                    self.ranges.store(Arc::new(index));
                }
                state.refreshes += 1;
                state.last_error = None;
                Ok(state.ranges as usize)
            }
            Err(e) => {
                let message = servers::redact(self.settings.login.as_ref(), &e.to_string());
                state.refresh_errors += 1;
                state.last_error = Some(message.clone());
                Err(message)
            }
        }
    }

    fn last_refresh_failed(&self) -> bool {
        self.range_state
            .lock()
            .map(|s| s.last_error.is_some())
            .unwrap_or(false)
    }
}

/// The indexes of `items` in planning order: every slot's first item, then
/// every slot's second, ... (item order within each round).
fn round_robin(items: &[Item<'_>]) -> Vec<u32> {
    let mut seen: HashMap<u32, u32, foldhash::fast::RandomState> =
        HashMap::with_hasher(foldhash::fast::RandomState::default());
    let mut keyed: Vec<(u32, u32)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = seen.entry(item.slot).or_insert(0);
        keyed.push((*n, u32::try_from(i).unwrap_or(u32::MAX)));
        *n = n.saturating_add(1);
    }
    if !keyed.is_sorted() {
        keyed.sort_unstable();
    }
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The cache key of a value: its namespace's wire id, then the value.
fn cache_key(key: &mut Vec<u8>, ns: Namespace, value: &[u8]) {
    key.clear();
    key.push(namespace_id(ns));
    key.extend_from_slice(value);
}

fn push_match(
    result: &mut SlotResult,
    ns: Namespace,
    kind: MatchKind,
    value: &str,
    entries: &Arc<[Entry]>,
) {
    // The same value in two fields of one event is reported once.
    if result
        .matches
        .iter()
        .any(|m| m.namespace == ns && m.kind == kind && m.value == value)
    {
        return;
    }
    result.matches.push(Match {
        namespace: ns,
        kind,
        value: value.to_owned(),
        entries: Arc::clone(entries),
    });
}

/// Event metadata as the plugin gets it: re-serialised from [`EventMeta`],
/// so only known fields, always valid JSON.
fn event_json(item: &McItem, delta: &mut Delta) -> EventJson {
    let meta = (item.flags == 0)
        .then(|| serde_json::from_slice::<EventMeta>(&item.value).ok())
        .flatten();
    match meta.and_then(|m| serde_json::to_string(&m).ok()) {
        Some(json) => Some(Arc::from(json)),
        None => {
            delta.foreign_values += 1;
            None
        }
    }
}

/// The background thread that re-reads the range index.
struct Refresher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: JoinHandle<()>,
}

impl Refresher {
    fn start(inner: Arc<Inner>, every: Duration) -> Refresher {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let handle = thread::Builder::new()
            .name("misp-enrich-ranges".into())
            .spawn(move || loop {
                // After a failure, retry sooner than the interval.
                let wait = if inner.last_refresh_failed() {
                    every.min(inner.settings.breaker_backoff)
                } else {
                    every
                };
                let (lock, cvar) = &*signal;
                let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                let (stopped, _) = cvar
                    .wait_timeout_while(guard, wait, |stopped| !*stopped)
                    .unwrap_or_else(|p| p.into_inner());
                if *stopped {
                    return;
                }
                drop(stopped);
                let _ = inner.refresh_ranges();
            });
        match handle {
            Ok(handle) => Refresher { stop, handle },
            // No thread could be started: the index is read only at creation.
            Err(_) => Refresher {
                stop,
                handle: thread::spawn(|| {}),
            },
        }
    }

    fn stop(self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        let _ = self.handle.join();
    }
}
