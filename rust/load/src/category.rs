//! Categories: the config's switches (`hash:`, `network:`, `web:`, `email:`,
//! `host:`), each with its own `enabled` and `expires`, and the MISP types each
//! one loads. The seed had hash, network and web; misp-load keeps their seed
//! types and adds the extensions where a user looks for them. Every loadable
//! type of the core's table belongs to exactly one category (tested), and so
//! does every namespace, so each key has one well-defined expiry.

use std::fmt;

use misp_enrich_core::misp_type::{self, Split};
use misp_enrich_core::Namespace;

/// A group of MISP types that is switched on and off together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// File hashes (seed).
    Hash,
    /// IPs, domains and network fingerprints (seed).
    Network,
    /// URLs and user agents (seed: url).
    Web,
    /// E-mail addresses.
    Email,
    /// Windows host artefacts: mutexes, named pipes, registry keys.
    Host,
}

impl Category {
    /// Every category, in config order.
    pub const ALL: [Category; 5] = [
        Category::Hash,
        Category::Network,
        Category::Web,
        Category::Email,
        Category::Host,
    ];

    /// The config section name.
    pub const fn name(self) -> &'static str {
        match self {
            Category::Hash => "hash",
            Category::Network => "network",
            Category::Web => "web",
            Category::Email => "email",
            Category::Host => "host",
        }
    }

    /// Whether the seed had this category (then it is enabled when its
    /// section is missing; the new ones must be switched on).
    pub const fn in_seed(self) -> bool {
        matches!(self, Category::Hash | Category::Network | Category::Web)
    }

    /// The MISP types this category loads, in documentation order.
    pub const fn types(self) -> &'static [&'static str] {
        match self {
            Category::Hash => &[
                "md5",
                "sha1",
                "sha256",
                "sha512",
                "imphash",
                "filename|md5",
                "filename|sha1",
                "filename|sha256",
                "filename|sha512",
                "filename|imphash",
                "sha224",
                "sha384",
                "authentihash",
                "ssdeep",
                "tlsh",
                "filename|sha224",
                "filename|sha384",
                "filename|authentihash",
                "filename|ssdeep",
                "filename|tlsh",
                "malware-sample",
            ],
            Category::Network => &[
                "ip-src",
                "ip-dst",
                "domain",
                "ip-src|port",
                "ip-dst|port",
                "domain|ip",
                "hostname",
                "hostname|port",
                "onion-address",
                "ja3-fingerprint-md5",
                "jarm-fingerprint",
                "hassh-md5",
                "hasshserver-md5",
                "x509-fingerprint-sha1",
                "x509-fingerprint-sha256",
                "x509-fingerprint-md5",
            ],
            Category::Web => &["url", "uri", "user-agent"],
            Category::Email => &["email", "email-src", "email-dst", "email-reply-to"],
            Category::Host => &["mutex", "named pipe", "regkey", "regkey|value"],
        }
    }

    /// The types the seed's loader fetched for this category: the first
    /// ones of [`Category::types`], which lists them first.
    pub const fn seed_types(self) -> &'static [&'static str] {
        let count = match self {
            Category::Hash => 10,
            Category::Network => 6,
            Category::Web => 1,
            Category::Email | Category::Host => 0,
        };
        self.types().split_at(count).0
    }

    /// The category of a MISP type, if it is loaded at all.
    pub fn of_type(misp_type: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.types().contains(&misp_type))
    }

    /// The category whose types feed `ns`.
    pub fn of_namespace(ns: Namespace) -> Option<Category> {
        Category::ALL.into_iter().find(|c| {
            c.types().iter().any(|t| {
                misp_type::classify(t).is_ok_and(|rule| match rule.split {
                    Split::Whole(n) => n == ns,
                    Split::Composite(l, r) => l == Some(ns) || r == Some(ns),
                })
            })
        })
    }

    /// Parses a section name.
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use misp_enrich_core::misp_type::TYPE_RULES;

    #[test]
    fn every_loadable_type_is_in_exactly_one_category() {
        for rule in TYPE_RULES {
            let owners: Vec<_> = Category::ALL
                .into_iter()
                .filter(|c| c.types().contains(&rule.misp_type))
                .collect();
            assert_eq!(owners.len(), 1, "{}: {owners:?}", rule.misp_type);
        }
        // And every category type is loadable, listed once.
        let mut all: Vec<&str> = Category::ALL
            .into_iter()
            .flat_map(|c| c.types().iter().copied())
            .collect();
        for t in &all {
            assert!(misp_type::classify(t).is_ok(), "{t}");
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a type is listed twice");
        assert_eq!(n, TYPE_RULES.len());
    }

    #[test]
    fn seed_categories_keep_their_seed_types() {
        for c in Category::ALL {
            for t in c.seed_types() {
                assert!(c.types().contains(t), "{c}: {t}");
            }
        }
        assert_eq!(Category::Web.seed_types(), &["url"]);
        // The seed's types (the namespace table of shared/seed/getting_started.md).
        assert_eq!(
            Category::Hash.seed_types(),
            &[
                "md5",
                "sha1",
                "sha256",
                "sha512",
                "imphash",
                "filename|md5",
                "filename|sha1",
                "filename|sha256",
                "filename|sha512",
                "filename|imphash"
            ]
        );
        assert_eq!(
            Category::Network.seed_types(),
            &[
                "ip-src",
                "ip-dst",
                "domain",
                "ip-src|port",
                "ip-dst|port",
                "domain|ip"
            ]
        );
        assert!(Category::Email.seed_types().is_empty() && Category::Host.seed_types().is_empty());
        assert_eq!(Category::of_type("domain|ip"), Some(Category::Network));
        assert_eq!(Category::of_type("filename|imphash"), Some(Category::Hash));
        assert_eq!(Category::of_type("named pipe"), Some(Category::Host));
        assert_eq!(Category::of_type("email-src"), Some(Category::Email));
        assert_eq!(Category::of_type("yara"), None);
    }

    #[test]
    fn the_user_docs_list_every_category_type() {
        let docs = include_str!("../../../docs/misp-load.md");
        let table = docs
            .split("### Categories")
            .nth(1)
            .and_then(|rest| rest.split("\n### ").next())
            .unwrap_or_default();
        for c in Category::ALL {
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| `{}`", c.name())))
                .unwrap_or_else(|| panic!("no row for {c} in docs/misp-load.md"));
            for t in c.types() {
                let cell = format!("`{}`", t.replace('|', "\\|"));
                assert!(row.contains(&cell), "{cell} missing from the {c} row");
            }
        }
    }

    #[test]
    fn every_namespace_is_fed_by_exactly_one_category() {
        for ns in Namespace::ALL {
            let feeders: Vec<_> = Category::ALL
                .into_iter()
                .filter(|c| {
                    c.types().iter().any(|t| {
                        misp_type::classify(t).is_ok_and(|r| match r.split {
                            Split::Whole(n) => n == *ns,
                            Split::Composite(l, r) => l == Some(*ns) || r == Some(*ns),
                        })
                    })
                })
                .collect();
            assert_eq!(feeders.len(), 1, "{ns}: {feeders:?}");
            assert_eq!(Category::of_namespace(*ns), feeders.first().copied());
        }
    }
}
