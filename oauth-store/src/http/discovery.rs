//! Authorization server metadata (RFC 8414, then OpenID Connect Discovery 1.0), cached
//! per process by issuer; failures remembered for [`FAILURE_MEMORY`], in the process and,
//! when given a directory, across processes.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth2::http;
use oauth2::url::Url;

use super::redact::{Sent, provider_text};
use super::transport::Transport;
use super::{HttpError, checked_url, host_of};

/// How long a failed discovery is remembered: within it, a new attempt for the same
/// issuer fails at once with the remembered reason instead of asking again. Long enough
/// that a queue of processes waiting on one credential lock does not ask again one after
/// the other, short enough that a provider back up is found within a minute.
pub(crate) const FAILURE_MEMORY: Duration = Duration::from_secs(60);

/// The file, in the directory given to [`discover`], that remembers failed discoveries
/// across processes: `{"version":1,"failures":{"<sha256 hex of the issuer>":{"until_ms",
/// "transient","reason"}}}`, 0600. No token, no URL: the issuer is hashed, the reason
/// is [`provider_text`] with the credential's secrets cut out.
pub(crate) const FAILURE_FILE: &str = "discovery-failures.json";

/// The largest failure file read; one entry is about 300 bytes.
const MAX_FAILURE_FILE: u64 = 256 * 1024;

/// The largest metadata document parsed; real ones are a few KiB.
const MAX_DOCUMENT: usize = 256 * 1024;

/// What this crate uses of an authorization server's metadata (RFC 8414 section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// `issuer`, as the document states it (equal to the issuer asked for, up to a
    /// trailing `/`).
    pub issuer: String,
    /// `token_endpoint` (RFC 6749 section 3.2).
    pub token_endpoint: String,
    /// `revocation_endpoint` (RFC 7009), when the server offers one.
    pub revocation_endpoint: Option<String>,
}

/// Discovered metadata by issuer (without a trailing `/`), for the life of the process.
type Cache = Mutex<HashMap<String, Arc<AuthorizationServerMetadata>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// A failed discovery, remembered until `until`.
#[derive(Clone)]
struct Failed {
    until: Instant,
    until_ms: u64,
    reason: String,
    transient: bool,
}

/// Failed discoveries by issuer (without a trailing `/`), for this process.
type Failures = Mutex<HashMap<String, Failed>>;

fn failures() -> &'static Failures {
    static FAILURES: OnceLock<Failures> = OnceLock::new();
    FAILURES.get_or_init(Default::default)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn cache_key(issuer: &str) -> &str {
    issuer.strip_suffix('/').unwrap_or(issuer)
}

/// Forgets the cached metadata of `issuer`, so the next use discovers again (after a
/// discovered endpoint answered 404: the server moved it).
pub(super) fn forget(issuer: &str) {
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(cache_key(issuer));
}

/// The metadata of `issuer`: from the process cache, else fetched (every request before
/// `deadline`) and cached.
///
/// Tries, in order (RFC 8414 section 3.1; OpenID Connect Discovery 1.0 section 4; the
/// MCP authorization spec's order for issuers with a path):
/// `/.well-known/oauth-authorization-server{path}`, `/.well-known/openid-configuration{path}`,
/// then, for an issuer with a path, `{issuer}/.well-known/openid-configuration`. A
/// document counts only if its `issuer` equals the one asked for (RFC 8414 section 3.3;
/// a trailing `/` is ignored) and it names a `token_endpoint`.
///
/// A failure is remembered for [`FAILURE_MEMORY`] in this process and, with `memory`,
/// in `memory/`[`FAILURE_FILE`] for other processes; within it the same error comes back
/// at once, saying so. Provider text in the reasons is shown as [`provider_text`] makes
/// it with `sent` cut out.
pub(super) fn discover(
    transport: &Transport,
    issuer: &str,
    deadline: Instant,
    sent: &Sent<'_>,
    memory: Option<&Path>,
) -> Result<Arc<AuthorizationServerMetadata>, HttpError> {
    let key = cache_key(issuer);
    if let Some(found) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(key) {
        return Ok(Arc::clone(found));
    }
    let fail = |reason: String, transient: bool| HttpError::Discovery {
        issuer: issuer.to_owned(),
        reason,
        transient,
    };
    let base = checked_url(issuer, "issuer").map_err(|e| fail(e.to_string(), false))?;
    if base.query().is_some() || base.fragment().is_some() {
        return Err(fail(
            "an issuer has no query or fragment (RFC 8414 section 2)".into(),
            false,
        ));
    }
    if let Some(failed) = remembered(key, memory) {
        let left = failed.until_ms.saturating_sub(now_ms()).div_ceil(1000);
        return Err(fail(
            format!(
                "{} (remembered: not asked again for {left} s)",
                failed.reason
            ),
            failed.transient,
        ));
    }
    let mut reasons = Vec::new();
    let mut transient = false;
    for url in candidates(&base) {
        match fetch(transport, &url, key, deadline, sent) {
            Ok(metadata) => {
                tracing::debug!(target: "oauth_store::http", issuer = key, document = url.path(), "discovered the token endpoint");
                let metadata = Arc::new(metadata);
                cache()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.to_owned(), Arc::clone(&metadata));
                return Ok(metadata);
            }
            Err((reason, is_transient)) => {
                tracing::debug!(target: "oauth_store::http", issuer = key, document = url.path(), reason, "no usable metadata document");
                transient |= is_transient;
                reasons.push(format!("{}: {reason}", url.path()));
            }
        }
    }
    let reason = reasons.join("; ");
    remember(key, &reason, transient, memory);
    Err(fail(reason, transient))
}

/// The remembered failure of `issuer`, from this process or the failure file.
fn remembered(issuer: &str, memory: Option<&Path>) -> Option<Failed> {
    let now = Instant::now();
    {
        let mut known = failures().lock().unwrap_or_else(|e| e.into_inner());
        match known.get(issuer) {
            Some(failed) if failed.until > now => return Some(failed.clone()),
            Some(_) => {
                known.remove(issuer);
            }
            None => {}
        }
    }
    let document = read_failures(memory?)?;
    let entry = document.get("failures")?.get(hashed(issuer))?;
    let until_ms = entry.get("until_ms")?.as_u64()?;
    let left = until_ms.checked_sub(now_ms()).filter(|ms| *ms > 0)?;
    let left = Duration::from_millis(left);
    // Further ahead than a failure is ever remembered: the clock was set back, or the
    // file was not written by us. Ignored, so discovery is never blocked for long.
    if left > FAILURE_MEMORY {
        return None;
    }
    Some(Failed {
        until: now + left,
        until_ms,
        reason: entry
            .get("reason")
            .and_then(serde_json::Value::as_str)
            .map(|r| provider_text(r, &Sent::nothing()))
            .unwrap_or_else(|| "discovery failed".to_owned()),
        transient: entry
            .get("transient")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true),
    })
}

/// Remembers a failure of `issuer` in this process and, best effort, in the failure
/// file (expired entries pruned; a failure to write is only logged).
fn remember(issuer: &str, reason: &str, transient: bool, memory: Option<&Path>) {
    let until_ms = now_ms().saturating_add(FAILURE_MEMORY.as_millis() as u64);
    failures().lock().unwrap_or_else(|e| e.into_inner()).insert(
        issuer.to_owned(),
        Failed {
            until: Instant::now() + FAILURE_MEMORY,
            until_ms,
            reason: reason.to_owned(),
            transient,
        },
    );
    let Some(dir) = memory else { return };
    let mut document = read_failures(dir).unwrap_or_else(|| serde_json::json!({}));
    let now = now_ms();
    let mut kept = serde_json::Map::new();
    if let Some(serde_json::Value::Object(old)) = document.get_mut("failures") {
        for (name, entry) in std::mem::take(old) {
            if entry.get("until_ms").and_then(serde_json::Value::as_u64) > Some(now) {
                kept.insert(name, entry);
            }
        }
    }
    kept.insert(
        hashed(issuer),
        serde_json::json!({ "until_ms": until_ms, "transient": transient, "reason": reason }),
    );
    let document = serde_json::json!({ "version": 1, "failures": kept });
    if let Err(e) = write_failures(dir, document.to_string().as_bytes()) {
        tracing::debug!(target: "oauth_store::http", error = %e, "could not remember the failed discovery for other processes");
    }
}

/// The issuer's name in the failure file: SHA-256 hex, so the file holds no URL.
fn hashed(issuer: &str) -> String {
    oauth_store_core::sha256_hex(issuer.as_bytes())
}

/// The failure file of `dir` as JSON, when it exists, is a regular file of this size,
/// and parses with version 1.
fn read_failures(dir: &Path) -> Option<serde_json::Value> {
    let path = dir.join(FAILURE_FILE);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FAILURE_FILE {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    (value.get("version")?.as_u64()? == 1).then_some(value)
}

/// Replaces the failure file: a temp file of this process's own (0600, created new, so
/// never through a link), renamed over it. Not fsynced: losing it costs one more
/// discovery.
fn write_failures(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!(".{FAILURE_FILE}.{}.tmp", std::process::id()));
    // A leftover of a crashed process that had this pid; removing a link removes the link.
    let _ = std::fs::remove_file(&temp);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        std::fs::rename(&temp, dir.join(FAILURE_FILE))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The well-known URLs to try for `issuer`, in order.
fn candidates(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at_root = |well_known: &str| {
        let mut url = issuer.clone();
        url.set_path(&format!("/.well-known/{well_known}{path}"));
        url
    };
    let mut out = vec![
        at_root("oauth-authorization-server"),
        at_root("openid-configuration"),
    ];
    if !path.is_empty() {
        let mut appended = issuer.clone();
        appended.set_path(&format!("{path}/.well-known/openid-configuration"));
        out.push(appended);
    }
    out
}

/// Fetches and checks one metadata document; the error says whether trying again
/// later may help (network failure, 429, 5xx).
fn fetch(
    transport: &Transport,
    url: &Url,
    issuer: &str,
    deadline: Instant,
    sent: &Sent<'_>,
) -> Result<AuthorizationServerMetadata, (String, bool)> {
    let request = http::Request::get(url.as_str())
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|_| ("the request could not be built".to_owned(), false))?;
    let response = transport
        .call(request, deadline)
        .map_err(|f| (f.reason, true))?;
    let status = response.status().as_u16();
    match status {
        200 => {}
        429 | 500..=599 => return Err((format!("{} answered {status}", host_of(url)), true)),
        _ => return Err((format!("{} answered {status}", host_of(url)), false)),
    }
    let body = response.body();
    if body.len() > MAX_DOCUMENT {
        return Err(("the document is too large".into(), false));
    }
    let document: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        (
            format!(
                "the document does not parse: {}",
                oauth_store_core::describe_json_error(&e)
            ),
            false,
        )
    })?;
    let text = |name: &str| {
        document
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let stated =
        text("issuer").ok_or_else(|| ("the document names no issuer".to_owned(), false))?;
    if cache_key(&stated) != issuer {
        return Err((
            format!(
                "the document is for another issuer ({})",
                provider_text(&stated, sent)
            ),
            false,
        ));
    }
    let token_endpoint = text("token_endpoint")
        .ok_or_else(|| ("the document names no token_endpoint".to_owned(), false))?;
    Ok(AuthorizationServerMetadata {
        issuer: stated,
        token_endpoint,
        revocation_endpoint: text("revocation_endpoint"),
    })
}
