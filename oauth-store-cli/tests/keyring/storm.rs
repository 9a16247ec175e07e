//! Many processes share one rotating credential in the keyring, and a process without
//! the bus never replays a credential that moved there.

use std::time::{Duration, Instant};

use crate::support::{Home, Provider, Result, session, with};

/// 8 loops of `oauth-store --store keyring token --min-valid 1`, each call a new
/// process, for about 8 s against a provider whose access tokens live 2 s and whose
/// refresh tokens rotate (a used one revokes the grant): no refresh token is ever
/// presented twice.
#[test]
fn a_token_storm_in_the_keyring_never_reuses_a_refresh_token() -> Result {
    if !session("a_token_storm_in_the_keyring_never_reuses_a_refresh_token") {
        return Ok(());
    }
    let provider = Provider::start(Duration::from_secs(2), "storm");
    let home = Home::new("keyring");
    provider.import(&home, None);
    let deadline = Instant::now() + Duration::from_secs(8);
    let args = with(&["token", "--min-valid", "1"], &provider.server());
    let results: Vec<(u64, Vec<String>, Vec<Duration>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let (mut calls, mut failures, mut took) = (0u64, Vec::new(), Vec::new());
                    while Instant::now() < deadline {
                        let out = home.run(&args);
                        calls += 1;
                        took.push(out.took);
                        if out.code != 0 || !out.stdout.starts_with("storm") {
                            failures.push(format!("exit {}: {}", out.code, out.stderr.trim()));
                        }
                    }
                    (calls, failures, took)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a storm loop panicked"))
            .collect()
    });
    let calls: u64 = results.iter().map(|r| r.0).sum();
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.1).collect();
    let mut took: Vec<Duration> = results.iter().flat_map(|r| r.2.iter().copied()).collect();
    took.sort();
    let counters = provider.endpoint.counters();
    eprintln!(
        "keyring storm: 8 loops, {calls} processes, {} refreshes, {} reuse detections, {} failures, p50 {:?}, p99 {:?} per process",
        counters.refreshes,
        counters.reuse_detections,
        failures.len(),
        took[took.len() / 2],
        took[took.len() * 99 / 100]
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(counters.reuse_detections, 0);
    assert_eq!(counters.revoked_grants, 0);
    assert!(counters.refreshes >= 2, "{counters:?}");
    assert!(calls >= 16, "{calls} calls");
    // The last token served is still good.
    let last = home.run(&args).expect(0);
    assert!(
        provider
            .endpoint
            .access_token_is_active(last.stdout.trim_end()),
        "{}",
        last.stdout
    );
    Ok(())
}

/// A credential moved from the File store to the keyring: a process without the bus,
/// pinned to the File store, finds nothing to refresh with, instead of replaying the
/// refresh token it could still see before the move.
#[test]
fn a_process_without_the_bus_never_replays_a_moved_credential() -> Result {
    if !session("a_process_without_the_bus_never_replays_a_moved_credential") {
        return Ok(());
    }
    let provider = Provider::start(Duration::from_secs(2), "moved");
    let mut home = Home::new("file");
    // Due at once: any token call would refresh.
    provider.import(&home, Some(1));
    home.run(&["migrate", "--to", "keyring"]).expect(0);
    assert!(home.file_keys().is_empty());

    let no_bus = home.no_bus();
    let token = with(&["token", "--min-valid", "30"], &provider.server());
    for store in ["file", "auto"] {
        home.options[1] = store.into();
        let out = home.run_on(&no_bus, &token).expect(3);
        assert!(
            out.stderr
                .contains("authorization required: no credential is stored"),
            "--store {store}: {}",
            out.stderr
        );
    }
    let counters = provider.endpoint.counters();
    assert_eq!(
        counters.token_requests, 0,
        "no refresh from the no-bus process"
    );

    // Where the keyring is reachable, the credential refreshes once, with its own token.
    home.options[1] = "keyring".into();
    home.run(&token).expect(0);
    home.options[1] = "file".into();
    home.run_on(&no_bus, &token).expect(3);
    let counters = provider.endpoint.counters();
    assert_eq!(counters.refreshes, 1, "{counters:?}");
    assert_eq!(counters.reuse_detections, 0);
    assert_eq!(counters.revoked_grants, 0);
    Ok(())
}
