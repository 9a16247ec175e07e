//! The document format (DESIGN.md "Record", File document): a JSON object from store
//! key to record, parsed lazily.
//!
//! The whole document is parsed into an ordered list of (key, raw entry text) pairs
//! that borrow from the bytes read; only the entries asked for are parsed as records.
//! A save changes one entry's text and writes every other entry back byte-exact, so
//! fields and whole entries this version does not understand survive.
//!
//! Duplicate keys: the last occurrence is the entry (as serde_json and the Codex CLI
//! read such a document). A save or delete of a duplicated key leaves one entry (at the
//! last occurrence's place, or none); other duplicated keys are written back as found.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use oauth_store_core::{Credential, describe_json_error};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One member of the document: its key and its value's JSON text, as found.
#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    /// The store key (unescaped).
    pub(crate) key: Cow<'a, str>,
    /// The record's JSON text, byte-exact as read (or as serialized by a save).
    pub(crate) raw: Cow<'a, str>,
}

/// A parsed document; entries borrow from the bytes they were parsed from.
#[derive(Debug, Default)]
pub(crate) struct Document<'a> {
    entries: Vec<Entry<'a>>,
}

/// Why a document does not parse as a whole; never holds a value from it.
#[derive(Debug)]
pub(crate) struct ParseFailure {
    pub(crate) reason: String,
}

impl<'a> Document<'a> {
    /// Parses a whole document. Empty (or whitespace-only) bytes are an empty document:
    /// replacing them loses nothing.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, ParseFailure> {
        let mut entries = Vec::new();
        parse_into(bytes, &mut entries)?;
        Ok(Document { entries })
    }

    /// Parses as much of a broken document as possible: every complete entry before the
    /// point where it breaks, in order (duplicates included).
    pub(crate) fn salvage(bytes: &'a [u8]) -> Self {
        let mut entries = Vec::new();
        let _ = parse_into(bytes, &mut entries);
        Document { entries }
    }

    /// The raw text of `key`'s entry (its last occurrence).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.raw.as_ref())
    }

    /// Sets `key`'s entry to `raw` in place (its last occurrence; earlier ones are
    /// removed), or appends it at the end.
    pub(crate) fn set(&mut self, key: &str, raw: String) {
        let mut found = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.key == key);
        let Some((first, _)) = found.next() else {
            self.entries.push(Entry {
                key: Cow::Owned(key.to_owned()),
                raw: Cow::Owned(raw),
            });
            return;
        };
        let last = found.next_back().map_or(first, |(i, _)| i);
        self.entries[last].raw = Cow::Owned(raw);
        if last != first {
            let mut index = 0;
            self.entries.retain(|e| {
                let keep = index >= last || e.key != key;
                index += 1;
                keep
            });
        }
    }

    /// Appends an entry as it is (used when rebuilding a document).
    pub(crate) fn push(&mut self, entry: Entry<'a>) {
        self.entries.push(entry);
    }

    /// Removes every occurrence of `key`; returns whether there was one.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.key != key);
        self.entries.len() != before
    }

    /// Whether the document holds no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as readers see them: the last occurrence of each key, in document
    /// order.
    pub(crate) fn unique(&self) -> Vec<&Entry<'a>> {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(self.entries.len());
        for (i, e) in self.entries.iter().enumerate() {
            last.insert(e.key.as_ref(), i);
        }
        if last.len() == self.entries.len() {
            return self.entries.iter().collect();
        }
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| last.get(e.key.as_ref()) == Some(i))
            .map(|(_, e)| e)
            .collect()
    }

    /// Replaces `out`'s content with the compact document text: `{"key":<raw>,...}`,
    /// entries in order.
    pub(crate) fn write_into(&self, out: &mut Vec<u8>) {
        let size: usize = self
            .entries
            .iter()
            .map(|e| e.key.len() + e.raw.len() + 8)
            .sum();
        out.clear();
        out.reserve(size + 2);
        out.push(b'{');
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, e.key.as_ref())
                .expect("writing a string into a Vec cannot fail");
            out.push(b':');
            out.extend_from_slice(e.raw.as_bytes());
        }
        out.push(b'}');
    }
}

/// Parses one entry's text as a record; the error says what is wrong without quoting
/// any value (serde's own text can quote one, and it may be a token).
pub(crate) fn parse_record(raw: &str) -> Result<Credential, String> {
    serde_json::from_str::<Credential>(raw).map_err(|e| entry_reason(raw, &e))
}

fn entry_reason(raw: &str, error: &serde_json::Error) -> String {
    let first = raw.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        return format!("expected a JSON object, found {}", json_kind(first));
    }
    // The record's own messages name fields only ("field `x`: expected ...", "missing
    // field `x`"); anything else is described by category and position.
    let text = error.to_string();
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    if text.starts_with("field `") || text.starts_with("missing field `") {
        text.to_owned()
    } else {
        describe_json_error(error)
    }
}

/// What kind of JSON value starts with `first`, for messages that must not quote it.
fn json_kind(first: Option<u8>) -> &'static str {
    match first {
        None => "nothing",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(_) => "something that is not JSON",
    }
}

fn parse_into<'a>(bytes: &'a [u8], sink: &mut Vec<Entry<'a>>) -> Result<(), ParseFailure> {
    let Some(&first) = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    else {
        return Ok(());
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = Sink(sink).deserialize(&mut de).and_then(|()| de.end());
    result.map_err(|e| {
        let reason = match json_kind(Some(first)) {
            "an object" | "something that is not JSON" => describe_json_error(&e),
            kind => format!("not a JSON object: found {kind}"),
        };
        ParseFailure { reason }
    })
}

/// Pushes entries into a vector owned by the caller, so the entries read before a
/// parse error survive it (repair salvages them).
struct Sink<'s, 'a>(&'s mut Vec<Entry<'a>>);

impl<'de, 's> DeserializeSeed<'de> for Sink<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for Sink<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object from store key to record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
            let raw: &'de RawValue = access.next_value()?;
            self.0.push(Entry {
                key,
                raw: Cow::Borrowed(raw.get()),
            });
        }
        Ok(())
    }
}

/// A member name, borrowed from the input when it holds no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a store key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}
