//! A keyring entry found by a search: its account name, then its value. The first
//! byte chooses the default layout's account prefix or the codex preset's none;
//! account and value are separated by the first newline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_store_fuzz::{assert_quotes_nothing, split};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let (account, Some(value)) = split(rest, b'\n') else {
        return;
    };
    let (Ok(account), Ok(value)) = (std::str::from_utf8(account), std::str::from_utf8(value))
    else {
        return;
    };
    let prefix = (choice & 1 == 0).then_some("0123456789abcdef");
    if let Some(Err(reason)) = oauth_store_keyring::fuzzing::entry(prefix, account, value) {
        assert_quotes_nothing(&reason, value.as_bytes());
    }
});
