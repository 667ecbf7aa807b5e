//! Shared by the tests: the real latency-proxy binary started as a child
//! process, and a TCP echo server to put behind it.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// A running latency-proxy, killed when dropped.
pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
}

impl Proxy {
    pub fn start(upstream: &str, delay_us: u64) -> Self {
        Self::start_with(upstream, delay_us, &[])
    }

    /// Like [`Proxy::start`], with more flags.
    pub fn start_with(upstream: &str, delay_us: u64, flags: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latency-proxy"))
            .args(["--upstream", upstream, "--delay-us", &delay_us.to_string()])
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start latency-proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .parse()
            .unwrap();
        Proxy { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client connection through the proxy, with a read timeout so that a
    /// broken proxy fails the test instead of hanging it.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a TCP echo server; returns its address and a channel that gets one
/// message each time a connection sees the end of its client's stream.
pub fn echo_server() -> (String, Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (closed_tx, closed_rx) = channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let closed = closed_tx.clone();
            std::thread::spawn(move || {
                conn.set_nodelay(true).unwrap();
                let mut buf = [0u8; 8192];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = closed.send(());
            });
        }
    });
    (addr, closed_rx)
}

/// Reads until the bytes read end with `end`.
pub fn read_until(s: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(end) {
        let n = s.read(&mut byte).unwrap();
        assert!(n == 1, "connection closed after {out:?}");
        out.push(byte[0]);
    }
    out
}
