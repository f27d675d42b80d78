//! LunaOS agents and chains: the catalogue, runs that stream their events while stored for
//! replay, DAG chains whose independent branches run at once, and monthly quotas.

pub mod catalogue;
pub mod chain;
pub mod events;
pub mod quota;
mod resume;
mod run;
mod service;
mod store;

pub use events::{RunEvent, RunProgress, Source, StepInfo, Tokens};
pub use quota::{Charge, Usage};
pub use service::{
    AgentRequest, AgentService, ChainExecution, RunFilter, RunKind, RunStatus, Started, StoredRun,
};
