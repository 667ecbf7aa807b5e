//! A small memcached client for misp-enrich, speaking the text protocol that
//! every memcached (and the seed's pymemcache and Dalli) understands.
//!
//! Why not a general-purpose client crate: misp-enrich needs three things
//! together that none of them offers. Keys are spread with the seed's
//! consistent-hashing rule ([`misp_enrich_core::ServerRing`]); every call is
//! bounded by a deadline, so a Logstash batch never waits on a dead or slow
//! server; and both directions are hostile-input safe (keys are checked with
//! [`misp_enrich_core::is_safe_key`] before they reach the socket, replies are
//! parsed with hard bounds, anything unexpected drops the connection).
//!
//! # Brief overview
//!
//! - [`Connection`]: one TCP connection (TCP_NODELAY). [`Connection::get_multi`]
//!   reads many keys in one round trip; [`Connection::execute`] pipelines
//!   writes (set, add, cas, delete, incr, ...) in batches.
//!   [`Connection::metadump`] lists the keys a server holds (for misp-load's
//!   reconcile), [`Connection::delete_if_unchanged`] deletes only what was
//!   not changed since it was read.
//! - [`Pool`]: idle connections to one server, shared by threads.
//! - [`Error`]: what went wrong; [`Error::is_transient`] tells whether the
//!   server may answer if asked again.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod connection;
mod error;
mod pool;

pub use connection::{
    check_credentials, Connection, DumpedKey, Item, Metadump, Op, Reply, Timeouts,
    LISTING_SLACK_KEYS, LISTING_TIME_PER_ITEM, MAX_REPLY_BYTES, MAX_VALUE_BYTES,
};
pub use error::Error;
pub use pool::Pool;

#[cfg(feature = "test-server")]
mod test_server;
#[cfg(feature = "test-server")]
pub use test_server::{free_port, TestServer};
