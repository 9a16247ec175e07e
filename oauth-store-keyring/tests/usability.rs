//! Usability with a reason: no session bus (answered at once), no Secret Service, no
//! default collection, a never-unlocked keyring, a volatile default collection.

use std::process::Command;
use std::time::Duration;

use oauth_store_keyring::{OsStore, Usability};

use crate::child::{Outcome, Script, assert_clean, run};
use crate::session::{self, Daemon, nested};
use crate::{TestResult, unique_service};

const LIMIT: Duration = Duration::from_secs(60);
/// Far longer than any answer "at once" may take, so a wait would show.
const LONG: Duration = Duration::from_secs(30);
/// "At once": well under [`LONG`], loose enough for a loaded machine.
const AT_ONCE_MS: u128 = 1_000;

const ALL_OPS: &[&str] = &["probe", "load:alpha", "save:alpha", "delete:alpha", "list"];

fn assert_all_unavailable(outcome: &Outcome, reason: &str) -> TestResult {
    assert_clean(outcome)?;
    let probe = outcome.step("probe")?;
    assert_eq!(
        probe.outcome,
        format!("usability:{reason}"),
        "{}",
        outcome.stdout
    );
    for step in ["load", "save", "delete", "list"] {
        let report = outcome.step(step)?;
        assert_eq!(
            report.outcome, "err:unavailable",
            "{step}: {}",
            outcome.stdout
        );
        assert!(report.ms < AT_ONCE_MS, "{step} took {} ms", report.ms);
    }
    assert!(probe.ms < AT_ONCE_MS, "probe took {} ms", probe.ms);
    Ok(())
}

/// No `DBUS_SESSION_BUS_ADDRESS` and no `$XDG_RUNTIME_DIR/bus`: every operation is
/// Unavailable at once, naming what was looked for.
#[test]
fn no_session_bus_is_answered_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cmd = Script::new("oauth-store", Some("0123456789abcdef"), ALL_OPS)
        .timeout(LONG)
        .command();
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", dir.path());
    let outcome = run(cmd, LIMIT)?;
    eprintln!("{}", outcome.stdout);
    assert_all_unavailable(&outcome, "no_session_bus")?;
    let text = &outcome.step("probe")?.text;
    assert!(
        text.contains("DBUS_SESSION_BUS_ADDRESS is not set"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}/bus does not exist", dir.path().display())),
        "{text}"
    );
    assert!(outcome.step("save")?.text.contains("no D-Bus session bus"));
    Ok(())
}

/// An address that leads nowhere, or one that would autolaunch a daemon, is no bus.
#[test]
fn a_dead_or_autolaunch_address_is_no_bus() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("gone");
    for (address, expected) in [
        (
            format!("unix:path={}", missing.display()),
            "does not exist".to_owned(),
        ),
        (
            "autolaunch:".to_owned(),
            "autolaunch is never used".to_owned(),
        ),
        ("disabled:".to_owned(), "disabled".to_owned()),
    ] {
        let mut cmd = Script::new("oauth-store", None, ALL_OPS)
            .timeout(LONG)
            .command();
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &address);
        let outcome = run(cmd, LIMIT)?;
        assert_all_unavailable(&outcome, "no_session_bus")?;
        let text = &outcome.step("probe")?.text;
        assert!(text.contains(&expected), "{address}: {text}");
    }
    Ok(())
}

/// A socket that refuses connections: the connection fails fast, inside the worker.
#[test]
fn a_stale_bus_socket_is_no_bus() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bus");
    drop(std::os::unix::net::UnixListener::bind(&path)?);
    let mut cmd = Script::new("oauth-store", None, ALL_OPS)
        .timeout(LONG)
        .command();
    cmd.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", path.display()),
    );
    let outcome = run(cmd, LIMIT)?;
    assert_all_unavailable(&outcome, "no_session_bus")?;
    assert!(
        outcome
            .step("probe")?
            .text
            .contains("connecting to it failed")
    );
    Ok(())
}

#[test]
fn usability_maps_to_the_store_error_the_facade_expects() {
    use oauth_store_core::StoreError;
    let timeout = Usability::TimedOut {
        waited: Duration::from_millis(5_000),
    };
    assert!(!timeout.is_usable());
    assert!(matches!(
        timeout.clone().into_store_error("save"),
        StoreError::Timeout { operation: "save", waited, .. } if waited == Duration::from_secs(5)
    ));
    let locked = Usability::Locked.into_store_error("save");
    assert!(
        matches!(&locked, StoreError::Unavailable { reason, .. } if reason.contains("locked")),
        "{locked}"
    );
    assert!(Usability::Usable.is_usable());
    assert_eq!(Usability::Usable.to_string(), "usable");
}

fn nested_run(
    dir: &std::path::Path,
    daemon: Daemon,
    script: &Script,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let cmd: Command = nested(dir, daemon, &script.command())?;
    run(cmd, LIMIT)
}

/// A session bus on which nothing owns or can activate `org.freedesktop.secrets`.
#[test]
fn no_secret_service_on_the_bus() -> TestResult {
    if !session::available("usability::no_secret_service_on_the_bus") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let script = Script::new(&unique_service("nosvc"), None, ALL_OPS).timeout(LONG);
    let outcome = nested_run(dir.path(), Daemon::Nothing, &script)?;
    assert_all_unavailable(&outcome, "no_secret_service")?;
    let text = &outcome.step("probe")?.text;
    assert!(
        text.contains("org.freedesktop.DBus.Error.ServiceUnknown"),
        "{text}"
    );
    Ok(())
}

/// gnome-keyring without a login keyring: reads answer "no entry"; saves would need a
/// collection created through a prompt, so they are Unavailable instead.
#[test]
fn no_default_collection() -> TestResult {
    if !session::available("usability::no_default_collection") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let script = Script::new(
        &unique_service("nocoll"),
        None,
        &["probe", "load:alpha", "save:alpha"],
    )
    .timeout(Duration::from_secs(5));
    let outcome = nested_run(dir.path(), Daemon::Started, &script)?;
    assert_clean(&outcome)?;
    assert_eq!(
        outcome.step("probe")?.outcome,
        "usability:no_default_collection",
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.step("load")?.outcome, "none");
    assert_eq!(outcome.step("save")?.outcome, "err:unavailable");
    assert!(outcome.step("save")?.text.contains("no default collection"));
    Ok(())
}

/// A login keyring that exists but was never unlocked in this session: a clear
/// "locked" (or a timeout) within the bound, never a hang, and no prompt started.
#[test]
fn a_never_unlocked_keyring_is_a_clear_error_within_the_bound() -> TestResult {
    if !session::available("usability::a_never_unlocked_keyring_is_a_clear_error_within_the_bound")
    {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let service = unique_service("locked");
    // First session: create the login keyring (and an entry in it).
    let created = nested_run(
        dir.path(),
        Daemon::Unlocked,
        &Script::new(&service, None, &["save:alpha"]),
    )?;
    assert_clean(&created)?;
    assert_eq!(created.step("save")?.outcome, "ok", "{}", created.stdout);
    // Second session, same home: the daemon starts with the keyring locked.
    let bound = Duration::from_secs(2);
    let script = Script::new(
        &service,
        None,
        &["probe", "load:alpha", "save:alpha", "delete:alpha"],
    )
    .timeout(bound);
    let outcome = nested_run(dir.path(), Daemon::Started, &script)?;
    eprintln!("{}", outcome.stdout);
    assert_clean(&outcome)?;
    let probe = outcome.step("probe")?;
    assert!(
        probe.outcome == "usability:locked" || probe.outcome == "usability:timed_out",
        "{}",
        outcome.stdout
    );
    for step in ["load", "save", "delete"] {
        let report = outcome.step(step)?;
        assert!(
            report.outcome == "err:unavailable" && report.text.contains("locked")
                || report.outcome == "err:timeout",
            "{step}: {}",
            outcome.stdout
        );
        assert!(
            report.ms < bound.as_millis() + 1_000,
            "{step} took {} ms",
            report.ms
        );
    }
    Ok(())
}

/// The default alias pointing at gnome-keyring's in-memory `session` collection: the
/// probe says volatile, a save is Unavailable (so the facade saves to the File store),
/// and reads still work.
#[test]
fn a_volatile_default_collection_is_refused_for_saves() -> TestResult {
    if !session::available("usability::a_volatile_default_collection_is_refused_for_saves") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let script = Script::new(
        &unique_service("volatile"),
        None,
        &[
            "save:alpha",
            "alias-session",
            "probe",
            "save:beta",
            "load:alpha",
            "load:beta",
        ],
    );
    let outcome = nested_run(dir.path(), Daemon::Unlocked, &script)?;
    assert_clean(&outcome)?;
    assert_eq!(outcome.nth("save", 0)?.outcome, "ok", "{}", outcome.stdout);
    let probe = outcome.step("probe")?;
    assert_eq!(probe.outcome, "usability:volatile");
    assert!(
        probe
            .text
            .contains("/org/freedesktop/secrets/collection/session"),
        "{}",
        probe.text
    );
    let save = outcome.nth("save", 1)?;
    assert_eq!(save.outcome, "err:unavailable");
    assert!(save.text.contains("kept in memory only"), "{}", save.text);
    assert_eq!(outcome.nth("load", 0)?.outcome, "some:at-alpha");
    assert_eq!(outcome.nth("load", 1)?.outcome, "none");
    Ok(())
}

#[test]
fn probe_on_the_test_session_is_usable() -> TestResult {
    if !session::available("usability::probe_on_the_test_session_is_usable") {
        return Ok(());
    }
    let outcome = run(
        Script::new(
            &unique_service("probe"),
            Some("0123456789abcdef"),
            &["probe", "probe"],
        )
        .command(),
        LIMIT,
    )?;
    assert_clean(&outcome)?;
    assert_eq!(
        outcome.nth("probe", 0)?.outcome,
        "usability:usable",
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.nth("probe", 1)?.outcome, "usability:usable");
    Ok(())
}

/// keyutils: usable inside `keyctl session`; elsewhere usable or unusable with the
/// reason; never listed. Without the `keyutils` feature: not built in, at once.
#[test]
fn keyutils_says_whether_it_can_be_used() -> TestResult {
    let steps = ["probe", "save:alpha", "load:alpha", "delete:alpha", "list"];
    let script = Script::new(&unique_service("keyutils"), None, &steps).os("keyutils");
    let check = |outcome: &Outcome| -> TestResult {
        assert_clean(outcome)?;
        let probe = outcome.step("probe")?;
        match probe.outcome.as_str() {
            "usability:usable" => {
                assert_eq!(outcome.step("save")?.outcome, "ok", "{}", outcome.stdout);
                assert_eq!(outcome.step("load")?.outcome, "some:at-alpha");
                assert_eq!(outcome.step("delete")?.outcome, "true");
            }
            "usability:access_denied" => {
                assert!(probe.text.contains("keyctl session"), "{}", probe.text);
                assert_eq!(outcome.step("save")?.outcome, "err:unavailable");
            }
            "usability:not_built_in" => {
                assert!(!OsStore::Keyutils.is_built_in(), "{}", outcome.stdout);
                assert_eq!(outcome.step("save")?.outcome, "err:unavailable");
                assert!(probe.ms < AT_ONCE_MS);
            }
            other => return Err(format!("keyutils probe: {other}: {}", outcome.stdout).into()),
        }
        assert_eq!(outcome.step("list")?.outcome, "err:unsupported");
        Ok(())
    };
    check(&run(script.command(), LIMIT)?)?;
    if cfg!(feature = "keyutils") && session::which("keyctl").is_some() {
        let inner = script.command();
        let mut cmd = Command::new("keyctl");
        cmd.args(["session", "-"])
            .arg(inner.get_program())
            .args(inner.get_args());
        for (name, value) in inner.get_envs() {
            if let Some(value) = value {
                cmd.env(name, value);
            }
        }
        let outcome = run(cmd, LIMIT)?;
        check(&outcome)?;
        assert_eq!(
            outcome.step("probe")?.outcome,
            "usability:usable",
            "{}",
            outcome.stdout
        );
    }
    Ok(())
}
