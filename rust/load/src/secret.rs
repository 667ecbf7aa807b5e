//! The MISP API key, wrapped so that it cannot reach a log line, an error
//! message or a summary by accident: `Debug` and `Display` print `***`, and
//! [`Secret::redact`] scrubs it from text that came from elsewhere (a server
//! that echoes the request, a config error that quotes a line).

use std::fmt;

/// A secret string. Only [`Secret::expose`] gives the value, for the one
/// place that needs it (the `Authorization` header).
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
}
