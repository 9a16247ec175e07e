//! Test support: a small refresher for the testkit endpoint, stand-in stores, child
//! processes and a log capture.

pub(crate) mod child;
pub(crate) mod refresher;
pub(crate) mod stores;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_store::{Credential, OAuthStore, StoreMode};
use oauth_store_testkit::{ClientRegistration, EndpointConfig, IssuedTokens, TokenEndpoint};

pub(crate) use oauth_store_testkit::TestResult;

pub(crate) const SERVER: &str = "test-server";
pub(crate) const URL: &str = "https://mcp.example.test/mcp";
pub(crate) const CLIENT: &str = "test-client";

/// An endpoint with a public client registered and the given access-token lifetime.
pub(crate) fn endpoint(lifetime: Duration) -> TokenEndpoint {
    let ep = TokenEndpoint::start(
        EndpointConfig::default()
            .with_access_token_lifetime(lifetime)
            .with_token_prefix("SENTINEL-"),
    )
    .expect("start endpoint");
    ep.register_client(ClientRegistration::public(CLIENT));
    ep
}

/// A credential for a fresh grant at `ep`.
pub(crate) fn credential_from(
    ep: &TokenEndpoint,
    tokens: &IssuedTokens,
    now_ms: u64,
) -> Credential {
    Credential::builder(SERVER, URL, tokens.access_token.clone().into())
        .client_id(CLIENT)
        .refresh_token(tokens.refresh_token.clone().into())
        .token_endpoint(ep.token_endpoint())
        .expires_at(now_ms + tokens.expires_in * 1000)
        .build()
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// A File-mode store in `home` refreshing at the testkit through [`refresher::TestkitRefresher`].
pub(crate) fn file_store(home: &std::path::Path) -> OAuthStore {
    OAuthStore::builder()
        .default_stores(false)
        .home(home)
        .mode(StoreMode::File)
        .refresher(Arc::new(refresher::TestkitRefresher::new(
            Duration::from_secs(2),
        )))
        .build()
        .expect("store")
}

/// Captures formatted log output (all levels) into a string.
#[derive(Clone, Default)]
pub(crate) struct LogCapture(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogCapture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned()
    }
    /// Runs `f` with a TRACE subscriber writing here.
    pub(crate) fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(self.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f)
    }
}
