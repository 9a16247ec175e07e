//! The File store alone: one JSON document shared safely by many processes.
#![allow(clippy::print_stdout, reason = "an example program says what it did")]

use oauth_store_core::{
    Clock, Credential, CredentialStore, SystemClock, TokenResponse, compute_store_key,
};
use oauth_store_file::FileStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `.credentials.json` and `mcp-oauth-locks/` in the directory, created 0700. A
    // temporary one here; a service passes its own (e.g. /var/lib/my-service/oauth).
    let home = tempfile::tempdir()?;
    let store = FileStore::in_home(home.path())?;
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let mut credential = Credential::builder(
        "notion",
        "https://mcp.notion.com/mcp",
        "at-1".to_owned().into(),
    )
    .refresh_token("rt-1".to_owned().into())
    .build();
    store.save(&key, &credential)?;

    // After a refresh: merge the provider's answer at the current time, then save (under
    // the store lock). The answer has no refresh token, so the stored one is kept.
    let response = TokenResponse::from_json(br#"{"access_token":"at-2","expires_in":3600}"#)?;
    let now_ms = SystemClock.now_ms();
    credential.apply_token_response(&response, now_ms);
    store.save(&key, &credential)?;

    let saved = store.load(&key)?.ok_or("just saved")?;
    assert!(saved.refresh_token.is_some());
    let left_s = saved.expires_in_ms(now_ms).map_or(0, |ms| ms / 1000);
    println!(
        "{key}: in the file store {}; the access token expires in {left_s} s",
        store.path().display()
    );
    Ok(())
}
