//! The lookup engine behind the `misp_enrich` Logstash filter.
//!
//! Every pipeline worker hands the engine all values of a whole Logstash
//! batch in one call; the engine normalises them with the core's rules,
//! de-duplicates them, answers from an in-process cache, sends the rest to
//! memcached as one multi-get per server (servers in parallel), checks IPs
//! against the IP range index held in memory, optionally matches parent
//! domains, and returns only the slots that matched or could not be looked
//! up. A batch never waits longer than its configured budget, and a circuit
//! breaker per server keeps a dead server from costing anything until it
//! comes back.
//!
//! # Brief overview
//!
//! - [`Config`]: one JSON object; [`Engine::new`] checks it.
//! - [`Engine::lookup`] takes decoded [`Item`]s and returns an [`Outcome`];
//!   [`Engine::lookup_wire`] does the same on the binary wire format of
//!   [`wire`] (what the C ABI and the Ruby plugin use).
//! - [`Engine::stats`]: lock-free counters, breaker states, latency.
//!
//! # Example
//!
//! ```no_run
//! use misp_enrich_engine::{Config, Engine, Item, Kind};
//! use misp_enrich_core::Namespace;
//! let engine = Engine::new(&Config::new(&["127.0.0.1:11211"])).unwrap();
//! let outcome = engine.lookup(&[Item { slot: 0, kind: Kind::Namespace(Namespace::Domain), value: b"evil.example" }]);
//! for slot in outcome.slots {
//!     println!("event {} matched {:?} (failed: {})", slot.slot, slot.matches, slot.failed);
//! }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cache;
mod config;
mod engine;
mod error;
mod fast;
mod hashes;
mod ranges;
mod servers;
mod stats;
mod suffix;
pub mod wire;

pub use config::{Config, DomainMatch};
pub use engine::{Engine, Match, MatchKind, Outcome, SlotResult, MAX_ENTRIES_PER_VALUE};
pub use error::{ConfigError, WireError};
pub use servers::{BreakerState, ServerStats};
pub use stats::{Latency, RangeStats, Stats, Totals, LATENCY_BUCKETS_US};
pub use suffix::MAX_PARENTS;
pub use wire::{Item, Kind};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_is_shareable() {
        fn shared<T: Send + Sync>() {}
        shared::<Engine>();
    }
}
