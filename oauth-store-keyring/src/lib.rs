//! One OS keyring entry per MCP OAuth credential (work in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
