//! The one test binary; its modules mirror the crate's source modules.

mod endpoint;
mod fault;
mod grants;
mod http;
mod script;
mod util;
