//! The memcached key rule, shared by misp-load and the plugin.
//!
//! A key is `<prefix>-<namespace>:<value>`, exactly as the seed's loader wrote
//! it (`misp-domain:trencansky.sk`). memcached's text protocol ends a key at a
//! space or control byte and refuses keys over 250 bytes, and indicator values
//! can be anything (log data is attacker-controlled). So a value is used
//! verbatim only when the whole key is at most 250 bytes of printable ASCII
//! other than space, and the value does not start with `~`. Every other value
//! is replaced by `~sha256:` and the hex SHA-256 of the normalised value. No
//! verbatim value starts with `~`, so the two forms cannot collide, and a key
//! can never carry a byte that ends a memcached command.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::error::InvalidPrefix;
use crate::Namespace;

/// memcached's limit on key length, in bytes.
pub const MAX_KEY_BYTES: usize = 250;

/// The marker that starts a digested value.
pub const DIGEST_MARKER: &str = "~sha256:";

/// The prefix of every key a deployment uses (`misp` by default, as in the seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    prefix: String,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            prefix: "misp".to_owned(),
        }
    }
}

impl Keyspace {
    /// A keyspace with the given prefix: 1 to 64 bytes of `A-Z a-z 0-9 _ .`.
    /// No `-`: the first `-` of a key ends the prefix, so `misp-x509` +
    /// `sha1` can never be mistaken for `misp` + `x509-sha1`.
    pub fn new(prefix: &str) -> Result<Self, InvalidPrefix> {
        let ok = (1..=64).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if ok {
            Ok(Keyspace {
                prefix: prefix.to_owned(),
            })
        } else {
            Err(InvalidPrefix(prefix.to_owned()))
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of a normalised value (see [`crate::normalize`]).
    ///
    /// ```
    /// use misp_enrich_core::{Keyspace, Namespace};
    /// let ks = Keyspace::default();
    /// assert_eq!(ks.key(Namespace::Domain, "trencansky.sk"), "misp-domain:trencansky.sk");
    /// let ua = ks.key(Namespace::UserAgent, "Mozilla/5.0 (evil)");
    /// assert!(ua.starts_with("misp-user-agent:~sha256:"));
    /// ```
    pub fn key(&self, ns: Namespace, value: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + ns.name().len() + 2 + value.len());
        self.push_key(&mut key, ns, value);
        key
    }

    /// Appends the key of `value` to `out` (for callers that reuse a buffer).
    pub fn push_key(&self, out: &mut String, ns: Namespace, value: &str) {
        let start = out.len();
        out.push_str(&self.prefix);
        out.push('-');
        out.push_str(ns.name());
        out.push(':');
        let head = out.len() - start;
        push_value(out, head, value);
    }

    /// `<prefix>-stats`: how many indicator keys are loaded (the seed's meaning).
    pub fn stats_key(&self) -> String {
        format!("{}-stats", self.prefix)
    }

    /// `<prefix>-event:<id>`: metadata of one MISP event (see [`crate::EventMeta`]).
    /// Event ids are numeric; anything else is digested like a value.
    pub fn event_key(&self, event_id: &str) -> String {
        let mut key = format!("{}-event:", self.prefix);
        let head = key.len();
        push_value(&mut key, head, event_id);
        key
    }

    /// `<prefix>-ranges`: the head of the IP range index (see [`crate::ranges`]).
    pub fn ranges_head_key(&self) -> String {
        format!("{}-ranges", self.prefix)
    }

    /// `<prefix>-ranges:<generation>:<chunk>`: one chunk of the range index.
    pub fn ranges_chunk_key(&self, generation: u64, chunk: u32) -> String {
        format!("{}-ranges:{generation}:{chunk}", self.prefix)
    }
}

/// Appends `value` verbatim, or its digest form, after a key head of `head` bytes.
fn push_value(out: &mut String, head: usize, value: &str) {
    if is_verbatim(head, value) {
        out.push_str(value);
    } else {
        out.push_str(DIGEST_MARKER);
        for byte in Sha256::digest(value.as_bytes()) {
            // Writing to a String cannot fail.
            let _ = write!(out, "{byte:02x}");
        }
    }
}

/// Whether `value` can follow a key head of `head` bytes verbatim.
fn is_verbatim(head: usize, value: &str) -> bool {
    head + value.len() <= MAX_KEY_BYTES
        && !value.starts_with('~')
        && value.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Whether `key` is safe to send to memcached: 1 to 250 bytes, none of them a
/// space, a control byte or non-ASCII. Every key this module makes passes.
pub fn is_safe_key(key: &str) -> bool {
    (1..=MAX_KEY_BYTES).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_keys_are_unchanged() {
        let ks = Keyspace::default();
        assert_eq!(
            ks.key(Namespace::Domain, "trencansky.sk"),
            "misp-domain:trencansky.sk"
        );
        assert_eq!(ks.key(Namespace::Ip, "2001:db8::1"), "misp-ip:2001:db8::1");
        assert_eq!(ks.key(Namespace::NamedPipe, "evil"), "misp-named-pipe:evil");
        assert_eq!(ks.stats_key(), "misp-stats");
        assert_eq!(ks.event_key("42"), "misp-event:42");
    }

    #[test]
    fn unsafe_values_are_digested() {
        let ks = Keyspace::default();
        for value in [
            "a b",
            "x\r\nflush_all",
            "bücher",
            "~sha256:abc",
            &"u".repeat(250),
        ] {
            let key = ks.key(Namespace::Url, value);
            assert!(key.starts_with("misp-url:~sha256:"), "{key}");
            assert_eq!(key.len(), "misp-url:~sha256:".len() + 64);
            assert!(is_safe_key(&key));
        }
        // Distinct values give distinct digests.
        assert_ne!(
            ks.key(Namespace::Url, "a b"),
            ks.key(Namespace::Url, "a  b")
        );
        // The boundary: a key of exactly 250 bytes stays verbatim.
        let fits = "v".repeat(MAX_KEY_BYTES - "misp-url:".len());
        assert_eq!(ks.key(Namespace::Url, &fits), format!("misp-url:{fits}"));
        let over = "v".repeat(MAX_KEY_BYTES - "misp-url:".len() + 1);
        assert!(ks.key(Namespace::Url, &over).contains(DIGEST_MARKER));
    }

    #[test]
    fn the_digest_is_sha256_of_the_value() {
        // SHA-256("a b"), computed independently with `printf 'a b' | sha256sum`.
        let key = Keyspace::default().key(Namespace::UserAgent, "a b");
        assert_eq!(
            key,
            "misp-user-agent:~sha256:c8687a08aa5d6ed2044328fa6a697ab8e96dc34291e8c2034ae8c38e6fcc6d65"
        );
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(Keyspace::new("misp").is_ok());
        assert!(Keyspace::new("misp_prod2.x").is_ok());
        // A `-` would make `misp-x509` + `sha1` and `misp` + `x509-sha1` one key.
        assert!(Keyspace::new("misp-x509").is_err());
        for bad in ["", "a b", "misp\r\n", &"p".repeat(65), "mïsp"] {
            assert!(Keyspace::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn odd_event_ids_are_digested() {
        let key = Keyspace::default().event_key("1 2");
        assert!(key.starts_with("misp-event:~sha256:") && is_safe_key(&key));
    }
}
