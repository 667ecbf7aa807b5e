//! The summary every run prints: what was fetched, written, revoked and
//! skipped (by reason), how long it took and the peak memory. As text for
//! people, or as JSON with `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::extract::Skips;
use crate::range_index::RangeCounts;
use crate::store::{Counts, NsCounts};

/// What a full reconcile did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileSummary {
    /// Indicator keys found in memcached.
    pub keys_scanned: u64,
    /// Keys deleted because none of their entries is in MISP any more.
    pub keys_deleted: u64,
    /// Entries removed (from deleted and from remaining keys).
    pub entries_removed: u64,
    /// `<prefix>-event:` keys of events no indicator refers to, deleted.
    pub event_keys_deleted: u64,
}

/// The outcome of one load.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// `initial`, `refresh` or `full`.
    pub mode: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// Whether the run succeeded.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Attributes received from MISP.
    pub attributes_fetched: u64,
    /// Pages fetched.
    pub pages: u32,
    /// Attributes received by the revocation query (refresh runs).
    pub revocation_attributes_fetched: u64,
    /// Keys written: added + updated.
    pub keys_written: u64,
    /// Keys created.
    pub keys_added: u64,
    /// Existing keys that got entries.
    pub keys_updated: u64,
    /// Keys that already held what MISP says.
    pub keys_unchanged: u64,
    /// Entries added.
    pub entries_added: u64,
    /// Entries revoked (deleted or un-flagged in MISP, or gone in a full run).
    pub entries_revoked: u64,
    /// Keys deleted because empty.
    pub keys_deleted: u64,
    /// The IP range index.
    pub ranges: RangeCounts,
    /// Event metadata records written.
    pub events_written: u64,
    /// Full runs only.
    pub reconcile: Option<ReconcileSummary>,
    /// Indicators skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Per namespace.
    pub namespaces: BTreeMap<String, NsCounts>,
    /// Wall time.
    pub seconds: f64,
    /// attributes_fetched / seconds.
    pub attributes_per_second: f64,
    /// Peak resident memory (VmHWM), bytes.
    pub peak_rss_bytes: Option<u64>,
}

impl Summary {
    /// Adds write counts.
    pub fn add_counts(&mut self, counts: &Counts) {
        for (ns, c) in &counts.0 {
            let mine = self.namespaces.entry(ns.name().to_owned()).or_default();
            mine.added += c.added;
            mine.updated += c.updated;
            mine.unchanged += c.unchanged;
            mine.entries_added += c.entries_added;
            mine.revoked += c.revoked;
            mine.deleted += c.deleted;
        }
        let t = counts.total();
        self.keys_added += t.added;
        self.keys_updated += t.updated;
        self.keys_unchanged += t.unchanged;
        self.entries_added += t.entries_added;
        self.entries_revoked += t.revoked;
        self.keys_deleted += t.deleted;
        self.keys_written = self.keys_added + self.keys_updated;
    }

    /// Adds skips.
    pub fn add_skips(&mut self, skips: &Skips) {
        for (reason, n) in &skips.0 {
            *self.skipped.entry(reason.clone()).or_insert(0) += n;
        }
    }

    /// Counts `n` skips for `reason` (nothing when `n` is 0).
    pub fn skip(&mut self, reason: &str, n: u64) {
        if n > 0 {
            *self.skipped.entry(reason.to_owned()).or_insert(0) += n;
        }
    }

    /// Sets time, rate and memory.
    pub fn finish(&mut self, seconds: f64) {
        self.seconds = seconds;
        self.attributes_per_second = if seconds > 0.0 {
            self.attributes_fetched as f64 / seconds
        } else {
            0.0
        };
        self.peak_rss_bytes = peak_rss_bytes();
    }

    /// The text form.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let status = if self.ok { "finished" } else { "FAILED" };
        let dry = if self.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "misp-load: {} run {status} in {:.2} s{dry}",
            self.mode, self.seconds
        );
        let row = |s: &mut String, label: &str, value: String| {
            let _ = writeln!(s, "  {label:<22} {value}");
        };
        row(
            &mut s,
            "attributes fetched",
            format!(
                "{} ({} pages, {:.0}/s)",
                group(self.attributes_fetched),
                self.pages,
                self.attributes_per_second
            ),
        );
        if self.mode == "refresh" {
            row(
                &mut s,
                "revocation check",
                format!("{} attributes", group(self.revocation_attributes_fetched)),
            );
        }
        row(
            &mut s,
            "keys written",
            format!(
                "{} ({} added, {} updated, {} entries)",
                group(self.keys_written),
                group(self.keys_added),
                group(self.keys_updated),
                group(self.entries_added)
            ),
        );
        row(&mut s, "keys unchanged", group(self.keys_unchanged));
        row(
            &mut s,
            "entries revoked",
            format!(
                "{} ({} keys deleted)",
                group(self.entries_revoked),
                group(self.keys_deleted)
            ),
        );
        if let Some(r) = &self.reconcile {
            row(
                &mut s,
                "reconcile",
                format!(
                    "{} keys checked, {} deleted, {} stale entries, {} event keys deleted",
                    group(r.keys_scanned),
                    group(r.keys_deleted),
                    group(r.entries_removed),
                    group(r.event_keys_deleted)
                ),
            );
        }
        row(
            &mut s,
            "IP ranges",
            format!(
                "{} in index ({} added, {} revoked)",
                group(self.ranges.total),
                group(self.ranges.added),
                group(self.ranges.revoked)
            ),
        );
        row(
            &mut s,
            "events",
            format!("{} metadata records written", group(self.events_written)),
        );
        let skipped: u64 = self.skipped.values().sum();
        row(&mut s, "skipped", group(skipped));
        for (reason, n) in &self.skipped {
            let _ = writeln!(s, "    {reason:<28} {}", group(*n));
        }
        if !self.namespaces.is_empty() {
            let _ = writeln!(
                s,
                "  per namespace           added  updated  unchanged  revoked  deleted"
            );
            for (ns, c) in &self.namespaces {
                let _ = writeln!(
                    s,
                    "    {ns:<20} {:>8} {:>8} {:>10} {:>8} {:>8}",
                    c.added, c.updated, c.unchanged, c.revoked, c.deleted
                );
            }
        }
        match self.peak_rss_bytes {
            Some(b) => row(
                &mut s,
                "peak RSS",
                format!("{:.1} MB", b as f64 / 1_048_576.0),
            ),
            None => row(&mut s, "peak RSS", "unknown".into()),
        }
        s
    }
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let bytes = digits.as_bytes();
    let mut groups: Vec<&str> = Vec::new();
    let mut end = bytes.len();
    while end > 3 {
        groups.push(&digits[end - 3..end]);
        end -= 3;
    }
    groups.push(&digits[..end]);
    groups.reverse();
    groups.join(",")
}

/// Peak resident set size of this process (VmHWM in /proc/self/status).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_and_rss() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert!(peak_rss_bytes().is_some_and(|b| b > 1_000_000));
    }

    #[test]
    fn text_and_json() {
        let mut s = Summary {
            mode: "refresh".into(),
            ok: true,
            attributes_fetched: 1500,
            ..Summary::default()
        };
        let mut skips = Skips::default();
        skips.add("invalid sha256 value");
        s.add_skips(&skips);
        s.finish(1.5);
        let text = s.render();
        assert!(text.contains("refresh run finished"), "{text}");
        assert!(text.contains("1,500 (0 pages, 1000/s)"), "{text}");
        assert!(text.contains("invalid sha256 value"), "{text}");
        let json = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(json["attributes_fetched"], 1500);
        assert_eq!(json["skipped"]["invalid sha256 value"], 1);
    }
}
