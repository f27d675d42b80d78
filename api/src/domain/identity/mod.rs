//! Identity: accounts, passwords, sessions (access + refresh tokens), API keys, principals.

pub mod api_keys;
pub mod factors;
pub mod lambda_id;
pub mod passkeys;
pub mod password;
pub mod principal;
pub mod scopes;
mod service;
pub mod tokens;

pub use principal::{Actor, Credential, Principal, Role, Tier};
pub use scopes::{Scope, Scopes};
pub use service::{
    AccountChange, ApiKeyInfo, Assurance, CreatedApiKey, IdentityService, Session, SignUp, User,
    UserFilter,
};
