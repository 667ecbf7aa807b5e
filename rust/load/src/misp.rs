//! Talking to MISP: the HTTP client (rustls, verified unless told otherwise),
//! the headers MISP needs, retries of transient failures, restSearch paging,
//! and errors that say what happened in MISP's terms (wrong key, login page,
//! private CA, ...). The API key goes only into the `Authorization` header,
//! marked sensitive, and is scrubbed from anything the server sends back.
//!
//! Every request is bounded as a whole (issue 14): connect, headers and
//! body together within `misp.timeout`, the body at most
//! `misp.max_response_size` bytes, and a SIGTERM/SIGINT ends it within
//! [`STOP_POLL`]. Requests run on a small tokio runtime owned by the client
//! (reqwest's async client), so that a request can be dropped mid-read; the
//! blocking client bounds each read, not the whole body, and cannot be
//! interrupted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::config::MispConfig;
use crate::secret::Secret;

/// Longest wait between two tries, whatever Retry-After says.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How often a request in flight checks whether a signal asked to stop.
pub const STOP_POLL: Duration = Duration::from_millis(50);

/// What went wrong talking to MISP. `what` names the request, e.g.
/// `page 3 of /attributes/restSearch`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MispError {
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// `misp.ca_file` cannot be used.
    #[error("cannot use misp.ca_file {path}: {detail}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// No connection.
    #[error("{what}: cannot connect to MISP at {url}: {detail}")]
    Connect {
        /// The request.
        what: String,
        /// MISP's base URL.
        url: String,
        /// The cause chain.
        detail: String,
    },
    /// The certificate was refused.
    #[error("{what}: the TLS certificate of {url} was not accepted: {detail}. If MISP uses a private CA, set `misp.ca_file` to the CA's PEM file; `ignore_cert_errors: true` turns verification off (for tests only)")]
    Tls {
        /// The request.
        what: String,
        /// MISP's base URL.
        url: String,
        /// The cause chain.
        detail: String,
    },
    /// No complete answer in time.
    #[error("{what}: MISP did not answer within {secs} s (raise `misp.timeout`, or lower `misp.page_size`)")]
    Timeout {
        /// The request.
        what: String,
        /// The timeout in seconds, e.g. `300` or `0.5`.
        secs: String,
    },
    /// The connection broke while the answer was read.
    #[error("{what}: the connection to MISP failed: {detail}")]
    Transfer {
        /// The request.
        what: String,
        /// The cause chain.
        detail: String,
    },
    /// HTTP 401/403: the key.
    #[error("{what}: MISP refused the API key (HTTP {status}): {message}. Check that the key is right and active, and that its user's role allows API access")]
    Auth {
        /// The request.
        what: String,
        /// 401 or 403.
        status: u16,
        /// MISP's message.
        message: String,
    },
    /// A redirect to MISP's login page: the request was not taken as an API call.
    #[error("{what}: MISP redirected to its login page ({location}): the request was not accepted as an API call. Check `misp.url` (MISP's base URL) and that the key belongs to a user with API access")]
    LoginRedirect {
        /// The request.
        what: String,
        /// Where to.
        location: String,
    },
    /// Some other redirect (e.g. http → https).
    #[error("{what}: MISP redirected to {location}; misp-load does not follow redirects (a redirected POST loses its body). Set `misp.url` to the address MISP redirects to")]
    Redirect {
        /// The request.
        what: String,
        /// Where to.
        location: String,
    },
    /// An HTML page where JSON was expected.
    #[error("{what}: MISP sent an HTML page instead of JSON (HTTP {status}), probably its login page: the request was not accepted as an API call. Check `misp.url` and the key")]
    Html {
        /// The request.
        what: String,
        /// The status.
        status: u16,
    },
    /// Any other error status.
    #[error("{what}: MISP answered HTTP {status}: {message}{hint}")]
    Status {
        /// The request.
        what: String,
        /// The status.
        status: u16,
        /// MISP's message.
        message: String,
        /// How to fix it, when known.
        hint: &'static str,
    },
    /// The body is not the JSON expected.
    #[error("{what}: MISP sent malformed JSON: {detail}")]
    Json {
        /// The request.
        what: String,
        /// serde_json's message (line, column).
        detail: String,
    },
    /// Stopped by a signal while waiting to retry or during a request.
    #[error("{what}: interrupted")]
    Interrupted {
        /// The request.
        what: String,
    },
    /// The body was larger than `misp.max_response_size`.
    #[error("{what}: MISP's answer is larger than misp.max_response_size ({limit} bytes); stopped reading it. Lower `misp.page_size`, or raise `misp.max_response_size` if pages this large are expected")]
    TooLarge {
        /// The request.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
}

/// One HTTP answer: status 2xx, body read completely.
#[derive(Debug)]
pub struct Answer {
    /// The body.
    pub body: bytes::Bytes,
    /// `X-Result-Count`, if sent.
    pub result_count: Option<u64>,
}

/// A MISP client.
#[derive(Debug, Clone)]
pub struct Misp {
    http: Client,
    runtime: Arc<tokio::runtime::Runtime>,
    url: String,
    key: Secret,
    timeout: Duration,
    max_response: u64,
    retries: u32,
    backoff: Duration,
    page_size: u32,
    stop: Arc<AtomicBool>,
}

impl Misp {
    /// A client for `cfg`. `stop` cuts retry waits short when set.
    pub fn new(cfg: &MispConfig, stop: Arc<AtomicBool>) -> Result<Self, MispError> {
        if let Some(host) = cleartext_host(&cfg.url) {
            tracing::warn!(
                "misp.url is http:// to {host}, not a loopback address: the API key and the indicators cross the network unencrypted. Use https:// (with misp.ca_file for a private CA)"
            );
        }
        // reqwest is built without a default crypto provider; use ring (the
        // workspace's), once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(15).min(cfg.timeout))
            .user_agent(concat!("misp-load/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(4);
        if let Some(path) = &cfg.ca_file {
            let ca_error = |detail: String| MispError::CaFile {
                path: path.display().to_string(),
                detail,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ca_error(format!("not a PEM certificate bundle: {e}")))?;
            if certs.is_empty() {
                return Err(ca_error("holds no PEM certificate".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if cfg.ignore_cert_errors {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        // One worker thread drives every request of the process's clients
        // (the fetch and event threads share it); callers block on theirs.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("misp-http")
            .enable_all()
            .build()
            .map_err(|e| MispError::Setup(format!("cannot start the HTTP runtime: {e}")))?;
        let http = {
            let _context = runtime.enter();
            builder
                .build()
                .map_err(|e| MispError::Setup(error_chain(&e)))?
        };
        Ok(Misp {
            http,
            runtime: Arc::new(runtime),
            url: cfg.url.clone(),
            key: cfg.key.clone(),
            timeout: cfg.timeout,
            max_response: cfg.max_response_size,
            retries: cfg.retries,
            backoff: cfg.backoff,
            page_size: cfg.page_size,
            stop,
        })
    }

    /// MISP's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Attributes per page.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    fn headers(&self) -> Result<HeaderMap, MispError> {
        let mut h = HeaderMap::new();
        let mut auth = HeaderValue::from_str(self.key.expose())
            .map_err(|_| MispError::Setup("the API key is not a valid header value".into()))?;
        auth.set_sensitive(true);
        h.insert(AUTHORIZATION, auth);
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(h)
    }

    /// POSTs `body` to `path`, retrying transient failures.
    pub fn post(&self, path: &str, body: &Value, what: &str) -> Result<Answer, MispError> {
        let bytes = serde_json::to_vec(body).map_err(|e| MispError::Setup(e.to_string()))?;
        let url = format!("{}{path}", self.url);
        let headers = self.headers()?;
        self.send(what, || {
            self.http
                .post(&url)
                .headers(headers.clone())
                .body(bytes.clone())
        })
    }

    /// GETs `path`, retrying transient failures.
    pub fn get(&self, path: &str, what: &str) -> Result<Answer, MispError> {
        let url = format!("{}{path}", self.url);
        let headers = self.headers()?;
        self.send(what, || self.http.get(&url).headers(headers.clone()))
    }

    fn send(&self, what: &str, request: impl Fn() -> RequestBuilder) -> Result<Answer, MispError> {
        let mut attempt = 0u32;
        loop {
            let outcome = self.try_once(what, request());
            let (error, retry_after) = match outcome {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Transient(e, after)) => (e, after),
            };
            if attempt >= self.retries {
                return Err(error);
            }
            let wait = retry_after
                .unwrap_or_else(|| backoff(self.backoff, attempt))
                .min(MAX_BACKOFF);
            tracing::warn!(
                "{}; retry {} of {} in {:.1} s",
                error,
                attempt + 1,
                self.retries,
                wait.as_secs_f64()
            );
            self.sleep(wait, what)?;
            attempt += 1;
        }
    }

    fn sleep(&self, wait: Duration, what: &str) -> Result<(), MispError> {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if self.stop.load(Ordering::Relaxed) {
                return Err(MispError::Interrupted { what: what.into() });
            }
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
        }
        Ok(())
    }

    /// One request, body included, within `misp.timeout`, at most
    /// `misp.max_response_size` bytes, ended early by `stop`.
    fn exchange(
        &self,
        what: &str,
        request: RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), Attempt> {
        let limit = self.max_response;
        let too_large = || {
            Attempt::Final(MispError::TooLarge {
                what: what.into(),
                limit,
            })
        };
        let transfer = |e: &reqwest::Error| {
            if e.is_timeout() {
                return self.timeout_error(what);
            }
            Attempt::Transient(
                MispError::Transfer {
                    what: what.into(),
                    detail: self.key.redact(&error_chain(e)),
                },
                None,
            )
        };
        let exchange = async {
            let mut response = request
                .send()
                .await
                .map_err(|e| self.transport_error(what, &e))?;
            let status = response.status();
            let headers = response.headers().clone();
            // One buffer sized from Content-Length: a multi-megabyte page
            // is copied once, not regrown chunk by chunk.
            let announced = response.content_length().unwrap_or(0);
            if announced > limit {
                return Err(too_large());
            }
            let mut buf = Vec::with_capacity(usize::try_from(announced).unwrap_or(0) + 1);
            while let Some(chunk) = response.chunk().await.map_err(|e| transfer(&e))? {
                if (buf.len() + chunk.len()) as u64 > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
            Ok((status, headers, buf))
        };
        let stop = Arc::clone(&self.stop);
        let stopped = async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(STOP_POLL).await;
            }
        };
        let timeout = self.timeout;
        self.runtime.block_on(async {
            tokio::select! {
                done = tokio::time::timeout(timeout, exchange) => {
                    done.unwrap_or_else(|_| Err(self.timeout_error(what)))
                }
                () = stopped => Err(Attempt::Final(MispError::Interrupted { what: what.into() })),
            }
        })
    }

    fn timeout_error(&self, what: &str) -> Attempt {
        Attempt::Transient(
            MispError::Timeout {
                what: what.into(),
                secs: format!("{}", self.timeout.as_secs_f64()),
            },
            None,
        )
    }

    fn try_once(&self, what: &str, request: RequestBuilder) -> Result<Answer, Attempt> {
        let started = Instant::now();
        let (status, headers, buf) = self.exchange(what, request)?;
        let body = bytes::Bytes::from(buf);
        tracing::debug!(
            "{what}: HTTP {} with {} bytes in {:.3} s",
            status.as_u16(),
            body.len(),
            started.elapsed().as_secs_f64()
        );
        let message = || self.key.redact(&server_message(&body));
        if status.is_redirection() {
            let location = headers
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(|l| self.key.redact(&misp_enrich_core::excerpt(l)))
                .unwrap_or_default();
            let e = if location.contains("/users/login") {
                MispError::LoginRedirect {
                    what: what.into(),
                    location,
                }
            } else {
                MispError::Redirect {
                    what: what.into(),
                    location,
                }
            };
            return Err(Attempt::Final(e));
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Attempt::Final(MispError::Auth {
                what: what.into(),
                status: status.as_u16(),
                message: message().trim_end_matches('.').to_owned(),
            }));
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let hint = if status == StatusCode::TOO_MANY_REQUESTS {
                " (MISP's rate limit for this user's role)"
            } else if status == StatusCode::INTERNAL_SERVER_ERROR && what.starts_with("page ") {
                " (MISP runs out of memory or time on large pages: lower `misp.page_size`)"
            } else {
                ""
            };
            let e = MispError::Status {
                what: what.into(),
                status: status.as_u16(),
                message: message(),
                hint,
            };
            return Err(Attempt::Transient(e, retry_after));
        }
        if !status.is_success() {
            return Err(Attempt::Final(MispError::Status {
                what: what.into(),
                status: status.as_u16(),
                message: message(),
                hint: "",
            }));
        }
        if looks_like_html(&headers, &body) {
            return Err(Attempt::Final(MispError::Html {
                what: what.into(),
                status: status.as_u16(),
            }));
        }
        let result_count = headers
            .get("x-result-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(Answer { body, result_count })
    }

    fn transport_error(&self, what: &str, e: &reqwest::Error) -> Attempt {
        // reqwest's own top line repeats the URL; its causes say what happened.
        let detail = match std::error::Error::source(e) {
            Some(cause) => error_chain(cause),
            None => error_chain(e),
        };
        let detail = self.key.redact(&detail);
        if e.is_timeout() {
            return self.timeout_error(what);
        }
        let lower = detail.to_ascii_lowercase();
        if lower.contains("certificate")
            || lower.contains("invalidcert")
            || lower.contains("tls handshake")
        {
            return Attempt::Final(MispError::Tls {
                what: what.into(),
                url: self.url.clone(),
                detail,
            });
        }
        if e.is_connect() {
            return Attempt::Transient(
                MispError::Connect {
                    what: what.into(),
                    url: self.url.clone(),
                    detail,
                },
                None,
            );
        }
        if e.is_builder() {
            return Attempt::Final(MispError::Setup(detail));
        }
        Attempt::Transient(
            MispError::Transfer {
                what: what.into(),
                detail,
            },
            None,
        )
    }

    /// MISP's version and the key's permissions (`GET /servers/getVersion`).
    pub fn version(&self) -> Result<Version, MispError> {
        let what = "GET /servers/getVersion";
        let answer = self.get("/servers/getVersion", what)?;
        serde_json::from_slice(&answer.body).map_err(|e| MispError::Json {
            what: what.into(),
            detail: e.to_string(),
        })
    }

    /// The key's user, role and organisation (`GET /users/view/me`).
    pub fn me(&self) -> Result<Value, MispError> {
        let what = "GET /users/view/me";
        let answer = self.get("/users/view/me", what)?;
        serde_json::from_slice(&answer.body).map_err(|e| MispError::Json {
            what: what.into(),
            detail: e.to_string(),
        })
    }

    /// Fetches every page of `/attributes/restSearch` for `query` (without
    /// `limit`/`page`, which this adds), in order, handing each to `on_page`
    /// with its number. Paging follows MISP's rule: continue while
    /// `X-Result-Count` >= limit (short or empty pages included, since
    /// warninglist and decay filters run after the SQL limit); a MISP too old
    /// to send the header (before 2.4.166) is paged while pages are full.
    /// Stops early, with an error, when `stop` is set.
    pub fn for_each_page<E: From<MispError>>(
        &self,
        query: &Value,
        label: &str,
        mut on_page: impl FnMut(u32, Answer) -> Result<(), E>,
    ) -> Result<u32, E> {
        let limit = u64::from(self.page_size);
        let mut page = 1u32;
        loop {
            let what = format!("page {page} of {label}");
            if self.stop.load(Ordering::Relaxed) {
                return Err(MispError::Interrupted { what }.into());
            }
            let mut body = query.clone();
            if let Some(map) = body.as_object_mut() {
                map.insert("limit".into(), Value::from(limit));
                map.insert("page".into(), Value::from(page));
            }
            let answer = self.post("/attributes/restSearch", &body, &what)?;
            let more = match answer.result_count {
                Some(n) => n >= limit,
                None => {
                    let mut n = 0u64;
                    crate::page::parse_attributes(&answer.body, &mut |_| n += 1).map_err(|e| {
                        MispError::Json {
                            what: what.clone(),
                            detail: e.to_string(),
                        }
                    })?;
                    n >= limit
                }
            };
            on_page(page, answer)?;
            if !more {
                return Ok(page);
            }
            page += 1;
        }
    }
}

/// The host of an `http://` URL whose host is not a loopback address (a
/// name other than `localhost`, or an address outside 127.0.0.0/8 and
/// `::1`): the API key would cross a network in clear text.
pub fn cleartext_host(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if parsed.scheme() != "http" {
        return None;
    }
    let loopback = match parsed.host()? {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (!loopback).then(|| misp_enrich_core::excerpt(parsed.host_str().unwrap_or_default()))
}

/// MISP's `/servers/getVersion` answer (the fields misp-load shows).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Version {
    /// e.g. `2.5.1`.
    pub version: String,
    /// The key's user may sync.
    pub perm_sync: bool,
    /// The key's user may add sightings.
    pub perm_sighting: bool,
}

enum Attempt {
    /// Worth retrying (with an optional server-requested delay).
    Transient(MispError, Option<Duration>),
    /// Retrying cannot help.
    Final(MispError),
}

/// Full-jitter exponential backoff: a random delay in [d/2, d] where d is
/// `base * 2^attempt`, capped.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let d = base
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let mut x = u64::from(nanos) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let fraction = 0.5 + (x % 1000) as f64 / 2000.0;
    d.mul_f64(fraction)
}

/// MISP's error message from a `{name, message, url}` body, the title of
/// an HTML page (a proxy's error page), or an excerpt.
fn server_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
        name: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(m), ..
        })
        | Ok(ErrorBody { name: Some(m), .. }) => printable(&m),
        _ if body.is_empty() => "(empty body)".into(),
        _ if looks_like_html(&HeaderMap::new(), body) => match html_title(body) {
            Some(t) => format!("an HTML page titled \"{}\"", printable(&t)),
            None => "an HTML page".into(),
        },
        _ => printable(&String::from_utf8_lossy(&body[..body.len().min(400)])),
    }
}

/// Server text made safe for a terminal: control characters escaped, at
/// most 300 characters.
fn printable(text: &str) -> String {
    misp_enrich_core::printable(text.trim(), 300)
}

/// The text of the first `<title>` of an HTML page, if short.
fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    let title = text.get(start..end)?.trim();
    (!title.is_empty() && title.len() <= 200).then(|| title.to_owned())
}

fn looks_like_html(headers: &HeaderMap, body: &[u8]) -> bool {
    let html_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().contains("text/html"));
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&body[..0], |i| &body[i..]);
    html_type || start.starts_with(b"<")
}

/// An error with its sources, `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        for attempt in 0..5 {
            let d = backoff(base, attempt);
            let full = Duration::from_secs(1 << attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        assert!(backoff(base, 30) <= MAX_BACKOFF);
    }

    #[test]
    fn server_messages() {
        let body = br#"{"name":"Authentication failed.","message":"Authentication failed.","url":"\/attributes\/restSearch"}"#;
        assert_eq!(server_message(body), "Authentication failed.");
        assert_eq!(server_message(b""), "(empty body)");
        assert_eq!(server_message(b"oops\r\n"), "oops");
        assert_eq!(server_message(b"a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(server_message(&[b'x'; 1000]).len(), 303);
        assert_eq!(
            server_message(b"<html>\r\n<head><title>503 Service Unavailable</title></head>\r\n<body>nginx</body></html>"),
            "an HTML page titled \"503 Service Unavailable\""
        );
        assert_eq!(
            server_message(b"<html><body>x</body></html>"),
            "an HTML page"
        );
    }

    #[test]
    fn cleartext_urls_to_other_hosts_are_recognised() {
        assert_eq!(
            cleartext_host("http://misp.example.org").as_deref(),
            Some("misp.example.org")
        );
        assert_eq!(
            cleartext_host("http://10.1.2.3:8080/").as_deref(),
            Some("10.1.2.3")
        );
        assert_eq!(
            cleartext_host("http://[2001:db8::1]").as_deref(),
            Some("[2001:db8::1]")
        );
        for quiet in [
            "https://misp.example.org",
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://localhost:1234",
            "HTTP://LOCALHOST",
            "http://[::1]:80",
        ] {
            assert_eq!(cleartext_host(quiet), None, "{quiet}");
        }
    }

    #[test]
    fn html_is_recognised() {
        let mut h = HeaderMap::new();
        assert!(looks_like_html(&h, b"  <!DOCTYPE html>"));
        assert!(!looks_like_html(&h, b"{\"response\":[]}"));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
        assert!(looks_like_html(&h, b""));
    }
}
