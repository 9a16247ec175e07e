//! Integration tests for oauth-drift, mirroring its modules. Logs are read through a
//! `tracing` test subscriber and counters through `metrics-util`'s `DebuggingRecorder`
//! (see `capture`); multi-process tests re-execute this test binary (see `child`).

mod capture;
mod child;
mod document;
mod sidecar;
