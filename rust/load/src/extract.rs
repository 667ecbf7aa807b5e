//! From one MISP attribute to its indicators: the core's type table decides
//! whether and where it loads, composites are split, each part is normalised
//! and keyed. Whatever cannot be loaded is counted under a short reason (one
//! per `TypeRejection` and `NormalizeError` kind), for the summary.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;
use misp_enrich_core::misp_type::TypeRule;
use misp_enrich_core::{
    misp_type, normalize, Entry, EntryError, Keyspace, Namespace, NormalizeError, Normalized,
    TypeRejection,
};

use crate::page::RawAttribute;

/// Where one part of an attribute goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An exact key.
    Key {
        /// The memcached key.
        key: String,
        /// Its namespace.
        ns: Namespace,
    },
    /// A CIDR range, for the range index.
    Range(IpNet),
}

/// The indicators of one attribute: one entry, one or two targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicators {
    /// `event_id#type`.
    pub entry: Entry,
    /// The keys or ranges it goes to.
    pub targets: Vec<Target>,
}

/// Counts of skipped indicators by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skips(pub BTreeMap<String, u64>);

impl Skips {
    /// Counts one skip.
    pub fn add(&mut self, reason: &str) {
        match self.0.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.0.insert(reason.to_owned(), 1);
            }
        }
    }

    /// Adds all of `other`.
    pub fn merge(&mut self, other: &Skips) {
        for (reason, n) in &other.0 {
            *self.0.entry(reason.clone()).or_insert(0) += n;
        }
    }

    /// Total skips.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// The short reason for a type that is not loaded.
pub fn type_reason(r: TypeRejection) -> &'static str {
    match r {
        TypeRejection::PatternOrRule => "rule or pattern type",
        TypeRejection::Context => "context type",
        TypeRejection::NotInLogs => "type not matched in logs",
        TypeRejection::Unknown => "unknown type",
        _ => "type not loaded",
    }
}

/// The short reason for a value that does not normalise.
pub fn value_reason(ns: Namespace, e: &NormalizeError) -> String {
    match e {
        NormalizeError::Empty => "empty value".into(),
        NormalizeError::TooLong(_) => "value too long".into(),
        NormalizeError::Invalid { .. } => format!("invalid {ns} value"),
        _ => format!("unusable {ns} value"),
    }
}

/// Turns attributes into indicators.
#[derive(Debug, Clone)]
pub struct Extractor {
    keyspace: Keyspace,
    /// The rules of the requested types, looked up once per attribute.
    requested: HashMap<&'static str, &'static TypeRule>,
}

impl Extractor {
    /// Loads only the `requested` MISP types (those of the enabled categories).
    pub fn new(keyspace: Keyspace, requested: &[&'static str]) -> Self {
        Extractor {
            keyspace,
            requested: requested
                .iter()
                .filter_map(|t| misp_type::classify(t).ok().map(|r| (*t, r)))
                .collect(),
        }
    }

    /// The keyspace.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// The indicators of `attr`, or `None` (with the reason counted) when
    /// nothing of it can be loaded. A composite with one bad half keeps the
    /// good half.
    pub fn extract(&self, attr: &RawAttribute<'_>, skips: &mut Skips) -> Option<Indicators> {
        let misp_type = attr.misp_type.0.trim();
        let rule = match self.requested.get(misp_type) {
            Some(rule) => *rule,
            None => {
                match misp_type::classify(misp_type) {
                    Ok(_) => skips.add("type not requested"),
                    Err(r) => skips.add(type_reason(r)),
                }
                return None;
            }
        };
        let entry = match Entry::new(&attr.event_id.0, rule.misp_type) {
            Ok(e) => e,
            Err(EntryError::EventId(_)) => {
                skips.add("bad event id");
                return None;
            }
            Err(_) => {
                skips.add("bad type name");
                return None;
            }
        };
        let parts = match rule.indicators(&attr.value.0) {
            Ok(p) => p,
            Err(_) => {
                skips.add("composite value without `|`");
                return None;
            }
        };
        let mut targets = Vec::with_capacity(parts.len());
        for (ns, raw) in parts {
            match normalize(ns, raw) {
                Ok(Normalized::Exact(v)) => targets.push(Target::Key {
                    key: self.keyspace.key(ns, &v),
                    ns,
                }),
                Ok(Normalized::Range(net)) => targets.push(Target::Range(net)),
                Err(e) => skips.add(&value_reason(ns, &e)),
            }
        }
        (!targets.is_empty()).then_some(Indicators { entry, targets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;
    use crate::page::Text;
    use std::borrow::Cow;

    fn attr<'a>(event: &'a str, t: &'a str, v: &'a str) -> RawAttribute<'a> {
        RawAttribute {
            event_id: Text(Cow::Borrowed(event)),
            misp_type: Text(Cow::Borrowed(t)),
            value: Text(Cow::Borrowed(v)),
            to_ids: None,
            deleted: Default::default(),
        }
    }

    fn all() -> Extractor {
        let types: Vec<&'static str> = Category::ALL
            .into_iter()
            .flat_map(|c| c.types().iter().copied())
            .collect();
        Extractor::new(Keyspace::default(), &types)
    }

    fn keys(x: &Extractor, t: &str, v: &str) -> (Vec<String>, Skips) {
        let mut skips = Skips::default();
        let got = x.extract(&attr("7", t, v), &mut skips);
        let keys = got
            .map(|i| {
                assert_eq!(i.entry.to_string(), format!("7#{t}"));
                i.targets
                    .into_iter()
                    .map(|t| match t {
                        Target::Key { key, .. } => key,
                        Target::Range(net) => format!("range {net}"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        (keys, skips)
    }

    #[test]
    fn seed_namespaces_and_composite_splits() {
        let x = all();
        let h = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let l = h.to_ascii_lowercase();
        let cases: Vec<(&str, String, Vec<String>)> = vec![
            ("sha256", h.into(), vec![format!("misp-sha256:{l}")]),
            (
                "filename|sha256",
                format!("calc.exe|{h}"),
                vec![format!("misp-sha256:{l}")],
            ),
            (
                "md5",
                "D41D8CD98F00B204E9800998ECF8427E".into(),
                vec!["misp-md5:d41d8cd98f00b204e9800998ecf8427e".into()],
            ),
            (
                "ip-dst|port",
                "10.0.0.1|443".into(),
                vec!["misp-ip:10.0.0.1".into()],
            ),
            (
                "ip-src",
                "2001:DB8:0:0::1".into(),
                vec!["misp-ip:2001:db8::1".into()],
            ),
            (
                "domain|ip",
                "Evil.Example.|10.0.0.2".into(),
                vec!["misp-domain:evil.example".into(), "misp-ip:10.0.0.2".into()],
            ),
            (
                "ip-dst",
                "10.1.2.3/16".into(),
                vec!["range 10.1.0.0/16".into()],
            ),
            (
                "url",
                "HTTP://Evil.Example:80/a?b=C".into(),
                vec!["misp-url:http://evil.example/a?b=C".into()],
            ),
            (
                "named pipe",
                "\\\\.\\pipe\\Evil".into(),
                vec!["misp-named-pipe:evil".into()],
            ),
        ];
        for (t, v, want) in cases {
            let (got, skips) = keys(&x, t, &v);
            assert_eq!(got, want, "{t} {v}");
            assert_eq!(skips.total(), 0, "{t}");
        }
    }

    #[test]
    fn skips_are_counted_by_reason() {
        let x = Extractor::new(Keyspace::default(), Category::Network.types());
        let mut skips = Skips::default();
        for (t, v) in [
            ("yara", "rule x {}"),
            ("comment", "hello"),
            ("btc", "1abc"),
            ("no-such", "x"),
            ("ip dst", "10.0.0.1"),
            ("domain\r\nflush_all", "x.example"),
            ("sha256", "abc"),
            ("ip-dst", "10.0.0.256"),
            ("ip-dst", "  "),
            ("domain|ip", "evil.example"),
        ] {
            assert!(x.extract(&attr("1", t, v), &mut skips).is_none(), "{t}");
        }
        assert!(x
            .extract(&attr("x1", "ip-dst", "10.0.0.1"), &mut skips)
            .is_none());
        // A composite with one bad half keeps the other half.
        let half = x.extract(
            &attr("1", "domain|ip", "evil.example|10.0.0.999"),
            &mut skips,
        );
        assert_eq!(half.map(|i| i.targets.len()), Some(1));
        let want: Vec<(&str, u64)> = vec![
            ("bad event id", 1),
            ("composite value without `|`", 1),
            ("context type", 1),
            ("empty value", 1),
            ("invalid ip value", 2),
            ("rule or pattern type", 1),
            ("type not matched in logs", 1),
            ("type not requested", 1),
            ("unknown type", 3),
        ];
        let got: Vec<(&str, u64)> = skips.0.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn long_and_odd_values_get_digest_keys() {
        let x = all();
        let long = format!("http://evil.example/{}", "a".repeat(300));
        let (k, _) = keys(&x, "url", &long);
        assert!(
            k[0].starts_with("misp-url:~sha256:") && k[0].len() == "misp-url:~sha256:".len() + 64
        );
        let (k, _) = keys(&x, "url", "http://evil.example/a b\u{e9}");
        assert!(k[0].starts_with("misp-url:~sha256:"), "{k:?}");
        assert!(misp_enrich_core::is_safe_key(&k[0]));
    }
}
