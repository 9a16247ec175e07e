//! Repair: quarantine a document that does not parse and keep the entries that do.

use std::os::unix::fs::PermissionsExt;

use oauth_store_core::{CredentialStore, StoreKey};
use oauth_store_file::RepairReport;

use crate::{CODEX_DOCUMENT, TestResult, key, record, store_in};

#[test]
fn a_missing_or_healthy_document_is_left_alone() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let report = store.repair()?;
    assert_eq!(
        (report.quarantined, report.kept, report.dropped),
        (None, 0, 0)
    );

    // Healthy as a whole, one bad entry: repair is for whole-document corruption.
    let text = CODEX_DOCUMENT.replace(r#""scopes":[]"#, r#""scopes":7"#);
    std::fs::write(store.path(), &text)?;
    let report = store.repair()?;
    assert_eq!(
        (report.quarantined, report.kept, report.dropped),
        (None, 3, 0)
    );
    assert_eq!(std::fs::read_to_string(store.path())?, text);
    Ok(())
}

fn quarantined(report: &RepairReport) -> std::path::PathBuf {
    report.quarantined.clone().expect("quarantined")
}

#[test]
fn a_truncated_document_keeps_every_complete_entry_before_the_cut() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    // Cut inside the third entry.
    let cut = CODEX_DOCUMENT
        .find("\"name with space")
        .expect("third entry")
        + 40;
    let truncated = &CODEX_DOCUMENT[..cut];
    std::fs::write(store.path(), truncated)?;
    assert!(store.save(&key("x"), &record("x", "at-x")).is_err());

    let report = store.repair()?;
    assert_eq!((report.kept, report.dropped), (2, 0));
    let q = quarantined(&report);
    assert_eq!(
        std::fs::read_to_string(&q)?,
        truncated,
        "the quarantined copy is exact"
    );
    assert_eq!(std::fs::metadata(&q)?.permissions().mode() & 0o777, 0o600);
    let name = q.file_name().expect("name").to_string_lossy().into_owned();
    let ms: u128 = name
        .strip_prefix(".credentials.json.corrupt-")
        .expect("prefix")
        .parse()?;
    assert!(ms > 1_600_000_000_000, "ms since the Unix epoch: {ms}");

    let keys: Vec<_> = store.list()?.into_iter().map(|l| l.key).collect();
    assert_eq!(
        keys,
        [
            StoreKey::from_raw("notion|eac663db915250e7"),
            StoreKey::from_raw("linear|47ba737bac765ed4")
        ]
    );
    // Entries before the cut are byte-exact, and saves work again.
    let end = CODEX_DOCUMENT
        .find(",\"name with space")
        .expect("third entry");
    assert_eq!(
        std::fs::read_to_string(store.path())?,
        format!("{}}}", &CODEX_DOCUMENT[..end])
    );
    store.save(&key("x"), &record("x", "at-x"))?;
    assert_eq!(store.list()?.len(), 3);
    Ok(())
}

#[test]
fn trailing_garbage_keeps_every_entry() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    // What a concurrent truncate-and-write leaves: a shorter document over a longer one.
    let garbage = format!("{CODEX_DOCUMENT}-token-notion\"}}}}");
    std::fs::write(store.path(), &garbage)?;
    let report = store.repair()?;
    assert_eq!((report.kept, report.dropped), (3, 0));
    assert_eq!(std::fs::read_to_string(store.path())?, CODEX_DOCUMENT);
    assert_eq!(std::fs::read_to_string(quarantined(&report))?, garbage);
    Ok(())
}

#[test]
fn entries_whose_record_does_not_parse_stay_only_in_the_quarantined_copy() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let text = format!(
        r#"{{"bad|1":{{"server_name":1}},"good|2":{},"cut|3":{{"server_na"#,
        serde_json::to_string(&record("good", "at-good"))?
    );
    std::fs::write(store.path(), &text)?;
    let report = store.repair()?;
    assert_eq!((report.kept, report.dropped), (1, 1));
    assert_eq!(std::fs::read_to_string(quarantined(&report))?, text);
    let keys: Vec<_> = store
        .list()?
        .into_iter()
        .map(|l| l.key.as_str().to_owned())
        .collect();
    assert_eq!(keys, ["good|2"]);
    Ok(())
}

#[test]
fn nothing_to_keep_removes_the_document() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    for bad in ["[1,2,3]", "not json", "{\"a|1\":"] {
        std::fs::write(store.path(), bad)?;
        let report = store.repair()?;
        assert_eq!((report.kept, report.dropped), (0, 0));
        assert!(!store.path().exists());
        assert_eq!(std::fs::read_to_string(quarantined(&report))?, bad);
        assert!(store.list()?.is_empty());
    }
    let quarantines = std::fs::read_dir(home.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .count();
    assert_eq!(quarantines, 3, "repairs within one ms get distinct names");
    let reported = store
        .check()
        .into_iter()
        .filter(|w| matches!(w, oauth_store_file::FileWarning::QuarantinedCopy { .. }))
        .count();
    assert_eq!(
        reported, 3,
        "check reports the copies: they may hold tokens"
    );
    Ok(())
}

#[test]
fn a_document_over_the_size_cap_is_set_aside_whole_so_the_home_works_again() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path()).with_size_cap(600);
    std::fs::write(store.path(), vec![b' '; 700])?;
    let report: RepairReport = store.repair()?;
    let quarantined = report.quarantined.expect("set aside");
    assert_eq!(
        std::fs::metadata(&quarantined)?.len(),
        700,
        "the whole file is kept aside"
    );
    assert!(!store.path().exists());
    assert_eq!((report.kept, report.dropped), (0, 0));
    assert_eq!(report.too_large, Some(700));
    store.save(&key("a"), &record("a", "at-a"))?;
    assert!(store.load(&key("a"))?.is_some());
    Ok(())
}

#[test]
fn an_entry_holding_a_member_twice_loads_and_repair_rewrites_it_once() -> TestResult {
    // As an older version wrote a refresh answer carrying `expires_at` (issue 19 item 1).
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("other"), &record("other", "at-other"))?;
    let good = serde_json::to_string(&record("a", "at-a"))?;
    let broken = good.replacen('}', r#","expires_at":1700000000,"updated_at":5}"#, 1);
    let other = std::fs::read_to_string(store.path())?;
    let text = other.replacen(
        '{',
        &format!(
            r#"{{{}:{broken},"#,
            serde_json::to_string(key("a").as_str())?
        ),
        1,
    );
    std::fs::write(store.path(), &text)?;

    let loaded = store
        .load(&key("a"))?
        .expect("readable: the last occurrence wins");
    assert_eq!(
        (loaded.expires_at, loaded.updated_at),
        (Some(1_700_000_000), Some(5))
    );
    let report = store.repair()?;
    assert_eq!(
        (
            report.quarantined.is_none(),
            report.kept,
            report.dropped,
            report.rewritten
        ),
        (true, 2, 0, 1)
    );
    let after = std::fs::read_to_string(store.path())?;
    let value: serde_json::Value = serde_json::from_str(&after)?;
    let entry = serde_json::to_string(&value[key("a").as_str()])?;
    assert!(
        oauth_store_core::repeated_members(&entry).is_empty(),
        "{after}"
    );
    assert!(
        after.contains(&other[1..other.len() - 1]),
        "the other entry is byte-exact"
    );
    let again = store.load(&key("a"))?.expect("still there");
    assert_eq!(
        (again.expires_at, again.updated_at, crate::token_of(&again)),
        (Some(1_700_000_000), Some(5), "at-a".to_owned())
    );
    assert_eq!(store.repair()?.rewritten, 0, "nothing left to rewrite");
    Ok(())
}

#[test]
fn a_document_over_the_size_cap_keeps_the_entries_of_its_first_part() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    store.save(&key("b"), &record("b", "at-b"))?;
    let text = std::fs::read_to_string(store.path())?;
    let cap = text.len() as u64 + 10;
    // The two entries, then a third that runs past the cap.
    let grown = format!(
        "{},\"c|0000000000000000\":{{\"server_name\":\"{}\"}}}}",
        text.trim_end().strip_suffix('}').expect("an object"),
        "x".repeat(200)
    );
    std::fs::write(store.path(), &grown)?;
    let store = store.with_size_cap(cap);
    let report = store.repair()?;
    assert_eq!(report.too_large, Some(grown.len() as u64));
    assert_eq!(report.kept, 2, "{report:?}");
    let quarantined = report.quarantined.expect("set aside");
    assert_eq!(
        std::fs::read_to_string(quarantined)?,
        grown,
        "the whole file is kept aside"
    );
    assert!(store.load(&key("a"))?.is_some() && store.load(&key("b"))?.is_some());
    Ok(())
}
