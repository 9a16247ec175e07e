//! The HTTP refresher (feature `http`) against the testkit token endpoint, and against a
//! canned-answer server where the testkit cannot misbehave the way a test needs.

mod auth;
mod discovery;
mod hostile;
mod restart;
mod status;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use oauth_store::store_core::TokenEndpointAuthMethod;
use oauth_store::{Credential, HttpRefresher, OAuthStore, StoreMode};
use oauth_store_testkit::{ClientRegistration, EndpointConfig, IssuedTokens, TokenEndpoint};

pub(crate) use oauth_store_testkit::TestResult;

/// The MCP server of every test here; also the RFC 8707 `resource` the endpoint requires.
pub(crate) const SERVER: &str = "http-test";
pub(crate) const URL: &str = "https://mcp.example.test/mcp";
/// Put before every token the endpoint mints, so logs and messages can be searched.
pub(crate) const SENTINEL: &str = "SENTINEL-";

/// An endpoint that requires `resource` = [`URL`], with `client` registered.
pub(crate) fn endpoint(client: &ClientRegistration) -> TokenEndpoint {
    let ep = TokenEndpoint::start(
        EndpointConfig::default()
            .with_required_resource(URL)
            .with_token_prefix(SENTINEL),
    )
    .expect("start endpoint");
    ep.register_client(client.clone());
    ep
}

/// A credential for a fresh grant of `client` at `ep`, its access token already expired,
/// recording the client's registered method and secret as dynamic registration would.
pub(crate) fn credential(
    ep: &TokenEndpoint,
    client: &ClientRegistration,
    tokens: &IssuedTokens,
) -> Credential {
    let mut builder = Credential::builder(SERVER, URL, tokens.access_token.clone().into())
        .client_id(client.client_id.clone())
        .token_endpoint_auth_method(TokenEndpointAuthMethod::from_name(
            client.auth_method.as_str(),
        ))
        .refresh_token(tokens.refresh_token.clone().into())
        .issuer(ep.issuer())
        .token_endpoint(ep.token_endpoint())
        .expires_at(1_000);
    if let Some(secret) = &client.client_secret {
        builder = builder.client_secret(secret.clone().into());
    }
    builder.build()
}

/// A File-mode store in `home` refreshing through `refresher`.
pub(crate) fn store(home: &Path, refresher: HttpRefresher) -> OAuthStore {
    OAuthStore::builder()
        .default_stores(false)
        .home(home)
        .mode(StoreMode::File)
        .refresher(Arc::new(refresher))
        .build()
        .expect("store")
}

/// A refresher with a short timeout, so a test of a slow provider stays short.
pub(crate) fn refresher() -> HttpRefresher {
    HttpRefresher::new().with_timeout(Duration::from_secs(5))
}

pub(crate) fn expose(secret: &oauth_store::SecretString) -> String {
    use oauth_store::store_core::ExposeSecret;
    secret.expose_secret().to_owned()
}

/// A loopback server answering each connection with the next canned answer (raw
/// HTTP/1.1 text), and keeping each request's head and body.
pub(crate) struct CannedServer {
    pub(crate) url: String,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl CannedServer {
    pub(crate) fn start(answers: Vec<String>) -> CannedServer {
        CannedServer::start_with(|_| answers)
    }

    /// Starts a server whose answers may name its own URL.
    pub(crate) fn start_with(answers: impl FnOnce(&str) -> Vec<String>) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let answers = answers(&url);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            for answer in answers {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let request = read_request(&stream);
                seen.lock().expect("requests").push(request);
                let mut stream = stream;
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        CannedServer {
            url,
            requests,
            thread: Some(thread),
        }
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }

    /// Waits for the server to have answered every canned answer.
    pub(crate) fn finish(mut self) {
        if let Some(thread) = self.thread.take() {
            thread.join().expect("canned server");
        }
    }
}

fn read_request(stream: &TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    head + &String::from_utf8_lossy(&body)
}

/// A raw HTTP/1.1 answer with a JSON body.
pub(crate) fn json_answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

/// A credential of a public client whose token endpoint is `token_endpoint`.
pub(crate) fn credential_at(token_endpoint: &str) -> Credential {
    Credential::builder(SERVER, URL, "at-old".to_owned().into())
        .client_id("canned-client")
        .refresh_token("rt-old".to_owned().into())
        .token_endpoint(token_endpoint)
        .expires_at(1_000)
        .build()
}
