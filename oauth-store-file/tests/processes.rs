//! Many real processes on one document: no lost updates, agreement with a serial model,
//! and SIGKILL at random moments inside save loops.

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth_store_core::CredentialStore;
use oauth_store_file::DOCUMENT_FILE_NAME;

use crate::child::{self, wait_for_line};
use crate::{TestResult, key, store_in, token_of};

/// One step of a model process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Save server `name` with access token `token`.
    Save { name: String, token: String },
    /// Delete server `name`.
    Delete { name: String },
}

/// A small deterministic generator (splitmix64), so parent and child agree on the ops.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The ops process `process` performs: saves and deletes over its own 6 servers.
pub(crate) fn model_ops(process: u64, steps: u64) -> Vec<Op> {
    let mut rng = Rng::new(process.wrapping_mul(7919) + 1);
    (0..steps)
        .map(|step| {
            let name = format!("model-p{process}-s{}", rng.below(6));
            if rng.below(10) < 7 {
                Op::Save {
                    name,
                    token: format!("at-p{process}-{step}"),
                }
            } else {
                Op::Delete { name }
            }
        })
        .collect()
}

fn wait_done(mut c: Child) -> TestResult {
    let mut out = BufReader::new(c.stdout.take().expect("piped stdout"));
    let done = wait_for_line(&mut out, "DONE");
    let status = c.wait()?;
    assert!(done && status.success(), "child failed: {status}");
    Ok(())
}

#[test]
fn eight_processes_times_50_distinct_saves_keep_all_400() -> TestResult {
    let home = tempfile::tempdir()?;
    let children: Vec<_> = (0..8)
        .map(|p| child::spawn("save-distinct", home.path(), &format!("p{p},50"), None))
        .collect();
    for c in children {
        wait_done(c)?;
    }
    let listed = store_in(home.path()).list()?;
    assert_eq!(listed.len(), 400, "no save lost another process's entry");
    let keys: HashSet<_> = listed.iter().map(|l| l.key.clone()).collect();
    for p in 0..8 {
        for i in 0..50 {
            assert!(
                keys.contains(&key(&format!("p{p}-{i}"))),
                "p{p}-{i} present"
            );
        }
    }
    assert!(listed.iter().all(|l| l.credential.is_ok()));
    Ok(())
}

#[test]
fn interleaved_saves_and_deletes_agree_with_a_serial_model() -> TestResult {
    let home = tempfile::tempdir()?;
    let (processes, steps) = (6u64, 40u64);
    let children: Vec<_> = (0..processes)
        .map(|p| child::spawn("model", home.path(), &format!("{p},{steps}"), None))
        .collect();
    for c in children {
        wait_done(c)?;
    }
    // Each process owns its servers, so running its ops serially gives the final state.
    let mut model = BTreeMap::new();
    for p in 0..processes {
        for op in model_ops(p, steps) {
            match op {
                Op::Save { name, token } => model.insert(key(&name), token),
                Op::Delete { name } => model.remove(&key(&name)),
            };
        }
    }
    let mut stored = BTreeMap::new();
    for listed in store_in(home.path()).list()? {
        stored.insert(listed.key, token_of(&listed.credential?));
    }
    assert_eq!(stored, model);
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
    if !ready_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or(false)
    {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("child {prefix} did not start").into());
    }
    Ok(Looper { child, saved })
}

fn temp_files(home: &Path) -> std::io::Result<usize> {
    let prefix = format!("{DOCUMENT_FILE_NAME}.tmp");
    Ok(std::fs::read_dir(home)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .count())
}

/// The keys of the document, parsed independently of the store.
fn document_keys(home: &Path) -> Result<HashSet<String>, Box<dyn std::error::Error>> {
    let path = home.join(DOCUMENT_FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)?;
            Ok(map.keys().cloned().collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e.into()),
    }
}

#[test]
fn sigkill_at_random_moments_inside_save_loops_loses_nothing_saved() -> TestResult {
    let home = tempfile::tempdir()?;
    let _ = store_in(home.path());
    let seed = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut spawned = 0u32;
    let mut loopers = Vec::new();
    for _ in 0..2 {
        loopers.push(spawn_looper(home.path(), &format!("c{spawned}"))?);
        spawned += 1;
    }
    let mut all_saved = Vec::new();
    let mut kills = 0;
    let mut temp_seen = 0;
    while kills < 220 {
        let slot = rng.below(loopers.len() as u64) as usize;
        // 0..12 ms after READY: before the first save, mid-save, between saves.
        std::thread::sleep(Duration::from_micros(rng.below(12_000)));
        let replacement = spawn_looper(home.path(), &format!("c{spawned}"));
        spawned += 1;
        let mut victim = std::mem::replace(&mut loopers[slot], replacement?);
        victim.child.kill()?; // SIGKILL
        victim.child.wait()?;
        kills += 1;
        let saved = victim.saved.join().expect("reader thread");

        let keys = document_keys(home.path()).map_err(|e| {
            format!("after kill {kills} (seed {seed}) the document does not parse: {e}")
        })?;
        for k in &saved {
            assert!(
                keys.contains(k),
                "seed {seed}: {k} returned Ok before the kill but is gone"
            );
        }
        let temps = temp_files(home.path())?;
        assert!(temps <= 1, "seed {seed}: more than one temp file");
        // A temp file after a kill means the kill landed inside a write (or another
        // child is writing); counted to show the kills hit saves, not only gaps.
        temp_seen += temps;
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
    assert!(temp_files(home.path())? <= 1);
    let mode = std::fs::metadata(store.path())?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A leftover temp file is reused, and gone after the next save.
    store.save(&key("after"), &crate::record("after", "at-after"))?;
    assert_eq!(temp_files(home.path())?, 0);
    eprintln!(
        "seed {seed}: {kills} kills, {} saves reported, {temp_seen} kills with a temp file present, {:?}",
        all_saved.len(),
        started.elapsed()
    );
    assert!(
        !all_saved.is_empty() && kills >= 200,
        "{kills} kills, {} saves in {:?}",
        all_saved.len(),
        started.elapsed()
    );
    Ok(())
}

#[test]
fn files_are_0600_and_dirs_0700_under_umask_000() -> TestResult {
    let root = tempfile::tempdir()?;
    let home = root.path().join("new-home");
    wait_done(child::spawn("save-one", &home, "", Some("000")))?;
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(&home)?, 0o700);
    assert_eq!(mode(&home.join(DOCUMENT_FILE_NAME))?, 0o600);
    assert_eq!(mode(&home.join("mcp-oauth-locks"))?, 0o700);
    assert_eq!(mode(&home.join("mcp-oauth-locks/file-store.lock"))?, 0o600);
    Ok(())
}
