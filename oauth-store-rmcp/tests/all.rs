//! Tests of oauth-store-rmcp, modules mirroring `src/`, against the real peers: the
//! oidc-provider authorization server (`test-peers/oidc`, rotating refresh tokens with
//! reuse detection) and the MCP server on the official TypeScript SDK
//! (`test-peers/mcp-server`). Multi-process storms re-execute this test binary as child
//! processes, each an rmcp client (see `support::child`). rmcp's and reqwest's logging
//! stay below debug everywhere here: rmcp logs codes and token responses at debug.

mod client;
mod convert;
mod store;
mod support;
