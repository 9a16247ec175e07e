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
    let before = tree(home.path());
    let out = home.run(&["doctor"]).expect(0);
    assert_eq!(tree(home.path()), before, "doctor created nothing");
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

/// Every path under `dir`, to compare before and after.
fn tree(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push(entry.path());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(tree(&entry.path()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_missing_home_is_said_and_not_created() -> Result {
    let home = Home::new();
    let out = home.run(&["doctor"]).expect(0);
    assert!(
        out.stdout.contains("does not exist yet") && out.stdout.contains("healthy"),
        "{}",
        out.stdout
    );
    assert!(!home.path().exists(), "doctor created the home");
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["home_exists"], false);
    assert_eq!(report["credentials"], serde_json::json!([]));
    assert!(!home.path().exists());
    Ok(())
}

#[test]
fn a_home_that_is_a_file_is_a_problem_not_an_error() -> Result {
    let home = Home::new();
    std::fs::write(home.path(), b"not a directory")?;
    let out = home.run(&["doctor"]).expect(6);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("problem: home: ") && l.contains("is a regular file")),
        "{}",
        out.stdout
    );
    assert_eq!(out.stderr, "");
    let report = home.run(&["doctor", "--json"]).expect(6).json();
    assert_eq!(report["healthy"], false);
    assert_eq!(std::fs::read(home.path())?, b"not a directory");
    Ok(())
}

#[test]
fn a_broken_lock_directory_is_a_problem_and_nothing_is_made() -> Result {
    for broken in ["symlink", "file"] {
        let home = imported();
        let locks = home.path().join("mcp-oauth-locks");
        std::fs::remove_dir_all(&locks)?;
        let elsewhere = tempfile::tempdir()?;
        match broken {
            "symlink" => std::os::unix::fs::symlink(elsewhere.path(), &locks)?,
            _ => std::fs::write(&locks, b"")?,
        }
        let before = tree(home.path());
        let out = home.run(&["doctor"]).expect(6);
        assert!(
            out.stdout.lines().any(|l| l.starts_with("problem: ")
                && l.contains("mcp-oauth-locks")
                && l.contains(if broken == "symlink" {
                    "a symlink"
                } else {
                    "a regular file"
                })),
            "{broken}: {}",
            out.stdout
        );
        // The credential is still reported, read without a lock directory.
        assert!(out.stdout.contains(SERVER_KEY), "{}", out.stdout);
        assert_eq!(
            tree(home.path()),
            before,
            "{broken}: doctor changed the home"
        );
        assert_eq!(tree(elsewhere.path()), Vec::<std::path::PathBuf>::new());
        // Every other command refuses it (exit 4), and follows nothing.
        home.run(&["list"]).expect(4);
        assert_eq!(tree(elsewhere.path()), Vec::<std::path::PathBuf>::new());
    }
    Ok(())
}

#[test]
fn a_home_without_a_lock_directory_is_read_without_making_one() -> Result {
    let home = imported();
    std::fs::remove_dir_all(home.path().join("mcp-oauth-locks"))?;
    let before = tree(home.path());
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["credentials"][0]["store_key"], SERVER_KEY);
    assert_eq!(report["credentials"][0]["store"], "file");
    assert_eq!(report["lock_dir_exists"], false);
    assert_eq!(tree(home.path()), before);
    Ok(())
}

#[test]
fn the_record_of_a_secrets_save_says_secrets() -> Result {
    use oauth_store::drift::DriftSidecar;
    use oauth_store::{KeyringBackend, ResolutionReason, StoreKind, StoreMode};

    let home = imported();
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let sidecar = DriftSidecar::new(
        home.path().join(".mcp-oauth-store-resolutions.json"),
        LockDir::open(home.path().join("mcp-oauth-locks"))?,
    );
    sidecar.record(
        &key,
        StoreMode::Secrets,
        KeyringBackend::Direct,
        StoreKind::Secrets,
        ResolutionReason::ConfiguredSave,
    );
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["credentials"][0]["recorded_store"], "secrets");
    let out = home.run(&["doctor"]).expect(0);
    assert!(
        out.stdout.contains("recorded: secrets (configured_save)"),
        "{}",
        out.stdout
    );
    Ok(())
}

#[test]
fn a_foreign_owner_is_one_problem() -> Result {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        eprintln!(
            "SKIPPED: a_foreign_owner_is_one_problem needs root (chown); run the tests as root in a container"
        );
        return Ok(());
    }
    let home = imported();
    std::os::unix::fs::chown(home.document(), Some(4242), None)?;
    let report = home.run(&["doctor", "--json"]).expect(6).json();
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| p.contains("uid 4242"))
        .collect();
    assert_eq!(problems.len(), 1, "{report}");
    let out = home.run(&["doctor"]).expect(6);
    assert!(
        out.stdout.contains("credentials: 0 listed; the file "),
        "not a bare `credentials: 0`: {}",
        out.stdout
    );
    Ok(())
}

#[test]
fn a_newline_in_the_home_forges_no_line() -> Result {
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("h\nproblem: forged\nhealthy");
    let out = crate::util::run(&[
        "--home",
        home.to_str().expect("utf-8"),
        "--store",
        "file",
        "doctor",
    ])
    .expect(0);
    assert!(
        !out.stdout
            .lines()
            .any(|l| l == "problem: forged" || l == "healthy\u{1b}"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.lines().filter(|l| *l == "healthy").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("h\\nproblem: forged\\nhealthy"),
        "{}",
        out.stdout
    );
    Ok(())
}
