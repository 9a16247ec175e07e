//! `doctor`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use oauth_store::compute_store_key;
use oauth_store::lock::{LockDir, LockScope, LockTarget};

use crate::util::{Home, Result, SERVER, SERVER_KEY, with};

fn imported() -> Home {
    let home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-1","expires_in":600}"#,
    )
    .expect(0);
    home
}

#[test]
fn a_healthy_home_is_exit_0() -> Result {
    let home = imported();
    let out = home.run(&["doctor"]).expect(0);
    assert!(out.stdout.contains("healthy"), "{}", out.stdout);
    assert!(
        out.stdout.contains(SERVER_KEY) && out.stdout.contains("configured_load"),
        "{}",
        out.stdout
    );
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["healthy"], true);
    assert_eq!(report["layout"], "default");
    assert_eq!(report["mode"], "file");
    assert_eq!(report["network_filesystem"], false);
    assert_eq!(report["credentials"][0]["store_key"], SERVER_KEY);
    assert_eq!(report["credentials"][0]["store"], "file");
    assert_eq!(report["credentials"][0]["reason"], "configured_load");
    assert_eq!(report["problems"], serde_json::json!([]));
    Ok(())
}

#[test]
fn auto_says_why_it_resolved_to_the_file_store() -> Result {
    let mut home = imported();
    home.options = vec!["--store".into(), "auto".into()];
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["mode"], "auto");
    assert_eq!(
        report["credentials"][0]["reason"],
        "auto_load_file_keyring_error"
    );
    Ok(())
}

#[test]
fn loose_permissions_are_exit_6() -> Result {
    let home = imported();
    std::fs::set_permissions(home.document(), std::fs::Permissions::from_mode(0o644))?;
    let out = home.run(&["doctor"]).expect(6);
    assert!(
        out.stdout.contains("0644") && out.stdout.contains("problem found"),
        "{}",
        out.stdout
    );
    std::fs::set_permissions(home.document(), std::fs::Permissions::from_mode(0o600))?;
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755))?;
    let report = home.run(&["doctor", "--json"]).expect(6).json();
    assert_eq!(report["healthy"], false);
    assert!(
        report["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("0755")),
        "{report}"
    );
    Ok(())
}

#[test]
fn a_corrupt_document_is_exit_6() -> Result {
    let home = imported();
    std::fs::write(home.document(), "{\"broken")?;
    let out = home.run(&["doctor"]).expect(6);
    assert!(out.stdout.contains("oauth-store repair"), "{}", out.stdout);
    Ok(())
}

#[test]
fn shows_the_live_holder_of_a_lock() -> Result {
    let home = imported();
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
    let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
    let guard = locks.acquire(&LockScope::new(), &target, Duration::from_secs(5))?;
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    drop(guard);
    let lock = report["locks"]
        .as_array()
        .and_then(|l| {
            l.iter().find(|l| {
                l["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&key.credential_lock_file_name()))
            })
        })
        .expect("the credential lock is listed")
        .clone();
    assert_eq!(lock["holder_pid"], std::process::id());
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert!(
        report["locks"]
            .as_array()
            .expect("locks")
            .iter()
            .all(|l| l["holder_pid"].is_null())
    );
    Ok(())
}

#[test]
fn reports_recorded_drift() -> Result {
    use oauth_store::drift::DriftSidecar;
    use oauth_store::{KeyringBackend, ResolutionReason, StoreKind, StoreMode};

    let mut home = imported();
    home.options = vec!["--store".into(), "auto".into()];
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let sidecar = DriftSidecar::new(
        home.path().join(".mcp-oauth-store-resolutions.json"),
        LockDir::open(home.path().join("mcp-oauth-locks"))?,
    );
    let (auto, direct) = (StoreMode::Auto, KeyringBackend::Direct);
    sidecar.record(
        &key,
        auto,
        direct,
        StoreKind::Keyring,
        ResolutionReason::AutoLoadKeyring,
    );
    sidecar.record(
        &key,
        auto,
        direct,
        StoreKind::File,
        ResolutionReason::AutoLoadFileKeyringError,
    );
    let before = std::fs::read(home.path().join(".mcp-oauth-store-resolutions.json"))?;

    let report = home.run(&["doctor", "--json"]).expect(6).json();
    let credential = &report["credentials"][0];
    assert_eq!(credential["drift"], true);
    assert_eq!(credential["recorded_store"], "file");
    assert!(report["problems"].to_string().contains("drift"), "{report}");
    let out = home.run(&["doctor"]).expect(6);
    assert!(out.stdout.contains("DRIFTED"), "{}", out.stdout);
    assert_eq!(
        std::fs::read(home.path().join(".mcp-oauth-store-resolutions.json"))?,
        before,
        "doctor changes nothing"
    );
    Ok(())
}

#[test]
fn warns_before_auto_resolves_elsewhere_than_last_time() -> Result {
    // The Codex fixture recorded `notion` in the keyring under auto; without a session
    // bus the keyring cannot be used, so auto resolves it to the File store now.
    let mut home = Home::codex();
    home.options = vec![
        "--layout".into(),
        "codex".into(),
        "--store".into(),
        "auto".into(),
    ];
    let report = home.run(&["doctor", "--json"]).expect(6).json();
    assert!(
        report["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| {
                p.as_str().is_some_and(|p| {
                    p.starts_with("notion|eac663db915250e7: resolves to file")
                        && p.contains("keyring")
                })
            }),
        "{report}"
    );
    Ok(())
}

#[test]
fn an_unusable_keyring_is_a_note_unless_the_store_needs_it() -> Result {
    let mut home = imported();
    for (store, healthy) in [
        ("file", true),
        ("auto", true),
        ("keyring", false),
        ("secrets", false),
    ] {
        home.options = vec!["--store".into(), store.into()];
        let report = home
            .run(&["doctor", "--json"])
            .expect(if healthy { 0 } else { 6 })
            .json();
        assert_eq!(report["keyring"]["usable"], false, "{report}");
        assert_eq!(report["keyring"]["state"], "no_session_bus");
        assert_eq!(report["secrets"]["document_present"], false);
        assert_eq!(report["secrets"]["key"], "unreadable");
        let said = |list: &str| {
            report[list]
                .as_array()
                .expect(list)
                .iter()
                .filter(|p| {
                    p.as_str()
                        .is_some_and(|p| p.contains("no D-Bus session bus"))
                })
                .count()
        };
        if healthy {
            assert_eq!(
                (said("notes"), said("problems")),
                (1, 0),
                "{store}: {report}"
            );
        } else {
            // Once, not once more per credential or for the Secrets key.
            assert_eq!(
                (said("notes"), said("problems")),
                (0, 1),
                "{store}: {report}"
            );
        }
        let text = home
            .run(&["doctor"])
            .expect(if healthy { 0 } else { 6 })
            .stdout;
        assert!(
            text.contains("keyring: NOT usable") && text.contains("secrets store: "),
            "{text}"
        );
    }
    Ok(())
}
