//! `--store postgres`: every command against a real PostgreSQL server
//! (`oauth_store_testkit::postgres`), several "machines" (homes with their own lock
//! directories) sharing one database, and what happens when a holder is killed, its
//! connection is cut, or the server restarts. The 3 x 6 storm against oidc-provider is
//! in `tests/oidc/postgres.rs`.

use std::io::Write;
use std::process::Child;
use std::time::{Duration, Instant};

use oauth_store_testkit::postgres::{PgServer, TestDatabase};
use oauth_store_testkit::{Fault, IssuedTokens};

use crate::util::{Home, Provider, child_role, finish, spawn_child, wait_for_line};

/// A "machine": a home of its own (its own lock directory) using `db` in `namespace`,
/// the password from a 0600 passfile beside it.
fn machine(server: &PgServer, db: &TestDatabase, namespace: &str) -> Home {
    let mut home = Home::new();
    let dir = home.path().parent().expect("temp dir").to_owned();
    let passfile = server.passfile(&dir, db);
    home.options = vec![
        "--store".into(),
        "postgres".into(),
        "--database-url".into(),
        db.url.clone(),
        "--namespace".into(),
        namespace.into(),
        "--passfile".into(),
        passfile.display().to_string(),
    ];
    home
}

fn setup(prefix: &str) -> Option<(&'static PgServer, TestDatabase)> {
    let server = PgServer::shared()?;
    let db = server.database(prefix, false);
    Some((server, db))
}

/// A test's database (as [`setup`]), a provider of 1 h access tokens, and a machine `a`
/// that imported a login of it.
fn logged_in(prefix: &str) -> Option<(&'static PgServer, TestDatabase, Provider, Home)> {
    let (server, db) = setup(prefix)?;
    let provider = Provider::start(Duration::from_secs(3600));
    let a = machine(server, &db, "default");
    provider.import(&a, None);
    Some((server, db, provider, a))
}

/// A token response for a new grant of `provider` (a login on another machine).
fn new_login(provider: &Provider) -> (IssuedTokens, String) {
    let grant = provider
        .endpoint
        .issue_grant(&provider.client_id, &["read"]);
    let response = serde_json::json!({
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": grant.refresh_token,
        "client_id": provider.client_id,
        "token_endpoint": provider.endpoint.token_endpoint(),
        "issuer": provider.endpoint.issuer(),
    })
    .to_string();
    (grant, response)
}

fn no_secret(db: &TestDatabase, text: &str) {
    assert!(
        !text.contains(&db.password),
        "the database password was printed: {text}"
    );
}

#[test]
fn every_command_works_and_doctor_shows_the_server_and_the_schema() {
    let Some((server, db, provider, a)) = logged_in("cli_commands") else {
        return;
    };
    let b = machine(server, &db, "default");
    let token = b
        .run(&crate::util::with(&["token"], &provider.server()))
        .expect(0);
    assert_eq!(
        token.stdout.trim(),
        provider.grant.access_token,
        "machine b reads machine a's login"
    );
    let list = b.run(&["list"]).expect(0);
    assert!(list.stdout.contains("postgres"), "{}", list.stdout);
    assert!(list.stdout.contains("provider|"), "{}", list.stdout);
    let show = b
        .run(&crate::util::with(&["show"], &provider.server()))
        .expect(0);
    assert!(!show.stdout.contains(&provider.grant.access_token));
    b.run(&crate::util::with(
        &["refresh", "--force"],
        &provider.server(),
    ))
    .expect(0);
    let token = a
        .run(&crate::util::with(&["token"], &provider.server()))
        .expect(0);
    assert_ne!(
        token.stdout.trim(),
        provider.grant.access_token,
        "machine a sees b's refresh"
    );
    let doctor = a.run(&["doctor"]).expect(0);
    assert!(
        doctor.stdout.contains("schema: version 1"),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains("PostgreSQL"), "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains("namespace: default (1 credentials)"),
        "{}",
        doctor.stdout
    );
    // Another tenant sees nothing.
    let other = machine(server, &db, "other");
    let list = other.run(&["list"]).expect(0);
    assert!(!list.stdout.contains("provider|"), "{}", list.stdout);
    let logout = a
        .run(&crate::util::with(&["logout"], &provider.server()))
        .expect(0);
    b.run(&crate::util::with(&["token"], &provider.server()))
        .expect(3);
    for out in [
        &list.stdout,
        &logout.stdout,
        &logout.stderr,
        &doctor.stdout,
        &show.stdout,
    ] {
        no_secret(&db, out);
    }
}

#[test]
fn doctor_names_the_live_lock_holder_by_host_and_pid() {
    let Some((server, db, provider, a)) = logged_in("cli_doctor_holder") else {
        return;
    };
    let holder = refresh_in_flight(&a, &provider, Duration::from_secs(3));
    let doctor = machine(server, &db, "default")
        .run(&["doctor", "--json"])
        .expect(0);
    let json: serde_json::Value = serde_json::from_str(&doctor.stdout).expect("json");
    let holders = json["database"]["lock_holders"]
        .as_array()
        .expect("holders")
        .clone();
    assert_eq!(holders.len(), 1, "{holders:?}");
    let name = holders[0]["application_name"].as_str().expect("name");
    assert!(name.ends_with(&format!("pid {}", holder.id())), "{name}");
    assert!(
        holders[0]["store_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("provider|"))
    );
    let out = holder.wait_with_output().expect("holder");
    assert!(out.status.success());
}

#[test]
fn migrate_to_postgres_and_back() {
    let Some((server, db)) = setup("cli_migrate") else {
        return;
    };
    let provider = Provider::start(Duration::from_secs(3600));
    let file_home = Home::new();
    provider.import(&file_home, None);
    let pg = machine(server, &db, "default");
    let mut into = file_home.options.clone();
    into.extend(pg.options[2..].iter().cloned());
    let args: Vec<&str> = ["--home", file_home.path().to_str().expect("utf-8")]
        .into_iter()
        .chain(into.iter().map(String::as_str))
        .chain(["migrate", "--to", "postgres"])
        .collect();
    let moved = finish(crate::util::command(&args), None).expect(0);
    assert!(
        moved.stdout.contains("moved from file to postgres"),
        "{}",
        moved.stdout
    );
    assert!(
        !std::fs::read_to_string(file_home.document())
            .unwrap_or_default()
            .contains("provider|")
    );
    let token = pg
        .run(&crate::util::with(&["token"], &provider.server()))
        .expect(0);
    assert_eq!(token.stdout.trim(), provider.grant.access_token);
    // And back, from the database into a File home.
    let back = pg.run(&["migrate", "--to", "file"]).expect(0);
    assert!(
        back.stdout.contains("moved from postgres to file"),
        "{}",
        back.stdout
    );
    pg.run(&crate::util::with(&["token"], &provider.server()))
        .expect(3);
    let file_store =
        std::fs::read_to_string(pg.path().join(".credentials.json")).expect("document");
    assert!(file_store.contains("provider|"));
}

#[test]
fn bad_input_unreachable_wrong_password_newer_schema_corrupt_row() {
    let Some((server, db)) = setup("cli_bad_input") else {
        return;
    };
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    // Unreachable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let url = format!("postgresql://nobody@127.0.0.1:{port}/none");
    let out = home.run(&crate::util::with(
        &["--store", "postgres", "--database-url", &url, "token"],
        &provider.server(),
    ));
    let out = out.expect(4);
    assert!(
        out.stderr
            .contains("cannot reach the PostgreSQL server 127.0.0.1"),
        "{}",
        out.stderr
    );
    // A wrong password, from a passfile: never printed.
    let dir = tempfile::tempdir().expect("dir");
    let passfile = dir.path().join("pgpass");
    std::fs::write(&passfile, "*:*:*:*:wrong-password-value\n").expect("passfile");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let url = format!(
        "postgresql://{}@127.0.0.1:{}/{}",
        db.name,
        server.port(),
        db.name
    );
    let out = home
        .run(&crate::util::with(
            &[
                "--store",
                "postgres",
                "--database-url",
                &url,
                "--passfile",
                passfile.to_str().expect("utf-8"),
                "list",
            ],
            &[],
        ))
        .expect(4);
    assert!(
        out.stderr.contains("refused the login (SQLSTATE 28P01)"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("wrong-password-value")
            && !out.stdout.contains("wrong-password-value")
    );
    // A password in the URL is never printed either.
    let url_with_password = format!(
        "postgresql://{}:wrong-url-password@127.0.0.1:{}/{}",
        db.name,
        server.port(),
        db.name
    );
    let out = home
        .run(&[
            "--store",
            "postgres",
            "--database-url",
            &url_with_password,
            "--json",
            "list",
        ])
        .expect(4);
    assert!(!out.stderr.contains("wrong-url-password"), "{}", out.stderr);

    // A corrupt row fails for its key alone.
    let a = machine(server, &db, "default");
    provider.import(&a, None);
    server.psql(&db.name, "INSERT INTO oauth_store_credentials (namespace, store_key, record, generation) VALUES ('default', 'broken|0123456789abcdef', '{\"access_token\":\"row-token-value\",', 1)");
    let list = a.run(&["list"]);
    assert!(!list.stdout.contains("row-token-value") && !list.stderr.contains("row-token-value"));
    assert!(
        list.stdout.contains("provider|"),
        "{} {}",
        list.stdout,
        list.stderr
    );
    let token = a
        .run(&crate::util::with(&["token"], &provider.server()))
        .expect(0);
    assert_eq!(token.stdout.trim(), provider.grant.access_token);
    let broken = a.run(&[
        "token",
        "--server",
        "broken",
        "--url",
        "https://broken.example.test/mcp",
    ]);
    assert!(!broken.stderr.contains("row-token-value"));

    // A newer schema: refused, untouched, and said so.
    server.psql(
        &db.name,
        "INSERT INTO oauth_store_schema (version) VALUES (7)",
    );
    let out = a
        .run(&crate::util::with(&["token"], &provider.server()))
        .expect(4);
    assert!(
        out.stderr.contains("format version 7 is newer"),
        "{}",
        out.stderr
    );
    let doctor = a.run(&["doctor"]).expect(6);
    assert!(
        doctor.stdout.contains("schema version 7 is newer"),
        "{}",
        doctor.stdout
    );
    assert_eq!(
        server
            .psql(&db.name, "SELECT max(version) FROM oauth_store_schema")
            .trim(),
        "7"
    );
}

#[test]
fn a_missing_schema_is_reported_by_doctor_which_creates_nothing() {
    let Some((server, db)) = setup("cli_missing_schema") else {
        return;
    };
    let a = machine(server, &db, "default");
    let doctor = a.run(&["doctor"]).expect(6);
    assert!(
        doctor.stdout.contains("no oauth-store schema yet"),
        "{}",
        doctor.stdout
    );
    assert_eq!(
        server
            .psql(&db.name, "SELECT to_regclass('oauth_store_schema') IS NULL")
            .trim(),
        "t"
    );
}

/// Waits until the provider has received `n` token requests.
fn wait_for_requests(provider: &Provider, n: u64) {
    let started = Instant::now();
    while provider.endpoint.counters().token_requests < n {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no token request arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `home`'s `refresh --force` of `provider`'s login, started while the provider answers
/// its next token request only after `slow`; returns once that request arrived: the
/// child holds the credential lock with its refresh in flight.
fn refresh_in_flight(home: &Home, provider: &Provider, slow: Duration) -> Child {
    provider.endpoint.set_fault_times(Fault::Slow(slow), 1);
    let holder = home
        .command(&crate::util::with(
            &["refresh", "--force"],
            &provider.server(),
        ))
        .spawn()
        .expect("spawn");
    wait_for_requests(provider, 1);
    holder
}

#[test]
fn a_holder_whose_connection_is_cut_mid_refresh_saves_nothing_and_hands_out_nothing() {
    let Some((server, db, provider, a)) = logged_in("cli_cut") else {
        return;
    };
    let b = machine(server, &db, "default");
    let holder = refresh_in_flight(&a, &provider, Duration::from_secs(3));
    // The server ends the holder's lock session (as a cut connection would).
    let terminated = server.psql(
        &db.name,
        &format!(
            "SELECT count(pg_terminate_backend(a.pid, 5000)) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND a.application_name LIKE '% pid {}'",
            holder.id()
        ),
    );
    assert_eq!(
        terminated.trim(),
        "1",
        "the holder's lock backend was terminated"
    );
    // Another machine logs in meanwhile: the newer credential.
    let (newer, response) = new_login(&provider);
    b.run_with_stdin(
        &crate::util::with(&["import"], &provider.server()),
        &response,
    )
    .expect(0);
    let out = holder.wait_with_output().expect("holder");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(4), "typed store error: {stderr}");
    assert!(stderr.contains("its credential lock was lost"), "{stderr}");
    assert!(stdout.trim().is_empty(), "no token handed out: {stdout}");
    // The newer credential stays, on both machines (a's locally kept copy never wins).
    for machine in [&b, &a] {
        let token = machine
            .run(&crate::util::with(&["token"], &provider.server()))
            .expect(0);
        assert_eq!(token.stdout.trim(), newer.access_token);
    }
}

/// In a child process: `pg-hold URL PASSWORD KEY`: takes the credential lock of KEY
/// through the crate, prints `LOCKED`, and holds it until killed.
#[test]
fn child_entry() {
    let Some((role, args)) = child_role() else {
        return;
    };
    assert_eq!(role, "pg-hold");
    use oauth_store::store_core::CredentialLocker;
    let db =
        oauth_store_postgres::Postgres::connect(&args[0], oauth_store_postgres::Options::default())
            .expect("connect");
    let key = oauth_store::StoreKey::from_raw(args[1].clone());
    let _guard = db
        .locker()
        .lock(&key, Duration::from_secs(10))
        .expect("lock");
    let mut stdout = std::io::stdout();
    writeln!(stdout, "LOCKED").expect("stdout");
    stdout.flush().expect("flush");
    std::thread::sleep(Duration::from_secs(120));
}

fn kill_9(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

#[test]
fn kill_9_of_the_holder_before_it_sent_its_refresh_another_machine_takes_over_within_a_second() {
    let Some((server, db, provider, a)) = logged_in("cli_kill_before") else {
        return;
    };
    let b = machine(server, &db, "default");
    let key = a
        .run(&crate::util::with(&["key"], &provider.server()))
        .expect(0)
        .stdout
        .trim()
        .to_owned();
    let url = format!(
        "postgresql://{}:{}@127.0.0.1:{}/{}",
        db.name,
        db.password,
        server.port(),
        db.name
    );
    let mut holder = spawn_child("postgres::child_entry", "pg-hold", &[&url, &key]);
    wait_for_line(&mut holder, "LOCKED");
    let waiter = b
        .command(&crate::util::with(
            &["refresh", "--force"],
            &provider.server(),
        ))
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(800));
    let killed = Instant::now();
    kill_9(&mut holder);
    let out = waiter.wait_with_output().expect("waiter");
    let took = killed.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "kill -9 before the refresh: the other machine finished {} ms after the kill",
        took.as_millis()
    );
    assert!(took < Duration::from_millis(1500), "took over in {took:?}");
    let counters = provider.endpoint.counters();
    assert_eq!(counters.reuse_detections, 0);
    assert_eq!(counters.refreshes, 1);
}

#[test]
fn kill_9_of_the_holder_while_its_refresh_is_in_flight_costs_at_most_the_documented_reuse() {
    let Some((server, db, provider, a)) = logged_in("cli_kill_during") else {
        return;
    };
    let b = machine(server, &db, "default");
    let mut holder = refresh_in_flight(&a, &provider, Duration::from_secs(5));
    let killed = Instant::now();
    kill_9(&mut holder);
    // The provider rotated the refresh token for the killed holder, whose answer is lost:
    // the next holder can only send the old one. That is the window no client can close.
    let out = b.run(&crate::util::with(
        &["refresh", "--force"],
        &provider.server(),
    ));
    let took = killed.elapsed();
    let counters = provider.endpoint.counters();
    eprintln!(
        "kill -9 during the refresh: the other machine answered {} ms after the kill (exit {}); reuse detections {} (the documented window: the killed holder's request rotated the refresh token)",
        took.as_millis(),
        out.code,
        counters.reuse_detections
    );
    assert!(took < Duration::from_millis(1500), "took over in {took:?}");
    assert!(
        counters.reuse_detections <= 1,
        "at most the one documented reuse"
    );
    assert_eq!(
        out.code, 3,
        "the grant is gone: log in again ({})",
        out.stderr
    );
    // No row corrupted: it lists and parses.
    let list = b.run(&["list", "--json"]).expect(0);
    assert!(list.stdout.contains("provider|"), "{}", list.stdout);
    assert!(!list.stdout.contains("error"), "{}", list.stdout);
}

#[test]
fn a_server_restarted_during_a_storm_gives_clear_errors_and_recovers() {
    let Some(server) = PgServer::start_new() else {
        return;
    };
    let db = server.database("cli_restart", false);
    let provider = Provider::start(Duration::from_secs(2));
    let machines = [
        machine(&server, &db, "default"),
        machine(&server, &db, "default"),
    ];
    provider.import(&machines[0], None);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(12);
    let results = std::sync::Mutex::new(Vec::<(Duration, i32, String)>::new());
    std::thread::scope(|scope| {
        for m in &machines {
            for _ in 0..3 {
                let (results, provider) = (&results, &provider);
                scope.spawn(move || {
                    while Instant::now() < deadline {
                        let out = finish(
                            m.command(&crate::util::with(
                                &["token", "--min-valid", "1"],
                                &provider.server(),
                            )),
                            None,
                        );
                        results.lock().expect("results").push((
                            started.elapsed(),
                            out.code,
                            out.stderr,
                        ));
                    }
                });
            }
        }
        std::thread::sleep(Duration::from_secs(4));
        server.stop();
        std::thread::sleep(Duration::from_secs(3));
        server.start_again();
    });
    let results = results.into_inner().expect("results");
    let failures: Vec<&(Duration, i32, String)> = results.iter().filter(|r| r.1 != 0).collect();
    eprintln!(
        "restart storm: {} calls, {} failed while the server was down or going down, {} refreshes, {} reuse",
        results.len(),
        failures.len(),
        provider.endpoint.counters().refreshes,
        provider.endpoint.counters().reuse_detections
    );
    assert!(
        !failures.is_empty(),
        "the calls while the server was down failed"
    );
    for (at, code, stderr) in &failures {
        assert_eq!(*code, 4, "a store error: {stderr}");
        // The database's own error, or, for a caller whose 2 s token ran out while a
        // process of its machine waited on the database, that it expired while waiting.
        assert!(
            stderr.contains("PostgreSQL") || stderr.contains("expired after"),
            "a clear error: {stderr}"
        );
        assert!(
            *at > Duration::from_millis(3500) && *at < Duration::from_secs(10),
            "failures only around the restart (4 s to 7 s): {at:?} {stderr}"
        );
        no_secret(&db, stderr);
    }
    assert!(
        failures
            .iter()
            .any(|f| f.2.contains("cannot reach the PostgreSQL server")),
        "the down server is named"
    );
    // Recovered: the calls of the last seconds succeed.
    let late: Vec<_> = results
        .iter()
        .filter(|r| r.0 > Duration::from_secs(10))
        .collect();
    assert!(
        !late.is_empty() && late.iter().all(|r| r.1 == 0),
        "recovered after the restart: {late:?}"
    );
    assert_eq!(
        provider.endpoint.counters().reuse_detections,
        0,
        "nothing lost, nothing replayed"
    );
}

#[test]
fn a_refresh_the_database_refuses_is_rescued_locally_and_moved_back_with_a_fenced_save() {
    let Some((server, db, provider, a)) = logged_in("cli_rescue") else {
        return;
    };
    let b = machine(server, &db, "default");
    let holder = refresh_in_flight(&a, &provider, Duration::from_secs(2));
    // The database refuses every write while the provider answers (a check constraint
    // that no row passes, as a full disk or a revoked grant would refuse it).
    server.psql(
        &db.name,
        "ALTER TABLE oauth_store_credentials ADD CONSTRAINT no_writes CHECK (false) NOT VALID",
    );
    let out = holder.wait_with_output().expect("holder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rescued, not lost: {stderr}");
    assert!(stderr.contains("rescued into the rescue store"), "{stderr}");
    assert!(!stderr.contains(&db.password));
    let rescued: Vec<_> = std::fs::read_dir(a.path().join("mcp-oauth-locks"))
        .expect("lock dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".rescued.json"))
        .collect();
    assert_eq!(rescued.len(), 1, "kept in machine a's rescue file");
    assert_eq!(
        server
            .psql(&db.name, "SELECT generation FROM oauth_store_credentials")
            .trim(),
        "1",
        "the database kept the old row"
    );
    // The database takes writes again: the next command on machine a moves it back.
    server.psql(
        &db.name,
        "ALTER TABLE oauth_store_credentials DROP CONSTRAINT no_writes",
    );
    let token = a
        .run(&crate::util::with(&["token"], &provider.server()))
        .expect(0);
    assert_ne!(
        token.stdout.trim(),
        provider.grant.access_token,
        "the refreshed token"
    );
    assert_eq!(
        server
            .psql(&db.name, "SELECT generation FROM oauth_store_credentials")
            .trim(),
        "2",
        "moved back"
    );
    assert!(
        !rescued[0].path().exists(),
        "the rescue file is gone once moved back"
    );
    let other = b
        .run(&crate::util::with(&["token"], &provider.server()))
        .expect(0);
    assert_eq!(other.stdout, token.stdout, "machine b sees it");
    assert_eq!(provider.endpoint.counters().reuse_detections, 0);
}
