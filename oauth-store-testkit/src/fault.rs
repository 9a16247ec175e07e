//! Failures the endpoint can be told to answer with.

use std::time::Duration;

/// A failure injected into `POST /token` answers, set with
/// [`TokenEndpoint::set_fault`](crate::TokenEndpoint::set_fault) or
/// [`TokenEndpoint::set_fault_times`](crate::TokenEndpoint::set_fault_times).
///
/// Faults touch only token requests; discovery and revocation answer as usual. Every faulted
/// request is still counted and recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The endpoint reads the whole request, then closes the connection without answering and
    /// without processing it. The client sees end-of-file or a reset after sending; the
    /// provider's state is unchanged, so the same refresh token still works afterwards.
    Unreachable,
    /// `500 Internal Server Error`, not processed.
    Status500,
    /// `429 Too Many Requests` with `Retry-After: 1` (s), not processed.
    Status429,
    /// Processed as usual (a refresh rotates), then the answer waits this long. A client that
    /// gives up first has lost the new tokens, as after a real timeout.
    Slow(Duration),
    /// `400 invalid_grant` without looking at the request; the grant stays active.
    InvalidGrant,
    /// `401 invalid_client` without looking at the request.
    InvalidClient,
    /// Processed as usual; a success is answered `200` with the JSON cut short by its last
    /// two bytes, so the body holds the new tokens but does not parse. Error answers are
    /// unchanged.
    UnparsableSuccess,
}
