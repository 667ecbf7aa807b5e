//! The engine's configuration: one JSON object (easy to build from Ruby), read
//! strictly (unknown fields are errors, with the list of known ones), then
//! checked as a whole into [`Settings`]. The memcached password is a
//! [`Secret`]: never in `Debug` output, never serialised, scrubbed from
//! error messages.

use std::time::Duration;

use misp_enrich_core::{Keyspace, Secret, ServerRing};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// How domain values are matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainMatch {
    /// Only the name itself (the seed's behaviour).
    #[default]
    Exact,
    /// The name and every parent name on a label boundary above the public
    /// suffix: `a.b.evil.example` also checks `b.evil.example` and
    /// `evil.example`, never `example` or `co.uk`.
    Suffix,
}

/// The engine configuration. Every field but `servers` has a default.
///
/// ```
/// let c = misp_enrich_engine::Config::from_json(r#"{"servers": ["127.0.0.1:11211"], "domain_match": "suffix"}"#).unwrap();
/// assert_eq!(c.prefix, "misp");
/// assert!(misp_enrich_engine::Config::from_json(r#"{"servers": [], "cache_sise": 1}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// memcached servers, `host:port` (port 11211 when omitted), listed with
    /// the same strings as for misp-load: keys are spread by consistent hashing.
    pub servers: Vec<String>,
    /// Key prefix (`misp` by default, as in the seed).
    #[serde(default = "defaults::prefix")]
    pub prefix: String,
    /// Bound on one TCP connect to a server, in milliseconds. Default 100.
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Bound on one memcached round trip (a multi-get), in milliseconds. Default 150.
    #[serde(default = "defaults::io_timeout_ms")]
    pub io_timeout_ms: u64,
    /// Bound on all memcached work of one batch, across servers and round
    /// trips, connects included, in milliseconds. A connect or round trip
    /// starts only if it can end within it. Default: `connect_timeout_ms +
    /// 2 × io_timeout_ms` (a connect, the indicator keys, the event metadata).
    #[serde(default)]
    pub batch_timeout_ms: Option<u64>,
    /// Most answers kept in the in-process cache (positive and negative
    /// together); 0 turns the cache off. Default 100,000.
    #[serde(default = "defaults::cache_size")]
    pub cache_size: u64,
    /// How long a found indicator is served from the cache, in milliseconds. Default 300,000.
    #[serde(default = "defaults::cache_ttl_ms")]
    pub cache_ttl_ms: u64,
    /// How long "not an indicator" is served from the cache, in milliseconds.
    /// A new indicator is found at most this long after misp-load wrote it. Default 60,000.
    #[serde(default = "defaults::negative_ttl_ms")]
    pub negative_ttl_ms: u64,
    /// `exact` (default) or `suffix`: see [`DomainMatch`].
    #[serde(default)]
    pub domain_match: DomainMatch,
    /// How often the IP range index is re-read, in milliseconds; 0 reads it
    /// only when the engine is created. Default 300,000.
    #[serde(default = "defaults::range_refresh_ms")]
    pub range_refresh_ms: u64,
    /// Bound on one round trip of a range index refresh (chunks can be large;
    /// refreshes run on a background thread), in milliseconds. Default 2,000.
    #[serde(default = "defaults::range_timeout_ms")]
    pub range_timeout_ms: u64,
    /// Consecutive failures after which a server's circuit breaker opens. Default 3.
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before letting one probe
    /// through, in milliseconds. Default 5,000.
    #[serde(default = "defaults::breaker_backoff_ms")]
    pub breaker_backoff_ms: u64,
    /// Whether to read `<prefix>-event:<id>` metadata for hits. Default true.
    #[serde(default = "defaults::event_metadata")]
    pub event_metadata: bool,
    /// Idle connections kept per server (one per concurrent caller is
    /// enough). Default 16.
    #[serde(default = "defaults::max_idle_connections")]
    pub max_idle_connections: usize,
    /// Most keys one batch asks memcached for (after the cache). Past it,
    /// the keys asked for latest in their events (every event's first
    /// values go first) are not looked up and their slots are flagged
    /// failed, so crafted values in some events cannot use up the batch's
    /// budget for the others. Default 10,000.
    #[serde(default = "defaults::max_lookups_per_batch")]
    pub max_lookups_per_batch: u64,
    /// User name for memcached's ASCII protocol authentication (memcached
    /// started with `-Y <auth file>`); with `password`, every new connection
    /// logs in before its first lookup. Default: none.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `username`. Never serialised, never in `Debug` output.
    #[serde(default, skip_serializing)]
    pub password: Option<Secret>,
}

/// Most idle connections kept per server.
const MAX_IDLE_CONNECTIONS: usize = 4_096;

mod defaults {
    pub fn prefix() -> String {
        "misp".to_owned()
    }
    pub fn connect_timeout_ms() -> u64 {
        100
    }
    pub fn io_timeout_ms() -> u64 {
        150
    }
    pub fn cache_size() -> u64 {
        100_000
    }
    pub fn cache_ttl_ms() -> u64 {
        300_000
    }
    pub fn negative_ttl_ms() -> u64 {
        60_000
    }
    pub fn range_refresh_ms() -> u64 {
        300_000
    }
    pub fn range_timeout_ms() -> u64 {
        2_000
    }
    pub fn breaker_failures() -> u32 {
        3
    }
    pub fn breaker_backoff_ms() -> u64 {
        5_000
    }
    pub fn event_metadata() -> bool {
        true
    }
    pub fn max_idle_connections() -> usize {
        16
    }
    pub fn max_lookups_per_batch() -> u64 {
        10_000
    }
}

impl Config {
    /// A configuration with every default, for these servers.
    pub fn new<S: AsRef<str>>(servers: &[S]) -> Self {
        Config {
            servers: servers.iter().map(|s| s.as_ref().to_owned()).collect(),
            prefix: defaults::prefix(),
            connect_timeout_ms: defaults::connect_timeout_ms(),
            io_timeout_ms: defaults::io_timeout_ms(),
            batch_timeout_ms: None,
            cache_size: defaults::cache_size(),
            cache_ttl_ms: defaults::cache_ttl_ms(),
            negative_ttl_ms: defaults::negative_ttl_ms(),
            domain_match: DomainMatch::Exact,
            range_refresh_ms: defaults::range_refresh_ms(),
            range_timeout_ms: defaults::range_timeout_ms(),
            breaker_failures: defaults::breaker_failures(),
            breaker_backoff_ms: defaults::breaker_backoff_ms(),
            event_metadata: defaults::event_metadata(),
            max_idle_connections: defaults::max_idle_connections(),
            max_lookups_per_batch: defaults::max_lookups_per_batch(),
            username: None,
            password: None,
        }
    }

    /// Reads a configuration from JSON. Unknown fields are errors. An error
    /// message never quotes the password (serde quotes values of the wrong
    /// type).
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json).map_err(|e| {
            let message = e.to_string();
            let password = match serde_json::from_str(json) {
                Ok(serde_json::Value::Object(fields)) => match fields.get("password") {
                    Some(serde_json::Value::String(p)) => p.clone(),
                    Some(other @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                        other.to_string()
                    }
                    _ => return ConfigError::new(message),
                },
                _ => return ConfigError::new(message),
            };
            ConfigError::new(Secret::new(&password).redact(&message))
        })
    }

    /// Checks the configuration as a whole. Error messages quote values
    /// (a prefix, a server): the password is scrubbed from them.
    pub(crate) fn settings(&self) -> Result<Settings, ConfigError> {
        self.check().map_err(|e| match &self.password {
            Some(p) => ConfigError::new(p.redact(&e.0)),
            None => e,
        })
    }

    fn check(&self) -> Result<Settings, ConfigError> {
        let ring = ServerRing::new(&self.servers).map_err(|e| ConfigError::new(e.to_string()))?;
        let keyspace = Keyspace::new(&self.prefix).map_err(|e| ConfigError::new(e.to_string()))?;
        let ms = Duration::from_millis;
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(ConfigError::new(format!("`{name}` must be more than 0")))
            } else {
                Ok(ms(v))
            }
        };
        let connect = positive("connect_timeout_ms", self.connect_timeout_ms)?;
        let io = positive("io_timeout_ms", self.io_timeout_ms)?;
        let batch = match self.batch_timeout_ms {
            Some(b) if b < self.io_timeout_ms => {
                return Err(ConfigError::new(format!(
                    "`batch_timeout_ms` ({b}) is shorter than `io_timeout_ms` ({}): no round trip could ever start; \
                     make it at least `connect_timeout_ms + io_timeout_ms`",
                    self.io_timeout_ms
                )))
            }
            Some(b) => ms(b),
            None => connect + io * 2,
        };
        if self.breaker_failures == 0 {
            return Err(ConfigError::new("`breaker_failures` must be at least 1"));
        }
        // The idle queue is allocated whole: an absurd size would abort the
        // process (allocation failure) instead of being refused.
        if self.max_idle_connections > MAX_IDLE_CONNECTIONS {
            return Err(ConfigError::new(format!(
                "`max_idle_connections` must be at most {MAX_IDLE_CONNECTIONS} (one per concurrent caller is enough), got {}",
                self.max_idle_connections
            )));
        }
        let login = match (&self.username, &self.password) {
            (None, None) => None,
            (Some(username), Some(password)) => {
                misp_enrich_memcached::check_credentials(username, password.expose()).map_err(
                    |_| {
                        ConfigError::new(
                            "`username` and `password` must be non-empty, without spaces or control characters \
                             (memcached's login sends them as one space-separated line)",
                        )
                    },
                )?;
                Some(Login {
                    username: username.clone(),
                    password: password.clone(),
                })
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "`username` is set but `password` is not: give both, or neither",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "`password` is set but `username` is not: give both, or neither",
                ))
            }
        };
        Ok(Settings {
            ring,
            keyspace,
            connect_timeout: connect,
            io_timeout: io,
            batch_timeout: batch,
            cache_size: self.cache_size,
            cache_ttl: positive("cache_ttl_ms", self.cache_ttl_ms)?,
            negative_ttl: positive("negative_ttl_ms", self.negative_ttl_ms)?,
            domain_match: self.domain_match,
            range_refresh: (self.range_refresh_ms > 0).then(|| ms(self.range_refresh_ms)),
            range_timeout: positive("range_timeout_ms", self.range_timeout_ms)?,
            breaker_failures: self.breaker_failures,
            breaker_backoff: positive("breaker_backoff_ms", self.breaker_backoff_ms)?,
            event_metadata: self.event_metadata,
            max_idle_connections: self.max_idle_connections.max(1),
            max_lookups_per_batch: usize::try_from(self.max_lookups_per_batch)
                .unwrap_or(usize::MAX)
                .max(1),
            login,
        })
    }
}

/// A memcached user name and password (`Debug` hides the password).
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub username: String,
    pub password: Secret,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub ring: ServerRing,
    pub keyspace: Keyspace,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    pub batch_timeout: Duration,
    pub cache_size: u64,
    pub cache_ttl: Duration,
    pub negative_ttl: Duration,
    pub domain_match: DomainMatch,
    pub range_refresh: Option<Duration>,
    pub range_timeout: Duration,
    pub breaker_failures: u32,
    pub breaker_backoff: Duration,
    pub event_metadata: bool,
    pub max_idle_connections: usize,
    pub max_lookups_per_batch: usize,
    pub login: Option<Login>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_derived_batch_timeout() {
        let c = Config::from_json(r#"{"servers":["127.0.0.1"]}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, Config::new(&["127.0.0.1"]));
        let s = c.settings().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.batch_timeout, Duration::from_millis(100 + 2 * 150));
        assert_eq!(s.ring.servers(), &["127.0.0.1:11211"]);
    }

    #[test]
    fn errors_name_the_field() {
        let err = |json: &str| match Config::from_json(json).and_then(|c| c.settings().map(|_| ()))
        {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{json} was accepted"),
        };
        assert!(err(r#"{"servers":["a"],"cache_sise":1}"#).contains("unknown field `cache_sise`"));
        assert!(err(r#"{"servers":["a"],"cache_sise":1}"#).contains("cache_size"));
        assert!(err(r#"{"prefix":"x"}"#).contains("missing field `servers`"));
        assert!(err(r#"{"servers":[]}"#).contains("no memcached server"));
        assert!(err(r#"{"servers":["a b:1"]}"#).contains("host:port"));
        assert!(err(r#"{"servers":["a"],"prefix":"a b"}"#).contains("prefix"));
        assert!(err(r#"{"servers":["a"],"io_timeout_ms":0}"#).contains("io_timeout_ms"));
        assert!(err(r#"{"servers":["a"],"batch_timeout_ms":10}"#).contains("batch_timeout_ms"));
        assert!(err(r#"{"servers":["a"],"domain_match":"fuzzy"}"#).contains("exact"));
        assert!(
            err(r#"{"servers":["a"],"cache_size":-1}"#).contains("cache_size")
                || err(r#"{"servers":["a"],"cache_size":-1}"#).contains("invalid value")
        );
        assert!(err("not json").contains("expected"));
        assert!(err(r#"{"servers":["a"],"username":"misp"}"#).contains("`password` is not"));
        assert!(err(r#"{"servers":["a"],"password":"pw-123"}"#).contains("`username` is not"));
        assert!(
            err(r#"{"servers":["a"],"username":"mi sp","password":"pw-123"}"#)
                .contains("without spaces")
        );
        assert!(
            err(r#"{"servers":["a"],"username":"misp","password":"pw\r\nflush_all"}"#)
                .contains("without spaces")
        );
    }

    #[test]
    fn the_password_never_shows() {
        let json = r#"{"servers":["a"],"username":"misp","password":"s3cret-Pass"}"#;
        let c = Config::from_json(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("s3cret-Pass"));
        let s = c.settings().unwrap_or_else(|e| panic!("{e}"));
        for text in [
            format!("{c:?}"),
            format!("{s:?}"),
            serde_json::to_string(&c).unwrap_or_default(),
        ] {
            assert!(text.contains("misp"), "{text}");
            assert!(!text.contains("s3cret"), "{text}");
        }
        // serde quotes a value of the wrong type; the message does not.
        for json in [
            r#"{"servers":["a"],"username":"misp","password":987654321}"#,
            r#"{"servers":["a"],"username":"misp","password":"s3cret-Pass","prefix":"s3cret-Pass"}"#,
            r#"{"servers":"s3cret-Pass","username":"misp","password":"s3cret-Pass"}"#,
        ] {
            let e = Config::from_json(json)
                .and_then(|c| c.settings().map(|_| ()))
                .err()
                .unwrap_or_else(|| panic!("{json} was accepted"))
                .to_string();
            assert!(!e.contains("s3cret") && !e.contains("987654321"), "{e}");
        }
    }
}
