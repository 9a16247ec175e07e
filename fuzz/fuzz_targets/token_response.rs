//! A token endpoint's 2xx body (RFC 6749 section 5.1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_store_core::{ExposeSecret, TokenResponse};
use oauth_store_fuzz::assert_quotes_nothing;

/// What `Debug` prints besides the values: a token that is part of it is no leak.
const DEBUG_WORDS: &str = "TokenResponse { access_token: \"<redacted>\", token_type: None, \
    expires_in: None, refresh_token: Some(\"<redacted>\"), scope: None, extra_fields: [] }";

fuzz_target!(|data: &[u8]| {
    match TokenResponse::from_json(data) {
        Ok(response) => {
            let debug = format!("{response:?}");
            let tokens = [
                Some(&response.access_token),
                response.refresh_token.as_ref(),
            ];
            for token in tokens.into_iter().flatten() {
                let token = token.expose_secret();
                let elsewhere = DEBUG_WORDS.contains(token)
                    || response.token_type.as_deref().unwrap_or("").contains(token)
                    || response.scope.as_deref().unwrap_or("").contains(token)
                    || response.extra.iter().any(|(name, _)| name.contains(token));
                if token.len() >= 8 && !elsewhere {
                    assert!(!debug.contains(token), "Debug shows a token");
                }
            }
        }
        Err(error) => assert_quotes_nothing(&error.to_string(), data),
    }
});
