//! A dynamically registered client secret survives a restart: a new process, which
//! knows only the home, refreshes with it (the public report: the secret was not kept,
//! so the first refresh after a restart failed with `invalid_client`).
//!
//! The new process is this test binary re-executed with `OAUTH_STORE_HTTP_CHILD` set;
//! it runs `child_entry`, which does nothing in a normal run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use oauth_store::{HttpRefresher, OAuthStore, StoreMode};
use oauth_store_testkit::{AuthMethod, ClientRegistration};

use super::{TestResult, URL, credential, endpoint, expose, refresher, store};

const CHILD_ENV: &str = "OAUTH_STORE_HTTP_CHILD";
const HOME_ENV: &str = "OAUTH_STORE_HTTP_CHILD_HOME";

#[test]
fn registered_secret_is_used_after_a_restart() -> TestResult {
    for client in [
        ClientRegistration::basic("restart-basic", "basic-secret"),
        ClientRegistration::post("restart-post", "post-secret"),
    ] {
        let ep = endpoint(&client);
        let home = tempfile::tempdir()?;
        {
            // The first process: logs in with the registration and refreshes once.
            let handle = store(home.path(), refresher()).handle(super::SERVER, URL);
            handle.save_grant(credential(
                &ep,
                &client,
                &ep.issue_grant(&client.client_id, &[]),
            ))?;
            handle.refresh_if_needed(Duration::from_secs(3600))?;
        }
        // The second process: a new process with nothing but the home.
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args([
                "http::restart::child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "refresh")
            .env(HOME_ENV, home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let lines: Vec<String> = BufReader::new(stdout).lines().collect::<Result<_, _>>()?;
        assert!(child.wait()?.success(), "child failed: {lines:?}");
        // libtest prints "test name ... " before the child's first line.
        assert!(
            lines.iter().any(|l| l.trim_end().ends_with("REFRESHED")),
            "{lines:?}"
        );

        let requests = ep.requests();
        assert_eq!(requests.len(), 2, "one refresh per process");
        for request in &requests {
            assert_eq!(
                request.auth_method, client.auth_method,
                "authenticated with the registered secret"
            );
            assert_eq!(
                request.status,
                Some(200),
                "{} refresh failed: {:?}",
                client.auth_method,
                request.error
            );
            assert_ne!(request.auth_method, AuthMethod::None);
        }
        let stored = store(home.path(), refresher())
            .handle(super::SERVER, URL)
            .load()?
            .expect("stored");
        assert_eq!(
            stored.client_secret.as_ref().map(expose),
            client.client_secret,
            "still stored"
        );
        assert!(
            ep.access_token_is_active(&expose(&stored.access_token)),
            "the child's token was saved"
        );
    }
    Ok(())
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let home = std::env::var_os(HOME_ENV).expect("home");
    match role.as_str() {
        "refresh" => {
            let store = OAuthStore::builder()
                .default_stores(false)
                .home(home)
                .mode(StoreMode::File)
                .refresher(std::sync::Arc::new(
                    HttpRefresher::new().with_timeout(Duration::from_secs(5)),
                ))
                .build()
                .expect("store");
            let handle = store.handle(super::SERVER, URL);
            handle
                .refresh_if_needed(Duration::from_secs(3600))
                .expect("refresh in the new process");
            let mut stdout = std::io::stdout();
            writeln!(stdout, "REFRESHED").expect("stdout");
            stdout.flush().expect("flush");
        }
        other => panic!("unknown child role {other}"),
    }
}
