//! Governance (Lexecon): policy decisions, signed capability tokens, reviews, and the
//! signed hash-chained ledger that also records the platform's security events.

mod batch_insert;
pub mod canonical;
pub mod capability;
pub mod ledger;
pub mod node;
pub mod policy;
#[cfg(test)]
mod policy_tests;
mod service;
pub mod tools;
pub mod verify;
pub mod writer_stats;

pub use ledger::Ledger;
pub use service::{
    DecideInput, Decision, GovernanceService, LedgerFilter, LedgerPage, NodeInfo, PolicyView,
    Verification,
};
