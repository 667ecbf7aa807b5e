//! The log of MISP requests received, so tests can assert what a client sent
//! (filters, paging, headers). API keys never enter it: the two key headers
//! are kept with their value replaced by `<redacted>`.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// One received request.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// 1-based arrival number.
    pub seq: u64,
    /// Unix time of arrival.
    pub time: i64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case header names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, or null.
    pub body: serde_json::Value,
    /// The body as text when it was not JSON (first 4 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// The status sent (0 until the response is decided).
    pub status: u16,
}

/// A bounded log (oldest entries are dropped past the capacity).
#[derive(Debug)]
pub struct Log {
    entries: VecDeque<Entry>,
    cap: usize,
    next_seq: u64,
}

impl Log {
    pub fn new(cap: usize) -> Log {
        Log {
            entries: VecDeque::new(),
            cap,
            next_seq: 1,
        }
    }

    /// Appends a request and returns its sequence number.
    pub fn push(&mut self, mut e: Entry) -> u64 {
        e.seq = self.next_seq;
        self.next_seq += 1;
        if self.cap > 0 {
            if self.entries.len() == self.cap {
                self.entries.pop_front();
            }
            self.entries.push_back(e);
        }
        self.next_seq - 1
    }

    /// Records the status of request `seq`.
    pub fn set_status(&mut self, seq: u64, status: u16) {
        if let Some(e) = self.entries.iter_mut().rev().find(|e| e.seq == seq) {
            e.status = status;
        }
    }

    /// Entries with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect()
    }

    /// Requests received in total (including dropped entries).
    pub fn total(&self) -> u64 {
        self.next_seq - 1
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Header map for the log, keys redacted.
pub fn headers(h: &axum::http::HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in h {
        let name = k.as_str().to_ascii_lowercase();
        let val = if name == "authorization" || name == "x-misp-auth" {
            "<redacted>".to_string()
        } else {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        };
        out.entry(name)
            .and_modify(|s| {
                s.push_str(", ");
                s.push_str(&val);
            })
            .or_insert(val);
    }
    out
}
