//! Integration tests for oauth-lock, mirroring its modules. Multi-process tests
//! re-execute this test binary as a child (see `child`).

mod atomic;
mod child;
mod lock;
