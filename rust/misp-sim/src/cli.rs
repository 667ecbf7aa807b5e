//! Command-line flags, parsed with clap and checked into the settings the
//! server runs with.

use crate::data::gen::GenConfig;
use crate::faults::{Faults, Rule, Truncate};
use anyhow::{bail, Context as _};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// An emulator of MISP's REST API for misp-load's tests, the benchmarks and
/// the demo. Prints `listening on http(s)://ADDR` on stdout once ready.
#[derive(Debug, Parser)]
#[command(name = "misp-sim", version)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (see the ready line).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// The API key clients must send (40 letters and digits).
    #[arg(long, env = "MISP_SIM_KEY", hide_env_values = true)]
    pub key: String,

    /// Serve generated data: this many attributes.
    #[arg(long, value_name = "N", conflicts_with = "fixture")]
    pub generate: Option<u64>,

    /// Serve the attributes of a JSON file in MISP's format
    /// ({"response":{"Attribute":[...]}}, optional top-level "Event" list).
    #[arg(long, value_name = "FILE")]
    pub fixture: Option<PathBuf>,

    /// Mean attributes per generated event.
    #[arg(long, default_value_t = 100)]
    pub attrs_per_event: u32,

    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Unix time the generated timestamps are relative to (default: now).
    #[arg(long)]
    pub now: Option<i64>,

    /// Generated events are spread over this many days before --now.
    #[arg(long, default_value_t = 400)]
    pub span_days: u32,

    /// Fraction of IDS-type generated attributes with to_ids=false.
    #[arg(long, default_value_t = 0.12)]
    pub non_ids_fraction: f64,

    /// Fraction of generated attributes soft-deleted.
    #[arg(long, default_value_t = 0.03)]
    pub deleted_fraction: f64,

    /// Fraction of generated attributes hit by the emulated warninglist
    /// (dropped by enforceWarninglist after the SQL limit).
    #[arg(long, default_value_t = 0.01)]
    pub warninglist_fraction: f64,

    /// Fraction of generated attributes decayed (dropped by excludeDecayed
    /// after the SQL limit).
    #[arg(long, default_value_t = 0.01)]
    pub decayed_fraction: f64,

    /// Serve HTTPS with a certificate from a CA generated at start.
    #[arg(long)]
    pub tls: bool,

    /// Write the generated CA certificate (PEM) here, for the client's ca_file.
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub ca_out: Option<PathBuf>,

    /// Names in the server certificate (repeatable).
    #[arg(long = "tls-name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])]
    pub tls_names: Vec<String>,

    /// Unpaged restSearch returning more rows than this answers 500, as a
    /// real MISP running out of PHP memory does.
    #[arg(long, value_name = "ROWS")]
    pub unpaged_limit: Option<usize>,

    /// Fault configuration as JSON (same shape as POST /_sim/faults), or @FILE.
    #[arg(long, value_name = "JSON")]
    pub faults: Option<String>,

    /// Delay every MISP response by this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,

    /// Answer every MISP request with a 302 to /users/login.
    #[arg(long)]
    pub redirect_login: bool,

    /// Fail this page of /attributes/restSearch with --fail-status.
    #[arg(long, value_name = "N")]
    pub fail_page: Option<u64>,

    /// Status for --fail-page.
    #[arg(long, default_value_t = 500, requires = "fail_page")]
    pub fail_status: u16,

    /// Fail only the first K requests for --fail-page (default: always).
    #[arg(long, value_name = "K", requires = "fail_page")]
    pub fail_times: Option<u64>,

    /// Retry-After seconds for a 429/503 from --fail-page.
    #[arg(long, value_name = "S", requires = "fail_page")]
    pub retry_after: Option<u64>,

    /// Cut the body of this page of /attributes/restSearch (connection drop).
    #[arg(long, value_name = "N")]
    pub truncate_page: Option<u64>,

    /// Exit when standard input reaches end of file (lets a test harness
    /// tie the emulator's life to its own).
    #[arg(long)]
    pub exit_on_stdin_close: bool,

    /// Requests kept for GET /_sim/requests.
    #[arg(long, default_value_t = 10_000)]
    pub request_log: usize,
}

impl Args {
    /// Checks the key format (MISP's `^[a-zA-Z0-9]{40}$`).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.key.len() != 40 || !self.key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!("--key must be 40 letters and digits, like a MISP API key");
        }
        for (name, f) in [
            ("--non-ids-fraction", self.non_ids_fraction),
            ("--deleted-fraction", self.deleted_fraction),
            ("--warninglist-fraction", self.warninglist_fraction),
            ("--decayed-fraction", self.decayed_fraction),
        ] {
            if !(0.0..=1.0).contains(&f) {
                bail!("{name} must be between 0 and 1, not {f}");
            }
        }
        if self.attrs_per_event == 0 {
            bail!("--attrs-per-event must be at least 1");
        }
        Ok(())
    }

    /// Generation settings, if `--generate` was given.
    pub fn gen_config(&self, now: i64) -> Option<GenConfig> {
        Some(GenConfig {
            count: self.generate?,
            per_event: self.attrs_per_event,
            seed: self.seed,
            now: self.now.unwrap_or(now),
            span_days: self.span_days,
            non_ids_fraction: self.non_ids_fraction,
            deleted_fraction: self.deleted_fraction,
            warninglist_fraction: self.warninglist_fraction,
            decayed_fraction: self.decayed_fraction,
        })
    }

    /// The start-up fault configuration from `--faults` and the shortcuts.
    pub fn faults(&self) -> anyhow::Result<Faults> {
        let mut f = match &self.faults {
            Some(s) => {
                let text = match s.strip_prefix('@') {
                    Some(path) => std::fs::read_to_string(path)
                        .with_context(|| format!("reading --faults file {path}"))?,
                    None => s.clone(),
                };
                serde_json::from_str(&text).context("--faults is not a valid fault JSON")?
            }
            None => Faults::default(),
        };
        if let Some(ms) = self.delay_ms {
            f.delay_ms = ms;
        }
        f.redirect_login |= self.redirect_login;
        if let Some(page) = self.fail_page {
            f.rules.push(Rule {
                path: "/attributes/restSearch".into(),
                page: Some(page),
                times: self.fail_times,
                status: Some(self.fail_status),
                retry_after: self.retry_after,
                truncate: None,
                delay_ms: None,
                body: None,
                hits: 0,
            });
        }
        if let Some(page) = self.truncate_page {
            f.rules.push(Rule {
                path: "/attributes/restSearch".into(),
                page: Some(page),
                times: None,
                status: None,
                retry_after: None,
                truncate: Some(Truncate::Connection),
                delay_ms: None,
                body: None,
                hits: 0,
            });
        }
        Ok(f)
    }
}
