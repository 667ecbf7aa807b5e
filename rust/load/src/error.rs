//! The library's error: one type whose kind decides the exit code, so main
//! maps errors to exit codes in one place (0 ok, 1 config or usage, 2 MISP or
//! memcached, 3 refused, 130 interrupted).

use thiserror::Error;

use crate::config::ConfigError;
use crate::misp::MispError;
use crate::store::StoreError;

/// Exit codes, as documented in docs/misp-load.md.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Bad configuration or command line.
    pub const USAGE: u8 = 1;
    /// MISP or memcached failed.
    pub const FAILURE: u8 = 2;
    /// Refused to do something dangerous (e.g. `--full` removing too much).
    pub const REFUSED: u8 = 3;
    /// Stopped by SIGINT or SIGTERM.
    pub const INTERRUPTED: u8 = 130;
}

/// Why a command failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A usage problem found after parsing (e.g. an unknown `--type`).
    #[error("{0}")]
    Usage(String),
    /// MISP.
    #[error(transparent)]
    Misp(#[from] MispError),
    /// memcached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A removal larger than allowed.
    #[error("refusing to delete {deletes} of {total} keys ({share:.1}% > the {max:.0}% allowed by `reconcile.max_removal_share`); nothing was removed. Check MISP and the filters, then run again with --force if this is right")]
    Refused {
        /// Keys that would be deleted.
        deletes: u64,
        /// Indicator keys found.
        total: u64,
        /// deletes / total in percent.
        share: f64,
        /// The limit in percent.
        max: f64,
    },
    /// The server cannot list keys, which `--full` needs.
    #[error("{0}")]
    Unsupported(String),
    /// SIGINT or SIGTERM.
    #[error("interrupted; additions so far were kept, nothing was removed")]
    Interrupted,
    /// A worker thread died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) => exit::USAGE,
            Error::Misp(MispError::Interrupted { .. }) | Error::Interrupted => exit::INTERRUPTED,
            Error::Misp(_) | Error::Store(_) | Error::Unsupported(_) | Error::Internal(_) => {
                exit::FAILURE
            }
            Error::Refused { .. } => exit::REFUSED,
        }
    }
}
