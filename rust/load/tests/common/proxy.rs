//! A TCP proxy in front of a real memcached, so a test can make memcached
//! "disappear" for misp-load (every connection cut, new ones refused) while
//! the real server keeps its data, and can stop misp-load at an exact point
//! of its traffic. Nothing is emulated: bytes go through unchanged.
//!
//! A trigger watches what misp-load sends (client to server) for a command
//! line that starts with a given text (e.g. `add misp-domain:`). When one
//! arrives, [`Action::Hold`] keeps that data (and everything after it on the
//! connection) until [`Proxy::release`]; [`Action::CutMidway`] forwards the
//! data up to the middle of that command line, then cuts every connection,
//! as a crash in the middle of a write would.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a trigger does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Hold the data until [`Proxy::release`].
    Hold,
    /// Forward up to the middle of the matching command, then cut everything.
    CutMidway,
}

#[derive(Debug, Default)]
struct Trigger {
    /// Armed: the texts a command line may start with, and what to do.
    armed: Option<(Vec<Vec<u8>>, Action)>,
    /// A trigger fired (and has not been waited for yet).
    fired: bool,
    /// A held connection may go on.
    released: bool,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    cut: AtomicBool,
    stop: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
    trigger: Mutex<Trigger>,
    changed: Condvar,
}

impl Shared {
    fn trigger(&self) -> MutexGuard<'_, Trigger> {
        self.trigger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cut_all(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        for s in streams.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A proxy listening on a loopback port; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
            trigger: Mutex::new(Trigger::default()),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if s.cut.load(Ordering::SeqCst) {
                    // "Gone": the connection is closed at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&s.upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut streams = s.streams.lock().unwrap_or_else(|e| e.into_inner());
                    for stream in [&client, &server] {
                        if let Ok(c) = stream.try_clone() {
                            streams.push(c);
                        }
                    }
                }
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let up = s.clone();
                std::thread::spawn(move || pump_up(client, server, &up));
                std::thread::spawn(move || pump(s2, c2));
            }
        });
        Proxy { port, shared }
    }

    /// `127.0.0.1:<port>`: give this to misp-load instead of memcached's address.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Arms the trigger: the next command line misp-load sends that starts
    /// with `prefix` fires `action` (once).
    pub fn arm(&self, prefix: &str, action: Action) {
        self.arm_any(&[prefix], action);
    }

    /// Arms the trigger for command lines that start with any of `prefixes`.
    pub fn arm_any(&self, prefixes: &[&str], action: Action) {
        let mut t = self.shared.trigger();
        *t = Trigger {
            armed: Some((
                prefixes.iter().map(|p| p.as_bytes().to_vec()).collect(),
                action,
            )),
            fired: false,
            released: false,
        };
    }

    /// Waits until the armed trigger fired; false after `timeout`.
    pub fn wait_fired(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut t = self.shared.trigger();
        while !t.fired {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            t = self
                .shared
                .changed
                .wait_timeout(t, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Lets held data go on.
    pub fn release(&self) {
        self.shared.trigger().released = true;
        self.shared.changed.notify_all();
    }

    /// memcached "disappears": every connection is cut, new ones are closed at once.
    pub fn cut(&self) {
        self.shared.cut_all();
    }

    /// memcached is back (the real server kept its data).
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.release();
        self.shared.cut_all();
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Server to client: bytes as they come.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Where in `data` the first command line starts with one of `prefixes`
/// (`at_line_start`: whether `data` begins a line).
fn find_command(data: &[u8], prefixes: &[Vec<u8>], at_line_start: bool) -> Option<usize> {
    (0..data.len()).find(|&i| {
        let starts_line = if i == 0 {
            at_line_start
        } else {
            data[i - 1] == b'\n'
        };
        starts_line && prefixes.iter().any(|p| data[i..].starts_with(p))
    })
}

/// Client to server: bytes as they come, unless the trigger fires.
fn pump_up(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    // The start of the current line, already forwarded (a command split
    // over two reads is still recognised), and whether it starts a line.
    let mut partial: Vec<u8> = Vec::new();
    let mut partial_starts_line = true;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = &buf[..n];
        let fired = {
            let mut t = shared.trigger();
            let hit = t.armed.as_ref().and_then(|(prefixes, action)| {
                let mut seen = partial.clone();
                seen.extend_from_slice(data);
                find_command(&seen, prefixes, partial_starts_line)
                    .map(|at| (at.saturating_sub(partial.len()), *action))
            });
            if hit.is_some() {
                t.armed = None;
                t.fired = true;
                shared.changed.notify_all();
            }
            hit
        };
        match data.iter().rposition(|b| *b == b'\n') {
            Some(i) => {
                partial = data[i + 1..].to_vec();
                partial_starts_line = true;
            }
            None => partial.extend_from_slice(data),
        }
        if partial.len() > 512 {
            partial.clear();
            partial_starts_line = false;
        }
        match fired {
            Some((at, Action::CutMidway)) => {
                // Half of the matching command line reaches memcached.
                let end = data[at..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(n, |p| at + p);
                let _ = to.write_all(&data[..at + (end - at) / 2]);
                let _ = to.flush();
                shared.cut_all();
                break;
            }
            Some((_, Action::Hold)) => {
                let mut t = shared.trigger();
                while !t.released && !shared.stop.load(Ordering::SeqCst) {
                    t = shared
                        .changed
                        .wait_timeout(t, Duration::from_millis(100))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
            None => {}
        }
        if to.write_all(data).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
