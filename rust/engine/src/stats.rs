//! Counters of the engine: plain atomics, added to once per batch, read
//! without locks into a [`Stats`] snapshot (serialised to JSON for the plugin).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::servers::ServerStats;

/// Upper bounds (inclusive, microseconds) of the batch latency histogram;
/// a last bucket counts everything slower.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// Totals since the engine was created.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( pub $name: AtomicU64, )*
            pub latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
        }

        /// What one batch adds to the counters.
        #[derive(Debug, Default, Clone, Copy)]
        pub(crate) struct Delta {
            $( pub $name: u64, )*
        }

        /// Totals since the engine was created.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
        pub struct Totals {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl Counters {
            pub(crate) fn add(&self, d: &Delta) {
                $( if d.$name != 0 { self.$name.fetch_add(d.$name, Relaxed); } )*
            }

            pub(crate) fn totals(&self) -> Totals {
                Totals { $( $name: self.$name.load(Relaxed), )* }
            }
        }
    };
}

counters! {
    /// Batches looked up.
    batches,
    /// Items received (one per field value; a Sysmon `Hashes` string is one item).
    items,
    /// Values that cannot be indicators (not UTF-8, not of their namespace's form) and were skipped.
    invalid_values,
    /// Distinct keys looked up (after normalisation and de-duplication within a batch).
    lookups,
    /// Keys answered by the cache (positive or negative).
    cache_hits,
    /// Of which negative ("not an indicator").
    cache_negative_hits,
    /// Keys not in the cache.
    cache_misses,
    /// Multi-gets sent to memcached for indicator keys and event metadata.
    memcached_round_trips,
    /// Keys asked from memcached.
    memcached_keys,
    /// Keys memcached had.
    memcached_hits,
    /// Values memcached had that are not ours: another client's flags (Dalli's Marshal) or no valid entry.
    foreign_values,
    /// Entries dropped from values because they are not `event_id#type`.
    malformed_entries,
    /// Parts of stored values past the cap of entries read per value
    /// (`MAX_ENTRIES_PER_VALUE`, 1,000), not read.
    entries_over_cap,
    /// Keys not looked up because the batch had more than
    /// `max_lookups_per_batch` to ask memcached (counted in `failed_lookups` too).
    lookups_over_cap,
    /// Parent names not looked up because a name had more than
    /// `MAX_PARENTS` (8) below its registrable domain.
    parents_over_cap,
    /// Matches reported (exact, range and suffix).
    matches,
    /// Of which range matches.
    range_matches,
    /// Of which suffix matches.
    suffix_matches,
    /// Slots reported with at least one match.
    matched_slots,
    /// Keys that could not be looked up (server down, breaker open, out of time).
    failed_lookups,
    /// Slots reported as failed.
    failed_slots,
    /// Failed multi-gets (connect errors, timeouts, I/O and protocol errors).
    errors,
    /// Event metadata answered by the cache.
    event_cache_hits,
    /// Event metadata read from memcached.
    event_fetches,
    /// Batch buffers refused as malformed.
    malformed_batches,
    /// Sum of batch latencies, microseconds.
    batch_micros_total,
}

/// A snapshot of the engine's state and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// The library version.
    pub version: &'static str,
    /// Totals since the engine was created.
    #[serde(flatten)]
    pub totals: Totals,
    /// Slowest batch, microseconds.
    pub batch_micros_max: u64,
    /// Batch latency histogram.
    pub latency: Latency,
    /// Entries in the answer cache (approximate).
    pub cache_entries: u64,
    /// Entries in the event metadata cache (approximate).
    pub event_cache_entries: u64,
    /// The range index.
    pub ranges: RangeStats,
    /// Per server.
    pub servers: Vec<ServerStats>,
}

/// The batch latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Upper bounds of the buckets, microseconds (the last bucket has none).
    pub le_us: Vec<u64>,
    /// Batches per bucket (one more than `le_us`).
    pub counts: Vec<u64>,
}

/// The range index's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RangeStats {
    /// Generation in memory (absent: none loaded).
    pub generation: Option<u64>,
    /// Ranges in memory.
    pub ranges: u64,
    /// Lines of the index that did not parse.
    pub bad_lines: u64,
    /// Refreshes that loaded a new index (or found it unchanged).
    pub refreshes: u64,
    /// Refreshes that failed (the old index stayed).
    pub refresh_errors: u64,
    /// The last refresh error, if the last refresh failed.
    pub last_error: Option<String>,
}

/// The histogram bucket of a latency.
pub(crate) fn bucket(micros: u64) -> usize {
    LATENCY_BUCKETS_US
        .iter()
        .position(|le| micros <= *le)
        .unwrap_or(LATENCY_BUCKETS_US.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(50), 0);
        assert_eq!(bucket(51), 1);
        assert_eq!(bucket(u64::MAX), LATENCY_BUCKETS_US.len());
    }
}
