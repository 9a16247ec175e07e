//! The npm test peers (oidc-provider, MCP server, Codex) live in the testkit
//! (`oauth_store_testkit::peers`), for every crate's tests; here only the CLI runner.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub(crate) use oauth_store_testkit::peers::*;

/// Runs `oauth-store` with `args` in `home`, feeding `stdin`.
pub(crate) fn cli(home: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-store"))
        .arg("--home")
        .arg(home)
        .args(["--store", "file"])
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
