//! Each injected fault answers as documented, and only token requests see it.

use std::time::{Duration, Instant};

use oauth_store_testkit::{EndpointConfig, Fault};

use crate::util::{Result, agent, post_form_with, refresh, with_public_grant};

fn form(refresh_token: &str) -> [(&str, &str); 3] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "cli"),
    ]
}

#[test]
fn unreachable_closes_the_connection_unanswered_and_changes_nothing() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    let client = agent(Duration::from_secs(10));
    // A pooled keep-alive connection must be cut too, not left hanging.
    let discovery = format!(
        "{}/.well-known/oauth-authorization-server",
        endpoint.issuer()
    );
    assert_eq!(
        crate::util::read(client.get(&discovery).call()?)?.status,
        200
    );

    endpoint.set_fault(Some(Fault::Unreachable));
    for _ in 0..2 {
        let outcome = post_form_with(
            &client,
            &endpoint.token_endpoint(),
            &form(&grant.refresh_token),
            None,
        );
        assert!(
            outcome.is_err(),
            "no answer expected, got {}",
            outcome.map(|a| a.status).unwrap_or(0)
        );
    }
    assert_eq!(
        crate::util::read(client.get(&discovery).call()?)?.status,
        200,
        "discovery unaffected"
    );

    endpoint.set_fault(None);
    let answer = post_form_with(
        &client,
        &endpoint.token_endpoint(),
        &form(&grant.refresh_token),
        None,
    )?;
    assert_eq!(answer.status, 200, "the refresh token was not consumed");
    let recorded = endpoint.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(
        (recorded[0].status, recorded[0].fault),
        (None, Some(Fault::Unreachable))
    );
    assert_eq!((recorded[2].status, recorded[2].fault), (Some(200), None));
    let counters = endpoint.counters();
    assert_eq!(
        (
            counters.token_requests,
            counters.faults_injected,
            counters.refreshes
        ),
        (3, 2, 1)
    );
    Ok(())
}

#[test]
fn status_faults_answer_without_processing() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    endpoint.set_fault(Some(Fault::Status500));
    assert_eq!(refresh(&endpoint, &grant.refresh_token)?.status, 500);
    endpoint.set_fault(Some(Fault::Status429));
    let answer = refresh(&endpoint, &grant.refresh_token)?;
    assert_eq!(
        (answer.status, answer.header("Retry-After")),
        (429, Some("1"))
    );
    endpoint.set_fault(None);
    assert_eq!(refresh(&endpoint, &grant.refresh_token)?.status, 200);
    assert_eq!(endpoint.counters().faults_injected, 2);
    Ok(())
}

#[test]
fn a_counted_fault_stops_by_itself() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    endpoint.set_fault_times(Fault::Status500, 2);
    let statuses: Vec<u16> = (0..3)
        .map(|_| refresh(&endpoint, &grant.refresh_token).map(|a| a.status))
        .collect::<Result<_>>()?;
    assert_eq!(statuses, [500, 500, 200]);
    endpoint.set_fault_times(Fault::Status500, 0);
    let next = endpoint.issue_grant("cli", &[]);
    assert_eq!(
        refresh(&endpoint, &next.refresh_token)?.status,
        200,
        "zero times is no fault"
    );
    Ok(())
}

#[test]
fn injected_oauth_errors_leave_the_grant_alone() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    endpoint.set_fault_times(Fault::InvalidGrant, 1);
    let answer = refresh(&endpoint, &grant.refresh_token)?;
    assert_eq!(
        (answer.status, answer.error()?.as_str()),
        (400, "invalid_grant")
    );
    endpoint.set_fault_times(Fault::InvalidClient, 1);
    let answer = refresh(&endpoint, &grant.refresh_token)?;
    assert_eq!(
        (answer.status, answer.error()?.as_str()),
        (401, "invalid_client")
    );
    assert!(endpoint.grant_is_active(&grant.refresh_token));
    assert_eq!(refresh(&endpoint, &grant.refresh_token)?.status, 200);
    let counters = endpoint.counters();
    assert_eq!(
        (
            counters.rejected,
            counters.faults_injected,
            counters.reuse_detections
        ),
        (1, 2, 0)
    );
    Ok(())
}

#[test]
fn slow_processes_first_so_a_client_that_gives_up_has_lost_the_rotation() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    endpoint.set_fault(Some(Fault::Slow(Duration::from_millis(300))));
    let started = Instant::now();
    let answer = refresh(&endpoint, &grant.refresh_token)?;
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let impatient = agent(Duration::from_millis(100));
    let rotated = answer.field("refresh_token")?;
    let outcome = post_form_with(
        &impatient,
        &endpoint.token_endpoint(),
        &form(&rotated),
        None,
    );
    assert!(outcome.is_err(), "the client timed out");
    endpoint.set_fault(None);
    // The provider rotated anyway: presenting the same token again is reuse.
    assert_eq!(refresh(&endpoint, &rotated)?.error()?, "invalid_grant");
    assert_eq!(endpoint.counters().reuse_detections, 1);
    Ok(())
}

#[test]
fn unparsable_success_holds_the_new_tokens_but_is_not_json() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    endpoint.set_fault_times(Fault::UnparsableSuccess, 1);
    let answer = refresh(&endpoint, &grant.refresh_token)?;
    assert_eq!(answer.status, 200);
    assert!(answer.json().is_err(), "{}", answer.body);
    let key = r#""refresh_token":""#;
    let start = answer
        .body
        .find(key)
        .ok_or("no refresh_token in the body")?
        + key.len();
    let rotated = answer.body.get(start..start + 35).ok_or("short body")?;
    assert!(rotated.starts_with("rt_"));
    assert!(answer.body.contains(r#""access_token":"at_"#));
    assert_eq!(endpoint.counters().refreshes, 1);
    assert_eq!(
        refresh(&endpoint, rotated)?.status,
        200,
        "the garbled answer's token is valid"
    );
    Ok(())
}
