//! What `--store postgres` costs beside the File store, measured in one run against a
//! real server (`oauth_store_testkit::postgres`, 127.0.0.1 with SCRAM, fsync on): `cargo bench -p
//! oauth-store-postgres --bench postgres` (what `cargo xtask bench postgres` runs).
//!
//! Rows, each for the File store (the baseline) and PostgreSQL, alternating round by
//! round so drift hits both alike; medians and p90, with each PostgreSQL median's ratio
//! to the File store's:
//! - `token`: `CredentialHandle::fresh` when nothing is due (a pinned handle's load, no
//!   lock): what every call before a request pays;
//! - save: `CredentialHandle::save_grant` (the credential lock, the save, release);
//! - refresh: `CredentialHandle::force_refresh` with a refresher that answers at once
//!   (the lock, the reread, the fenced save; no network), uncontended;
//! - contended refresh: 4 threads forcing refreshes of one key for a fixed time, each
//!   with a store of its own; File: one home (the threads are one machine: they share
//!   in-process flights and the file lock); PostgreSQL: 4 homes (4 machines, serialized
//!   by the database lock). Reported as wall time per completed call and refresher
//!   invocations.
//!
//! Environment: `OAUTH_STORE_BENCH_SCALE` (a positive float, default 1) scales the
//! sample counts. Without the server binaries: one SKIPPED line.
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oauth_store::store_core::{Clock, SystemClock};
use oauth_store::{
    Credential, OAuthStore, RefreshOutcome, StoreMode, TokenRefresher, TokenResponse,
};
use oauth_store_postgres::{Options, Postgres};
use oauth_store_testkit::postgres::PgServer;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const SERVER: &str = "bench-server";
const URL: &str = "https://mcp.example.test/mcp";

/// Answers every refresh at once with a new access token (no network: the row measures
/// the coordination, not a provider).
struct Instant200(AtomicU64);

impl TokenRefresher for Instant200 {
    fn refresh(&self, _: &Credential) -> RefreshOutcome {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-{n}"}}"#
        );
        match TokenResponse::from_json(body.as_bytes()) {
            Ok(response) => RefreshOutcome::Refreshed(response),
            Err(e) => RefreshOutcome::Indeterminate {
                reason: e.to_string(),
            },
        }
    }
}

fn credential(at: &str) -> Credential {
    Credential::builder(SERVER, URL, at.to_owned().into())
        .client_id("bench")
        .refresh_token("rt-0".to_owned().into())
        .expires_at(SystemClock.now_ms() + 3_600_000)
        .build()
}

fn store(home: &Path, db: Option<&Postgres>, refresher: &Arc<Instant200>) -> Result<OAuthStore> {
    let builder = OAuthStore::builder()
        .home(home)
        .default_stores(false)
        .drift_sidecar(false)
        .mode(StoreMode::File)
        .refresher(Arc::clone(refresher) as Arc<dyn TokenRefresher>);
    Ok(match db {
        Some(db) => builder.shared_store(Arc::new(db.store()), Arc::new(db.locker())),
        None => builder,
    }
    .build()?)
}

fn main() -> Result<()> {
    // fsync on, as on a real server (the tests' servers run without it).
    let Some(server) = PgServer::start_with(true) else {
        return Ok(());
    };
    let server = &server;
    let scale = std::env::var("OAUTH_STORE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    let rounds = ((1_000.0 * scale).round() as usize).max(10);
    let started = Instant::now();
    println!(
        "oauth-store-postgres bench: one run, {} cpus, {rounds} rounds, PostgreSQL on 127.0.0.1 (SCRAM, fsync on, one connection per store)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let db = server.database("bench", true);
    let refresher = Arc::new(Instant200(AtomicU64::new(1)));
    let dir = tempfile::tempdir()?;
    let pg = Postgres::connect(&db.url, Options::default())?;
    let file_store = store(&dir.path().join("file"), None, &refresher)?;
    let pg_store = store(&dir.path().join("pg"), Some(&pg), &refresher)?;
    let (file, postgres) = (file_store.handle(SERVER, URL), pg_store.handle(SERVER, URL));
    file.save_grant(credential("at-0"))?;
    postgres.save_grant(credential("at-0"))?;

    type Op<'a> = Box<dyn FnMut() -> Result<()> + 'a>;
    let rows: Vec<(&str, Op<'_>, Op<'_>)> = vec![
        (
            "token (fresh, nothing due)",
            Box::new(|| {
                black_box(file.fresh()?);
                Ok(())
            }),
            Box::new(|| {
                black_box(postgres.fresh()?);
                Ok(())
            }),
        ),
        (
            "save (save_grant: lock, save)",
            Box::new(|| {
                file.save_grant(credential("at-saved"))?;
                Ok(())
            }),
            Box::new(|| {
                postgres.save_grant(credential("at-saved"))?;
                Ok(())
            }),
        ),
        (
            "refresh (force_refresh, instant provider)",
            Box::new(|| {
                black_box(file.force_refresh()?);
                Ok(())
            }),
            Box::new(|| {
                black_box(postgres.force_refresh()?);
                Ok(())
            }),
        ),
    ];
    println!();
    println!(
        "{:<44} {:>12} {:>12} {:>12} {:>12} {:>8}",
        "row", "file p50", "file p90", "pg p50", "pg p90", "pg/file"
    );
    for (name, mut on_file, mut on_pg) in rows {
        let (mut a, mut b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
        for round in 0..rounds {
            // Alternating which goes first, so neither always runs warm.
            for which in [round % 2, 1 - round % 2] {
                let t = Instant::now();
                if which == 0 {
                    on_file()?;
                    a.push(t.elapsed());
                } else {
                    on_pg()?;
                    b.push(t.elapsed());
                }
            }
        }
        let (fa, fb) = (percentiles(&mut a), percentiles(&mut b));
        println!(
            "{name:<44} {:>12} {:>12} {:>12} {:>12} {:>7.1}x",
            us(fa.0),
            us(fa.1),
            us(fb.0),
            us(fb.1),
            fb.0.as_secs_f64() / fa.0.as_secs_f64()
        );
    }

    // Contended: 4 threads, one key, 2 s each side.
    let seconds = (2.0 * scale).max(0.5);
    let file_homes = vec![dir.path().join("file"); 4];
    let pg_homes: Vec<_> = (0..4)
        .map(|i| dir.path().join(format!("pg-machine-{i}")))
        .collect();
    let (file_per_call, file_calls, file_refreshes) = contended(&file_homes, None, seconds)?;
    let (pg_per_call, pg_calls, pg_refreshes) = contended(&pg_homes, Some(&db.url), seconds)?;
    println!(
        "{:<44} {:>12} {:>12} {:>12} {:>12} {:>7.1}x",
        "contended refresh, 4 threads (wall per call)",
        us(file_per_call),
        format!("{file_calls} calls"),
        us(pg_per_call),
        format!("{pg_calls} calls"),
        pg_per_call.as_secs_f64() / file_per_call.as_secs_f64()
    );
    println!(
        "  provider refreshes: file {file_refreshes} (4 threads of one home share flights), postgres {pg_refreshes} (4 homes serialized by the database lock)"
    );
    println!();
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// 4 threads forcing refreshes of one key for `seconds`, each with a store of its own
/// in `homes[i]` (on `url` when given); (wall time per call, calls, refresher calls).
fn contended(
    homes: &[std::path::PathBuf],
    url: Option<&str>,
    seconds: f64,
) -> Result<(Duration, u64, u64)> {
    let refresher = Arc::new(Instant200(AtomicU64::new(1)));
    let mut stores = Vec::new();
    for home in homes {
        let db = url
            .map(|u| Postgres::connect(u, Options::default()))
            .transpose()?;
        stores.push(store(home, db.as_ref(), &refresher)?);
    }
    stores[0]
        .handle(SERVER, URL)
        .save_grant(credential("at-contended"))?;
    let calls = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for s in &stores {
            let calls = &calls;
            scope.spawn(move || {
                let handle = s.handle(SERVER, URL);
                while Instant::now() < deadline {
                    if handle.force_refresh().is_ok() {
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let calls = calls.load(Ordering::Relaxed).max(1);
    let refreshes = refresher.0.load(Ordering::Relaxed) - 1;
    Ok((
        elapsed / u32::try_from(calls).unwrap_or(u32::MAX),
        calls,
        refreshes,
    ))
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.9))
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}
