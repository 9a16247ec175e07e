//! Integration tests for the oauth-store facade. Multi-process tests re-execute this
//! test binary as a child (see `support::child`).

mod coordination;
mod grant;
mod guard;
mod migrate;
mod multiprocess;
mod refresh;
mod resolution;
mod shared;
mod single_flight;
mod support;
mod thresholds;

#[cfg(all(feature = "tokio", feature = "http"))]
mod asynch;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod login;
