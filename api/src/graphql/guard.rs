//! Request guard: alias limit, error codes for the built-in depth/complexity limits, and
//! query cost — reported in `extensions.cost` and charged against the caller's rate limit.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    ErrorExtensionValues, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use super::errors::ErrorCode;
use super::limits::{
    check_arguments, check_depth, check_source, find_int_out_of_range, ArgumentProblem,
    DepthLimits, SourceError,
};
use super::transport::{BodyChecked, OverGet};
use crate::domain::identity::Principal;
use crate::http::auth::{budget, ClientIp};
use crate::state::Core;
use async_graphql::parser::types::OperationType;

/// Complexity points per unit of rate-limit cost: a small query costs 1, like a REST call.
const COMPLEXITY_PER_COST: usize = 10;

pub struct Guard;

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension::default())
    }
}

#[derive(Default)]
struct GuardExtension {
    cost: Mutex<Option<(usize, u32)>>,
}

fn error(message: String, code: ErrorCode) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    err.extensions = Some(extensions);
    err
}

/// An error about one argument, named in `extensions.field`.
fn field_error(message: String, code: ErrorCode, field: String) -> ServerError {
    let mut err = error(message, code);
    err.extensions
        .get_or_insert_with(Default::default)
        .set("field", field);
    err
}

fn count_aliases(set: &SelectionSet, doc: &ExecutableDocument, depth: usize) -> usize {
    if depth > 64 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node, doc, depth + 1)
            }
            Selection::InlineFragment(fragment) => {
                count_aliases(&fragment.node.selection_set.node, doc, depth + 1)
            }
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .map(|f| count_aliases(&f.node.selection_set.node, doc, depth + 1))
                .unwrap_or(0),
        })
        .sum()
}

/// Gives the built-in validation errors a documented code.
fn code_validation_error(mut err: ServerError) -> ServerError {
    let code = if err.message.contains("nested too deep") {
        ErrorCode::QueryTooDeep
    } else {
        ErrorCode::GraphqlValidationFailed
    };
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    err
}

/// Every error a client gets carries a code: those async-graphql raises while coercing an
/// argument (`Failed to parse "Int"…`) are the caller's input; anything else uncoded is ours.
fn code_execution_error(err: &mut ServerError) {
    let extensions = err.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_some() {
        return;
    }
    let code = if err.message.starts_with("Failed to parse")
        || err.message.starts_with("Invalid value for argument")
    {
        ErrorCode::BadUserInput
    } else if err.message.starts_with("Subscriptions are not supported") {
        // A subscription sent over HTTP: the request is wrong, not the server.
        ErrorCode::GraphqlValidationFailed
    } else {
        ErrorCode::InternalServerError
    };
    extensions.set("code", code.as_str());
}

/// Mutations that only exchange credentials: how an administrator reaches the
/// maintenance switch, so they stay open while maintenance is on.
const LOGIN_MUTATIONS: [&str; 3] = ["logIn", "refreshToken", "beginPasskeyAuthentication"];

/// Whether the document holds a mutation beyond logging in.
fn changes_anything(doc: &ExecutableDocument) -> bool {
    doc.operations.iter().any(|(_, op)| {
        op.node.ty == OperationType::Mutation
            && op.node.selection_set.node.items.iter().any(|item| {
                !matches!(&item.node, Selection::Field(f)
                    if LOGIN_MUTATIONS.contains(&f.node.name.node.as_str()))
            })
    })
}

pub fn cost_of(complexity: usize) -> u32 {
    complexity.div_ceil(COMPLEXITY_PER_COST).max(1) as u32
}

#[async_trait::async_trait]
impl Extension for GuardExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for err in &mut response.errors {
            code_execution_error(err);
        }
        if let Some((complexity, cost)) = *self.cost.lock().expect("cost lock") {
            response.extensions.insert(
                "cost".into(),
                Value::from_json(serde_json::json!({ "complexity": complexity, "charged": cost }))
                    .unwrap_or(Value::Null),
            );
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limits = &ctx.data_unchecked::<Arc<Core>>().config.graphql;
        // Before the parser sees it: the parser recurses once per bracket.
        check_source(query, limits.max_query_bytes, limits.max_nesting).map_err(|err| match err {
            SourceError::TooLarge { bytes, max } => error(
                format!("the query is {bytes} bytes; at most {max} are allowed"),
                ErrorCode::QueryTooLarge,
            ),
            SourceError::TooDeep { max } => error(
                format!("the query nests brackets (selections, lists, objects, arguments) more than {max} levels deep"),
                ErrorCode::QueryTooDeep,
            ),
        })?;
        let doc = next.run(ctx, query, variables).await.map_err(|mut err| {
            let code = if err.message.starts_with("The recursion depth") {
                ErrorCode::QueryTooDeep
            } else {
                ErrorCode::GraphqlParseFailed
            };
            err.extensions
                .get_or_insert_with(Default::default)
                .set("code", code.as_str());
            err
        })?;
        let depth_limits = DepthLimits {
            max: limits.max_depth,
            introspection_max: limits.max_introspection_depth,
        };
        check_depth(&doc, &depth_limits).map_err(|too_deep| {
            let what = if too_deep.introspection {
                "introspection query"
            } else {
                "query"
            };
            error(
                format!(
                    "the {what} is nested too deep: {} levels of fields, at most {} are allowed",
                    too_deep.depth, too_deep.max
                ),
                ErrorCode::QueryTooDeep,
            )
        })?;
        if ctx.data_opt::<OverGet>().is_some()
            && doc
                .operations
                .iter()
                .any(|(_, op)| op.node.ty != OperationType::Query)
        {
            return Err(error(
                "only queries are accepted over GET; send mutations and subscriptions with POST (or a WebSocket)".into(),
                ErrorCode::GraphqlValidationFailed,
            ));
        }
        let unchecked = ctx.data_opt::<BodyChecked>().is_none().then_some(variables);
        match check_arguments(&doc, unchecked) {
            Some(ArgumentProblem::Nul(field)) => {
                return Err(field_error(
                    format!("{field} must not contain the NUL character (U+0000)"),
                    ErrorCode::BadUserInput,
                    field,
                ));
            }
            Some(ArgumentProblem::NotBoolean(field)) => {
                return Err(field_error(
                    format!("{field} must be a Boolean (true or false) or a variable"),
                    ErrorCode::GraphqlValidationFailed,
                    field,
                ));
            }
            None => {}
        }
        if let Some(field) = find_int_out_of_range(&doc, &ctx.schema_env.registry) {
            return Err(field_error(
                format!("{field} must be an Int from -2147483648 to 2147483647 (GraphQL's Int is 32-bit)"),
                ErrorCode::GraphqlValidationFailed,
                field,
            ));
        }
        let max = limits.max_aliases;
        let aliases: usize = doc
            .operations
            .iter()
            .map(|(_, op)| count_aliases(&op.node.selection_set.node, &doc, 0))
            .sum();
        if aliases > max {
            return Err(error(
                format!("the query uses {aliases} aliases; at most {max} are allowed"),
                ErrorCode::TooManyAliases,
            ));
        }
        let core = ctx.data_unchecked::<Arc<Core>>();
        if core.maintenance.is_on() && changes_anything(&doc) {
            let principal = ctx.data_opt::<Principal>().unwrap_or(&Principal::Anonymous);
            if let Err(err) = core.maintenance.admits(principal) {
                return Err(error(err.to_string(), ErrorCode::ServiceUnavailable));
            }
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await.map_err(|errs| {
            errs.into_iter()
                .map(code_validation_error)
                .collect::<Vec<_>>()
        })?;
        let core = ctx.data_unchecked::<Arc<Core>>();
        // Checked here rather than by async-graphql's `limit_complexity`, whose error says
        // only "Query is too complex." without the cost, the limit or what to change.
        let max = core.config.graphql.max_complexity;
        if result.complexity > max {
            let mut err = error(
                format!(
                    "the query's complexity is {}; at most {max} is allowed. Ask for fewer items per page (`first`/`last`: each listed field counts once per item) or fewer fields, and fetch further pages with `after`",
                    result.complexity
                ),
                ErrorCode::QueryTooComplex,
            );
            let extensions = err.extensions.get_or_insert_with(Default::default);
            extensions.set("complexity", result.complexity as u64);
            extensions.set("maxComplexity", max as u64);
            return Err(vec![err]);
        }
        let principal = ctx
            .data_opt::<Principal>()
            .cloned()
            .unwrap_or(Principal::Anonymous);
        let ip = ctx
            .data_opt::<ClientIp>()
            .map(|c| c.0)
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let cost = cost_of(result.complexity);
        *self.cost.lock().expect("cost lock") = Some((result.complexity, cost));
        let (key, quota) = budget(core, &principal, ip);
        let decision = match core.limiter.check(&key, quota, cost).await {
            Ok(decision) => decision,
            Err(err) => return Err(vec![error(err.to_string(), ErrorCode::ServiceUnavailable)]),
        };
        if !decision.allowed {
            let mut err = error(
                format!(
                    "rate limit exceeded: this query costs {cost}; retry in {} s",
                    decision.info.retry_after.as_secs().max(1)
                ),
                ErrorCode::RateLimited,
            );
            err.extensions
                .get_or_insert_with(Default::default)
                .set("retryAfter", decision.info.retry_after.as_secs().max(1));
            return Err(vec![err]);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cost_rounds_up_from_one() {
        assert_eq!(super::cost_of(0), 1);
        assert_eq!(super::cost_of(3), 1);
        assert_eq!(super::cost_of(10), 1);
        assert_eq!(super::cost_of(11), 2);
    }
}
