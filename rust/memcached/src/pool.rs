//! Idle connections to one memcached server, shared by threads.
//!
//! A thread takes a connection for one call and gives it back afterwards; the
//! lock is held only to pop or push, never during I/O. A connection whose
//! call failed is dropped instead of returned, so a broken socket (or one
//! left mid-reply by a timeout) is never reused.

use std::sync::Mutex;

use crate::{Connection, Error, Timeouts};

/// Idle connections to one server.
#[derive(Debug)]
pub struct Pool {
    addr: String,
    timeouts: Timeouts,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl Pool {
    /// A pool for `addr` that keeps at most `max_idle` idle connections.
    /// Connections are made lazily, so this never fails or blocks.
    pub fn new(addr: &str, timeouts: Timeouts, max_idle: usize) -> Self {
        Pool {
            addr: addr.to_owned(),
            timeouts,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// The server address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Runs `call` on an idle connection, or a new one. On success the
    /// connection goes back to the pool; on error it is dropped. An idle
    /// connection that turns out to be dead (the server restarted since it
    /// was last used) is replaced once by a new one, so `call` must be safe
    /// to repeat (reads, set, delete, cas; not incr).
    pub fn with<T>(
        &self,
        mut call: impl FnMut(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let (conn, result) = match idle {
            Some(mut c) => match call(&mut c) {
                Err(Error::Io(_)) => {
                    let mut fresh = Connection::connect(&self.addr, self.timeouts)?;
                    let result = call(&mut fresh);
                    (fresh, result)
                }
                result => (c, result),
            },
            None => {
                let mut c = Connection::connect(&self.addr, self.timeouts)?;
                let result = call(&mut c);
                (c, result)
            }
        };
        if result.is_ok() {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < self.max_idle {
                    idle.push(conn);
                }
            }
        }
        result
    }

    /// Drops every idle connection (e.g. after the server was restarted).
    pub fn clear(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
