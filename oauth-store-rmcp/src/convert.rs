//! Between the facade's record and rmcp's `StoredCredentials`: the token response as
//! RFC 6749 section 5.1 JSON both sides parse, with rmcp's timing (when the token was
//! obtained, its original lifetime) taken from the record's `updated_at` and
//! `expires_at`.

use oauth_store::{Credential, ExposeSecret, TokenResponse};
use rmcp::transport::auth::{AuthError, OAuthTokenResponse, StoredCredentials};
use serde_json::{Map, Value};

/// `(token_received_at, expires_in)` in seconds as rmcp reads them: the time the access
/// token was obtained (`updated_at`, stamped by the save that stored it) and its
/// lifetime, floored so that `received + lifetime` is never later than `expires_at`.
/// A record saved by another program (no `updated_at`) counts as obtained now, with its
/// remaining lifetime; a record without an access token as expired now.
pub(crate) fn timing(credential: &Credential, now_ms: u64) -> (Option<u64>, Option<u64>) {
    let now = now_ms / 1000;
    if credential.access_token.expose_secret().is_empty() {
        return (Some(now), Some(0));
    }
    match (credential.expires_at, credential.updated_at) {
        (Some(expires), Some(updated)) if updated <= expires => {
            let received = updated / 1000;
            (
                Some(received),
                Some((expires / 1000).saturating_sub(received)),
            )
        }
        (Some(expires), _) => (Some(now), Some((expires / 1000).saturating_sub(now))),
        (None, updated) => (updated.map(|ms| ms / 1000), None),
    }
}

/// The record as rmcp's [`StoredCredentials`]; no token response once its tokens were
/// dropped (rmcp then asks for a new authorization).
///
/// # Errors
/// [`AuthError::CredentialStoreError`] when the record does not convert (the message
/// never quotes a value).
pub(crate) fn to_stored(
    credential: &Credential,
    now_ms: u64,
) -> Result<StoredCredentials, AuthError> {
    let (received, lifetime) = timing(credential, now_ms);
    let token_response = if credential.has_tokens() {
        let mut json = Map::new();
        json.insert(
            "access_token".into(),
            credential.access_token.expose_secret().into(),
        );
        json.insert(
            "token_type".into(),
            credential.token_type.as_deref().unwrap_or("Bearer").into(),
        );
        if let Some(refresh) = &credential.refresh_token {
            json.insert("refresh_token".into(), refresh.expose_secret().into());
        }
        if let Some(seconds) = lifetime {
            json.insert("expires_in".into(), seconds.into());
        }
        if !credential.scopes.is_empty() {
            json.insert("scope".into(), credential.scopes.join(" ").into());
        }
        Some(
            serde_json::from_value::<OAuthTokenResponse>(Value::Object(json)).map_err(|_| {
                AuthError::CredentialStoreError(
                    "the stored record does not convert to an rmcp token response".into(),
                )
            })?,
        )
    } else {
        None
    };
    Ok(StoredCredentials::new(
        credential.client_id.clone(),
        token_response,
        credential.scopes.clone(),
        received,
    )
    .with_issuer(credential.issuer.clone()))
}

/// rmcp's token response as the facade's (RFC 6749 section 5.1), unknown members kept.
///
/// # Errors
/// [`AuthError::CredentialStoreError`] naming the field that does not check (never its
/// value).
pub(crate) fn to_token_response(response: &OAuthTokenResponse) -> Result<TokenResponse, AuthError> {
    let body = serde_json::to_vec(response).map_err(|_| {
        AuthError::CredentialStoreError("the token response does not serialize".into())
    })?;
    TokenResponse::from_json(&body).map_err(|e| AuthError::CredentialStoreError(e.to_string()))
}
