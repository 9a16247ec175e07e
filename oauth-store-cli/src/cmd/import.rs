//! `import`: a token response (RFC 6749 section 5.1) saved as the credential, through the
//! facade's login (under the credential lock, replacing any stored copy).

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use oauth_store::store_core::{ExtraFields, TokenEndpointAuthMethod};
use oauth_store::{Credential, SecretString, StoreError, TokenResponse};

use crate::cli::{Global, ImportArgs};
use crate::error::CliError;
use crate::open::open;
use crate::output;

/// A token response is a few KiB; anything much larger is not one.
const MAX_INPUT: u64 = 1024 * 1024;

/// The client registration members a token response may carry (this CLI's extension of
/// RFC 6749 section 5.1, so a login can be imported in one document).
#[derive(Default)]
struct Registration {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    auth_method: Option<String>,
    issuer: Option<String>,
    token_endpoint: Option<String>,
}

/// Reads the response, merges the stored registration where allowed, saves it, and
/// prints where it went.
pub(crate) fn run(global: &Global, args: &ImportArgs) -> Result<ExitCode, CliError> {
    let (body, source) = read_input(args.from.as_deref())?;
    let mut response =
        TokenResponse::from_json(&body).map_err(|e| CliError::Usage(format!("{source}: {e}")))?;
    let registration = take_registration(&mut response.extra)
        .map_err(|e| CliError::Usage(format!("{source}: {e}")))?;

    let store = open(global)?;
    let handle = store.handle(&args.server.server, &args.server.url);
    let stored = match handle.load() {
        Ok(stored) => stored,
        // An entry that does not parse is replaced by this import, as asked.
        Err(oauth_store::Error::Store(e @ StoreError::CorruptEntry { .. })) => {
            output::warn(format!("{e}; the import replaces it"));
            None
        }
        Err(e) => return Err(e.into()),
    };
    let credential = assemble(
        &args.server.server,
        &args.server.url,
        &response,
        registration,
        stored.as_ref(),
    );
    let expires_at = credential.expires_at;
    let resolution = handle.save_grant(credential)?;

    let now = output::now_ms();
    let expires_in = output::expires_in_s(expires_at, now);
    if global.json {
        output::json(&serde_json::json!({
            "store_key": handle.key().as_str(),
            "store": resolution.store.as_str(),
            "reason": resolution.reason.as_str(),
            "expires_at_ms": expires_at,
            "expires_in_s": expires_in,
            "replaced": stored.is_some(),
        }));
    } else {
        output::line(format!(
            "{} {} in the {} store ({}); the access token {}",
            if stored.is_some() {
                "replaced"
            } else {
                "saved"
            },
            handle.key(),
            resolution.store,
            resolution.reason,
            output::expiry_phrase(expires_in)
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The new record: tokens, scopes, expiry and unknown fields from the response; the
/// registration from the response, each field it omits kept from the stored credential
/// when the client is the same (no `client_id` in the response, or the stored one).
fn assemble(
    server_name: &str,
    server_url: &str,
    response: &TokenResponse,
    registration: Registration,
    stored: Option<&Credential>,
) -> Credential {
    let same_client = stored.filter(|s| {
        registration
            .client_id
            .as_deref()
            .is_none_or(|id| id == s.client_id)
    });
    let client_id = registration
        .client_id
        .or_else(|| same_client.map(|s| s.client_id.clone()))
        .unwrap_or_default();
    let mut builder = Credential::builder(server_name, server_url, response.access_token.clone())
        .client_id(client_id);
    if let Some(secret) = registration
        .client_secret
        .or_else(|| same_client.and_then(|s| s.client_secret.clone()))
    {
        builder = builder.client_secret(secret);
    }
    let method = registration
        .auth_method
        .map(|m| TokenEndpointAuthMethod::from_name(&m))
        .or_else(|| same_client.and_then(|s| s.token_endpoint_auth_method.clone()));
    if let Some(method) = method {
        builder = builder.token_endpoint_auth_method(method);
    }
    if let Some(issuer) = registration
        .issuer
        .or_else(|| same_client.and_then(|s| s.issuer.clone()))
    {
        builder = builder.issuer(issuer);
    }
    if let Some(endpoint) = registration
        .token_endpoint
        .or_else(|| same_client.and_then(|s| s.token_endpoint.clone()))
    {
        builder = builder.token_endpoint(endpoint);
    }
    let mut credential = builder.build();
    // Tokens, token type, scopes (space separated -> list), expires_in -> expires_at, and
    // every other member kept as is.
    credential.apply_token_response(response, output::now_ms());
    credential
}

/// Takes the registration members out of the response's unknown members. A member of
/// the wrong type is an error naming the field, never its value.
fn take_registration(extra: &mut ExtraFields) -> Result<Registration, String> {
    let mut registration = Registration::default();
    let mut kept = ExtraFields::new();
    for (name, raw) in std::mem::take(extra) {
        let text = || {
            serde_json::from_str::<Option<String>>(raw.get())
                .map_err(|_| format!("field `{name}`: expected a string or null"))
        };
        match name.as_str() {
            "client_id" => registration.client_id = text()?,
            "client_secret" => registration.client_secret = text()?.map(SecretString::from),
            "token_endpoint_auth_method" => registration.auth_method = text()?,
            "issuer" => registration.issuer = text()?,
            "token_endpoint" => registration.token_endpoint = text()?,
            _ => kept.push((name, raw)),
        }
    }
    *extra = kept;
    Ok(registration)
}

/// The input bytes and a name for them in messages (`FILE` or `standard input`).
fn read_input(from: Option<&Path>) -> Result<(Vec<u8>, String), CliError> {
    let mut body = Vec::new();
    match from {
        Some(path) if path != Path::new("-") => {
            let name = path.display().to_string();
            let file = std::fs::File::open(path)
                .map_err(|e| CliError::Usage(format!("--from {name}: {e}")))?;
            file.take(MAX_INPUT + 1)
                .read_to_end(&mut body)
                .map_err(|e| CliError::Usage(format!("--from {name}: {e}")))?;
            check_size(&body, &name)?;
            Ok((body, name))
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                output::note(
                    "reading a token response (JSON) from standard input; end it with Ctrl-D",
                );
            }
            stdin
                .lock()
                .take(MAX_INPUT + 1)
                .read_to_end(&mut body)
                .map_err(|e| CliError::Usage(format!("standard input: {e}")))?;
            check_size(&body, "standard input")?;
            Ok((body, "standard input".to_owned()))
        }
    }
}

fn check_size(body: &[u8], name: &str) -> Result<(), CliError> {
    if body.len() as u64 > MAX_INPUT {
        return Err(CliError::Usage(format!(
            "{name}: over {MAX_INPUT} bytes; not a token response"
        )));
    }
    Ok(())
}
