//! The crate's tests against a real PostgreSQL server (oauth_store_testkit::postgres),
//! mirroring the modules.

mod connect;
mod lock;
mod schema;
mod store;
mod support;
