//! Store keys and the names derived from them (DESIGN.md "Identity").

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The identity of one MCP server's credential: `<server_name>|<16 lowercase hex>`.
///
/// The hex part is the first 16 characters of the SHA-256 of the exact text
/// `{"type":"http","url":<url as a JSON string>,"headers":{}}`, the same key the
/// Codex CLI writes, so documents can be shared with it. Keys read from a document
/// are kept as written ([`StoreKey::from_raw`]); ordering is by key bytes, which is
/// the order credential locks are taken in.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoreKey(String);

impl StoreKey {
    /// A key exactly as found in a document or given by a caller, unvalidated.
    pub fn from_raw(key: impl Into<String>) -> Self {
        StoreKey(key.into())
    }

    /// The key text, e.g. `test-server|8c45d89ea13b3919`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The server name: everything before the last `|` (the whole key if there is none).
    pub fn server_name(&self) -> &str {
        self.0
            .rsplit_once('|')
            .map_or(self.0.as_str(), |(name, _)| name)
    }

    /// The secret name used by the Secrets store: `MCP_OAUTH_` + the first 32
    /// uppercase hex characters of SHA-256(key).
    pub fn secret_name(&self) -> String {
        let hex = sha256_hex(self.0.as_bytes());
        format!("MCP_OAUTH_{}", hex[..32].to_ascii_uppercase())
    }

    /// The credential lock's file name: full lowercase hex SHA-256(key) + `.lock`.
    pub fn credential_lock_file_name(&self) -> String {
        format!("{}.lock", sha256_hex(self.0.as_bytes()))
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({:?})", self.0)
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StoreKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Computes the store key of an HTTP MCP server (DESIGN.md "Identity").
///
/// The hashed text is built by hand rather than through a `serde_json::Map`, whose
/// key order changes when any crate in the build enables `preserve_order`; the URL
/// is escaped as serde_json escapes a string.
///
/// ```
/// use oauth_store_core::compute_store_key;
/// let key = compute_store_key("test-server", "https://example.test");
/// assert_eq!(key.as_str(), "test-server|8c45d89ea13b3919");
/// ```
pub fn compute_store_key(server_name: &str, url: &str) -> StoreKey {
    let url_json = serde_json::to_string(url).expect("a str always serializes to JSON");
    let text = format!(r#"{{"type":"http","url":{url_json},"headers":{{}}}}"#);
    let hex = sha256_hex(text.as_bytes());
    StoreKey(format!("{server_name}|{}", &hex[..16]))
}

/// Lowercase hex of SHA-256 of `bytes` (64 characters).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from_digit(u32::from(byte >> 4), 16).expect("nibble"));
        out.push(char::from_digit(u32::from(byte & 0xf), 16).expect("nibble"));
    }
    out
}
