//! The configuration file: the seed's `config.yml`, read with the seed's
//! meaning, plus documented extensions. Reading is strict: an unknown key is
//! an error naming the key, its line and the file (a typo must not silently
//! disable a filter), and every value is checked here so the rest of the
//! program sees only valid settings.
//!
//! YAML is read with `serde-saphyr` (pure Rust, panic-free, maintained; the
//! usual `serde_yaml` is archived). Like the seed's PyYAML it reads `yes`/`no`
//! as booleans, so seed files keep their meaning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use misp_enrich_core::{misp_type, Keyspace, ServerRing};
use serde::Deserialize;
use thiserror::Error;

use crate::category::Category;
use crate::secret::Secret;

/// memcached treats an expiry above 30 days as an absolute unix time.
pub const MAX_RELATIVE_EXPIRY: u64 = 30 * 24 * 3600;

/// Default bound on the body of one MISP answer: a page of the default
/// 5,000 attributes is a few megabytes; 256 MB allows pages of about
/// 250,000 attributes.
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = 256 * 1024 * 1024;

/// The environment variable that may hold the MISP API key.
pub const KEY_ENV: &str = "MISP_KEY";

/// The environment variable that may hold the memcached password.
pub const MEMCACHED_PASSWORD_ENV: &str = "MEMCACHED_PASSWORD";

/// What is wrong with the configuration. Messages name the file and the key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {}: {source} (give another with --config PATH)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML, or has an unknown key or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{}: `{key}`: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, e.g. `misp.url`.
        key: String,
        /// What is wrong, and how to fix it.
        message: String,
    },
    /// No API key anywhere.
    #[error("{}: no MISP API key: set `misp.token` or `misp.token_file`, or the {KEY_ENV} environment variable", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The memcached password file cannot be read.
    #[error("cannot read the memcached password file {} (`memcached.password_file`): {source}", file.display())]
    PasswordFile {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file cannot be read.
    #[error("cannot read the MISP API key file {} (`misp.token_file`): {source}", file.display())]
    KeyFile {
        /// The key file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    memcached: Option<RawMemcached>,
    misp: Option<RawMisp>,
    filters: Option<RawFilters>,
    reconcile: Option<RawReconcile>,
    hash: Option<RawCategory>,
    network: Option<RawCategory>,
    web: Option<RawCategory>,
    email: Option<RawCategory>,
    host: Option<RawCategory>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMemcached {
    host: Option<String>,
    port: Option<String>,
    servers: Option<Vec<String>>,
    prefix: Option<String>,
    timeout: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMisp {
    url: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    ignore_cert_errors: Option<bool>,
    ca_file: Option<PathBuf>,
    initial_event_timestamp: Option<String>,
    refresh_event_timestamp: Option<String>,
    page_size: Option<String>,
    timeout: Option<String>,
    retries: Option<String>,
    backoff: Option<String>,
    max_response_size: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilters {
    published: Option<bool>,
    tags: Option<Vec<String>>,
    exclude_tags: Option<Vec<String>>,
    enforce_warninglist: Option<bool>,
    exclude_decayed: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconcile {
    max_removal_share: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    enabled: Option<bool>,
    expires: Option<String>,
    types: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------
// The checked configuration.

/// Everything misp-load needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (for messages).
    pub path: PathBuf,
    /// memcached servers, `host:port`.
    pub servers: Vec<String>,
    /// The key prefix.
    pub keyspace: Keyspace,
    /// Bound on one memcached call.
    pub memcached_timeout: Duration,
    /// memcached ASCII authentication (`memcached -Y`), if configured.
    pub memcached_auth: Option<MemcachedAuth>,
    /// How to reach MISP.
    pub misp: MispConfig,
    /// restSearch's `event_timestamp` on the first run.
    pub initial_event_timestamp: String,
    /// restSearch's `event_timestamp` on later runs.
    pub refresh_event_timestamp: String,
    /// Extra restSearch filters.
    pub filters: Filters,
    /// Per category: enabled, expiry, types.
    pub categories: Vec<CategoryConfig>,
    /// `--full` refuses to delete more than this share of the keys.
    pub max_removal_share: f64,
    /// Files that hold a secret, and which: this file when it has a
    /// `token` or a memcached `password`, the `token_file` and the
    /// `password_file` (see [`Config::exposed_key_files`]).
    pub key_files: Vec<SecretFile>,
}

/// A file that holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// The file.
    pub path: PathBuf,
    /// What it holds, e.g. `the MISP API key`.
    pub holds: String,
    /// The environment variables that could hold it instead.
    pub env: String,
}

fn add_secret_file(files: &mut Vec<SecretFile>, path: &Path, holds: &str, env: &str) {
    match files.iter_mut().find(|f| f.path == path) {
        Some(f) => {
            f.holds = format!("{} and {holds}", f.holds);
            f.env = format!("{} and {env}", f.env);
        }
        None => files.push(SecretFile {
            path: path.to_owned(),
            holds: holds.to_owned(),
            env: env.to_owned(),
        }),
    }
}

/// A memcached user and password, sent as the first command of every
/// connection (memcached's ASCII protocol authentication).
#[derive(Debug, Clone)]
pub struct MemcachedAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// MISP connection settings.
#[derive(Debug, Clone)]
pub struct MispConfig {
    /// Base URL, without a trailing `/`.
    pub url: String,
    /// The API key.
    pub key: Secret,
    /// Skip TLS verification (warned about on every run).
    pub ignore_cert_errors: bool,
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Bound on one HTTP request, body included.
    pub timeout: Duration,
    /// Most bytes of one HTTP answer's body.
    pub max_response_size: u64,
    /// Attributes per page.
    pub page_size: u32,
    /// Retries of a failed request.
    pub retries: u32,
    /// First retry delay; doubles per retry, capped at 60 s.
    pub backoff: Duration,
}

/// restSearch filters beyond type, IDS flag and time window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Only attributes of published events.
    pub published: bool,
    /// Only attributes carrying one of these tags (own or event's).
    pub tags: Vec<String>,
    /// No attributes carrying any of these tags.
    pub exclude_tags: Vec<String>,
    /// Drop attributes on an enabled warninglist.
    pub enforce_warninglist: bool,
    /// Drop attributes every applicable decaying model calls decayed.
    pub exclude_decayed: bool,
}

/// One category's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryConfig {
    /// Which.
    pub category: Category,
    /// Loaded at all.
    pub enabled: bool,
    /// Key expiry in seconds (0 = never), as configured (relative).
    pub expires: u64,
    /// The MISP types it loads (all of the category's, or the configured subset).
    pub types: Vec<&'static str>,
}

impl Config {
    /// Reads and checks `path`. `env` looks up environment variables (the API
    /// key may come from [`KEY_ENV`]).
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path, env)
    }

    /// Checks the text of a config file (`path` is for messages and for
    /// relative `token_file`/`ca_file` paths).
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_inner(text, path, env).map_err(|e| {
            // Messages quote values; none may quote the key, wherever it was put.
            let scrub = |m: String| {
                let mut m = redact_config_text(text, &m);
                for var in [KEY_ENV, MEMCACHED_PASSWORD_ENV] {
                    if let Some(k) = env(var).filter(|k| k.trim().len() >= 4) {
                        m = Secret::new(&k).redact(&m);
                    }
                }
                m
            };
            match e {
                ConfigError::Syntax { path, message } => ConfigError::Syntax {
                    path,
                    message: scrub(message),
                },
                ConfigError::Invalid { path, key, message } => ConfigError::Invalid {
                    path,
                    key,
                    message: scrub(message),
                },
                other => other,
            }
        })
    }

    fn parse_inner(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: redact_config_text(text, &e.without_snippet().to_string()),
            })?
        };
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));

        // memcached
        let mc = raw.memcached.unwrap_or_default();
        let servers =
            match (&mc.servers, &mc.host, &mc.port) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    return Err(invalid(
                        "memcached.servers",
                        "give either `host`/`port` (the seed's form) or `servers`, not both".into(),
                    ))
                }
                (Some(list), None, None) => list.clone(),
                (None, host, port) => {
                    let host = host.as_deref().unwrap_or("127.0.0.1").trim();
                    let port =
                        match port {
                            Some(p) => p.trim().parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(
                                || invalid("memcached.port", format!("`{p}` is not a port number")),
                            )?,
                            None => misp_enrich_core::DEFAULT_PORT,
                        };
                    let host = if host.contains(':') && !host.starts_with('[') {
                        format!("[{host}]")
                    } else {
                        host.to_owned()
                    };
                    vec![format!("{host}:{port}")]
                }
            };
        let ring =
            ServerRing::new(&servers).map_err(|e| invalid("memcached.servers", e.to_string()))?;
        let servers = ring.servers().to_vec();
        let keyspace = Keyspace::new(mc.prefix.as_deref().unwrap_or("misp"))
            .map_err(|e| invalid("memcached.prefix", e.to_string()))?;
        let memcached_timeout = match &mc.timeout {
            Some(t) => seconds(t)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid("memcached.timeout", duration_help(t)))?,
            None => Duration::from_secs(5),
        };
        let mut key_files = Vec::new();
        let password = match (env(MEMCACHED_PASSWORD_ENV), &mc.password_file, &mc.password) {
            (Some(p), _, _) if !p.trim().is_empty() => Some(Secret::new(&p)),
            (_, Some(_), Some(_)) => {
                return Err(invalid(
                    "memcached.password_file",
                    "give either `password` or `password_file`, not both".into(),
                ))
            }
            (_, Some(file), None) => {
                let file = base.join(file);
                let text =
                    std::fs::read_to_string(&file).map_err(|source| ConfigError::PasswordFile {
                        file: file.clone(),
                        source,
                    })?;
                add_secret_file(
                    &mut key_files,
                    &file,
                    "the memcached password",
                    MEMCACHED_PASSWORD_ENV,
                );
                Some(Secret::new(&text))
            }
            (_, None, Some(p)) => Some(Secret::new(p)),
            (_, None, None) => None,
        };
        if mc.password.as_deref().is_some_and(|p| !p.trim().is_empty()) {
            add_secret_file(
                &mut key_files,
                path,
                "the memcached password",
                MEMCACHED_PASSWORD_ENV,
            );
        }
        let username = mc.username.as_deref().map(str::trim).unwrap_or_default();
        let memcached_auth = match (username.is_empty(), password) {
            (true, None) => None,
            (false, Some(password)) => {
                let plain = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
                if !plain(username) || !plain(password.expose()) {
                    return Err(invalid(
                        "memcached.username",
                        "the memcached user name and password must not contain spaces or control characters".into(),
                    ));
                }
                Some(MemcachedAuth {
                    username: username.to_owned(),
                    password,
                })
            }
            (true, Some(_)) => {
                return Err(invalid(
                    "memcached.username",
                    "missing: a memcached password is set, but no user name".into(),
                ))
            }
            (false, None) => {
                return Err(invalid(
                    "memcached.password",
                    format!("missing: `memcached.username` is set; give `password`, `password_file` or the {MEMCACHED_PASSWORD_ENV} environment variable"),
                ))
            }
        };

        // misp
        let m = raw.misp.unwrap_or_default();
        let url = m.url.as_deref().map(str::trim).unwrap_or_default();
        if url.is_empty() {
            return Err(invalid(
                "misp.url",
                "missing: the base URL of MISP, e.g. `https://misp.example.org`".into(),
            ));
        }
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://"))
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "misp.url",
                format!(
                    "`{}` is not an http(s) URL, e.g. `https://misp.example.org`",
                    misp_enrich_core::excerpt(url)
                ),
            ));
        }
        let url = url.trim_end_matches('/').to_owned();
        if m.token.as_deref().is_some_and(|t| !t.trim().is_empty()) {
            add_secret_file(&mut key_files, path, "the MISP API key", KEY_ENV);
        }
        if let Some(file) = &m.token_file {
            add_secret_file(
                &mut key_files,
                &base.join(file),
                "the MISP API key",
                KEY_ENV,
            );
        }
        let key = match (env(KEY_ENV), &m.token_file, &m.token) {
            (Some(k), _, _) if !k.trim().is_empty() => Secret::new(&k),
            (_, Some(_), Some(_)) => {
                return Err(invalid(
                    "misp.token_file",
                    "give either `token` or `token_file`, not both".into(),
                ))
            }
            (_, Some(file), None) => {
                let file = base.join(file);
                let text = std::fs::read_to_string(&file)
                    .map_err(|source| ConfigError::KeyFile { file, source })?;
                Secret::new(&text)
            }
            (_, None, Some(t)) => Secret::new(t),
            (_, None, None) => {
                return Err(ConfigError::NoKey {
                    path: path.to_owned(),
                })
            }
        };
        if key.expose().is_empty() {
            return Err(ConfigError::NoKey {
                path: path.to_owned(),
            });
        }
        if key
            .expose()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(invalid(
                "misp.token",
                "the API key contains spaces, control or non-ASCII characters (MISP keys are 40 letters and digits)".into(),
            ));
        }
        // MISP's paging rule (continue while X-Result-Count >= limit) needs
        // limit >= 2: an empty page past the end still reports 1.
        let page_size = match &m.page_size {
            None => 5000,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (2..=1_000_000).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "misp.page_size",
                        format!("`{v}` is not a number from 2 to 1000000 (MISP's paging needs at least 2)"),
                    )
                })?,
        };
        let retries = match &m.retries {
            None => 5,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or_else(|| {
                    invalid(
                        "misp.retries",
                        format!("`{v}` is not a number from 0 to 100"),
                    )
                })?,
        };
        let timeout = match &m.timeout {
            Some(t) => seconds(t)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid("misp.timeout", duration_help(t)))?,
            None => Duration::from_secs(300),
        };
        let max_response_size = match &m.max_response_size {
            None => DEFAULT_MAX_RESPONSE_SIZE,
            Some(v) => byte_size(v).filter(|n| *n >= 1024).ok_or_else(|| {
                invalid(
                    "misp.max_response_size",
                    format!(
                        "`{v}` is not a size of at least 1 KB: bytes, or a number with KB, MB or GB (1024-based), e.g. `256MB`"
                    ),
                )
            })?,
        };
        let backoff = match &m.backoff {
            Some(t) => seconds(t).ok_or_else(|| invalid("misp.backoff", duration_help(t)))?,
            None => Duration::from_secs(1),
        };
        let ca_file = m.ca_file.as_ref().map(|f| base.join(f));
        let initial_event_timestamp = timestamp(
            m.initial_event_timestamp.as_deref().unwrap_or("365d"),
            "misp.initial_event_timestamp",
            &invalid,
        )?;
        let refresh_event_timestamp = timestamp(
            m.refresh_event_timestamp.as_deref().unwrap_or("1h"),
            "misp.refresh_event_timestamp",
            &invalid,
        )?;
        let misp = MispConfig {
            url,
            key,
            ignore_cert_errors: m.ignore_cert_errors.unwrap_or(false),
            ca_file,
            timeout,
            max_response_size,
            page_size: u32::try_from(page_size).unwrap_or(5000),
            retries,
            backoff,
        };

        // filters
        let f = raw.filters.unwrap_or_default();
        let tags = |key: &str, list: Option<Vec<String>>| -> Result<Vec<String>, ConfigError> {
            let list: Vec<String> = list
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.trim().to_owned())
                .collect();
            if list.iter().any(|t| t.is_empty() || t.starts_with('!')) {
                return Err(invalid(
                    key,
                    "tags must be non-empty names, without `!` (use `exclude_tags` to exclude)"
                        .into(),
                ));
            }
            Ok(list)
        };
        let filters = Filters {
            published: f.published.unwrap_or(false),
            tags: tags("filters.tags", f.tags)?,
            exclude_tags: tags("filters.exclude_tags", f.exclude_tags)?,
            enforce_warninglist: f.enforce_warninglist.unwrap_or(false),
            exclude_decayed: f.exclude_decayed.unwrap_or(false),
        };

        // reconcile
        let max_removal_share = match raw.reconcile.and_then(|r| r.max_removal_share) {
            None => 0.5,
            Some(v) => share(&v).ok_or_else(|| {
                invalid(
                    "reconcile.max_removal_share",
                    format!("`{v}` is not a share from 0 to 1 or a percentage like `50%`"),
                )
            })?,
        };

        // categories
        let mut categories = Vec::new();
        for (category, section) in [
            (Category::Hash, raw.hash),
            (Category::Network, raw.network),
            (Category::Web, raw.web),
            (Category::Email, raw.email),
            (Category::Host, raw.host),
        ] {
            let name = category.name();
            let enabled = match &section {
                None => category.in_seed(),
                Some(s) => s.enabled.unwrap_or(true),
            };
            let section = section.unwrap_or_default();
            let expires = match &section.expires {
                None => 0,
                Some(e) => seconds(e)
                    .map(|d| d.as_secs())
                    .ok_or_else(|| invalid(&format!("{name}.expires"), duration_help(e)))?,
            };
            let types = match section.types {
                None => category.types().to_vec(),
                Some(list) => {
                    let mut types = Vec::new();
                    for t in list {
                        let t = t.trim();
                        match category.types().iter().find(|c| **c == t) {
                            Some(known) => types.push(*known),
                            None => {
                                let hint = match (Category::of_type(t), misp_type::classify(t)) {
                                    (Some(other), _) => {
                                        format!("it belongs to the `{other}` category")
                                    }
                                    (None, Err(why)) => format!("it is not loaded: {why}"),
                                    (None, Ok(_)) => "it is not loaded".to_owned(),
                                };
                                return Err(invalid(
                                    &format!("{name}.types"),
                                    format!(
                                        "`{}` is not a type of `{name}` ({hint}); its types are: {}",
                                        misp_enrich_core::excerpt(t),
                                        category.types().join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                    if types.is_empty() {
                        return Err(invalid(
                            &format!("{name}.types"),
                            "is empty; remove it to load all types, or set `enabled: false`".into(),
                        ));
                    }
                    types.dedup();
                    types
                }
            };
            categories.push(CategoryConfig {
                category,
                enabled,
                expires,
                types,
            });
        }

        Ok(Config {
            path: path.to_owned(),
            servers,
            keyspace,
            memcached_timeout,
            memcached_auth,
            misp,
            initial_event_timestamp,
            refresh_event_timestamp,
            filters,
            categories,
            max_removal_share,
            key_files,
        })
    }

    /// The files holding a secret that users other than the owner may read
    /// (group or other read bit), with their mode. Anyone who can read the
    /// MISP key can read MISP with its user's rights; anyone with the
    /// memcached password can rewrite or flush the indicators.
    pub fn exposed_key_files(&self) -> Vec<(&SecretFile, u32)> {
        self.key_files
            .iter()
            .filter_map(|f| readable_by_others(&f.path).map(|mode| (f, mode)))
            .collect()
    }

    /// The settings of `category`.
    pub fn category(&self, category: Category) -> &CategoryConfig {
        // Every category is pushed once in `parse`.
        self.categories
            .iter()
            .find(|c| c.category == category)
            .unwrap_or(&self.categories[0])
    }

    /// The MISP types of all enabled categories.
    pub fn enabled_types(&self) -> Vec<&'static str> {
        self.categories
            .iter()
            .filter(|c| c.enabled)
            .flat_map(|c| c.types.iter().copied())
            .collect()
    }
}

/// The permission bits of `file` when its group or others may read it.
#[cfg(unix)]
fn readable_by_others(file: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).ok()?.permissions().mode() & 0o7777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn readable_by_others(_file: &Path) -> Option<u32> {
    None
}

/// The memcached `exptime` for a relative expiry of `secs` seconds, at `now`
/// (unix seconds): memcached reads any exptime above 30 days as an absolute
/// unix time, so longer expiries are sent as `now + secs`. 0 means never.
pub fn exptime(secs: u64, now: u64) -> u32 {
    let value = if secs == 0 {
        0
    } else if secs <= MAX_RELATIVE_EXPIRY {
        secs
    } else {
        now.saturating_add(secs)
    };
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Seconds from `N`, `N.N` or `N` followed by `s`, `m`, `h` or `d`.
pub fn seconds(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_lowercase()),
        _ => (t, 's'),
    };
    let value: f64 = number.trim().parse().ok()?;
    let factor = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => return None,
    };
    let secs = value * factor;
    (secs.is_finite() && (0.0..1e11).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// Bytes from `N`, or `N` followed by `KB`, `MB` or `GB` (1024-based; `K`,
/// `M`, `G` and `B` alone too).
pub fn byte_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_uppercase();
    let t = t.strip_suffix('B').unwrap_or(&t).trim_end();
    let (number, factor) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    number.trim().parse::<u64>().ok()?.checked_mul(factor)
}

fn duration_help(value: &str) -> String {
    format!(
        "`{}` is not a duration: give seconds (`3600`) or a number with s, m, h or d (`12h`, `30d`)",
        misp_enrich_core::excerpt(value)
    )
}

/// A share from `0.5` or `50%`.
fn share(text: &str) -> Option<f64> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => t.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&value).then_some(value)
}

/// Checks an `event_timestamp` value. MISP reads any unparseable value as
/// "now + 1": an empty result, not an error. So the forms MISP documents are
/// checked here (`365d`, `1h`, `30m`, `10s`, unix seconds, `YYYY-MM-DD`);
/// anything else is refused rather than silently loading nothing.
fn timestamp(
    value: &str,
    key: &str,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<String, ConfigError> {
    let v = value.trim();
    let relative = v.len() > 1
        && v[..v.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && matches!(v.as_bytes().last(), Some(b'd' | b'h' | b'm' | b's'));
    let unix = !v.is_empty() && v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit());
    let date = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if relative || unix || date {
        Ok(v.to_owned())
    } else {
        Err(invalid(
            key,
            format!(
                "`{}` is not a time MISP understands: use `365d`, `12h`, `30m`, `10s` (MISP has no `w`), unix seconds, or `YYYY-MM-DD`",
                misp_enrich_core::excerpt(v)
            ),
        ))
    }
}

/// A parse error message with any `token:` or `password:` value of the
/// file scrubbed out (a misplaced secret could otherwise be quoted by the
/// parser).
fn redact_config_text(text: &str, message: &str) -> String {
    let mut out = message.to_owned();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if matches!(k.trim(), "token" | "password") {
                let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
                if v.len() >= 4 {
                    out = Secret::new(v).redact(&out);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config of the seed's getting_started.md, verbatim.
    const SEED: &str = include_str!("../tests/fixtures/seed-config.yml");

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/misp-load/config.yml"), &no_env)
    }

    #[test]
    fn the_seed_config_keeps_its_meaning() {
        let c = parse(SEED).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.servers, vec!["127.0.0.1:11211"]);
        assert_eq!(c.keyspace.prefix(), "misp");
        assert_eq!(c.misp.url, "https://127.0.0.1");
        assert_eq!(
            c.misp.key.expose(),
            "IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr"
        );
        assert!(c.misp.ignore_cert_errors);
        assert_eq!(c.initial_event_timestamp, "365d");
        assert_eq!(c.refresh_event_timestamp, "1h");
        for cat in [Category::Hash, Category::Network, Category::Web] {
            let cc = c.category(cat);
            assert!(cc.enabled && cc.expires == 0, "{cat}");
            for t in cat.seed_types() {
                assert!(cc.types.contains(t), "{cat}: {t}");
            }
        }
        // The seed had no email or host category: they stay off.
        assert!(!c.category(Category::Email).enabled);
        assert!(!c.category(Category::Host).enabled);
        assert_eq!(c.filters, Filters::default());
    }

    #[test]
    fn each_category_uses_its_own_expiry() {
        let text = SEED
            .replace(
                "hash:\n  enabled: true\n  expires: 0",
                "hash:\n  enabled: true\n  expires: 60",
            )
            .replace(
                "web:\n  enabled: true\n  expires: 0",
                "web:\n  enabled: true\n  expires: 7d",
            );
        let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.category(Category::Hash).expires, 60);
        assert_eq!(c.category(Category::Network).expires, 0);
        assert_eq!(c.category(Category::Web).expires, 7 * 86400);
    }

    #[test]
    fn unknown_keys_are_named_with_file_and_line() {
        let e = parse(&SEED.replace("  ignore_cert_errors", "  ignore_cert_error"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("/etc/misp-load/config.yml"), "{e}");
        assert!(e.contains("ignore_cert_error`"), "{e}");
        assert!(e.contains("line 7"), "{e}");
        let e = parse("misp:\n  url: https://m\n  token: abcd1234\ncolour: red\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn the_token_never_appears_in_errors() {
        let token = "IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr";
        for bad in [
            format!("misp:\n  url: https://m\n  token: {token}\n  page_size: [\n"),
            format!("memcached:\n  port: {token}\nmisp:\n  token: {token}\n"),
            format!("misp:\n  url: https://m\n  token:\n    - {token}\n"),
        ] {
            let e = parse(&bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!e.is_empty());
            assert!(!e.contains(token), "{e}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        // A panic message or a debug log that formats the config must not
        // carry the key.
        let c = parse(SEED).unwrap_or_else(|e| panic!("{e}"));
        let text = format!("{c:?} {c:#?} {:?}", c.misp);
        assert!(!text.contains("IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr"));
        assert!(text.contains("Secret(***)"), "{text}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("memcached:\n  port: 99999\n", "memcached.port"),
            ("memcached:\n  servers: ['a b:1']\n", "memcached.servers"),
            ("memcached:\n  prefix: 'mi sp'\n", "memcached.prefix"),
            ("misp:\n  url: ftp://x\n", "misp.url"),
            ("misp:\n  token: x\n", "misp.url"),
            (
                "misp:\n  url: https://m\n  token: x\n  initial_event_timestamp: 2w\n",
                "misp.initial_event_timestamp",
            ),
            (
                "misp:\n  url: https://m\n  token: x\n  page_size: 0\n",
                "misp.page_size",
            ),
            (
                "misp:\n  url: https://m\n  token: x\nweb:\n  expires: -5\n",
                "web.expires",
            ),
            (
                "misp:\n  url: https://m\n  token: x\nweb:\n  types: [md5]\n",
                "web.types",
            ),
            (
                "misp:\n  url: https://m\n  token: x\nreconcile:\n  max_removal_share: 150%\n",
                "reconcile.max_removal_share",
            ),
            (
                "misp:\n  url: https://m\n  token: x\nfilters:\n  exclude_tags: ['!tlp:red']\n",
                "filters.exclude_tags",
            ),
            (
                "memcached:\n  password: abcdefgh\nmisp:\n  url: https://m\n  token: x\n",
                "memcached.username",
            ),
            (
                "memcached:\n  username: u\n  password: a b\nmisp:\n  url: https://m\n  token: x\n",
                "memcached.username",
            ),
            (
                "memcached:\n  username: u\n  password: p\n  password_file: f\nmisp:\n  url: https://m\n  token: x\n",
                "memcached.password_file",
            ),
        ];
        for (text, key) in cases {
            let e = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
        }
        let e = parse("memcached:\n  host: a\nmisp:\n  url: https://m\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("no MISP API key"), "{e}");
    }

    #[test]
    fn extensions() {
        let text = r#"
memcached:
  servers: ["mc1:11211", "mc2"]
  prefix: misp_prod
  timeout: 2.5
misp:
  url: https://misp.example.org/
  token_file: key.txt
  ca_file: ca.pem
  page_size: 1000
  timeout: 2m
  retries: 0
filters:
  published: yes
  tags: ["tlp:white", "tlp:green"]
  exclude_tags: ["tlp:red", "false-positive"]
  enforce_warninglist: true
  exclude_decayed: true
reconcile:
  max_removal_share: 10%
email:
  expires: 40d
host:
  enabled: true
hash:
  types: [sha256, filename|sha256]
"#;
        let dir = std::env::temp_dir().join(format!("misp-load-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.join("key.txt"),
            "0123456789abcdef0123456789abcdef01234567\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c =
            Config::parse(text, &dir.join("config.yml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.servers, vec!["mc1:11211", "mc2:11211"]);
        assert_eq!(c.keyspace.prefix(), "misp_prod");
        assert_eq!(c.memcached_timeout, Duration::from_millis(2500));
        assert_eq!(c.misp.url, "https://misp.example.org");
        assert_eq!(
            c.misp.key.expose(),
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(c.misp.ca_file, Some(dir.join("ca.pem")));
        assert_eq!((c.misp.page_size, c.misp.retries), (1000, 0));
        assert_eq!(c.misp.timeout, Duration::from_secs(120));
        assert_eq!(c.misp.max_response_size, DEFAULT_MAX_RESPONSE_SIZE);
        assert_eq!(byte_size("256MB"), Some(256 << 20));
        assert_eq!(byte_size(" 2 gb"), Some(2 << 30));
        assert_eq!(byte_size("1024"), Some(1024));
        assert_eq!(byte_size("64k"), Some(64 << 10));
        assert_eq!(byte_size("lots"), None);
        assert!(c.filters.published && c.filters.enforce_warninglist && c.filters.exclude_decayed);
        assert_eq!(c.filters.exclude_tags, vec!["tlp:red", "false-positive"]);
        assert!((c.max_removal_share - 0.1).abs() < 1e-9);
        assert!(c.category(Category::Email).enabled);
        assert_eq!(c.category(Category::Email).expires, 40 * 86400);
        assert!(c.category(Category::Host).enabled);
        assert_eq!(
            c.category(Category::Hash).types,
            vec!["sha256", "filename|sha256"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn key_sources() {
        let env = |k: &str| (k == KEY_ENV).then(|| "FromEnv0123456789".to_owned());
        let c = Config::parse(SEED, Path::new("c.yml"), &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.misp.key.expose(), "FromEnv0123456789");
        let e = parse("misp:\n  url: https://m\n  token_file: /nonexistent/key\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("/nonexistent/key") && e.contains("token_file"),
            "{e}"
        );
    }

    #[test]
    fn long_expiries_become_absolute() {
        let now = 1_700_000_000;
        assert_eq!(exptime(0, now), 0);
        assert_eq!(exptime(3600, now), 3600);
        assert_eq!(exptime(MAX_RELATIVE_EXPIRY, now), 2_592_000);
        assert_eq!(exptime(MAX_RELATIVE_EXPIRY + 1, now), 1_702_592_001);
        assert_eq!(exptime(365 * 86400, now), 1_731_536_000);
    }

    #[test]
    fn durations() {
        assert_eq!(seconds("90"), Some(Duration::from_secs(90)));
        assert_eq!(seconds("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(seconds("30d"), Some(Duration::from_secs(30 * 86400)));
        assert_eq!(seconds("-1"), None);
        assert_eq!(seconds("1w"), None);
        assert_eq!(seconds(""), None);
    }
}
