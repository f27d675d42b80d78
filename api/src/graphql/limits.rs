//! Limits checked on the query text and the parsed document, before anything recursive
//! (the pest parser, validation, value coercion) can go deep.
//!
//! Every kind of GraphQL nesting — selection sets, list and object values, argument and
//! directive lists — needs an opening bracket, so bounding bracket depth on the raw text
//! bounds every recursion that follows. Strings, block strings and comments are skipped so
//! their contents never count.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Value as ConstValue, Variables};
use async_graphql_value::Value as ParserValue;

/// Why a query text was refused before parsing.
#[derive(Debug, PartialEq, Eq)]
pub enum SourceError {
    TooLarge { bytes: usize, max: usize },
    TooDeep { max: usize },
}

/// Checks the size of `query` and the nesting of its brackets, in one linear pass.
pub fn check_source(query: &str, max_bytes: usize, max_nesting: usize) -> Result<(), SourceError> {
    if query.len() > max_bytes {
        return Err(SourceError::TooLarge {
            bytes: query.len(),
            max: max_bytes,
        });
    }
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max_nesting {
                    return Err(SourceError::TooDeep { max: max_nesting });
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Field depth of every operation, counted as async-graphql counts it (each field is one
/// level; fragments add none). Introspection subtrees (`__schema`, `__type`) are measured
/// against their own limit: the introspection query every GraphQL tool sends nests type
/// references deeper than an application query needs to, and its cost is bounded by the
/// schema, not by data.
pub struct DepthLimits {
    pub max: usize,
    pub introspection_max: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub struct TooDeep {
    pub depth: usize,
    pub max: usize,
    pub introspection: bool,
}

struct DepthWalk<'a> {
    doc: &'a ExecutableDocument,
    /// Fragment name → the depth its selection adds; `None` while being measured (a
    /// cycle, which validation reports; here it adds nothing). Memoized so a fragment
    /// spread many times is measured once.
    memo: HashMap<&'a str, Option<usize>>,
}

impl<'a> DepthWalk<'a> {
    /// The deepest field level below `set`, relative to it.
    fn set_depth(&mut self, set: &'a SelectionSet) -> usize {
        let mut deepest = 0;
        for item in &set.items {
            let depth = match &item.node {
                Selection::Field(field) => 1 + self.set_depth(&field.node.selection_set.node),
                Selection::InlineFragment(fragment) => {
                    self.set_depth(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment_depth(spread.node.fragment_name.node.as_str())
                }
            };
            deepest = deepest.max(depth);
        }
        deepest
    }

    fn fragment_depth(&mut self, name: &'a str) -> usize {
        match self.memo.get(name) {
            Some(Some(depth)) => return *depth,
            Some(None) => return 0,
            None => {}
        }
        let Some((key, fragment)) = self.doc.fragments.get_key_value(name) else {
            return 0;
        };
        let key = key.as_str();
        self.memo.insert(key, None);
        let depth = self.set_depth(&fragment.node.selection_set.node);
        self.memo.insert(key, Some(depth));
        depth
    }

    /// The deepest application and introspection field levels of a root selection set
    /// (`__schema` and `__type` exist only on the query root, so that is where the
    /// introspection subtrees start).
    fn root_depths(&mut self, set: &'a SelectionSet, seen: &mut Vec<&'a str>) -> (usize, usize) {
        let (mut app, mut introspection) = (0, 0);
        for item in &set.items {
            let (a, i) = match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name == "__schema" || name == "__type" {
                        (0, 1 + self.set_depth(&field.node.selection_set.node))
                    } else {
                        (1 + self.set_depth(&field.node.selection_set.node), 0)
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.root_depths(&fragment.node.selection_set.node, seen)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.doc.fragments.get_key_value(name) {
                        Some((key, fragment)) if !seen.contains(&key.as_str()) => {
                            seen.push(key.as_str());
                            let depths = self.root_depths(&fragment.node.selection_set.node, seen);
                            seen.pop();
                            depths
                        }
                        _ => (0, 0),
                    }
                }
            };
            app = app.max(a);
            introspection = introspection.max(i);
        }
        (app, introspection)
    }
}

pub fn check_depth(doc: &ExecutableDocument, limits: &DepthLimits) -> Result<(), TooDeep> {
    let mut walk = DepthWalk {
        doc,
        memo: HashMap::new(),
    };
    for (_, operation) in doc.operations.iter() {
        let (app, introspection) =
            walk.root_depths(&operation.node.selection_set.node, &mut Vec::new());
        if app > limits.max {
            return Err(TooDeep {
                depth: app,
                max: limits.max,
                introspection: false,
            });
        }
        if introspection > limits.introspection_max {
            return Err(TooDeep {
                depth: introspection,
                max: limits.introspection_max,
                introspection: true,
            });
        }
    }
    Ok(())
}

/// What [`check_arguments`] refuses, with the argument named as a client would name it
/// (`$variable.path`, `field.argument.path` or `@directive.argument`).
#[derive(Debug, PartialEq, Eq)]
pub enum ArgumentProblem {
    /// A NUL character (U+0000): such text cannot be stored on PostgreSQL, so it is
    /// refused on every database before execution.
    Nul(String),
    /// `@include`/`@skip` with an `if` that is neither a Boolean nor a variable
    /// (async-graphql's validation lets it through and execution then answers
    /// `{"data": null}` with no error).
    NotBoolean(String),
}

/// `variables` is `None` when they were checked already (a POST body is checked for NUL as
/// JSON before it is parsed as a GraphQL request).
pub fn check_arguments(
    doc: &ExecutableDocument,
    variables: Option<&Variables>,
) -> Option<ArgumentProblem> {
    for (name, value) in variables.into_iter().flat_map(|v| v.iter()) {
        if let Some(path) = nul_in_value(value, format!("${name}")) {
            return Some(ArgumentProblem::Nul(path));
        }
    }
    let mut sets: Vec<&SelectionSet> = doc
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .collect();
    sets.extend(doc.fragments.values().map(|f| &f.node.selection_set.node));
    // An explicit stack: the document's nesting is bounded already, but this needs no
    // recursion at all.
    while let Some(set) = sets.pop() {
        for item in &set.items {
            let (directives, child) = match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    for (arg, value) in &field.node.arguments {
                        if let Some(path) =
                            nul_in_argument(&value.node, format!("{name}.{}", arg.node))
                        {
                            return Some(ArgumentProblem::Nul(path));
                        }
                    }
                    (&field.node.directives, Some(&field.node.selection_set.node))
                }
                Selection::InlineFragment(fragment) => (
                    &fragment.node.directives,
                    Some(&fragment.node.selection_set.node),
                ),
                Selection::FragmentSpread(spread) => (&spread.node.directives, None),
            };
            for directive in directives {
                let directive_name = directive.node.name.node.as_str();
                for (arg, value) in &directive.node.arguments {
                    let path = format!("@{directive_name}.{}", arg.node);
                    let conditional = matches!(directive_name, "include" | "skip");
                    if conditional
                        && arg.node == "if"
                        && !matches!(
                            value.node,
                            ParserValue::Boolean(_) | ParserValue::Variable(_)
                        )
                    {
                        return Some(ArgumentProblem::NotBoolean(path));
                    }
                    if let Some(path) = nul_in_argument(&value.node, path) {
                        return Some(ArgumentProblem::Nul(path));
                    }
                }
            }
            sets.extend(child);
        }
    }
    None
}

/// The first `Int` literal outside 32 bits, as `field.argument[.path]`. GraphQL's `Int` is
/// 32-bit; async-graphql's validation checks only that such a literal is integral and
/// leaves the range to coercion at execution, which never happens for a field that is
/// not reached (a fragment on another type, a null parent), so the query passed silently.
pub fn find_int_out_of_range(doc: &ExecutableDocument, registry: &Registry) -> Option<String> {
    let mut stack: Vec<(&SelectionSet, &str)> = Vec::new();
    for (_, operation) in doc.operations.iter() {
        let root = match operation.node.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        if let Some(root) = root {
            stack.push((&operation.node.selection_set.node, root));
        }
    }
    for fragment in doc.fragments.values() {
        let on = fragment.node.type_condition.node.on.node.as_str();
        stack.push((&fragment.node.selection_set.node, on));
    }
    while let Some((set, parent)) = stack.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let Some(meta) = registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(name))
                    else {
                        continue;
                    };
                    for (arg, value) in &field.node.arguments {
                        let Some(input) = meta.args.get(arg.node.as_str()) else {
                            continue;
                        };
                        let path = format!("{name}.{}", arg.node);
                        if let Some(path) = int_out_of_range(&value.node, &input.ty, registry, path)
                        {
                            return Some(path);
                        }
                    }
                    let child = MetaTypeName::concrete_typename(&meta.ty);
                    stack.push((&field.node.selection_set.node, child));
                }
                Selection::InlineFragment(fragment) => {
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .unwrap_or(parent);
                    stack.push((&fragment.node.selection_set.node, on));
                }
                // Named fragments are walked on their own, from their type condition.
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    None
}

/// Recursion bounded by the value's nesting, which [`check_source`] bounded.
fn int_out_of_range(
    value: &ParserValue,
    ty: &str,
    registry: &Registry,
    path: String,
) -> Option<String> {
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => int_out_of_range(value, inner, registry, path),
        MetaTypeName::List(inner) => match value {
            ParserValue::List(items) => items.iter().enumerate().find_map(|(i, item)| {
                int_out_of_range(item, inner, registry, format!("{path}[{i}]"))
            }),
            // A single value where a list is expected is a list of one.
            other => int_out_of_range(other, inner, registry, path),
        },
        MetaTypeName::Named("Int") => match value {
            ParserValue::Number(n)
                if (n.is_i64() || n.is_u64())
                    && n.as_i64().and_then(|i| i32::try_from(i).ok()).is_none() =>
            {
                Some(path)
            }
            _ => None,
        },
        MetaTypeName::Named(name) => {
            let (Some(MetaType::InputObject { input_fields, .. }), ParserValue::Object(map)) =
                (registry.types.get(name), value)
            else {
                return None;
            };
            map.iter().find_map(|(key, item)| {
                let field = input_fields.get(key.as_str())?;
                int_out_of_range(item, &field.ty, registry, format!("{path}.{key}"))
            })
        }
    }
}

fn nul_in_argument(value: &ParserValue, path: String) -> Option<String> {
    // Variables are checked on their own; here they stand in as null.
    let value = value
        .clone()
        .into_const_with(|_| Ok::<_, std::convert::Infallible>(ConstValue::Null))
        .ok()?;
    nul_in_value(&value, path)
}

fn nul_in_value(value: &ConstValue, path: String) -> Option<String> {
    crate::http::text::find_nul(&value.clone().into_json().ok()?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }

    #[test]
    fn refuses_deep_nesting_of_every_kind() {
        let lists = format!(
            "{{ __typename @include(if: {}) }}",
            nested("[", "true", "]", 10_000)
        );
        let objects = format!("{{ a(x: {}) }}", nested("{a:", "1", "}", 10_000));
        let selections = nested("{ a ", "b", "}", 10_000);
        for query in [lists, objects, selections] {
            assert_eq!(
                check_source(&query, usize::MAX, 32),
                Err(SourceError::TooDeep { max: 32 })
            );
        }
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let query = format!(
            "{{ a(s: \"{}\", b: \"\"\"{} \\\"\"\" {}\"\"\") # {}\n }}",
            "[".repeat(100),
            "{".repeat(100),
            "(".repeat(100),
            "{".repeat(100)
        );
        assert_eq!(check_source(&query, usize::MAX, 4), Ok(()));
        assert_eq!(
            check_source("{ a(s: \"\\\"[[[[[\") }", usize::MAX, 2),
            Ok(()),
            "an escaped quote does not end the string"
        );
    }

    #[test]
    fn refuses_oversize_queries() {
        assert_eq!(
            check_source(&"a".repeat(11), 10, 32),
            Err(SourceError::TooLarge { bytes: 11, max: 10 })
        );
    }

    fn depth_of(query: &str, max: usize, introspection_max: usize) -> Result<(), TooDeep> {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        check_depth(
            &doc,
            &DepthLimits {
                max,
                introspection_max,
            },
        )
    }

    #[test]
    fn counts_fields_through_fragments() {
        assert!(depth_of("{ a { b { c } } }", 3, 3).is_ok());
        assert_eq!(
            depth_of("{ a { b { c } } }", 2, 9),
            Err(TooDeep {
                depth: 3,
                max: 2,
                introspection: false
            })
        );
        assert!(depth_of("{ a { ...F } } fragment F on T { b { c } }", 2, 9).is_err());
        assert!(depth_of("{ a { ...F } } fragment F on T { b { c } }", 3, 9).is_ok());
        assert!(
            depth_of("{ a { ...F } } fragment F on T { b ...F }", 3, 9).is_ok(),
            "a fragment cycle (refused by validation) does not loop"
        );
    }

    #[test]
    fn introspection_has_its_own_limit() {
        let deep_types = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
        assert!(depth_of(deep_types, 5, 16).is_ok());
        assert!(depth_of(deep_types, 5, 8).unwrap_err().introspection);
        assert!(depth_of("{ a { b { c { d { e { f } } } } } }", 5, 16).is_err());
    }

    #[test]
    fn finds_nul_and_non_boolean_conditions() {
        let check = |query: &str, variables: serde_json::Value| {
            let doc = async_graphql::parser::parse_query(query).unwrap();
            let variables = Variables::from_json(variables);
            check_arguments(&doc, Some(&variables))
        };
        let none = serde_json::json!({});
        assert_eq!(
            check("{ a(x: {k: [\"ok\", \"b\\u0000\"]}) }", none.clone()),
            Some(ArgumentProblem::Nul("a.x.k[1]".into()))
        );
        assert_eq!(
            check(
                "query($v: In) { a(x: $v) }",
                serde_json::json!({"v": {"k": "\u{0}"}})
            ),
            Some(ArgumentProblem::Nul("$v.k".into()))
        );
        assert_eq!(
            check("{ a @include(if: \"yes\") }", none.clone()),
            Some(ArgumentProblem::NotBoolean("@include.if".into()))
        );
        assert_eq!(
            check("{ ... on Q @skip(if: 1) { a } }", none.clone()),
            Some(ArgumentProblem::NotBoolean("@skip.if".into()))
        );
        assert_eq!(
            check(
                "query($b: Boolean!) { a @include(if: $b) b @skip(if: false) }",
                none
            ),
            None
        );
    }
}
