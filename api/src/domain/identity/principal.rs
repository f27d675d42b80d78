//! Who is making a request: every domain function takes a `Principal` and checks ownership itself.

use std::fmt;
use std::str::FromStr;

use super::scopes::{Scope, Scopes};
use crate::error::DomainError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    Free,
    Pro,
    Team,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::Team => "team",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Tier::Free),
            "pro" => Ok(Tier::Pro),
            "team" => Ok(Tier::Team),
            other => Err(DomainError::invalid(
                "tier",
                format!("unknown tier '{other}' (free, pro, team)"),
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
    Reviewer,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
        }
    }

    /// Parses the stored comma-separated form, ignoring roles this build does not know.
    /// One role by name; an unknown name is a 400 naming `field`.
    pub fn named(field: &str, name: &str) -> Result<Role, DomainError> {
        Role::parse_list(name)
            .into_iter()
            .next()
            .filter(|_| !name.contains(','))
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!("unknown role '{name}' (user, admin, reviewer, auditor)"),
                )
            })
    }

    pub fn parse_list(stored: &str) -> Vec<Role> {
        stored
            .split(',')
            .filter_map(|r| match r.trim() {
                "user" => Some(Role::User),
                "admin" => Some(Role::Admin),
                "reviewer" => Some(Role::Reviewer),
                "auditor" => Some(Role::Auditor),
                _ => None,
            })
            .collect()
    }

    pub fn join(roles: &[Role]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The approver groups in the stored list (the names that are not built-in roles).
    pub fn parse_groups(stored: &str) -> Vec<String> {
        stored
            .split(',')
            .map(str::trim)
            .filter(|n| Role::parse_list(n).is_empty() && is_group_name(n))
            .map(str::to_string)
            .collect()
    }

    /// The stored form of roles and groups together (one column).
    pub fn join_with_groups(roles: &[Role], groups: &[String]) -> String {
        let mut names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        names.extend(groups.iter().map(String::as_str));
        names.join(",")
    }
}

/// An approver group a policy can name and users can be put in (`finance`, `legal-eu`):
/// 1 to 32 lowercase letters, digits, `-` or `_`, starting with a letter, not a built-in
/// role's name.
pub fn is_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && Role::parse_list(name).is_empty()
}

/// How an authenticated request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A JWT access token; `session` is the login's refresh-token family, `factors` what
    /// that login presented.
    AccessToken {
        session: String,
        factors: super::factors::Factors,
    },
    ApiKey {
        key_id: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub tier: Tier,
    pub roles: Vec<Role>,
    pub credential: Credential,
    /// Every scope for a login session; a key's own for an API key.
    pub scopes: Scopes,
    /// Approver groups the user is in (beyond the built-in roles).
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(Actor),
}

impl Principal {
    pub fn actor(&self) -> Result<&Actor, DomainError> {
        match self {
            Principal::User(actor) => Ok(actor),
            Principal::Anonymous => Err(DomainError::Unauthenticated(
                "authentication required".into(),
            )),
        }
    }

    /// The key rate limits count against: each API key has its own budget, a user's
    /// sessions share one.
    pub fn rate_key(&self) -> Option<String> {
        match self {
            Principal::Anonymous => None,
            Principal::User(actor) => Some(match &actor.credential {
                Credential::AccessToken { .. } => format!("user:{}", actor.user_id),
                Credential::ApiKey { key_id } => format!("key:{key_id}"),
            }),
        }
    }
}

impl Actor {
    /// The role counts only when the credential's scopes let it act in it.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role) && self.scopes.allow_role(role)
    }

    /// Whether this request may resolve a review that asks for `approver` (a role or a
    /// group). A key acts in a group only with `governance:review`, as for the role.
    pub fn can_approve_as(&self, approver: &str) -> bool {
        self.has_role(Role::Admin)
            || (approver == "reviewer" && self.has_role(Role::Reviewer))
            || self.approver_groups().any(|g| g == approver)
    }

    /// The groups this request acts in as an approver.
    pub fn approver_groups(&self) -> impl Iterator<Item = &str> {
        let acting = self.scopes.contains(Scope::GovernanceReview);
        self.groups
            .iter()
            .map(String::as_str)
            .filter(move |_| acting)
    }

    /// Refuses a request whose credential (an API key) lacks `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), DomainError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(DomainError::Forbidden(format!(
                "this API key lacks the scope '{scope}' (create a key with it, or use a login session)"
            )))
        }
    }
}
