//! The memcached servers of an engine: idle connections, a circuit breaker
//! and counters per server, and multi-gets bounded by the batch's deadline.
//!
//! Idle connections sit in a lock-free queue (a caller pops one, uses it
//! alone, pushes it back), so concurrent batches never wait on each other.
//! A connection whose call failed is dropped, never reused.
//!
//! Login: with a user name and password configured, every new connection
//! logs in (memcached's ASCII authentication, `memcached -Y`) before its
//! first lookup, within the batch's deadline. A refused login, or a server
//! that asks for one when none is configured, counts towards the breaker
//! like a failed connect: every call would fail the same way.
//!
//! Deadlines: a connection is made with the configured connect and io
//! timeouts, and the memcached client bounds every round trip by the io
//! timeout. A connect or round trip starts only if it can end before the
//! batch's deadline, so no batch waits longer than `batch_timeout` in total
//! whatever the servers do. The login of a new connection is bounded by the
//! batch's deadline itself (`Connection::set_deadline`, which applies to the
//! next call only, the earlier of it and the io timeout winning).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use misp_enrich_memcached::{Connection, Error, Item, Timeouts};
use serde::Serialize;

use crate::config::Login;

/// A connect is not tried with less time than this (or its configured
/// timeout, if shorter).
const MIN_CONNECT: Duration = Duration::from_millis(1);

/// Why a server was not (successfully) asked.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The server's breaker is open: not tried.
    BreakerOpen,
    /// Not enough of the batch's time left for a connect or round trip.
    NoTime,
    /// The call failed.
    Failed(Error),
}

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the backoff ends.
    Open,
    /// The backoff ended: the next call is a probe.
    HalfOpen,
}

/// A circuit breaker: after `threshold` consecutive failures it opens for
/// `backoff`; then one probe goes through, and its outcome closes the breaker
/// or opens it again. Lock-free: a few atomics.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    backoff: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// Microseconds since `epoch` until which the breaker is open.
    open_until: AtomicU64,
    probing: AtomicBool,
    opened: AtomicU64,
}

/// Permission to make one call; reports its outcome to the breaker. A permit
/// dropped without an outcome (no call was made) gives the probe back.
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, backoff: Duration) -> Self {
        Breaker {
            threshold,
            backoff,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            opened: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub(crate) fn acquire(&self) -> Option<Permit<'_>> {
        if self.failures.load(Relaxed) < self.threshold {
            return Some(Permit {
                breaker: self,
                probe: false,
                done: false,
            });
        }
        if self.now() < self.open_until.load(Relaxed) {
            return None;
        }
        self.probing
            .compare_exchange(false, true, Relaxed, Relaxed)
            .ok()
            .map(|_| Permit {
                breaker: self,
                probe: true,
                done: false,
            })
    }

    pub(crate) fn state(&self) -> BreakerState {
        if self.failures.load(Relaxed) < self.threshold {
            BreakerState::Closed
        } else if self.now() < self.open_until.load(Relaxed) {
            BreakerState::Open
        } else {
            BreakerState::HalfOpen
        }
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.failures.load(Relaxed)
    }

    pub(crate) fn times_opened(&self) -> u64 {
        self.opened.load(Relaxed)
    }
}

impl Permit<'_> {
    pub(crate) fn success(mut self) {
        self.breaker.failures.store(0, Relaxed);
        self.finish();
    }

    pub(crate) fn failure(mut self) {
        let b = self.breaker;
        let failures = b.failures.fetch_add(1, Relaxed).saturating_add(1);
        if failures >= b.threshold {
            let until = b
                .now()
                .saturating_add(u64::try_from(b.backoff.as_micros()).unwrap_or(u64::MAX));
            b.open_until.store(until, Relaxed);
            if failures == b.threshold || self.probe {
                b.opened.fetch_add(1, Relaxed);
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.done = true;
        if self.probe {
            self.breaker.probing.store(false, Relaxed);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.finish();
        }
    }
}

/// Counters of one server.
#[derive(Debug, Default)]
pub(crate) struct ServerCounters {
    pub round_trips: AtomicU64,
    pub keys: AtomicU64,
    pub connects: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub rejected: AtomicU64,
    pub no_time: AtomicU64,
}

/// One memcached server.
#[derive(Debug)]
pub(crate) struct Server {
    pub addr: String,
    idle: ArrayQueue<Connection>,
    pub breaker: Breaker,
    pub counters: ServerCounters,
    timeouts: Timeouts,
    login: Option<Login>,
    /// The message of the last failed call, while the last call failed
    /// (`failing` tells without taking the lock).
    last_error: Mutex<Option<String>>,
    failing: AtomicBool,
}

/// A server's state and counters, as reported in the engine's stats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerStats {
    /// `host:port`.
    pub addr: String,
    /// The breaker's state.
    pub breaker: BreakerState,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// How often the breaker opened.
    pub breaker_opened: u64,
    /// Multi-gets sent.
    pub round_trips: u64,
    /// Keys asked for.
    pub keys: u64,
    /// TCP connections made.
    pub connects: u64,
    /// Failed connects and round trips.
    pub errors: u64,
    /// Of which timeouts.
    pub timeouts: u64,
    /// Calls refused by the open breaker.
    pub breaker_rejected: u64,
    /// Calls not started because the batch's time was up.
    pub out_of_time: u64,
    /// Idle connections now.
    pub idle_connections: usize,
    /// Why the last call failed (connect, login, round trip), if it did;
    /// never holds the password.
    pub last_error: Option<String>,
}

impl Server {
    pub(crate) fn new(
        addr: &str,
        timeouts: Timeouts,
        max_idle: usize,
        breaker: Breaker,
        login: Option<Login>,
    ) -> Self {
        Server {
            addr: addr.to_owned(),
            idle: ArrayQueue::new(max_idle),
            breaker,
            counters: ServerCounters::default(),
            timeouts,
            login,
            last_error: Mutex::new(None),
            failing: AtomicBool::new(false),
        }
    }

    /// Reads `keys` in one round trip, within `deadline`, unless the
    /// breaker is open or the time left is too short.
    pub(crate) fn get_multi(
        &self,
        keys: &[&str],
        deadline: Instant,
    ) -> Result<Vec<Option<Item>>, FetchError> {
        let Some(permit) = self.breaker.acquire() else {
            self.counters.rejected.fetch_add(1, Relaxed);
            return Err(FetchError::BreakerOpen);
        };
        match self.call(keys, deadline) {
            Ok(items) => {
                permit.success();
                if self.failing.load(Relaxed) {
                    self.set_last_error(None);
                }
                Ok(items)
            }
            // A server that refused a command is alive: only failures that
            // may mean it is down or unreachable, or that it refuses our
            // login, count towards the breaker.
            Err(FetchError::Failed(e)) => {
                if e.is_transient() || matches!(e, Error::Auth(_)) {
                    permit.failure();
                } else {
                    permit.success();
                }
                Err(FetchError::Failed(e))
            }
            // No call was made: the permit (a probe, maybe) is given back.
            Err(other) => Err(other),
        }
    }

    fn call(&self, keys: &[&str], deadline: Instant) -> Result<Vec<Option<Item>>, FetchError> {
        let (mut conn, mut reused) = match self.idle.pop() {
            Some(c) => (c, true),
            None => (self.connect(deadline)?, false),
        };
        loop {
            if !fits(deadline, self.timeouts.io) {
                self.counters.no_time.fetch_add(1, Relaxed);
                let _ = self.idle.push(conn);
                return Err(FetchError::NoTime);
            }
            self.counters.round_trips.fetch_add(1, Relaxed);
            self.counters.keys.fetch_add(keys.len() as u64, Relaxed);
            match conn.get_multi(keys, false) {
                Ok(items) => {
                    let _ = self.idle.push(conn);
                    return Ok(items);
                }
                // A pooled connection the server closed (it restarted, or
                // dropped idle clients): once more on a new connection.
                Err(Error::Io(_)) if reused => {
                    reused = false;
                    conn = self.connect(deadline)?;
                }
                Err(e) => {
                    let e = login_hint(e);
                    self.count_error(&e);
                    return Err(FetchError::Failed(e));
                }
            }
        }
    }

    /// Connects, with the connect timeout cut to what the deadline leaves
    /// after one round trip.
    fn connect(&self, deadline: Instant) -> Result<Connection, FetchError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let connect = self
            .timeouts
            .connect
            .min(left.saturating_sub(self.timeouts.io));
        if connect < MIN_CONNECT {
            self.counters.no_time.fetch_add(1, Relaxed);
            return Err(FetchError::NoTime);
        }
        self.counters.connects.fetch_add(1, Relaxed);
        let timeouts = Timeouts {
            connect,
            io: self.timeouts.io,
        };
        open(&self.addr, timeouts, self.login.as_ref(), Some(deadline)).map_err(|e| {
            self.count_error(&e);
            FetchError::Failed(e)
        })
    }

    fn count_error(&self, e: &Error) {
        self.counters.errors.fetch_add(1, Relaxed);
        if matches!(e, Error::Timeout) {
            self.counters.timeouts.fetch_add(1, Relaxed);
        }
        self.set_last_error(Some(redact(self.login.as_ref(), &e.to_string())));
    }

    fn set_last_error(&self, message: Option<String>) {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        self.failing.store(message.is_some(), Relaxed);
        *last = message;
    }

    pub(crate) fn stats(&self) -> ServerStats {
        let c = &self.counters;
        ServerStats {
            addr: self.addr.clone(),
            breaker: self.breaker.state(),
            consecutive_failures: self.breaker.consecutive_failures(),
            breaker_opened: self.breaker.times_opened(),
            round_trips: c.round_trips.load(Relaxed),
            keys: c.keys.load(Relaxed),
            connects: c.connects.load(Relaxed),
            errors: c.errors.load(Relaxed),
            timeouts: c.timeouts.load(Relaxed),
            breaker_rejected: c.rejected.load(Relaxed),
            out_of_time: c.no_time.load(Relaxed),
            idle_connections: self.idle.len(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// Connects to `addr` and, with a login, logs in before anything else is
/// sent (both round trips of the login bounded by `deadline` too, if given).
/// A server without authentication never receives the password.
pub(crate) fn open(
    addr: &str,
    timeouts: Timeouts,
    login: Option<&Login>,
    deadline: Option<Instant>,
) -> Result<Connection, Error> {
    let mut conn = Connection::connect(addr, timeouts)?;
    if let Some(login) = login {
        if let Some(deadline) = deadline {
            conn.set_deadline(deadline);
        }
        conn.authenticate(&login.username, login.password.expose())
            .map_err(login_hint)?;
    }
    Ok(conn)
}

/// memcached started with `-Y` refuses every command of a connection that
/// has not logged in (`CLIENT_ERROR unauthenticated`): that refusal becomes
/// an authentication error that says what to configure.
pub(crate) fn login_hint(e: Error) -> Error {
    match e {
        Error::Server(m) if m.contains("unauthenticated") => Error::Auth(
            "memcached asks for a login (it runs with -Y <auth file>): configure a user name and password"
                .into(),
        ),
        other => other,
    }
}

/// `text` without the password of `login` (a message from a server may
/// echo what it was sent).
pub(crate) fn redact(login: Option<&Login>, text: &str) -> String {
    match login {
        Some(l) => l.password.redact(text),
        None => text.to_owned(),
    }
}

/// Whether something that takes up to `needed` can end before `deadline`.
fn fits(deadline: Instant, needed: Duration) -> bool {
    Instant::now() + needed <= deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_probes_once_and_closes() {
        let b = Breaker::new(2, Duration::from_millis(50));
        b.acquire().expect("closed").failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.acquire().expect("closed").failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.acquire().is_none());
        assert_eq!(b.times_opened(), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.acquire();
        assert!(probe.is_some());
        assert!(b.acquire().is_none(), "only one probe at a time");
        drop(probe); // no call made: the probe is given back
        let probe = b.acquire();
        assert!(probe.is_some());
        probe.expect("a probe").failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.times_opened(), 2);
        std::thread::sleep(Duration::from_millis(60));
        b.acquire().expect("a probe").success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
    }
}
