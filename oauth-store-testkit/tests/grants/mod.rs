//! Rotation, reuse detection, revocation and token shapes.

use std::thread;
use std::time::Duration;

use oauth_store_testkit::EndpointConfig;

use crate::util::{Result, post_form, refresh, with_public_grant};

#[test]
fn rotation_answers_a_new_refresh_token_each_time() -> Result {
    let (endpoint, first) = with_public_grant(EndpointConfig::default())?;
    assert!(first.access_token.starts_with("at_") && first.access_token.len() == 35);
    assert!(first.refresh_token.starts_with("rt_") && first.refresh_token.len() == 35);
    assert_eq!((first.expires_in, first.scope.as_str()), (60, "read write"));

    let answer = refresh(&endpoint, &first.refresh_token)?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("Cache-Control"), Some("no-store"));
    let body = answer.json()?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 60);
    assert_eq!(body["scope"], "read write");
    let second = answer.field("refresh_token")?;
    assert_ne!(second, first.refresh_token);
    assert!(endpoint.access_token_is_active(&answer.field("access_token")?));

    let again = refresh(&endpoint, &second)?;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_ne!(again.field("refresh_token")?, second);
    assert_eq!(endpoint.counters().refreshes, 2);
    assert_eq!(endpoint.counters().token_requests, 2);
    Ok(())
}

#[test]
fn reuse_revokes_the_whole_grant_including_the_newest_token() -> Result {
    let (endpoint, first) = with_public_grant(EndpointConfig::default())?;
    let rotated = refresh(&endpoint, &first.refresh_token)?;
    let newest = rotated.field("refresh_token")?;
    let newest_access = rotated.field("access_token")?;

    let replay = refresh(&endpoint, &first.refresh_token)?;
    assert_eq!(
        (replay.status, replay.error()?.as_str()),
        (400, "invalid_grant")
    );
    assert!(!endpoint.grant_is_active(&newest));
    assert!(!endpoint.access_token_is_active(&newest_access));
    assert!(!endpoint.access_token_is_active(&first.access_token));

    let after = refresh(&endpoint, &newest)?;
    assert_eq!(
        (after.status, after.error()?.as_str()),
        (400, "invalid_grant")
    );
    let counters = endpoint.counters();
    assert_eq!(counters.reuse_detections, 1);
    assert_eq!(counters.revoked_grants, 1);
    assert_eq!(counters.rejected, 2);
    assert_eq!(counters.refreshes, 1);
    Ok(())
}

#[test]
fn other_grants_survive_a_reuse() -> Result {
    let (endpoint, first) = with_public_grant(EndpointConfig::default())?;
    let other = endpoint.issue_grant("cli", &["read"]);
    refresh(&endpoint, &first.refresh_token)?;
    refresh(&endpoint, &first.refresh_token)?;
    assert!(endpoint.grant_is_active(&other.refresh_token));
    assert_eq!(refresh(&endpoint, &other.refresh_token)?.status, 200);
    Ok(())
}

#[test]
fn without_reuse_detection_a_replay_is_only_rejected() -> Result {
    let (endpoint, first) =
        with_public_grant(EndpointConfig::default().with_reuse_detection(false))?;
    let newest = refresh(&endpoint, &first.refresh_token)?.field("refresh_token")?;
    let replay = refresh(&endpoint, &first.refresh_token)?;
    assert_eq!(replay.error()?, "invalid_grant");
    assert!(endpoint.grant_is_active(&newest));
    assert_eq!(refresh(&endpoint, &newest)?.status, 200);
    assert_eq!(endpoint.counters().reuse_detections, 0);
    Ok(())
}

#[test]
fn without_rotation_the_refresh_token_stays_and_is_not_answered() -> Result {
    let (endpoint, first) = with_public_grant(EndpointConfig::default().with_rotation(false))?;
    for _ in 0..2 {
        let answer = refresh(&endpoint, &first.refresh_token)?;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.json()?.get("refresh_token").is_none());
    }
    Ok(())
}

#[test]
fn revoking_at_the_provider_rejects_the_grant() -> Result {
    let (endpoint, first) = with_public_grant(EndpointConfig::default())?;
    assert!(endpoint.revoke_grant_of(&first.refresh_token));
    assert!(
        !endpoint.revoke_grant_of(&first.refresh_token),
        "already revoked"
    );
    assert!(!endpoint.grant_is_active(&first.refresh_token));
    assert_eq!(
        refresh(&endpoint, &first.refresh_token)?.error()?,
        "invalid_grant"
    );
    assert_eq!(endpoint.counters().revoked_grants, 1);
    assert!(!endpoint.grant_is_active("rt_unknown"));
    Ok(())
}

#[test]
fn the_revocation_route_revokes_a_refresh_tokens_grant() -> Result {
    let (endpoint, first) = with_public_grant(EndpointConfig::default())?;
    let other = endpoint.issue_grant("cli", &[]);
    let url = endpoint.revocation_endpoint();
    let answer = post_form(&url, &[("token", other.access_token.as_str())], None)?;
    assert_eq!(answer.status, 200);
    assert!(!endpoint.access_token_is_active(&other.access_token));
    assert!(
        endpoint.grant_is_active(&other.refresh_token),
        "an access token goes alone"
    );

    let answer = post_form(&url, &[("token", first.refresh_token.as_str())], None)?;
    assert_eq!(answer.status, 200);
    assert!(!endpoint.grant_is_active(&first.refresh_token));
    assert_eq!(post_form(&url, &[("token", "unknown")], None)?.status, 200);
    let missing = post_form(&url, &[("token_type_hint", "refresh_token")], None)?;
    assert_eq!(
        (missing.status, missing.error()?.as_str()),
        (400, "invalid_request")
    );
    assert_eq!(endpoint.counters().revocations, 4);
    Ok(())
}

#[test]
fn scope_may_narrow_but_not_widen() -> Result {
    let (endpoint, first) = with_public_grant(EndpointConfig::default())?;
    let form = |rt: &str, scope: &'static str| {
        [
            ("grant_type", "refresh_token"),
            ("client_id", "cli"),
            ("scope", scope),
            ("refresh_token", rt),
        ]
        .map(|(k, v)| (k, v.to_owned()))
    };
    let wide = form(&first.refresh_token, "read admin");
    let wide: Vec<(&str, &str)> = wide.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = post_form(&endpoint.token_endpoint(), &wide, None)?;
    assert_eq!(
        (answer.status, answer.error()?.as_str()),
        (400, "invalid_scope")
    );

    let narrow = form(&first.refresh_token, "read");
    let narrow: Vec<(&str, &str)> = narrow.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = post_form(&endpoint.token_endpoint(), &narrow, None)?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.field("scope")?, "read");
    Ok(())
}

#[test]
fn token_prefix_and_lifetime_are_configurable() -> Result {
    let config = EndpointConfig::default()
        .with_token_prefix("SENTINEL-")
        .with_access_token_lifetime(Duration::from_millis(300));
    let (endpoint, first) = with_public_grant(config)?;
    assert!(first.access_token.starts_with("SENTINEL-at_"));
    assert!(first.refresh_token.starts_with("SENTINEL-rt_"));
    assert_eq!(first.expires_in, 1, "whole seconds, at least 1");
    let answer = refresh(&endpoint, &first.refresh_token)?;
    assert!(answer.field("refresh_token")?.starts_with("SENTINEL-rt_"));
    assert_eq!(answer.json()?["expires_in"], 1);

    assert!(endpoint.access_token_is_active(&first.access_token));
    thread::sleep(Duration::from_millis(400));
    assert!(
        !endpoint.access_token_is_active(&first.access_token),
        "expired"
    );
    Ok(())
}

#[test]
fn a_refresh_token_of_another_client_is_rejected() -> Result {
    let (endpoint, _) = with_public_grant(EndpointConfig::default())?;
    endpoint.register_client(oauth_store_testkit::ClientRegistration::public("other"));
    let others = endpoint.issue_grant("other", &[]);
    let answer = refresh(&endpoint, &others.refresh_token)?;
    assert_eq!(answer.error()?, "invalid_grant");
    assert!(endpoint.grant_is_active(&others.refresh_token));
    Ok(())
}
