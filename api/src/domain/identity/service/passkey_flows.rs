//! Who may run passkey ceremonies, and what a verified passkey does to a session.

use orrery_entities::refresh_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, TransactionTrait};

use super::{record_event, IdentityService, User};
use crate::bus::AccountEventKind;
use crate::domain::identity::factors::Factors;
use crate::domain::identity::passkeys::{CeremonyOptions, PasskeyInfo};
use crate::domain::identity::{Actor, Credential, Principal};
use crate::error::{DomainError, DomainResult};

/// A session after `raise_assurance`: what it has proved, and its new access token.
#[derive(Clone, Debug)]
pub struct Assurance {
    pub user: User,
    pub lambda_id: String,
    pub factors: Factors,
    /// Whether a passkey assertion was presented and verified in this request.
    pub passkey_verified: bool,
    pub access_token: String,
    pub expires_in: i64,
}

/// The login session behind a request; API keys are no login and cannot hold passkeys.
fn login_session(principal: &Principal) -> DomainResult<(&Actor, &str, Factors)> {
    let actor = principal.actor()?;
    match &actor.credential {
        Credential::AccessToken { session, factors } => Ok((actor, session, *factors)),
        Credential::ApiKey { .. } => Err(DomainError::Forbidden(
            "passkeys and session assurance belong to login sessions; use an access token, not an API key".into(),
        )),
    }
}

impl IdentityService {
    /// Answers a second factor that did not verify, in the transaction that spent its
    /// challenge: a refusal is recorded as a failed login, like a wrong password, and the
    /// transaction is committed either way (the challenge stays spent).
    pub(super) async fn refuse_second_factor<T>(
        &self,
        txn: DatabaseTransaction,
        user_id: &str,
        err: DomainError,
    ) -> DomainResult<T> {
        let event = match &err {
            DomainError::Unauthenticated(_) => Some(
                record_event(
                    &txn,
                    user_id,
                    AccountEventKind::LoginFailed,
                    serde_json::json!({ "factor": "passkey" }),
                )
                .await?,
            ),
            _ => None,
        };
        txn.commit().await?;
        if let Some(event) = event {
            self.emit(event).await;
        }
        Err(err)
    }

    pub async fn begin_passkey_registration(
        &self,
        principal: &Principal,
    ) -> DomainResult<CeremonyOptions> {
        let (actor, _, _) = login_session(principal)?;
        let user = self.me(principal).await?;
        let display = user.name.clone().unwrap_or_else(|| user.email.clone());
        self.passkeys
            .begin_registration(&actor.user_id, &user.email, &display)
            .await
    }

    pub async fn complete_passkey_registration(
        &self,
        principal: &Principal,
        credential: &str,
        name: Option<String>,
    ) -> DomainResult<PasskeyInfo> {
        let (actor, _, _) = login_session(principal)?;
        let info = self
            .passkeys
            .complete_registration(&actor.user_id, credential, name)
            .await?;
        let event = record_event(
            &self.db,
            &actor.user_id,
            AccountEventKind::PasskeyRegistered,
            serde_json::json!({ "passkey": info.id, "name": info.name }),
        )
        .await?;
        self.emit(event).await;
        Ok(info)
    }

    pub async fn passkeys(&self, principal: &Principal) -> DomainResult<Vec<PasskeyInfo>> {
        let actor = principal.actor()?;
        self.passkeys.list(&actor.user_id).await
    }

    pub async fn delete_passkey(
        &self,
        principal: &Principal,
        id: &str,
    ) -> DomainResult<PasskeyInfo> {
        let (actor, _, _) = login_session(principal)?;
        let info = self.passkeys.delete(&actor.user_id, id).await?;
        let event = record_event(
            &self.db,
            &actor.user_id,
            AccountEventKind::PasskeyRemoved,
            serde_json::json!({ "passkey": info.id }),
        )
        .await?;
        self.emit(event).await;
        Ok(info)
    }

    /// The challenge for a login with the account's passkeys. An unknown address and an
    /// account without passkeys get the same answer.
    pub async fn begin_passkey_authentication(&self, email: &str) -> DomainResult<CeremonyOptions> {
        let none = || {
            DomainError::NotFound(
                "no passkey is registered for this account; log in with the password alone".into(),
            )
        };
        let email = super::normalize_email(email).map_err(|_| none())?;
        let user = self.find_by_email(&email).await?.ok_or_else(none)?;
        self.passkeys
            .begin_authentication(&user.id)
            .await
            .map_err(|err| match err {
                DomainError::NotFound(_) => none(),
                other => other,
            })
    }

    /// Raises the caller's session by the factors presented now: `lambda_id` must be the
    /// account's own, and `assertion` (when given) a passkey assertion answering a challenge
    /// the account began. The session's live refresh tokens keep the result.
    pub async fn raise_assurance(
        &self,
        principal: &Principal,
        lambda_id: &str,
        assertion: Option<&str>,
    ) -> DomainResult<Assurance> {
        let (actor, session, factors) = login_session(principal)?;
        let own = super::super::lambda_id::of_user(&self.db, &actor.user_id)
            .await?
            .ok_or_else(|| DomainError::internal("account without a Lambda ID"))?;
        if own != lambda_id {
            return Err(DomainError::Forbidden(
                "lambda_id is not the authenticated account's Lambda ID".into(),
            ));
        }
        let mut raised = factors;
        let txn = self.db.begin().await?;
        if let Some(assertion) = assertion {
            if let Err(err) = self
                .passkeys
                .verify_assertion(&txn, &actor.user_id, "biometric_data", assertion)
                .await
            {
                return self.refuse_second_factor(txn, &actor.user_id, err).await;
            }
            raised = raised.with(Factors::PASSKEY);
        }
        let event = if raised != factors {
            refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::Factors, Expr::value(raised.stored()))
                .filter(refresh_token::Column::FamilyId.eq(session))
                .filter(refresh_token::Column::UsedAt.is_null())
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            Some(
                record_event(
                    &txn,
                    &actor.user_id,
                    AccountEventKind::AssuranceRaised,
                    serde_json::json!({ "session": session, "factors": raised.names() }),
                )
                .await?,
            )
        } else {
            None
        };
        // One commit for the spent challenge, the new counter, the session and the event.
        txn.commit().await?;
        if let Some(event) = event {
            self.emit(event).await;
        }
        Ok(Assurance {
            user: self.me(principal).await?,
            lambda_id: own,
            factors: raised,
            passkey_verified: assertion.is_some(),
            access_token: self.keys.issue(&actor.user_id, session, raised)?,
            expires_in: self.keys.ttl_secs(),
        })
    }
}
