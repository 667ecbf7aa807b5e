//! The test harness: a real memcached (`TestServer`), the real misp-sim
//! binary over real HTTP(S), and the real misp-load binary. Nothing is
//! mocked. misp-sim is built once (`cargo build -p misp-sim`) when the
//! binary is missing.
#![allow(clippy::unwrap_used, dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

pub use misp_enrich_memcached::{Connection, Op, Reply, TestServer, Timeouts};
use serde_json::{json, Value};

/// The API key the emulator accepts (40 letters and digits).
pub const KEY: &str = "SimKey0123456789abcdefghijABCDEFGHIJ0123";

/// A 40-character key that is not the emulator's.
pub const WRONG_KEY: &str = "WrongKeyXYZ0123456789abcdefghijABCDEFGHI";

fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_misp-load"));
    exe.parent().unwrap().to_owned()
}

/// The misp-sim binary, built if missing.
pub fn sim_binary() -> PathBuf {
    static BUILD: Once = Once::new();
    let path = target_dir().join("misp-sim");
    BUILD.call_once(|| {
        if !path.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "misp-sim"])
                .status()
                .unwrap();
            assert!(status.success(), "cargo build -p misp-sim failed");
        }
    });
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// A running misp-sim, killed when dropped.
pub struct Sim {
    child: Child,
    pub url: String,
    http: reqwest::blocking::Client,
    _dir: Option<tempdir::Dir>,
}

pub mod tempdir {
    //! A temporary directory removed when dropped.
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static N: AtomicU32 = AtomicU32::new(0);

    /// The directory.
    pub struct Dir(PathBuf);

    impl Dir {
        /// A fresh directory.
        pub fn new(label: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "misp-load-test-{}-{}-{label}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }

        /// Its path.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Sim {
    /// Starts misp-sim with `args` (the key is added).
    pub fn start(args: &[&str]) -> Sim {
        Sim::start_with_key(KEY, args)
    }

    /// Starts misp-sim serving `attributes` (MISP JSON attributes) and `events`.
    pub fn with_fixture(attributes: Value, events: Value, args: &[&str]) -> Sim {
        let dir = tempdir::Dir::new("fixture");
        let file = dir.path().join("fixture.json");
        let fixture = json!({"response": {"Attribute": attributes}, "Event": events});
        std::fs::write(&file, serde_json::to_vec(&fixture).unwrap()).unwrap();
        let file = file.to_str().unwrap().to_owned();
        let mut all = vec!["--fixture", &file];
        all.extend_from_slice(args);
        let mut sim = Sim::start(&all);
        sim._dir = Some(dir);
        sim
    }

    /// Starts misp-sim with a given key.
    pub fn start_with_key(key: &str, args: &[&str]) -> Sim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut child = Command::new(sim_binary())
            .args(["--key", key, "--exit-on-stdin-close"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("misp-sim did not start: {line:?}"))
            .to_owned();
        let http = reqwest::blocking::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Sim {
            child,
            url,
            http,
            _dir: None,
        }
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url),
        };
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap()),
            None => req,
        };
        let resp = req.send().unwrap();
        let status = resp.status();
        let text = resp.text().unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `POST /_sim/mutate`.
    pub fn mutate(&self, body: Value) -> Value {
        self.admin("POST", "/_sim/mutate", Some(body))
    }

    /// `POST /_sim/faults` (replaces the configuration).
    pub fn faults(&self, body: Value) -> Value {
        self.admin("POST", "/_sim/faults", Some(body))
    }

    /// `GET /_sim/requests`.
    pub fn requests(&self) -> Vec<Value> {
        self.admin("GET", "/_sim/requests", None)["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `DELETE /_sim/requests`.
    pub fn clear_requests(&self) {
        self.admin("DELETE", "/_sim/requests", None);
    }

    /// `GET /_sim/state`.
    pub fn state(&self) -> Value {
        self.admin("GET", "/_sim/state", None)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config file in its own directory.
pub struct Cfg {
    pub dir: tempdir::Dir,
    pub path: PathBuf,
}

impl Cfg {
    /// The seed-shaped config for `url` and `servers`, then `extra` YAML.
    /// `misp` lines in `misp_extra` go inside the `misp:` section.
    pub fn new(url: &str, servers: &[String], misp_extra: &str, extra: &str) -> Cfg {
        let dir = tempdir::Dir::new("cfg");
        let path = dir.path().join("config.yml");
        let memcached = if servers.len() == 1 {
            let (host, port) = servers[0].rsplit_once(':').unwrap();
            format!("memcached:\n  host: {host}\n  port: {port}\n")
        } else {
            let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
            format!("memcached:\n  servers: [{}]\n", list.join(", "))
        };
        let text = format!(
            "{memcached}misp:\n  url: {url}\n  token: \"{KEY}\"\n  ignore_cert_errors: false\n  initial_event_timestamp: 365d\n  refresh_event_timestamp: 1h\n  retries: 1\n  backoff: 0.05\n{misp_extra}hash:\n  enabled: true\n  expires: 0\nnetwork:\n  enabled: true\n  expires: 0\nweb:\n  enabled: true\n  expires: 0\n{extra}"
        );
        std::fs::write(&path, text).unwrap();
        Cfg { dir, path }
    }

    /// Rewrites the file.
    pub fn write(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }

    /// The text.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap()
    }
}

/// What a misp-load run printed.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The `--json` summary.
    pub fn json(&self) -> Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| {
                panic!(
                    "no JSON in stdout: {}\nstderr: {}",
                    self.stdout, self.stderr
                )
            });
        serde_json::from_str(line).unwrap()
    }

    /// Panics with the output unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A misp-load command (config given, MISP_KEY cleared).
pub fn misp_load(cfg: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_misp-load"));
    c.arg("--config")
        .arg(cfg)
        .env_remove("MISP_KEY")
        .env_remove("RUST_LOG");
    c
}

/// Runs misp-load with `args`.
pub fn run(cfg: &Path, args: &[&str]) -> Ran {
    misp_load(cfg).args(args).output().unwrap().into()
}

/// Runs a load with `--json -q` and returns the summary (asserting exit 0).
pub fn load(cfg: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "-q"];
    all.extend_from_slice(args);
    run(cfg, &all).expect(0).json()
}

/// A connection to a memcached.
pub fn mc(server: &TestServer) -> Connection {
    Connection::connect(
        &server.addr(),
        Timeouts {
            connect: Duration::from_secs(1),
            io: Duration::from_secs(5),
        },
    )
    .unwrap()
}

/// The value of `key`, as text.
pub fn get(server: &TestServer, key: &str) -> Option<String> {
    mc(server).get_multi(&[key], false).unwrap()[0]
        .as_ref()
        .map(|i| String::from_utf8_lossy(&i.value).into_owned())
}

/// Sets `key` (as the seed would have written it).
pub fn set(server: &TestServer, key: &str, value: &str) {
    let r = mc(server)
        .execute(&[Op::Set {
            key,
            value: value.as_bytes(),
            exptime: 0,
        }])
        .unwrap();
    assert_eq!(r, vec![Reply::Stored]);
}

/// Every key and value the server holds.
pub fn snapshot(server: &TestServer) -> BTreeMap<String, String> {
    let mut c = mc(server);
    let mut keys = Vec::new();
    c.metadump(|k| keys.push(k.key)).unwrap();
    let values = c.get_multi(&keys, false).unwrap();
    keys.into_iter()
        .zip(values)
        .filter_map(|(k, v)| v.map(|v| (k, String::from_utf8_lossy(&v.value).into_owned())))
        .collect()
}

/// Indicator keys only (no stats, run record, events or range index).
pub fn indicators(server: &TestServer) -> BTreeMap<String, String> {
    snapshot(server)
        .into_iter()
        .filter(|(k, _)| {
            !(k == "misp-stats"
                || k == "misp-load"
                || k.starts_with("misp-event:")
                || k.starts_with("misp-ranges"))
        })
        .collect()
}

/// One MISP attribute for a fixture.
pub fn attr(id: u64, event: u64, t: &str, value: &str) -> Value {
    json!({"id": id.to_string(), "event_id": event.to_string(), "type": t, "value": value, "to_ids": true})
}

/// One MISP event for a fixture.
pub fn event(id: u64, info: &str, tags: &[&str]) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": (i + 1).to_string(), "name": t, "colour": "#ffffff"}))
        .collect();
    json!({"Event": {"id": id.to_string(), "info": info, "uuid": format!("00000000-0000-4000-8000-{id:012}"),
                     "threat_level_id": "1", "date": "2024-05-01", "published": true,
                     "Orgc": {"id": "2", "name": "ACME CERT", "uuid": "10000000-0000-4000-8000-000000000002"},
                     "Tag": tags}})
}

/// Polls `f` until it is true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Writes `text` to a file in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    p
}
