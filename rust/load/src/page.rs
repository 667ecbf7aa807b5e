//! Reading one page of `/attributes/restSearch` JSON without building it in
//! memory: attributes are handed to a callback one by one as they are parsed,
//! with their strings borrowed from the body where possible. Only the fields
//! misp-load uses are decoded; MISP's integers-as-strings and booleans-as-
//! numbers are both accepted.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Text that is borrowed from the body unless it had escapes. Numbers are
/// accepted too (MISP versions differ on ids as strings or numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text::default())
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A MISP boolean: `true`, `1`, `"1"`, `"true"` (and their false forms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean, 0/1 or \"0\"/\"1\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
                Ok(Flag(v != 0))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
                Ok(Flag(v != 0))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" => Ok(Flag(true)),
                    "0" | "false" | "no" | "" => Ok(Flag(false)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of one attribute that misp-load uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawAttribute<'a> {
    /// The event the attribute belongs to.
    #[serde(borrow, default)]
    pub event_id: Text<'a>,
    /// MISP type, e.g. `ip-dst|port`.
    #[serde(borrow, default, rename = "type")]
    pub misp_type: Text<'a>,
    /// The value as MISP stores it (`a|b` for composites).
    #[serde(borrow, default)]
    pub value: Text<'a>,
    /// The IDS flag (absent: unknown, taken as set).
    #[serde(default)]
    pub to_ids: Option<Flag>,
    /// Soft-deleted.
    #[serde(default)]
    pub deleted: Flag,
}

/// Parses a restSearch body, calling `each` per attribute; returns how many
/// there were. Accepts `{"response":{"Attribute":[...]}}` and the empty
/// `{"response":[]}` some MISP versions send.
pub fn parse_attributes<'de>(
    body: &'de [u8],
    each: &mut dyn FnMut(RawAttribute<'de>),
) -> Result<usize, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let count = Envelope { each }.deserialize(&mut de)?;
    de.end()?;
    Ok(count)
}

struct Envelope<'f, 'de> {
    each: &'f mut dyn FnMut(RawAttribute<'de>),
}

impl<'de> DeserializeSeed<'de> for Envelope<'_, 'de> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Envelope<'_, 'de> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an object {"response": ...}"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut count = None;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.0 == "response" && count.is_none() {
                count = Some(map.next_value_seed(ResponseSeed { each: self.each })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        count.ok_or_else(|| de::Error::missing_field("response"))
    }
}

struct ResponseSeed<'f, 'de> {
    each: &'f mut dyn FnMut(RawAttribute<'de>),
}

impl<'de> DeserializeSeed<'de> for ResponseSeed<'_, 'de> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResponseSeed<'_, 'de> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"{"Attribute": [...]} or an empty list"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut count = 0;
        let mut seen = false;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.0 == "Attribute" && !seen {
                seen = true;
                count = map.next_value_seed(ListSeed { each: self.each })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(count)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "`response` is a non-empty list (an /events answer?), expected {\"Attribute\": [...]}",
            ));
        }
        Ok(0)
    }
}

struct ListSeed<'f, 'de> {
    each: &'f mut dyn FnMut(RawAttribute<'de>),
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, 'de> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, 'de> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of attributes")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while let Some(attribute) = seq.next_element::<RawAttribute<'de>>()? {
            (self.each)(attribute);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (String, String, String, Option<bool>, bool);

    fn parse(body: &str) -> Result<Vec<Row>, String> {
        let mut out = Vec::new();
        parse_attributes(body.as_bytes(), &mut |a| {
            out.push((
                a.event_id.0.into_owned(),
                a.misp_type.0.into_owned(),
                a.value.0.into_owned(),
                a.to_ids.map(|f| f.0),
                a.deleted.0,
            ))
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn reads_misp_shapes() {
        let body = r#"{"response": {"Attribute": [
            {"id":"1","event_id":"9747","type":"ip-dst|port","value":"10.0.0.1|443","to_ids":true,
             "deleted":false,"Event":{"id":"9747","info":"x \"y\""},"Tag":[{"name":"tlp:red"}]},
            {"event_id":12,"type":"url","value":"http:\/\/a\/b","to_ids":"0","deleted":1},
            {"event_id":"3","type":"domain","value":"a.example"}
        ]}}
"#;
        let got = parse(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            vec![
                (
                    "9747".into(),
                    "ip-dst|port".into(),
                    "10.0.0.1|443".into(),
                    Some(true),
                    false
                ),
                (
                    "12".into(),
                    "url".into(),
                    "http://a/b".into(),
                    Some(false),
                    true
                ),
                ("3".into(), "domain".into(), "a.example".into(), None, false),
            ]
        );
    }

    #[test]
    fn empty_forms() {
        assert_eq!(
            parse(r#"{"response":{"Attribute":[]}}"#).map(|v| v.len()),
            Ok(0)
        );
        assert_eq!(parse(r#"{"response":[]}"#).map(|v| v.len()), Ok(0));
        assert_eq!(parse(r#"{"response":{}}"#).map(|v| v.len()), Ok(0));
    }

    #[test]
    fn malformed_bodies_are_errors_with_position() {
        for bad in [
            "",
            "<html>",
            r#"{"response":{"Attribute":[{"type":"ip-dst","value":"1.2.3.4"}"#,
            r#"{"name":"x","message":"x"}"#,
            r#"{"response":[{"Event":{}}]}"#,
            r#"{"response":{"Attribute":[{"to_ids":"maybe"}]}}"#,
            r#"{"response":{"Attribute":[]}} trailing"#,
        ] {
            let e = parse(bad).err().unwrap_or_default();
            assert!(!e.is_empty(), "{bad}");
        }
        let e = parse(r#"{"response":{"Attribute":[{"type":"x"},]}}"#)
            .err()
            .unwrap_or_default();
        assert!(e.contains("line 1 column"), "{e}");
    }

    #[test]
    fn strings_are_borrowed_when_unescaped() {
        let body = br#"{"response":{"Attribute":[{"value":"plain","type":"a\/b"}]}}"#;
        let mut borrowed = Vec::new();
        let _ = parse_attributes(body, &mut |a| {
            borrowed.push((
                matches!(a.value.0, Cow::Borrowed(_)),
                matches!(a.misp_type.0, Cow::Borrowed(_)),
            ))
        });
        assert_eq!(borrowed, vec![(true, false)]);
    }
}
