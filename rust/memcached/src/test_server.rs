//! A real memcached process for tests: started on a free loopback port,
//! stopped (killed) when dropped. Needs the `memcached` binary on PATH
//! (Debian package `memcached`; `.ci/run` installs it). `-u root` matters only
//! when the tests run as root, where memcached refuses to start without it.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A memcached server owned by a test.
#[derive(Debug)]
pub struct TestServer {
    child: Option<Child>,
    port: u16,
    extra_args: Vec<String>,
}

impl TestServer {
    /// Starts memcached on a free port and waits until it accepts connections.
    ///
    /// # Panics
    /// If memcached cannot be started: tests cannot run without it.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`TestServer::start`], with extra memcached arguments (e.g. `["-I", "2m"]`).
    ///
    /// # Panics
    /// If memcached cannot be started.
    pub fn start_with(extra_args: &[&str]) -> Self {
        let port = free_port();
        let mut server = TestServer {
            child: None,
            port,
            extra_args: extra_args.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.restart();
        server
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would); its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty).
    ///
    /// # Panics
    /// If memcached cannot be started or does not listen within 10 s.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("memcached")
            .args([
                "-l",
                "127.0.0.1",
                "-U",
                "0",
                "-m",
                "256",
                "-u",
                "root",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start memcached (apt-get install memcached): {e}"));
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "memcached did not start"
            );
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago.
///
/// # Panics
/// If no port can be bound on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}
