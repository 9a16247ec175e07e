//! An authorization server metadata document (RFC 8414 section 3.2, OpenID Connect
//! Discovery 1.0 section 4.2). Input: the issuer asked for, a newline, the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_store::HttpRefresher;
use oauth_store_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let (issuer, Some(body)) = split(data, b'\n') else {
        return;
    };
    let Ok(issuer) = std::str::from_utf8(issuer) else {
        return;
    };
    if let Ok(metadata) = HttpRefresher::fuzz_metadata_document(body, issuer) {
        let stated = metadata
            .issuer
            .strip_suffix('/')
            .unwrap_or(&metadata.issuer);
        assert_eq!(stated, issuer, "RFC 8414 section 3.3: the issuer asked for");
    }
});
