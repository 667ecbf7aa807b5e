//! Lookup namespaces: the `<namespace>` part of a memcached key.
//!
//! A namespace groups values that are compared the same way (all SHA-256
//! digests, all IP addresses, ...). Its name is part of the key contract with
//! the seed's Logstash pipelines (`misp-ip`, `misp-sha256`, ...), so names never
//! change once released.

use std::fmt;
use std::str::FromStr;

use crate::error::UnknownNamespace;

/// How values of a namespace are normalised (see [`crate::normalize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Hex digest of a fixed number of hex digits, compared lower-case.
    HexDigest(usize),
    /// A fuzzy hash compared case-sensitively (ssdeep).
    CaseSensitiveHash,
    /// A fuzzy hash compared lower-case (TLSH).
    LowerCaseHash,
    /// An IPv4 or IPv6 address (or a CIDR range on the loader side).
    Ip,
    /// A DNS name.
    Domain,
    /// A URL.
    Url,
    /// An e-mail address.
    Email,
    /// A Windows registry key path.
    RegistryKey,
    /// A Windows named pipe.
    NamedPipe,
    /// Compared exactly as written, only trimmed (mutex, user agent).
    Verbatim,
}

macro_rules! namespaces {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $kind:expr; )*) => {
        /// A lookup namespace. `name()` gives the string used in keys.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Namespace {
            $( $(#[$doc])* $variant, )*
        }

        impl Namespace {
            /// Every namespace, in a stable order.
            pub const ALL: &'static [Namespace] = &[$(Namespace::$variant,)*];

            /// The name used in memcached keys (`misp-<name>:<value>`).
            pub const fn name(self) -> &'static str {
                match self { $(Namespace::$variant => $name,)* }
            }

            /// How values of this namespace are normalised.
            pub const fn kind(self) -> ValueKind {
                match self { $(Namespace::$variant => $kind,)* }
            }
        }

        impl FromStr for Namespace {
            type Err = UnknownNamespace;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Namespace::$variant),)*
                    _ => Err(UnknownNamespace(s.chars().take(64).collect())),
                }
            }
        }
    };
}

namespaces! {
    /// MD5 file hashes (seed namespace).
    Md5 => "md5", ValueKind::HexDigest(32);
    /// SHA-1 file hashes (seed namespace).
    Sha1 => "sha1", ValueKind::HexDigest(40);
    /// SHA-224 file hashes.
    Sha224 => "sha224", ValueKind::HexDigest(56);
    /// SHA-256 file hashes (seed namespace).
    Sha256 => "sha256", ValueKind::HexDigest(64);
    /// SHA-384 file hashes.
    Sha384 => "sha384", ValueKind::HexDigest(96);
    /// SHA-512 file hashes (seed namespace).
    Sha512 => "sha512", ValueKind::HexDigest(128);
    /// PE import hashes (seed namespace).
    Imphash => "imphash", ValueKind::HexDigest(32);
    /// Authenticode hashes (SHA-256 of the signed parts of a PE file).
    Authentihash => "authentihash", ValueKind::HexDigest(64);
    /// ssdeep fuzzy hashes.
    Ssdeep => "ssdeep", ValueKind::CaseSensitiveHash;
    /// TLSH fuzzy hashes.
    Tlsh => "tlsh", ValueKind::LowerCaseHash;
    /// IPv4 and IPv6 addresses (seed namespace).
    Ip => "ip", ValueKind::Ip;
    /// Domain and host names (seed namespace).
    Domain => "domain", ValueKind::Domain;
    /// URLs (seed namespace).
    Url => "url", ValueKind::Url;
    /// JA3 TLS client fingerprints.
    Ja3 => "ja3", ValueKind::HexDigest(32);
    /// JARM TLS server fingerprints.
    Jarm => "jarm", ValueKind::HexDigest(62);
    /// HASSH SSH client and server fingerprints.
    Hassh => "hassh", ValueKind::HexDigest(32);
    /// SHA-1 fingerprints of X.509 certificates.
    X509Sha1 => "x509-sha1", ValueKind::HexDigest(40);
    /// SHA-256 fingerprints of X.509 certificates.
    X509Sha256 => "x509-sha256", ValueKind::HexDigest(64);
    /// MD5 fingerprints of X.509 certificates.
    X509Md5 => "x509-md5", ValueKind::HexDigest(32);
    /// E-mail addresses.
    Email => "email", ValueKind::Email;
    /// Windows mutex names (case-sensitive, as Windows compares them).
    Mutex => "mutex", ValueKind::Verbatim;
    /// Windows named pipes (the seed's loader used `misp-named-pipe`).
    NamedPipe => "named-pipe", ValueKind::NamedPipe;
    /// Windows registry keys.
    Regkey => "regkey", ValueKind::RegistryKey;
    /// HTTP user agents.
    UserAgent => "user-agent", ValueKind::Verbatim;
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_key_safe() {
        for ns in Namespace::ALL {
            assert_eq!(ns.name().parse::<Namespace>().ok(), Some(*ns));
            assert!(ns
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
    }

    #[test]
    fn seed_namespaces_keep_their_names() {
        let seed = [
            "md5", "sha1", "sha256", "sha512", "imphash", "ip", "domain", "url",
        ];
        for name in seed {
            assert_eq!(name.parse::<Namespace>().map(|n| n.name()), Ok(name));
        }
    }

    #[test]
    fn unknown_namespace_is_an_error() {
        assert!("sha3".parse::<Namespace>().is_err());
        assert!("".parse::<Namespace>().is_err());
    }
}
