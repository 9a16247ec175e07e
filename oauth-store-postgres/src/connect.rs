//! Connecting: the URL, the password from a passfile, TLS for remote servers, and the
//! session settings (timeouts, keepalives, `application_name`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::Error;

/// How the store and its lock talk to the server; [`Options::default`] gives the values
/// below.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The tenant: credentials and locks of other namespaces are never seen or
    /// waited on. Default `default`.
    pub namespace: String,
    /// Whether opening creates (or migrates) the schema when missing (older). Default
    /// true; `doctor` and read-only commands turn it off.
    pub create_schema: bool,
    /// A passfile in libpq's format (`host:port:database:user:password`), read when
    /// the URL has no password; it must not be readable by group or others. Default:
    /// `$PGPASSFILE`, else `~/.pgpass` when it exists.
    pub passfile: Option<PathBuf>,
    /// PEM CA certificates trusted for the server's certificate besides the webpki
    /// roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Bound on connecting. Default 10 s.
    pub connect_timeout: Duration,
    /// Bound on every statement but the lock wait (server side, `statement_timeout`).
    /// Default 30 s.
    pub statement_timeout: Duration,
    /// How long a lock holder's connection may stay idle (server side,
    /// `idle_session_timeout`, PostgreSQL 14 and later) before the server ends it and so
    /// frees the lock: above the provider's timeout, so a slow refresh keeps its lock,
    /// but bounded, so a paused holder does not keep it for ever. Default 10 min.
    pub hold_limit: Duration,
    /// TCP keepalive idle time (client and server side). With [`Options::keepalive_interval`]
    /// and [`Options::keepalive_retries`] it bounds how long the lock of a vanished host
    /// stays held: about idle + interval x retries. Default 10 s.
    pub keepalive_idle: Duration,
    /// TCP keepalive interval. Default 5 s.
    pub keepalive_interval: Duration,
    /// TCP keepalive probes before the connection is dropped. Default 3.
    pub keepalive_retries: u32,
    /// `TCP_USER_TIMEOUT` (Linux): unacknowledged data for longer than this drops the
    /// connection. Default 30 s.
    pub tcp_user_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "default".to_owned(),
            create_schema: true,
            passfile: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            hold_limit: Duration::from_secs(600),
            keepalive_idle: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            keepalive_retries: 3,
            tcp_user_timeout: Duration::from_secs(30),
        }
    }
}

impl Options {
    /// The defaults with `namespace`.
    pub fn with_namespace(namespace: impl Into<String>) -> Self {
        Options {
            namespace: namespace.into(),
            ..Options::default()
        }
    }

    /// The bound on the vanished-host case: keepalive idle + interval x retries, or the
    /// TCP user timeout when data was in flight, whichever is larger.
    pub fn dead_host_bound(&self) -> Duration {
        (self.keepalive_idle + self.keepalive_interval * self.keepalive_retries)
            .max(self.tcp_user_timeout)
    }
}

/// A parsed, checked connection: the client configuration, the TLS connector and a
/// password-free description of the target.
#[derive(Clone)]
pub(crate) struct Connector {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    pub(crate) target: String,
    pub(crate) tls_required: bool,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target)
            .field("tls_required", &self.tls_required)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Parses `url` (a `postgresql://` URL or a `key=value` string) and applies the
    /// options.
    pub(crate) fn new(url: &str, options: &Options) -> Result<Self, Error> {
        let mut config: postgres::Config = url.parse().map_err(|_| Error::Config {
            // The client's message can quote the URL, password included.
            reason: "the database URL does not parse (expected postgresql://user@host:port/database or key=value pairs)".into(),
        })?;
        if config.get_hosts().is_empty() {
            config.host_path("/var/run/postgresql");
        }
        let user = config
            .get_user()
            .map(str::to_owned)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "postgres".to_owned());
        if config.get_user().is_none() {
            config.user(&user);
        }
        let dbname = config.get_dbname().unwrap_or(&user).to_owned();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let target = format!("{host}:{port}/{dbname} as {user}");
        let local = config.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(h) => {
                h == "localhost"
                    || h.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        });
        let tls_required = !local;
        if tls_required {
            // A remote server is reached over TLS that verifies its certificate.
            match config.get_ssl_mode() {
                SslMode::Disable => {
                    return Err(Error::Config {
                        reason: format!(
                            "sslmode=disable for the remote server {target}: TLS (verifying the server certificate) is required off this machine"
                        ),
                    });
                }
                _ => {
                    config.ssl_mode(SslMode::Require);
                }
            }
        } else if config.get_ssl_mode() == SslMode::Prefer {
            // Loopback and unix sockets stay on this machine; `require` in the URL
            // still asks for TLS.
            config.ssl_mode(SslMode::Disable);
        }
        if config.get_password().is_none()
            && let Some(password) = passfile_password(options, &host, port, &dbname, &user)?
        {
            config.password(password);
        }
        config
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(options.keepalive_idle)
            .keepalives_interval(options.keepalive_interval)
            .keepalives_retries(options.keepalive_retries)
            .tcp_user_timeout(options.tcp_user_timeout)
            .application_name(&application_name());
        // Server side: statements bounded; the server's keepalives find a vanished
        // client as the client's find a vanished server.
        config.options(&format!(
            "-c statement_timeout={} -c tcp_keepalives_idle={} -c tcp_keepalives_interval={} -c tcp_keepalives_count={}",
            options.statement_timeout.as_millis(),
            options.keepalive_idle.as_secs().max(1),
            options.keepalive_interval.as_secs().max(1),
            options.keepalive_retries,
        ));
        let tls = MakeRustlsConnect::new(tls_config(options.ca_file.as_deref())?);
        Ok(Connector {
            config,
            tls,
            target,
            tls_required,
        })
    }

    /// A new connection.
    pub(crate) fn connect(&self) -> Result<postgres::Client, Error> {
        self.config
            .connect(self.tls.clone())
            .map_err(|e| Error::from_client("connect", &self.target, &e))
    }
}

/// `oauth-store <host> pid <pid>`, at most 63 bytes (the server's limit): what `doctor`
/// and `pg_stat_activity` show for a lock holder.
pub fn application_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(36)
        .collect();
    format!("oauth-store {host} pid {}", std::process::id())
}

/// rustls with the webpki roots, and the certificates of `ca_file` when given.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| Error::Config {
            reason: format!("the CA file {}: {e}", path.display()),
        })?;
        for cert in certs {
            let cert = cert.map_err(|e| Error::Config {
                reason: format!("the CA file {}: {e}", path.display()),
            })?;
            roots.add(cert).map_err(|e| Error::Config {
                reason: format!("the CA file {}: {e}", path.display()),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            reason: format!("TLS: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The password for (`host`, `port`, `dbname`, `user`) from the passfile, as libpq reads
/// it (`*` matches anything; `\:` and `\\` escape; a unix socket host matches
/// `localhost`). A passfile readable by group or others is refused, as libpq ignores
/// it, but with an error, so the reason is not a mystery.
fn passfile_password(
    options: &Options,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Result<Option<String>, Error> {
    let path = match &options.passfile {
        Some(path) => path.clone(),
        None => match std::env::var_os("PGPASSFILE").filter(|v| !v.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".pgpass"),
                None => return Ok(None),
            },
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && options.passfile.is_none() => {
            return Ok(None);
        }
        Err(e) => {
            return Err(Error::Config {
                reason: format!("the passfile {}: {e}", path.display()),
            });
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(Error::Config {
                reason: format!(
                    "the passfile {} is readable by group or others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                ),
            });
        }
    }
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_passfile_line(line);
        let [h, p, d, u, password] = fields.as_slice() else {
            continue;
        };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(h, host) && matches(p, &port) && matches(d, dbname) && matches(u, user) {
            return Ok(Some(password.clone()));
        }
    }
    Ok(None)
}

/// The five fields of a passfile line, unescaped.
fn split_passfile_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next()
                    && let Some(last) = fields.last_mut()
                {
                    last.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(last) = fields.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    fields
}
