//! Scripted answers: status, headers, body and delay per path, counted, for a number of
//! requests or until removed; the grants are untouched.

use std::time::{Duration, Instant};

use oauth_store_testkit::{EndpointConfig, ScriptedAnswer};

use crate::util::{Result, agent, get, post_form_with, refresh, with_public_grant};

#[test]
fn a_scripted_path_answers_as_scripted_and_leaves_the_grants_alone() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    endpoint.script(
        "/token",
        ScriptedAnswer::json(
            200,
            &serde_json::json!({"access_token": "scripted", "expires_at": 1}),
        )
        .header("X-Hostile", "yes"),
    );
    let answer = refresh(&endpoint, &grant.refresh_token)?;
    assert_eq!(
        (answer.status, answer.field("access_token")?),
        (200, "scripted".to_owned())
    );
    assert_eq!(answer.header("X-Hostile"), Some("yes"));
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
    assert_eq!(endpoint.counters().token_requests, 0, "not processed");

    endpoint.unscript("/token");
    let answer = refresh(&endpoint, &grant.refresh_token)?;
    assert_eq!(
        answer.status, 200,
        "the grant is as it was: {}",
        answer.body
    );
    assert_eq!(endpoint.hits("/token"), 2);
    Ok(())
}

#[test]
fn a_script_for_some_requests_then_usual_answers_on_any_path() -> Result {
    let (endpoint, _) = with_public_grant(EndpointConfig::default())?;
    let path = "/.well-known/oauth-authorization-server";
    endpoint.script(path, ScriptedAnswer::new(503, "down").times(2));
    let url = format!("{}{path}", endpoint.issuer());
    assert_eq!(get(&url)?.status, 503);
    assert_eq!(get(&url)?.status, 503);
    assert_eq!(get(&url)?.status, 200, "two times only");
    assert_eq!(endpoint.hits(path), 3);

    endpoint.script("/anything/else", ScriptedAnswer::new(418, "teapot"));
    let answer = get(&format!("{}/anything/else?q=1", endpoint.issuer()))?;
    assert_eq!((answer.status, answer.body.as_str()), (418, "teapot"));
    assert_eq!(endpoint.hits("/anything/else"), 1);
    Ok(())
}

#[test]
fn a_delayed_answer_outlasts_a_short_client_and_the_endpoint_stops_at_once() -> Result {
    let (endpoint, _) = with_public_grant(EndpointConfig::default())?;
    endpoint.script(
        "/revoke",
        ScriptedAnswer::new(200, "").delay(Duration::from_secs(600)),
    );
    let started = Instant::now();
    let quick = agent(Duration::from_millis(300));
    let url = endpoint.revocation_endpoint();
    assert!(post_form_with(&quick, &url, &[("token", "t")], None).is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    let stopping = Instant::now();
    drop(endpoint);
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "the delay ends with the endpoint"
    );
    Ok(())
}
