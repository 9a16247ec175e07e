//! `compute_store_key` and the names derived from a key. Input: the server name, a
//! NUL byte, the URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_store_core::compute_store_key;
use oauth_store_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let (name, Some(url)) = split(data, 0) else {
        return;
    };
    let (Ok(name), Ok(url)) = (std::str::from_utf8(name), std::str::from_utf8(url)) else {
        return;
    };
    let key = compute_store_key(name, url);
    assert_eq!(key, compute_store_key(name, url), "deterministic");
    let (before, hex) = key.as_str().rsplit_once('|').expect("a separator");
    assert_eq!(before, name);
    assert_eq!(key.server_name(), name);
    assert!(hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    let secret = key.secret_name();
    let upper = secret.strip_prefix("MCP_OAUTH_").expect("the prefix");
    assert!(
        upper.len() == 32
            && upper
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
    );
    let lock = key.credential_lock_file_name();
    let lower = lock.strip_suffix(".lock").expect("the suffix");
    assert!(
        lower.len() == 64
            && lower
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    // The hashed text holds the URL as a JSON string that reads back as the URL.
    let json = serde_json::to_string(url).expect("a str serializes");
    assert_eq!(
        serde_json::from_str::<String>(&json).expect("it parses"),
        url
    );
});
