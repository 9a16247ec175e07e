//! `KeyringStore` on a real Secret Service: save, load, list and delete, each in its own
//! process; naming per DESIGN.md "Layout".

use std::time::Duration;

use oauth_store_keyring::KeyringStore;

use crate::child::{Script, assert_clean, run};
use crate::{TestResult, key, session, unique_service};

const LIMIT: Duration = Duration::from_secs(60);
const HOME_A: &str = "0123456789abcdef";
const HOME_B: &str = "fedcba9876543210";

#[test]
fn accounts_follow_the_layout() {
    let default = KeyringStore::new("oauth-store", Some(HOME_A.to_owned()));
    assert_eq!(default.service(), "oauth-store");
    assert_eq!(
        default.account(&key("alpha")),
        format!("{HOME_A}/{}", key("alpha"))
    );
    let codex = KeyringStore::new("Codex MCP Credentials", None);
    assert_eq!(codex.account(&key("alpha")), key("alpha").as_str());
    let entry = default.entry(&key("alpha"));
    assert_eq!(entry.service(), "oauth-store");
    assert_eq!(entry.account(), default.account(&key("alpha")));
    assert_eq!(entry.timeout(), oauth_store_keyring::DEFAULT_TIMEOUT);
}

#[test]
fn save_load_list_delete_across_processes() -> TestResult {
    if !session::available("store::save_load_list_delete_across_processes") {
        return Ok(());
    }
    let service = unique_service("store");
    let step = |prefix: &str,
                steps: &[&str]|
     -> Result<crate::child::Outcome, Box<dyn std::error::Error>> {
        let outcome = run(Script::new(&service, Some(prefix), steps).command(), LIMIT)?;
        assert_clean(&outcome)?;
        Ok(outcome)
    };

    let saved = step(HOME_A, &["save:alpha", "save:beta"])?;
    assert_eq!(saved.nth("save", 0)?.outcome, "ok");
    assert_eq!(saved.nth("save", 1)?.outcome, "ok");

    let loaded = step(HOME_A, &["load:alpha", "load:beta", "load:gamma"])?;
    assert_eq!(loaded.nth("load", 0)?.outcome, "some:at-alpha");
    assert_eq!(loaded.nth("load", 1)?.outcome, "some:at-beta");
    assert_eq!(
        loaded.nth("load", 2)?.outcome,
        "none",
        "no entry is Ok(None)"
    );

    let listed = step(HOME_A, &["list"])?;
    let mut expected = [key("alpha").to_string(), key("beta").to_string()];
    expected.sort();
    assert_eq!(
        listed.step("list")?.outcome,
        format!("keys:{}", expected.join(","))
    );

    // Another home's store shares the service but not the accounts.
    let other_home = step(HOME_B, &["list", "load:alpha"])?;
    assert_eq!(other_home.step("list")?.outcome, "keys:");
    assert_eq!(other_home.step("load")?.outcome, "none");

    let deleted = step(HOME_A, &["delete:alpha", "delete:alpha"])?;
    assert_eq!(deleted.nth("delete", 0)?.outcome, "true");
    assert_eq!(deleted.nth("delete", 1)?.outcome, "false");

    let after = step(HOME_A, &["load:alpha", "list", "delete:beta"])?;
    assert_eq!(after.step("load")?.outcome, "none");
    assert_eq!(after.step("list")?.outcome, format!("keys:{}", key("beta")));
    assert_eq!(after.step("delete")?.outcome, "true");
    Ok(())
}

#[test]
fn codex_layout_uses_the_store_key_as_account() -> TestResult {
    if !session::available("store::codex_layout_uses_the_store_key_as_account") {
        return Ok(());
    }
    let service = unique_service("codex");
    let written = run(
        Script::new(&service, None, &["save:alpha"]).command(),
        LIMIT,
    )?;
    assert_clean(&written)?;
    // Read back at the raw account: the store key alone.
    let account = key("alpha").to_string();
    let raw_get = format!("raw-get:{account}");
    let read = run(
        Script::new(&service, None, &[raw_get.as_str(), "list", "delete:alpha"]).command(),
        LIMIT,
    )?;
    assert_clean(&read)?;
    let raw = &read.step("raw-get")?.outcome;
    assert!(raw.starts_with("some:{\"server_name\":\"alpha\""), "{raw}");
    assert_eq!(read.step("list")?.outcome, format!("keys:{account}"));
    assert_eq!(read.step("delete")?.outcome, "true");
    Ok(())
}

#[test]
fn an_entry_that_does_not_parse_is_an_error_for_its_key_alone() -> TestResult {
    if !session::available("store::an_entry_that_does_not_parse_is_an_error_for_its_key_alone") {
        return Ok(());
    }
    let service = unique_service("corrupt");
    let bad = format!("raw-set:{HOME_A}/{}={{\"server_name\":7}}", key("broken"));
    let outcome = run(
        Script::new(
            &service,
            Some(HOME_A),
            &[
                "save:alpha",
                bad.as_str(),
                "load:broken",
                "load:alpha",
                "list",
                "delete:broken",
                "delete:alpha",
            ],
        )
        .command(),
        LIMIT,
    )?;
    assert_clean(&outcome)?;
    let broken = outcome.nth("load", 0)?;
    assert_eq!(broken.outcome, "err:corrupt_entry");
    assert!(
        broken.text.contains("field `server_name`"),
        "{}",
        broken.text
    );
    assert!(
        broken.text.contains(&format!("keyring:{service}/")),
        "{}",
        broken.text
    );
    assert_eq!(outcome.nth("load", 1)?.outcome, "some:at-alpha");
    let mut expected = [
        key("alpha").to_string(),
        format!("{}!corrupt_entry", key("broken")),
    ];
    expected.sort();
    assert_eq!(
        outcome.step("list")?.outcome,
        format!("keys:{}", expected.join(","))
    );
    Ok(())
}
