//! Multi-process tests: the current test binary re-executed as a child process that runs
//! one named test entry (e.g. `support::child::child_entry`) in a role, and the
//! `REPORT {json}` line such a child prints when it is done.
//!
//! The parent calls [`spawn`] (or [`command`] to adjust stdin or the environment first);
//! the child's entry test asks [`role`] and does nothing in a normal test run (`None`).
//! A child that measures something ends with [`Report::print`]; the parent reads it with
//! [`report`], which also asserts that the child exited 0. A child that must reach a state
//! first (hold a lock) prints a line the parent waits for with [`wait_for_line`].
//!
//! # Limitations
//! - Everything here panics on failure: it is for tests.
//! - One role variable, [`ROLE`], for every crate: a child that starts another test binary
//!   must remove it from that grandchild's environment.
//! - [`wait_for_line`] reads one byte at a time (so nothing after the line is consumed);
//!   fine for a handful of lines, not for bulk output.
//!
//! # Example
//! ```no_run
//! use oauth_store_testkit::child;
//!
//! // In the parent test:
//! let kid = child::spawn("support::child::child_entry", "storm", [("CHILD_MILLIS", "500")]);
//! let report = child::report(kid);
//! assert_eq!(report.failed(), 0, "{report:?}");
//!
//! // In `support::child::child_entry`, a `#[test]`:
//! let Some(role) = child::role() else { return };
//! assert_eq!(role, "storm");
//! let millis: u64 = child::env("CHILD_MILLIS").parse().expect("millis");
//! child::Report::new(millis / 10, Default::default()).with("role", role).print();
//! ```

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

/// Set in a re-executed test binary: the role its entry test runs.
pub const ROLE: &str = "OAUTH_STORE_TEST_CHILD";

/// This test binary as a command that runs only the test `entry` (its full path, e.g.
/// `support::child::child_entry`) with `--nocapture`, with [`ROLE`] set to `role`;
/// stdin null, stdout piped (for [`report`] or [`wait_for_line`]), stderr inherited.
pub fn command(entry: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([entry, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Starts [`command`]`(entry, role)` with the variables `env` added.
pub fn spawn<K, V>(entry: &str, role: &str, env: impl IntoIterator<Item = (K, V)>) -> Child
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    command(entry, role)
        .envs(env)
        .spawn()
        .expect("spawn the test binary as a child")
}

/// In a child: its role; `None` in a normal test run.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// In a child: the variable `name` its parent set; panics when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} missing"))
}

/// What a child measured: attempts, failures counted by kind (the kind is the child's
/// words, e.g. an error's message), and any further fields of its own.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    /// Attempts the child made.
    pub calls: u64,
    /// Failed attempts by kind.
    pub failures: BTreeMap<String, u64>,
    /// The report's other fields, e.g. `last_token`.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// A report of `calls` attempts and `failures` by kind, no extra fields.
    pub fn new(calls: u64, failures: BTreeMap<String, u64>) -> Report {
        Report {
            calls,
            failures,
            extra: serde_json::Map::new(),
        }
    }

    /// The report with the extra field `name` set to `value`.
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Report {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    /// All failed attempts.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Counts one failure of `kind`.
    pub fn fail(&mut self, kind: impl Into<String>) {
        *self.failures.entry(kind.into()).or_default() += 1;
    }

    /// The extra field `name` as a number; 0 when absent.
    pub fn extra_u64(&self, name: &str) -> u64 {
        self.extra
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }

    /// The extra field `name` as a string, when it is one.
    pub fn extra_str(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(serde_json::Value::as_str)
    }

    /// The report as its JSON object: `calls`, `failures` and the extra fields.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = self.extra.clone();
        object.insert("calls".into(), self.calls.into());
        object.insert(
            "failures".into(),
            serde_json::to_value(&self.failures).expect("failures as json"),
        );
        serde_json::Value::Object(object)
    }

    /// The report of a `REPORT` line's JSON.
    pub fn from_json(json: &str) -> Report {
        let serde_json::Value::Object(mut object) =
            serde_json::from_str(json).expect("report json")
        else {
            panic!("a report is a JSON object: {json}");
        };
        let calls = object.remove("calls").and_then(|v| v.as_u64()).unwrap_or(0);
        let failures = match object.remove("failures") {
            Some(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, n)| (k, n.as_u64().unwrap_or(0)))
                .collect(),
            _ => BTreeMap::new(),
        };
        Report {
            calls,
            failures,
            extra: object,
        }
    }

    /// In a child: prints the `REPORT {json}` line (on a line of its own, past what the
    /// test harness printed) for [`report`].
    pub fn print(&self) {
        let mut stdout = std::io::stdout();
        writeln!(stdout, "\nREPORT {}", self.to_json()).expect("stdout");
        stdout.flush().expect("flush stdout");
    }
}

/// Waits for `child`, asserts it exited 0, and returns the report of its last
/// `REPORT {json}` line; panics when it printed none.
pub fn report(mut child: Child) -> Report {
    let out = child.stdout.take().expect("piped stdout");
    let mut report = None;
    for line in BufReader::new(out).lines() {
        let line = line.expect("child stdout");
        if let Some((_, json)) = line.split_once("REPORT ") {
            report = Some(Report::from_json(json));
        }
    }
    let status = child.wait().expect("wait for the child");
    assert!(status.success(), "the child exited with {status}");
    report.expect("the child printed a report")
}

/// Reads `child`'s stdout until a line that ends with `line` (the test harness may
/// print before it on the same line); panics when the child exits first. Reads byte by
/// byte, so nothing after that line is consumed and a later call sees it.
pub fn wait_for_line(child: &mut Child, line: &str) {
    let out = child.stdout.as_mut().expect("piped stdout");
    let mut current = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = out.read(&mut byte).expect("read child stdout");
        assert!(n > 0, "the child exited before printing {line}");
        if byte[0] == b'\n' {
            if String::from_utf8_lossy(&current).trim_end().ends_with(line) {
                return;
            }
            current.clear();
        } else {
            current.push(byte[0]);
        }
    }
}
