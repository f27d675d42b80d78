use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dashmap::{DashMap, DashSet};
use orrery_entities::{account_event, api_key, auth_revocation, refresh_token, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};

use super::api_keys;
use super::factors::Factors;
use super::passkeys::Passkeys;
use super::password::{self, PasswordHasher, Verified};
use super::principal::{Actor, Credential, Principal, Role, Tier};
use super::scopes::{Scope, Scopes};
use super::tokens::{self, KeyRing};
use crate::bus::{AccountEvent, AccountEventKind, Event, EventBus};
use crate::config::AuthConfig;
use crate::error::{DomainError, DomainResult};

/// How long a user record or API key read for authentication is reused. Every change that
/// must reach the caches (revocations, role and tier changes) is also written to
/// `auth_revocations`, which each instance follows (`sync_revocations`); the TTL only bounds
/// edits made to the database by hand.
const USER_CACHE_TTL: Duration = Duration::from_secs(60);
/// How far below the highest revocation seen `sync_revocations` looks again: a PostgreSQL
/// sequence value can commit after a higher one, and must not be missed.
const REVOCATION_LOOKBACK: i32 = 256;
const NAME_MAX: usize = 100;
const KEY_NAME_MAX: usize = 64;
/// Approver groups per user: with the roles they fit the 1024-character `users.roles`.
const MAX_GROUPS: usize = 16;
const EMAIL_MAX: usize = 320;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub tier: Tier,
    pub roles: Vec<Role>,
    /// Approver groups (custom names a policy's approval rule can ask for).
    pub groups: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Which accounts an administrator lists.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// A part of the address.
    pub email: Option<String>,
    /// `free`, `pro` or `team`.
    pub tier: Option<String>,
    /// 1 to 100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn admin_only(principal: &Principal) -> DomainResult<()> {
    if principal.actor()?.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "only administrators manage accounts".into(),
        ))
    }
}

/// What an admin (or the operator's CLI) changes about an account; `None` keeps it.
#[derive(Clone, Debug, Default)]
pub struct AccountChange {
    /// The complete role list (`user` is always kept).
    pub roles: Option<Vec<Role>>,
    /// The complete list of approver groups.
    pub groups: Option<Vec<String>>,
    pub tier: Option<Tier>,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: User,
}

pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyInfo {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

pub struct CreatedApiKey {
    /// The full key: returned once, never stored.
    pub key: String,
    pub info: ApiKeyInfo,
}

#[derive(Clone)]
struct CachedKey {
    key_id: String,
    user_id: String,
    scopes: Scopes,
    fetched: Instant,
}

pub struct IdentityService {
    db: DatabaseConnection,
    hasher: PasswordHasher,
    keys: KeyRing,
    bus: Arc<dyn EventBus>,
    audit: Arc<dyn crate::domain::AuditSink>,
    config: AuthConfig,
    key_cache: DashMap<String, CachedKey>,
    user_cache: DashMap<String, (User, Instant)>,
    revoked_sessions: DashSet<String>,
    /// The revocations already applied: everything at or below the first, plus the set.
    revocations_seen: std::sync::Mutex<(i32, std::collections::BTreeSet<i32>)>,
    /// `last_used_at` updates, written in batches so authenticating is not a write.
    key_last_used: DashMap<String, DateTime<Utc>>,
    passkeys: Passkeys,
}

mod passkey_flows;
pub use passkey_flows::Assurance;

fn to_user(model: user::Model) -> DomainResult<User> {
    Ok(User {
        tier: model.tier.parse()?,
        roles: Role::parse_list(&model.roles),
        groups: Role::parse_groups(&model.roles),
        id: model.id,
        email: model.email,
        name: model.name,
        created_at: model.created_at,
    })
}

fn to_key_info(model: api_key::Model) -> ApiKeyInfo {
    ApiKeyInfo {
        id: model.id,
        user_id: model.user_id,
        name: model.name,
        prefix: model.prefix,
        scopes: Scopes::parse_stored(&model.scopes),
        created_at: model.created_at,
        last_used_at: model.last_used_at,
        revoked_at: model.revoked_at,
    }
}

/// Lower-cases and checks an email address; returns the stored form.
pub fn normalize_email(raw: &str) -> DomainResult<String> {
    let email = raw.trim().to_lowercase();
    let bad = || {
        DomainError::invalid(
            "email",
            "email must be a valid address like name@example.com",
        )
    };
    if email.is_empty() || email.len() > EMAIL_MAX || email.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(email)
}

/// Length and characters are checked on the text as sent (what the OpenAPI schema can
/// state); surrounding whitespace is then trimmed, and a blank name is no name.
fn check_name(field: &str, name: Option<String>, max: usize) -> DomainResult<Option<String>> {
    let Some(raw) = name else {
        return Ok(None);
    };
    if raw.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    let trimmed = raw.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

const REVOKE_SESSION: &str = "session";
const REVOKE_KEY: &str = "key";
const REVOKE_USER: &str = "user";

/// Records, in the caller's transaction, a change every instance must apply to its caches.
async fn record_revocation<C: ConnectionTrait>(
    db: &C,
    kind: &'static str,
    subject: &str,
) -> DomainResult<()> {
    auth_revocation::ActiveModel {
        seq: sea_orm::ActiveValue::NotSet,
        kind: Set(kind.into()),
        subject: Set(subject.into()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

async fn record_event<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    kind: AccountEventKind,
    detail: serde_json::Value,
) -> DomainResult<AccountEvent> {
    let event = AccountEvent {
        id: new_id(),
        user_id: user_id.to_string(),
        kind,
        detail,
        at: Utc::now(),
    };
    account_event::ActiveModel {
        id: Set(event.id.clone()),
        user_id: Set(event.user_id.clone()),
        kind: Set(kind.as_str().to_string()),
        detail: Set(event.detail.clone()),
        created_at: Set(event.at),
    }
    .insert(db)
    .await?;
    Ok(event)
}

impl IdentityService {
    pub async fn new(
        db: DatabaseConnection,
        keys: KeyRing,
        bus: Arc<dyn EventBus>,
        audit: Arc<dyn crate::domain::AuditSink>,
        config: AuthConfig,
    ) -> DomainResult<Self> {
        let service = Self {
            passkeys: Passkeys::new(db.clone(), &config)?,
            hasher: PasswordHasher::new(config.password_hash_concurrency),
            db,
            keys,
            bus,
            audit,
            config,
            key_cache: DashMap::new(),
            user_cache: DashMap::new(),
            revoked_sessions: DashSet::new(),
            revocations_seen: Default::default(),
            key_last_used: DashMap::new(),
        };
        service.load_revoked_sessions().await?;
        let newest = auth_revocation::Entity::find()
            .order_by_desc(auth_revocation::Column::Seq)
            .one(&service.db)
            .await?
            .map_or(0, |r| r.seq);
        service.revocations_seen.lock().expect("revocations lock").0 = newest;
        Ok(service)
    }

    /// Applies the revocations and privilege changes recorded since the last call, by this
    /// instance or any other on the same database. Called a few times a second, so a change
    /// reaches every instance well within a second without a read per request.
    pub async fn sync_revocations(&self) -> DomainResult<usize> {
        let floor = self.revocations_seen.lock().expect("revocations lock").0;
        let rows = auth_revocation::Entity::find()
            .filter(auth_revocation::Column::Seq.gt(floor - REVOCATION_LOOKBACK))
            .order_by_asc(auth_revocation::Column::Seq)
            .all(&self.db)
            .await?;
        let mut seen = self.revocations_seen.lock().expect("revocations lock");
        let mut applied = 0;
        for row in rows {
            if row.seq <= seen.0 - REVOCATION_LOOKBACK || !seen.1.insert(row.seq) {
                continue;
            }
            self.apply_revocation(&row.kind, &row.subject);
            applied += 1;
        }
        if let Some(&max) = seen.1.iter().next_back() {
            seen.0 = seen.0.max(max);
        }
        let low = seen.0 - REVOCATION_LOOKBACK;
        seen.1.retain(|seq| *seq > low);
        Ok(applied)
    }

    /// Tells every instance to apply the revocations just committed now rather than at its
    /// next periodic sync.
    fn announce_revocations(&self) {
        self.bus
            .publish(Event::Invalidate(crate::bus::Invalidation::Revocations));
    }

    fn apply_revocation(&self, kind: &str, subject: &str) {
        match kind {
            REVOKE_SESSION => {
                self.revoked_sessions.insert(subject.to_string());
            }
            REVOKE_KEY => {
                self.key_cache.remove(subject);
            }
            REVOKE_USER => {
                self.user_cache.remove(subject);
            }
            other => tracing::warn!(kind = other, "unknown revocation kind"),
        }
    }

    /// Deletes revocation records no instance needs any more (older than an access token
    /// lives, plus margin; instances starting later read revoked sessions from their tokens).
    pub async fn prune_revocations(&self) -> DomainResult<()> {
        let before = Utc::now() - chrono::Duration::seconds(self.keys.ttl_secs() + 300);
        auth_revocation::Entity::delete_many()
            .filter(auth_revocation::Column::CreatedAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Sessions revoked within one access-token lifetime still have live access tokens;
    /// remembering them makes a revocation take effect at once.
    async fn load_revoked_sessions(&self) -> DomainResult<()> {
        let since = Utc::now() - chrono::Duration::seconds(self.keys.ttl_secs() + 60);
        let families: Vec<String> = refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::FamilyId)
            .filter(refresh_token::Column::RevokedAt.gt(since))
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?;
        for family in families {
            self.revoked_sessions.insert(family);
        }
        Ok(())
    }

    /// Records a security event in the audit ledger, then announces it on the bus.
    async fn emit(&self, event: AccountEvent) {
        self.audit.record(&event).await;
        self.bus.publish(Event::Account(event));
    }

    async fn issue_session<C: ConnectionTrait>(
        &self,
        db: &C,
        user: &User,
        family: &str,
        factors: Factors,
    ) -> DomainResult<(String, String)> {
        let (refresh, hash) = tokens::new_refresh_token();
        let now = Utc::now();
        refresh_token::ActiveModel {
            id: Set(new_id()),
            user_id: Set(user.id.clone()),
            family_id: Set(family.to_string()),
            token_hash: Set(hash),
            created_at: Set(now),
            expires_at: Set(now + chrono::Duration::days(self.config.refresh_token_ttl_days)),
            used_at: Set(None),
            revoked_at: Set(None),
            factors: Set(factors.stored()),
        }
        .insert(db)
        .await?;
        let access = self.keys.issue(&user.id, family, factors)?;
        Ok((access, refresh))
    }

    /// Issues the token pair of a login session and records the event that started it;
    /// the caller commits, then emits the event.
    async fn start_session<C: ConnectionTrait>(
        &self,
        txn: &C,
        user: User,
        family: &str,
        factors: Factors,
        kind: AccountEventKind,
    ) -> DomainResult<(Session, AccountEvent)> {
        let (access, refresh) = self.issue_session(txn, &user, family, factors).await?;
        let event = record_event(
            txn,
            &user.id,
            kind,
            serde_json::json!({ "factors": factors.names() }),
        )
        .await?;
        let session = Session {
            access_token: access,
            refresh_token: refresh,
            expires_in: self.keys.ttl_secs(),
            user,
        };
        Ok((session, event))
    }

    pub async fn sign_up(&self, input: SignUp) -> DomainResult<Session> {
        self.create_user(input, vec![Role::User]).await
    }

    async fn create_user(&self, input: SignUp, roles: Vec<Role>) -> DomainResult<Session> {
        let email = normalize_email(&input.email)?;
        password::validate(&input.password)?;
        let name = check_name("name", input.name, NAME_MAX)?;
        if self.find_by_email(&email).await?.is_some() {
            return Err(DomainError::Conflict("Email already registered".into()));
        }
        let password_hash = self.hasher.hash(input.password).await?;
        let now = Utc::now();
        let user = User {
            id: new_id(),
            email,
            name,
            tier: Tier::Free,
            roles,
            groups: Vec::new(),
            created_at: now,
        };
        let txn = self.db.begin().await?;
        let inserted = user::ActiveModel {
            id: Set(user.id.clone()),
            email: Set(user.email.clone()),
            name: Set(user.name.clone()),
            password_hash: Set(password_hash),
            tier: Set(user.tier.as_str().into()),
            roles: Set(Role::join(&user.roles)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await;
        match inserted {
            Err(err) if unique_violation(&err) => {
                return Err(DomainError::Conflict("Email already registered".into()))
            }
            other => other?,
        };
        super::lambda_id::issue(&txn, &user.id, user.tier, now).await?;
        let family = new_id();
        let (session, event) = self
            .start_session(
                &txn,
                user,
                &family,
                Factors::PASSWORD,
                AccountEventKind::SignedUp,
            )
            .await?;
        txn.commit().await?;
        self.emit(event).await;
        Ok(session)
    }

    async fn find_by_email(&self, email: &str) -> DomainResult<Option<user::Model>> {
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&self.db)
            .await?)
    }

    pub async fn log_in(&self, email: &str, password: &str) -> DomainResult<Session> {
        self.log_in_with(email, password, None).await
    }

    /// Logs in with the password and, when `assertion` is given, a passkey's WebAuthn
    /// assertion (from `begin_passkey_authentication`) as a second factor.
    pub async fn log_in_with(
        &self,
        email: &str,
        password: &str,
        assertion: Option<&str>,
    ) -> DomainResult<Session> {
        if let Some(assertion) = assertion {
            super::passkeys::check_assertion_shape("biometric_data", assertion)?;
        }
        let invalid = || DomainError::Unauthenticated("Invalid email or password".into());
        // A malformed address still costs a hash, so timing tells nothing.
        let email = normalize_email(email).unwrap_or_default();
        let found = if email.is_empty() {
            None
        } else {
            self.find_by_email(&email).await?
        };
        let verified = self
            .hasher
            .verify(
                password.to_string(),
                found.as_ref().map(|u| u.password_hash.clone()),
            )
            .await?;
        let Some(model) = found else {
            return Err(invalid());
        };
        let rehash = match verified {
            Verified::Yes { rehash } => rehash,
            Verified::No => {
                let event = record_event(
                    &self.db,
                    &model.id,
                    AccountEventKind::LoginFailed,
                    serde_json::json!({}),
                )
                .await?;
                self.emit(event).await;
                return Err(invalid());
            }
        };
        let txn = self.db.begin().await?;
        let mut factors = Factors::PASSWORD;
        if let Some(assertion) = assertion {
            if let Err(err) = self
                .passkeys
                .verify_assertion(&txn, &model.id, "biometric_data", assertion)
                .await
            {
                return self.refuse_second_factor(txn, &model.id, err).await;
            }
            factors = factors.with(Factors::PASSKEY);
        }
        let user = to_user(model)?;
        if let Some(hash) = rehash {
            user::Entity::update_many()
                .col_expr(user::Column::PasswordHash, Expr::value(hash))
                .filter(user::Column::Id.eq(&user.id))
                .exec(&txn)
                .await?;
        }
        let (session, event) = self
            .start_session(&txn, user, &new_id(), factors, AccountEventKind::LoggedIn)
            .await?;
        txn.commit().await?;
        self.emit(event).await;
        Ok(session)
    }

    /// Exchanges a refresh token for a new pair. A token that was already exchanged is
    /// reuse: the whole family (every session that login reached) is revoked.
    pub async fn refresh(&self, token: &str) -> DomainResult<Session> {
        let invalid = || DomainError::Unauthenticated("invalid or expired refresh token".into());
        if !tokens::looks_like_refresh_token(token) {
            return Err(invalid());
        }
        let hash = tokens::sha256_hex(token);
        let Some(stored) = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(&hash))
            .one(&self.db)
            .await?
        else {
            return Err(invalid());
        };
        let now = Utc::now();
        if stored.revoked_at.is_some() || stored.expires_at <= now {
            return Err(invalid());
        }
        let txn = self.db.begin().await?;
        // Claiming the token is one conditional update, so two concurrent exchanges of the
        // same token cannot both succeed.
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(&stored.id))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !claimed {
            refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
                .filter(refresh_token::Column::FamilyId.eq(&stored.family_id))
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            record_revocation(&txn, REVOKE_SESSION, &stored.family_id).await?;
            let event = record_event(
                &txn,
                &stored.user_id,
                AccountEventKind::RefreshTokenReused,
                serde_json::json!({ "session": stored.family_id }),
            )
            .await?;
            txn.commit().await?;
            self.announce_revocations();
            self.revoked_sessions.insert(stored.family_id.clone());
            self.emit(event).await;
            tracing::warn!(user_id = %stored.user_id, "refresh token reuse: session family revoked");
            return Err(invalid());
        }
        let model = user::Entity::find_by_id(&stored.user_id)
            .one(&txn)
            .await?
            .ok_or_else(invalid)?;
        let user = to_user(model)?;
        let (session, event) = self
            .start_session(
                &txn,
                user,
                &stored.family_id,
                Factors::parse_stored(&stored.factors),
                AccountEventKind::TokenRefreshed,
            )
            .await?;
        txn.commit().await?;
        self.emit(event).await;
        Ok(session)
    }

    /// Resolves a bearer credential (access JWT or API key) to a principal.
    pub async fn authenticate(&self, credential: &str) -> DomainResult<Principal> {
        if api_keys::looks_like_key(credential) {
            return self.authenticate_key(credential).await;
        }
        let claims = self.keys.verify(credential)?;
        if self.revoked_sessions.contains(&claims.sid) {
            return Err(DomainError::Unauthenticated("session revoked".into()));
        }
        let user = self.cached_user(&claims.sub).await?.ok_or_else(|| {
            DomainError::Unauthenticated("invalid or expired access token".into())
        })?;
        Ok(Principal::User(Actor {
            user_id: user.id,
            tier: user.tier,
            roles: user.roles,
            credential: Credential::AccessToken {
                factors: claims.factors(),
                session: claims.sid,
            },
            scopes: Scopes::all(),
            groups: user.groups,
        }))
    }

    async fn authenticate_key(&self, key: &str) -> DomainResult<Principal> {
        let invalid = || DomainError::Unauthenticated("invalid or revoked API key".into());
        let hash = api_keys::verify_format(key).ok_or_else(invalid)?;
        // Revocation here removes the entry at once; the TTL bounds how long a key revoked
        // by another instance on the same database keeps working here.
        let cached = match self
            .key_cache
            .get(&hash)
            .filter(|e| e.fetched.elapsed() < USER_CACHE_TTL)
        {
            Some(entry) => entry.clone(),
            None => {
                let model = api_key::Entity::find()
                    .filter(api_key::Column::KeyHash.eq(&hash))
                    .filter(api_key::Column::RevokedAt.is_null())
                    .one(&self.db)
                    .await?
                    .ok_or_else(invalid)?;
                let entry = CachedKey {
                    key_id: model.id,
                    user_id: model.user_id,
                    scopes: Scopes::parse_stored(&model.scopes),
                    fetched: Instant::now(),
                };
                self.key_cache.insert(hash, entry.clone());
                entry
            }
        };
        let user = self
            .cached_user(&cached.user_id)
            .await?
            .ok_or_else(invalid)?;
        self.key_last_used.insert(cached.key_id.clone(), Utc::now());
        Ok(Principal::User(Actor {
            user_id: user.id,
            tier: user.tier,
            roles: user.roles,
            credential: Credential::ApiKey {
                key_id: cached.key_id,
            },
            scopes: cached.scopes,
            groups: user.groups,
        }))
    }

    async fn cached_user(&self, id: &str) -> DomainResult<Option<User>> {
        if let Some(entry) = self.user_cache.get(id) {
            if entry.1.elapsed() < USER_CACHE_TTL {
                return Ok(Some(entry.0.clone()));
            }
        }
        let Some(model) = user::Entity::find_by_id(id).one(&self.db).await? else {
            self.user_cache.remove(id);
            return Ok(None);
        };
        let user = to_user(model)?;
        self.user_cache
            .insert(id.to_string(), (user.clone(), Instant::now()));
        Ok(Some(user))
    }

    pub async fn me(&self, principal: &Principal) -> DomainResult<User> {
        let actor = principal.actor()?;
        self.cached_user(&actor.user_id)
            .await?
            .ok_or_else(|| DomainError::Unauthenticated("account no longer exists".into()))
    }

    /// A user by id, visible only to that user (and admins).
    pub async fn user(&self, principal: &Principal, id: &str) -> DomainResult<User> {
        let actor = principal.actor()?;
        if actor.user_id != id && !actor.has_role(Role::Admin) {
            return Err(DomainError::NotFound("user".into()));
        }
        self.cached_user(id)
            .await?
            .ok_or_else(|| DomainError::NotFound("user".into()))
    }

    /// `scopes: None` gives the key [`Scopes::default_for`] its owner. A key never gets more
    /// than the credential creating it has: a key can mint only narrower keys.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        name: Option<String>,
        scopes: Option<Vec<String>>,
    ) -> DomainResult<CreatedApiKey> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountWrite)?;
        let name = check_name("name", name, KEY_NAME_MAX)?.unwrap_or_else(|| "Default".into());
        let scopes = match scopes {
            None => Scopes::default_for(&actor.roles),
            Some(names) => Scopes::requested(&names, &actor.roles)?,
        };
        if let Some(beyond) = scopes.iter().find(|s| !actor.scopes.contains(*s)) {
            return Err(DomainError::Forbidden(format!(
                "a key cannot have '{beyond}': the credential creating it does not"
            )));
        }
        let new = api_keys::generate();
        let now = Utc::now();
        let txn = self.db.begin().await?;
        // Touching the user row first takes its row lock (PostgreSQL) or the write lock
        // (SQLite), so concurrent creations for one user serialize and the count is exact.
        user::Entity::update_many()
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(&actor.user_id))
            .exec(&txn)
            .await?;
        let active = api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(&actor.user_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .count(&txn)
            .await?;
        if active >= self.config.max_api_keys_per_user {
            return Err(DomainError::Conflict(format!(
                "at most {} active API keys per user; revoke one first",
                self.config.max_api_keys_per_user
            )));
        }
        let model = api_key::ActiveModel {
            id: Set(new_id()),
            user_id: Set(actor.user_id.clone()),
            name: Set(name),
            prefix: Set(new.prefix),
            key_hash: Set(new.hash),
            scopes: Set(scopes.join()),
            created_at: Set(now),
            last_used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await?;
        let event = record_event(
            &txn,
            &actor.user_id,
            AccountEventKind::ApiKeyCreated,
            serde_json::json!({ "key_id": model.id, "prefix": model.prefix, "scopes": model.scopes }),
        )
        .await?;
        txn.commit().await?;
        self.emit(event).await;
        Ok(CreatedApiKey {
            key: new.key,
            info: to_key_info(model),
        })
    }

    pub async fn list_api_keys(&self, principal: &Principal) -> DomainResult<Vec<ApiKeyInfo>> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountRead)?;
        let models = api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(&actor.user_id))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.db)
            .await?;
        Ok(models
            .into_iter()
            .map(|m| self.with_pending_use(to_key_info(m)))
            .collect())
    }

    pub async fn api_key(&self, principal: &Principal, id: &str) -> DomainResult<ApiKeyInfo> {
        let actor = principal.actor()?;
        api_key::Entity::find_by_id(id)
            .filter(api_key::Column::UserId.eq(&actor.user_id))
            .one(&self.db)
            .await?
            .map(|m| self.with_pending_use(to_key_info(m)))
            .ok_or_else(|| DomainError::NotFound("API key".into()))
    }

    fn with_pending_use(&self, mut info: ApiKeyInfo) -> ApiKeyInfo {
        if let Some(at) = self.key_last_used.get(&info.id) {
            info.last_used_at = Some(*at);
        }
        info
    }

    /// Revokes one of the caller's active keys; an unknown, already revoked or foreign
    /// key is "not found" and nothing changes.
    pub async fn revoke_api_key(
        &self,
        principal: &Principal,
        id: &str,
    ) -> DomainResult<ApiKeyInfo> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountWrite)?;
        let not_found = || DomainError::NotFound("API key".into());
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(not_found());
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut revoking = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::RevokedAt.is_null());
        // An administrator revokes anyone's key; everyone else only their own.
        if !actor.has_role(Role::Admin) {
            revoking = revoking.filter(api_key::Column::UserId.eq(&actor.user_id));
        }
        let revoked = revoking.exec(&txn).await?.rows_affected;
        if revoked != 1 {
            return Err(not_found());
        }
        let model = api_key::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(not_found)?;
        record_revocation(&txn, REVOKE_KEY, &model.key_hash).await?;
        let event = record_event(
            &txn,
            &model.user_id,
            AccountEventKind::ApiKeyRevoked,
            serde_json::json!({ "key_id": model.id, "prefix": model.prefix, "scopes": model.scopes, "by": actor.user_id }),
        )
        .await?;
        txn.commit().await?;
        self.announce_revocations();
        self.key_cache.remove(&model.key_hash);
        self.emit(event).await;
        Ok(to_key_info(model))
    }

    /// The caller's own security events, newest first.
    pub async fn account_events(
        &self,
        principal: &Principal,
        limit: u64,
    ) -> DomainResult<Vec<AccountEvent>> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountRead)?;
        let models = account_event::Entity::find()
            .filter(account_event::Column::UserId.eq(&actor.user_id))
            .order_by_desc(account_event::Column::CreatedAt)
            .limit(limit.min(100))
            .all(&self.db)
            .await?;
        Ok(models
            .into_iter()
            .filter_map(|m| {
                Some(AccountEvent {
                    kind: AccountEventKind::parse(&m.kind)?,
                    id: m.id,
                    user_id: m.user_id,
                    detail: m.detail,
                    at: m.created_at,
                })
            })
            .collect())
    }

    /// Changes a user's roles, approver groups and tier (admins only). `user` is always kept.
    pub async fn update_user(
        &self,
        principal: &Principal,
        user_id: &str,
        change: AccountChange,
    ) -> DomainResult<User> {
        let actor = principal.actor()?;
        if !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden(
                "only admins can change roles and tiers".into(),
            ));
        }
        if actor.user_id == user_id
            && change
                .roles
                .as_ref()
                .is_some_and(|r| !r.contains(&Role::Admin))
        {
            // The request is well formed; the account's state (the caller is that admin)
            // is what refuses it.
            return Err(DomainError::Conflict(
                "admins cannot remove their own admin role".into(),
            ));
        }
        self.apply_user_update(user_id, change, &actor.user_id)
            .await
    }

    /// Applies an [`AccountChange`] without a principal check: for the operator's CLI and
    /// for `update_user` after its check. `by` names who did it in the audit trail.
    pub async fn apply_user_update(
        &self,
        user_id: &str,
        change: AccountChange,
        by: &str,
    ) -> DomainResult<User> {
        let model = user::Entity::find_by_id(user_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound("user".into()))?;
        let mut user = to_user(model)?;
        if let Some(mut roles) = change.roles {
            if !roles.contains(&Role::User) {
                roles.insert(0, Role::User);
            }
            roles.dedup();
            user.roles = roles;
        }
        if let Some(mut groups) = change.groups {
            for group in &groups {
                if !super::principal::is_group_name(group) {
                    return Err(DomainError::invalid(
                        "groups",
                        format!("'{group}' is not a group name: 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter, and not a built-in role"),
                    ));
                }
            }
            groups.sort();
            groups.dedup();
            if groups.len() > MAX_GROUPS {
                return Err(DomainError::invalid(
                    "groups",
                    format!("a user can be in at most {MAX_GROUPS} groups"),
                ));
            }
            user.groups = groups;
        }
        if let Some(tier) = change.tier {
            user.tier = tier;
        }
        let stored = Role::join_with_groups(&user.roles, &user.groups);
        let txn = self.db.begin().await?;
        user::Entity::update_many()
            .col_expr(user::Column::Roles, Expr::value(stored.clone()))
            .col_expr(user::Column::Tier, Expr::value(user.tier.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(&user.id))
            .exec(&txn)
            .await?;
        record_revocation(&txn, REVOKE_USER, &user.id).await?;
        let event = record_event(
            &txn,
            &user.id,
            AccountEventKind::AccountUpdated,
            serde_json::json!({ "by": by, "roles": Role::join(&user.roles), "groups": user.groups, "tier": user.tier.as_str() }),
        )
        .await?;
        txn.commit().await?;
        self.announce_revocations();
        self.user_cache.remove(&user.id);
        self.emit(event).await;
        Ok(user)
    }

    /// Deletes an account with its API keys, sessions and account events (the foreign keys
    /// cascade), for the operator's CLI. Every instance stops accepting its tokens and keys
    /// at its next revocation sync. Governance records keep the user's id: the ledger is
    /// append-only. The last admin cannot be deleted. Returns how many keys went with it.
    pub async fn delete_user(&self, user_id: &str) -> DomainResult<u64> {
        let txn = self.db.begin().await?;
        let model = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::NotFound("user".into()))?;
        let user = to_user(model)?;
        if user.roles.contains(&Role::Admin) {
            let admins = user::Entity::find()
                .all(&txn)
                .await?
                .into_iter()
                .filter_map(|m| to_user(m).ok())
                .filter(|u| u.roles.contains(&Role::Admin))
                .count();
            if admins <= 1 {
                return Err(DomainError::Conflict(
                    "this is the only admin; make another user admin first".into(),
                ));
            }
        }
        let keys = api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(user_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .count(&txn)
            .await?;
        record_revocation(&txn, REVOKE_USER, user_id).await?;
        user::Entity::delete_by_id(user_id).exec(&txn).await?;
        txn.commit().await?;
        self.announce_revocations();
        self.user_cache.remove(user_id);
        tracing::info!(user = user_id, keys, "user deleted");
        Ok(keys)
    }

    /// Finds a user by email (operators' tools).
    pub async fn user_by_email(&self, email: &str) -> DomainResult<Option<User>> {
        self.find_by_email(&normalize_email(email)?)
            .await?
            .map(to_user)
            .transpose()
    }

    /// Finds a user by id (operators' tools and the billing provider's webhooks).
    pub async fn user_by_id(&self, id: &str) -> DomainResult<Option<User>> {
        user::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_user)
            .transpose()
    }

    /// Accounts for an administrator, newest first: `email` matches a part of the address,
    /// `tier` the tier; with each account's active key count.
    pub async fn admin_users(
        &self,
        principal: &Principal,
        filter: UserFilter,
    ) -> DomainResult<(Vec<(User, u64)>, u64)> {
        admin_only(principal)?;
        let (limit, offset) = crate::domain::page(filter.limit, filter.offset, 50, 100)?;
        let mut query = user::Entity::find();
        if let Some(part) = &filter.email {
            let part = part.trim().to_lowercase();
            if part.is_empty() || part.chars().count() > 254 {
                return Err(DomainError::invalid(
                    "email",
                    "email is 1 to 254 characters of an address",
                ));
            }
            query = query.filter(user::Column::Email.contains(&part));
        }
        if let Some(tier) = &filter.tier {
            query = query.filter(user::Column::Tier.eq(tier.parse::<Tier>()?.as_str()));
        }
        let total = query.clone().count(&self.db).await?;
        let users: Vec<User> = query
            .order_by_desc(user::Column::CreatedAt)
            .order_by_desc(user::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_user)
            .collect::<DomainResult<_>>()?;
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let counts: Vec<(String, i64)> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::UserId)
            .column_as(Expr::col(api_key::Column::Id).count(), "n")
            .filter(api_key::Column::UserId.is_in(ids))
            .filter(api_key::Column::RevokedAt.is_null())
            .group_by(api_key::Column::UserId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let keys = |id: &str| {
            counts
                .iter()
                .find(|(user, _)| user == id)
                .map_or(0, |(_, n)| (*n).max(0) as u64)
        };
        Ok((
            users
                .into_iter()
                .map(|u| {
                    let n = keys(&u.id);
                    (u, n)
                })
                .collect(),
            total,
        ))
    }

    /// Revokes any account's key (administrators only; see `revoke_api_key`).
    pub async fn admin_revoke_api_key(
        &self,
        principal: &Principal,
        id: &str,
    ) -> DomainResult<ApiKeyInfo> {
        admin_only(principal)?;
        self.revoke_api_key(principal, id).await
    }

    /// One account and all its API keys, newest first, for an administrator.
    pub async fn admin_user(
        &self,
        principal: &Principal,
        user_id: &str,
    ) -> DomainResult<(User, Vec<ApiKeyInfo>)> {
        admin_only(principal)?;
        let user = self
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("user '{user_id}' not found")))?;
        let keys = api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(user_id))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| self.with_pending_use(to_key_info(m)))
            .collect();
        Ok((user, keys))
    }

    /// The Lambda ID of `user_id`, visible to that user and administrators.
    pub async fn lambda_id(
        &self,
        principal: &Principal,
        user_id: &str,
    ) -> DomainResult<Option<String>> {
        let actor = principal.actor()?;
        if actor.user_id != user_id && !actor.has_role(Role::Admin) {
            return Err(DomainError::NotFound("user".into()));
        }
        super::lambda_id::of_user(&self.db, user_id).await
    }

    /// Every account, oldest first (operators' tools).
    pub async fn list_users(&self) -> DomainResult<Vec<User>> {
        user::Entity::find()
            .order_by_asc(user::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_user)
            .collect()
    }

    /// The account behind `email` as a principal with a login session's rights, for the
    /// operator's CLI acting on a user's behalf (creating or listing the user's keys). The
    /// domain's own checks still apply to everything done with it.
    pub async fn operator_principal(&self, email: &str) -> DomainResult<Principal> {
        let user = self
            .user_by_email(email)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("user {email}")))?;
        Ok(Principal::User(Actor {
            user_id: user.id,
            tier: user.tier,
            roles: user.roles,
            credential: Credential::AccessToken {
                session: "operator".into(),
                factors: Factors::NONE,
            },
            scopes: Scopes::all(),
            groups: user.groups,
        }))
    }

    /// The account as admin, and whether it was created now (an existing account keeps its
    /// password: the one given is not used).
    pub async fn ensure_admin(&self, email: &str, password: &str) -> DomainResult<(User, bool)> {
        let email = normalize_email(email)?;
        if let Some(model) = self.find_by_email(&email).await? {
            let mut roles = Role::parse_list(&model.roles);
            let groups = Role::parse_groups(&model.roles);
            if !roles.contains(&Role::Admin) {
                roles.push(Role::Admin);
                let txn = self.db.begin().await?;
                user::Entity::update_many()
                    .col_expr(
                        user::Column::Roles,
                        Expr::value(Role::join_with_groups(&roles, &groups)),
                    )
                    .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
                    .filter(user::Column::Id.eq(&model.id))
                    .exec(&txn)
                    .await?;
                record_revocation(&txn, REVOKE_USER, &model.id).await?;
                txn.commit().await?;
                self.announce_revocations();
                self.user_cache.remove(&model.id);
            }
            let mut user = to_user(model)?;
            user.roles = roles;
            return Ok((user, false));
        }
        let session = self
            .create_user(
                SignUp {
                    email,
                    password: password.to_string(),
                    name: Some("Administrator".into()),
                },
                vec![Role::User, Role::Admin],
            )
            .await?;
        Ok((session.user, true))
    }

    pub async fn admin_exists(&self) -> DomainResult<bool> {
        Ok(user::Entity::find()
            .filter(user::Column::Roles.contains("admin"))
            .count(&self.db)
            .await?
            > 0)
    }

    /// Writes the batched `last_used_at` values.
    pub async fn flush_key_usage(&self) -> DomainResult<()> {
        let pending: Vec<(String, DateTime<Utc>)> = self
            .key_last_used
            .iter()
            .map(|e| (e.key().clone(), *e.value()))
            .collect();
        for (key_id, at) in pending {
            api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(at))
                .filter(api_key::Column::Id.eq(&key_id))
                .exec(&self.db)
                .await?;
            self.key_last_used.remove_if(&key_id, |_, v| *v == at);
        }
        Ok(())
    }

    /// A real round trip through the module: the key ring signs and verifies, the user
    /// table answers.
    pub async fn self_check(&self) -> bool {
        let signed = self
            .keys
            .issue("self-check", "self-check", Factors::PASSWORD)
            .and_then(|t| self.keys.verify(&t))
            .is_ok();
        signed && user::Entity::find().limit(1).all(&self.db).await.is_ok()
    }

    pub fn access_token_ttl(&self) -> i64 {
        self.keys.ttl_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "", "nobody", "a@b", "a b@c.d", "@x.io", "a@.io", "a@x.io.", "a@b@c.io",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(check_name("name", Some("  ".into()), 5).unwrap(), None);
        assert!(check_name("name", Some("x".repeat(6)), 5).is_err());
        assert!(check_name("name", Some("a\u{0}b".into()), 5).is_err());
        assert_eq!(
            check_name("name", Some(" Ada ".into()), 5)
                .unwrap()
                .as_deref(),
            Some("Ada")
        );
    }
}
