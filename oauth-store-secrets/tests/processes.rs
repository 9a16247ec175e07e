//! Many real processes on one document: no lost updates, no undecryptable document
//! after SIGKILL at random moments, one key between racing first writers.

use std::collections::HashSet;
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth_store_core::CredentialStore;
use oauth_store_secrets::DOCUMENT_FILE_NAME;

use crate::child::{self, read_after, wait_for_line};
use crate::{TestResult, doc_path, identity_in, key, key_path, plaintext_of, store_in};

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn wait_done(mut c: Child) -> TestResult {
    let mut out = BufReader::new(c.stdout.take().expect("piped stdout"));
    let done = wait_for_line(&mut out, "DONE");
    let status = c.wait()?;
    assert!(done && status.success(), "child failed: {status}");
    Ok(())
}

#[test]
fn eight_processes_times_25_distinct_saves_keep_all_200() -> TestResult {
    let home = tempfile::tempdir()?;
    let children: Vec<_> = (0..8)
        .map(|p| child::spawn("save-distinct", home.path(), &format!("p{p},25"), None))
        .collect();
    for c in children {
        wait_done(c)?;
    }
    let listed = store_in(home.path()).list()?;
    assert_eq!(listed.len(), 200, "no save lost another process's entry");
    let keys: HashSet<_> = listed.iter().map(|l| l.key.clone()).collect();
    for p in 0..8 {
        for i in 0..25 {
            assert!(
                keys.contains(&key(&format!("p{p}-{i}"))),
                "p{p}-{i} present"
            );
        }
    }
    assert!(listed.iter().all(|l| l.credential.is_ok()));
    Ok(())
}

/// A save-loop child and the thread collecting the keys it reports saved.
struct Looper {
    child: Child,
    saved: JoinHandle<Vec<String>>,
}

fn spawn_looper(home: &Path, prefix: &str) -> Result<Looper, Box<dyn std::error::Error>> {
    let mut child = child::spawn("save-loop", home, prefix, None);
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (ready_tx, ready_rx) = mpsc::channel();
    let saved = std::thread::spawn(move || {
        use std::io::BufRead;
        let ready = wait_for_line(&mut out, "READY");
        let _ = ready_tx.send(ready);
        let mut saved = Vec::new();
        let mut line = String::new();
        while matches!(out.read_line(&mut line), Ok(n) if n > 0) {
            // Only a complete line counts: the process may die in the middle of one.
            if line.ends_with('\n')
                && let Some((_, key)) = line.trim_end().split_once("SAVED ")
            {
                saved.push(key.to_owned());
            }
            line.clear();
        }
        saved
    });
    let ready = ready_rx.recv_timeout(Duration::from_secs(30));
    if !matches!(ready, Ok(true)) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("child {prefix} did not start").into());
    }
    Ok(Looper { child, saved })
}

fn temp_files(home: &Path) -> std::io::Result<usize> {
    let prefix = format!("{DOCUMENT_FILE_NAME}.tmp");
    let dir = doc_path(home).parent().expect("a parent").to_owned();
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// The store keys in the document, decrypted and parsed without the store.
fn document_keys(home: &Path) -> Result<HashSet<String>, Box<dyn std::error::Error>> {
    if !doc_path(home).exists() {
        return Ok(HashSet::new());
    }
    let plain = plaintext_of(home)?;
    let secrets = plain["secrets"].as_object().ok_or("no secrets object")?;
    let mut keys = HashSet::new();
    for value in secrets.values() {
        let record: serde_json::Value =
            serde_json::from_str(value.as_str().ok_or("not a string")?)?;
        let name = record["server_name"].as_str().ok_or("server_name")?;
        let url = record["server_url"].as_str().ok_or("server_url")?;
        keys.insert(
            oauth_store_core::compute_store_key(name, url)
                .as_str()
                .to_owned(),
        );
    }
    Ok(keys)
}

#[test]
fn sigkill_at_random_moments_never_leaves_an_undecryptable_document() -> TestResult {
    let home = tempfile::tempdir()?;
    let _ = store_in(home.path());
    let seed = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut spawned = 0u32;
    let mut loopers = Vec::new();
    for _ in 0..2 {
        loopers.push(spawn_looper(home.path(), &format!("c{spawned}"))?);
        spawned += 1;
    }
    let mut all_saved = Vec::new();
    let mut kills = 0;
    while kills < 120 {
        let slot = rng.below(loopers.len() as u64) as usize;
        // 0..12 ms after READY: before the first save (the key may not exist yet),
        // mid-save, between saves.
        std::thread::sleep(Duration::from_micros(rng.below(12_000)));
        let replacement = spawn_looper(home.path(), &format!("c{spawned}"));
        spawned += 1;
        let mut victim = std::mem::replace(&mut loopers[slot], replacement?);
        victim.child.kill()?; // SIGKILL
        victim.child.wait()?;
        kills += 1;
        let saved = victim.saved.join().expect("reader thread");

        let keys = document_keys(home.path()).map_err(|e| {
            format!("after kill {kills} (seed {seed}) the document does not decrypt and parse: {e}")
        })?;
        for k in &saved {
            assert!(
                keys.contains(k),
                "seed {seed}: {k} returned Ok before the kill but is gone"
            );
        }
        assert!(
            temp_files(home.path())? <= 1,
            "seed {seed}: more than one temp file"
        );
        all_saved.extend(saved);
    }
    for mut looper in loopers {
        looper.child.kill()?;
        looper.child.wait()?;
        all_saved.extend(looper.saved.join().expect("reader thread"));
    }

    let store = store_in(home.path());
    let listed = store.list()?;
    assert!(
        listed.iter().all(|l| l.credential.is_ok()),
        "every entry parses"
    );
    let keys: HashSet<String> = listed.iter().map(|l| l.key.as_str().to_owned()).collect();
    for k in &all_saved {
        assert!(keys.contains(k), "seed {seed}: {k} lost");
    }
    let mode = std::fs::metadata(store.path())?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A leftover temp file is reused, and gone after the next save.
    store.save(&key("after"), &crate::record("after", "at-after"))?;
    assert_eq!(temp_files(home.path())?, 0);
    assert!(
        !all_saved.is_empty() && kills >= 100,
        "{kills} kills, {} saves in {:?}",
        all_saved.len(),
        started.elapsed()
    );
    Ok(())
}

#[test]
fn processes_starting_on_an_empty_home_create_one_key_between_them() -> TestResult {
    for round in 0..3 {
        let home = tempfile::tempdir()?;
        let start = home.path().join("start");
        let names: Vec<String> = (0..4).map(|i| format!("first-{round}-{i}")).collect();
        let mut children = Vec::new();
        for name in &names {
            let arg = format!("{name},{}", start.display());
            let mut c = child::spawn("first-key", home.path(), &arg, None);
            let mut out = BufReader::new(c.stdout.take().expect("piped stdout"));
            assert!(wait_for_line(&mut out, "READY"), "child {name} started");
            children.push((c, out));
        }
        std::fs::write(&start, b"go")?;
        let mut used = HashSet::new();
        for (mut c, mut out) in children {
            let public = read_after(&mut out, "KEY ").ok_or("child reported no key")?;
            assert!(c.wait()?.success());
            used.insert(public);
        }
        assert_eq!(
            used.len(),
            1,
            "round {round}: every process used one key: {used:?}"
        );
        let on_disk = identity_in(&key_path(home.path()))?.to_public().to_string();
        assert!(
            used.contains(&on_disk),
            "the key file holds the key every process used"
        );
        let keys = document_keys(home.path())?;
        for name in &names {
            assert!(keys.contains(key(name).as_str()), "{name} saved");
        }
    }
    Ok(())
}

#[test]
fn files_are_0600_and_dirs_0700_under_umask_000() -> TestResult {
    let root = tempfile::tempdir()?;
    let home = root.path().join("new-home");
    wait_done(child::spawn("save-one", &home, "", Some("000")))?;
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(&home)?, 0o700);
    assert_eq!(mode(&home.join("secrets"))?, 0o700);
    assert_eq!(mode(&doc_path(&home))?, 0o600);
    assert_eq!(mode(&key_path(&home))?, 0o600);
    assert_eq!(mode(&home.join("mcp-oauth-locks"))?, 0o700);
    assert_eq!(
        mode(&home.join("mcp-oauth-locks/secrets-store.lock"))?,
        0o600
    );
    Ok(())
}
