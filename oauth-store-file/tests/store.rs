//! The File store: read-modify-write of one entry, bad input, permissions, owners, locks.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_lock::{LockDir, LockScope, LockTarget, StoreLock};
use oauth_store_core::{CredentialStore, StoreError, StoreKind};
use oauth_store_file::{DEFAULT_SIZE_CAP, FileStore};

use crate::{TestResult, key, record, store_in, token_of};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn save_load_delete_and_the_last_delete_removes_the_document() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    assert_eq!(store.kind(), StoreKind::File);
    assert!(store.load(&key("a"))?.is_none());
    assert!(store.list()?.is_empty());
    assert!(!store.delete(&key("a"))?);

    store.save(&key("a"), &record("a", "at-a"))?;
    store.save(&key("b"), &record("b", "at-b"))?;
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a".into())
    );
    let listed: Vec<_> = store.list()?.into_iter().map(|l| l.key).collect();
    assert_eq!(listed, vec![key("a"), key("b")], "document order");
    assert_eq!(mode(store.path()), 0o600);

    store.save(&key("a"), &record("a", "at-a2"))?;
    let listed: Vec<_> = store.list()?.into_iter().map(|l| l.key).collect();
    assert_eq!(listed, vec![key("a"), key("b")], "a save replaces in place");
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a2".into())
    );

    assert!(store.delete(&key("a"))?);
    assert!(!store.delete(&key("a"))?);
    assert!(store.path().exists());
    assert!(store.delete(&key("b"))?);
    assert!(!store.path().exists(), "no entry left: no document");
    Ok(())
}

#[test]
fn the_document_is_compact_json_from_key_to_record() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let c = record("a", "at-a");
    store.save(&key("a"), &c)?;
    let text = std::fs::read_to_string(store.path())?;
    assert_eq!(
        text,
        format!("{{\"{}\":{}}}", key("a"), serde_json::to_string(&c)?)
    );
    Ok(())
}

#[test]
fn a_shorter_token_over_a_longer_one_leaves_no_tail() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let long = "L".repeat(4096);
    store.save(&key("a"), &record("a", &long))?;
    store.save(&key("a"), &record("a", "short"))?;
    let bytes = std::fs::read(store.path())?;
    serde_json::from_slice::<serde_json::Value>(&bytes)?;
    assert!(!String::from_utf8(bytes)?.contains("LLL"));
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("short".into())
    );
    Ok(())
}

#[test]
fn two_stores_on_one_document_keep_each_others_entries() -> TestResult {
    let home = tempfile::tempdir()?;
    let first = store_in(home.path());
    let second = FileStore::new(
        home.path().join(".credentials.json"),
        LockDir::open(home.path().join("mcp-oauth-locks"))?,
    );
    for i in 0..20 {
        first.save(&key(&format!("one-{i}")), &record("one", "at"))?;
        second.save(&key(&format!("two-{i}")), &record("two", "at"))?;
    }
    assert_eq!(first.list()?.len(), 40);
    Ok(())
}

const GOOD: &str = r#"{"server_name":"a","server_url":"https://a","client_id":"c","access_token":"at-a","expires_at":null,"refresh_token":null,"scopes":[]}"#;
const BAD_FIELD: &str = r#"{"server_name":"b","server_url":"https://b","access_token":12345,"refresh_token":"SECRET-RT-b","x":1}"#;
const BAD_SHAPE: &str = r#""SECRET-STRING-c""#;

fn document_with_bad_entries() -> String {
    format!(r#"{{"a|1":{GOOD},"b|2":{BAD_FIELD},"c|3":{BAD_SHAPE}}}"#)
}

#[test]
fn a_bad_entry_is_an_error_for_its_key_alone_and_is_written_back_unchanged() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    std::fs::write(store.path(), document_with_bad_entries())?;
    let a = oauth_store_core::StoreKey::from_raw("a|1");
    let b = oauth_store_core::StoreKey::from_raw("b|2");
    let c = oauth_store_core::StoreKey::from_raw("c|3");

    assert_eq!(store.load(&a)?.map(|c| token_of(&c)), Some("at-a".into()));
    for (k, expected) in [
        (&b, "field `access_token`"),
        (&c, "expected a JSON object, found a string"),
    ] {
        let err = store.load(k).expect_err("a bad entry");
        assert!(err.is_entry_error(), "{err:?}");
        match &err {
            StoreError::CorruptEntry { path, key, reason } => {
                assert_eq!(path, store.path());
                assert_eq!(key, k);
                assert!(reason.contains(expected), "{reason}");
            }
            other => panic!("expected CorruptEntry, got {other:?}"),
        }
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("12345"),
            "{shown}"
        );
        assert!(shown.contains(".credentials.json"), "{shown}");
    }
    let listed = store.list()?;
    assert_eq!(listed.len(), 3);
    assert!(listed[0].credential.is_ok());
    assert!(listed[1].credential.is_err() && listed[2].credential.is_err());

    // Saving another key keeps both bad entries byte-exact.
    store.save(&key("d"), &record("d", "at-d"))?;
    let text = std::fs::read_to_string(store.path())?;
    assert!(
        text.starts_with(&document_with_bad_entries()[..document_with_bad_entries().len() - 1])
    );
    // A save for the bad key itself replaces it.
    store.save(&b, &record("b", "at-b"))?;
    assert_eq!(store.load(&b)?.map(|c| token_of(&c)), Some("at-b".into()));
    assert!(std::fs::read_to_string(store.path())?.contains(BAD_SHAPE));
    assert!(store.delete(&c)?);
    assert!(!std::fs::read_to_string(store.path())?.contains("SECRET-STRING"));
    Ok(())
}

/// Asserts that load, list, save and delete all fail as `check` says, naming the file,
/// and that the file's bytes did not change.
fn assert_refused_everywhere(store: &FileStore, check: impl Fn(&StoreError) -> bool) -> TestResult {
    // Reading a FIFO would block: only regular files are compared.
    let contents = || {
        std::fs::symlink_metadata(store.path())
            .is_ok_and(|m| m.is_file())
            .then(|| std::fs::read(store.path()).ok())
            .flatten()
    };
    let before = contents();
    let started = Instant::now();
    let errors = [
        store.load(&key("a")).map(|_| ()).expect_err("load"),
        store.list().map(|_| ()).expect_err("list"),
        store
            .save(&key("a"), &record("a", "at-a"))
            .expect_err("save"),
        store.delete(&key("a")).map(|_| ()).expect_err("delete"),
    ];
    assert!(started.elapsed() < Duration::from_secs(5), "never blocks");
    for err in &errors {
        assert!(check(err), "unexpected error {err:?}");
        assert!(
            err.to_string()
                .contains(&store.path().display().to_string()),
            "{err}"
        );
    }
    assert_eq!(contents(), before, "left untouched");
    Ok(())
}

fn corrupt_document(e: &StoreError) -> bool {
    matches!(e, StoreError::CorruptDocument { .. })
}

#[test]
fn documents_that_do_not_parse_are_refused_and_never_replaced() -> TestResult {
    let cases: [(&str, &[u8]); 9] = [
        ("not JSON", b"hello SECRET-TOKEN"),
        ("truncated", &crate::CODEX_DOCUMENT.as_bytes()[..300]),
        ("trailing garbage", b"{\"a|1\":{}}ken\"}}"),
        ("an array", b"[{\"server_name\":\"a\"}]"),
        ("a string", b"\"SECRET-TOKEN\""),
        ("a number", b"42"),
        ("null", b"null"),
        ("not UTF-8", b"{\"a|1\":\"\xff\xfe\"}"),
        ("binary", b"\x00\x01\x02"),
    ];
    for (what, bytes) in cases {
        let home = tempfile::tempdir()?;
        let store = store_in(home.path());
        std::fs::write(store.path(), bytes)?;
        assert_refused_everywhere(&store, corrupt_document).map_err(|e| format!("{what}: {e}"))?;
        let err = store.load(&key("a")).expect_err(what);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("SECRET"), "{what}: {shown}");
        assert!(
            shown.contains("repair"),
            "the error says how to fix it: {shown}"
        );
    }
    Ok(())
}

#[test]
fn an_empty_file_is_an_empty_document() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    std::fs::write(store.path(), b" \n")?;
    assert!(store.load(&key("a"))?.is_none());
    assert!(store.list()?.is_empty());
    store.save(&key("a"), &record("a", "at-a"))?;
    assert_eq!(store.list()?.len(), 1);
    Ok(())
}

#[test]
fn documents_over_the_size_cap_are_refused() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    // Sparse: the default 64 MiB cap is checked before anything is read.
    std::fs::File::create(store.path())?.set_len(DEFAULT_SIZE_CAP + 1)?;
    assert_refused_everywhere(
        &store,
        |e| matches!(e, StoreError::TooLarge { size, cap, .. } if *size == DEFAULT_SIZE_CAP + 1 && *cap == DEFAULT_SIZE_CAP),
    )?;

    let small = store_in(home.path()).with_size_cap(600);
    std::fs::remove_file(small.path())?;
    small.save(&key("a"), &record("a", "at-a"))?;
    let before = std::fs::read(small.path())?;
    let err = small
        .save(&key("b"), &record("b", &"x".repeat(400)))
        .expect_err("the document would grow over the cap");
    assert!(
        matches!(err, StoreError::TooLarge { cap: 600, .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read(small.path())?, before);
    Ok(())
}

#[test]
fn symlink_directory_fifo_and_socket_are_refused_without_blocking() -> TestResult {
    for what in ["symlink", "directory", "FIFO", "socket"] {
        let home = tempfile::tempdir()?;
        let store = store_in(home.path());
        let real = home.path().join("real.json");
        std::fs::write(&real, format!(r#"{{"{}":{GOOD}}}"#, key("a")))?;
        let _listener;
        match what {
            "symlink" => std::os::unix::fs::symlink(&real, store.path())?,
            "directory" => std::fs::create_dir(store.path())?,
            "FIFO" => {
                let status = std::process::Command::new("mkfifo")
                    .arg(store.path())
                    .status()?;
                assert!(status.success());
            }
            _ => _listener = std::os::unix::net::UnixListener::bind(store.path())?,
        }
        assert_refused_everywhere(
            &store,
            |e| matches!(e, StoreError::NotARegularFile { what: w, .. } if *w == what),
        )
        .map_err(|e| format!("{what}: {e}"))?;
        assert_eq!(
            std::fs::read_to_string(&real)?,
            format!(r#"{{"{}":{GOOD}}}"#, key("a")),
            "a symlink's target is never written"
        );
        assert!(
            std::fs::symlink_metadata(store.path()).is_ok(),
            "{what} is left in place"
        );
    }
    Ok(())
}

#[test]
fn an_unreadable_document_is_an_io_error_naming_it() -> TestResult {
    if oauth_lock::atomic::current_uid() == Some(0) {
        // Root reads any mode; a file whose reads fail with EIO stands in (load only:
        // never point a save at it).
        let locks = tempfile::tempdir()?;
        let store = FileStore::new("/proc/self/mem", LockDir::open(locks.path())?);
        let err = store.load(&key("a")).expect_err("EIO");
        assert!(
            matches!(&err, StoreError::Io { path, .. } if path == Path::new("/proc/self/mem")),
            "{err:?}"
        );
        assert!(err.to_string().contains("/proc/self/mem"));
        return Ok(());
    }
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    std::fs::write(store.path(), format!(r#"{{"{}":{GOOD}}}"#, key("a")))?;
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o000))?;
    assert_refused_everywhere(&store, |e| matches!(e, StoreError::Io { .. }))?;
    assert_eq!(mode(store.path()), 0o000, "left untouched");
    Ok(())
}

/// Collects what `tracing` prints, for the warning tests.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }
    /// Runs `f` with a subscriber writing here.
    pub(crate) fn during<T>(&self, f: impl FnOnce() -> T) -> T {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f)
    }
}

#[test]
fn looser_permissions_warn_on_load_and_are_tightened_by_the_next_save() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644))?;
    let captured = Captured::default();
    let loaded = captured.during(|| store.load(&key("a")))?;
    assert!(loaded.is_some(), "a loose document still loads");
    let text = captured.text();
    assert!(
        text.contains("WARN") && text.contains(".credentials.json") && text.contains("0644"),
        "{text}"
    );
    assert!(!text.contains("at-a"), "{text}");
    store.save(&key("b"), &record("b", "at-b"))?;
    assert_eq!(mode(store.path()), 0o600);
    Ok(())
}

#[test]
fn a_document_of_another_user_is_reported_on_load_and_save() -> TestResult {
    if oauth_lock::atomic::current_uid() != Some(0) {
        return Ok(()); // only root can give a file away; CI runs as root
    }
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    std::os::unix::fs::chown(store.path(), Some(4242), None)?;
    assert_refused_everywhere(&store, |e| {
        matches!(
            e,
            StoreError::ForeignOwner {
                owner: 4242,
                current: 0,
                ..
            }
        )
    })?;
    let err = store.load(&key("a")).expect_err("foreign");
    assert!(err.to_string().contains("sudo"), "{err}");
    Ok(())
}

#[test]
fn locked_reads_wait_for_the_store_lock_and_plain_reads_do_not() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    // A second scope excludes like another process.
    let _held = store.lock_dir().acquire(
        &LockScope::new(),
        &LockTarget::Store(StoreLock::File),
        Duration::from_secs(1),
    )?;
    assert!(store.load(&key("a"))?.is_some());
    assert_eq!(store.list()?.len(), 1);
    // What the facade's async face asks before it reads on a runtime thread.
    assert!(store.load_never_waits());

    let locked = store
        .clone()
        .with_locked_reads(true)
        .with_lock_timeout(Duration::from_millis(100));
    assert!(!locked.load_never_waits());
    for err in [
        locked.load(&key("a")).map(|_| ()).expect_err("load waits"),
        locked.list().map(|_| ()).expect_err("list waits"),
        locked
            .save(&key("b"), &record("b", "at-b"))
            .expect_err("save waits"),
    ] {
        assert!(matches!(err, StoreError::Lock(_)), "{err:?}");
        assert!(err.to_string().contains("file-store.lock"), "{err}");
    }
    Ok(())
}

#[test]
fn a_leftover_temp_file_is_replaced_by_the_next_save() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let temp = home.path().join(".credentials.json.tmp");
    std::fs::write(&temp, b"{\"half\":")?;
    store.save(&key("a"), &record("a", "at-a"))?;
    assert!(!temp.exists());
    assert_eq!(store.list()?.len(), 1);
    Ok(())
}

#[test]
fn in_home_creates_a_private_home() -> TestResult {
    let root = tempfile::tempdir()?;
    let home = root.path().join("a/b");
    let store = FileStore::in_home(&home)?;
    assert_eq!(mode(&home), 0o700);
    assert_eq!(store.path(), home.join(".credentials.json"));
    assert_eq!(store.lock_dir().path(), home.join("mcp-oauth-locks"));
    Ok(())
}

#[test]
fn duplicate_keys_read_as_the_last_occurrence() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let first = GOOD.replace("at-a", "at-first");
    let other = GOOD.replace("at-a", "at-other");
    std::fs::write(
        store.path(),
        format!(r#"{{"a|1":{first},"z|9":{other},"a|1":{GOOD},"z|9":{other}}}"#),
    )?;
    let a = oauth_store_core::StoreKey::from_raw("a|1");
    assert_eq!(store.load(&a)?.map(|c| token_of(&c)), Some("at-a".into()));
    let listed: Vec<_> = store
        .list()?
        .into_iter()
        .map(|l| l.key.as_str().to_owned())
        .collect();
    assert_eq!(listed, ["a|1", "z|9"]);
    store.save(&a, &record("a", "at-new"))?;
    let text = std::fs::read_to_string(store.path())?;
    assert!(!text.contains("at-first"));
    assert_eq!(text.matches("\"a|1\"").count(), 1);
    assert_eq!(
        text.matches("\"z|9\"").count(),
        2,
        "other duplicates are kept as found"
    );
    assert!(
        text.find("\"z|9\"") < text.find("\"a|1\""),
        "at the last occurrence's place"
    );
    assert!(store.delete(&oauth_store_core::StoreKey::from_raw("z|9"))?);
    assert!(!std::fs::read_to_string(store.path())?.contains("z|9"));
    Ok(())
}

#[test]
fn a_root_owned_document_and_lock_file_are_reported_to_a_user_process() -> TestResult {
    if oauth_lock::atomic::current_uid() != Some(0) {
        return Ok(()); // only root can run a child as another user; CI runs as root
    }
    let root = tempfile::tempdir()?;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))?;
    let home = root.path().join("home");
    let store = store_in(&home);
    store.save(&key("a"), &record("a", "at-a"))?;
    // What `sudo` leaves: files of root, 0600, in directories the user can enter.
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777))?;
    std::fs::set_permissions(
        store.lock_dir().path(),
        std::fs::Permissions::from_mode(0o777),
    )?;
    let lock = store.lock_dir().path().join("file-store.lock");
    assert_eq!(mode(&lock), 0o600);
    let Some(mut child) = crate::child::spawn_as(4242, "foreign", &home) else {
        return Ok(()); // no setpriv here
    };
    let out = child.stdout.take().expect("piped");
    let lines: Vec<String> =
        std::io::BufRead::lines(std::io::BufReader::new(out)).collect::<Result<_, _>>()?;
    assert!(child.wait()?.success());
    let find = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_owned()))
            .unwrap_or_default()
    };
    assert_eq!(
        find("LOAD "),
        format!("ForeignOwner 0 4242 {}", store.path().display())
    );
    assert_eq!(
        find("SAVE "),
        format!("ForeignOwner 0 4242 {}", lock.display())
    );
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a".into())
    );
    Ok(())
}
