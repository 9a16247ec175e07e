//! `demo`: N processes share one rotating credential against a local token endpoint, with
//! coordination (and, with `--uncoordinated`, without), and a table tells what happened.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use oauth_store::{Credential, OAuthStore, StoreMode};
use oauth_store_testkit::{ClientRegistration, EndpointConfig, TokenEndpoint};

use crate::cli::{DemoArgs, Global, StoreArg, WorkerArgs};
use crate::cmd::token::current_token;
use crate::error::{CliError, kind_of};
use crate::open::{Opening, open_with};
use crate::output;
use crate::provider;

/// The access-token lifetime of the demo's endpoint: short, so that a storm of a few
/// seconds goes through several rotations.
const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(2);
/// The demo's MCP server name and public client.
const SERVER: &str = "demo";
const CLIENT_ID: &str = "oauth-store-demo";
/// A worker's `token --min-valid`: refresh when less than 1 s is left.
const WORKER_MIN_VALID: u64 = 1;

/// What one worker process reports, as one JSON line on its stdout.
#[derive(Debug, Default)]
struct WorkerStats {
    calls: u64,
    failures: u64,
    latencies_us: Vec<u64>,
}

/// One storm's row of the table.
#[derive(Debug)]
struct Row {
    label: &'static str,
    processes: u32,
    calls: u64,
    refreshes: u64,
    reuse_detections: u64,
    grant_revoked: bool,
    failed_calls: u64,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
}

impl Row {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "run": self.label,
            "processes": self.processes,
            "calls": self.calls,
            "provider_refreshes": self.refreshes,
            "reuse_detections": self.reuse_detections,
            "grant_revoked": self.grant_revoked,
            "failed_calls": self.failed_calls,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
        })
    }
}

/// Runs the coordinated storm (and the uncoordinated one), then prints the table.
pub(crate) fn run(global: &Global, args: &DemoArgs) -> Result<ExitCode, CliError> {
    if provider::refresher().is_none() {
        return Err(CliError::Usage(
            "the demo needs the HTTP refresher, which this build lacks (build with the default features)".into(),
        ));
    }
    if !matches!(global.store, StoreArg::Auto | StoreArg::File) {
        return Err(CliError::Usage(
            "the demo uses the File store: drop --store".into(),
        ));
    }
    // A fresh temporary home unless --home is given; each storm gets its own subdirectory.
    let temporary;
    let base: PathBuf = match &global.home {
        Some(home) => home.clone(),
        None => {
            temporary = tempfile::Builder::new()
                .prefix("oauth-store-demo-")
                .tempdir()
                .map_err(|e| CliError::Demo(format!("cannot create a temporary home: {e}")))?;
            temporary.path().to_owned()
        }
    };
    let uncoordinated = args.uncoordinated || global.unsafe_uncoordinated;
    if !global.json {
        output::line(format!(
            "{} processes call `oauth-store token` in a loop for {} s against a local token endpoint",
            args.workers, args.seconds
        ));
        output::line(format!(
            "(access tokens live {} s; refresh tokens rotate; presenting a used one revokes the grant)",
            ACCESS_TOKEN_LIFETIME.as_secs()
        ));
        output::line(
            "(each call opens the store afresh, as a separate `oauth-store token` does; process start-up is not counted)",
        );
        let removed = if global.home.is_none() {
            " (temporary, removed afterwards)"
        } else {
            ""
        };
        output::line(format!("home: {}{removed}", base.display()));
        output::line("");
    }
    let mut rows = vec![storm(global, &base.join("coordinated"), false, args)?];
    if uncoordinated {
        rows.push(storm(global, &base.join("uncoordinated"), true, args)?);
    }
    if global.json {
        output::json(&serde_json::Value::Array(
            rows.iter().map(Row::to_json).collect(),
        ));
    } else {
        output::line(render(&rows));
        output::line("");
        for row in &rows {
            output::line(verdict(row));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One storm in `home`: endpoint, login, workers, counters.
fn storm(
    global: &Global,
    home: &Path,
    uncoordinated: bool,
    args: &DemoArgs,
) -> Result<Row, CliError> {
    let label = if uncoordinated {
        "uncoordinated"
    } else {
        "coordinated"
    };
    if !global.json {
        let _ = write!(std::io::stderr(), "running the {label} storm... ");
    }
    let endpoint = TokenEndpoint::start(
        EndpointConfig::default().with_access_token_lifetime(ACCESS_TOKEN_LIFETIME),
    )
    .map_err(|e| CliError::Demo(format!("cannot start the token endpoint: {e}")))?;
    endpoint.register_client(ClientRegistration::public(CLIENT_ID));
    let grant = endpoint.issue_grant(CLIENT_ID, &["mcp"]);
    let url = format!("{}/mcp", endpoint.issuer());

    let store = OAuthStore::builder()
        .home(home)
        .mode(StoreMode::File)
        .default_stores(false)
        .build()?;
    let credential = Credential::builder(SERVER, url.as_str(), grant.access_token.clone().into())
        .client_id(CLIENT_ID)
        .issuer(endpoint.issuer())
        .token_endpoint(endpoint.token_endpoint())
        .token_type("Bearer")
        .refresh_token(grant.refresh_token.clone().into())
        .scopes(grant.scope.split_whitespace())
        .expires_at(output::now_ms() + grant.expires_in * 1000)
        .build();
    store.handle(SERVER, &url).save_grant(credential)?;

    let exe = std::env::current_exe()
        .map_err(|e| CliError::Demo(format!("cannot find this program: {e}")))?;
    let mut children = Vec::new();
    for _ in 0..args.workers {
        let mut command = Command::new(&exe);
        command
            .arg("--home")
            .arg(home)
            .args([
                "--store",
                "file",
                "--lock-timeout",
                &global.lock_timeout.to_string(),
            ])
            .args(["__demo-worker", "--server", SERVER, "--url", &url])
            .args([
                "--seconds",
                &args.seconds.to_string(),
                "--min-valid",
                &WORKER_MIN_VALID.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if uncoordinated {
            command.arg("--unsafe-uncoordinated");
        }
        let child = command
            .spawn()
            .map_err(|e| CliError::Demo(format!("cannot start a worker: {e}")))?;
        children.push(child);
    }
    let mut totals = WorkerStats::default();
    for child in children {
        let finished = child
            .wait_with_output()
            .map_err(|e| CliError::Demo(format!("lost a worker: {e}")))?;
        let stats = parse_stats(&finished.stdout).ok_or_else(|| {
            CliError::Demo(format!(
                "a worker ended without its report ({})",
                finished.status
            ))
        })?;
        totals.calls += stats.calls;
        totals.failures += stats.failures;
        totals.latencies_us.extend(stats.latencies_us);
    }
    totals.latencies_us.sort_unstable();
    let counters = endpoint.counters();
    if !global.json {
        eprintln!("done");
    }
    Ok(Row {
        label,
        processes: args.workers,
        calls: totals.calls,
        refreshes: counters.refreshes,
        reuse_detections: counters.reuse_detections,
        grant_revoked: !endpoint.grant_is_active(&grant.refresh_token),
        failed_calls: totals.failures,
        p50_us: percentile(&totals.latencies_us, 50),
        p99_us: percentile(&totals.latencies_us, 99),
    })
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

fn render(rows: &[Row]) -> String {
    let ms = |us: Option<u64>| match us {
        None => "-".to_owned(),
        Some(us) if us < 1000 => format!("{us} µs"),
        Some(us) => format!("{:.1} ms", us as f64 / 1000.0),
    };
    let line = |name: &str, cell: &dyn Fn(&Row) -> String| -> Vec<String> {
        std::iter::once(name.to_owned())
            .chain(rows.iter().map(cell))
            .collect()
    };
    let table = vec![
        line("", &|r| r.label.to_owned()),
        line("processes", &|r| r.processes.to_string()),
        line("token calls", &|r| r.calls.to_string()),
        line("provider refreshes", &|r| r.refreshes.to_string()),
        line("reuse detections", &|r| r.reuse_detections.to_string()),
        line("grant revoked", &|r| {
            if r.grant_revoked { "yes" } else { "no" }.to_owned()
        }),
        line("failed calls", &|r| r.failed_calls.to_string()),
        line("token latency p50", &|r| ms(r.p50_us)),
        line("token latency p99", &|r| ms(r.p99_us)),
    ];
    output::table(&table)
}

fn verdict(row: &Row) -> String {
    if row.reuse_detections == 0 && !row.grant_revoked && row.failed_calls == 0 {
        format!(
            "{}: {} provider refreshes for {} calls, no refresh token replayed, no call failed",
            row.label, row.refreshes, row.calls
        )
    } else {
        format!(
            "{}: refresh tokens were replayed {} time{}; grant revoked: {}; {} of {} calls failed (the user must log in again)",
            row.label,
            row.reuse_detections,
            if row.reuse_detections == 1 { "" } else { "s" },
            if row.grant_revoked { "yes" } else { "no" },
            row.failed_calls,
            row.calls
        )
    }
}

fn parse_stats(stdout: &[u8]) -> Option<WorkerStats> {
    let text = std::str::from_utf8(stdout).ok()?;
    let value: serde_json::Value = serde_json::from_str(text.lines().last()?).ok()?;
    Some(WorkerStats {
        calls: value["calls"].as_u64()?,
        failures: value["failures"].as_u64()?,
        latencies_us: value["latencies_us"]
            .as_array()?
            .iter()
            .filter_map(serde_json::Value::as_u64)
            .collect(),
    })
}

/// The hidden `__demo-worker`: calls the `token` logic in a loop for `--seconds`, each
/// call as a separate invocation would (a fresh store and handle), and prints its stats
/// as one JSON line `{"calls","failures","failures_by_kind","latencies_us"}`. The
/// tokens themselves are never printed.
pub(crate) fn worker(global: &Global, args: &WorkerArgs) -> Result<ExitCode, CliError> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let min_valid = Duration::from_secs(args.min_valid);
    let mut stats = WorkerStats::default();
    let mut by_kind: std::collections::BTreeMap<&'static str, u64> = Default::default();
    while Instant::now() < deadline {
        let started = Instant::now();
        // The File store alone, as the demo says: no keyring call in the measured path.
        let file_only = Opening {
            record_drift: true,
            file_only: true,
        };
        let result = open_with(global, file_only).and_then(|store| {
            let handle = store.handle(&args.server.server, &args.server.url);
            current_token(&handle, Some(min_valid)).map_err(CliError::from)
        });
        let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats.calls += 1;
        stats.latencies_us.push(elapsed);
        if let Err(e) = result {
            stats.failures += 1;
            let kind = match &e {
                CliError::OAuth(e) => kind_of(e).as_str(),
                other => other.kind().as_str(),
            };
            *by_kind.entry(kind).or_default() += 1;
        }
    }
    output::line(serde_json::json!({
        "calls": stats.calls,
        "failures": stats.failures,
        "failures_by_kind": by_kind,
        "latencies_us": stats.latencies_us,
    }));
    Ok(ExitCode::SUCCESS)
}
