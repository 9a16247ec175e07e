//! Integration tests for oauth-store-core, one module per source module. The fixtures
//! in `data/` are copies of the shared ones, so the tests pass in a clone of this
//! workspace alone.

mod clock;
mod key;
mod kinds;
mod record;
mod server_url;

use oauth_store_testkit::TestResult;
