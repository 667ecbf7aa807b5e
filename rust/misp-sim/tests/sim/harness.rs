//! Starts the real misp-sim binary on port 0 and talks HTTP to it with a
//! blocking client, the way misp-load's tests will.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub const KEY: &str = "abcdefghijABCDEFGHIJ0123456789abcdefghij";

/// A running emulator; killed on drop.
pub struct Sim {
    child: Child,
    _stdin: ChildStdin,
    pub base: String,
    pub ready_line: String,
    agent: ureq::Agent,
}

pub fn agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
}

/// Unix time now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Writes a fixture file under the test temp dir.
pub fn write_file(name: &str, content: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("misp-sim-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:.300}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn result_count(&self) -> usize {
        self.header("x-result-count")
            .expect("X-Result-Count")
            .parse()
            .unwrap()
    }

    /// The `Attribute` list of a restSearch answer.
    pub fn attrs(&self) -> Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.body);
        self.json()["response"]["Attribute"]
            .as_array()
            .expect("response.Attribute array")
            .clone()
    }

    /// The attribute ids (as numbers) of a restSearch answer.
    pub fn ids(&self) -> Vec<u64> {
        self.attrs()
            .iter()
            .map(|a| a["id"].as_str().expect("id is a string").parse().unwrap())
            .collect()
    }
}

pub fn read(mut r: ureq::http::Response<ureq::Body>) -> Result<Resp, ureq::Error> {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = r.body_mut().with_config().limit(1 << 30).read_to_string()?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

impl Sim {
    /// Starts `misp-sim --key KEY --listen 127.0.0.1:0 ARGS` and waits for
    /// the ready line.
    pub fn start(args: &[&str]) -> Sim {
        Sim::start_with(args, agent_config().build().into())
    }

    pub fn start_with(args: &[&str], agent: ureq::Agent) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_misp-sim"))
            .args([
                "--key",
                KEY,
                "--listen",
                "127.0.0.1:0",
                "--exit-on-stdin-close",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn misp-sim");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let line = line.trim_end().to_string();
        let base = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_string();
        Sim {
            child,
            _stdin: stdin,
            base,
            ready_line: line,
            agent,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST with arbitrary headers; Err when the body could not be read.
    pub fn try_post(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Result<Resp, ureq::Error> {
        let mut req = self.agent.post(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send(body)?)
    }

    pub fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
        self.try_post(path, body, headers).unwrap()
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.get(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.call().unwrap()).unwrap()
    }

    /// A restSearch as misp-load sends it (key, Accept, Content-Type).
    pub fn search(&self, body: Value) -> Resp {
        self.post("/attributes/restSearch", &body.to_string(), &json_headers())
    }

    pub fn try_search(&self, body: Value) -> Result<Resp, ureq::Error> {
        self.try_post("/attributes/restSearch", &body.to_string(), &json_headers())
    }

    /// Ids matched by a restSearch.
    pub fn ids(&self, body: Value) -> Vec<u64> {
        self.search(body).ids()
    }

    /// An admin call (`/_sim/...`) with a JSON body; returns the JSON answer.
    pub fn admin(&self, path: &str, body: Value) -> Value {
        let r = self.post(
            path,
            &body.to_string(),
            &[("Content-Type", "application/json")],
        );
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.json()
    }

    /// DELETE; returns the status.
    pub fn agent_delete(&self, path: &str) -> u16 {
        self.agent
            .delete(&self.url(path))
            .call()
            .unwrap()
            .status()
            .as_u16()
    }

    pub fn state(&self) -> Value {
        self.get("/_sim/state", &[]).json()
    }
}

pub fn json_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Authorization", KEY),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
    ]
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a restSearch body with extra fields merged in.
pub fn with(base: &Value, extra: Value) -> Value {
    let mut b = base.clone();
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// `{"returnFormat":"json"}`: the smallest non-empty body (no filter).
pub fn all() -> Value {
    json!({"returnFormat": "json"})
}
