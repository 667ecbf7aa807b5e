//! Metadata of one MISP event, stored once per event under
//! `<prefix>-event:<id>` by misp-load and read by the plugin for hits only.
//!
//! The seed's value format carries only `event_id#type`; analysts also want the
//! event's title, threat level, organisation and TLP next to the hit. That
//! data is per event, not per indicator, so it lives in a key of its own and
//! seed pipelines never see it.

use serde::{Deserialize, Serialize};

/// What the plugin can show about a MISP event. Stored as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMeta {
    /// MISP event id (the number in `/events/view/<id>`).
    pub id: String,
    /// Event uuid.
    pub uuid: String,
    /// The event's title (`info`).
    pub info: String,
    /// `high`, `medium`, `low` or `undefined` (MISP's threat_level_id 1..4).
    pub threat_level: String,
    /// The event's date, `YYYY-MM-DD`.
    pub date: String,
    /// Name of the creating organisation.
    pub org: String,
    /// Event tags, e.g. `tlp:amber`, `misp-galaxy:...`.
    pub tags: Vec<String>,
    /// When misp-load last wrote this record (unix seconds).
    pub loaded_at: u64,
}

impl EventMeta {
    /// The TLP marking from the tags, upper-case as ECS writes it
    /// (`tlp:amber+strict` → `AMBER+STRICT`), if any.
    pub fn tlp(&self) -> Option<String> {
        self.tags.iter().find_map(|t| {
            let lower = t.to_ascii_lowercase();
            lower
                .strip_prefix("tlp:")
                .map(|level| level.trim().to_ascii_uppercase())
        })
    }

    /// MISP's `threat_level_id` ("1".."4") as a name.
    pub fn threat_level_name(threat_level_id: &str) -> &'static str {
        match threat_level_id.trim() {
            "1" => "high",
            "2" => "medium",
            "3" => "low",
            _ => "undefined",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_from_tags() {
        let mut m = EventMeta {
            tags: vec!["misp-galaxy:x".into(), "TLP:Amber+Strict".into()],
            ..EventMeta::default()
        };
        assert_eq!(m.tlp().as_deref(), Some("AMBER+STRICT"));
        m.tags.clear();
        assert_eq!(m.tlp(), None);
    }

    #[test]
    fn json_round_trip_and_tolerant_read() {
        let m = EventMeta {
            id: "42".into(),
            info: "Emotet \"wave\"".into(),
            ..EventMeta::default()
        };
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(serde_json::from_str::<EventMeta>(&json).ok(), Some(m));
        let partial: Result<EventMeta, _> = serde_json::from_str(r#"{"id":"7","extra":1}"#);
        assert_eq!(partial.map(|p| p.id).ok().as_deref(), Some("7"));
        assert_eq!(EventMeta::threat_level_name("2"), "medium");
    }
}
