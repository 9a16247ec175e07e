//! Client authentication, request validation, resources and discovery.

use oauth_store_testkit::{AuthMethod, ClientRegistration, EndpointConfig};

use crate::util::{Result, get, post_form, start, with_public_grant};

fn refresh_form(refresh_token: &str) -> [(&str, &str); 2] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ]
}

#[test]
fn each_client_authentication_method_is_recognized() -> Result {
    let endpoint = start(EndpointConfig::default())?;
    // Characters that must be form-urlencoded inside HTTP Basic (RFC 6749 section 2.3.1).
    let (basic_id, basic_secret) = ("basic: id", "s&c+r%t=");
    endpoint.register_client(ClientRegistration::public("public"));
    endpoint.register_client(ClientRegistration::basic(basic_id, basic_secret));
    endpoint.register_client(ClientRegistration::post("post", "p&ss word"));
    let url = endpoint.token_endpoint();

    let grant = endpoint.issue_grant("public", &[]);
    let form = [
        refresh_form(&grant.refresh_token).as_slice(),
        &[("client_id", "public")],
    ]
    .concat();
    assert_eq!(post_form(&url, &form, None)?.status, 200);

    let grant = endpoint.issue_grant(basic_id, &[]);
    let answer = post_form(
        &url,
        &refresh_form(&grant.refresh_token),
        Some((basic_id, basic_secret)),
    )?;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let grant = endpoint.issue_grant("post", &[]);
    let credentials = [("client_id", "post"), ("client_secret", "p&ss word")];
    let form = [refresh_form(&grant.refresh_token).as_slice(), &credentials].concat();
    assert_eq!(post_form(&url, &form, None)?.status, 200);

    let seen: Vec<_> = endpoint
        .requests()
        .into_iter()
        .map(|r| (r.auth_method, r.client_id, r.status))
        .collect();
    assert_eq!(
        seen,
        [
            (AuthMethod::None, Some("public".into()), Some(200)),
            (
                AuthMethod::ClientSecretBasic,
                Some(basic_id.into()),
                Some(200)
            ),
            (AuthMethod::ClientSecretPost, Some("post".into()), Some(200)),
        ]
    );
    Ok(())
}

#[test]
fn wrong_credentials_are_invalid_client() -> Result {
    let endpoint = start(EndpointConfig::default())?;
    endpoint.register_client(ClientRegistration::basic("basic", "right"));
    endpoint.register_client(ClientRegistration::post("post", "right"));
    let url = endpoint.token_endpoint();
    let basic = endpoint.issue_grant("basic", &[]);
    let post = endpoint.issue_grant("post", &[]);

    let answer = post_form(
        &url,
        &refresh_form(&basic.refresh_token),
        Some(("basic", "wrong")),
    )?;
    assert_eq!(
        (answer.status, answer.error()?.as_str()),
        (401, "invalid_client")
    );
    assert!(answer.header("WWW-Authenticate").is_some());

    let wrong_secret = [("client_id", "post"), ("client_secret", "wrong")];
    let form = [refresh_form(&post.refresh_token).as_slice(), &wrong_secret].concat();
    assert_eq!(post_form(&url, &form, None)?.error()?, "invalid_client");

    // Another method than the registered one, even with the right secret.
    let answer = post_form(
        &url,
        &refresh_form(&post.refresh_token),
        Some(("post", "right")),
    )?;
    assert_eq!(
        (answer.status, answer.error()?.as_str()),
        (401, "invalid_client")
    );

    let unknown = [
        refresh_form(&post.refresh_token).as_slice(),
        &[("client_id", "nobody")],
    ]
    .concat();
    assert_eq!(post_form(&url, &unknown, None)?.error()?, "invalid_client");
    let anonymous = post_form(&url, &refresh_form(&post.refresh_token), None)?;
    assert_eq!(anonymous.error()?, "invalid_client");

    // Nothing was consumed by the failed attempts.
    assert_eq!(
        post_form(
            &url,
            &refresh_form(&basic.refresh_token),
            Some(("basic", "right"))
        )?
        .status,
        200
    );
    assert_eq!(endpoint.counters().refreshes, 1);
    Ok(())
}

#[test]
fn two_authentication_methods_at_once_are_invalid_request() -> Result {
    let endpoint = start(EndpointConfig::default())?;
    endpoint.register_client(ClientRegistration::basic("basic", "right"));
    let grant = endpoint.issue_grant("basic", &[]);
    let form = [
        refresh_form(&grant.refresh_token).as_slice(),
        &[("client_secret", "right")],
    ]
    .concat();
    let answer = post_form(&endpoint.token_endpoint(), &form, Some(("basic", "right")))?;
    assert_eq!(
        (answer.status, answer.error()?.as_str()),
        (400, "invalid_request")
    );
    Ok(())
}

#[test]
fn malformed_requests_are_rejected_with_their_rfc_6749_code() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    let url = endpoint.token_endpoint();
    let rt = grant.refresh_token.as_str();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("refresh_token", rt), ("client_id", "cli")],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", "cli"),
            ],
            "unsupported_grant_type",
        ),
        (
            &[("grant_type", "refresh_token"), ("client_id", "cli")],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("refresh_token", rt),
                ("client_id", "cli"),
            ],
            "invalid_request",
        ),
    ];
    for (form, code) in cases {
        let answer = post_form(&url, form, None)?;
        assert_eq!(
            (answer.status, answer.error()?.as_str()),
            (400, code),
            "{form:?}"
        );
        assert!(answer.json()?["error_description"].is_string());
    }

    let json =
        format!(r#"{{"grant_type":"refresh_token","refresh_token":"{rt}","client_id":"cli"}}"#);
    let response = crate::util::agent(std::time::Duration::from_secs(10))
        .post(&url)
        .content_type("application/json")
        .send(json.as_str())?;
    let answer = crate::util::read(response)?;
    assert_eq!(answer.error()?, "invalid_request");
    assert!(endpoint.grant_is_active(rt));
    assert_eq!(endpoint.counters().rejected, 0);
    Ok(())
}

#[test]
fn resources_are_recorded_in_order() -> Result {
    let (endpoint, grant) = with_public_grant(EndpointConfig::default())?;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", grant.refresh_token.as_str()),
        ("client_id", "cli"),
        ("resource", "https://mcp.example.test/a"),
        ("resource", "https://mcp.example.test/b"),
        ("scope", "read"),
    ];
    assert_eq!(
        post_form(&endpoint.token_endpoint(), &form, None)?.status,
        200
    );
    let recorded = endpoint.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].resources,
        ["https://mcp.example.test/a", "https://mcp.example.test/b"]
    );
    assert_eq!(recorded[0].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(recorded[0].scope.as_deref(), Some("read"));
    assert_eq!(
        recorded[0].refresh_token.as_deref(),
        Some(grant.refresh_token.as_str())
    );
    assert!(recorded[0].at_ms > 1_600_000_000_000);
    assert!(
        !format!("{:?}", recorded[0]).contains(&grant.refresh_token),
        "Debug redacts"
    );
    Ok(())
}

#[test]
fn a_required_resource_must_be_the_only_one() -> Result {
    let resource = "https://mcp.example.test/";
    let (endpoint, grant) =
        with_public_grant(EndpointConfig::default().with_required_resource(resource))?;
    let url = endpoint.token_endpoint();
    let base = [
        ("grant_type", "refresh_token"),
        ("refresh_token", grant.refresh_token.as_str()),
        ("client_id", "cli"),
    ];
    for extra in [
        &[][..],
        &[("resource", "https://other.test/")],
        &[("resource", resource), ("resource", "https://other.test/")],
    ] {
        let answer = post_form(&url, &[base.as_slice(), extra].concat(), None)?;
        assert_eq!(
            (answer.status, answer.error()?.as_str()),
            (400, "invalid_target"),
            "{extra:?}"
        );
    }
    let answer = post_form(
        &url,
        &[base.as_slice(), &[("resource", resource)]].concat(),
        None,
    )?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Ok(())
}

#[test]
fn discovery_names_the_token_endpoint() -> Result {
    let endpoint = start(EndpointConfig::default())?;
    assert!(endpoint.issuer().starts_with("http://127.0.0.1:"));
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let answer = get(&format!("{}{path}", endpoint.issuer()))?;
        assert_eq!(answer.status, 200);
        let document = answer.json()?;
        assert_eq!(document["issuer"], endpoint.issuer());
        assert_eq!(document["token_endpoint"], endpoint.token_endpoint());
        assert_eq!(
            document["revocation_endpoint"],
            endpoint.revocation_endpoint()
        );
        assert_eq!(
            document["grant_types_supported"],
            serde_json::json!(["refresh_token"])
        );
        let methods = &document["token_endpoint_auth_methods_supported"];
        assert_eq!(
            *methods,
            serde_json::json!(["none", "client_secret_basic", "client_secret_post"])
        );
    }
    assert_eq!(endpoint.counters().discovery_requests, 2);
    assert_eq!(endpoint.counters().token_requests, 0);
    Ok(())
}

#[test]
fn unknown_routes_and_methods() -> Result {
    let endpoint = start(EndpointConfig::default())?;
    assert_eq!(get(&format!("{}/nothing", endpoint.issuer()))?.status, 404);
    assert_eq!(get(&endpoint.token_endpoint())?.status, 405);
    Ok(())
}
