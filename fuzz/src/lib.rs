//! What the fuzz targets share: splitting an input into parts, and the check that an
//! error message quotes nothing of the input that could be a token.

use std::fmt;
use std::sync::OnceLock;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// Words and field names the parsers' messages are made of: a literal of the input
/// found among them is no quote.
const VOCABULARY: &str = "server_name server_url client_id client_secret \
    token_endpoint_auth_method issuer token_endpoint token_type access_token \
    refresh_token scopes expires_at updated_at expires_in scope error_description \
    version secrets resolutions store_mode keyring_backend resolved_store reason \
    observed_at change previous expected a string or null an array of strings \
    ms since the Unix epoch a number of seconds missing field appears twice syntax \
    error at line column unexpected value end of input I/O not a JSON object found \
    nothing an object a boolean a number something that is not JSON the value is \
    holding a record duplicate field is missing corrupt untouched integer another";

/// RFC 6750 section 2.1 `b64token` characters (without the trailing `=` rule).
fn b64token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// The closed JSON string literals of `input` as written (escapes not decoded), found
/// by a scan that needs no valid JSON.
fn literals(input: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(start) = input[i..]
        .iter()
        .position(|&b| b == b'"')
        .map(|p| i + p + 1)
    {
        let mut end = start;
        while end < input.len() && input[end] != b'"' {
            end += if input[end] == b'\\' { 2 } else { 1 };
        }
        if end >= input.len() {
            // Not a string literal: nothing closes it.
            break;
        }
        out.push(&input[start..end]);
        i = end + 1;
    }
    out
}

/// Panics when `message` holds a string literal of `input` that looks like a token
/// (8 or more `b64token` characters) and is not one of the messages' own words: the
/// parsers promise never to quote a value, which may be a token.
pub fn assert_quotes_nothing(message: &str, input: &[u8]) {
    for literal in literals(input) {
        let Ok(text) = std::str::from_utf8(literal) else {
            continue;
        };
        if text.len() >= 8
            && literal.iter().all(|&b| b64token(b))
            && !VOCABULARY.contains(text)
            && message.contains(text)
        {
            panic!("the message quotes {text:?} of the input: {message:?}");
        }
    }
}

/// Splits `data` at the first `separator`: (before, after), or (`data`, None).
pub fn split(data: &[u8], separator: u8) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == separator) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    }
}

/// The member names of a JSON object's text, in order, duplicates included.
pub fn member_names(json: &str) -> Vec<String> {
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Vec<String>, A::Error> {
            let mut names = Vec::new();
            while let Some((name, IgnoredAny)) = access.next_entry::<String, IgnoredAny>()? {
                names.push(name);
            }
            Ok(names)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_map(Names).expect("an object")
}

/// Whether to let inputs through that hit a finding already reported and being fixed
/// elsewhere (`OAUTH_STORE_FUZZ_SKIP_KNOWN=1`), so a run can look past it. Off by
/// default: a target shows every finding until its fix lands.
pub fn skip_known() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("OAUTH_STORE_FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1"))
}
