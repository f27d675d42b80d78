//! LUKHAS `POST /constellation/identity/authenticate`: a session proves its Lambda ID
//! (and, with a passkey assertion, a second factor) and gets a token that says so, with
//! the permissions its tier, roles, scopes and factors give.

use std::time::Duration;

use crate::domain::identity::{lambda_id, Assurance, Principal, Role, Scope, Tier};
use crate::error::{DomainError, DomainResult};
use crate::state::Core;

/// How old a passing compliance report may be for a session to be told it was verified.
const T4_FRESH: Duration = Duration::from_secs(3600);

pub struct AuthenticationRequest {
    pub lambda_id: String,
    /// A WebAuthn assertion (JSON or its base64) answering a passkey challenge.
    pub biometric_data: Option<String>,
    /// `ΛBASIC`, `ΛPRO` or `ΛPRIME`; the account's own when absent.
    pub requested_tier: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AccessPermissions {
    /// `full_access` with every scope the pipeline uses, `none` otherwise.
    pub matriz_pipeline: &'static str,
    /// `administer` (every principal's nodes), `read_write` (one's own), or `none`.
    pub registry_operations: &'static str,
    /// Administrators load the governance policy the guardian applies.
    pub guardian_override: bool,
}

#[derive(Clone, Debug)]
pub struct ConstellationAuth {
    pub assurance: Assurance,
    /// `authenticated`, or `tier_limited` when a higher tier than the account's was asked.
    pub status: &'static str,
    pub tier_granted: &'static str,
    pub access: AccessPermissions,
    /// The constellation modules this server runs (Dream and GLYPH only when enabled).
    pub constellation_context: String,
    /// A compliance report on this instance passed within the last hour.
    pub t4_compliance_verified: bool,
}

fn tier_rank(tier: Tier) -> u8 {
    match tier {
        Tier::Free => 0,
        Tier::Pro => 1,
        Tier::Team => 2,
    }
}

fn parse_tier(name: &str) -> DomainResult<Tier> {
    [Tier::Free, Tier::Pro, Tier::Team]
        .into_iter()
        .find(|t| lambda_id::tier_name(*t) == name)
        .ok_or_else(|| {
            DomainError::invalid(
                "authentication_context.requested_tier",
                format!("unknown tier '{name}' (ΛBASIC, ΛPRO, ΛPRIME)"),
            )
        })
}

fn permissions(principal: &Principal) -> DomainResult<AccessPermissions> {
    let actor = principal.actor()?;
    let pipeline = [Scope::ModelsUse, Scope::MemoryRead, Scope::MemoryWrite]
        .into_iter()
        .all(|s| actor.scopes.contains(s));
    Ok(AccessPermissions {
        matriz_pipeline: if pipeline { "full_access" } else { "none" },
        registry_operations: match (
            actor.scopes.contains(Scope::Registry),
            actor.has_role(Role::Admin),
        ) {
            (false, _) => "none",
            (true, true) => "administer",
            (true, false) => "read_write",
        },
        guardian_override: actor.has_role(Role::Admin),
    })
}

fn constellation_context(core: &Core) -> String {
    let lukhas = &core.config.lukhas;
    [
        ("⚛️ Identity", true),
        ("✦ Memory", true),
        ("🌙 Dream", lukhas.dreams_enabled),
        ("⚖️ Ethics", true),
        ("🛡️ Guardian", true),
        ("🔣 GLYPH", lukhas.glyphs_enabled),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| name)
    .collect::<Vec<_>>()
    .join(" · ")
}

pub async fn authenticate(
    core: &Core,
    principal: &Principal,
    request: AuthenticationRequest,
) -> DomainResult<ConstellationAuth> {
    if !lambda_id::well_formed(&request.lambda_id) {
        return Err(DomainError::invalid(
            "lambda_id",
            "lambda_id must look like ΛPRO-2026-0042",
        ));
    }
    let requested = request
        .requested_tier
        .as_deref()
        .map(parse_tier)
        .transpose()?;
    let assurance = core
        .identity
        .raise_assurance(
            principal,
            &request.lambda_id,
            request.biometric_data.as_deref(),
        )
        .await?;
    let own = assurance.user.tier;
    let granted = match requested {
        Some(asked) if tier_rank(asked) < tier_rank(own) => asked,
        _ => own,
    };
    let limited = requested.is_some_and(|asked| tier_rank(asked) > tier_rank(own));
    Ok(ConstellationAuth {
        status: if limited {
            "tier_limited"
        } else {
            "authenticated"
        },
        tier_granted: lambda_id::tier_name(granted),
        access: permissions(principal)?,
        constellation_context: constellation_context(core),
        t4_compliance_verified: core.t4_verdict.compliant_within(T4_FRESH),
        assurance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_read_by_their_lambda_names() {
        assert_eq!(parse_tier("ΛPRIME").unwrap(), Tier::Team);
        assert_eq!(parse_tier("ΛBASIC").unwrap(), Tier::Free);
        assert!(matches!(
            parse_tier("PRIME"),
            Err(DomainError::Invalid { .. })
        ));
    }
}
