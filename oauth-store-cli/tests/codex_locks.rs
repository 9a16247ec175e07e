//! Lock interoperability with the Codex CLI, which takes the same lock files of a
//! shared home through `std::fs::File::lock` (an exclusive `flock`; 0.171.0 polls
//! `File::try_lock`): `mcp-oauth-locks/<sha256hex(store key)>.lock` across a refresh,
//! login or logout, and `mcp-oauth-locks/file-store.lock` across a read-modify-write of
//! `.credentials.json`. Each side runs in its own process: `oauth-store` as the binary,
//! the Codex side as this test binary re-executed (`child_entry`) holding or probing a
//! lock file the way Codex does.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oauth_store::lock::{LockDir, LockScope, LockTarget, StoreLock};
use oauth_store::{LayoutPreset, StoreLayout};
use oauth_store_testkit::{EndpointConfig, Fault};
use sha2::{Digest, Sha256};

use crate::util::{
    Home, Provider, Result, SERVER, SERVER_KEY, child_role, spawn_child, wait_for_line, with,
};

/// The test that runs a child's role: also used by other modules to hold a lock file.
pub(crate) const ENTRY: &str = "codex_locks::child_entry";

/// Where Codex puts its lock files: `mcp-oauth-locks/` in `CODEX_HOME`.
fn codex_lock_dir(home: &Path) -> PathBuf {
    home.join("mcp-oauth-locks")
}

/// Codex's credential lock file for `store_key`: the full lowercase hex SHA-256 of the
/// key, `.lock`.
fn codex_credential_lock(home: &Path, store_key: &str) -> PathBuf {
    let digest = Sha256::digest(store_key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    codex_lock_dir(home).join(format!("{hex}.lock"))
}

/// Opens (creating) a lock file as Codex does: read-write, the directory created
/// first.
fn open_like_codex(path: &Path) -> File {
    std::fs::create_dir_all(path.parent().expect("lock dir")).expect("create lock dir");
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("open lock file")
}

fn say(line: &str) {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}").expect("stdout");
    stdout.flush().expect("flush");
}

/// The Codex side, in a child process. `flock-hold PATH MILLIS`: `File::lock`, print
/// `LOCKED`, hold for MILLIS, exit (the OS releases the lock). `flock-probe PATH`:
/// print `POLLING`, `File::try_lock` until it finds the lock held (releasing it at once
/// whenever it got it), print `BLOCKED`, then wait in `File::lock`, print `LOCKED`, exit.
#[test]
fn child_entry() {
    let Some((role, args)) = child_role() else {
        return;
    };
    let file = open_like_codex(Path::new(&args[0]));
    match role.as_str() {
        "flock-hold" => {
            file.lock().expect("File::lock");
            say("LOCKED");
            std::thread::sleep(Duration::from_millis(args[1].parse().expect("millis")));
        }
        "flock-probe" => {
            say("POLLING");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match file.try_lock() {
                    Ok(()) => {
                        file.unlock().expect("unlock");
                        assert!(Instant::now() < deadline, "the lock was never held");
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(TryLockError::WouldBlock) => break,
                    Err(TryLockError::Error(e)) => panic!("try_lock: {e}"),
                }
            }
            say("BLOCKED");
            file.lock().expect("File::lock");
            say("LOCKED");
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn a_file_lock_holder_of_the_credential_lock_blocks_ours_until_it_lets_go() -> Result {
    let home = Home::codex();
    let lock = codex_credential_lock(home.path(), SERVER_KEY);
    let lock_arg = lock.to_str().expect("utf-8");

    let mut holder = spawn_child(ENTRY, "flock-hold", &[lock_arg, "600000"]);
    wait_for_line(&mut holder, "LOCKED");
    let blocked = home
        .run(&with(&["--lock-timeout", "1", "logout"], &SERVER))
        .expect(4);
    assert!(blocked.stderr.contains(lock_arg), "{}", blocked.stderr);
    assert!(
        blocked.stderr.contains(&format!("pid {}", holder.id())),
        "names the holder: {}",
        blocked.stderr
    );
    home.run(&with(&["show"], &SERVER)).expect(0);
    holder.kill()?;
    holder.wait()?;

    // A holder that lets go after a second: ours waits for it, then logs out.
    let mut holder = spawn_child(ENTRY, "flock-hold", &[lock_arg, "1000"]);
    wait_for_line(&mut holder, "LOCKED");
    let started = Instant::now();
    home.run(&with(&["logout"], &SERVER)).expect(0);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "logout waited for the holder"
    );
    holder.wait()?;
    home.run(&with(&["show"], &SERVER)).expect(3);
    Ok(())
}

#[test]
fn a_file_lock_holder_of_the_store_lock_blocks_ours_until_it_lets_go() -> Result {
    let home = Home::codex();
    let lock = codex_lock_dir(home.path()).join("file-store.lock");
    let lock_arg = lock.to_str().expect("utf-8");
    let before = std::fs::read(home.document())?;
    let response = r#"{"access_token":"imported-while-locked","token_type":"Bearer"}"#;

    let mut holder = spawn_child(ENTRY, "flock-hold", &[lock_arg, "600000"]);
    wait_for_line(&mut holder, "LOCKED");
    let blocked = home.run_with_stdin(&with(&["--lock-timeout", "1", "import"], &SERVER), response);
    let blocked = blocked.expect(4);
    assert!(blocked.stderr.contains(lock_arg), "{}", blocked.stderr);
    assert_eq!(
        std::fs::read(home.document())?,
        before,
        "the document is untouched"
    );
    holder.kill()?;
    holder.wait()?;

    let mut holder = spawn_child(ENTRY, "flock-hold", &[lock_arg, "1000"]);
    wait_for_line(&mut holder, "LOCKED");
    let started = Instant::now();
    home.run_with_stdin(&with(&["import"], &SERVER), response)
        .expect(0);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "import waited for the holder"
    );
    holder.wait()?;
    let document = std::fs::read_to_string(home.document())?;
    assert!(document.contains("imported-while-locked"));
    Ok(())
}

#[test]
fn our_credential_lock_held_across_a_refresh_blocks_a_file_lock_in_another_process() -> Result {
    let home = Home::codex();
    let provider = Provider::with(
        EndpointConfig::default().with_access_token_lifetime(Duration::from_secs(3600)),
        None,
    );
    provider.import(&home, Some(0)); // due: `token` refreshes
    let key = home.run(&with(&["key"], &provider.server())).expect(0);
    let lock = codex_credential_lock(home.path(), key.stdout.trim());
    provider
        .endpoint
        .set_fault(Some(Fault::Slow(Duration::from_secs(2))));

    // The probe polls before `token` starts, so it cannot miss the 2 s the lock is held.
    let mut probe = spawn_child(ENTRY, "flock-probe", &[lock.to_str().expect("utf-8")]);
    wait_for_line(&mut probe, "POLLING");
    let mut token = home
        .command(&with(&["token"], &provider.server()))
        .spawn()?;
    wait_for_line(&mut probe, "BLOCKED");
    wait_for_line(&mut probe, "LOCKED");
    // The lock came free only after the provider answered and the new tokens were
    // saved: the refresh ran under it.
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    let document = std::fs::read_to_string(home.document())?;
    assert!(
        !document.contains(&provider.grant.access_token),
        "the refreshed credential was saved before the lock was released"
    );
    assert!(token.wait()?.success());
    probe.wait()?;
    Ok(())
}

#[test]
fn our_store_lock_blocks_a_file_lock_in_another_process() -> Result {
    let home = Home::codex();
    let layout = StoreLayout::new(home.path(), LayoutPreset::Codex);
    assert_eq!(layout.lock_dir(), codex_lock_dir(home.path()));
    let locks = LockDir::open(layout.lock_dir())?;
    let scope = LockScope::new();
    let guard = locks.acquire(
        &scope,
        &LockTarget::Store(StoreLock::File),
        Duration::from_secs(10),
    )?;
    let codex_path = codex_lock_dir(home.path()).join("file-store.lock");
    assert_eq!(guard.path(), codex_path);

    let mut probe = spawn_child(ENTRY, "flock-probe", &[codex_path.to_str().expect("utf-8")]);
    wait_for_line(&mut probe, "POLLING");
    wait_for_line(&mut probe, "BLOCKED");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        probe.try_wait()?.is_none(),
        "File::lock waits while we hold the lock"
    );
    drop(guard);
    wait_for_line(&mut probe, "LOCKED");
    assert!(probe.wait()?.success());
    Ok(())
}
