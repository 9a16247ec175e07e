//! Real processes sharing one home: refresh storms, idle adopters, and login/logout
//! racing refreshes, against the testkit endpoint running in this (parent) process.

use std::time::{Duration, Instant};

use oauth_store::file::FileStore;
use oauth_store::{CredentialStore, OAuthStore, StoreMode};
use oauth_store_core::ExposeSecret;
use oauth_store_testkit::TokenEndpoint;

use crate::support::child::{Storm, spawn_storm, storm_report};
use crate::support::stores::keyring_standin;
use crate::support::{
    CLIENT, SERVER, TestResult, URL, credential_from, endpoint, file_store, now_ms,
};

const LIFETIME: Duration = Duration::from_secs(2);
const STORM_MS: u64 = 6_000;

fn login_fresh(home: &std::path::Path, ep: &TokenEndpoint) -> oauth_store::Credential {
    let tokens = ep.issue_grant(CLIENT, &["mcp"]);
    let credential = credential_from(ep, &tokens, now_ms());
    file_store(home)
        .handle(SERVER, URL)
        .save_grant(credential.clone())
        .expect("login");
    credential
}

fn storm(mode: StoreMode, standin: bool, uncoordinated: bool) -> Storm {
    Storm {
        millis: STORM_MS,
        min_valid_ms: 1_000,
        mode,
        standin,
        uncoordinated,
    }
}

#[test]
fn eight_processes_storm_refreshes_with_zero_reuse_and_about_one_refresh_per_lifetime() -> TestResult
{
    let home = tempfile::tempdir()?;
    let ep = endpoint(LIFETIME);
    login_fresh(home.path(), &ep);
    let children: Vec<_> = (0..8)
        .map(|_| spawn_storm(home.path(), &storm(StoreMode::File, false, false)))
        .collect();
    let reports: Vec<_> = children.into_iter().map(storm_report).collect();
    let counters = ep.counters();
    let calls: u64 = reports.iter().map(|r| r.calls).sum();
    let failed: u64 = reports.iter().map(|r| r.failed()).sum();
    eprintln!("storm: {calls} calls, {failed} failed, {counters:?}");
    assert_eq!(counters.reuse_detections, 0);
    assert_eq!(counters.revoked_grants, 0);
    assert_eq!(failed, 0, "{reports:?}");
    // A token is due 1 s before its 2 s lifetime ends: about one refresh per second,
    // not times the process count.
    let expected = STORM_MS / 1_000;
    assert!(counters.refreshes >= expected / 2, "{counters:?}");
    assert!(
        counters.refreshes <= expected * 2 + 2,
        "refreshes were not shared: {counters:?}"
    );
    Ok(())
}

// Needs the dangerous door; `cargo test --workspace` turns it on through the CLI.
#[cfg(feature = "dangerous-uncoordinated")]
#[test]
fn the_same_storm_uncoordinated_shows_reuse_so_the_test_can_fail() -> TestResult {
    // Probabilistic by nature: a few attempts to see the race.
    for attempt in 0..3 {
        let home = tempfile::tempdir()?;
        let ep = endpoint(LIFETIME);
        login_fresh(home.path(), &ep);
        let children: Vec<_> = (0..8)
            .map(|_| spawn_storm(home.path(), &storm(StoreMode::File, false, true)))
            .collect();
        let reports: Vec<_> = children.into_iter().map(storm_report).collect();
        let counters = ep.counters();
        eprintln!("uncoordinated attempt {attempt}: {counters:?}");
        if counters.reuse_detections > 0 {
            assert!(counters.revoked_grants > 0);
            assert!(
                reports.iter().any(|r| r.failed() > 0),
                "callers saw the revoked grant"
            );
            return Ok(());
        }
    }
    panic!("three uncoordinated storms showed no reuse: the storm does not exercise the race");
}

#[test]
fn processes_pinned_to_file_and_to_a_keyring_standin_share_one_rotation_chain() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(LIFETIME);
    // Start in the keyring stand-in.
    let tokens = ep.issue_grant(CLIENT, &["mcp"]);
    let credential = credential_from(&ep, &tokens, now_ms());
    keyring_standin(home.path()).save(&credential.store_key(), &credential)?;
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mode = if i % 2 == 0 {
                StoreMode::File
            } else {
                StoreMode::Keyring
            };
            spawn_storm(home.path(), &storm(mode, true, false))
        })
        .collect();
    let reports: Vec<_> = children.into_iter().map(storm_report).collect();
    let counters = ep.counters();
    eprintln!("pinned storm: {counters:?}");
    assert_eq!(
        counters.reuse_detections, 0,
        "newest-wins reread kept every process on the chain"
    );
    assert!(reports.iter().all(|r| r.failed() == 0), "{reports:?}");
    assert!(
        counters.refreshes <= (STORM_MS / 1_000) * 2 + 2,
        "{counters:?}"
    );
    Ok(())
}

#[test]
fn an_idle_process_adopts_the_token_others_rotated_instead_of_replaying_its_own() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(LIFETIME);
    let original = login_fresh(home.path(), &ep);
    // This process holds its copy (refresh token R1) and goes idle...
    let idle = file_store(home.path());
    let held = idle.handle(SERVER, URL).load()?.expect("stored");
    assert!(held.same_tokens(&original));
    // ...while another process rotates for a few token lifetimes.
    let other = spawn_storm(
        home.path(),
        &Storm {
            millis: 5_000,
            min_valid_ms: 1_000,
            mode: StoreMode::File,
            standin: false,
            uncoordinated: false,
        },
    );
    let report = storm_report(other);
    assert_eq!(report.failed(), 0);
    let rotations = ep.counters().refreshes;
    assert!(rotations >= 2, "the other process rotated: {rotations}");
    assert!(!ep.grant_is_active("never-a-token"));

    // The idle process wakes up: a 401 for its old access token adopts the stored one.
    let requests = ep.counters().token_requests;
    let adopted = idle
        .handle(SERVER, URL)
        .recover_unauthorized(&held.access_token)?;
    assert!(!adopted.same_tokens(&held));
    assert_eq!(
        ep.counters().token_requests,
        requests,
        "no provider request"
    );
    // And a due refresh uses the stored refresh token, never R1.
    let fresh = idle
        .handle(SERVER, URL)
        .refresh_if_needed(Duration::from_secs(3600))?;
    assert!(ep.access_token_is_active(fresh.access_token.expose_secret()));
    assert_eq!(ep.counters().reuse_detections, 0);
    Ok(())
}

#[test]
fn login_and_logout_racing_refreshes_never_leave_a_mix() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(LIFETIME);
    let first = login_fresh(home.path(), &ep);
    let standin = keyring_standin(home.path());
    let started = Instant::now();
    let children: Vec<_> = (0..6)
        .map(|i| {
            let mode = if i % 2 == 0 {
                StoreMode::File
            } else {
                StoreMode::Keyring
            };
            spawn_storm(
                home.path(),
                &Storm {
                    millis: 7_000,
                    min_valid_ms: 1_000,
                    mode,
                    standin: true,
                    uncoordinated: false,
                },
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2_000));
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .keyring_store(standin.clone())
        .build()?;
    store.handle(SERVER, URL).logout()?;
    let key = first.store_key();
    let file = FileStore::in_home(home.path())?;
    assert!(
        file.load(&key)?.is_none() && standin.load(&key)?.is_none(),
        "nothing remains after logout"
    );
    std::thread::sleep(Duration::from_millis(1_000));
    assert!(
        file.load(&key)?.is_none() && standin.load(&key)?.is_none(),
        "no process wrote it back"
    );
    ep.revoke_grant_of(first.refresh_token.as_ref().expect("rt").expose_secret());

    // A new login (a new grant): every process converges on it.
    let tokens = ep.issue_grant(CLIENT, &["mcp"]);
    let second = credential_from(&ep, &tokens, now_ms());
    store.handle(SERVER, URL).save_grant(second)?;
    let reports: Vec<_> = children.into_iter().map(storm_report).collect();
    assert!(started.elapsed() >= Duration::from_secs(7));
    for report in &reports {
        let last = report
            .extra_str("last_token")
            .expect("each process got tokens");
        assert!(
            ep.access_token_is_active(last),
            "each process ends on the new grant: {report:?}"
        );
        let unexpected: u64 = report
            .failures
            .iter()
            .filter(|(kind, _)| !kind.contains("no credential is stored"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            unexpected, 0,
            "only 'nothing stored' while logged out: {report:?}"
        );
    }
    assert_eq!(ep.counters().reuse_detections, 0);
    Ok(())
}
