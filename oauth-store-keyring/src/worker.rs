//! The process-wide keyring worker: one thread owns every OS keyring connection, and
//! every call carries a deadline, so callers never pile up behind a hung daemon.
//!
//! Exact behaviour:
//! - A call is queued with its deadline (now + the caller's timeout) and the caller
//!   waits for the answer until that deadline, then gives up with a timeout.
//! - The worker skips a queued call whose caller gave up or whose deadline passed, so
//!   a backlog drains without touching the keyring.
//! - While the worker is inside a call that has run past its deadline (a hung daemon,
//!   a prompt nobody answers), new calls are not queued: they fail at once with a
//!   timeout whose `waited` is how long the stuck call has gone without an answer.
//! - When the stuck call returns (the daemon resumes, or its connection breaks), the
//!   worker serves the next call. A call that started may still complete after its
//!   caller gave up: a timed-out write is indeterminate.
//! - A panic inside a call is caught: the caller gets an error, and the worker drops
//!   its connections and goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::backend::Backends;

/// Why a call through the worker did not produce an answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CallError {
    /// No answer before the deadline; `waited` is how long the keyring went without
    /// answering (the caller's wait, or how long a stuck call has been running).
    TimedOut { waited: Duration },
    /// The call panicked inside the worker.
    Panicked,
    /// The worker thread could not be started.
    NoWorker(std::io::ErrorKind),
}

type JobFn = Box<dyn FnOnce(&mut Backends) + Send>;

struct Job {
    run: JobFn,
    deadline: Instant,
    abandoned: Arc<AtomicBool>,
}

/// The call the worker is inside, if any.
#[derive(Clone, Copy)]
struct Running {
    started: Instant,
    deadline: Instant,
}

struct Worker {
    sender: mpsc::Sender<Job>,
    running: Arc<Mutex<Option<Running>>>,
}

static WORKER: Mutex<Option<Worker>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing guarded here is left half-updated by a panic.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on the worker within `timeout`.
pub(crate) fn call<T, F>(timeout: Duration, f: F) -> Result<T, CallError>
where
    T: Send + 'static,
    F: FnOnce(&mut Backends) -> T + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let (answer_tx, answer_rx) = mpsc::sync_channel::<T>(1);
    let abandoned = Arc::new(AtomicBool::new(false));
    let job = Job {
        run: Box::new(move |backends| {
            // The caller may have gone; its answer is then dropped.
            let _ = answer_tx.send(f(backends));
        }),
        deadline,
        abandoned: Arc::clone(&abandoned),
    };
    submit(job, start)?;
    match answer_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(answer) => Ok(answer),
        Err(RecvTimeoutError::Timeout) => {
            abandoned.store(true, Ordering::SeqCst);
            Err(CallError::TimedOut {
                waited: start.elapsed(),
            })
        }
        Err(RecvTimeoutError::Disconnected) => Err(CallError::Panicked),
    }
}

/// Queues `job`, starting the worker when there is none, unless the worker is stuck in
/// a call past its deadline.
fn submit(job: Job, now: Instant) -> Result<(), CallError> {
    let mut worker = lock(&WORKER);
    if worker.is_none() {
        *worker = Some(spawn().map_err(|e| CallError::NoWorker(e.kind()))?);
    }
    let current = worker.as_ref().expect("set just above");
    if let Some(running) = *lock(&current.running)
        && now >= running.deadline
    {
        return Err(CallError::TimedOut {
            waited: now.saturating_duration_since(running.started),
        });
    }
    if let Err(mpsc::SendError(job)) = current.sender.send(job) {
        // The thread is gone (it never exits by itself): start another one.
        let fresh = spawn().map_err(|e| CallError::NoWorker(e.kind()))?;
        let _ = fresh.sender.send(job);
        *worker = Some(fresh);
    }
    Ok(())
}

fn spawn() -> std::io::Result<Worker> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let running = Arc::new(Mutex::new(None));
    let state = Arc::clone(&running);
    std::thread::Builder::new()
        .name("oauth-store-keyring".to_owned())
        .spawn(move || serve(&receiver, &state))?;
    Ok(Worker { sender, running })
}

fn serve(receiver: &mpsc::Receiver<Job>, running: &Mutex<Option<Running>>) {
    let mut backends = Backends::default();
    while let Ok(job) = receiver.recv() {
        let started = Instant::now();
        if job.abandoned.load(Ordering::SeqCst) || started >= job.deadline {
            continue;
        }
        *lock(running) = Some(Running {
            started,
            deadline: job.deadline,
        });
        let run = job.run;
        let outcome = catch_unwind(AssertUnwindSafe(|| run(&mut backends)));
        *lock(running) = None;
        if outcome.is_err() {
            // A panic may have left a connection mid-conversation.
            backends = Backends::default();
        }
    }
}
