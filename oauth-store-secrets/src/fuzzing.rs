//! Entry points for the fuzz targets in `fuzz/`, compiled only with `--cfg fuzzing`
//! (which cargo-fuzz sets): the decrypted plaintext's parser and its entries'.

use oauth_store_core::Credential;

use crate::document::Plain;
use crate::store::parse_entry;

/// Parses `bytes` as the Secrets plaintext and checks what saves rely on: a parsed
/// plaintext written back parses to the same entries and writes the same bytes again,
/// and setting or removing one entry changes that entry alone. Returns each own
/// entry's record parse (the reason on failure).
///
/// # Panics
/// When an invariant does not hold (that is the finding).
pub fn plaintext(bytes: &[u8]) -> Vec<Result<Credential, String>> {
    let Ok(mut plain) = Plain::parse(bytes) else {
        return Vec::new();
    };
    let own = |p: &Plain<'_>| -> Vec<(String, String)> {
        p.own_entries()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    };
    let written = plain.to_bytes();
    let again = Plain::parse(&written).expect("a written plaintext parses");
    assert_eq!(own(&plain), own(&again), "the same own entries");
    assert_eq!(*again.to_bytes(), *written, "writing is stable");

    let before = own(&plain);
    let records = before.iter().map(|(_, raw)| parse_entry(raw)).collect();
    let name = "global/MCP_OAUTH_0123456789ABCDEF0123456789ABCDEF".to_owned();
    plain.set(name.clone(), r#"{"saved":true}"#);
    let saved = plain.to_bytes();
    let after = Plain::parse(&saved).expect("a saved plaintext parses");
    assert_eq!(
        after
            .get(&name)
            .and_then(crate::document::string_value)
            .as_deref()
            .map(String::as_str),
        Some(r#"{"saved":true}"#)
    );
    let others = |v: Vec<(String, String)>| -> Vec<(String, String)> {
        v.into_iter().filter(|(n, _)| *n != name).collect()
    };
    assert_eq!(
        others(own(&after)),
        others(before),
        "other entries untouched"
    );
    assert!(plain.remove(&name));
    records
}
