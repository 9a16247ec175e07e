//! The plaintext format: order, duplicates, names.

use oauth_store_core::CredentialStore;
use oauth_store_secrets::secret_map_name;

use crate::{
    TestResult, doc_path, encrypt_to, identity_in, key, key_path, record, store_in, token_of,
};

#[test]
fn entries_are_written_sorted_by_name_and_compact() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    for name in ["zeta", "alpha", "mid", "beta"] {
        store.save(&key(name), &record(name, &format!("at-{name}")))?;
    }
    let identity = identity_in(&key_path(home.path()))?;
    let plain = String::from_utf8(age::decrypt(
        &identity,
        &std::fs::read(doc_path(home.path()))?,
    )?)?;
    let mut names: Vec<String> = ["zeta", "alpha", "mid", "beta"]
        .iter()
        .map(|n| secret_map_name(&key(n)))
        .collect();
    let positions: Vec<usize> = {
        names.sort();
        names
            .iter()
            .map(|n| plain.find(n.as_str()).expect("present"))
            .collect()
    };
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "sorted as a BTreeMap writes them"
    );
    assert!(!plain.contains('\n') && !plain.contains(": "), "compact");
    Ok(())
}

#[test]
fn a_duplicated_name_reads_its_last_value_and_is_written_once() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let identity = identity_in(&key_path(home.path()))?;
    let name = secret_map_name(&key("a"));
    let first = serde_json::to_string(&serde_json::to_string(&record("a", "at-first"))?)?;
    let last = serde_json::to_string(&serde_json::to_string(&record("a", "at-last"))?)?;
    let text = format!(r#"{{"version":1,"secrets":{{"{name}":{first},"{name}":{last}}}}}"#);
    std::fs::write(
        doc_path(home.path()),
        encrypt_to(&identity, text.as_bytes()),
    )?;
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-last".to_owned())
    );
    store.save(&key("b"), &record("b", "at-b"))?;
    let plain = String::from_utf8(age::decrypt(
        &identity,
        &std::fs::read(doc_path(home.path()))?,
    )?)?;
    assert_eq!(plain.matches(name.as_str()).count(), 1);
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-last".to_owned())
    );
    Ok(())
}

#[test]
fn escaped_names_are_read() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let identity = identity_in(&key_path(home.path()))?;
    let name = secret_map_name(&key("a"));
    // `/` may be written `\/` in JSON.
    let escaped = name.replace('/', "\\/");
    let value = serde_json::to_string(&serde_json::to_string(&record("a", "at-escaped"))?)?;
    let text = format!(r#"{{"version":1,"secrets":{{"{escaped}":{value}}}}}"#);
    std::fs::write(
        doc_path(home.path()),
        encrypt_to(&identity, text.as_bytes()),
    )?;
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-escaped".to_owned())
    );
    Ok(())
}
