//! Event metadata: for every MISP event with a loaded indicator, one key
//! `<prefix>-event:<id>` with the core's `EventMeta` JSON (title, threat
//! level, date, org, tags incl. TLP). A worker thread collects the event ids
//! the load finds, fetches them in batches from `/events/restSearch` with
//! `metadata: true` (no attributes), and writes them, alongside the load.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use misp_enrich_core::EventMeta;
use serde::Deserialize;
use serde_json::json;

use crate::error::Error;
use crate::misp::{Misp, MispError};
use crate::store::Store;

/// Event ids per `/events/restSearch` request.
pub const EVENTS_PER_REQUEST: usize = 500;

/// What the event worker wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Metadata records written.
    pub written: u64,
    /// Records over memcached's item size limit, skipped (each warned about).
    pub too_large: u64,
}

/// The worker that fetches and writes event metadata.
#[derive(Debug)]
pub struct EventWorker {
    tx: Option<SyncSender<Vec<String>>>,
    handle: Option<JoinHandle<Result<EventCounts, Error>>>,
}

impl EventWorker {
    /// Starts the worker; it writes with `store` and expiry `exptime`.
    pub fn spawn(misp: Misp, store: Store, exptime: u32, now: u64) -> EventWorker {
        let (tx, rx) = sync_channel::<Vec<String>>(64);
        let handle = std::thread::Builder::new()
            .name("events".into())
            .spawn(move || work(&misp, store, &rx, exptime, now))
            .ok();
        EventWorker {
            tx: Some(tx),
            handle,
        }
    }

    /// Queues event ids (new to this run).
    pub fn send(&self, ids: Vec<String>) {
        if let Some(tx) = &self.tx {
            // A worker that stopped on an error reports it from `finish`.
            let _ = tx.send(ids);
        }
    }

    /// Waits for every queued event to be written; returns how many were.
    pub fn finish(mut self) -> Result<EventCounts, Error> {
        self.tx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(Error::Internal(
                "the event metadata worker failed to start or panicked".into(),
            )),
        }
    }
}

fn work(
    misp: &Misp,
    mut store: Store,
    rx: &Receiver<Vec<String>>,
    exptime: u32,
    now: u64,
) -> Result<EventCounts, Error> {
    let mut pending: Vec<String> = Vec::new();
    let mut written = EventCounts::default();
    let mut failure: Option<Error> = None;
    let mut flush = |pending: &mut Vec<String>, failure: &mut Option<Error>| {
        if failure.is_none() && !pending.is_empty() {
            match fetch_and_write(misp, &mut store, pending, exptime, now) {
                Ok(n) => {
                    written.written += n.written;
                    written.too_large += n.too_large;
                }
                Err(e) => *failure = Some(e),
            }
        }
        pending.clear();
    };
    for ids in rx {
        pending.extend(ids);
        while pending.len() >= EVENTS_PER_REQUEST {
            let mut batch: Vec<String> = pending.drain(..EVENTS_PER_REQUEST).collect();
            flush(&mut batch, &mut failure);
        }
    }
    flush(&mut pending, &mut failure);
    match failure {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

fn fetch_and_write(
    misp: &Misp,
    store: &mut Store,
    ids: &[String],
    exptime: u32,
    now: u64,
) -> Result<EventCounts, Error> {
    let metas = fetch(misp, ids, now)?;
    let ks = store.keyspace().clone();
    let items: Vec<(String, Vec<u8>, u32)> = metas
        .iter()
        .filter_map(|m| {
            serde_json::to_vec(m)
                .ok()
                .map(|json| (ks.event_key(&m.id), json, exptime))
        })
        .collect();
    let n = items.len() as u64;
    if n < ids.len() as u64 {
        tracing::debug!(
            "{} of {} events not returned by /events/restSearch",
            ids.len() as u64 - n,
            ids.len()
        );
    }
    let refused = store.set_many(items)?;
    for (key, bytes) in &refused {
        tracing::warn!(
            "event metadata `{}` ({bytes} bytes) is larger than memcached's item size limit (memcached -I): skipped, the other events are written",
            misp_enrich_core::excerpt(key)
        );
    }
    let too_large = refused.len() as u64;
    Ok(EventCounts {
        written: n - too_large,
        too_large,
    })
}

/// Fetches the metadata of `ids`.
pub fn fetch(misp: &Misp, ids: &[String], now: u64) -> Result<Vec<EventMeta>, Error> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        response: Vec<Wrapped>,
    }
    #[derive(Deserialize)]
    struct Wrapped {
        #[serde(rename = "Event")]
        event: Option<RawEvent>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct RawEvent {
        id: serde_json::Value,
        uuid: String,
        info: String,
        threat_level_id: serde_json::Value,
        date: String,
        #[serde(rename = "Orgc")]
        orgc: Option<Named>,
        #[serde(rename = "Tag")]
        tags: Vec<Named>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Named {
        name: String,
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let what = format!("/events/restSearch for {} events", ids.len());
    let body = json!({
        "returnFormat": "json",
        "eventid": ids,
        "metadata": true,
        "limit": ids.len(),
        "page": 1,
    });
    let answer = misp.post("/events/restSearch", &body, &what)?;
    let envelope: Envelope = serde_json::from_slice(&answer.body).map_err(|e| MispError::Json {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    Ok(envelope
        .response
        .into_iter()
        .filter_map(|w| w.event)
        .filter(|e| !text(&e.id).is_empty())
        .map(|e| EventMeta {
            id: text(&e.id),
            uuid: e.uuid,
            info: e.info,
            threat_level: EventMeta::threat_level_name(&text(&e.threat_level_id)).to_owned(),
            date: e.date,
            org: e.orgc.map(|o| o.name).unwrap_or_default(),
            tags: e.tags.into_iter().map(|t| t.name).collect(),
            loaded_at: now,
        })
        .collect())
}
