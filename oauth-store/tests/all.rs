//! Integration tests for the oauth-store facade. Multi-process tests re-execute this
//! test binary as a child (see `support::child`).

mod multiprocess;
mod support;
mod transaction;

#[cfg(all(feature = "tokio", feature = "http"))]
mod asynch;
#[cfg(feature = "http")]
mod http;
