//! DESIGN.md "Persist rescue", through the command: the spend guard (a refresh token is
//! never sent when its successor could not be kept) and the rescue of a refreshed
//! credential whose store refused it, found by the next process.

use std::time::{Duration, Instant};

use oauth_store_testkit::Fault;

use crate::util::{Home, Provider, Result, spawn_child, wait_for_line, with};

/// Without a session bus, the keyring and the Secrets key are out of reach: a due
/// refresh under `--store keyring` or `--store secrets` sends nothing, exits 4 and
/// changes nothing; the next refresh under the default options works, with no reuse.
#[test]
fn a_refresh_whose_result_could_not_be_kept_is_never_sent() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, Some(-10));
    let before = std::fs::read(home.document())?;
    for args in [
        &["--store", "secrets", "refresh", "--force"][..],
        &["--store", "secrets", "token"][..],
        &["--store", "keyring", "refresh", "--force"][..],
    ] {
        let out = home.run(&with(args, &provider.server())).expect(4);
        // Either the spend guard, or earlier still: the store cannot even be read.
        assert!(
            out.stderr.contains("was not sent") || out.stderr.contains("unavailable"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(
        provider.endpoint.counters().token_requests,
        0,
        "nothing reached the provider"
    );
    assert_eq!(
        std::fs::read(home.document())?,
        before,
        "the stored credential is unchanged"
    );
    home.run(&with(&["refresh", "--force"], &provider.server()))
        .expect(0);
    let counters = provider.endpoint.counters();
    assert_eq!((counters.refreshes, counters.reuse_detections), (1, 0));
    assert_eq!(
        locks_ending(&home, ".reserve")?,
        0,
        "a saved refresh leaves no reserved room behind"
    );
    Ok(())
}

/// How many files in the home's lock directory have names ending with `suffix`.
fn locks_ending(home: &Home, suffix: &str) -> Result<usize> {
    Ok(std::fs::read_dir(home.path().join("mcp-oauth-locks"))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .count())
}

/// The document is replaced by a directory while `token` waits on a slow provider:
/// the provider rotates, the save fails, and the new credential is rescued. The next
/// `token`, in a new process, prints that working token with no provider request and
/// no new authorization; once the document can be written again it moves back.
#[test]
fn a_refreshed_credential_whose_save_fails_is_rescued_and_found_by_the_next_process() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, Some(-10));
    provider
        .endpoint
        .set_fault_times(Fault::Slow(Duration::from_millis(1500)), 1);
    let mut token = home.command(&with(&["token"], &provider.server()));
    let child = token
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Once the refresh is at the provider, the document becomes a directory.
    let started = Instant::now();
    while provider.endpoint.counters().token_requests == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the refresh never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let document = home.document();
    std::fs::remove_file(&document)?;
    std::fs::create_dir(&document)?;
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8(out.stdout)?;
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rotated = stdout.trim().to_owned();
    assert!(provider.endpoint.access_token_is_active(&rotated));
    assert!(stderr.contains("rescue"), "the command says so: {stderr}");
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    assert_eq!(
        locks_ending(&home, ".reserve")?,
        0,
        "the room reserved for the rescue was given back"
    );

    // A new process finds the rescued credential: same token, no request.
    let next = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(next.stdout.trim(), rotated);
    assert_eq!(provider.endpoint.counters().token_requests, 1);

    // The document can be written again: the next read moves the copy back.
    std::fs::remove_dir(&document)?;
    let again = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(again.stdout.trim(), rotated);
    let text = std::fs::read_to_string(&document)?;
    assert!(text.contains(&rotated), "moved back into the File store");
    assert_eq!(
        locks_ending(&home, ".rescued.json")?,
        0,
        "and the rescue file is gone"
    );
    let counters = provider.endpoint.counters();
    assert_eq!((counters.refreshes, counters.reuse_detections), (1, 0));
    Ok(())
}

/// Runs a due `token` and a `refresh --force` against a home whose File store lock
/// cannot be taken: each exits 4 with nothing sent and the stored credential unchanged.
fn nothing_is_sent(home: &Home, provider: &Provider, what: &str) -> Result {
    let before = std::fs::read(home.document())?;
    for args in [&["token"][..], &["refresh", "--force"][..]] {
        let mut all = vec!["--lock-timeout", "1"];
        all.extend_from_slice(args);
        let out = home.run(&with(&all, &provider.server())).expect(4);
        assert!(
            out.stderr.contains("file-store.lock"),
            "{what}: names the lock file: {}",
            out.stderr
        );
    }
    assert_eq!(
        provider.endpoint.counters().token_requests,
        0,
        "{what}: nothing reached the provider"
    );
    assert_eq!(
        std::fs::read(home.document())?,
        before,
        "{what}: the stored credential is unchanged"
    );
    Ok(())
}

/// The File store lock held past `--lock-timeout` by a stopped process (another
/// program's `File::lock`): the spend guard cannot take it, so nothing is sent.
#[test]
fn a_store_lock_held_by_a_stopped_process_means_nothing_is_sent() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, Some(-10));
    let lock = home.path().join("mcp-oauth-locks/file-store.lock");
    let mut holder = spawn_child(
        crate::codex_locks::ENTRY,
        "flock-hold",
        &[lock.to_str().expect("utf-8"), "600000"],
    );
    wait_for_line(&mut holder, "LOCKED");
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &holder.id().to_string()])
        .status()?;
    assert!(stopped.success(), "SIGSTOP the holder");
    let result = nothing_is_sent(&home, &provider, "stopped holder");
    holder.kill()?;
    holder.wait()?;
    result?;
    // Once it is gone, the refresh goes through, with no reuse.
    home.run(&with(&["token"], &provider.server())).expect(0);
    let counters = provider.endpoint.counters();
    assert_eq!((counters.refreshes, counters.reuse_detections), (1, 0));
    Ok(())
}

/// `file-store.lock` is a symlink (to a file elsewhere) or a FIFO: the lock is refused
/// before the refresh token is spent, and opening the FIFO never blocks.
#[test]
fn a_store_lock_that_is_a_symlink_or_fifo_means_nothing_is_sent() -> Result {
    for what in ["symlink", "fifo"] {
        let provider = Provider::start(Duration::from_secs(3600));
        let home = Home::new();
        provider.import(&home, Some(-10));
        let lock = home.path().join("mcp-oauth-locks/file-store.lock");
        std::fs::remove_file(&lock)?;
        let elsewhere = tempfile::NamedTempFile::new()?;
        match what {
            "symlink" => std::os::unix::fs::symlink(elsewhere.path(), &lock)?,
            _ => {
                let made = std::process::Command::new("mkfifo").arg(&lock).status()?;
                assert!(made.success(), "mkfifo");
            }
        }
        nothing_is_sent(&home, &provider, what)?;
    }
    Ok(())
}
