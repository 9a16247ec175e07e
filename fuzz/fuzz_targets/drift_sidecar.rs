//! The drift sidecar document, and the rewrite one observation makes. The first byte
//! chooses the observation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_store_fuzz::assert_quotes_nothing;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, document)) = data.split_first() else {
        return;
    };
    if let Err(error) = oauth_drift::fuzzing::document(document, choice) {
        assert_quotes_nothing(&error.to_string(), document);
    }
});
