//! [`RmcpCredentialStore`]: rmcp's `CredentialStore` over one credential of an
//! oauth-store home (DESIGN.md "rmcp clients").

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth_store::{
    Credential, CredentialHandle, ErrorKind, LockedCredential, SecretString, TokenResponse,
};
use rmcp::transport::auth::{
    AuthError, CredentialRefreshGuard, CredentialStore, OAuthTokenResponse, StoredCredentials,
};
use tokio::sync::OwnedMutexGuard;

use crate::convert::{to_stored, to_token_response};

/// rmcp's [`CredentialStore`] for one MCP server's credential in an oauth-store home, safe
/// for any number of processes and tasks sharing it (DESIGN.md "rmcp clients").
///
/// - [`load`](CredentialStore::load): the stored record as [`StoredCredentials`], with
///   `token_received_at` (Unix seconds) when the access token was obtained and its
///   original lifetime as `expires_in` (RFC 6749 section 5.1), so that rmcp's own
///   refresh ahead of expiry works; scopes, issuer and client id as stored. A record whose
///   tokens were dropped loads with no token response (rmcp: authorization required).
/// - [`acquire_refresh_guard`](CredentialStore::acquire_refresh_guard): an async queue per
///   credential that the other tasks of this process wait on, then the credential lock
///   (a `flock` other processes wait on), taken on a blocking thread, never on the
///   runtime's; both bounded together by the store's lock timeout
///   ([`CredentialHandle::lock_timeout`]). A timeout is
///   [`AuthError::CredentialStoreError`] naming the lock file and its holder's pid.
/// - Inside the guard (the same task), `load` is the authoritative reread and `save` of a
///   refresh merges into the stored record (refresh token, scopes, client secret and
///   unknown fields kept when the response omits them) and is persisted before it
///   returns; neither relocks. Another task of the process is never mistaken for the
///   guard's holder: it waits.
/// - `save` outside a guard (rmcp's code exchange, `set_credentials`, an issuer change)
///   is a new grant (RFC 6749 section 4.1.4): it takes the credential lock itself and
///   replaces the tokens; an old refresh token is never carried into it. The client
///   registration (client secret, authentication method) is kept when the client id is
///   the same.
/// - [`clear`](CredentialStore::clear) drops the tokens only if the stored access token is
///   still the one this store last loaded or saved (compare, then clear); a newer login
///   saved by another process is never wiped.
/// - [`on_refresh_token_rejected`](CredentialStore::on_refresh_token_rejected)
///   (`invalid_grant`, RFC 6749 section 5.2) drops the tokens only if the stored refresh
///   token is still the rejected one. Both keep the client registration.
///
/// Cheap to clone; clones share what was last loaded. Needs a tokio runtime with its
/// time driver (rmcp's transports need one too).
#[derive(Clone)]
pub struct RmcpCredentialStore {
    handle: Arc<CredentialHandle>,
    state: Arc<KeyState>,
    /// The access token this store last loaded or saved: what `clear` compares.
    loaded: Arc<Mutex<Option<SecretString>>>,
}

impl fmt::Debug for RmcpCredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RmcpCredentialStore")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// What the tasks of this process share about one credential (by its lock file).
struct KeyState {
    /// The in-process queue in front of the credential lock (tokio's mutex is fair).
    queue: Arc<tokio::sync::Mutex<()>>,
    /// The guard held now, and the task holding it.
    active: Mutex<Option<Active>>,
}

struct Active {
    owner: Option<tokio::task::Id>,
    guard: Weak<LockedCredential>,
}

/// The state of the credential locked at `lock_path`, shared process-wide.
fn key_state(lock_path: PathBuf) -> Arc<KeyState> {
    static KEYS: OnceLock<Mutex<HashMap<PathBuf, Weak<KeyState>>>> = OnceLock::new();
    let mut keys = KEYS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(state) = keys.get(&lock_path).and_then(Weak::upgrade) {
        return state;
    }
    keys.retain(|_, state| state.strong_count() > 0);
    let state = Arc::new(KeyState {
        queue: Arc::new(tokio::sync::Mutex::new(())),
        active: Mutex::new(None),
    });
    keys.insert(lock_path, Arc::downgrade(&state));
    state
}

/// A held guard: the queue's turn, then the credential lock; released in reverse.
struct Held {
    guard: Option<Arc<LockedCredential>>,
    state: Arc<KeyState>,
    _turn: OwnedMutexGuard<()>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut active = self.state.active.lock().unwrap_or_else(|e| e.into_inner());
        *active = None;
        drop(active);
        // The credential lock goes before the queue's turn (the field dropped after this).
        drop(self.guard.take());
    }
}

impl RmcpCredentialStore {
    /// The store of `handle`'s credential (one MCP server in one home; made with
    /// [`oauth_store::OAuthStore::handle`], which records the server name and URL that a
    /// first login through rmcp saves).
    pub fn new(handle: CredentialHandle) -> Self {
        let state = key_state(handle.credential_lock_path());
        RmcpCredentialStore {
            handle: Arc::new(handle),
            state,
            loaded: Arc::new(Mutex::new(None)),
        }
    }

    /// The facade's handle.
    pub fn handle(&self) -> &Arc<CredentialHandle> {
        &self.handle
    }

    /// The guard the current task holds, if any.
    fn own_guard(&self) -> Option<Arc<LockedCredential>> {
        let active = self.state.active.lock().unwrap_or_else(|e| e.into_inner());
        let active = active.as_ref()?;
        if active.owner != tokio::task::try_id() {
            return None;
        }
        active.guard.upgrade()
    }

    /// Waits for this process's queue, then for the credential lock on a blocking
    /// thread, within the store's lock timeout.
    async fn lock(&self) -> Result<Held, AuthError> {
        let timeout = self.handle.lock_timeout();
        let started = Instant::now();
        let turn = tokio::time::timeout(timeout, Arc::clone(&self.state.queue).lock_owned())
            .await
            .map_err(|_| {
                AuthError::CredentialStoreError(format!(
                    "timed out after {} ms waiting for the credential lock {} (held by another task of this process, pid {})",
                    started.elapsed().as_millis(),
                    self.handle.credential_lock_path().display(),
                    std::process::id()
                ))
            })?;
        let left = timeout.saturating_sub(started.elapsed());
        let handle = Arc::clone(&self.handle);
        let guard =
            blocking(move || handle.lock_credential(left.max(Duration::from_millis(1)))).await?;
        let guard = Arc::new(guard);
        *self.state.active.lock().unwrap_or_else(|e| e.into_inner()) = Some(Active {
            owner: tokio::task::try_id(),
            guard: Arc::downgrade(&guard),
        });
        Ok(Held {
            guard: Some(guard),
            state: Arc::clone(&self.state),
            _turn: turn,
        })
    }

    /// Runs `op` under the current task's guard, or under one taken for it.
    async fn under_guard<T: Send + 'static>(
        &self,
        op: impl FnOnce(&LockedCredential) -> Result<T, oauth_store::Error> + Send + 'static,
    ) -> Result<T, AuthError> {
        if let Some(guard) = self.own_guard() {
            return blocking(move || op(&guard)).await;
        }
        let mut held = self.lock().await?;
        let guard = held.guard.clone();
        let result = blocking(move || match guard {
            Some(guard) => op(&guard),
            None => Err(oauth_store::Error::Config("the guard is gone".into())),
        })
        .await;
        held.guard.take();
        result
    }

    fn remember(&self, credential: Option<&Credential>) {
        *self.loaded.lock().unwrap_or_else(|e| e.into_inner()) = credential
            .filter(|c| c.has_tokens())
            .map(|c| c.access_token.clone());
    }
}

/// Runs `op` on a blocking thread (files, locks, the keyring), mapping the facade's
/// errors to rmcp's.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, oauth_store::Error> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| AuthError::CredentialStoreError(format!("the store's thread failed: {e}")))?
        .map_err(|e| auth_error(&e))
}

/// rmcp's error for a facade error: authorization required stays that (rmcp then asks
/// for a login); everything else is the store's failure.
pub(crate) fn auth_error(error: &oauth_store::Error) -> AuthError {
    match error.kind() {
        ErrorKind::AuthorizationRequired => AuthError::AuthorizationRequired,
        ErrorKind::Provider => AuthError::TokenRefreshFailed(error.to_string()),
        _ => AuthError::CredentialStoreError(error.to_string()),
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The record of a new grant: the stored record's registration when the client is the
/// same (its tokens dropped first, so no old refresh token is carried in), else a new
/// record for the handle's server; then the grant's tokens.
fn new_grant(
    stored: Option<Credential>,
    server: Option<(String, String)>,
    credentials: &StoredCredentials,
    response: Option<&TokenResponse>,
) -> Result<Credential, oauth_store::Error> {
    let mut record = match stored {
        Some(mut same) if same.client_id == credentials.client_id => {
            same.drop_tokens();
            same.token_type = None;
            same.scopes.clear();
            same
        }
        other => {
            let (name, url) = other
                .map(|c| (c.server_name, c.server_url))
                .or(server)
                .ok_or_else(|| {
                    oauth_store::Error::Config(
                        "this handle has no server name and URL (make it with OAuthStore::handle) and nothing is stored".into(),
                    )
                })?;
            Credential::builder(name, url, SecretString::from(String::new()))
                .client_id(credentials.client_id.clone())
                .build()
        }
    };
    if let Some(issuer) = &credentials.issuer {
        record.issuer = Some(issuer.clone());
    }
    if let Some(response) = response {
        record.apply_token_response(response, now_ms());
        if response.scope.is_none() {
            // RFC 6749 section 5.1: an omitted scope is the scope requested.
            record.scopes.clone_from(&credentials.granted_scopes);
        }
    }
    Ok(record)
}

#[async_trait::async_trait]
impl CredentialStore for RmcpCredentialStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let found = match self.own_guard() {
            Some(guard) => blocking(move || guard.load()).await?,
            None => {
                let handle = Arc::clone(&self.handle);
                blocking(move || handle.load()).await?
            }
        };
        self.remember(found.as_ref());
        found.map(|c| to_stored(&c, now_ms())).transpose()
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let response = credentials
            .token_response
            .as_ref()
            .map(to_token_response)
            .transpose()?;
        let saved = match (self.own_guard(), response) {
            // Inside the guard with a token response: rmcp's refresh.
            (Some(guard), Some(response)) => {
                blocking(move || guard.save_refreshed(&response)).await?
            }
            // Anything else is a new grant, under the lock (taken here when not held).
            (_, response) => {
                let server = self
                    .handle
                    .server()
                    .map(|(name, url)| (name.to_owned(), url.to_owned()));
                self.under_guard(move |guard| {
                    let record = new_grant(guard.load()?, server, &credentials, response.as_ref())?;
                    guard.save_grant(record.clone())?;
                    Ok(record)
                })
                .await?
            }
        };
        self.remember(Some(&saved));
        Ok(())
    }

    async fn clear(&self) -> Result<(), AuthError> {
        let loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Nothing loaded by this client: nothing of its own to clear.
        let Some(loaded) = loaded else {
            return Ok(());
        };
        self.under_guard(move |guard| {
            guard.drop_tokens_if(|stored| stored.access_token_is(&loaded))
        })
        .await?;
        Ok(())
    }

    async fn on_refresh_token_rejected(
        &self,
        credentials: &StoredCredentials,
    ) -> Result<(), AuthError> {
        let Some(rejected) = credentials
            .token_response
            .as_ref()
            .and_then(refresh_token_of)
        else {
            return Ok(());
        };
        self.under_guard(move |guard| {
            guard.drop_tokens_if(|stored| stored.refresh_token_is(Some(&rejected)))
        })
        .await?;
        Ok(())
    }

    async fn acquire_refresh_guard(&self) -> Result<Option<CredentialRefreshGuard>, AuthError> {
        Ok(Some(CredentialRefreshGuard::new(self.lock().await?)))
    }
}

/// The refresh token of a token response rmcp holds.
fn refresh_token_of(response: &OAuthTokenResponse) -> Option<SecretString> {
    to_token_response(response).ok()?.refresh_token
}
