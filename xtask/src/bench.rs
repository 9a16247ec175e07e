//! `cargo xtask bench [NAME]`: the project's benchmarks, each a `harness = false`
//! bench target printing its own table. Never part of `ci`.

use crate::Error;
use crate::step;
use crate::workspace::Workspace;

/// `(name, package, bench target)`.
const BENCHES: &[(&str, &str, &str)] = &[
    ("lock", "oauth-lock", "lock"),
    ("file", "oauth-store-file", "file"),
    ("refresh", "oauth-store", "refresh"),
    ("secrets", "oauth-store-secrets", "secrets"),
    ("rmcp", "oauth-store-rmcp", "rmcp"),
    ("postgres", "oauth-store-postgres", "postgres"),
];

/// Runs the benchmark `names[0]`, or every one that exists when `names` is empty. A
/// benchmark whose crate or bench target does not exist yet is reported and skipped.
///
/// # Errors
/// [`Error::Usage`] for an unknown name or more than one; the first failing bench.
pub(crate) fn run(ws: &Workspace, names: &[&str]) -> Result<(), Error> {
    let selected: Vec<_> = match names {
        [] => BENCHES.iter().collect(),
        [name] => match BENCHES.iter().find(|b| b.0 == *name) {
            Some(b) => vec![b],
            None => return Err(unknown(name)),
        },
        _ => return Err(unknown(&names.join(" "))),
    };
    let metadata = ws.metadata()?;
    for &(name, package, bench) in selected {
        if !metadata.has_member(package) {
            println!("bench {name}: skipped: crate {package} does not exist yet");
        } else if !metadata.has_bench(package, bench) {
            println!("bench {name}: skipped: {package} has no bench target `{bench}` yet");
        } else if name == "refresh" && metadata.has_member("oauth-store-cli") {
            // The refresh bench also times `oauth-store token` as a whole process.
            step::run(ws.cargo(&[
                "build",
                "--release",
                "-p",
                "oauth-store-cli",
                "--bin",
                "oauth-store",
            ]))?;
            let cli = ws.target_dir().join("release").join("oauth-store");
            step::run(
                ws.cargo(&["bench", "-p", package, "--bench", bench])
                    .env("OAUTH_STORE_BENCH_CLI", cli),
            )?;
        } else {
            step::run(ws.cargo(&["bench", "-p", package, "--bench", bench]))?;
        }
    }
    Ok(())
}

fn unknown(what: &str) -> Error {
    let known: Vec<&str> = BENCHES.iter().map(|b| b.0).collect();
    Error::Usage(format!(
        "unknown bench `{what}`; one of: {} (or none for all)",
        known.join(", ")
    ))
}
