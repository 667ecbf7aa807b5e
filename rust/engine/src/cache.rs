//! The in-process cache in front of memcached: quick_cache's concurrent,
//! size-bounded cache (sharded, S3-FIFO eviction), with an expiry time
//! stored in each entry so that found indicators and "not an indicator"
//! answers live for their own TTLs in one cache.
//!
//! Why not moka: its `get` records every hit for its admission policy (a
//! shared read buffer, a frequency sketch, deque moves, a clock read per
//! call), which profiling showed to be most of a warm-cache lookup's time;
//! quick_cache marks a hit with one bit on the entry. See docs/engine.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use misp_enrich_core::Entry;
use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::UnitWeighter;

/// What memcached said about a key: its entries, or `None` (not an indicator).
pub(crate) type Answer = Option<Arc<[Entry]>>;

/// Event metadata as JSON, or `None` (the event has no metadata key).
pub(crate) type EventJson = Option<Arc<str>>;

type Hasher = foldhash::quality::RandomState;

/// Keys up to this many bytes (the namespace id and the value: IPs, MD5,
/// SHA-1 and imphash digests, most domains) are stored inside the cache's
/// entry, saving a pointer chase per lookup; longer ones on the heap. Measured:
/// 46 beat both 70 (every SHA-256 inline, but larger entries and fewer of
/// them per cache line) and 22-30.
const INLINE_KEY: usize = 46;

/// A cache key: the bytes inline when short, on the heap otherwise.
#[derive(Clone)]
enum Key {
    Inline(u8, [u8; INLINE_KEY]),
    Heap(Box<[u8]>),
}

impl Key {
    fn new(bytes: &[u8]) -> Self {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE_KEY => {
                let mut inline = [0; INLINE_KEY];
                inline[..bytes.len()].copy_from_slice(bytes);
                Key::Inline(len, inline)
            }
            _ => Key::Heap(bytes.into()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline(len, b) => &b[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that lookups by `&[u8]` find it (`Borrow`).
        self.bytes().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

/// A cached value and the time it expires (microseconds since the epoch of [`Caches`]).
#[derive(Clone)]
struct Timed<T> {
    until: u64,
    value: T,
}

type TimedCache<K, V> = Cache<K, Timed<V>, UnitWeighter, Hasher, DefaultLifecycle<K, Timed<V>>>;

/// The engine's caches; both absent when the cache size is 0.
pub(crate) struct Caches {
    epoch: Instant,
    positive: u64,
    negative: u64,
    /// Key: the namespace's wire id, then the normalised value.
    answers: Option<TimedCache<Key, Answer>>,
    /// Key: the event id.
    events: Option<TimedCache<Box<str>, EventJson>>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn timed_cache<K: Eq + std::hash::Hash, V: Clone>(size: u64) -> TimedCache<K, V> {
    let items = usize::try_from(size).unwrap_or(usize::MAX);
    Cache::with(
        items,
        size,
        UnitWeighter,
        Hasher::default(),
        DefaultLifecycle::default(),
    )
}

impl Caches {
    pub(crate) fn new(size: u64, positive: Duration, negative: Duration) -> Self {
        let enabled = size > 0;
        Caches {
            epoch: Instant::now(),
            positive: micros(positive),
            negative: micros(negative),
            answers: enabled.then(|| timed_cache(size)),
            events: enabled.then(|| timed_cache(size.min(100_000))),
        }
    }

    /// The cache's clock: read once per batch.
    pub(crate) fn now(&self) -> u64 {
        micros(self.epoch.elapsed())
    }

    fn until<T>(&self, now: u64, value: &Option<T>) -> u64 {
        now.saturating_add(if value.is_some() {
            self.positive
        } else {
            self.negative
        })
    }

    pub(crate) fn answer(&self, key: &[u8], now: u64) -> Option<Answer> {
        let t = self.answers.as_ref()?.get(key)?;
        (t.until > now).then_some(t.value)
    }

    pub(crate) fn put_answer(&self, key: &[u8], answer: Answer, now: u64) {
        if let Some(c) = &self.answers {
            let until = self.until(now, &answer);
            c.insert(
                Key::new(key),
                Timed {
                    until,
                    value: answer,
                },
            );
        }
    }

    pub(crate) fn event(&self, id: &str, now: u64) -> Option<EventJson> {
        let t = self.events.as_ref()?.get(id)?;
        (t.until > now).then_some(t.value)
    }

    pub(crate) fn put_event(&self, id: &str, json: EventJson, now: u64) {
        if let Some(c) = &self.events {
            let until = self.until(now, &json);
            c.insert(id.into(), Timed { until, value: json });
        }
    }

    /// Entries now held (expired ones included until they are evicted).
    pub(crate) fn entries(&self) -> (u64, u64) {
        (
            self.answers.as_ref().map_or(0, |c| c.len() as u64),
            self.events.as_ref().map_or(0, |c| c.len() as u64),
        )
    }
}
