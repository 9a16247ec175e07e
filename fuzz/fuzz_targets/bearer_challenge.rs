//! A `WWW-Authenticate` header value read for its Bearer challenge (the 401 and 403 of
//! an MCP server): never a panic, and a parameter value never longer than the header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(challenge) = oauth_store::BearerChallenge::parse(header) {
        for name in ["resource_metadata", "scope", "error", "realm"] {
            if let Some(value) = challenge.param(name) {
                assert!(value.len() <= header.len());
            }
        }
    }
});
