//! Secrets (misp-load's MISP API key, the memcached password of misp-load
//! and of the plugin's engine), wrapped so that they cannot reach a log line,
//! an error message, a summary or a stats snapshot by accident: `Debug` and
//! `Display` print `***`, there is no `Serialize`, and [`Secret::redact`]
//! scrubs the value from text that came from elsewhere (a server that echoes
//! the request, a config error that quotes a line).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret string. Only [`Secret::expose`] gives the value, for the one
/// place that needs it (the `Authorization` header, the memcached login).
/// Read from configuration as a plain string (`Deserialize`), never written.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`, without surrounding whitespace (key files end in a newline).
    pub fn new(value: &str) -> Self {
        Secret(value.trim().to_owned())
    }

    /// The value. Never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            // Too short to scrub without mangling ordinary text; such keys are
            // refused by the config anyway.
            return text.to_owned();
        }
        text.replace(&self.0, "***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Secret::new(&s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_value() {
        let s = Secret::new(" IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr\n");
        assert_eq!(s.expose(), "IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        assert_eq!(
            s.redact("key IT8iRMSIegXeTdzAHJhMBsTg1bUcYWSsg3vsTgPr rejected"),
            "key *** rejected"
        );
    }

    #[test]
    fn reads_from_json_and_stays_hidden() {
        let s: Secret =
            serde_json::from_str(r#"" pass-word-1 ""#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.expose(), "pass-word-1");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(serde_json::from_str::<Secret>("42").is_err());
    }
}
