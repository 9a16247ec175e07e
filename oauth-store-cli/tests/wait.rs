//! The lock-wait notice: after about 1 s, once, what is waited for and who holds it.

use std::time::Duration;

use oauth_store::compute_store_key;
use oauth_store::lock::{LockDir, LockScope, LockTarget};

use crate::util::{Home, Provider, Result, SERVER, with};

#[test]
fn a_wait_past_a_second_is_reported_once_with_the_holder() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
    let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
    let guard = locks.acquire(&LockScope::new(), &target, Duration::from_secs(5))?;
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        drop(guard);
    });
    let out = home.run(&with(&["logout"], &SERVER)).expect(0);
    release.join().expect("release thread");
    let notices: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("Blocking: "))
        .collect();
    assert_eq!(notices.len(), 1, "{}", out.stderr);
    assert!(
        notices[0].contains("credential lock")
            && notices[0].contains(&key.credential_lock_file_name()),
        "{}",
        notices[0]
    );
    assert!(
        notices[0].ends_with(&format!("(held by pid {})", std::process::id())),
        "{}",
        notices[0]
    );
    assert!(out.stdout.starts_with("logged out "), "{}", out.stdout);
    Ok(())
}

#[test]
fn a_short_wait_is_silent() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
    let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
    let guard = locks.acquire(&LockScope::new(), &target, Duration::from_secs(5))?;
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(guard);
    });
    let out = home.run(&with(&["logout"], &SERVER)).expect(0);
    release.join().expect("release thread");
    assert_eq!(out.stderr, "");
    Ok(())
}

#[test]
fn one_wait_of_a_command_is_one_notice_even_when_the_code_waits_again() -> Result {
    use oauth_store::lock::StoreLock;
    // A due credential (5 s left, under an explicit 30 s margin), and a stopped process
    // holding the File store's lock past the timeout: every wait of the command on
    // that lock (the spend guard's, and a save's retries when the guard passed) is said
    // in one notice.
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, Some(5));
    let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
    let guard = locks.acquire(
        &LockScope::new(),
        &LockTarget::Store(StoreLock::File),
        Duration::from_secs(5),
    )?;
    let out = home.run(&with(
        &["--lock-timeout", "2", "token", "--min-valid", "30"],
        &provider.server(),
    ));
    drop(guard);
    let notices: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("Blocking: "))
        .collect();
    assert_eq!(notices.len(), 1, "{}", out.stderr);
    assert!(notices[0].contains("file-store.lock"), "{}", notices[0]);
    Ok(())
}
