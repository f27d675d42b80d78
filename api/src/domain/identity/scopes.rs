//! API key scopes: what a key may do, always a subset of what its owner may do. A login
//! session carries every scope; a key carries the ones it was created with.
//!
//! Roles and scopes meet in one place: a role counts for a request only when the request's
//! scopes allow it (`admin` for the admin role, `governance:review` for the reviewer role,
//! `governance:read` for the auditor role), so every role check in the domain is also a
//! scope check.

use std::fmt;

use super::Role;
use crate::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read the account: its keys and security events.
    AccountRead,
    /// Create and revoke the account's API keys.
    AccountWrite,
    /// Ask for governance decisions and verify capability tokens.
    GovernanceDecide,
    /// Read decisions and the ledger; acts as the auditor role.
    GovernanceRead,
    /// Resolve reviews; acts as the reviewer role.
    GovernanceReview,
    /// Act as the admin role.
    Admin,
    /// Run commands in Lumen's terminal.
    TerminalExecute,
    /// Generate text and embeddings with the server's model providers (`/v1`).
    ModelsUse,
    /// Recall and search the account's memories.
    MemoryRead,
    /// Store, update, repair and delete the account's memories.
    MemoryWrite,
    /// Search the account's indexed code repositories.
    RagRead,
    /// Index files into, and delete, the account's code repositories.
    RagWrite,
    /// Run LunaOS agents and chains (charged to the account's monthly quota) and read the runs.
    AgentsRun,
    /// Chat with Lumen's agents (sessions, their memory) and ask for war-room reviews.
    Chat,
    /// Register nodes in the LUKHAS registry and list them.
    Registry,
    /// Send, read and bind LUKHAS GLYPH tokens.
    Glyphs,
    /// Report security incidents and read the ones that concern the account.
    Incidents,
    /// Give feedback on answers and read the account's feedback and its statistics.
    Feedback,
}

impl Scope {
    pub const ALL: [Scope; 18] = [
        Scope::AccountRead,
        Scope::AccountWrite,
        Scope::GovernanceDecide,
        Scope::GovernanceRead,
        Scope::GovernanceReview,
        Scope::Admin,
        Scope::TerminalExecute,
        Scope::ModelsUse,
        Scope::MemoryRead,
        Scope::MemoryWrite,
        Scope::RagRead,
        Scope::RagWrite,
        Scope::AgentsRun,
        Scope::Chat,
        Scope::Registry,
        Scope::Glyphs,
        Scope::Incidents,
        Scope::Feedback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AccountRead => "account:read",
            Scope::AccountWrite => "account:write",
            Scope::GovernanceDecide => "governance:decide",
            Scope::GovernanceRead => "governance:read",
            Scope::GovernanceReview => "governance:review",
            Scope::Admin => "admin",
            Scope::TerminalExecute => "terminal:execute",
            Scope::ModelsUse => "models:use",
            Scope::MemoryRead => "memory:read",
            Scope::MemoryWrite => "memory:write",
            Scope::RagRead => "rag:read",
            Scope::RagWrite => "rag:write",
            Scope::AgentsRun => "agents:run",
            Scope::Chat => "chat",
            Scope::Registry => "registry",
            Scope::Glyphs => "glyphs",
            Scope::Incidents => "incidents",
            Scope::Feedback => "feedback",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A scope only some owners hold: the one that lets a key act in that role.
    fn needs_role(self) -> Option<&'static [Role]> {
        match self {
            Scope::Admin => Some(&[Role::Admin]),
            Scope::GovernanceReview => Some(&[Role::Reviewer, Role::Admin]),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes (a bit set: cheap to copy into every principal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scopes(u32);

fn bit(scope: Scope) -> u32 {
    1 << (Scope::ALL.iter().position(|s| *s == scope).unwrap_or(0) as u32)
}

// The set is a `u32`: a thirty-third scope needs a wider one.
const _: () = assert!(Scope::ALL.len() <= 32);

impl Scopes {
    pub const fn all() -> Self {
        Scopes(((1u64 << Scope::ALL.len()) - 1) as u32)
    }

    /// What a key gets when it asks for nothing: everything its owner may do except acting
    /// as an administrator and running terminal commands.
    pub fn default_for(roles: &[Role]) -> Self {
        Scope::ALL
            .into_iter()
            .filter(|s| !matches!(s, Scope::Admin | Scope::TerminalExecute))
            .filter(|s| {
                s.needs_role()
                    .is_none_or(|r| r.iter().any(|r| roles.contains(r)))
            })
            .collect()
    }

    /// The scopes a key asks for, refused when one is unknown or beyond its owner's roles.
    pub fn requested(names: &[String], roles: &[Role]) -> DomainResult<Self> {
        let mut scopes = Scopes(0);
        for name in names {
            let Some(scope) = Scope::parse(name.trim()) else {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                return Err(DomainError::invalid(
                    "scopes",
                    format!("unknown scope '{name}'; known scopes: {}", known.join(", ")),
                ));
            };
            if let Some(needed) = scope.needs_role() {
                if !needed.iter().any(|r| roles.contains(r)) {
                    return Err(DomainError::Forbidden(format!(
                        "a key cannot have '{scope}': its owner does not have the role it acts as"
                    )));
                }
            }
            scopes.0 |= bit(scope);
        }
        Ok(scopes)
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & bit(scope) != 0
    }

    /// Whether these scopes let a request act in `role`.
    pub fn allow_role(self, role: Role) -> bool {
        match role {
            Role::User => true,
            Role::Admin => self.contains(Scope::Admin),
            Role::Reviewer => self.contains(Scope::GovernanceReview),
            Role::Auditor => self.contains(Scope::GovernanceRead),
        }
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The stored form: names joined by spaces (as OAuth writes scopes).
    pub fn join(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Reads the stored form, ignoring names this build does not know.
    pub fn parse_stored(stored: &str) -> Self {
        stored.split_whitespace().filter_map(Scope::parse).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |acc, s| acc | bit(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_leave_out_admin_and_terminal_and_roles_the_owner_lacks() {
        let user = Scopes::default_for(&[Role::User]);
        assert_eq!(
            user.join(),
            "account:read account:write governance:decide governance:read models:use memory:read memory:write rag:read rag:write agents:run chat registry glyphs incidents feedback"
        );
        let admin = Scopes::default_for(&[Role::User, Role::Admin]);
        assert!(admin.contains(Scope::GovernanceReview));
        assert!(!admin.contains(Scope::Admin));
        assert!(!admin.contains(Scope::TerminalExecute));
    }

    #[test]
    fn requested_scopes_stay_within_the_owner() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let read_only = Scopes::requested(&names(&["governance:read"]), &[Role::User]).unwrap();
        assert!(read_only.contains(Scope::GovernanceRead));
        assert!(!read_only.contains(Scope::GovernanceDecide));
        assert!(matches!(
            Scopes::requested(&names(&["admin"]), &[Role::User]),
            Err(DomainError::Forbidden(_))
        ));
        assert!(Scopes::requested(&names(&["admin"]), &[Role::Admin]).is_ok());
        assert!(matches!(
            Scopes::requested(&names(&["everything"]), &[Role::Admin]),
            Err(DomainError::Invalid { .. })
        ));
        assert_eq!(Scopes::parse_stored(&read_only.join()), read_only);
        assert_eq!(
            Scopes::parse_stored("admin unknown:thing"),
            Scopes::from_iter([Scope::Admin])
        );
    }

    #[test]
    fn roles_count_only_with_their_scope() {
        let decide_only = Scopes::from_iter([Scope::GovernanceDecide]);
        assert!(decide_only.allow_role(Role::User));
        assert!(!decide_only.allow_role(Role::Admin));
        assert!(!decide_only.allow_role(Role::Reviewer));
        assert!(Scopes::all().allow_role(Role::Admin));
        assert!(Scope::ALL.iter().all(|s| Scopes::all().contains(*s)));
    }
}
