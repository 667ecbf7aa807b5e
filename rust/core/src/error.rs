//! Errors of the indicator core.
//!
//! Every error that carries input text carries a sanitised, shortened copy
//! (see [`excerpt`]): inputs are attacker-controlled log data and MISP values,
//! and must not be able to flood or drive a terminal through an error message.

use thiserror::Error;

/// At most this many characters of an offending value are kept in errors.
const EXCERPT_CHARS: usize = 48;

/// A printable, bounded excerpt of untrusted text for error messages:
/// control characters are escaped and long values are cut with `...`.
pub fn excerpt(value: &str) -> String {
    printable(value, EXCERPT_CHARS)
}

/// Untrusted text made safe for a terminal or a log: control characters
/// escaped (so it cannot move the cursor, ring, or forge log lines), at most
/// `max_chars` characters, then `...`.
pub fn printable(value: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == max_chars {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A namespace name that is not in [`crate::Namespace::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown namespace `{}` (known: {})", excerpt(.0), crate::Namespace::ALL.iter().map(|n| n.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownNamespace(pub String);

/// Why a value could not be normalised for its namespace. Such a value can
/// never match an indicator, so the plugin skips it and the loader reports it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NormalizeError {
    /// Nothing left after trimming whitespace.
    #[error("empty value")]
    Empty,
    /// Longer than any indicator MISP accepts.
    #[error("value of {0} bytes is longer than the {max} bytes allowed", max = crate::normalize::MAX_VALUE_BYTES)]
    TooLong(usize),
    /// Not of the form the namespace needs.
    #[error("`{value}` is not {expected}")]
    Invalid {
        /// Excerpt of the value.
        value: String,
        /// What was expected, e.g. "a 64-digit hex sha256".
        expected: String,
    },
}

impl NormalizeError {
    pub(crate) fn invalid(value: &str, expected: impl Into<String>) -> Self {
        NormalizeError::Invalid {
            value: excerpt(value),
            expected: expected.into(),
        }
    }
}

/// Why a MISP attribute type is not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TypeRejection {
    /// Rules and patterns (yara, sigma, snort, ...) describe many values; they
    /// belong in a rule engine, not in an exact-match store.
    #[error("a rule or pattern type, not a value that can be matched exactly")]
    PatternOrRule,
    /// Context such as comments, names or dates: not an indicator.
    #[error("a context type, not an indicator")]
    Context,
    /// A real indicator type that Windows and network logs do not carry in a
    /// form we can match exactly (bank accounts, vulnerabilities, ...).
    #[error("no lookup namespace for this type in Windows or network logs")]
    NotInLogs,
    /// Not a MISP type at all.
    #[error("unknown MISP attribute type")]
    Unknown,
}

/// A key prefix that would make unsafe or ambiguous keys.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid key prefix `{}`: use 1 to 64 characters from A-Z a-z 0-9 _ . (no `-`; the seed uses `misp`)", excerpt(.0))]
pub struct InvalidPrefix(pub String);

/// An `event_id#type` entry that cannot be written into a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Event ids are MISP's numeric ids.
    #[error("event id `{}` is not a number of 1 to 20 digits", excerpt(.0))]
    EventId(String),
    /// Types may not contain `,`, `#` or control characters.
    #[error("MISP type `{}` is empty, too long, or contains `,`, `#` or control characters", excerpt(.0))]
    Type(String),
}

/// A memcached server address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The list of servers is empty.
    #[error("no memcached server configured")]
    NoServers,
    /// Not `host` or `host:port`.
    #[error("memcached server `{}` is not `host:port` (e.g. `127.0.0.1:11211`)", excerpt(.0))]
    BadAddress(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_controls_and_bounds_length() {
        assert_eq!(excerpt("a\r\nflush_all"), "a\\r\\nflush_all");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).len(), EXCERPT_CHARS + 3);
        assert_eq!(excerpt("\u{1b}[31m"), "\\u{1b}[31m");
    }
}
