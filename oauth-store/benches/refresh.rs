//! What the facade's refresh path costs beside a bare File store load of the same
//! document, measured in one run: `cargo bench -p oauth-store --bench refresh` (what
//! `cargo xtask bench refresh` runs; add `--features tokio` for the async rows).
//!
//! For documents of 1 and 100 entries:
//! - `FileStore::load` of the key, with nothing around it: the baseline;
//! - `refresh_if_needed` when nothing is due (the common call before each request: a
//!   pinned handle's load, no lock);
//! - `refresh_if_needed` on the adopt path: the caller's copy is due, and under the
//!   credential lock the reread finds a fresh one (another process refreshed in
//!   between), which is returned with no provider request. A clock that reads late for
//!   the caller's check and early under the lock stands in for that other process, so
//!   every sample takes the path;
//! - `recover_unauthorized` for an access token the store no longer holds (the one-shot
//!   401 recovery, adopting the stored token: lock, reread, release);
//! - with `--features tokio` (on by default here: the crate's dev-dependency on itself
//!   turns it on): `AsyncCredentialHandle::refresh_if_needed` and `fresh` when nothing is
//!   due, awaited on a current-thread runtime. Every tool call of an MCP client taking
//!   its bearer from the async face pays this; the goal is 2x of the baseline at the
//!   median and at p90;
//! - `oauth-store token` as a whole process (start, resolve, read, print, exit) when
//!   nothing is due, and beside it a process that does nothing (`true`), so the
//!   process's own cost shows apart from the start-up every process pays. The binary
//!   is `$OAUTH_STORE_BENCH_CLI` (`cargo xtask bench refresh` builds it and sets it);
//!   without it these rows are skipped with a line saying so. Processes are sampled
//!   every tenth round only (they take milliseconds).
//!
//! Samples of every row alternate round by round (each round starting at another row),
//! so drift of the disk or the machine hits all alike; medians and p90 are reported, with
//! each one's ratio to the baseline's (median to median, p90 to p90). No refresher is
//! configured: a sample that reached the provider would fail.
//!
//! Then, in a section of its own (`bench_refresh_ahead`), the advisory threshold
//! (DESIGN.md "Refresh thresholds"): the p50 and p99 latency of `refresh_if_needed`
//! callers whose token is past the advisory threshold but not the mandatory one, while
//! another process (this bench re-executed) holds the credential lock in a refresh whose
//! provider never answers until the bench ends, beside a bare `FileStore::load` and the
//! same callers with nothing due (and, with `tokio`, an async caller with nothing due),
//! alternating. Goal: p99 within 2x of the bare load.
//!
//! Environment: `OAUTH_STORE_BENCH_SCALE` (a positive float, default 1) scales the
//! sample counts.
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oauth_store::file::FileStore;
use oauth_store::lock::LockDir;
use oauth_store::store_core::{Clock, SystemClock};
use oauth_store::{Credential, CredentialStore, ExposeSecret, OAuthStore, SecretString, StoreMode};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
/// One measured operation.
type Op<'a> = Box<dyn FnMut() -> Result<()> + 'a>;
/// Rows sampled only every this many rounds (whole processes).
const PROCESS_STRIDE: usize = 10;

const SERVER: &str = "bench-server";
const URL: &str = "https://mcp.example.test/mcp";
/// The stored token expires an hour from now: nothing is due with `MIN_VALID`.
const LIFETIME_MS: u64 = 3_600_000;
const MIN_VALID: Duration = Duration::from_secs(30);

fn main() -> Result<()> {
    if let Ok(home) = std::env::var(AHEAD_HOLDER_ENV) {
        return hold_in_slow_refresh(std::path::Path::new(&home));
    }
    let scale = std::env::var("OAUTH_STORE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    let rounds = ((4_000.0 * scale).round() as usize).max(10);
    println!(
        "oauth-store refresh bench: one run, {} cpus, {rounds} rounds per document",
        cpus()
    );
    let started = Instant::now();
    for entries in [1, 100] {
        bench_document(entries, rounds)?;
    }
    bench_refresh_ahead(rounds)?;
    println!();
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn bench_document(entries: usize, rounds: usize) -> Result<()> {
    let home = tempfile::tempdir()?;
    let now = SystemClock.now_ms();
    let expires_at = now + LIFETIME_MS;
    let plain = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .build()?;
    for i in 1..entries {
        plain
            .handle(
                &format!("other-{i}"),
                &format!("https://mcp{i}.example.test/mcp"),
            )
            .save_grant(credential(&format!("other-{i}"), "at-other", expires_at))?;
    }
    let handle = plain.handle(SERVER, URL);
    handle.save_grant(credential(SERVER, "at-current", expires_at))?;
    let key = handle.key().clone();

    let bare = FileStore::new(
        plain.layout().file_document(),
        LockDir::open(plain.layout().lock_dir())?,
    );
    let adopting = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .clock(Arc::new(LateThenEarly {
            late: expires_at + 1,
            early: now,
            calls: AtomicU64::new(0),
        }))
        .build()?
        .handle(SERVER, URL);
    let stale = SecretString::from("at-rejected".to_owned());

    let mut rows: Vec<(&str, usize, Op<'_>)> = vec![
        (
            "FileStore::load (baseline)",
            1,
            Box::new(|| {
                black_box(bare.load(&key)?.ok_or("missing")?);
                Ok(())
            }),
        ),
        (
            "refresh_if_needed, nothing due",
            1,
            Box::new(|| {
                black_box(handle.refresh_if_needed(MIN_VALID)?);
                Ok(())
            }),
        ),
        (
            "refresh_if_needed, adopt path",
            1,
            Box::new(|| {
                black_box(adopting.refresh_if_needed(MIN_VALID)?);
                Ok(())
            }),
        ),
        (
            "recover_unauthorized, adopt",
            1,
            Box::new(|| {
                black_box(handle.recover_unauthorized(&stale)?);
                Ok(())
            }),
        ),
    ];
    #[cfg(feature = "tokio")]
    {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let asynch = oauth_store::AsyncCredentialHandle::new(plain.handle(SERVER, URL));
        let runtime = std::rc::Rc::new(runtime);
        let (fresh_runtime, fresh_handle) = (std::rc::Rc::clone(&runtime), asynch.clone());
        rows.push((
            "async refresh_if_needed, nothing due",
            1,
            Box::new(move || {
                black_box(runtime.block_on(asynch.refresh_if_needed(MIN_VALID))?);
                Ok(())
            }),
        ));
        rows.push((
            "async fresh, nothing due",
            1,
            Box::new(move || {
                black_box(fresh_runtime.block_on(fresh_handle.fresh())?);
                Ok(())
            }),
        ));
    }

    match std::env::var_os("OAUTH_STORE_BENCH_CLI") {
        Some(cli) => {
            let home_dir = plain.layout().home().to_owned();
            rows.push((
                "oauth-store token, process",
                PROCESS_STRIDE,
                Box::new(move || {
                    let status = std::process::Command::new(&cli)
                        .arg("--home")
                        .arg(&home_dir)
                        .args(["--store", "file", "token", "--server", SERVER, "--url", URL])
                        .env_remove("RUST_LOG")
                        .env_remove("DBUS_SESSION_BUS_ADDRESS")
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::null())
                        .status()?;
                    if !status.success() {
                        return Err(format!("oauth-store token: {status}").into());
                    }
                    Ok(())
                }),
            ));
            rows.push((
                "a process doing nothing (true)",
                PROCESS_STRIDE,
                Box::new(|| {
                    let status = std::process::Command::new("true").status()?;
                    if !status.success() {
                        return Err(format!("true: {status}").into());
                    }
                    Ok(())
                }),
            ));
        }
        None => println!(
            "(oauth-store token rows skipped: set OAUTH_STORE_BENCH_CLI to the binary; \
             cargo xtask bench refresh does)"
        ),
    }

    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); rows.len()];
    let n = rows.len();
    for round in 0..rounds + rounds / 10 {
        // Each round starts at another row, so no row always follows the same one (the
        // async row's thread leaves the caches colder for whatever comes next).
        for i in (0..n).map(|k| (k + round) % n) {
            if round % rows[i].1 != 0 {
                continue;
            }
            let op = &mut rows[i].2;
            let start = Instant::now();
            op()?;
            let took = start.elapsed();
            // The first tenth warms caches and is not kept.
            if round >= rounds / 10 {
                samples[i].push(took);
            }
        }
    }
    println!();
    println!(
        "document of {entries} entries ({} bytes)",
        std::fs::metadata(plain.layout().file_document())?.len()
    );
    println!(
        "  {:<40} {:>10} {:>10} {:>10} {:>10}",
        "", "median", "p90", "/ load", "p90 / load"
    );
    let baseline = median(&mut samples[0].clone());
    let baseline_p90 = percentile(&mut samples[0].clone(), 0.9);
    let mut process_medians = Vec::new();
    for ((name, stride, _), mut s) in rows.iter().zip(samples) {
        let m = median(&mut s);
        if *stride == PROCESS_STRIDE {
            process_medians.push(m);
        }
        let p90 = percentile(&mut s, 0.9);
        println!(
            "  {name:<40} {:>10} {:>10} {:>9.2}x {:>9.2}x",
            fmt(m),
            fmt(p90),
            m.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
            p90.as_secs_f64() / baseline_p90.as_secs_f64().max(1e-9)
        );
    }
    if let [token, nothing] = process_medians[..] {
        println!(
            "  oauth-store token, process / a process doing nothing: {:.2}x",
            token.as_secs_f64() / nothing.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

fn credential(server: &str, access_token: &str, expires_at: u64) -> Credential {
    let url = if server == SERVER {
        URL.to_owned()
    } else {
        format!("https://{server}.example.test/mcp")
    };
    Credential::builder(server, &url, access_token.to_owned().into())
        .client_id("bench-client")
        .refresh_token("rt-bench".to_owned().into())
        .expires_at(expires_at)
        .build()
}

/// Reads `late` (the token looks due) on odd calls and `early` (not due) on even ones:
/// `refresh_if_needed` reads the clock once before the lock and once under it.
#[derive(Debug)]
struct LateThenEarly {
    late: u64,
    early: u64,
    calls: AtomicU64,
}

impl Clock for LateThenEarly {
    fn now_ms(&self) -> u64 {
        if self.calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            self.late
        } else {
            self.early
        }
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    percentile(samples, 0.5)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(i).copied().unwrap_or_default()
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} us")
    } else {
        format!("{:.2} ms", us / 1_000.0)
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

// ---- Refresh ahead (advisory threshold) while another process refreshes slowly ----

/// Set in the re-executed bench that holds the credential lock: the home to use.
const AHEAD_HOLDER_ENV: &str = "OAUTH_STORE_BENCH_AHEAD_HOLDER";

/// A provider that answers only when its process's standard input closes (the bench is
/// done), after saying on stdout that the refresh started: the credential lock is held
/// for the whole measurement, as by a slow provider.
struct NeverAnswers;

impl oauth_store::TokenRefresher for NeverAnswers {
    fn refresh(&self, _: &Credential) -> oauth_store::RefreshOutcome {
        use std::io::{Read, Write};
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "refreshing");
        let _ = out.flush();
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        oauth_store::RefreshOutcome::Transient {
            reason: "bench: the measurement is over".into(),
            retry_after: None,
        }
    }
}

/// The holder's side: a mandatory refresh of the bench's credential, stuck at the
/// provider until the bench closes our stdin.
fn hold_in_slow_refresh(home: &std::path::Path) -> Result<()> {
    let store = OAuthStore::builder()
        .default_stores(false)
        .drift_sidecar(false)
        .home(home)
        .mode(StoreMode::File)
        .refresher(Arc::new(NeverAnswers))
        .build()?;
    // Past any mandatory threshold: it takes the lock and calls the provider.
    let _ = store
        .handle(SERVER, URL)
        .refresh_if_needed(Duration::from_millis(2 * LIFETIME_MS));
    Ok(())
}

fn bench_refresh_ahead(rounds: usize) -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let home = tempfile::tempdir()?;
    let expires_at = SystemClock.now_ms() + LIFETIME_MS;
    let open = |ahead: Duration| -> Result<OAuthStore> {
        Ok(OAuthStore::builder()
            .default_stores(false)
            .drift_sidecar(false)
            .home(home.path())
            .mode(StoreMode::File)
            .refresh_ahead(ahead)
            .min_valid(MIN_VALID)
            .refresher(Arc::new(NeverAnswers))
            .build()?)
    };
    // An hour left: past a 2 h advisory threshold, short of the 30 s mandatory one.
    let ahead = open(Duration::from_millis(2 * LIFETIME_MS))?.handle(SERVER, URL);
    let idle = open(MIN_VALID)?.handle(SERVER, URL);
    ahead.save_grant(credential(SERVER, "at-current", expires_at))?;
    let bare = FileStore::in_home(home.path())?;
    let key = ahead.key().clone();

    let mut holder = Command::new(std::env::current_exe()?)
        .env(AHEAD_HOLDER_ENV, home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(holder.stdout.take().ok_or("holder stdout")?).read_line(&mut line)?;
    if line.trim() != "refreshing" {
        return Err(format!("the holder did not start its refresh: {line:?}").into());
    }

    let mut rows: Vec<(&str, Op<'_>)> = vec![
        (
            "FileStore::load (bare load)",
            Box::new(|| {
                black_box(bare.load(&key)?.ok_or("missing")?);
                Ok(())
            }),
        ),
        (
            "refresh_if_needed, nothing due",
            Box::new(|| {
                black_box(idle.refresh_if_needed(MIN_VALID)?);
                Ok(())
            }),
        ),
        (
            "refresh_if_needed, past advisory, locked",
            Box::new(|| {
                let got = ahead.refresh_if_needed(MIN_VALID)?;
                // The current token at once: a refresh would have blocked on the holder.
                if got.access_token.expose_secret() != "at-current" {
                    return Err("refresh ahead did not keep the current token".into());
                }
                black_box(got);
                Ok(())
            }),
        ),
    ];
    #[cfg(feature = "tokio")]
    {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let asynch = oauth_store::AsyncCredentialHandle::new(open(MIN_VALID)?.handle(SERVER, URL));
        rows.push((
            "async refresh_if_needed, nothing due",
            Box::new(move || {
                black_box(runtime.block_on(asynch.refresh_if_needed(MIN_VALID))?);
                Ok(())
            }),
        ));
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); rows.len()];
    let n = rows.len();
    for round in 0..rounds + rounds / 10 {
        for i in (0..n).map(|k| (k + round) % n) {
            let start = Instant::now();
            (rows[i].1)()?;
            let took = start.elapsed();
            if round >= rounds / 10 {
                samples[i].push(took);
            }
        }
    }
    drop(holder.stdin.take());
    holder.wait()?;

    println!();
    println!("refresh ahead while another process holds the credential lock in a slow refresh");
    println!(
        "  {:<42} {:>10} {:>10} {:>10} {:>10}",
        "", "p50", "p99", "p50/load", "p99/load"
    );
    let (base50, base99) = (
        percentile(&mut samples[0].clone(), 0.5),
        percentile(&mut samples[0].clone(), 0.99),
    );
    for ((name, _), mut s) in rows.iter().zip(samples) {
        let (p50, p99) = (percentile(&mut s, 0.5), percentile(&mut s, 0.99));
        println!(
            "  {name:<42} {:>10} {:>10} {:>9.2}x {:>9.2}x",
            fmt(p50),
            fmt(p99),
            p50.as_secs_f64() / base50.as_secs_f64().max(1e-9),
            p99.as_secs_f64() / base99.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
