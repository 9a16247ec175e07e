//! `import`.

use std::os::unix::fs::PermissionsExt;

use crate::util::{Home, Result, SERVER, SERVER_KEY, with};

fn document(home: &Home) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&std::fs::read_to_string(
        home.document(),
    )?)?)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

#[test]
fn maps_every_field_and_keeps_the_others() -> Result {
    let home = Home::new();
    let before = now_ms();
    let response = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1",
        "scope":"read write","client_id":"client-1","client_secret":"cs-1",
        "token_endpoint_auth_method":"client_secret_post","issuer":"https://auth.example",
        "token_endpoint":"https://auth.example/token","id_token":"idt","x_extra":{"nested":[1,2]}}"#;
    let out = home
        .run_with_stdin(&with(&["import"], &SERVER), response)
        .expect(0);
    assert!(out.stdout.contains(SERVER_KEY), "{}", out.stdout);
    let record = &document(&home)?[SERVER_KEY];
    assert_eq!(record["server_name"], "notion");
    assert_eq!(record["server_url"], "https://mcp.notion.com/mcp");
    assert_eq!(record["access_token"], "at-1");
    assert_eq!(record["refresh_token"], "rt-1");
    assert_eq!(record["token_type"], "Bearer");
    assert_eq!(record["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(record["client_id"], "client-1");
    assert_eq!(record["client_secret"], "cs-1");
    assert_eq!(record["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(record["issuer"], "https://auth.example");
    assert_eq!(record["token_endpoint"], "https://auth.example/token");
    assert_eq!(record["id_token"], "idt");
    assert_eq!(record["x_extra"], serde_json::json!({"nested": [1, 2]}));
    let expires_at = record["expires_at"].as_u64().expect("expires_at");
    assert!(expires_at >= before + 3_600_000 && expires_at <= now_ms() + 3_600_000);
    let mode = std::fs::metadata(home.document())?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    Ok(())
}

#[test]
fn reads_a_file_or_standard_input() -> Result {
    let home = Home::new();
    let file = home.path().with_file_name("response.json");
    std::fs::write(&file, r#"{"access_token":"from-file"}"#)?;
    home.run(&with(
        &["import"],
        &with(&SERVER, &["--from", file.to_str().expect("utf-8")]),
    ))
    .expect(0);
    assert_eq!(document(&home)?[SERVER_KEY]["access_token"], "from-file");
    home.run_with_stdin(
        &with(&["import", "--from", "-"], &SERVER),
        r#"{"access_token":"from-dash"}"#,
    )
    .expect(0);
    assert_eq!(document(&home)?[SERVER_KEY]["access_token"], "from-dash");
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"from-stdin"}"#,
    )
    .expect(0);
    let record = &document(&home)?[SERVER_KEY];
    assert_eq!(record["access_token"], "from-stdin");
    assert_eq!(
        record["expires_at"],
        serde_json::Value::Null,
        "no expires_in: unknown expiry"
    );
    Ok(())
}

#[test]
fn replaces_the_stored_credential() -> Result {
    let home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-1","refresh_token":"rt-1","scope":"a b","x_old":1}"#,
    )
    .expect(0);
    let out = home
        .run_with_stdin(
            &with(&["import", "--json"], &SERVER),
            r#"{"access_token":"at-2"}"#,
        )
        .expect(0);
    assert_eq!(out.json()["replaced"], true);
    let record = &document(&home)?[SERVER_KEY];
    assert_eq!(record["access_token"], "at-2");
    assert_eq!(record["refresh_token"], serde_json::Value::Null);
    assert_eq!(record["scopes"], serde_json::json!([]));
    assert!(record.get("x_old").is_none());
    Ok(())
}

#[test]
fn keeps_the_client_secret_for_the_same_client_only() -> Result {
    let home = Home::new();
    let first = r#"{"access_token":"at-1","client_id":"c1","client_secret":"cs-1","token_endpoint_auth_method":"client_secret_post"}"#;
    home.run_with_stdin(&with(&["import"], &SERVER), first)
        .expect(0);

    // Same client_id, secret omitted: kept.
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-2","client_id":"c1"}"#,
    )
    .expect(0);
    let record = &document(&home)?[SERVER_KEY];
    assert_eq!(record["client_secret"], "cs-1");
    assert_eq!(record["token_endpoint_auth_method"], "client_secret_post");

    // No client_id at all: the stored registration is kept too.
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-3"}"#)
        .expect(0);
    let record = &document(&home)?[SERVER_KEY];
    assert_eq!(
        (
            record["client_id"].as_str(),
            record["client_secret"].as_str()
        ),
        (Some("c1"), Some("cs-1"))
    );

    // Another client: the old secret is not carried over.
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-4","client_id":"c2"}"#,
    )
    .expect(0);
    let record = &document(&home)?[SERVER_KEY];
    assert_eq!(record["client_id"], "c2");
    assert!(record.get("client_secret").is_none(), "{record}");
    Ok(())
}

#[test]
fn json_says_where_it_went() -> Result {
    let home = Home::new();
    let out = home
        .run_with_stdin(
            &with(&["import", "--json"], &SERVER),
            r#"{"access_token":"a","expires_in":60}"#,
        )
        .expect(0);
    let json = out.json();
    assert_eq!(json["store_key"], SERVER_KEY);
    assert_eq!(json["store"], "file");
    assert_eq!(json["reason"], "configured_save");
    assert_eq!(json["replaced"], false);
    assert!(
        json["expires_in_s"]
            .as_i64()
            .is_some_and(|s| (58..=60).contains(&s))
    );
    Ok(())
}

#[test]
fn bad_input_is_a_usage_error() -> Result {
    let home = Home::new();
    for bad in [
        "",
        "not json",
        r#"{"token_type":"Bearer"}"#,
        r#"{"access_token":""}"#,
        r#"{"access_token":7}"#,
        r#"{"access_token":"a","client_id":["x"]}"#,
        r#"["access_token"]"#,
    ] {
        let out = home
            .run_with_stdin(&with(&["import"], &SERVER), bad)
            .expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{bad:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: standard input"),
            "{}",
            out.stderr
        );
    }
    let out = home
        .run(&with(
            &["import", "--from", "/nonexistent/response.json"],
            &SERVER,
        ))
        .expect(2);
    assert!(
        out.stderr.contains("/nonexistent/response.json"),
        "{}",
        out.stderr
    );
    assert!(!home.document().exists(), "nothing was saved");
    Ok(())
}
