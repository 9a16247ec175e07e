//! Child processes: the test binary re-executed with `OAUTH_STORE_KEYRING_CHILD` set
//! runs a script of keyring operations through the `child_entry` test, printing one
//! `@@ op | outcome | ms | text` line per step, and exits; without the variable,
//! `child_entry` does nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oauth_store_core::{CredentialStore, ExposeSecret, StoreError};
use oauth_store_keyring::{KeyringStore, OsStore, SecretEntry};
use serde_json::{Value, json};

use crate::{TestResult, key, kind_of, record};

const CHILD_ENV: &str = "OAUTH_STORE_KEYRING_CHILD";
const ARG_ENV: &str = "OAUTH_STORE_KEYRING_CHILD_ARG";

/// What a child is told: the store to use and the steps to run.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub(crate) service: String,
    pub(crate) prefix: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) os: Option<&'static str>,
    pub(crate) steps: Vec<String>,
}

impl Script {
    /// Steps on `service` with account prefix `prefix`, each bounded by 5 s.
    pub(crate) fn new(service: &str, prefix: Option<&str>, steps: &[&str]) -> Script {
        Script {
            service: service.to_owned(),
            prefix: prefix.map(str::to_owned),
            timeout: Duration::from_secs(5),
            os: None,
            steps: steps.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Script {
        self.timeout = timeout;
        self
    }

    pub(crate) fn os(mut self, os: &'static str) -> Script {
        self.os = Some(os);
        self
    }

    /// The command running this script: this test binary as a child.
    pub(crate) fn command(&self) -> Command {
        let exe = std::env::current_exe().expect("test binary path");
        let mut cmd = Command::new(exe);
        cmd.args([
            "child::child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ]);
        let arg = json!({
            "service": self.service,
            "prefix": self.prefix,
            "timeout_ms": u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            "os": self.os,
            "steps": self.steps,
        });
        cmd.env(CHILD_ENV, "script").env(ARG_ENV, arg.to_string());
        cmd
    }
}

/// One step's report.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) step: String,
    pub(crate) outcome: String,
    pub(crate) ms: u128,
    pub(crate) text: String,
}

/// Everything a child reported, and how it exited.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) reports: Vec<Report>,
    pub(crate) success: bool,
    pub(crate) stdout: String,
}

impl Outcome {
    /// The report of the `n`th step named `step`.
    pub(crate) fn nth(&self, step: &str, n: usize) -> Result<&Report, String> {
        self.reports
            .iter()
            .filter(|r| r.step == step)
            .nth(n)
            .ok_or_else(|| format!("no report #{n} of `{step}` in:\n{}", self.stdout))
    }

    /// The report of the first step named `step`.
    pub(crate) fn step(&self, step: &str) -> Result<&Report, String> {
        self.nth(step, 0)
    }
}

fn parse(line: &str) -> Option<Report> {
    // libtest prints "test child::child_entry ... " before the child's first line.
    let (_, rest) = line.split_once("@@ ")?;
    let mut parts = rest.trim_end_matches(['\n', '\r']).splitn(4, " | ");
    let step = parts.next()?.to_owned();
    let outcome = parts.next()?.to_owned();
    let ms = parts.next()?.trim().parse().ok()?;
    let text = parts.next().unwrap_or("").to_owned();
    Some(Report {
        step,
        outcome,
        ms,
        text,
    })
}

/// Runs `cmd` to the end (killing it after `limit`), collecting its reports.
pub(crate) fn run(
    mut cmd: Command,
    limit: Duration,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().ok_or("piped stdout")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the child ran over {limit:?}").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = reader.join().map_err(|_| "the reader panicked")?;
    Ok(Outcome {
        reports: stdout.lines().filter_map(parse).collect(),
        success: status.success(),
        stdout,
    })
}

/// Spawns `cmd` with piped stdin and stdout, for a conversation.
pub(crate) fn spawn(mut cmd: Command) -> std::io::Result<Child> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn()
}

/// Reads the child's reports until one of step `step`, returning it.
pub(crate) fn read_until(
    reader: &mut impl BufRead,
    step: &str,
    seen: &mut Vec<Report>,
) -> Result<Report, Box<dyn std::error::Error>> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(format!("the child exited before `{step}`; saw {seen:?}").into());
        }
        if let Some(report) = parse(&line) {
            seen.push(report.clone());
            if report.step == step {
                return Ok(report);
            }
        }
    }
}

/// Asserts that the child ran every step and exited cleanly.
pub(crate) fn assert_clean(outcome: &Outcome) -> TestResult {
    if !outcome.success {
        return Err(format!("the child failed:\n{}", outcome.stdout).into());
    }
    Ok(())
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let arg: Value = serde_json::from_str(&std::env::var(ARG_ENV).unwrap_or_default())
        .expect("the child's argument is JSON");
    match role.as_str() {
        "script" => run_script(&arg),
        "redaction" => crate::redaction::child(&arg),
        other => panic!("unknown child role {other}"),
    }
}

/// Prints one report line.
pub(crate) fn say(step: &str, outcome: &str, elapsed: Duration, text: &str) {
    let mut out = std::io::stdout();
    writeln!(
        out,
        "@@ {step} | {outcome} | {} | {text}",
        elapsed.as_millis()
    )
    .expect("stdout");
    out.flush().expect("flush");
}

fn error_outcome(error: &StoreError) -> String {
    format!("err:{}", kind_of(error))
}

/// The store a script describes.
pub(crate) fn store_of(arg: &Value) -> KeyringStore {
    let service = arg["service"].as_str().expect("service");
    let prefix = arg["prefix"].as_str().map(str::to_owned);
    let timeout = Duration::from_millis(arg["timeout_ms"].as_u64().expect("timeout"));
    let mut store = KeyringStore::new(service, prefix).with_timeout(timeout);
    if let Some(os) = arg["os"].as_str() {
        store = store.with_os_store(os.parse::<OsStore>().expect("a known store"));
    }
    store
}

/// Sends SIGCONT to a stopped daemon when the script ends, even by a panic.
struct Resume(Option<u32>);

impl Drop for Resume {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

fn run_script(arg: &Value) {
    let store = store_of(arg);
    let mut daemon = Resume(None);
    for step in arg["steps"].as_array().expect("steps") {
        let step = step.as_str().expect("a step is a string");
        let (op, rest) = step.split_once(':').unwrap_or((step, ""));
        let start = Instant::now();
        let (outcome, text) = match op {
            "save" => match store.save(&key(rest), &record(rest, &format!("at-{rest}"))) {
                Ok(()) => ("ok".to_owned(), String::new()),
                Err(e) => (error_outcome(&e), e.to_string()),
            },
            "load" => load(&store, rest),
            "load-until-ok" => {
                // After a resumed daemon answers the stuck call, the worker serves again.
                let mut last = load(&store, rest);
                while !last.0.starts_with("some:") && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(20));
                    last = load(&store, rest);
                }
                last
            }
            "load-until-answer" => {
                // Retries while the worker is still stuck (fails fast), until it answers.
                let mut tries = 1;
                let mut last = load(&store, rest);
                while last.0 == "err:timeout" && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(20));
                    tries += 1;
                    last = load(&store, rest);
                }
                (last.0, format!("tries={tries} {}", last.1))
            }
            "delete" => match store.delete(&key(rest)) {
                Ok(found) => (found.to_string(), String::new()),
                Err(e) => (error_outcome(&e), e.to_string()),
            },
            "list" => match store.list() {
                Ok(listed) => {
                    let keys: Vec<String> = listed
                        .iter()
                        .map(|l| match &l.credential {
                            Ok(_) => l.key.to_string(),
                            Err(e) => format!("{}!{}", l.key, kind_of(e)),
                        })
                        .collect();
                    (format!("keys:{}", keys.join(",")), String::new())
                }
                Err(e) => (error_outcome(&e), e.to_string()),
            },
            "probe" => {
                let usability = store.probe();
                (
                    format!("usability:{}", usability.as_str()),
                    usability.to_string(),
                )
            }
            "raw-set" => {
                let (account, value) = rest.split_once('=').expect("raw-set:account=value");
                match raw(&store, account).set(&value.to_owned().into()) {
                    Ok(()) => ("ok".to_owned(), String::new()),
                    Err(e) => (error_outcome(&e), e.to_string()),
                }
            }
            "raw-get" => match raw(&store, rest).get() {
                Ok(Some(v)) => (format!("some:{}", v.expose_secret()), String::new()),
                Ok(None) => ("none".to_owned(), String::new()),
                Err(e) => (error_outcome(&e), e.to_string()),
            },
            "raw-delete" => match raw(&store, rest).delete() {
                Ok(found) => (found.to_string(), String::new()),
                Err(e) => (error_outcome(&e), e.to_string()),
            },
            "burst" => burst(&store, rest),
            "alias-session" => {
                set_default_alias("/org/freedesktop/secrets/collection/session");
                ("ok".to_owned(), String::new())
            }
            "daemon-pid" => {
                let pid = daemon_pid();
                daemon.0 = Some(pid);
                (format!("pid:{pid}"), String::new())
            }
            "stop" | "cont" => {
                let pid = daemon.0.expect("daemon-pid first").to_string();
                let signal = if op == "stop" { "-STOP" } else { "-CONT" };
                let status = Command::new("kill").args([signal, &pid]).status();
                assert!(status.is_ok_and(|s| s.success()), "kill {signal} {pid}");
                ("ok".to_owned(), String::new())
            }
            "wait-stdin" => {
                say("waiting", "ok", start.elapsed(), "");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).expect("stdin");
                ("ok".to_owned(), String::new())
            }
            "sleep" => {
                std::thread::sleep(Duration::from_millis(rest.parse().expect("ms")));
                ("ok".to_owned(), String::new())
            }
            other => panic!("unknown step {other}"),
        };
        say(op, &outcome, start.elapsed(), &text);
    }
}

fn load(store: &KeyringStore, name: &str) -> (String, String) {
    match store.load(&key(name)) {
        Ok(Some(c)) => (
            format!("some:{}", c.access_token.expose_secret()),
            String::new(),
        ),
        Ok(None) => ("none".to_owned(), String::new()),
        Err(e) => (error_outcome(&e), e.to_string()),
    }
}

fn raw(store: &KeyringStore, account: &str) -> SecretEntry {
    SecretEntry::new(store.service(), account)
        .with_timeout(store.timeout())
        .with_os_store(store.os_store())
}

/// `n` loads of `name` at once from `n` threads; the outcome lists each one's kind,
/// the text each one's time.
fn burst(store: &KeyringStore, arg: &str) -> (String, String) {
    let (n, name) = arg.split_once(':').expect("burst:n:name");
    let n: usize = n.parse().expect("n");
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            let name = name.to_owned();
            std::thread::spawn(move || {
                let start = Instant::now();
                let (outcome, _) = load(&store, &name);
                (outcome, start.elapsed())
            })
        })
        .collect();
    let results: Vec<(String, Duration)> = threads
        .into_iter()
        .map(|t| t.join().expect("a burst thread"))
        .collect();
    let kinds: Vec<&str> = results.iter().map(|(o, _)| o.as_str()).collect();
    let times: Vec<String> = results
        .iter()
        .map(|(_, d)| d.as_millis().to_string())
        .collect();
    (kinds.join(","), times.join(","))
}

/// The pid of the process owning `org.freedesktop.secrets` on the session bus.
fn daemon_pid() -> u32 {
    let bus = zbus::blocking::Connection::session().expect("session bus");
    let reply = bus
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetConnectionUnixProcessID",
            &("org.freedesktop.secrets",),
        )
        .expect("the Secret Service's pid");
    reply.body().deserialize().expect("a pid")
}

/// Points the Secret Service's `default` alias at `collection`.
fn set_default_alias(collection: &str) {
    let bus = zbus::blocking::Connection::session().expect("session bus");
    let path = zbus::zvariant::ObjectPath::try_from(collection).expect("an object path");
    bus.call_method(
        Some("org.freedesktop.secrets"),
        "/org/freedesktop/secrets",
        Some("org.freedesktop.Secret.Service"),
        "SetAlias",
        &("default", path),
    )
    .expect("SetAlias");
}
