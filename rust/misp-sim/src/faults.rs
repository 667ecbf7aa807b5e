//! Fault injection: error statuses (500/502/503, 429 with `Retry-After`) on
//! chosen pages, optionally only the first K times so retries succeed; slow
//! and truncated responses; and a login redirect for every request. Set at
//! start from the command line and replaced at runtime by `POST /_sim/faults`.

use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// How a response body is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncate {
    /// Half the body, with a matching `Content-Length`: valid HTTP, broken JSON.
    Body,
    /// The full `Content-Length` is announced, half the body is sent, then the
    /// connection is dropped (what a proxy timeout looks like).
    Connection,
}

fn de_truncate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Truncate>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Null | serde_json::Value::Bool(false) => Ok(None),
        serde_json::Value::Bool(true) => Ok(Some(Truncate::Connection)),
        serde_json::Value::String(s) if s == "connection" => Ok(Some(Truncate::Connection)),
        serde_json::Value::String(s) if s == "body" => Ok(Some(Truncate::Body)),
        other => Err(serde::de::Error::custom(format!(
            "truncate must be true, \"body\" or \"connection\", not {other}"
        ))),
    }
}

/// One fault rule. The first rule that matches a request (and has `times`
/// left) applies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Request path (with or without `.json`); `"*"` for every MISP endpoint.
    /// Default `/attributes/restSearch`.
    #[serde(default = "default_path")]
    pub path: String,
    /// Only this page (1-based, after MISP's paging rules; an unpaged request
    /// is page 1). Default: every page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Fire only this many more times (counts down). Default: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Respond with this status instead of the real answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` seconds (sent with 429 and 503). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Cut the real response.
    #[serde(
        default,
        deserialize_with = "de_truncate",
        skip_serializing_if = "Option::is_none"
    )]
    pub truncate: Option<Truncate>,
    /// Extra delay for matching responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Body for a `status` fault (default: what MISP or a proxy would send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// How often the rule fired (reported by `GET /_sim/faults`).
    #[serde(default)]
    pub hits: u64,
}

fn default_path() -> String {
    "/attributes/restSearch".into()
}

/// The whole fault configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Delay added to every MISP response.
    #[serde(default)]
    pub delay_ms: u64,
    /// Answer every MISP request with a 302 to `/users/login`, as MISP does
    /// for a request it does not take as an API call.
    #[serde(default)]
    pub redirect_login: bool,
}

/// What to do with one request.
#[derive(Debug, Default)]
pub struct Decision {
    pub redirect: bool,
    /// (status, Retry-After, custom body)
    pub status: Option<(u16, u64, Option<String>)>,
    pub truncate: Option<Truncate>,
    pub delay: Duration,
}

fn same_path(rule: &str, path: &str) -> bool {
    rule == "*" || rule == path || path.strip_suffix(".json") == Some(rule)
}

impl Faults {
    /// Decides the faults for a request and counts the rule that fired.
    pub fn decide(&mut self, path: &str, page: u64) -> Decision {
        let mut d = Decision {
            redirect: self.redirect_login,
            delay: Duration::from_millis(self.delay_ms),
            ..Decision::default()
        };
        let rule = self.rules.iter_mut().find(|r| {
            same_path(&r.path, path) && r.page.is_none_or(|p| p == page) && r.times != Some(0)
        });
        if let Some(r) = rule {
            r.hits += 1;
            if let Some(t) = r.times.as_mut() {
                *t -= 1;
            }
            d.status = r
                .status
                .map(|s| (s, r.retry_after.unwrap_or(1), r.body.clone()));
            d.truncate = r.truncate;
            d.delay += Duration::from_millis(r.delay_ms.unwrap_or(0));
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_counts_down() {
        let mut f: Faults = serde_json::from_str(
            r#"{"rules":[{"page":2,"status":500,"times":1},{"page":3,"truncate":"body"}],"delay_ms":5}"#,
        )
        .unwrap();
        assert!(f.decide("/attributes/restSearch", 1).status.is_none());
        assert_eq!(
            f.decide("/attributes/restSearch.json", 2)
                .status
                .map(|s| s.0),
            Some(500)
        );
        assert!(f.decide("/attributes/restSearch", 2).status.is_none());
        let d = f.decide("/attributes/restSearch", 3);
        assert_eq!(d.truncate, Some(Truncate::Body));
        assert_eq!(d.delay, Duration::from_millis(5));
        assert!(f.decide("/events/restSearch", 3).truncate.is_none());
        assert_eq!(f.rules[0].hits, 1);
        assert!(serde_json::from_str::<Faults>(r#"{"rules":[{"pgae":1}]}"#).is_err());
    }
}
