//! The File store's document (`.credentials.json`) and its entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_store_fuzz::assert_quotes_nothing;

fuzz_target!(|data: &[u8]| {
    for record in oauth_store_file::fuzzing::document(data) {
        if let Err(reason) = record {
            assert_quotes_nothing(&reason, data);
        }
    }
});
