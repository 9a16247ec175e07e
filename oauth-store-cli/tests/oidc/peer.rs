//! The npm test peers (oidc-provider, MCP server, Codex) live in the testkit
//! (`oauth_store_testkit::peers`), for every crate's tests; here only the CLI runner.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) use oauth_store_testkit::peers::*;

/// `oauth-store` pointed at one home and one store: `--home` and the store options
/// every run of it gets.
#[derive(Clone, Debug)]
pub(crate) struct Cli {
    home: PathBuf,
    store: Vec<OsString>,
}

impl Cli {
    /// The File store of `home` (`--store file`).
    pub(crate) fn file(home: &Path) -> Cli {
        Cli {
            home: home.to_owned(),
            store: vec!["--store".into(), "file".into()],
        }
    }

    /// The PostgreSQL store at `database_url` (`--store postgres`), the password from
    /// `passfile`, with `home` for the rest (its lock directory).
    pub(crate) fn postgres(home: &Path, database_url: &str, passfile: &Path) -> Cli {
        Cli {
            home: home.to_owned(),
            store: vec![
                "--store".into(),
                "postgres".into(),
                "--database-url".into(),
                database_url.into(),
                "--passfile".into(),
                passfile.into(),
            ],
        }
    }

    /// Runs `oauth-store` with `args`, feeding `stdin`.
    pub(crate) fn run(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-store"))
            .arg("--home")
            .arg(&self.home)
            .args(&self.store)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn oauth-store");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("oauth-store output")
    }
}

/// Runs `oauth-store` with `args` in `home` (the File store), feeding `stdin`.
pub(crate) fn cli(home: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    Cli::file(home).run(args, stdin)
}
