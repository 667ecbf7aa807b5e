//! The indicator core of misp-enrich, shared by `misp-load` (which writes MISP
//! indicators to memcached) and the Logstash plugin's native library (which
//! looks log values up). Both sides must agree byte for byte on how a value
//! becomes a key, so every rule lives here, once.
//!
//! # Brief overview
//!
//! - [`misp_type::classify`]: which MISP attribute types are loaded, and into
//!   which [`Namespace`] each part of a composite value goes.
//! - [`normalize`]: the canonical form of a value in a namespace (hashes
//!   lower-case, IPs canonical, domains in punycode, ...).
//! - [`Keyspace`]: the key rule `<prefix>-<namespace>:<value>`, with a digest
//!   form for values that cannot be memcached keys.
//! - [`EntryList`]: the value codec `event_id#type,...`.
//! - [`ServerRing`]: which of several memcached servers holds a key.
//! - [`EventMeta`] and [`ranges`]: the extension keys (event metadata, the IP
//!   range index) that seed pipelines never read.
//! - [`Secret`]: a password or API key that never shows in `Debug` output.
//!
//! # Example
//!
//! A Sysmon SHA-256 (upper-case) and the same hash as MISP stores it
//! (lower-case) give the same key:
//!
//! ```
//! use misp_enrich_core::{normalize, Keyspace, Namespace};
//! let ks = Keyspace::default();
//! let from_log = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
//! let from_misp = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
//! let key = |v| ks.key(Namespace::Sha256, normalize(Namespace::Sha256, v).unwrap().as_exact().unwrap());
//! assert_eq!(key(from_log), key(from_misp));
//! assert_eq!(key(from_misp), format!("misp-sha256:{from_misp}"));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod event;
#[cfg(feature = "fuzz-harness")]
pub mod fuzz_harness;
mod key;
pub mod misp_type;
mod namespace;
mod normalize;
pub mod ranges;
#[cfg(feature = "test-record")]
pub mod record;
mod ring;
pub mod secret;
mod value;

pub use error::{
    excerpt, printable, EntryError, InvalidPrefix, NormalizeError, ServerError, TypeRejection,
    UnknownNamespace,
};
pub use event::EventMeta;
pub use key::{is_safe_key, Keyspace, DIGEST_MARKER, MAX_KEY_BYTES};
pub use namespace::{Namespace, ValueKind};
pub use normalize::{normalize, Normalized, MAX_VALUE_BYTES};
pub use ring::{ServerRing, DEFAULT_PORT};
pub use secret::Secret;
pub use value::{Entry, EntryList, Parsed};
