use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_lock::{Error, LockDir, LockScope, LockTarget, StoreLock};

use crate::child::{self, CRED_FILE, CRED_KEY};

use oauth_store_testkit::TestResult;

fn cred(key: &str) -> LockTarget {
    LockTarget::credential(key, format!("{}.lock", key.replace("|", "_")))
}

#[test]
fn child_holder_times_out_parent_with_its_pid_and_sigkill_frees_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let locks = LockDir::open(dir.path().join("locks"))?;
    let mut holder = child::spawn("hold", dir.path(), "600", None);
    child::wait_for_line(&mut holder, "LOCKED");

    let target = LockTarget::credential(CRED_KEY, CRED_FILE);
    let err = locks
        .acquire(&LockScope::new(), &target, Duration::from_millis(300))
        .expect_err("the child holds the lock");
    match &err {
        Error::Timeout {
            path,
            waited,
            holder_pid,
        } => {
            assert_eq!(path, &locks.lock_path(&target));
            assert!(*waited >= Duration::from_millis(300));
            assert_eq!(
                *holder_pid,
                Some(holder.id()),
                "the error names the child's pid"
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&holder.id().to_string()) && text.contains("cred.lock"),
        "{text}"
    );

    holder.kill()?; // SIGKILL
    holder.wait()?;
    let guard = locks.try_acquire(&LockScope::new(), &target)?;
    assert!(
        guard.is_some(),
        "the OS released the dead holder's lock: no stale-lock cleanup needed"
    );
    Ok(())
}

#[test]
fn waiter_wakes_when_the_child_holder_exits() -> TestResult {
    let dir = tempfile::tempdir()?;
    let locks = LockDir::open(dir.path().join("locks"))?;
    let mut holder = child::spawn("hold", dir.path(), "1", None);
    child::wait_for_line(&mut holder, "LOCKED");
    let guard = locks.acquire(
        &LockScope::new(),
        &LockTarget::credential(CRED_KEY, CRED_FILE),
        Duration::from_secs(30),
    )?;
    drop(guard);
    holder.wait()?;
    Ok(())
}

#[test]
fn eight_processes_times_200_increments_lose_none() -> TestResult {
    let dir = tempfile::tempdir()?;
    let children: Vec<_> = (0..8)
        .map(|_| child::spawn("increment", dir.path(), "200", None))
        .collect();
    for mut c in children {
        assert!(c.wait()?.success());
    }
    let value: u64 = std::fs::read_to_string(dir.path().join("counter"))?
        .trim()
        .parse()?;
    assert_eq!(value, 1600);
    Ok(())
}

#[test]
fn two_threads_of_one_process_exclude_each_other() -> TestResult {
    let dir = tempfile::tempdir()?;
    let locks = Arc::new(LockDir::open(dir.path().join("locks"))?);
    let inside = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (locks, inside, overlaps) = (locks.clone(), inside.clone(), overlaps.clone());
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let _g = locks
                        .acquire(
                            &LockScope::new(),
                            &LockTarget::Store(StoreLock::File),
                            Duration::from_secs(30),
                        )
                        .expect("acquire");
                    if inside.swap(true, Ordering::SeqCst) {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    std::thread::yield_now();
                    inside.store(false, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    Ok(())
}

#[test]
fn wrong_order_and_reentry_are_errors_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let locks = LockDir::open(dir.path().join("locks"))?;
    let scope = LockScope::new();
    let store = locks.acquire(
        &scope,
        &LockTarget::Store(StoreLock::File),
        Duration::from_secs(1),
    )?;
    let err = locks
        .acquire(&scope, &cred("a|1"), Duration::from_secs(60))
        .expect_err("order");
    assert!(matches!(err, Error::OrderViolation { .. }), "{err:?}");
    let err = locks
        .acquire(
            &scope,
            &LockTarget::Store(StoreLock::File),
            Duration::from_secs(60),
        )
        .expect_err("re-entry");
    assert!(matches!(err, Error::Reentry { .. }), "{err:?}");
    // Secrets after File is the right order; File after Secrets is not.
    let secrets = locks.acquire(
        &scope,
        &LockTarget::Store(StoreLock::Secrets),
        Duration::from_secs(1),
    )?;
    drop((store, secrets));

    let other = LockScope::new();
    let s = locks.acquire(
        &other,
        &LockTarget::Store(StoreLock::Secrets),
        Duration::from_secs(1),
    )?;
    let err = locks
        .acquire(
            &other,
            &LockTarget::Store(StoreLock::File),
            Duration::from_secs(1),
        )
        .expect_err("order");
    assert!(matches!(err, Error::OrderViolation { .. }));
    drop(s);

    // Credentials by key bytes.
    let b = locks.acquire(&scope, &cred("b|2"), Duration::from_secs(1))?;
    let err = locks
        .acquire(&scope, &cred("a|1"), Duration::from_secs(1))
        .expect_err("key order");
    assert!(matches!(err, Error::OrderViolation { .. }));
    let c = locks.acquire(&scope, &cred("c|3"), Duration::from_secs(1))?;
    let sidecar = locks.acquire(&scope, &LockTarget::Sidecar, Duration::from_secs(1))?;
    drop((sidecar, c, b));
    assert_eq!(scope.held(), 0);
    Ok(())
}

#[test]
fn order_check_holds_when_guards_move_to_another_thread() -> TestResult {
    let dir = tempfile::tempdir()?;
    let locks = LockDir::open(dir.path().join("locks"))?;
    let scope = LockScope::new();
    let store = locks.acquire(
        &scope,
        &LockTarget::Store(StoreLock::File),
        Duration::from_secs(1),
    )?;
    let (locks2, scope2) = (locks.clone(), scope.clone());
    let result = std::thread::spawn(move || {
        let held_here = store; // the guard moved to this thread
        let r = locks2
            .acquire(&scope2, &cred("a|1"), Duration::from_secs(60))
            .map(drop);
        let again = locks2
            .acquire(
                &scope2,
                &LockTarget::Store(StoreLock::File),
                Duration::from_secs(60),
            )
            .map(drop);
        drop(held_here);
        (r, again)
    })
    .join()
    .expect("thread");
    assert!(
        matches!(result.0, Err(Error::OrderViolation { .. })),
        "{:?}",
        result.0
    );
    assert!(
        matches!(result.1, Err(Error::Reentry { .. })),
        "{:?}",
        result.1
    );
    // Released in the other thread: the scope is empty again and the order allows a credential.
    let _c = locks.acquire(&scope, &cred("a|1"), Duration::from_secs(1))?;
    Ok(())
}

#[test]
fn guard_releases_during_a_panic() -> TestResult {
    let dir = tempfile::tempdir()?;
    let locks = LockDir::open(dir.path().join("locks"))?;
    let l2 = locks.clone();
    let joined = std::thread::spawn(move || {
        let _g = l2
            .acquire(
                &LockScope::new(),
                &LockTarget::Sidecar,
                Duration::from_secs(1),
            )
            .expect("acquire");
        panic!("boom while holding the lock");
    })
    .join();
    assert!(joined.is_err());
    assert!(
        locks
            .try_acquire(&LockScope::new(), &LockTarget::Sidecar)?
            .is_some()
    );
    Ok(())
}

/// Collects events of target `oauth_lock::contention` with their fields.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() == "oauth_lock::contention" {
            struct V(String);
            impl tracing::field::Visit for V {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    self.0.push_str(&format!("{}={:?} ", field.name(), value));
                }
            }
            let mut v = V(String::new());
            event.record(&mut v);
            self.0.lock().expect("capture").push(v.0);
        }
    }
}

#[test]
fn contention_emits_one_debug_event_with_kind_path_and_holder() -> TestResult {
    use tracing_subscriber::layer::SubscriberExt;
    let dir = tempfile::tempdir()?;
    let locks = LockDir::open(dir.path().join("locks"))?;
    let mut holder = child::spawn("hold", dir.path(), "600", None);
    child::wait_for_line(&mut holder, "LOCKED");
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::with_default(subscriber, || {
        let _ = locks.acquire(
            &LockScope::new(),
            &LockTarget::credential(CRED_KEY, CRED_FILE),
            Duration::from_millis(50),
        );
    });
    holder.kill()?;
    holder.wait()?;
    let events = captured.0.lock().expect("capture").clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("kind=\"credential\""), "{events:?}");
    assert!(events[0].contains("cred.lock"), "{events:?}");
    assert!(
        events[0].contains(&format!("holder_pid={}", holder.id())),
        "{events:?}"
    );
    Ok(())
}

#[test]
fn a_symlinked_or_file_lock_directory_is_refused_and_not_followed() -> TestResult {
    let home = tempfile::tempdir()?;
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir(&elsewhere)?;
    let dir = home.path().join("mcp-oauth-locks");
    std::os::unix::fs::symlink(&elsewhere, &dir)?;
    match LockDir::open(&dir) {
        Err(oauth_lock::Error::NotADirectory { what, path }) => {
            assert_eq!((what, path), ("symlink", dir.clone()));
        }
        other => panic!("a symlinked lock directory was accepted: {other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(&elsewhere)?.count(),
        0,
        "nothing made there"
    );

    std::fs::remove_file(&dir)?;
    std::fs::write(&dir, b"")?;
    assert!(matches!(
        LockDir::open(&dir),
        Err(oauth_lock::Error::NotADirectory {
            what: "regular file",
            ..
        })
    ));
    std::fs::remove_file(&dir)?;
    LockDir::open(&dir)?;
    assert!(std::fs::symlink_metadata(&dir)?.is_dir());
    Ok(())
}
