//! End-to-end tests: one binary (one link) holding every suite.

mod agents;
mod bad_input;
mod browser;
mod flows;
mod governance;
mod graphql;
mod guardian;
mod headers;
mod hostile;
mod ledger_integrity;
mod local_models;
mod lumen;
mod memory;
mod models;
mod openapi;
mod postgres;
mod rag;
mod rate_limits;
mod readme;
mod rest_identity;
mod scopes;
mod sdk_contract;
mod shutdown;
mod stripe;
mod subscriptions;
mod terminal;
