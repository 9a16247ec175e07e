//! The async face (feature `tokio`): many tasks share one refresh, a refresh whose
//! caller stops waiting (or whose runtime shuts down) still completes and is saved, and
//! a call with nothing due is answered at once, on the caller's thread, never waiting.

mod detached;
mod nothing_due;
mod single_flight;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_store::{
    Credential, HttpRefresher, OAuthStore, RefreshOutcome, StoreMode, TokenRefresher,
};

use crate::http::expose;

/// The real refresher, noting the name of each thread it is called on.
pub(crate) struct Observed {
    inner: HttpRefresher,
    threads: Mutex<Vec<String>>,
}

impl Observed {
    pub(crate) fn new() -> Arc<Observed> {
        Arc::new(Observed {
            inner: crate::http::refresher(),
            threads: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn threads(&self) -> Vec<String> {
        self.threads.lock().expect("threads").clone()
    }
}

impl TokenRefresher for Observed {
    fn refresh(&self, credential: &Credential) -> RefreshOutcome {
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        self.threads.lock().expect("threads").push(name);
        self.inner.refresh(credential)
    }
}

pub(crate) fn store(home: &std::path::Path, refresher: Arc<Observed>) -> OAuthStore {
    OAuthStore::builder()
        .default_stores(false)
        .home(home)
        .mode(StoreMode::File)
        .refresher(refresher)
        .build()
        .expect("store")
}

/// Waits (bounded) until the stored refresh token is no longer `old`; returns the
/// stored credential.
pub(crate) fn wait_for_rotation(store: &OAuthStore, old: &str) -> Credential {
    let handle = store.handle(crate::http::SERVER, crate::http::URL);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stored = handle.load().expect("load").expect("stored");
        if stored.refresh_token.as_ref().map(expose).as_deref() != Some(old) {
            return stored;
        }
        assert!(
            Instant::now() < deadline,
            "the refreshed credential was never saved"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
