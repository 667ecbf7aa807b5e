//! The HTTP side: the accept loop (plain or TLS), the MISP routes with MISP's
//! rules for the `Accept` header and API keys, restSearch paging headers,
//! error bodies, and the faults applied to responses. Admin routes live in
//! `admin`.

use crate::data::{self, lock, read, Store};
use crate::faults::{Decision, Faults, Truncate};
use crate::filter::{self, EventQuery, Query};
use crate::render::{self, Opts};
use crate::{admin, reqlog, timeutil};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use tracing::{debug, warn};

/// MISP version the emulator claims to be.
pub const MISP_VERSION: &str = "2.5.1";

const AUTH_FAILED: &str = "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.";
const EMPTY_POST: &str =
    "Either specify the search terms in the url, or POST a json with the filter parameters.";
const GET_SEARCH: &str = "Restsearch queries using GET and no parameters are not allowed. If you have passed parameters via a JSON body, make sure you use POST requests.";
const BAD_JSON: &str = "Invalid JSON input. Make sure that the JSON input is a correctly formatted JSON string. This request has been blocked to avoid an unfiltered request.";
const INTERNAL: &str = "An Internal Error Has Occurred.";

/// Shared state of the running emulator.
pub struct App {
    pub store: RwLock<Store>,
    pub key: String,
    pub faults: Mutex<Faults>,
    pub log: Mutex<reqlog::Log>,
    pub unpaged_limit: Option<usize>,
    pub scheme: &'static str,
    pub started: i64,
}

/// All routes.
pub fn router(app: Arc<App>) -> Router {
    admin::routes().fallback(misp).with_state(app)
}

/// Binds, prints the ready line, and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    addr: SocketAddr,
    app: Arc<App>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}://{local}", app.scheme)?;
        out.flush()?;
    }
    let router = router(app);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = hyper_util::service::TowerToHyperService::new(router.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    let http = hyper::server::conn::http1::Builder::new();
                    let res = match tls {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(s) => http.serve_connection(hyper_util::rt::TokioIo::new(s), svc).await,
                            Err(e) => {
                                debug!("TLS handshake with {peer} failed: {e}");
                                return;
                            }
                        },
                        None => http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await,
                    };
                    if let Err(e) = res {
                        debug!("connection with {peer}: {e}");
                    }
                });
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The MISP endpoints the emulator knows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Endpoint {
    AttributeSearch,
    EventSearch,
    Version,
    Me,
    Login,
    Unknown,
}

fn endpoint(path: &str) -> (Endpoint, bool) {
    let (base, json_ext) = match path.strip_suffix(".json") {
        Some(b) => (b, true),
        None => (path, false),
    };
    let base = base.trim_end_matches('/');
    let e = match base {
        "/attributes/restSearch" => Endpoint::AttributeSearch,
        "/events/restSearch" => Endpoint::EventSearch,
        "/servers/getVersion" => Endpoint::Version,
        "/users/view/me" => Endpoint::Me,
        "/users/login" => Endpoint::Login,
        _ => Endpoint::Unknown,
    };
    (e, json_ext)
}

/// MISP's key check: `X-MISP-AUTH` overrides `Authorization`; several
/// comma-separated keys are each tried; `Basic ...` values are skipped.
fn authorized(h: &HeaderMap, key: &str) -> bool {
    let raw = h
        .get("x-misp-auth")
        .or_else(|| h.get(header::AUTHORIZATION));
    raw.and_then(|v| v.to_str().ok()).is_some_and(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|k| !k.starts_with("Basic"))
            .any(|k| k.len() == 40 && k.bytes().all(|b| b.is_ascii_alphanumeric()) && k == key)
    })
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn misp_error(status: StatusCode, message: &str, url: &str) -> Response {
    respond(status, "application/json", render::error_body(message, url))
}

fn login_redirect(headers: &HeaderMap, scheme: &str) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut r = respond(StatusCode::FOUND, "text/html; charset=UTF-8", Vec::new());
    if let Ok(v) = HeaderValue::from_str(&format!("{scheme}://{host}/users/login")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Users - MISP</title></head>\n<body>\n<form action=\"/users/login\" id=\"UserLoginForm\" method=\"post\">\n<input name=\"data[User][email]\" type=\"email\"/>\n<input name=\"data[User][password]\" type=\"password\"/>\n<button type=\"submit\">Login</button>\n</form>\n</body>\n</html>\n";

fn fault_response(status: u16, retry_after: u64, body: Option<String>, url: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = match (body, code.as_u16()) {
        (Some(b), _) => respond(code, "application/json", b.into_bytes()),
        (None, 429) => misp_error(code, "Rate limit exceeded.", url),
        (None, 500) => misp_error(code, INTERNAL, url),
        (None, 502..=504) => {
            let reason = code.canonical_reason().unwrap_or("Error");
            let html = format!(
                "<html>\r\n<head><title>{s} {reason}</title></head>\r\n<body>\r\n<center><h1>{s} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
                s = code.as_u16()
            );
            respond(code, "text/html", html.into_bytes())
        }
        (None, _) => misp_error(code, code.canonical_reason().unwrap_or("Error"), url),
    };
    if matches!(code.as_u16(), 429 | 503) {
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            h.insert(header::RETRY_AFTER, v.clone());
            if code.as_u16() == 429 {
                h.insert("X-Rate-Limit-Limit", HeaderValue::from_static("100"));
                h.insert("X-Rate-Limit-Remaining", HeaderValue::from_static("0"));
                h.insert("X-Rate-Limit-Reset", v);
            }
        }
    }
    r
}

/// Cuts a response body as the fault asks.
fn truncate(resp: Response, mode: Truncate) -> Response {
    let (mut parts, body) = resp.into_parts();
    // The body was built in memory; collecting it again is immediate.
    let full = futures_util::FutureExt::now_or_never(axum::body::to_bytes(body, usize::MAX))
        .and_then(Result::ok)
        .unwrap_or_default();
    let half = full.slice(..full.len() / 2);
    match mode {
        Truncate::Body => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(half))
        }
        Truncate::Connection => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
            use futures_util::StreamExt as _;
            // Let the head and the first half reach the wire before the
            // connection is dropped.
            let first =
                futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(half) });
            let fail = futures_util::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(std::io::Error::other(
                    "misp-sim: truncated by fault injection",
                ))
            });
            Response::from_parts(parts, Body::from_stream(first.chain(fail)))
        }
    }
}

/// The effective page of a restSearch body, for fault rules (1 if unpaged).
fn page_of(body: Option<&Value>) -> u64 {
    body.map(|b| b.get("request").filter(|r| r.is_object()).unwrap_or(b))
        .and_then(Value::as_object)
        .and_then(filter::paging)
        .map_or(1, |(_, p)| p as u64)
}

/// Every MISP path: log, faults, Accept and key rules, then the endpoint.
async fn misp(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 512 << 20).await {
        Ok(b) => b,
        Err(e) => {
            debug!("reading request body: {e}");
            return misp_error(
                StatusCode::BAD_REQUEST,
                "Could not read the request body.",
                parts.uri.path(),
            );
        }
    };
    let path = parts.uri.path().to_string();
    let parsed: Option<Result<Value, serde_json::Error>> =
        if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(serde_json::from_slice(&bytes))
        };
    let json_body = parsed.as_ref().and_then(|r| r.as_ref().ok());
    let page = page_of(json_body);
    let seq = lock(&app.log).push(reqlog::Entry {
        seq: 0,
        time: timeutil::now(),
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: reqlog::headers(&parts.headers),
        body: json_body.cloned().unwrap_or(Value::Null),
        body_text: match &parsed {
            Some(Err(_)) => {
                Some(String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned())
            }
            _ => None,
        },
        status: 0,
    });
    let decision = lock(&app.faults).decide(&path, page);
    let delay = decision.delay;
    let mut resp = handle(
        &app,
        &parts.method,
        &parts.headers,
        &path,
        parsed,
        &decision,
    )
    .await;
    if let (Some(mode), true) = (decision.truncate, resp.status() == StatusCode::OK) {
        resp = truncate(resp, mode);
    }
    lock(&app.log).set_status(seq, resp.status().as_u16());
    debug!(%path, status = resp.status().as_u16(), "request");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    resp
}

async fn handle(
    app: &Arc<App>,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    body: Option<Result<Value, serde_json::Error>>,
    decision: &Decision,
) -> Response {
    if decision.redirect {
        return login_redirect(headers, app.scheme);
    }
    let (ep, json_ext) = endpoint(path);
    if ep == Endpoint::Login {
        return respond(
            StatusCode::OK,
            "text/html; charset=UTF-8",
            LOGIN_PAGE.into(),
        );
    }
    let automation = matches!(ep, Endpoint::AttributeSearch | Endpoint::EventSearch);
    let accept_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim() == "application/json");
    if !automation && !json_ext && !accept_json {
        return login_redirect(headers, app.scheme);
    }
    if !authorized(headers, &app.key) {
        return misp_error(StatusCode::FORBIDDEN, AUTH_FAILED, path);
    }
    if let Some((status, retry, body)) = decision.status.clone() {
        return fault_response(status, retry, body, path);
    }
    match ep {
        Endpoint::AttributeSearch | Endpoint::EventSearch => {
            if method == Method::GET {
                return misp_error(StatusCode::BAD_REQUEST, GET_SEARCH, path);
            }
            let params = match body {
                None => return misp_error(StatusCode::BAD_REQUEST, EMPTY_POST, path),
                Some(Err(_)) => return misp_error(StatusCode::METHOD_NOT_ALLOWED, BAD_JSON, path),
                Some(Ok(v)) => {
                    let v = match v {
                        Value::Object(mut m)
                            if matches!(m.get("request"), Some(Value::Object(_))) =>
                        {
                            m.remove("request").unwrap_or(Value::Null)
                        }
                        other => other,
                    };
                    match v {
                        Value::Object(m) if !m.is_empty() => m,
                        _ => return misp_error(StatusCode::BAD_REQUEST, EMPTY_POST, path),
                    }
                }
            };
            let app = Arc::clone(app);
            let url = path.to_string();
            let job = tokio::task::spawn_blocking(move || {
                if ep == Endpoint::AttributeSearch {
                    attribute_search(&app, &params, &url)
                } else {
                    event_search(&app, &params)
                }
            });
            match job.await {
                Ok(r) => r,
                Err(e) => {
                    warn!("search task failed: {e}");
                    misp_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL, path)
                }
            }
        }
        Endpoint::Version => respond(StatusCode::OK, "application/json", version_body()),
        Endpoint::Me => respond(
            StatusCode::OK,
            "application/json",
            me_body(&read(&app.store)),
        ),
        Endpoint::Login | Endpoint::Unknown => misp_error(StatusCode::NOT_FOUND, "Not Found", path),
    }
}

fn with_header(r: &mut Response, name: &'static str, value: usize) {
    r.headers_mut().insert(name, HeaderValue::from(value));
}

/// `POST /attributes/restSearch`: filter, page, render, headers.
fn attribute_search(app: &App, p: &Map<String, Value>, path: &str) -> Response {
    match p.get("returnFormat").and_then(Value::as_str) {
        None | Some("json") => {}
        Some(other) => {
            return misp_error(
                StatusCode::BAD_REQUEST,
                &format!("misp-sim emulates returnFormat json only, not {other}."),
                path,
            )
        }
    }
    let now = timeutil::now();
    let store = read(&app.store);
    let q = Query::compile(p, &store, now);
    let page = filter::run(&store, &q);
    if q.paging.is_none() && app.unpaged_limit.is_some_and(|l| page.db_rows > l) {
        return misp_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL, path);
    }
    let opts = Opts {
        include_event_uuid: filter::truthy(p.get("includeEventUuid")),
        include_event_tags: filter::truthy(p.get("includeEventTags")),
        include_context: filter::truthy(p.get("includeContext")),
        warninglist_hits: filter::truthy(p.get("includeWarninglistHits")),
        decay_score: filter::truthy(p.get("includeDecayScore")),
        now,
    };
    let body = render::attributes_body(&store, &page.rows, &opts);
    drop(store);
    // X-Result-Count: DB rows of the page, +1 when the page was full; an
    // empty page past the end reports 1 (misp_api.md §2, Paging).
    let count = match q.paging {
        Some(_) if page.db_rows == 0 => 1,
        Some((limit, _)) if page.db_rows >= limit => page.db_rows + 1,
        _ => page.db_rows,
    };
    let mut r = respond(StatusCode::OK, "application/json", body);
    with_header(&mut r, "X-Result-Count", count);
    with_header(&mut r, "X-Skipped-Elements-Count", page.skipped);
    r.headers_mut()
        .insert("X-Export-Module-Used", HeaderValue::from_static("json"));
    r.headers_mut()
        .insert("X-Response-Format", HeaderValue::from_static("json"));
    r
}

/// `POST /events/restSearch` (`metadata: true` drops attributes).
fn event_search(app: &App, p: &Map<String, Value>) -> Response {
    let now = timeutil::now();
    let store = read(&app.store);
    let q = EventQuery::compile(p, &store, now);
    let idx = q.run(&store);
    let body = render::events_body(&store, &idx, filter::truthy(p.get("metadata")));
    drop(store);
    let mut r = respond(StatusCode::OK, "application/json", body);
    with_header(&mut r, "X-Result-Count", idx.len());
    r
}

fn version_body() -> Vec<u8> {
    json!({
        "version": MISP_VERSION,
        "pymisp_recommended_version": MISP_VERSION,
        "perm_sync": false,
        "perm_sighting": true,
        "perm_galaxy_editor": false,
        "perm_analyst_data": false,
        "uuid": "-",
        "request_encoding": ["gzip", "br"],
        "filter_sightings": true
    })
    .to_string()
    .into_bytes()
}

fn me_body(store: &Store) -> Vec<u8> {
    let (org_name, org_uuid) = store
        .orgs
        .iter()
        .find(|o| o.id == 1)
        .map_or(("Sim CERT".to_string(), data::gen::uuid_from(1)), |o| {
            (o.name.to_string(), o.uuid.to_string())
        });
    json!({
        "User": {
            "id": "1", "org_id": "1", "email": "sim@misp-sim.invalid", "autoalert": false,
            "invited_by": "0", "gpgkey": null, "certif_public": "", "nids_sid": "4000000",
            "termsaccepted": true, "newsread": "0", "role_id": "3", "change_pw": false,
            "contactalert": false, "disabled": false, "expiration": null,
            "current_login": "0", "last_login": "0", "last_api_access": "0",
            "force_logout": false, "date_created": "0", "date_modified": "0",
            "last_pw_change": "0", "sub": null, "external_auth_required": false,
            "external_auth_key": ""
        },
        "Role": {
            "id": "3", "name": "User", "perm_add": true, "perm_modify": true,
            "perm_modify_org": true, "perm_publish": false, "perm_delegate": false,
            "perm_sync": false, "perm_admin": false, "perm_audit": false, "perm_auth": true,
            "perm_site_admin": false, "perm_regexp_access": false, "perm_tagger": true,
            "perm_template": false, "perm_sharing_group": false, "perm_tag_editor": false,
            "perm_sighting": true, "perm_object_template": false, "default_role": true,
            "memory_limit": "", "max_execution_time": "", "restricted_to_site_admin": false,
            "perm_publish_zmq": false, "perm_publish_kafka": false, "perm_decaying": true,
            "enforce_rate_limit": false, "rate_limit_count": "0", "perm_galaxy_editor": false,
            "perm_warninglist": false, "perm_view_feed_correlations": false,
            "perm_analyst_data": false, "perm_skip_otp": false, "perm_server_sign": false
        },
        "UserSetting": [],
        "Organisation": {
            "id": "1", "name": org_name, "description": "misp-sim local organisation",
            "type": "CERT", "nationality": "", "sector": "", "created_by": "0",
            "uuid": org_uuid, "contacts": null, "local": true,
            "restricted_to_domain": [], "landingpage": null
        }
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        let key = "a".repeat(40);
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, &key));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&key).unwrap());
        assert!(authorized(&h, &key));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic x, {key}")).unwrap(),
        );
        assert!(authorized(&h, &key));
        h.insert("x-misp-auth", HeaderValue::from_static("wrong"));
        assert!(!authorized(&h, &key));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
        h.insert("x-misp-auth", HeaderValue::from_str(&key).unwrap());
        assert!(authorized(&h, &key));
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("/servers/getVersion.json"),
            (Endpoint::Version, true)
        );
        assert_eq!(
            endpoint("/attributes/restSearch"),
            (Endpoint::AttributeSearch, false)
        );
        assert_eq!(endpoint("/nope").0, Endpoint::Unknown);
    }
}
