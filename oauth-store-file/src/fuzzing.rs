//! Entry points for the fuzz targets in `fuzz/`, compiled only with `--cfg fuzzing`
//! (which cargo-fuzz sets): the document parser and the record parser, with the
//! invariants a save relies on asserted.

use oauth_store_core::Credential;

use crate::document::{Document, parse_record};

/// Parses `bytes` as a File document and checks what saves rely on: a parsed document
/// written back parses to the same entries and writes the same bytes again; a save
/// of one key changes that key alone; a broken document salvages into one that
/// parses. Returns each readable entry's record parse (the reason on failure).
///
/// # Panics
/// When an invariant does not hold (that is the finding).
pub fn document(bytes: &[u8]) -> Vec<Result<Credential, String>> {
    let Ok(mut doc) = Document::parse(bytes) else {
        let mut out = Vec::new();
        Document::salvage(bytes).write_into(&mut out);
        assert!(
            Document::parse(&out).is_ok(),
            "salvaged entries write a document that parses"
        );
        return Vec::new();
    };
    let view = |d: &Document<'_>| -> Vec<(String, String)> {
        d.unique()
            .iter()
            .map(|e| (e.key.to_string(), e.raw.to_string()))
            .collect()
    };
    let mut written = Vec::new();
    doc.write_into(&mut written);
    let again = Document::parse(&written).expect("a written document parses");
    assert_eq!(view(&doc), view(&again), "readers see the same entries");
    let mut rewritten = Vec::new();
    again.write_into(&mut rewritten);
    assert_eq!(written, rewritten, "writing is stable");

    let before = view(&doc);
    let records = before.iter().map(|(_, raw)| parse_record(raw)).collect();
    // A save of the first key, as the store makes one: only that entry changes.
    if let Some(key) = before.first().map(|(k, _)| k.clone()) {
        let key = key.as_str();
        doc.set(key, r#"{"saved":true}"#.to_owned());
        let mut saved = Vec::new();
        doc.write_into(&mut saved);
        let after = Document::parse(&saved).expect("a saved document parses");
        assert_eq!(after.get(key), Some(r#"{"saved":true}"#));
        let others = |v: Vec<(String, String)>| -> Vec<(String, String)> {
            v.into_iter().filter(|(k, _)| k.as_str() != key).collect()
        };
        assert_eq!(others(view(&after)), others(before), "other keys untouched");
        assert!(doc.remove(key));
        assert!(doc.get(key).is_none());
    }
    records
}

/// The record parser of one entry's text, as loads use it.
///
/// # Errors
/// The reason, as a load reports it.
pub fn record(raw: &str) -> Result<Credential, String> {
    parse_record(raw)
}
