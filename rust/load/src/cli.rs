//! The command line: `misp-load [OPTIONS]` loads once (or keeps loading with
//! `--watch`); `check`, `stats` and `lookup` inspect. Help comes at two
//! depths: `-h` one line per flag, `--help` the details.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Loads IDS-flagged MISP indicators into memcached for the misp_enrich
/// Logstash filter (and for seed pipelines that read memcached directly).
///
/// Without a subcommand, loads once and exits: the first run loads
/// `initial_event_timestamp`, later runs `refresh_event_timestamp` and revoke
/// what MISP deleted or un-flagged in that window. Exit codes: 0 ok, 1 config
/// or usage error, 2 MISP or memcached failure, 3 refused (e.g. --full would
/// remove too much), 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "misp-load", version)]
pub struct Cli {
    /// Config file (the seed's config.yml works unchanged).
    #[arg(
        long,
        short = 'c',
        global = true,
        default_value = "config.yml",
        value_name = "PATH"
    )]
    pub config: PathBuf,

    /// Load everything (no time window) and remove what MISP no longer has.
    ///
    /// Lists memcached's keys with `lru_crawler metadump all` (memcached
    /// 1.4.31 or later). Refuses to delete more than
    /// `reconcile.max_removal_share` of the keys (default 50%) unless --force.
    #[arg(long)]
    pub full: bool,

    /// Fetch and compare, report what would change, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Let --full delete more than `reconcile.max_removal_share` of the keys.
    #[arg(long)]
    pub force: bool,

    /// Keep running and refresh every SECONDS (SIGTERM/SIGINT stop cleanly).
    ///
    /// Keep SECONDS below `refresh_event_timestamp`, or changes between two
    /// runs fall outside both windows.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub watch: Option<u64>,

    /// Print the summary (or the subcommand's report) as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// No progress bars, only warnings and errors on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// More log output on stderr (-v, -vv, -vvv); RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do instead of loading.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Checks what clap cannot: load options make no sense with a subcommand.
    pub fn validate(&self) -> Result<(), String> {
        if self.command.is_some()
            && (self.full || self.dry_run || self.force || self.watch.is_some())
        {
            return Err(
                "--full, --dry-run, --force and --watch apply to loading, not to a subcommand"
                    .into(),
            );
        }
        if self.force && !self.full {
            return Err("--force only applies to --full".into());
        }
        Ok(())
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that MISP and every memcached server can be reached; show MISP's
    /// version and the key's permissions.
    Check,
    /// Show what memcached holds per namespace and when it was last loaded.
    Stats {
        /// Do not list keys (skips the per-namespace counts).
        #[arg(long)]
        no_scan: bool,
    },
    /// Show which key a value maps to and what memcached holds there.
    Lookup {
        /// The value, e.g. an IP, a hash, a URL.
        value: String,
        /// A namespace (`ip`, `sha256`, ...) or MISP type (`ip-dst`,
        /// `filename|sha256`, ...); default: every namespace the value fits.
        #[arg(long = "type", short = 't', value_name = "T")]
        kind: Option<String>,
    },
}
