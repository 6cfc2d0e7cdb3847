//! A JSON object kept as raw top-level members.
//!
//! The gateway edits a few top-level fields of a request (`model`, defaults, `stream_options`)
//! and must not re-encode the rest (messages can be megabytes). `RawObject` parses only the
//! top level; each member's value stays the exact bytes the client sent.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;

/// Most top-level members accepted. Real requests have a few dozen; a body with millions of
/// keys is refused after this many instead of costing memory per key.
pub const MAX_MEMBERS: usize = 1024;

/// A JSON object whose member values are kept verbatim, in their original order.
#[derive(Debug, Clone, Default)]
pub struct RawObject {
    members: Vec<(String, Box<RawValue>)>,
}

impl RawObject {
    /// Parses a JSON object; anything else is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The raw value of a member, if present.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Whether the member exists (even if its value is `null`).
    pub fn contains(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// A member decoded as `T`; `None` when missing, an error when present with another type.
    pub fn get_as<'a, T: Deserialize<'a>>(
        &'a self,
        key: &str,
    ) -> Option<Result<T, serde_json::Error>> {
        self.get(key).map(|v| serde_json::from_str(v.get()))
    }

    /// Encodes the object with some members replaced (`overrides`, added when missing) and
    /// others added only when missing (`defaults`), without cloning or re-encoding the rest.
    pub fn to_vec_with(
        &self,
        overrides: &[(&str, &RawValue)],
        defaults: &[(String, Box<RawValue>)],
    ) -> Result<Vec<u8>, serde_json::Error> {
        struct View<'a> {
            obj: &'a RawObject,
            overrides: &'a [(&'a str, &'a RawValue)],
            defaults: &'a [(String, Box<RawValue>)],
        }
        impl Serialize for View<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                for (k, v) in &self.obj.members {
                    match self.overrides.iter().find(|(ok, _)| ok == k) {
                        Some((_, ov)) => map.serialize_entry(k, ov)?,
                        None => map.serialize_entry(k, v)?,
                    }
                }
                for (k, v) in self.overrides {
                    if !self.obj.contains(k) {
                        map.serialize_entry(k, v)?;
                    }
                }
                for (k, v) in self.defaults {
                    if !self.obj.contains(k) && !self.overrides.iter().any(|(ok, _)| ok == k) {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
        }
        let mut out = Vec::with_capacity(
            self.members
                .iter()
                .map(|(k, v)| k.len() + v.get().len() + 4)
                .sum::<usize>()
                + 64,
        );
        serde_json::to_writer(
            &mut out,
            &View {
                obj: self,
                overrides,
                defaults,
            },
        )?;
        Ok(out)
    }

    /// Iterates over the members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }
}

impl Serialize for RawObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len()))?;
        for (k, v) in &self.members {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawObjectVisitor;
        impl<'de> Visitor<'de> for RawObjectVisitor {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RawObject, A::Error> {
                let mut members: Vec<(String, Box<RawValue>)> =
                    Vec::with_capacity(access.size_hint().unwrap_or(8));
                while let Some((k, v)) = access.next_entry::<String, Box<RawValue>>()? {
                    if members.len() == MAX_MEMBERS {
                        return Err(de::Error::custom(format!(
                            "more than {MAX_MEMBERS} top-level fields"
                        )));
                    }
                    members.push((k, v));
                }
                // Duplicates are checked once at the end: linear, not per member.
                let mut seen = std::collections::HashSet::with_capacity(members.len());
                if let Some((k, _)) = members.iter().find(|(k, _)| !seen.insert(k.as_str())) {
                    return Err(de::Error::custom(format!("duplicate field `{k}`")));
                }
                Ok(RawObject { members })
            }
        }
        deserializer.deserialize_map(RawObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_values_verbatim_and_order() {
        let src = br#"{"model":"a","messages":[{"role":"user","content":"hi  \u00e9"}],"n":1}"#;
        let o = RawObject::parse(src).unwrap();
        let m = RawValue::from_string("\"b\"".into()).unwrap();
        let out = String::from_utf8(o.to_vec_with(&[("model", &m)], &[]).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"model":"b","messages":[{"role":"user","content":"hi  \u00e9"}],"n":1}"#
        );
    }

    #[test]
    fn encodes_with_overrides_and_defaults() {
        let o = RawObject::parse(br#"{"model":"a","temperature":0.1,"x":[1]}"#).unwrap();
        let m = RawValue::from_string("\"up\"".into()).unwrap();
        let so = RawValue::from_string("{\"include_usage\":true}".into()).unwrap();
        let defaults = vec![
            (
                "temperature".to_string(),
                RawValue::from_string("0.9".into()).unwrap(),
            ),
            (
                "top_p".to_string(),
                RawValue::from_string("1".into()).unwrap(),
            ),
        ];
        let out = o
            .to_vec_with(&[("model", &m), ("stream_options", &so)], &defaults)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"up","temperature":0.1,"x":[1],"stream_options":{"include_usage":true},"top_p":1}"#
        );
    }

    #[test]
    fn many_members_are_refused_in_linear_time() {
        let mut body = String::from("{");
        for i in 0..200_000 {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!("\"k{i}\":1"));
        }
        body.push('}');
        let t = std::time::Instant::now();
        let e = RawObject::parse(body.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("top-level fields"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        let ok: String = format!(
            "{{{}}}",
            (0..MAX_MEMBERS)
                .map(|i| format!("\"k{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            RawObject::parse(ok.as_bytes()).unwrap().iter().count(),
            MAX_MEMBERS
        );
    }

    #[test]
    fn rejects_non_objects_and_duplicates() {
        assert!(RawObject::parse(b"[1]").is_err());
        assert!(RawObject::parse(br#"{"a":1,"a":2}"#).is_err());
        assert!(RawObject::parse(b"{").is_err());
    }
}
