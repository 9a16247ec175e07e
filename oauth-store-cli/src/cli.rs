//! The command line: global options (accepted before or after the command) and the
//! commands, as clap parses them.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use oauth_store::{KeyringBackend, LayoutPreset, StoreMode};

use crate::error::CliError;

const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  2  usage (a bad option, input that does not parse)
  3  authorization required: log in again (rejected grant, refused client, nothing stored)
  4  store, lock or keyring error (corrupt document, lock timeout, a save that failed, a
     keyring that cannot be used here or did not answer under --store keyring|secrets, a
     migration that left a credential where it was)
  5  provider unreachable, failing, or the outcome of a refresh unknown
  6  doctor found problems

Errors are one line on stderr; with --json, one JSON object {\"error\": KIND, \"message\": TEXT}.
RUST_LOG (e.g. RUST_LOG=debug) turns on diagnostics on stderr.";

/// `oauth-store`: MCP OAuth credentials shared safely by many processes.
#[derive(Debug, Parser)]
#[command(
    name = "oauth-store",
    version,
    about = "MCP OAuth credentials shared safely by many processes: inspect, import, refresh, diagnose.",
    after_help = EXIT_CODES,
    max_term_width = 100,
    // The last of a repeated option wins, so an alias with options can be overridden.
    args_override_self = true
)]
pub(crate) struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub(crate) global: Global,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// Parses the command line as clap would, with `demo --help` offering only what
    /// `demo` takes: the global options it ignores or refuses (`--layout`, `--store`,
    /// `--keyring-backend`, `--keyring-timeout`, `--unsafe-uncoordinated`, which its own
    /// `--uncoordinated` replaces) are hidden there.
    ///
    /// # Errors
    /// clap's error (usage, or help and version to print).
    pub(crate) fn parse_args(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
        match Cli::command().try_get_matches_from(args) {
            Ok(matches) => Cli::from_arg_matches(&matches),
            Err(e)
                if e.kind() == clap::error::ErrorKind::DisplayHelp
                    && args.iter().skip(1).any(|a| a == "demo") =>
            {
                // Global options are copied into every subcommand when the command is
                // built: hidden at the root, they are hidden in `demo`'s help too.
                let command = DEMO_IGNORES.iter().fold(Cli::command(), |command, id| {
                    command.mut_arg(*id, |arg| arg.hide(true))
                });
                match command.try_get_matches_from(args) {
                    Err(help) => Err(help),
                    Ok(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// The global options `demo` does not take (it uses the File store of a fresh home).
const DEMO_IGNORES: [&str; 5] = [
    "layout",
    "store",
    "keyring_backend",
    "keyring_timeout",
    "unsafe_uncoordinated",
];

/// Options accepted before or after any command.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// Home directory of the credentials [default: $OAUTH_STORE_HOME, else
    /// $XDG_DATA_HOME/oauth-store, else ~/.local/share/oauth-store; with --layout codex:
    /// $CODEX_HOME, else ~/.codex]. Created 0700 when missing.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// Naming scheme of the home: this project's, or the Codex CLI's (to share its home).
    #[arg(long, global = true, value_enum, default_value_t = LayoutArg::Default)]
    pub(crate) layout: LayoutArg,
    /// Where credentials are stored: auto = the OS keyring when it can be used here, else
    /// the File store (no waiting: without a D-Bus session bus the answer is immediate).
    #[arg(long, global = true, value_enum, default_value_t = StoreArg::Auto)]
    pub(crate) store: StoreArg,
    /// What "keyring" means under --store auto.
    #[arg(long, global = true, value_enum, default_value_t = BackendArg::Direct)]
    pub(crate) keyring_backend: BackendArg,
    /// The PostgreSQL database of --store postgres (and migrate --to postgres):
    /// postgresql://USER@HOST:PORT/DATABASE [default: $OAUTH_STORE_DATABASE_URL]. Leave
    /// the password out (a command line is readable by other users): it comes from
    /// --passfile, $PGPASSFILE or ~/.pgpass. Never printed.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// The tenant within the database under --store postgres: credentials and locks of
    /// other namespaces are never seen or waited on.
    #[arg(long, global = true, value_name = "NAME", default_value = "default")]
    pub(crate) namespace: String,
    /// A libpq passfile (host:port:database:user:password, mode 0600) with the database
    /// password [default: $PGPASSFILE, else ~/.pgpass].
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) passfile: Option<PathBuf>,
    /// PEM CA certificates to trust for the database server's certificate, besides the
    /// webpki roots (a remote server is reached over TLS only).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) database_ca: Option<PathBuf>,
    /// Print results as JSON on stdout, and errors as one JSON object on stderr.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// FOR DEMONSTRATIONS AND TESTS ONLY: switch cross-process coordination off. Concurrent
    /// processes then replay rotated refresh tokens and the provider may revoke the grant.
    #[arg(long, global = true)]
    pub(crate) unsafe_uncoordinated: bool,
    /// How long to wait for a credential or store lock before failing (exit 4).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60)]
    pub(crate) lock_timeout: u64,
    /// How long any one OS keyring call may take (a hung daemon, an unlock prompt nobody
    /// answers) before it fails: exit 4 under --store keyring|secrets; --store auto then
    /// uses the File store to read, but never to save.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) keyring_timeout: u64,
    /// How long the whole provider interaction of a refresh (discovery included) may
    /// take, for the process that holds the credential lock. Keep it long enough for slow
    /// providers (a refresh that times out after it was sent has an unknown outcome,
    /// exit 5) and below the --lock-timeout of the other processes.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) http_timeout: u64,
    /// How long `logout --revoke` may spend at the provider (discovery included) before
    /// it gives up on revoking (best effort: the local copy is removed anyway).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) revoke_timeout: u64,
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LayoutArg {
    /// This project's layout.
    Default,
    /// The Codex CLI's layout (`.credentials.json` in $CODEX_HOME).
    Codex,
}

impl From<LayoutArg> for LayoutPreset {
    fn from(arg: LayoutArg) -> Self {
        match arg {
            LayoutArg::Default => LayoutPreset::Default,
            LayoutArg::Codex => LayoutPreset::Codex,
        }
    }
}

/// `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreArg {
    /// The keyring when usable, else the File store.
    Auto,
    /// The aggregate JSON document `.credentials.json`.
    File,
    /// One OS keyring entry per credential.
    Keyring,
    /// The encrypted document `secrets/mcp_oauth.age`.
    Secrets,
    /// A PostgreSQL database shared by many machines (--database-url, --namespace), with
    /// its credential lock on the same server.
    Postgres,
}

impl From<StoreArg> for StoreMode {
    fn from(arg: StoreArg) -> Self {
        match arg {
            StoreArg::Auto => StoreMode::Auto,
            StoreArg::File => StoreMode::File,
            StoreArg::Keyring => StoreMode::Keyring,
            StoreArg::Secrets => StoreMode::Secrets,
            // The shared store stands in the File store's place.
            StoreArg::Postgres => StoreMode::File,
        }
    }
}

/// `--keyring-backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// One OS keyring entry per credential.
    Direct,
    /// The Secrets store, whose key is in the keyring.
    Secrets,
}

impl From<BackendArg> for KeyringBackend {
    fn from(arg: BackendArg) -> Self {
        match arg {
            BackendArg::Direct => KeyringBackend::Direct,
            BackendArg::Secrets => KeyringBackend::Secrets,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the store key of a server (NAME|16 hex, as the Codex CLI computes it).
    Key(Server),
    /// Save a token response (JSON) as the server's credential, replacing any stored one.
    #[command(long_about = IMPORT_ABOUT)]
    Import(ImportArgs),
    /// Log in to an MCP server (browser or --device) and save the credential.
    #[command(long_about = LOGIN_ABOUT)]
    Login(LoginArgs),
    /// List the stored credentials (never a token value).
    List,
    /// Show one credential, secrets redacted.
    #[command(
        long_about = "Show one credential: every field ending in _token or containing \"secret\" is shown as \"<redacted>\" (also with --json). Nothing stored: exit 3."
    )]
    Show(Server),
    /// Print the access token, refreshing it first when it is about to expire.
    #[command(long_about = TOKEN_ABOUT)]
    Token(TokenArgs),
    /// Print {"Authorization": "Bearer <access token>"}, after the same refresh as `token`.
    #[command(long_about = HEADERS_ABOUT)]
    Headers(TokenArgs),
    /// Refresh the access token when it is due (--force: now).
    Refresh(RefreshArgs),
    /// Remove the credential from every store (--revoke: revoke it at the provider first).
    Logout(LogoutArgs),
    /// Quarantine a corrupt credentials document and rebuild it from the entries that parse.
    Repair,
    /// Move every credential of the home into one store (file, keyring or secrets).
    #[command(long_about = MIGRATE_ABOUT)]
    Migrate(MigrateArgs),
    /// Check the home: stores, keyring, locks, permissions, file system (exit 6 on a problem).
    #[command(long_about = DOCTOR_ABOUT)]
    Doctor,
    /// The Secrets store's key: export it for a backup, replace it, put it back.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Show what coordination prevents: many processes share one rotating credential.
    #[command(long_about = DEMO_ABOUT)]
    Demo(DemoArgs),
    /// One worker process of `demo` (internal).
    #[command(name = "__demo-worker", hide = true)]
    DemoWorker(WorkerArgs),
}

const IMPORT_ABOUT: &str = "\
Save a token response (JSON, RFC 6749 section 5.1) as the server's credential, replacing any \
stored one. Reads --from FILE, or standard input when --from is absent or `-`.

Fields: access_token (required), token_type, expires_in (seconds from now), refresh_token, \
scope (space separated), and the client registration: client_id, client_secret, \
token_endpoint_auth_method, issuer, token_endpoint. Any other field is kept as is. \
When the response has no client_id, or the same client_id as the stored credential, each \
registration field it omits is kept from the stored credential (a dynamically registered \
client_secret is not lost).";

const LOGIN_ABOUT: &str = "\
Log in to an MCP server as the MCP authorization specification (2025-11-25) describes and \
save the credential, replacing any stored one: discovery from the server's 401 (RFC 9728 \
protected resource metadata, RFC 8414 authorization server metadata), a client (--client-id, \
else the registration stored for this issuer, else --client-metadata-url when the server \
supports it, else dynamic client registration, RFC 7591), then the authorization code flow \
with PKCE S256 through a listener on 127.0.0.1 (the authorization URL is printed on stderr and \
opened in a browser unless --no-browser or there is no display), or with --device the device \
authorization grant (RFC 8628: open the printed URL anywhere and enter the code). \
Over SSH: --no-browser --callback-port N and forward that port (ssh -L N:127.0.0.1:N), or --device. \
Exit codes: 0 saved; 2 usage; 3 denied, timed out, or a failed check (state, iss, resource, \
issuer, no S256); 4 store; 5 network or provider failure. Nothing is saved unless the whole \
flow succeeded.";

const TOKEN_ABOUT: &str = "\
Print the access token (and a newline, nothing else) on stdout, refreshing it first through \
the serialized refresh transaction when it is due. Two thresholds decide: past --refresh-ahead \
(advisory) it is refreshed only if no other process is refreshing it right now, otherwise the \
current token is printed at once; past --min-valid (mandatory), or expired, the command waits \
for the other process's refresh (never past the token's own expiry: then it fails, exit 4) or \
refreshes itself. By default both scale with the token's lifetime as issued: --refresh-ahead \
min(300, half of it), --min-valid min(30, a quarter of it), so a just-issued token is never \
refreshed. If a refresh fails transiently or its outcome is unknown while the current token \
has not expired yet, the current token is printed, a warning goes to stderr, and the exit \
code is 0. A token of unknown expiry is printed as is.";

const HEADERS_ABOUT: &str = "\
Print the access token as HTTP request headers: one JSON object, {\"Authorization\": \"Bearer \
<access token>\"}, and a newline on stdout, nothing else (also with --json). It is what Claude \
Code's headersHelper (in an MCP server's configuration) runs and reads. The token is the one \
`token` would print, after the same refresh (same options, same warning when a refresh fails \
while the current token is still valid, same exit codes: nothing stored, or a login that can \
no longer be refreshed, is exit 3).";

const MIGRATE_ABOUT: &str = "\
Move every credential of the home, from every store that can be used here, into the store \
--to names. Each credential is moved under its credential lock: the newest copy (by \
updated_at) is saved in the target store first, and only then are the copies in the other \
stores removed, so a failure leaves it where it was (nothing is lost) and a process that \
cannot reach the target never finds an older copy to replay. One line per credential; \
exit 4 when any could not be moved (or an older copy could not be removed). A store that \
cannot be used here (no session bus, a locked keyring) is skipped with a note: what it \
holds stays there.";

const DOCTOR_ABOUT: &str = "\
Check the home without changing it: the layout, the OS keyring (usable, or why not), the \
Secrets store (document and key present, without creating a key), where each credential \
resolved and why, lock files and their live holders, permission and ownership problems, a \
home on a network file system. A keyring that cannot be used here is information under \
--store file and --store auto (auto uses the File store by design), and a problem under \
--store keyring and --store secrets (whose key lives in the keyring). Exit 0 when healthy, \
6 when it found a problem.";

const DEMO_ABOUT: &str = "\
Show what coordination prevents. In a fresh temporary home (or subdirectories of --home), \
start a local token endpoint whose access tokens live 2 s and whose refresh tokens rotate \
(presenting a used one revokes the grant), log in, and run --workers processes of this \
command that each call `token` in a loop for --seconds. Then print one table: processes, \
calls, provider refreshes, reuse detections, whether the grant was revoked, failed calls, \
and the p50 and p99 latency of a `token` call. --uncoordinated adds the same storm with \
--unsafe-uncoordinated in its own home, side by side. Uses the File store.";

/// A server, as `--server NAME --url URL`.
#[derive(Debug, Clone, Args)]
pub(crate) struct Server {
    /// The MCP server's name, as configured in the client (not empty, no `|`, no
    /// control character).
    #[arg(long, value_name = "NAME")]
    pub(crate) server: String,
    /// The MCP server's URL (no user info, no fragment).
    #[arg(long, value_name = "URL")]
    pub(crate) url: String,
}

impl Server {
    /// Checks the name and the URL; every command that takes `--server` calls this
    /// before it touches a store (clap's own validation would quote the value, and a
    /// URL may hold a password).
    ///
    /// The name is the store key's first part, `NAME|<16 hex>`, so an empty name or a
    /// `|` would make the key ambiguous, and a control character could forge a line of
    /// `list` or `doctor`. The URL follows [`oauth_store::store_core::check_server_url`].
    ///
    /// # Errors
    /// [`CliError::Usage`] (exit 2) saying what is wrong, without quoting the URL.
    pub(crate) fn validate(&self) -> Result<(), CliError> {
        let name = &self.server;
        if name.is_empty() {
            return Err(CliError::Usage("--server: the server name is empty".into()));
        }
        if name.contains('|') {
            return Err(CliError::Usage(
                "--server: a server name must not contain `|` (it separates the name from the hash in the store key)".into(),
            ));
        }
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(CliError::Usage(format!(
                "--server: the server name holds a control character (U+{:04X})",
                u32::from(c)
            )));
        }
        oauth_store::store_core::check_server_url(&self.url)
            .map_err(|e| CliError::Usage(format!("--url: {e}")))
    }
}

/// `import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The server.
    #[command(flatten)]
    pub(crate) server: Server,
    /// Read the token response from FILE (`-`: standard input, the default).
    #[arg(long, value_name = "FILE|-")]
    pub(crate) from: Option<PathBuf>,
}

/// `login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The server.
    #[command(flatten)]
    pub(crate) server: Server,
    /// Scopes to ask for, space separated (default: the server's challenge, else its
    /// metadata's scopes_supported). With a stored credential: its scopes and these.
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scope: Option<String>,
    /// A pre-registered client id (no registration).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The file holding the client secret of a confidential --client-id.
    #[arg(long, value_name = "FILE", requires = "client_id")]
    pub(crate) client_secret_file: Option<PathBuf>,
    /// A client ID metadata document URL, used when the server supports them.
    #[arg(long, value_name = "URL")]
    pub(crate) client_metadata_url: Option<String>,
    /// The loopback port of the redirect listener (default: one the OS picks).
    #[arg(long, value_name = "PORT")]
    pub(crate) callback_port: Option<u16>,
    /// The redirect URI to send (http on a loopback host); the listener binds 127.0.0.1.
    #[arg(long, value_name = "URL")]
    pub(crate) callback_url: Option<String>,
    /// Print the authorization URL only; do not open a browser.
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// The device authorization grant (RFC 8628) instead of the browser.
    #[arg(long, conflicts_with_all = ["callback_port", "callback_url", "no_browser"])]
    pub(crate) device: bool,
    /// How long to wait for the person, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub(crate) timeout: u64,
}

/// `token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The server.
    #[command(flatten)]
    pub(crate) server: Server,
    /// Advisory threshold: refresh ahead when the access token has this many seconds or
    /// less left, if no other process is refreshing it (else print the current one).
    /// Default: min(300, half the token's lifetime).
    #[arg(long, value_name = "SECS")]
    pub(crate) refresh_ahead: Option<u64>,
    /// Mandatory threshold: wait for the lock and refresh when the access token has this
    /// many seconds or less left. Default: min(30, a quarter of the token's lifetime).
    #[arg(long, value_name = "SECS")]
    pub(crate) min_valid: Option<u64>,
}

/// `refresh`.
#[derive(Debug, Args)]
pub(crate) struct RefreshArgs {
    /// The server.
    #[command(flatten)]
    pub(crate) server: Server,
    /// Refresh now, even when the access token is still valid for 30 s or more.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `logout`.
#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The server.
    #[command(flatten)]
    pub(crate) server: Server,
    /// Revoke the refresh token (or the access token) at the provider first (RFC 7009), best
    /// effort: a failed revocation is a warning, and the credential is removed anyway.
    #[arg(long)]
    pub(crate) revoke: bool,
}

/// `migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The store that keeps every credential afterwards.
    #[arg(long, value_enum, value_name = "STORE")]
    pub(crate) to: TargetArg,
}

/// `migrate --to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetArg {
    /// The aggregate JSON document `.credentials.json`.
    File,
    /// One OS keyring entry per credential.
    Keyring,
    /// The encrypted document `secrets/mcp_oauth.age`.
    Secrets,
    /// The PostgreSQL database of --database-url (namespace --namespace).
    Postgres,
}

/// `secrets`.
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// PRINTS A SECRET: the key that decrypts every credential in the Secrets store.
    #[command(long_about = EXPORT_KEY_ABOUT)]
    ExportKey,
    /// Replace the Secrets store's key with a new random one (crash-safe).
    #[command(long_about = REKEY_ABOUT)]
    Rekey,
    /// Put an exported key back (after checking that it opens the document).
    #[command(long_about = IMPORT_KEY_ABOUT)]
    ImportKey(ImportKeyArgs),
}

const EXPORT_KEY_ABOUT: &str = "\
PRINTS A SECRET on stdout: the key (AGE-SECRET-KEY-1..., or the Codex CLI's passphrase under \
--layout codex) that decrypts every credential in the Secrets store \
(secrets/mcp_oauth.age). It is the one command of oauth-store that prints a secret, so that \
a backup exists: losing the key (a new keyring, another machine) loses every credential in \
the document. Keep it like a password: redirect it to a private file or a password manager, \
never a shared log; it is printed even under --json, and a warning goes to stderr when \
stdout is a terminal. The key is checked to open the document first. No key yet (nothing \
was ever saved there): exit 4.";

const REKEY_ABOUT: &str = "\
Replace the Secrets store's key with a new random one, in the same place (the OS keyring). \
Crash-safe: the document is first written to both keys, then the keyring takes the new key, \
then the document is written to the new key alone; at every moment the key in the keyring \
opens it. Export the new key afterwards: an older backup no longer opens the document. \
Refused under --layout codex (a passphrase document cannot be re-keyed in place).";

const IMPORT_KEY_ABOUT: &str = "\
Put an exported key back where the Secrets store keeps it (the OS keyring), e.g. after moving \
the home to another machine. Reads the key from --from FILE, or standard input when --from is \
absent or `-` (surrounding whitespace is ignored). The key must open the document; with no \
document, the keyring must hold no key or this one. Nothing is printed but a confirmation.";

/// `secrets import-key`.
#[derive(Debug, Args)]
pub(crate) struct ImportKeyArgs {
    /// Read the key from FILE (`-`: standard input, the default).
    #[arg(long, value_name = "FILE|-")]
    pub(crate) from: Option<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many worker processes share the credential.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) workers: u32,
    /// How long each worker calls `token`, in seconds.
    #[arg(long, value_name = "D", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) seconds: u64,
    /// Also run the same storm with --unsafe-uncoordinated (in its own home), side by side.
    #[arg(long)]
    pub(crate) uncoordinated: bool,
}

/// `__demo-worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The server.
    #[command(flatten)]
    pub(crate) server: Server,
    /// How long to call `token`, in seconds.
    #[arg(long)]
    pub(crate) seconds: u64,
    /// `token --min-valid`.
    #[arg(long, default_value_t = 1)]
    pub(crate) min_valid: u64,
}
