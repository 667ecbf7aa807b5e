//! The `<prefix>-load` key: what the last run did and when the last full run
//! was, for `misp-load stats` and for the next run. It also remembers whether
//! a first (initial) load ever completed: a first load that failed half way
//! leaves `misp-stats` above zero, and without this the next run would take
//! the short refresh window and never load the rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::{NsCounts, Store, StoreError};

/// The record stored under `<prefix>-load` (JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadRecord {
    /// Format version (1).
    pub version: u32,
    /// Whether an initial or full load has completed since the record exists.
    pub initial_complete: bool,
    /// When the last full run completed (unix seconds).
    pub last_full_run: Option<u64>,
    /// When the last successful run completed (unix seconds).
    pub last_success: Option<u64>,
    /// The last run, successful or not.
    pub last_run: Option<RunRecord>,
}

/// One run, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    /// Start (unix seconds).
    pub started_at: u64,
    /// End (unix seconds).
    pub finished_at: u64,
    /// `initial`, `refresh` or `full`.
    pub mode: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Attributes fetched.
    pub attributes: u64,
    /// What it did per namespace.
    pub namespaces: BTreeMap<String, NsCounts>,
    /// Ranges in the index afterwards.
    pub ranges: u64,
    /// Event metadata records written.
    pub events: u64,
}

/// The key of the record.
pub fn key(store: &Store) -> String {
    format!("{}-load", store.keyspace().prefix())
}

/// Reads the record; `None` if absent (e.g. memcached loaded by the seed) or unreadable.
pub fn read(store: &mut Store) -> Result<Option<LoadRecord>, StoreError> {
    let key = key(store);
    Ok(store
        .get(&key)?
        .and_then(|item| serde_json::from_slice(&item.value).ok()))
}

/// Writes the record (never expires).
pub fn write(store: &mut Store, record: &LoadRecord) -> Result<(), StoreError> {
    let key = key(store);
    let json = serde_json::to_vec(record).unwrap_or_default();
    store.set_many(vec![(key, json, 0)]).map(|_| ())
}
