//! Concurrency, atomicity and shutdown.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use oauth_store_testkit::{ClientRegistration, EndpointConfig, Fault};

use crate::util::{Result, agent, post_form_with, start, with_public_grant};

#[test]
fn sixteen_threads_refreshing_distinct_grants_are_all_served() -> Result {
    const THREADS: usize = 16;
    const ROUNDS: usize = 25;
    let endpoint = start(EndpointConfig::default())?;
    endpoint.register_client(ClientRegistration::post("worker", "secret"));
    let url = endpoint.token_endpoint();
    let grants: Vec<_> = (0..THREADS)
        .map(|_| endpoint.issue_grant("worker", &["read"]))
        .collect();
    thread::scope(|scope| -> Result {
        let workers: Vec<_> = grants
            .iter()
            .map(|grant| {
                let url = url.as_str();
                scope.spawn(move || -> std::result::Result<(), String> {
                    let client = agent(Duration::from_secs(30));
                    let mut refresh_token = grant.refresh_token.clone();
                    for _ in 0..ROUNDS {
                        let form = [
                            ("grant_type", "refresh_token"),
                            ("refresh_token", refresh_token.as_str()),
                            ("client_id", "worker"),
                            ("client_secret", "secret"),
                        ];
                        let answer =
                            post_form_with(&client, url, &form, None).map_err(|e| e.to_string())?;
                        if answer.status != 200 {
                            return Err(answer.body);
                        }
                        refresh_token = answer.field("refresh_token").map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| "worker panicked")??;
        }
        Ok(())
    })?;
    let counters = endpoint.counters();
    assert_eq!(counters.refreshes, (THREADS * ROUNDS) as u64);
    assert_eq!((counters.reuse_detections, counters.rejected), (0, 0));
    Ok(())
}

#[test]
fn racing_the_same_refresh_token_lets_exactly_one_win() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    let url = endpoint.token_endpoint();
    let statuses: Vec<u16> = thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let form = [
                        ("grant_type", "refresh_token"),
                        ("refresh_token", grant.refresh_token.as_str()),
                        ("client_id", "cli"),
                    ];
                    post_form_with(&agent(Duration::from_secs(30)), &url, &form, None)
                        .map(|a| a.status)
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|racer| {
                racer
                    .join()
                    .map_err(|_| "racer panicked")?
                    .map_err(Into::into)
            })
            .collect::<Result<_>>()
    })?;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );
    assert!(!endpoint.grant_is_active(&grant.refresh_token));
    // The first replay revokes the grant; the later ones find it revoked.
    let counters = endpoint.counters();
    assert_eq!(
        (
            counters.reuse_detections,
            counters.revoked_grants,
            counters.rejected
        ),
        (1, 1, 7)
    );
    Ok(())
}

#[test]
fn drop_stops_listening_and_releases_waiting_clients() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    endpoint.set_fault(Some(Fault::Slow(Duration::from_secs(30))));
    let url = endpoint.token_endpoint();
    let address = endpoint.issuer().trim_start_matches("http://").to_owned();
    let waiting = thread::spawn(move || {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", grant.refresh_token.as_str()),
            ("client_id", "cli"),
        ];
        post_form_with(&agent(Duration::from_secs(60)), &url, &form, None).map(|a| a.status)
    });
    while endpoint.counters().token_requests == 0 {
        thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    drop(endpoint);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drop waited {:?}",
        started.elapsed()
    );
    let outcome = waiting.join().map_err(|_| "client panicked")?;
    assert!(
        outcome.is_err(),
        "the waiting client sees the connection close: {outcome:?}"
    );
    assert!(
        TcpStream::connect(address).is_err(),
        "nothing listens any more"
    );
    Ok(())
}
