//! Errors of the memcached client.

use std::io;

use misp_enrich_core::excerpt;
use thiserror::Error;

/// What went wrong talking to memcached.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCP connection could not be made.
    #[error("cannot connect to memcached at {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// The deadline of the call passed.
    #[error("memcached did not answer in time")]
    Timeout,
    /// The connection failed mid-call (reset, closed, ...).
    #[error("memcached connection failed: {0}")]
    Io(#[source] io::Error),
    /// The server sent something that is not memcached's protocol. The
    /// connection is not reused.
    #[error("memcached sent an unexpected reply: {0}")]
    Protocol(String),
    /// The server refused the command (`SERVER_ERROR ...`, `CLIENT_ERROR ...`, `ERROR`).
    #[error("memcached refused the command: {0}")]
    Server(String),
    /// Authentication ([`crate::Connection::authenticate`]) failed.
    #[error("memcached authentication failed: {0}")]
    Auth(String),
    /// A key that must not be sent (too long, spaces, control bytes).
    #[error("refusing to send unsafe memcached key `{0}`")]
    UnsafeKey(String),
}

impl Error {
    pub(crate) fn protocol(what: &str, line: &[u8]) -> Self {
        Error::Protocol(format!(
            "{what}: `{}`",
            excerpt(&String::from_utf8_lossy(line))
        ))
    }

    pub(crate) fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(e),
        }
    }

    /// Whether asking again (on a new connection) may succeed: connection
    /// failures and timeouts, not refusals or unsafe keys.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Timeout | Error::Io(_) | Error::Protocol(_)
        )
    }
}
