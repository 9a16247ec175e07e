//! Runs a closure with a `tracing` subscriber and a `metrics` recorder of its own, both
//! local to the calling thread, so tests running in parallel do not see each other.

use std::io::Write;
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// Formatted log output (all levels, no timestamps, no colours).
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Logs {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }

    /// Lines at `level` (`WARN`, `INFO`, `DEBUG`).
    pub(crate) fn at(&self, level: &str) -> Vec<String> {
        let tag = format!("{level} ");
        self.text()
            .lines()
            .filter(|l| l.trim_start().starts_with(&tag))
            .map(str::to_owned)
            .collect()
    }
}

/// One counter as recorded: name, labels sorted, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counter {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: u64,
}

/// What a closure logged and counted.
pub(crate) struct Seen {
    pub(crate) logs: Logs,
    pub(crate) counters: Vec<Counter>,
}

impl Seen {
    /// The value of counter `name` with exactly `labels` (0 when never incremented).
    pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut want: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        want.sort();
        self.counters
            .iter()
            .filter(|c| c.name == name && c.labels == want)
            .map(|c| c.value)
            .sum()
    }

    /// The sum of every counter whose name is `name`, whatever the labels.
    pub(crate) fn total(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.value)
            .sum()
    }
}

/// Runs `f` with a TRACE subscriber and a debugging recorder installed on this thread.
pub(crate) fn observe<T>(f: impl FnOnce() -> T) -> (T, Seen) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let value = tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, f)
    });
    let counters = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let DebugValue::Counter(value) = value else {
                return None;
            };
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            Some(Counter {
                name: key.name().to_owned(),
                labels,
                value,
            })
        })
        .collect();
    (value, Seen { logs, counters })
}
