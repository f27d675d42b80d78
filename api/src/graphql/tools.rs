//! The tool catalog in GraphQL: `tools`, `tool` and `registerTool` (administrators).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::core;
use super::errors::{to_gql, user_error, UserError};
use super::identity::{require_user, ConnectionTotal};
use super::scalars::DateTime;
use crate::domain::governance::tools::{self as domain, NewTool};

/// A registered tool: decisions naming it are judged at least at its risk level, with its
/// data classes.
#[derive(SimpleObject)]
pub struct Tool {
    /// `tool_…`.
    id: String,
    name: String,
    description: String,
    /// 1 to 5.
    risk_level: u8,
    data_classes: Vec<String>,
    registered_by: String,
    created_at: DateTime,
}

impl From<domain::Tool> for Tool {
    fn from(t: domain::Tool) -> Self {
        Self {
            id: t.id,
            name: t.name,
            description: t.description,
            risk_level: t.risk_level,
            data_classes: t.data_classes,
            registered_by: t.registered_by,
            created_at: DateTime(t.created_at),
        }
    }
}

pub type ToolConnection = Connection<String, Tool, ConnectionTotal, EmptyFields>;

#[derive(Default)]
pub struct ToolQuery;

#[Object]
impl ToolQuery {
    /// The tool catalog, newest first (needs `governance:read`).
    #[graphql(complexity = "first.unwrap_or(10).clamp(1, 100) as usize * child_complexity")]
    async fn tools(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ToolConnection> {
        let p = require_user(ctx)?;
        let (first, offset) = super::paging::window(first, after)?;
        let core = core(ctx);
        let (tools, total) = core
            .governance
            .tools()
            .list(&core.db, p, Some(first as i64), Some(offset as i64))
            .await
            .map_err(to_gql)?;
        let tools = tools.into_iter().map(Tool::from).collect();
        Ok(super::paging::connection(tools, offset, total))
    }

    /// One tool by its id or name; null when there is none.
    async fn tool(
        &self,
        ctx: &Context<'_>,
        id_or_name: String,
    ) -> async_graphql::Result<Option<Tool>> {
        let p = require_user(ctx)?;
        let core = core(ctx);
        match core.governance.tools().get(&core.db, p, &id_or_name).await {
            Ok(tool) => Ok(Some(tool.into())),
            Err(crate::error::DomainError::NotFound(_)) => Ok(None),
            Err(err) => Err(to_gql(err)),
        }
    }
}

#[derive(InputObject)]
pub struct RegisterToolInput {
    /// The name decisions use as their `tool`.
    name: String,
    description: Option<String>,
    /// 1 (harmless) to 5 (critical).
    risk_level: i32,
    /// Data classes the tool touches.
    data_classes: Option<Vec<String>>,
}

#[derive(SimpleObject, Default)]
pub struct ToolPayload {
    tool: Option<Tool>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ToolMutation;

#[Object]
impl ToolMutation {
    /// Registers a tool (administrators only); a taken name is a `CONFLICT` user error.
    async fn register_tool(
        &self,
        ctx: &Context<'_>,
        input: RegisterToolInput,
    ) -> async_graphql::Result<ToolPayload> {
        let p = require_user(ctx)?;
        let core = core(ctx);
        let result = core
            .governance
            .tools()
            .register(
                &core.db,
                p,
                NewTool {
                    name: input.name,
                    description: input.description,
                    risk_level: i64::from(input.risk_level),
                    data_classes: input.data_classes.unwrap_or_default(),
                },
            )
            .await;
        Ok(match result {
            Ok(tool) => ToolPayload {
                tool: Some(tool.into()),
                user_errors: vec![],
            },
            Err(err) => ToolPayload {
                tool: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}
