//! Identity in GraphQL: the viewer, API keys, sessions and the viewer's security events.

use super::scalars::DateTime;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, ID};
use futures::{Stream, StreamExt};

use super::errors::{to_gql, user_error, ErrorCode, UserError};
use super::{core, node, principal};
use crate::bus::Topic;
use crate::bus::{AccountEventKind, Event};
use crate::domain::identity::{self as identity, ApiKeyInfo, Principal, Scope, Session, SignUp};

const MAX_PAGE: usize = 100;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Tier {
    Free,
    Pro,
    Team,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
    Reviewer,
    Auditor,
}

impl From<identity::Tier> for Tier {
    fn from(t: identity::Tier) -> Self {
        match t {
            identity::Tier::Free => Tier::Free,
            identity::Tier::Pro => Tier::Pro,
            identity::Tier::Team => Tier::Team,
        }
    }
}

impl From<identity::Role> for Role {
    fn from(r: identity::Role) -> Self {
        match r {
            identity::Role::User => Role::User,
            identity::Role::Admin => Role::Admin,
            identity::Role::Reviewer => Role::Reviewer,
            identity::Role::Auditor => Role::Auditor,
        }
    }
}

pub struct User(pub identity::User);

#[derive(SimpleObject, Default)]
pub struct ConnectionTotal {
    /// How many items the whole connection holds.
    pub total_count: usize,
}

pub type ApiKeyConnection = Connection<String, ApiKey, ConnectionTotal, EmptyFields>;

pub type UserConnection = Connection<String, User, ConnectionTotal, EmptyFields>;

/// An account.
#[Object]
impl User {
    pub async fn id(&self) -> ID {
        node::encode("User", &self.0.id)
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn tier(&self) -> Tier {
        self.0.tier.into()
    }
    async fn roles(&self) -> Vec<Role> {
        self.0.roles.iter().map(|r| (*r).into()).collect()
    }
    /// Approver groups (names a policy's approval rule can ask for, e.g. `finance`).
    async fn groups(&self) -> &[String] {
        &self.0.groups
    }
    /// The account's Lambda ID (`ΛPRO-2026-0042`); the owner and administrators see it.
    async fn lambda_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        core(ctx)
            .identity
            .lambda_id(principal(ctx), &self.0.id)
            .await
            .map_err(to_gql)
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// The account's API keys (active and revoked), newest first.
    #[graphql(
        complexity = "first.or(last).unwrap_or(10).clamp(1, 100) as usize * child_complexity"
    )]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> async_graphql::Result<ApiKeyConnection> {
        let identity = &core(ctx).identity;
        let keys = match own(ctx, &self.0.id) {
            Ok(p) => identity.list_api_keys(p).await,
            // An administrator reads any account's keys (the domain checks the role).
            Err(_) => identity
                .admin_user(principal(ctx), &self.0.id)
                .await
                .map(|(_, keys)| keys),
        }
        .map_err(to_gql)?;
        paginate(
            keys.into_iter().map(ApiKey).collect(),
            after,
            before,
            first,
            last,
        )
    }

    /// This month's agent and chain executions against the tier's limit (the viewer's own
    /// account only; `null` for anyone else's).
    async fn usage(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::agents::Usage>> {
        super::agents::usage_of(ctx, &self.0.id).await
    }

    /// The paid subscription, if any (the viewer's own account only).
    async fn subscription(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::agents::BillingSubscription>> {
        super::agents::subscription_of(ctx, &self.0.id).await
    }

    /// The account's most recent security events, newest first (at most 100).
    async fn security_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, validator(minimum = 1, maximum = 100))] limit: i32,
    ) -> async_graphql::Result<Vec<AccountEvent>> {
        let events = core(ctx)
            .identity
            .account_events(own(ctx, &self.0.id)?, limit.unsigned_abs().into())
            .await
            .map_err(to_gql)?;
        Ok(events.into_iter().map(AccountEvent::from).collect())
    }
}

/// The caller's principal, if it is the owner of `user_id` (the domain checks again).
fn own<'a>(ctx: &'a Context<'_>, user_id: &str) -> async_graphql::Result<&'a Principal> {
    let p = principal(ctx);
    match p {
        Principal::User(actor) if actor.user_id == user_id => Ok(p),
        _ => Err(to_gql(crate::error::DomainError::NotFound("user".into()))),
    }
}

/// Relay pagination over an in-memory list; cursors are the items' positions.
pub fn paginate<T: async_graphql::OutputType>(
    items: Vec<T>,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> async_graphql::Result<Connection<String, T, ConnectionTotal, EmptyFields>> {
    let bad = |m: &str| super::errors::coded(m, ErrorCode::BadUserInput);
    let cursor = |c: Option<String>| -> async_graphql::Result<Option<usize>> {
        c.map(|c| c.parse::<usize>().map_err(|_| bad("invalid cursor")))
            .transpose()
    };
    let count = |n: Option<i32>, name: &str| -> async_graphql::Result<Option<usize>> {
        match n {
            Some(n) if !(0..=MAX_PAGE as i32).contains(&n) => {
                Err(bad(&format!("`{name}` must be between 0 and {MAX_PAGE}")))
            }
            other => Ok(other.map(|n| n as usize)),
        }
    };
    let (first, last) = (count(first, "first")?, count(last, "last")?);
    let total = items.len();
    let mut start = cursor(after)?.map(|a| a + 1).unwrap_or(0).min(total);
    let mut end = cursor(before)?.unwrap_or(total).min(total).max(start);
    if let Some(first) = first.or(if last.is_none() {
        Some(MAX_PAGE.min(50))
    } else {
        None
    }) {
        end = end.min(start + first);
    }
    if let Some(last) = last {
        start = start.max(end.saturating_sub(last));
    }
    let mut connection = Connection::with_additional_fields(
        start > 0,
        end < total,
        ConnectionTotal { total_count: total },
    );
    connection.edges.extend(
        items
            .into_iter()
            .enumerate()
            .skip(start)
            .take(end - start)
            .map(|(i, item)| Edge::new(i.to_string(), item)),
    );
    Ok(connection)
}

pub struct ApiKey(pub ApiKeyInfo);

/// An API key. The secret itself is only ever returned by `createApiKey`.
#[Object]
impl ApiKey {
    pub async fn id(&self) -> ID {
        node::encode("ApiKey", &self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The displayable start of the key.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at.map(Into::into)
    }
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(Into::into)
    }
    async fn is_active(&self) -> bool {
        self.0.is_active()
    }
    async fn scopes(&self) -> Vec<ApiKeyScope> {
        self.0.scopes.iter().map(Into::into).collect()
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AccountEventType {
    SignedUp,
    LoggedIn,
    LoginFailed,
    TokenRefreshed,
    /// A spent refresh token was presented again; the whole session family was revoked.
    RefreshTokenReused,
    ApiKeyCreated,
    ApiKeyRevoked,
    /// An admin changed the account's roles or tier.
    AccountUpdated,
    PasskeyRegistered,
    PasskeyRemoved,
    /// A session presented another factor (a passkey) and its tokens now say so.
    AssuranceRaised,
}

impl From<AccountEventKind> for AccountEventType {
    fn from(kind: AccountEventKind) -> Self {
        match kind {
            AccountEventKind::SignedUp => Self::SignedUp,
            AccountEventKind::LoggedIn => Self::LoggedIn,
            AccountEventKind::LoginFailed => Self::LoginFailed,
            AccountEventKind::TokenRefreshed => Self::TokenRefreshed,
            AccountEventKind::RefreshTokenReused => Self::RefreshTokenReused,
            AccountEventKind::ApiKeyCreated => Self::ApiKeyCreated,
            AccountEventKind::ApiKeyRevoked => Self::ApiKeyRevoked,
            AccountEventKind::AccountUpdated => Self::AccountUpdated,
            AccountEventKind::PasskeyRegistered => Self::PasskeyRegistered,
            AccountEventKind::PasskeyRemoved => Self::PasskeyRemoved,
            AccountEventKind::AssuranceRaised => Self::AssuranceRaised,
        }
    }
}

/// A security event of the viewer's account.
#[derive(SimpleObject)]
pub struct AccountEvent {
    pub id: ID,
    #[graphql(name = "type")]
    pub kind: AccountEventType,
    pub occurred_at: DateTime,
    /// Event details (for example the key's prefix).
    pub detail: async_graphql::Json<serde_json::Value>,
}

impl From<crate::bus::AccountEvent> for AccountEvent {
    fn from(e: crate::bus::AccountEvent) -> Self {
        Self {
            id: ID(e.id),
            kind: e.kind.into(),
            occurred_at: e.at.into(),
            detail: async_graphql::Json(e.detail),
        }
    }
}

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// The authenticated account, or `null` for anonymous requests.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match principal(ctx) {
            Principal::Anonymous => Ok(None),
            p => core(ctx)
                .identity
                .me(p)
                .await
                .map(|u| Some(User(u)))
                .map_err(to_gql),
        }
    }

    /// Every account, newest first (administrators only): `email` matches a part of the
    /// address.
    #[graphql(complexity = "first.unwrap_or(10).clamp(1, 100) as usize * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        email: Option<String>,
        tier: Option<Tier>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<UserConnection> {
        let p = require_user(ctx)?;
        let (first, offset) = super::paging::window(first, after)?;
        let (users, total) = core(ctx)
            .identity
            .admin_users(
                p,
                identity::UserFilter {
                    email,
                    tier: tier.map(|t| identity::Tier::from(t).as_str().to_string()),
                    limit: Some(first as i64),
                    offset: Some(offset as i64),
                },
            )
            .await
            .map_err(to_gql)?;
        let users = users.into_iter().map(|(u, _)| User(u)).collect();
        Ok(super::paging::connection(users, offset, total))
    }

    /// Any object by its global id; `null` when it does not exist or is not yours.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<node::Node>> {
        node::resolve(ctx, &id).await
    }
}

#[derive(InputObject)]
pub struct SignUpInput {
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct LogInInput {
    pub email: String,
    pub password: String,
    /// A second factor: a passkey's WebAuthn assertion (JSON, or its base64) answering
    /// `beginPasskeyAuthentication`'s challenge.
    pub passkey_assertion: Option<String>,
}

#[derive(InputObject)]
pub struct RefreshTokenInput {
    pub refresh_token: String,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// At most 64 characters; defaults to "Default".
    pub name: Option<String>,
    /// What the key may do, within what you may do. Default: everything you may do except
    /// ADMIN and TERMINAL_EXECUTE.
    pub scopes: Option<Vec<ApiKeyScope>>,
}

/// What an API key may do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::identity::Scope")]
pub enum ApiKeyScope {
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

#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    /// The key's global id.
    pub id: ID,
}

/// The result of signUp, logIn and refreshToken.
#[derive(SimpleObject, Default)]
pub struct AuthPayload {
    /// Access token (JWT) for `Authorization: Bearer`.
    pub access_token: Option<String>,
    /// Opaque refresh token; it rotates on every use.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: Option<i64>,
    pub viewer: Option<User>,
    pub user_errors: Vec<UserError>,
}

impl AuthPayload {
    fn from_result(
        result: Result<Session, crate::error::DomainError>,
    ) -> async_graphql::Result<Self> {
        match result {
            Ok(s) => Ok(Self {
                access_token: Some(s.access_token),
                refresh_token: Some(s.refresh_token),
                expires_in: Some(s.expires_in),
                viewer: Some(User(s.user)),
                user_errors: vec![],
            }),
            Err(crate::error::DomainError::Unauthenticated(message)) => Ok(Self {
                user_errors: vec![UserError {
                    field: None,
                    code: ErrorCode::InvalidCredentials,
                    message,
                }],
                ..Self::default()
            }),
            Err(err) => Ok(Self {
                user_errors: vec![user_error(err)?],
                ..Self::default()
            }),
        }
    }
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    /// The user's global id.
    pub id: ID,
    /// The complete new role list (`USER` is always kept).
    pub roles: Option<Vec<Role>>,
    /// The complete new list of approver groups (lowercase names such as `finance`).
    pub groups: Option<Vec<String>>,
    pub tier: Option<Tier>,
}

#[derive(SimpleObject, Default)]
pub struct UpdateUserPayload {
    pub user: Option<User>,
    pub user_errors: Vec<UserError>,
}

impl From<Role> for identity::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::User => identity::Role::User,
            Role::Admin => identity::Role::Admin,
            Role::Reviewer => identity::Role::Reviewer,
            Role::Auditor => identity::Role::Auditor,
        }
    }
}

impl From<Tier> for identity::Tier {
    fn from(t: Tier) -> Self {
        match t {
            Tier::Free => identity::Tier::Free,
            Tier::Pro => identity::Tier::Pro,
            Tier::Team => identity::Tier::Team,
        }
    }
}

#[derive(SimpleObject, Default)]
pub struct CreateApiKeyPayload {
    pub api_key: Option<ApiKey>,
    /// The full key. It is returned only here, once; store it securely.
    pub secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct RevokeApiKeyPayload {
    pub api_key: Option<ApiKey>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct IdentityMutation;

pub(crate) fn require_user<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Principal> {
    let p = principal(ctx);
    p.actor().map_err(to_gql)?;
    Ok(p)
}

#[Object]
impl IdentityMutation {
    /// Creates an account and logs it in.
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        input: SignUpInput,
    ) -> async_graphql::Result<AuthPayload> {
        super::credential_gate(ctx).await?;
        let result = core(ctx)
            .identity
            .sign_up(SignUp {
                email: input.email,
                password: input.password,
                name: input.name,
            })
            .await;
        AuthPayload::from_result(result)
    }

    /// Logs in with email and password, and optionally a passkey as the second factor.
    async fn log_in(
        &self,
        ctx: &Context<'_>,
        input: LogInInput,
    ) -> async_graphql::Result<AuthPayload> {
        super::credential_gate(ctx).await?;
        let mut payload = AuthPayload::from_result(
            core(ctx)
                .identity
                .log_in_with(
                    &input.email,
                    &input.password,
                    input.passkey_assertion.as_deref(),
                )
                .await,
        )?;
        for error in &mut payload.user_errors {
            if error.field.as_deref() == Some("biometricData") {
                error.field = Some("passkeyAssertion".into());
            }
        }
        Ok(payload)
    }

    /// Exchanges a refresh token for a new pair. Presenting a spent token revokes the session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        input: RefreshTokenInput,
    ) -> async_graphql::Result<AuthPayload> {
        super::credential_gate(ctx).await?;
        AuthPayload::from_result(core(ctx).identity.refresh(&input.refresh_token).await)
    }

    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        match core(ctx)
            .identity
            .create_api_key(
                require_user(ctx)?,
                input.name,
                input.scopes.map(|scopes| {
                    scopes
                        .into_iter()
                        .map(|s| Scope::from(s).as_str().to_string())
                        .collect()
                }),
            )
            .await
        {
            Ok(created) => Ok(CreateApiKeyPayload {
                api_key: Some(ApiKey(created.info)),
                secret: Some(created.key),
                user_errors: vec![],
            }),
            Err(err) => Ok(CreateApiKeyPayload {
                user_errors: vec![user_error(err)?],
                ..Default::default()
            }),
        }
    }

    /// Sets a user's roles, approver groups and tier (admins only).
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        input: UpdateUserInput,
    ) -> async_graphql::Result<UpdateUserPayload> {
        let p = require_user(ctx)?;
        let raw = match node::decode(&input.id) {
            Some((kind, raw)) if kind == "User" => raw,
            _ => String::new(),
        };
        let change = identity::AccountChange {
            roles: input.roles.map(|r| r.into_iter().map(Into::into).collect()),
            groups: input.groups,
            tier: input.tier.map(Into::into),
        };
        match core(ctx).identity.update_user(p, &raw, change).await {
            Ok(user) => Ok(UpdateUserPayload {
                user: Some(User(user)),
                user_errors: vec![],
            }),
            Err(err) => Ok(UpdateUserPayload {
                user: None,
                user_errors: vec![user_error(err)?],
            }),
        }
    }

    /// Revokes one of your API keys; it stops working at once.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> async_graphql::Result<RevokeApiKeyPayload> {
        let p = require_user(ctx)?;
        let raw = match node::decode(&input.id) {
            Some((kind, raw)) if kind == "ApiKey" => raw,
            _ => String::new(),
        };
        match core(ctx).identity.revoke_api_key(p, &raw).await {
            Ok(info) => Ok(RevokeApiKeyPayload {
                api_key: Some(ApiKey(info)),
                user_errors: vec![],
            }),
            Err(crate::error::DomainError::NotFound(_)) => Ok(RevokeApiKeyPayload {
                api_key: None,
                user_errors: vec![UserError {
                    field: Some("id".into()),
                    code: ErrorCode::NotFound,
                    message: "API key not found".into(),
                }],
            }),
            Err(err) => Ok(RevokeApiKeyPayload {
                api_key: None,
                user_errors: vec![user_error(err)?],
            }),
        }
    }
}

#[derive(Default)]
pub struct IdentitySubscription;

#[Subscription]
impl IdentitySubscription {
    /// The viewer's own security events as they happen (key created/revoked, logins,
    /// refresh-token reuse). Requires authentication in `connection_init`.
    async fn account_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = AccountEvent>> {
        let actor = principal(ctx).actor().map_err(to_gql)?;
        let user_id = actor.user_id.clone();
        let events = core(ctx).bus.subscribe_to(Topic::Account);
        Ok(events.filter_map(move |event| {
            let item = match event {
                Event::Account(e) if e.user_id == user_id => Some(AccountEvent::from(e)),
                _ => None,
            };
            async move { item }
        }))
    }
}
