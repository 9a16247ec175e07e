//! The running endpoint: its threads, its state, and what a test can ask of it.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::front::{Connections, Front};
use crate::grants::State;
use crate::{
    ClientRegistration, Counters, EndpointConfig, Fault, IssuedTokens, RecordedRequest,
    ScriptedAnswer,
};

/// What the request handlers share with the [`TokenEndpoint`] handle.
pub(crate) struct Shared {
    pub(crate) config: EndpointConfig,
    pub(crate) issuer: String,
    pub(crate) state: Mutex<State>,
    pub(crate) connections: Arc<Connections>,
    /// Scripted answers and request counts, by path.
    pub(crate) scripts: Mutex<Scripts>,
    stopping: Mutex<bool>,
    wake: Condvar,
}

/// The answers scripted per path, and how many requests each path got.
#[derive(Default)]
pub(crate) struct Scripts {
    answers: HashMap<String, ScriptedAnswer>,
    hits: HashMap<String, u32>,
}

impl Scripts {
    /// Counts a request for `path` and takes its scripted answer, if any (one use of it).
    pub(crate) fn take(&mut self, path: &str) -> Option<ScriptedAnswer> {
        *self.hits.entry(path.to_owned()).or_default() += 1;
        let answer = self.answers.get_mut(path)?;
        let found = answer.clone();
        match &mut answer.times {
            Some(0) => {
                self.answers.remove(path);
                return None;
            }
            Some(1) => {
                self.answers.remove(path);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(found)
    }
}

impl Shared {
    /// Waits `delay`, or less if the endpoint stops meanwhile.
    pub(crate) fn pause(&self, delay: Duration) {
        let stopping = lock(&self.stopping);
        let waited = self
            .wake
            .wait_timeout_while(stopping, delay, |stopping| !*stopping);
        drop(waited);
    }

    fn is_stopping(&self) -> bool {
        *lock(&self.stopping)
    }
}

/// Locks, ignoring poisoning: a panicking handler leaves the state consistent enough for tests.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running loopback token endpoint on `http://127.0.0.1:<port>`, the port picked by the OS.
///
/// Each connection is served on its own threads and each request on its own thread, so slow
/// answers ([`Fault::Slow`]) do not hold up others; every token request runs atomically
/// under one lock. Dropping the endpoint closes the listener and every open connection
/// (clients still waiting see the connection close, never a late answer) and joins its
/// threads; `tiny_http`'s idle worker threads exit on their own within about 5 s.
#[must_use = "dropping the endpoint stops it at once"]
pub struct TokenEndpoint {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    front: Option<Front>,
    dispatcher: Option<JoinHandle<()>>,
}

impl TokenEndpoint {
    /// Starts listening on 127.0.0.1; fails only if a socket or thread cannot be had.
    pub fn start(config: EndpointConfig) -> io::Result<TokenEndpoint> {
        let server = tiny_http::Server::http((Ipv4Addr::LOCALHOST, 0)).map_err(io::Error::other)?;
        let inner = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let front = Front::start(inner)?;
        let shared = Arc::new(Shared {
            config,
            issuer: format!("http://{}", front.addr()),
            state: Mutex::new(State::default()),
            connections: Arc::clone(front.connections()),
            scripts: Mutex::new(Scripts::default()),
            stopping: Mutex::new(false),
            wake: Condvar::new(),
        });
        let server = Arc::new(server);
        let dispatcher = {
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            thread::Builder::new()
                .name("oauth-testkit-dispatch".into())
                .spawn(move || dispatch(&server, &shared))?
        };
        Ok(TokenEndpoint {
            shared,
            server,
            front: Some(front),
            dispatcher: Some(dispatcher),
        })
    }

    /// The issuer (RFC 8414 section 2): `http://127.0.0.1:<port>`, no trailing slash.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The token endpoint: the issuer followed by `/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.shared.issuer)
    }

    /// The revocation endpoint (RFC 7009): the issuer followed by `/revoke`.
    pub fn revocation_endpoint(&self) -> String {
        format!("{}/revoke", self.shared.issuer)
    }

    /// The configuration the endpoint was started with.
    pub fn config(&self) -> &EndpointConfig {
        &self.shared.config
    }

    /// Adds a client, or replaces the one with the same `client_id`.
    pub fn register_client(&self, client: ClientRegistration) {
        lock(&self.shared.state).register(client);
    }

    /// Starts a fresh grant for `client_id` with `scopes`, as if an authorization code had
    /// just been exchanged, and returns its first tokens. The client need not be registered
    /// yet, but refreshes answer `invalid_client` until it is.
    pub fn issue_grant(&self, client_id: &str, scopes: &[&str]) -> IssuedTokens {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        lock(&self.shared.state).issue_grant(&self.shared.config, client_id, scopes)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        lock(&self.shared.state).counters
    }

    /// Answers every following token request with `fault` until changed; `None` clears it.
    pub fn set_fault(&self, fault: Option<Fault>) {
        lock(&self.shared.state).set_fault(fault, None);
    }

    /// Answers the next `times` token requests with `fault`, then answers normally again;
    /// every token request counts, whatever its outcome would have been.
    pub fn set_fault_times(&self, fault: Fault, times: u32) {
        lock(&self.shared.state).set_fault(Some(fault), Some(times));
    }

    /// Answers requests for `path` (e.g. `/token`, `/revoke`,
    /// `/.well-known/oauth-authorization-server`, or any other path) as `answer` says,
    /// replacing an earlier script for it; see [`ScriptedAnswer`].
    pub fn script(&self, path: &str, answer: ScriptedAnswer) {
        lock(&self.shared.scripts)
            .answers
            .insert(path.to_owned(), answer);
    }

    /// Removes the script of `path`: it behaves as usual again.
    pub fn unscript(&self, path: &str) {
        lock(&self.shared.scripts).answers.remove(path);
    }

    /// How many requests `path` got (any method, scripted or not; the query is not part
    /// of the path).
    pub fn hits(&self, path: &str) -> u32 {
        lock(&self.shared.scripts)
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every token request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Revokes, at the provider, the grant this refresh token belongs to (consumed or not),
    /// with all its tokens. `true` if this call revoked an active grant.
    pub fn revoke_grant_of(&self, refresh_token: &str) -> bool {
        lock(&self.shared.state).revoke_grant_of(refresh_token)
    }

    /// Whether the grant this refresh token belongs to is still active. The token itself may
    /// have been rotated away; `false` for unknown tokens.
    pub fn grant_is_active(&self, refresh_token: &str) -> bool {
        lock(&self.shared.state).grant_is_active(refresh_token)
    }

    /// Whether this access token is known, unexpired, not revoked, and its grant is active.
    pub fn access_token_is_active(&self, access_token: &str) -> bool {
        lock(&self.shared.state).access_token_is_active(access_token)
    }
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        // Cut the connections before waking slow handlers, so no answer slips out; this
        // also ends tiny_http's connection threads.
        drop(self.front.take());
        *lock(&self.shared.stopping) = true;
        self.shared.wake.notify_all();
        self.server.unblock();
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = dispatcher.join();
        }
    }
}

/// Hands each request to a thread of its own until the endpoint stops, then joins them.
fn dispatch(server: &tiny_http::Server, shared: &Arc<Shared>) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let received = server.recv();
        if shared.is_stopping() {
            break;
        }
        let Ok(request) = received else { continue };
        handlers.retain(|handler| !handler.is_finished());
        let shared = Arc::clone(shared);
        let handler = thread::Builder::new()
            .name("oauth-testkit-request".into())
            .spawn(move || crate::http::handle(request, &shared));
        // Without a thread the request is dropped, and tiny_http answers 500 for it.
        if let Ok(handler) = handler {
            handlers.push(handler);
        }
    }
    for handler in handlers {
        let _ = handler.join();
    }
}
