#![allow(missing_docs, clippy::print_stdout)]
use oauth_store_core::{Credential, CredentialStore, compute_store_key};
use oauth_store_secrets::{KeyFile, KeySource, KeyringKey, SecretsStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
fn rec(i: usize, r: usize) -> Credential {
    Credential::builder(
        format!("s{i}"),
        format!("https://s{i}.example/mcp"),
        format!("at-{i}-{r}-{}", "x".repeat(600)).into(),
    )
    .build()
}
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let kr = Arc::new(KeyringKey::new("scratch-svc2", "acct"));
    let a = SecretsStore::in_home(&dir.path().join("a"), kr.clone()).unwrap();
    let b = SecretsStore::in_home(
        &dir.path().join("b"),
        Arc::new(KeyFile::new(dir.path().join("b.key"))),
    )
    .unwrap();
    for i in 0..100 {
        a.save(
            &compute_store_key(&format!("s{i}"), &format!("https://s{i}.example/mcp")),
            &rec(i, 0),
        )
        .unwrap();
        b.save(
            &compute_store_key(&format!("s{i}"), &format!("https://s{i}.example/mcp")),
            &rec(i, 0),
        )
        .unwrap();
    }
    for round in 0..3 {
        let (mut ta, mut tb, mut tg) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for r in 1..60 {
            let i = r % 100;
            let k = compute_store_key(&format!("s{i}"), &format!("https://s{i}.example/mcp"));
            let t = Instant::now();
            a.save(&k, &rec(i, r)).unwrap();
            ta += t.elapsed();
            let t = Instant::now();
            b.save(&k, &rec(i, r)).unwrap();
            tb += t.elapsed();
            let t = Instant::now();
            kr.load().unwrap();
            tg += t.elapsed();
        }
        println!(
            "round {round}: keyring save {:?}, keyfile save {:?}, keyring get {:?}",
            ta / 59,
            tb / 59,
            tg / 59
        );
    }
    kr.entry().delete().unwrap();
}
