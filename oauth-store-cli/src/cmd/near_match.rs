//! "No credential is stored": a stored credential whose name or URL nearly matches the
//! one asked for (the same server name, or a URL that differs only by a trailing slash)
//! is named, since the store key hashes the exact URL text.

use crate::cli::{Global, Server};
use crate::open::{Opening, open_with};
use crate::output;

/// The hint for `server`, or `None` when nothing stored nearly matches it (or the home
/// cannot be read: the error itself is what matters then).
pub(crate) fn hint(global: &Global, server: &Server) -> Option<String> {
    let store = open_with(
        global,
        Opening {
            record_drift: false,
            file_only: false,
        },
    )
    .ok()?;
    let (entries, _) = store.list();
    let wanted_url = server.url.trim_end_matches('/');
    let mut near: Vec<String> = Vec::new();
    for entry in entries {
        let Ok(credential) = entry.credential else {
            continue;
        };
        let same_name = credential.server_name == server.server;
        let same_url = credential.server_url.trim_end_matches('/') == wanted_url;
        if !(same_name || same_url) {
            continue;
        }
        let text = format!(
            "{} (--server {} --url {}, in the {} store)",
            entry.key,
            credential.server_name,
            output::url(&credential.server_url),
            entry.store
        );
        if !near.contains(&text) {
            near.push(text);
        }
    }
    if near.is_empty() {
        return None;
    }
    near.sort();
    Some(format!(
        "stored with a similar name or URL: {} (the store key hashes the exact URL: pass the same --server and --url as when it was saved)",
        near.join(", ")
    ))
}
