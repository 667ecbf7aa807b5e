//! The table from MISP attribute type to lookup namespace.
//!
//! This is the one place that decides which MISP attributes are loaded and
//! where they go. It contains every row of the seed's table (md5, sha1,
//! sha256, sha512, imphash and their `filename|` forms, ip-src/ip-dst and their
//! `|port` forms, domain, domain|ip, url) and extends it to the other types
//! that Windows and network logs carry as exact values. `docs/indicators.md`
//! renders the same table for users; a test keeps the two in step.

use crate::error::{NormalizeError, TypeRejection};
use crate::Namespace;

/// Where the value of one MISP type goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The whole value is one indicator.
    Whole(Namespace),
    /// A composite `left|right` value: each side goes to its namespace, or is
    /// ignored when `None` (the filename of `filename|sha256`, the port of
    /// `ip-dst|port`, the data of `regkey|value`).
    Composite(Option<Namespace>, Option<Namespace>),
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeRule {
    /// The MISP attribute type, e.g. `filename|sha256`.
    pub misp_type: &'static str,
    /// Where its value goes.
    pub split: Split,
}

use Namespace as N;
use Split::{Composite, Whole};

/// Every MISP type that is loaded, in documentation order.
pub const TYPE_RULES: &[TypeRule] = &[
    // File hashes (seed: md5, sha1, sha256, sha512, imphash, filename|*).
    rule("md5", Whole(N::Md5)),
    rule("sha1", Whole(N::Sha1)),
    rule("sha224", Whole(N::Sha224)),
    rule("sha256", Whole(N::Sha256)),
    rule("sha384", Whole(N::Sha384)),
    rule("sha512", Whole(N::Sha512)),
    rule("imphash", Whole(N::Imphash)),
    rule("authentihash", Whole(N::Authentihash)),
    rule("ssdeep", Whole(N::Ssdeep)),
    rule("tlsh", Whole(N::Tlsh)),
    rule("filename|md5", Composite(None, Some(N::Md5))),
    rule("filename|sha1", Composite(None, Some(N::Sha1))),
    rule("filename|sha224", Composite(None, Some(N::Sha224))),
    rule("filename|sha256", Composite(None, Some(N::Sha256))),
    rule("filename|sha384", Composite(None, Some(N::Sha384))),
    rule("filename|sha512", Composite(None, Some(N::Sha512))),
    rule("filename|imphash", Composite(None, Some(N::Imphash))),
    rule(
        "filename|authentihash",
        Composite(None, Some(N::Authentihash)),
    ),
    rule("filename|ssdeep", Composite(None, Some(N::Ssdeep))),
    rule("filename|tlsh", Composite(None, Some(N::Tlsh))),
    rule("malware-sample", Composite(None, Some(N::Md5))),
    // Network (seed: ip-src, ip-dst, their |port forms, domain, domain|ip).
    rule("ip-src", Whole(N::Ip)),
    rule("ip-dst", Whole(N::Ip)),
    rule("ip-src|port", Composite(Some(N::Ip), None)),
    rule("ip-dst|port", Composite(Some(N::Ip), None)),
    rule("domain", Whole(N::Domain)),
    rule("hostname", Whole(N::Domain)),
    rule("onion-address", Whole(N::Domain)),
    rule("domain|ip", Composite(Some(N::Domain), Some(N::Ip))),
    rule("hostname|port", Composite(Some(N::Domain), None)),
    rule("ja3-fingerprint-md5", Whole(N::Ja3)),
    rule("jarm-fingerprint", Whole(N::Jarm)),
    rule("hassh-md5", Whole(N::Hassh)),
    rule("hasshserver-md5", Whole(N::Hassh)),
    rule("x509-fingerprint-sha1", Whole(N::X509Sha1)),
    rule("x509-fingerprint-sha256", Whole(N::X509Sha256)),
    rule("x509-fingerprint-md5", Whole(N::X509Md5)),
    // Web (seed: url).
    rule("url", Whole(N::Url)),
    rule("uri", Whole(N::Url)),
    rule("user-agent", Whole(N::UserAgent)),
    // E-mail.
    rule("email", Whole(N::Email)),
    rule("email-src", Whole(N::Email)),
    rule("email-dst", Whole(N::Email)),
    rule("email-reply-to", Whole(N::Email)),
    // Host artefacts of Windows (Sysmon events 17/18, 12-14, mutex in EDR logs).
    rule("mutex", Whole(N::Mutex)),
    rule("named pipe", Whole(N::NamedPipe)),
    rule("regkey", Whole(N::Regkey)),
    rule("regkey|value", Composite(Some(N::Regkey), None)),
];

const fn rule(misp_type: &'static str, split: Split) -> TypeRule {
    TypeRule { misp_type, split }
}

/// MISP's own list of attribute types (describeTypes of MISP 2.5, one row per
/// type, with the kind of lookup each suits). Types not in [`TYPE_RULES`] are
/// rejected with the reason their row gives.
const MISP_TYPES_TSV: &str = include_str!("../data/misp_types.tsv");

/// Looks up the rule for a MISP type, or says why the type is not loaded.
///
/// ```
/// use misp_enrich_core::{misp_type, Namespace, TypeRejection};
/// let rule = misp_type::classify("filename|sha256").unwrap();
/// let parts = rule.indicators("calc.exe|ABCD").unwrap();
/// assert_eq!(parts, vec![(Namespace::Sha256, "ABCD")]);
/// assert_eq!(misp_type::classify("yara"), Err(TypeRejection::PatternOrRule));
/// ```
pub fn classify(misp_type: &str) -> Result<&'static TypeRule, TypeRejection> {
    if let Some(rule) = TYPE_RULES.iter().find(|r| r.misp_type == misp_type) {
        return Ok(rule);
    }
    let row = MISP_TYPES_TSV
        .lines()
        .skip(1)
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&misp_type));
    match row.as_ref().and_then(|cols| cols.get(4)) {
        None => Err(TypeRejection::Unknown),
        Some(kind) if kind.starts_with("rule/pattern") => Err(TypeRejection::PatternOrRule),
        Some(kind) if kind.starts_with("context") => Err(TypeRejection::Context),
        Some(_) => Err(TypeRejection::NotInLogs),
    }
}

/// The MISP types that [`classify`] accepts, e.g. for restSearch's `type` filter.
pub fn loadable_types() -> impl Iterator<Item = &'static str> {
    TYPE_RULES.iter().map(|r| r.misp_type)
}

impl TypeRule {
    /// The raw (not yet normalised) indicators of one attribute value, each
    /// with its namespace. A composite type whose value has no `|` is an error.
    pub fn indicators<'v>(
        &self,
        value: &'v str,
    ) -> Result<Vec<(Namespace, &'v str)>, NormalizeError> {
        match self.split {
            Whole(ns) => Ok(vec![(ns, value)]),
            Composite(left, right) => {
                let (l, r) = value.split_once('|').ok_or_else(|| {
                    NormalizeError::invalid(value, format!("a `{}` value", self.misp_type))
                })?;
                Ok([(left, l), (right, r)]
                    .into_iter()
                    .filter_map(|(ns, v)| ns.map(|ns| (ns, v)))
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_seed_table_is_covered() {
        let seed: &[(&str, &[(Namespace, &str)])] = &[
            ("md5", &[(N::Md5, "v")]),
            ("filename|md5", &[(N::Md5, "h")]),
            ("sha1", &[(N::Sha1, "v")]),
            ("filename|sha1", &[(N::Sha1, "h")]),
            ("sha256", &[(N::Sha256, "v")]),
            ("filename|sha256", &[(N::Sha256, "h")]),
            ("sha512", &[(N::Sha512, "v")]),
            ("filename|sha512", &[(N::Sha512, "h")]),
            ("imphash", &[(N::Imphash, "v")]),
            ("filename|imphash", &[(N::Imphash, "h")]),
            ("ip-dst", &[(N::Ip, "v")]),
            ("ip-src", &[(N::Ip, "v")]),
            ("ip-dst|port", &[(N::Ip, "f")]),
            ("ip-src|port", &[(N::Ip, "f")]),
            ("domain", &[(N::Domain, "v")]),
            ("domain|ip", &[(N::Domain, "f"), (N::Ip, "h")]),
            ("url", &[(N::Url, "v")]),
        ];
        for (t, expected) in seed {
            let rule = classify(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            let value = if t.contains('|') { "f|h" } else { "v" };
            assert_eq!(
                rule.indicators(value).ok().as_deref(),
                Some(*expected),
                "{t}"
            );
        }
    }

    #[test]
    fn extensions_asked_for_are_covered() {
        for t in [
            "sha224",
            "sha384",
            "ssdeep",
            "tlsh",
            "authentihash",
            "ja3-fingerprint-md5",
            "jarm-fingerprint",
            "hassh-md5",
            "hasshserver-md5",
            "hostname",
            "hostname|port",
            "email-src",
            "email-dst",
            "email",
            "mutex",
            "named pipe",
            "regkey",
            "regkey|value",
            "user-agent",
            "malware-sample",
        ] {
            assert!(classify(t).is_ok(), "{t}");
        }
        let hp = classify("hostname|port").map(|r| r.indicators("evil.example|443"));
        assert_eq!(hp, Ok(Ok(vec![(N::Domain, "evil.example")])));
        let rv = classify("regkey|value").map(|r| r.indicators("HKLM\\Run|x.exe"));
        assert_eq!(rv, Ok(Ok(vec![(N::Regkey, "HKLM\\Run")])));
    }

    #[test]
    fn patterns_and_rules_are_rejected_with_a_reason() {
        for t in [
            "yara",
            "sigma",
            "snort",
            "suricata",
            "stix2-pattern",
            "pattern-in-file",
        ] {
            assert_eq!(classify(t), Err(TypeRejection::PatternOrRule), "{t}");
        }
        assert_eq!(classify("comment"), Err(TypeRejection::Context));
        assert_eq!(classify("btc"), Err(TypeRejection::NotInLogs));
        assert_eq!(classify("filename"), Err(TypeRejection::NotInLogs));
        assert_eq!(classify("no-such-type"), Err(TypeRejection::Unknown));
    }

    #[test]
    fn composite_without_separator_is_an_error() {
        let rule = classify("domain|ip").ok();
        assert!(rule.map(|r| r.indicators("evil.example").is_err()) == Some(true));
    }

    #[test]
    fn every_type_in_the_reference_tsv_is_classified_on_purpose() {
        // Each type MISP knows is either loaded or rejected with a reason.
        let mut listed = 0;
        for line in MISP_TYPES_TSV.lines().skip(1) {
            let Some(t) = line.split('\t').next() else {
                continue;
            };
            assert_ne!(classify(t), Err(TypeRejection::Unknown), "{t}");
            listed += 1;
        }
        assert!(listed > 190, "{listed}");
        // Every loaded type is a real MISP type.
        for r in TYPE_RULES {
            assert!(
                MISP_TYPES_TSV.contains(&format!("\n{}\t", r.misp_type)),
                "{}",
                r.misp_type
            );
        }
        // The table has no duplicate rows.
        let mut names: Vec<_> = loadable_types().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TYPE_RULES.len());
    }

    #[test]
    fn the_user_docs_list_every_loaded_type() {
        let docs = include_str!("../../../docs/indicators.md");
        for r in TYPE_RULES {
            // In a Markdown table, `|` inside code is written `\|`.
            let cell = format!("`{}`", r.misp_type.replace('|', "\\|"));
            assert!(
                docs.contains(&cell),
                "{cell} missing from docs/indicators.md"
            );
        }
    }
}
