//! Plumbing shared by every transport: credentials, rate limits, request ids, timing,
//! security headers, probes and the dialect error framework.

pub mod auth;
pub mod dialect;
pub mod forwarded;
pub mod headers;
pub mod json_int;
pub mod json_object;
pub mod maintenance;
pub mod panics;
pub mod perf;
pub mod probes;
pub mod rate_limit;
pub mod request_id;
pub mod request_limits;
pub mod server;
pub mod text;
pub mod websocket;
