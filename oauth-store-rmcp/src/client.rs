//! [`OwnedRefreshClient`]: an rmcp Streamable HTTP client whose bearer token comes from
//! the facade's refresh transaction instead of rmcp's `AuthorizationManager`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use oauth_store::{AsyncCredentialHandle, CredentialHandle, ErrorKind, ExposeSecret};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::{Error as SseError, Sse};

/// An rmcp [`StreamableHttpClient`] over a `reqwest::Client` that owns the refresh: every
/// request carries the access token of the facade's refresh transaction
/// ([`AsyncCredentialHandle::fresh`]: a fresher token saved by any process is adopted
/// first, and one process refreshes per token lifetime for the whole machine, past the
/// thresholds of DESIGN.md "Refresh thresholds"), as an RFC 6750 section 2.1
/// `Authorization: Bearer` header. A 401 (RFC 6750 section 3.1, `invalid_token`) is
/// recovered once ([`AsyncCredentialHandle::recover_unauthorized`]: at most one refresh
/// per rejected token across all processes) and the request retried once with the new
/// token; a second 401 is returned as rmcp's `AuthRequired` with the server's challenge.
///
/// Provider refreshes so stay about `duration / (lifetime - skew)` whatever the number
/// of processes, where rmcp's own manager makes one per process waiting on an expired
/// token. Use it with `StreamableHttpClientTransport::with_client`; the transport's own
/// `auth_header` is ignored (this client always sends its own).
///
/// A token that expires while another process refreshes it
/// (`oauth_store::Error::ExpiredWhileWaiting`) is asked for once more: the expired token
/// then waits for that refresh, bounded by the store's lock timeout.
///
/// Errors: authorization required (nothing stored, tokens dropped, grant rejected) is
/// `StreamableHttpError::Auth(AuthError::AuthorizationRequired)`; a provider failure
/// `AuthError::TokenRefreshFailed`; a store or lock failure
/// `AuthError::CredentialStoreError`.
#[derive(Clone)]
pub struct OwnedRefreshClient {
    inner: reqwest::Client,
    handle: AsyncCredentialHandle,
}

impl fmt::Debug for OwnedRefreshClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedRefreshClient")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

type HttpError = StreamableHttpError<reqwest::Error>;

impl OwnedRefreshClient {
    /// A client sending through `inner` with the tokens of `handle`'s credential (its
    /// store must have a token refresher, e.g. `HttpRefresher`, for refreshes to happen).
    pub fn new(inner: reqwest::Client, handle: CredentialHandle) -> Self {
        OwnedRefreshClient {
            inner,
            handle: AsyncCredentialHandle::new(handle),
        }
    }

    /// The facade's handle.
    pub fn handle(&self) -> &Arc<CredentialHandle> {
        self.handle.sync_handle()
    }

    /// Runs `call` with the current access token; on a 401, recovers once and retries
    /// once with the new token.
    async fn with_bearer<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let current = match self.handle.fresh().await {
            // The token expired while another process was refreshing it (the wait is
            // bounded by the token's own expiry). Asked again, the now expired token
            // waits for that refresh, bounded by the lock timeout, instead of failing a
            // request that only needs the new token.
            Err(oauth_store::Error::ExpiredWhileWaiting { .. }) => self.handle.fresh().await,
            other => other,
        }
        .map_err(|e| http_error(&e))?;
        let sent = current.access_token;
        match call(sent.expose_secret().to_owned()).await {
            Err(StreamableHttpError::AuthRequired(challenge)) => {
                match self.handle.recover_unauthorized(&sent).await {
                    Ok(recovered) if !recovered.access_token_is(&sent) => {
                        call(recovered.access_token.expose_secret().to_owned()).await
                    }
                    Ok(_) => Err(StreamableHttpError::AuthRequired(challenge)),
                    Err(e) if e.kind() == ErrorKind::AuthorizationRequired => {
                        tracing::debug!(target: "oauth_store_rmcp", error = %e, "the 401 needs a new authorization");
                        Err(StreamableHttpError::AuthRequired(challenge))
                    }
                    Err(e) => Err(http_error(&e)),
                }
            }
            other => other,
        }
    }
}

/// rmcp's error for a facade error.
fn http_error(error: &oauth_store::Error) -> HttpError {
    StreamableHttpError::Auth(crate::store::auth_error(error))
}

impl StreamableHttpClient for OwnedRefreshClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.with_bearer(|token| {
            self.inner.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.with_bearer(|token| {
            self.inner.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.with_bearer(|token| {
            self.inner.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        self.with_bearer(|token| {
            self.inner.delete_session(
                uri.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.with_bearer(|token| {
            self.inner.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                Some(token),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.with_bearer(|token| {
            self.inner.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                Some(token),
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}
