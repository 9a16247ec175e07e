//! Tests of the record <-> `StoredCredentials` conversion (through the public store).

use oauth_store::{Credential, CredentialHandle};
use oauth_store_rmcp::RmcpCredentialStore;
use rmcp::transport::auth::CredentialStore;

use crate::support::{SERVER, now_ms, store};

const URL: &str = "https://mcp.example.test/mcp";

async fn loaded(handle: CredentialHandle) -> serde_json::Value {
    let stored = RmcpCredentialStore::new(handle)
        .load()
        .await
        .expect("load")
        .expect("stored");
    serde_json::to_value(&stored).expect("json")
}

#[tokio::test]
async fn rmcp_gets_when_the_token_was_obtained_and_its_original_lifetime() {
    let home = tempfile::tempdir().expect("home");
    let handle = store(home.path()).handle(SERVER, URL);
    handle
        .save_grant(
            Credential::builder(SERVER, URL, "at-1".to_owned().into())
                .client_id("client-1")
                .refresh_token("rt-1".to_owned().into())
                .scopes(["mcp", "offline_access"])
                .issuer("https://as.example.test")
                .expires_at(now_ms() + 120_000)
                .build(),
        )
        .expect("save");
    // Some time passes: the lifetime rmcp sees stays the original one.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let saved = handle.load().expect("load").expect("saved");
    let json = loaded(handle).await;
    let received = json["token_received_at"].as_u64().expect("received");
    assert_eq!(received, saved.updated_at.expect("stamped") / 1000);
    let expires_in = json["token_response"]["expires_in"]
        .as_u64()
        .expect("expires_in");
    // 120 s issued (less the save's own time): never the time left from now.
    assert!((118..=120).contains(&expires_in), "{expires_in}");
    assert!(received + expires_in <= saved.expires_at.expect("expiry") / 1000);
    assert_eq!(json["client_id"], "client-1");
    assert_eq!(json["issuer"], "https://as.example.test");
    assert_eq!(
        json["granted_scopes"],
        serde_json::json!(["mcp", "offline_access"])
    );
    assert_eq!(json["token_response"]["refresh_token"], "rt-1");
    assert_eq!(json["token_response"]["scope"], "mcp offline_access");
}

#[tokio::test]
async fn a_record_without_tokens_loads_without_a_token_response() {
    let home = tempfile::tempdir().expect("home");
    let handle = store(home.path()).handle(SERVER, URL);
    let mut dropped = Credential::builder(SERVER, URL, "at-1".to_owned().into())
        .client_id("client-1")
        .build();
    dropped.drop_tokens();
    handle.save_grant(dropped).expect("save");
    let json = loaded(handle).await;
    assert_eq!(json["client_id"], "client-1");
    assert!(json["token_response"].is_null(), "{json}");
}
