//! DESIGN.md "Persist rescue" against a keyring that stops answering mid-refresh: the
//! provider rotated, the keyring save times out, the new credential is kept elsewhere
//! (in plain text, said on stderr with the file named), found by the next process with
//! no provider request, and moved back into the keyring once it answers again.

use std::process::Stdio;
use std::time::{Duration, Instant};

use oauth_store_testkit::Fault;

use crate::support::{Bus, Home, PrivateSession, Provider, Result, SmallFs, session, with};

/// The rescue files in the home's lock directory.
fn rescue_files(home: &Home) -> usize {
    std::fs::read_dir(home.path().join("mcp-oauth-locks"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".rescued.json"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_refresh_whose_keyring_save_times_out_is_rescued_and_moved_back() -> Result {
    if !session("a_refresh_whose_keyring_save_times_out_is_rescued_and_moved_back") {
        return Ok(());
    }
    let private = PrivateSession::start()?;
    let mut home = Home::new("keyring");
    home.bus = Bus::At(private.address.clone());
    home.options
        .extend(["--keyring-timeout".into(), "1".into()]);
    let provider = Provider::start(Duration::from_secs(3600), "kr-rescue-");
    provider.import(&home, Some(0)); // due: `token` refreshes
    assert!(home.file_keys().is_empty(), "in the keyring only");
    provider
        .endpoint
        .set_fault_times(Fault::Slow(Duration::from_millis(1500)), 1);

    let child = home
        .command(&with(&["token"], &provider.server()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Once the refresh is at the provider, the keyring stops answering.
    let started = Instant::now();
    while provider.endpoint.counters().token_requests == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the refresh never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    private.signal("STOP")?;
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8(out.stdout)?;
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rotated = stdout.trim().to_owned();
    assert!(provider.endpoint.access_token_is_active(&rotated));
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    // Plain text, a last resort for a keyring credential: said, with the file named.
    assert!(
        stderr.to_lowercase().contains("plain text"),
        "says plain text: {stderr}"
    );
    let document = home.document();
    let named =
        stderr.contains(document.to_str().expect("utf-8")) || stderr.contains(".rescued.json");
    assert!(named, "names the file: {stderr}");

    // A new process, the keyring still stopped: `--store keyring` cannot read the
    // store it is pinned to, so it fails (exit 4) and sends nothing; the copy stays.
    let next = home.run(&with(&["token"], &provider.server())).expect(4);
    assert!(next.stderr.contains("timed out"), "{}", next.stderr);
    assert_eq!(provider.endpoint.counters().token_requests, 1, "no request");

    private.signal("CONT")?;
    let again = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(
        again.stdout.trim(),
        rotated,
        "the rescued token, no new one"
    );
    assert_eq!(provider.endpoint.counters().token_requests, 1, "no request");
    // Moved back: the keyring holds it, the plain-text copies are gone.
    assert!(home.file_keys().is_empty(), "the File copy is gone");
    assert_eq!(rescue_files(&home), 0, "no rescue file");
    let listed = home.listed();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].1, "keyring");
    let counters = provider.endpoint.counters();
    assert_eq!((counters.refreshes, counters.reuse_detections), (1, 0));
    Ok(())
}

/// Starts `token` on `home` with the provider answering slowly, and once the refresh
/// is at the provider runs `meanwhile`; returns the command's exit code, stdout and
/// stderr.
fn token_while(
    home: &Home,
    provider: &Provider,
    meanwhile: impl FnOnce() -> Result,
) -> Result<(Option<i32>, String, String)> {
    provider
        .endpoint
        .set_fault_times(Fault::Slow(Duration::from_millis(1500)), 1);
    let child = home
        .command(&with(&["token"], &provider.server()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    while provider.endpoint.counters().token_requests == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the refresh never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    meanwhile()?;
    let out = child.wait_with_output()?;
    Ok((
        out.status.code(),
        String::from_utf8(out.stdout)?,
        String::from_utf8(out.stderr)?,
    ))
}

/// The home's file system fills up while `token` waits on the provider: the File
/// store's save fails with ENOSPC, and the refreshed credential is kept in the rescue
/// file, in the room reserved before the request (as plain as the File store it
/// belongs in, so it comes before the OS keyring, which would take it next): the next
/// process prints it with no provider request and no reuse, and once there is room
/// again it moves back.
#[test]
fn a_refresh_whose_home_fills_up_with_a_keyring_is_rescued_and_moved_back() -> Result {
    const TEST: &str = "a_refresh_whose_home_fills_up_with_a_keyring_is_rescued_and_moved_back";
    if !session(TEST) {
        return Ok(());
    }
    let Some(fs) = SmallFs::mount(TEST, "1m")? else {
        return Ok(());
    };
    let home = Home::on(fs.path(), "file");
    let provider = Provider::start(Duration::from_secs(3600), "full-fs-");
    provider.import(&home, Some(0)); // due: `token` refreshes
    let before = std::fs::read(home.document())?;

    let (code, stdout, stderr) = token_while(&home, &provider, || fs.fill())?;
    assert_eq!(code, Some(0), "{stderr}");
    let rotated = stdout.trim().to_owned();
    assert!(provider.endpoint.access_token_is_active(&rotated));
    assert!(
        stderr.contains("rescued into the rescue store") && stderr.contains(".rescued.json"),
        "says where: {stderr}"
    );
    assert_eq!(rescue_files(&home), 1);
    assert_eq!(
        std::fs::read(home.document())?,
        before,
        "the File copy is the old one"
    );

    // A new process, the disk still full: the keyring's copy is the newest.
    let next = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(next.stdout.trim(), rotated);
    fs.free()?;
    let again = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(again.stdout.trim(), rotated);
    assert!(std::fs::read_to_string(home.document())?.contains(&rotated));
    assert_eq!(rescue_files(&home), 0, "moved back");
    let counters = provider.endpoint.counters();
    assert_eq!(
        (
            counters.token_requests,
            counters.refreshes,
            counters.reuse_detections
        ),
        (1, 1, 0)
    );
    Ok(())
}

/// The same without a session bus (no keyring, no Secrets key): the room the refresh
/// reserved beside the locks before it was sent takes the rescue file, so the next
/// process, the disk still full, prints the working token with no provider request,
/// and once there is room again the copy moves back into the File store.
#[test]
fn a_refresh_whose_home_fills_up_without_a_keyring_is_rescued_into_its_reserved_room() -> Result {
    const TEST: &str =
        "a_refresh_whose_home_fills_up_without_a_keyring_is_rescued_into_its_reserved_room";
    let Some(fs) = SmallFs::mount(TEST, "1m")? else {
        return Ok(());
    };
    let mut home = Home::on(fs.path(), "file");
    home.bus = home.no_bus();
    let provider = Provider::start(Duration::from_secs(3600), "full-fs-nobus-");
    provider.import(&home, Some(0)); // due: `token` refreshes

    let (code, stdout, stderr) = token_while(&home, &provider, || fs.fill())?;
    assert_eq!(code, Some(0), "{stderr}");
    let rotated = stdout.trim().to_owned();
    assert!(provider.endpoint.access_token_is_active(&rotated));
    assert!(
        stderr.contains("rescued into the rescue store") && stderr.contains(".rescued.json"),
        "says where: {stderr}"
    );
    assert_eq!(rescue_files(&home), 1);

    let next = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(next.stdout.trim(), rotated, "{}", next.stderr);
    fs.free()?;
    let again = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(again.stdout.trim(), rotated);
    assert!(std::fs::read_to_string(home.document())?.contains(&rotated));
    assert_eq!(rescue_files(&home), 0, "moved back");
    let counters = provider.endpoint.counters();
    assert_eq!(
        (
            counters.token_requests,
            counters.refreshes,
            counters.reuse_detections
        ),
        (1, 1, 0)
    );
    Ok(())
}

/// A home that is full before the refresh: no room for a rescue can be reserved, so a
/// refresh under `--store file` is never sent (exit 4), and nothing is lost.
#[test]
fn a_refresh_on_a_full_home_without_a_keyring_is_never_sent() -> Result {
    const TEST: &str = "a_refresh_on_a_full_home_without_a_keyring_is_never_sent";
    let Some(fs) = SmallFs::mount(TEST, "1m")? else {
        return Ok(());
    };
    let mut home = Home::on(fs.path(), "file");
    home.bus = home.no_bus();
    let provider = Provider::start(Duration::from_secs(3600), "full-before-");
    provider.import(&home, Some(0));
    let before = std::fs::read(home.document())?;
    fs.fill()?;
    let out = home.run(&with(&["token"], &provider.server())).expect(4);
    assert!(out.stderr.contains("was not sent"), "{}", out.stderr);
    assert_eq!(provider.endpoint.counters().token_requests, 0);
    assert_eq!(std::fs::read(home.document())?, before);
    fs.free()?;
    home.run(&with(&["token"], &provider.server())).expect(0);
    let counters = provider.endpoint.counters();
    assert_eq!((counters.refreshes, counters.reuse_detections), (1, 0));
    Ok(())
}
