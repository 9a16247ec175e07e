use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use oauth_lock::atomic::{self, Error};
use oauth_lock::{LockDir, LockScope, LockTarget, StoreLock};

use crate::child;

use oauth_store_testkit::TestResult;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn files_are_0600_and_dirs_0700_under_umask_000() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut c = child::spawn("create", dir.path(), "", Some("000"));
    assert!(c.wait()?.success());
    assert_eq!(mode(&dir.path().join("locks/file-store.lock")), 0o600);
    assert_eq!(mode(&dir.path().join("doc")), 0o600);
    assert_eq!(mode(&dir.path().join("locks")), 0o700);
    assert_eq!(mode(&dir.path().join("made-here")), 0o700);
    Ok(())
}

#[test]
fn looser_document_is_tightened_by_the_next_replace() -> TestResult {
    let dir = tempfile::tempdir()?;
    let doc = dir.path().join("doc");
    std::fs::write(&doc, b"old")?;
    std::fs::set_permissions(&doc, std::fs::Permissions::from_mode(0o644))?;
    let read = atomic::read_document(&doc, 1024)?.expect("exists");
    assert_eq!(read.mode, 0o644);
    atomic::replace(&doc, b"new")?;
    assert_eq!(mode(&doc), 0o600);
    assert_eq!(std::fs::read(&doc)?, b"new");
    Ok(())
}

fn assert_refused(result: Result<impl std::fmt::Debug, Error>, what: &str) {
    match result {
        Err(Error::NotARegularFile { what: w, .. }) => assert_eq!(w, what),
        other => panic!("expected refusal of a {what}, got {other:?}"),
    }
}

#[test]
fn symlink_directory_fifo_and_socket_are_refused_without_blocking() -> TestResult {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let real = dir.path().join("real");
    std::fs::write(&real, b"secret")?;
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link)?;
    assert_refused(atomic::read_document(&link, 1024), "symlink");
    assert_refused(atomic::replace(&link, b"x"), "symlink");
    assert_eq!(
        std::fs::read(&real)?,
        b"secret",
        "the symlink's target is untouched"
    );

    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub)?;
    assert_refused(atomic::read_document(&sub, 1024), "directory");
    assert_refused(atomic::replace(&sub, b"x"), "directory");

    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status()?.success());
    assert_refused(atomic::read_document(&fifo, 1024), "FIFO");
    assert_refused(atomic::replace(&fifo, b"x"), "FIFO");

    let sock = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock)?;
    assert_refused(atomic::read_document(&sock, 1024), "socket");
    assert_refused(atomic::replace(&sock, b"x"), "socket");

    // A FIFO or symlink where a lock file belongs is refused too.
    let locks = LockDir::open(dir.path().join("locks"))?;
    assert!(
        Command::new("mkfifo")
            .arg(locks.lock_path(&LockTarget::Sidecar))
            .status()?
            .success()
    );
    let err = locks
        .acquire(
            &LockScope::new(),
            &LockTarget::Sidecar,
            Duration::from_secs(1),
        )
        .expect_err("fifo lock");
    assert!(
        matches!(err, oauth_lock::Error::NotARegularFile { .. }),
        "{err:?}"
    );
    std::os::unix::fs::symlink(&real, locks.lock_path(&LockTarget::Store(StoreLock::File)))?;
    let err = locks
        .acquire(
            &LockScope::new(),
            &LockTarget::Store(StoreLock::File),
            Duration::from_secs(1),
        )
        .expect_err("symlink lock");
    assert!(
        matches!(
            err,
            oauth_lock::Error::NotARegularFile {
                what: "symlink",
                ..
            }
        ),
        "{err:?}"
    );

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "nothing blocked"
    );
    Ok(())
}

#[test]
fn oversized_document_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let doc = dir.path().join("doc");
    std::fs::write(&doc, vec![b'x'; 2048])?;
    match atomic::read_document(&doc, 1024) {
        Err(Error::TooLarge {
            size: 2048,
            cap: 1024,
            ..
        }) => Ok(()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sigkill_mid_write_leaves_old_or_new_never_a_mix_and_at_most_one_temp() -> TestResult {
    const SIZE: usize = 512 * 1024;
    let dir = tempfile::tempdir()?;
    let doc = dir.path().join("doc");
    for round in 0..25u64 {
        let mut writer = child::spawn("replace-loop", dir.path(), &SIZE.to_string(), None);
        child::wait_for_line(&mut writer, "STARTED");
        std::thread::sleep(Duration::from_millis(5 + (round * 7) % 40));
        writer.kill()?;
        writer.wait()?;
        if let Some(read) = atomic::read_document(&doc, u64::MAX)? {
            assert_eq!(read.bytes.len(), SIZE, "round {round}: a whole document");
            let first = read.bytes[0];
            assert!(
                read.bytes.iter().all(|b| *b == first),
                "round {round}: old or new, never a mix"
            );
            assert_eq!(read.mode & 0o777, 0o600);
        }
        let temps = std::fs::read_dir(dir.path())?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert!(temps <= 1, "round {round}: {temps} temp files");
    }
    Ok(())
}

#[test]
fn remove_is_durable_and_reports_absence() -> TestResult {
    let dir = tempfile::tempdir()?;
    let doc = dir.path().join("doc");
    assert!(!atomic::remove(&doc)?);
    atomic::replace(&doc, b"1")?;
    assert!(atomic::remove(&doc)?);
    assert!(!doc.exists());
    Ok(())
}

/// The `oauth_lock::write` events of `f`, as `operation path dir_synced` lines.
fn traced_writes(
    f: impl FnOnce() -> TestResult,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Writes {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if event.metadata().target() != "oauth_lock::write" {
                return;
            }
            struct V(Vec<String>);
            impl tracing::field::Visit for V {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() != "message" {
                        self.0
                            .push(format!("{value:?}").trim_matches('"').to_owned());
                    }
                }
            }
            let mut v = V(Vec::new());
            event.record(&mut v);
            self.0.lock().expect("writes").push(v.0.join(" "));
        }
    }
    let writes = Writes::default();
    let subscriber = tracing_subscriber::registry().with(writes.clone());
    tracing::subscriber::with_default(subscriber, f)?;
    let seen = writes.0.lock().expect("writes").clone();
    Ok(seen)
}

#[test]
fn every_write_is_traced_and_only_the_durable_ones_sync_the_directory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (durable, relaxed) = (dir.path().join("durable"), dir.path().join("relaxed"));
    let writes = traced_writes(|| {
        atomic::replace(&durable, b"1")?;
        atomic::replace_with(&relaxed, b"2", atomic::Durability::RenameMayBeLost)?;
        atomic::replace_with(&relaxed, b"3", atomic::Durability::Durable)?;
        atomic::remove(&durable)?;
        // Refused and absent: nothing written, nothing traced.
        let _ = atomic::replace(dir.path(), b"x");
        atomic::remove(&durable)?;
        Ok(())
    })?;
    let (d, r) = (durable.display(), relaxed.display());
    assert_eq!(
        writes,
        [
            format!("replace {d} true"),
            format!("replace {r} false"),
            format!("replace {r} true"),
            format!("remove {d} true"),
        ]
    );
    assert_eq!(std::fs::read(&relaxed)?, b"3");
    assert_eq!(mode(&relaxed), 0o600);
    assert!(!atomic::temp_path(&relaxed).exists());
    Ok(())
}
