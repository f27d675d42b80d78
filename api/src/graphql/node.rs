//! Opaque global ids (`base64url("Type:id")`) and the `Node` interface.

use async_graphql::{Context, Interface, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::governance::{Decision, LedgerEntry, Policy, Review};
use super::identity::{ApiKey, User};

#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "An opaque global id, usable with `node(id:)`."
))]
pub enum Node {
    User(User),
    ApiKey(ApiKey),
    Decision(Decision),
    Review(Review),
    LedgerEntry(LedgerEntry),
    Policy(Policy),
    Memory(super::memory::Memory),
    AgentRun(super::agents::AgentRun),
}

pub fn encode(kind: &str, id: &str) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{kind}:{id}")))
}

/// `(kind, id)` of a global id, if it is one of ours.
pub fn decode(id: &ID) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(id.as_str()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, raw) = text.split_once(':')?;
    Some((kind.to_string(), raw.to_string()))
}

/// Resolves any global id the caller may see; anything else is `null`.
pub async fn resolve(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<Option<Node>> {
    let Some((kind, raw)) = decode(id) else {
        return Ok(None);
    };
    let core = super::core(ctx);
    let principal = super::principal(ctx);
    let found = match kind.as_str() {
        "User" => core
            .identity
            .user(principal, &raw)
            .await
            .map(|u| Node::User(User(u))),
        "ApiKey" => core
            .identity
            .api_key(principal, &raw)
            .await
            .map(|k| Node::ApiKey(ApiKey(k))),
        "Decision" => core
            .governance
            .decision(principal, &raw)
            .await
            .map(|d| Node::Decision(Decision(d))),
        "Review" => match core.governance.decision(principal, &raw).await {
            Ok(d) if d.review_status.is_some() => Ok(Node::Review(Review(d))),
            Ok(_) => return Ok(None),
            Err(err) => Err(err),
        },
        "LedgerEntry" => core
            .governance
            .ledger_entry(principal, &raw)
            .await
            .map(|e| Node::LedgerEntry(LedgerEntry(e))),
        "Policy" => {
            principal.actor().map_err(super::errors::to_gql)?;
            let view = core.governance.policy().await;
            if format!("{}@{}", view.policy.policy_id, view.policy.version) != raw {
                return Ok(None);
            }
            Ok(Node::Policy(Policy {
                document: view.policy.clone(),
                loaded_at: view.loaded_at.into(),
            }))
        }
        "Memory" => core
            .memory
            .get(principal, &raw)
            .await
            .map(|m| Node::Memory(super::memory::Memory(m))),
        "AgentRun" => core
            .agents
            .run(principal, &raw)
            .await
            .map(|r| Node::AgentRun(super::agents::AgentRun(r))),
        _ => return Ok(None),
    };
    match found {
        Ok(node) => Ok(Some(node)),
        Err(crate::error::DomainError::NotFound(_)) => Ok(None),
        Err(err) => Err(super::errors::to_gql(err)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = super::encode("User", "abc-1");
        assert_eq!(super::decode(&id), Some(("User".into(), "abc-1".into())));
        assert_eq!(super::decode(&async_graphql::ID("!!".into())), None);
    }
}
