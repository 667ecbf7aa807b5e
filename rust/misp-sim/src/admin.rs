//! The emulator's own endpoints under `/_sim/` (no API key, never logged):
//! state counts, data mutation, fault configuration and the request log.

use crate::data::{lock, mutate, read, write};
use crate::faults::Faults;
use crate::server::App;
use crate::timeutil;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `/_sim/*` routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_sim/state", get(state))
        .route("/_sim/mutate", post(mutate_handler))
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/requests", get(requests).delete(clear_requests))
}

fn bad(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg.to_string()})),
    )
        .into_response()
}

/// `GET /_sim/state`: what the emulator holds.
async fn state(State(app): State<Arc<App>>) -> Json<Value> {
    let s = read(&app.store);
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut deleted, mut ids_live, mut wl, mut decayed) = (0u64, 0u64, 0u64, 0u64);
    let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
    for a in &s.attrs {
        *by_type.entry(s.types.name(a.kind)).or_default() += 1;
        deleted += u64::from(a.deleted);
        ids_live += u64::from(a.to_ids && !a.deleted);
        wl += u64::from(a.warninglisted);
        decayed += u64::from(a.decayed);
        min_ts = min_ts.min(a.timestamp);
        max_ts = max_ts.max(a.timestamp);
    }
    let published = s.events.iter().filter(|e| e.published).count();
    let faults = lock(&app.faults).clone();
    let requests = lock(&app.log).total();
    Json(json!({
        "misp_version": crate::server::MISP_VERSION,
        "sim_version": env!("CARGO_PKG_VERSION"),
        "started": app.started,
        "now": timeutil::now(),
        "generation": s.generation,
        "attributes": {
            "total": s.attrs.len(),
            "live": s.attrs.len() as u64 - deleted,
            "deleted": deleted,
            "to_ids_live": ids_live,
            "warninglisted": wl,
            "decayed": decayed,
            "min_id": s.attrs.first().map(|a| a.id.to_string()),
            "max_id": s.attrs.last().map(|a| a.id.to_string()),
            "min_timestamp": (min_ts != i64::MAX).then_some(min_ts),
            "max_timestamp": (max_ts != i64::MIN).then_some(max_ts),
            "by_type": by_type,
        },
        "events": {
            "total": s.events.len(),
            "published": published,
            "max_id": s.events.iter().map(|e| e.id).max().map(|x| x.to_string()),
        },
        "tags": s.tags.iter().map(|t| json!({"id": t.id.to_string(), "name": &*t.name})).collect::<Vec<_>>(),
        "requests": requests,
        "faults": faults,
    }))
}

/// `POST /_sim/mutate`: see `data::mutate::Mutation`.
async fn mutate_handler(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let m: mutate::Mutation = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return bad(format!("mutation JSON: {e}")),
    };
    let mut s = write(&app.store);
    match mutate::apply(&mut s, &m, timeutil::now()) {
        Ok(v) => Json(v).into_response(),
        Err(e) => bad(e),
    }
}

/// `GET /_sim/faults`: the current configuration, with hit counts.
async fn get_faults(State(app): State<Arc<App>>) -> Json<Faults> {
    Json(lock(&app.faults).clone())
}

/// `POST /_sim/faults`: replaces the configuration (`{}` clears it).
async fn set_faults(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            *lock(&app.faults) = f.clone();
            Json(f).into_response()
        }
        Err(e) => bad(format!("fault JSON: {e}")),
    }
}

/// `GET /_sim/requests[?since=SEQ]`: the MISP requests received.
async fn requests(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Json<Value> {
    let since = q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let log = lock(&app.log);
    Json(json!({"total": log.total(), "requests": log.since(since)}))
}

/// `DELETE /_sim/requests`: forgets the log (sequence numbers keep counting).
async fn clear_requests(State(app): State<Arc<App>>) -> Json<Value> {
    let mut log = lock(&app.log);
    log.clear();
    Json(json!({"total": log.total()}))
}
