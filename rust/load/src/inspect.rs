//! The subcommands that look without loading: `check` (can MISP and every
//! memcached server be reached, what may the key do), `stats` (what memcached
//! holds and when it was loaded) and `lookup` (which key a value maps to and
//! what is stored there). Each prints text, or JSON with `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ipnet::IpNet;
use misp_enrich_core::{misp_type, normalize, EventMeta, Namespace, Normalized, ServerRing};
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::Error;
use crate::misp::Misp;
use crate::plan::parse_value;
use crate::range_index;
use crate::reconcile::{classify, KeyKind};
use crate::record;
use crate::store::Store;
use crate::summary::group;

fn connect(cfg: &Config) -> Result<Store, Error> {
    let ring = ServerRing::new(&cfg.servers).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(Store::connect_with(
        &ring,
        &cfg.keyspace,
        cfg.memcached_timeout,
        cfg.memcached_auth.as_ref(),
    )?)
}

/// `YYYY-MM-DD HH:MM:SS UTC` for unix seconds.
pub fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let rem = secs % 86400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Whether a memcached version string is at least 1.4.31 (metadump).
pub fn supports_metadump(version: &str) -> bool {
    let parts: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let v = (
        parts.first().copied().unwrap_or(0),
        parts.get(1).copied().unwrap_or(0),
        parts.get(2).copied().unwrap_or(0),
    );
    v >= (1, 4, 31)
}

/// `misp-load check`.
pub fn check(cfg: &Config, json_out: bool) -> Result<(), Error> {
    let mut out = String::new();
    let mut report = json!({"config": cfg.path.display().to_string()});
    let _ = writeln!(out, "config      {} OK", cfg.path.display());
    if cfg.misp.ignore_cert_errors {
        tracing::warn!("ignore_cert_errors is set: MISP's TLS certificate is NOT verified");
    }
    // A check reports at once; it does not wait out retries.
    let mut quick = cfg.misp.clone();
    quick.retries = 0;
    let misp = Misp::new(&quick, Arc::new(AtomicBool::new(false)))?;
    let version = misp.version()?;
    let _ = writeln!(
        out,
        "MISP        {} version {}",
        misp.url(),
        version.version
    );
    report["misp"] = json!({"url": misp.url(), "version": version.version});
    match misp.me() {
        Ok(me) => {
            let email = me["User"]["email"].as_str().unwrap_or("?");
            let org = me["Organisation"]["name"].as_str().unwrap_or("?");
            let role = me["Role"]["name"].as_str().unwrap_or("?");
            let perms: Vec<String> = me["Role"]
                .as_object()
                .map(|r| {
                    r.iter()
                        .filter(|(k, v)| k.starts_with("perm_") && truthy(v))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(out, "user        {email} (org {org}), role {role}");
            let _ = writeln!(
                out,
                "permissions {}",
                if perms.is_empty() {
                    "(none listed)".into()
                } else {
                    perms.join(" ")
                }
            );
            report["user"] =
                json!({"email": email, "org": org, "role": role, "permissions": perms});
        }
        Err(e) => {
            tracing::warn!("could not read the key's user: {e}");
            report["user"] = Value::Null;
        }
    }
    let perms = format!(
        "perm_sync={} perm_sighting={}",
        version.perm_sync, version.perm_sighting
    );
    let _ = writeln!(out, "getVersion  {perms}");
    // The query a load makes, one attribute only: proves restSearch works for this key.
    let probe = json!({
        "returnFormat": "json",
        "type": {"OR": cfg.enabled_types()},
        "to_ids": true,
        "limit": 1,
        "page": 1,
    });
    let answer = misp.post(
        "/attributes/restSearch",
        &probe,
        "probe of /attributes/restSearch",
    )?;
    let mut n = 0usize;
    crate::page::parse_attributes(&answer.body, &mut |_| n += 1).map_err(|e| {
        crate::misp::MispError::Json {
            what: "probe of /attributes/restSearch".into(),
            detail: e.to_string(),
        }
    })?;
    let _ = writeln!(out, "restSearch  OK ({n} attribute in a 1-attribute probe)");
    report["rest_search"] = json!({"ok": true});

    let mut servers = Vec::new();
    for addr in &cfg.servers {
        let ring = ServerRing::new(&[addr]).map_err(|e| Error::Usage(e.to_string()))?;
        let mut store = Store::connect_with(
            &ring,
            &cfg.keyspace,
            cfg.memcached_timeout,
            cfg.memcached_auth.as_ref(),
        )?;
        let version = store
            .servers_mut()
            .first_mut()
            .map(|s| s.version())
            .transpose()?
            .unwrap_or_default();
        let listing = if supports_metadump(&version) {
            "key listing for --full: available"
        } else {
            "key listing for --full: NOT available (needs memcached 1.4.31 or later)"
        };
        let _ = writeln!(out, "memcached   {addr} version {version}; {listing}");
        servers.push(
            json!({"server": addr, "version": version, "metadump": supports_metadump(&version)}),
        );
    }
    report["memcached"] = json!(servers);
    let mut store = connect(cfg)?;
    let stats = store
        .get(&cfg.keyspace.stats_key())?
        .map(|i| String::from_utf8_lossy(&i.value).trim().to_owned());
    let _ = writeln!(
        out,
        "{:<11} {}",
        cfg.keyspace.stats_key(),
        stats
            .as_deref()
            .unwrap_or("(absent: the next run is a first run)")
    );
    report["stats"] = json!(stats);
    report["ok"] = json!(true);
    print(json_out, &out, &report);
    Ok(())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_u64().is_some_and(|n| n != 0),
        Value::String(s) => s == "1" || s == "true",
        _ => false,
    }
}

fn print(json_out: bool, text: &str, report: &Value) {
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print!("{text}");
    }
}

/// `misp-load stats`.
pub fn stats(cfg: &Config, scan: bool, json_out: bool) -> Result<(), Error> {
    let mut store = connect(cfg)?;
    let mut out = String::new();
    let ks = cfg.keyspace.clone();
    let stats = store
        .get(&ks.stats_key())?
        .map(|i| String::from_utf8_lossy(&i.value).trim().to_owned());
    let _ = writeln!(
        out,
        "{}  {}",
        ks.stats_key(),
        stats.as_deref().unwrap_or("(absent)")
    );
    let rec = record::read(&mut store)?;
    match &rec {
        Some(r) => {
            if let Some(last) = &r.last_run {
                let _ = writeln!(
                    out,
                    "last run    {} {} at {} ({} s, {} attributes){}",
                    last.mode,
                    if last.ok { "ok" } else { "FAILED" },
                    utc(last.finished_at),
                    last.finished_at.saturating_sub(last.started_at),
                    group(last.attributes),
                    last.error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                for (ns, c) in &last.namespaces {
                    let _ = writeln!(
                        out,
                        "            {ns:<12} +{} keys, {} updated, {} revoked, {} deleted",
                        c.added, c.updated, c.revoked, c.deleted
                    );
                }
            }
            let _ = writeln!(
                out,
                "last success {}",
                r.last_success.map_or("never".into(), utc)
            );
            let _ = writeln!(
                out,
                "last full   {}",
                r.last_full_run.map_or("never".into(), utc)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "last run    unknown ({}-load absent: never loaded by misp-load)",
                ks.prefix()
            );
        }
    }
    let index = range_index::read(&mut store)?;
    let _ = writeln!(
        out,
        "IP ranges   {} in the index{}",
        index.ranges.len(),
        index
            .head
            .map(|(h, _)| format!(" (generation {}, {} chunks)", h.generation, h.chunks))
            .unwrap_or_default()
    );
    let mut per_ns: BTreeMap<String, u64> = BTreeMap::new();
    let mut scanned = false;
    if scan {
        let prefix = ks.prefix().to_owned();
        let mut ok = true;
        for server in store.servers_mut() {
            let result = server.metadump(|k| match classify(&k.key, &prefix) {
                KeyKind::Indicator(ns) => *per_ns.entry(ns.name().to_owned()).or_insert(0) += 1,
                KeyKind::Event => *per_ns.entry("(event metadata)".into()).or_insert(0) += 1,
                KeyKind::Other => {}
            });
            if let Err(e) = result {
                tracing::warn!("cannot count keys per namespace: {e}");
                ok = false;
                break;
            }
        }
        scanned = ok;
        if ok {
            let _ = writeln!(out, "keys held   (listed with lru_crawler metadump)");
            for (ns, n) in &per_ns {
                let _ = writeln!(out, "            {ns:<18} {:>12}", group(*n));
            }
        }
    }
    let report = json!({
        "stats": stats,
        "record": rec,
        "ranges": {"total": index.ranges.len(), "generation": index.head.map(|(h, _)| h.generation), "chunks": index.head.map(|(h, _)| h.chunks)},
        "keys": if scanned { json!(per_ns) } else { Value::Null },
    });
    print(json_out, &out, &report);
    Ok(())
}

/// The (namespace, raw part) candidates for `value` with `--type`.
fn candidates<'v>(value: &'v str, kind: Option<&str>) -> Result<Vec<(Namespace, &'v str)>, Error> {
    match kind {
        None => Ok(Namespace::ALL
            .iter()
            .filter(|ns| normalize(**ns, value).is_ok())
            .map(|ns| (*ns, value))
            .collect()),
        Some(t) => {
            if let Ok(ns) = t.parse::<Namespace>() {
                return Ok(vec![(ns, value)]);
            }
            match misp_type::classify(t) {
                Ok(rule) => rule
                    .indicators(value)
                    .map_err(|e| Error::Usage(e.to_string())),
                Err(why) => Err(Error::Usage(format!(
                    "--type `{}`: not a namespace ({}) nor a loaded MISP type ({why})",
                    misp_enrich_core::excerpt(t),
                    Namespace::ALL
                        .iter()
                        .map(|n| n.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

/// `misp-load lookup`.
pub fn lookup(cfg: &Config, value: &str, kind: Option<&str>, json_out: bool) -> Result<(), Error> {
    let cands = candidates(value, kind)?;
    let mut store = connect(cfg)?;
    let ks = cfg.keyspace.clone();
    let mut out = String::new();
    let mut results = Vec::new();
    let mut events: BTreeMap<String, Option<EventMeta>> = BTreeMap::new();
    let mut index = None;
    if cands.is_empty() {
        let _ = writeln!(
            out,
            "`{}` is not a valid value in any namespace",
            misp_enrich_core::excerpt(value)
        );
    }
    for (ns, raw) in cands {
        match normalize(ns, raw) {
            Err(e) => {
                let _ = writeln!(out, "{ns:<12} not a valid {ns} value: {e}");
                results.push(json!({"namespace": ns.name(), "error": e.to_string()}));
            }
            Ok(Normalized::Exact(v)) => {
                let key = ks.key(ns, &v);
                let server = store.server_of(&key);
                let held = store
                    .get(&key)?
                    .map(|i| String::from_utf8_lossy(&i.value).into_owned());
                let server_name = cfg.servers.get(server).cloned().unwrap_or_default();
                match &held {
                    Some(h) => {
                        let _ = writeln!(out, "{key}\n    on {server_name}: {h}");
                        for e in parse_value(h.as_bytes()).entries() {
                            events.insert(e.event_id().to_owned(), None);
                        }
                    }
                    None => {
                        let _ = writeln!(out, "{key}\n    on {server_name}: (not in memcached)");
                    }
                }
                results.push(json!({"namespace": ns.name(), "normalized": v, "key": key, "server": server_name, "value": held}));
                if ns == Namespace::Ip {
                    let ip: Option<std::net::IpAddr> = v.parse().ok();
                    if let Some(ip) = ip {
                        if index.is_none() {
                            index = Some(range_index::read(&mut store)?);
                        }
                        let hits: Vec<(IpNet, String)> = index
                            .as_ref()
                            .map(|i| {
                                i.ranges
                                    .iter()
                                    .filter(|(net, _)| net.contains(&ip))
                                    .map(|(net, list)| (*net, list.to_string()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        for (net, list) in &hits {
                            let _ = writeln!(out, "    in range {net}: {list}");
                            for e in parse_value(list.as_bytes()).entries() {
                                events.insert(e.event_id().to_owned(), None);
                            }
                        }
                        results.push(json!({"namespace": "ip", "ranges": hits.iter().map(|(n, l)| json!({"range": n.to_string(), "value": l})).collect::<Vec<_>>()}));
                    }
                }
            }
            Ok(Normalized::Range(net)) => {
                if index.is_none() {
                    index = Some(range_index::read(&mut store)?);
                }
                let held = index
                    .as_ref()
                    .and_then(|i| i.ranges.get(&net))
                    .map(ToString::to_string);
                let _ = writeln!(
                    out,
                    "{} (range index) {net}: {}",
                    ks.ranges_head_key(),
                    held.as_deref().unwrap_or("(not in the index)")
                );
                results.push(json!({"namespace": "ip", "range": net.to_string(), "value": held}));
            }
        }
    }
    let keys: Vec<String> = events.keys().map(|id| ks.event_key(id)).collect();
    let metas = store.read(&keys, false)?;
    for ((id, slot), item) in events.iter_mut().zip(metas) {
        *slot = item.and_then(|i| serde_json::from_slice(&i.value).ok());
        match slot {
            Some(m) => {
                let _ = writeln!(
                    out,
                    "event {id}: {} (threat {}, {}{}, {})",
                    misp_enrich_core::excerpt(&m.info),
                    m.threat_level,
                    m.tlp().map(|t| format!("TLP:{t}, ")).unwrap_or_default(),
                    m.org,
                    m.date
                );
            }
            None => {
                let _ = writeln!(out, "event {id}: (no metadata in memcached)");
            }
        }
    }
    let found = results
        .iter()
        .any(|r| !r["value"].is_null() || r["ranges"].as_array().is_some_and(|a| !a.is_empty()));
    let report = json!({"value": value, "found": found, "results": results, "events": events});
    print(json_out, &out, &report);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_versions() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert!(supports_metadump("1.6.18"));
        assert!(supports_metadump("1.4.31"));
        assert!(!supports_metadump("1.4.30"));
        assert!(!supports_metadump("garbage"));
    }

    #[test]
    fn lookup_candidates() {
        let c = candidates("10.0.0.1", None).unwrap_or_default();
        assert!(c.contains(&(Namespace::Ip, "10.0.0.1")));
        assert!(!c.iter().any(|(ns, _)| *ns == Namespace::Sha256));
        let c = candidates("calc.exe|ABCD", Some("filename|md5")).unwrap_or_default();
        assert_eq!(c, vec![(Namespace::Md5, "ABCD")]);
        assert_eq!(
            candidates("x", Some("sha256")).unwrap_or_default(),
            vec![(Namespace::Sha256, "x")]
        );
        assert!(candidates("x", Some("yara")).is_err());
    }
}
