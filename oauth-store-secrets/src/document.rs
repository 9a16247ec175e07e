//! The plaintext inside the encrypted document (the Codex CLI's format):
//! `{"version":1,"secrets":{"global/MCP_OAUTH_<32HEX>":"<record JSON>", ...}}`.
//!
//! Values stay as raw JSON text until asked for, so entries this version does not
//! recognise (other secrets, other scopes, values that are not strings) and
//! top-level fields it does not know are written back byte-exact. Entries are
//! written sorted by name, as the Codex CLI's `BTreeMap` writes them; a name that
//! appears twice keeps its last value.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use oauth_store_core::describe_json_error;
use secrecy::zeroize::Zeroizing;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The highest plaintext format version this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The prefix of every map name this store owns: `global/MCP_OAUTH_`.
pub(crate) const OWN_PREFIX: &str = "global/MCP_OAUTH_";

/// A parsed plaintext; names and values borrow from the decrypted bytes.
#[derive(Debug, Default)]
pub(crate) struct Plain<'a> {
    /// The format version found (0, as the Codex CLI reads it, means 1).
    pub(crate) version: u64,
    secrets: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    extra: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Plain<'a> {
    /// An empty document of the current version.
    pub(crate) fn new() -> Self {
        Plain {
            version: FORMAT_VERSION,
            ..Plain::default()
        }
    }

    /// Parses a whole plaintext. The reason never quotes a value.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parsed = Top.deserialize(&mut de).and_then(|t| de.end().map(|()| t));
        let top = parsed.map_err(|e| describe_json_error(&e))?;
        let Some(version) = top.version else {
            return Err("the field `version` is missing".to_owned());
        };
        let Some(secrets) = top.secrets else {
            return Err("the field `secrets` is missing".to_owned());
        };
        Ok(Plain {
            version: version.max(1),
            secrets,
            extra: top.extra,
        })
    }

    /// The raw JSON text of `name`'s value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.secrets.get(name).map(|v| v.as_ref())
    }

    /// Sets `name` to the JSON string holding `text`.
    pub(crate) fn set(&mut self, name: String, text: &str) {
        let raw = serde_json::to_string(text).expect("a str always serializes to JSON");
        self.secrets.insert(Cow::Owned(name), Cow::Owned(raw));
    }

    /// Removes `name`; returns whether it was there.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        self.secrets.remove(name).is_some()
    }

    /// The entries this store owns (`global/MCP_OAUTH_...`), by name.
    pub(crate) fn own_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.secrets
            .range::<str, _>((Bound::Included(OWN_PREFIX), Bound::Unbounded))
            .take_while(|(name, _)| name.starts_with(OWN_PREFIX))
            .map(|(name, raw)| (name.as_ref(), raw.as_ref()))
    }

    /// Whether nothing at all is left: no secret and no unknown field.
    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.extra.is_empty()
    }

    /// The compact plaintext: `{"version":1,"secrets":{...}}`, then unknown fields.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let size: usize = self
            .secrets
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .chain(self.extra.iter().map(|(k, v)| k.len() + v.get().len() + 8))
            .sum();
        let mut out = Zeroizing::new(Vec::with_capacity(size + 40));
        out.extend_from_slice(format!(r#"{{"version":{FORMAT_VERSION},"secrets":{{"#).as_bytes());
        for (i, (name, raw)) in self.secrets.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, name.as_ref())
                .expect("writing into a Vec cannot fail");
            out.push(b':');
            out.extend_from_slice(raw.as_bytes());
        }
        out.push(b'}');
        for (name, raw) in &self.extra {
            out.push(b',');
            serde_json::to_writer(&mut *out, name.as_ref())
                .expect("writing into a Vec cannot fail");
            out.push(b':');
            out.extend_from_slice(raw.get().as_bytes());
        }
        out.push(b'}');
        out
    }
}

/// Decodes a value's raw JSON text as the string it must be; `None` when it is not a
/// JSON string. The text may hold tokens: it is zeroized when dropped.
pub(crate) fn string_value(raw: &str) -> Option<Zeroizing<String>> {
    if !raw.starts_with('"') {
        return None;
    }
    serde_json::from_str::<String>(raw).ok().map(Zeroizing::new)
}

/// The top level, field by field.
struct Top;

struct TopValue<'a> {
    version: Option<u64>,
    secrets: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    extra: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'de> DeserializeSeed<'de> for Top {
    type Value = TopValue<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top {
    type Value = TopValue<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the Secrets document object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut top = TopValue {
            version: None,
            secrets: None,
            extra: Vec::new(),
        };
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            match name.as_ref() {
                "version" if top.version.is_none() => top.version = Some(access.next_value()?),
                "secrets" if top.secrets.is_none() => {
                    top.secrets = Some(access.next_value_seed(Secrets)?);
                }
                "version" | "secrets" => {
                    let _: IgnoredAny = access.next_value()?;
                    return Err(de::Error::custom("duplicate field"));
                }
                _ => top.extra.push((name, access.next_value()?)),
            }
        }
        Ok(top)
    }
}

/// The `secrets` object: name -> raw value text.
struct Secrets;

impl<'de> DeserializeSeed<'de> for Secrets {
    type Value = BTreeMap<Cow<'de, str>, Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Secrets {
    type Value = BTreeMap<Cow<'de, str>, Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object from secret name to value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            let raw: &'de RawValue = access.next_value()?;
            map.insert(name, Cow::Borrowed(raw.get()));
        }
        Ok(map)
    }
}

/// A member name, borrowed from the input when it holds no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}
