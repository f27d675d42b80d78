//! The policy model (what `GET /policy` shows and `orrery policy load` accepts), its
//! validation, and the five-step evaluation of the spec.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, FixedOffset, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DomainError, DomainResult};

const WILDCARD: &str = "*";
const MAX_WINDOW_SECS: u64 = 30 * 24 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Strict,
    Permissive,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Permissive => "permissive",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub policy_id: String,
    pub version: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub mode: Mode,
    #[serde(default)]
    pub terms: Terms,
    #[serde(default)]
    pub relations: Relations,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    #[serde(default)]
    pub actions: Vec<ActionTerm>,
    #[serde(default)]
    pub actors: Vec<ActorTerm>,
    #[serde(default)]
    pub data_classes: Vec<DataClassTerm>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionTerm {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorTerm {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_level: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataClassTerm {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relations {
    #[serde(default)]
    pub permits: Vec<Permit>,
    #[serde(default)]
    pub forbids: Vec<Forbid>,
    #[serde(default)]
    pub requires: Vec<Require>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permit {
    pub actor: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_class: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forbid {
    pub actor: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Require {
    pub action: String,
    pub conditions: Vec<Condition>,
}

/// A condition, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Allowed only between `start` and `end` ("HH:MM", end exclusive; may wrap midnight) on
    /// `days` (`mon`…`sun`; empty = every day) in `timezone` (`UTC` or `±HH:MM`).
    TimeWindow {
        start: String,
        end: String,
        #[serde(default = "utc")]
        timezone: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        days: Vec<String>,
    },
    /// At most `max_requests` decisions per actor and action within `window`
    /// (seconds, or "30s", "5m", "1h", "1d").
    RateLimit { max_requests: u32, window: Value },
    /// Someone who may approve as `approver` must approve: the `reviewer` or `admin` role,
    /// or an approver group users are put in (`finance`, `security`, `legal`…). Admins may
    /// approve anything.
    Approval {
        #[serde(default = "reviewer")]
        approver: String,
    },
    /// `context.<field>` (dotted path) compared with `value`.
    ContextCheck {
        field: String,
        operator: Operator,
        value: Value,
    },
}

impl ActionTerm {
    /// An action with its risk level, as built-in policies define them.
    pub fn rated(id: &str, risk: u8, description: &str) -> Self {
        Self {
            id: id.into(),
            description: Some(description.into()),
            risk_level: Some(risk),
        }
    }
}

impl DataClassTerm {
    /// A data class with its sensitivity, as built-in policies define them.
    pub fn rated(id: &str, sensitivity: u8) -> Self {
        Self {
            id: id.into(),
            description: None,
            sensitivity: Some(Value::from(sensitivity)),
        }
    }
}

impl Require {
    /// `action` waits for a reviewer's approval.
    pub fn reviewed(action: &str) -> Self {
        Self {
            action: action.into(),
            conditions: vec![Condition::Approval {
                approver: "reviewer".into(),
            }],
        }
    }
}

fn utc() -> String {
    "UTC".into()
}

fn reviewer() -> String {
    "reviewer".into()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Contains,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok()
}

fn parse_offset(tz: &str) -> Option<FixedOffset> {
    match tz {
        "UTC" | "Z" | "utc" => FixedOffset::east_opt(0),
        other => {
            let sign = match other.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let time = NaiveTime::parse_from_str(&other[1..], "%H:%M").ok()?;
            use chrono::Timelike;
            FixedOffset::east_opt(sign * (time.hour() as i32 * 3600 + time.minute() as i32 * 60))
        }
    }
}

/// Seconds of a `window` value: a positive integer or "<n>s|m|h|d".
pub fn window_secs(window: &Value) -> Option<u64> {
    let secs = match window {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => {
            let (digits, unit) = s.split_at(s.len().checked_sub(1)?);
            let n: u64 = digits.parse().ok()?;
            n * match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return None,
            }
        }
        _ => return None,
    };
    (1..=MAX_WINDOW_SECS).contains(&secs).then_some(secs)
}

fn check_condition(path: &str, condition: &Condition) -> Result<(), String> {
    match condition {
        Condition::TimeWindow {
            start,
            end,
            timezone,
            days,
        } => {
            for (name, value) in [("start", start), ("end", end)] {
                if parse_time(value).is_none() {
                    return Err(format!(
                        "{path}.{name}: '{value}' is not a time like \"09:00\""
                    ));
                }
            }
            if parse_offset(timezone).is_none() {
                return Err(format!("{path}.timezone: '{timezone}' is not supported; use \"UTC\" or an offset like \"+02:00\""));
            }
            if let Some(day) = days
                .iter()
                .find(|d| !DAYS.contains(&d.to_ascii_lowercase().as_str()))
            {
                return Err(format!(
                    "{path}.days: '{day}' is not one of mon, tue, wed, thu, fri, sat, sun"
                ));
            }
        }
        Condition::RateLimit {
            max_requests,
            window,
        } => {
            if *max_requests == 0 {
                return Err(format!("{path}.max_requests must be at least 1"));
            }
            if window_secs(window).is_none() {
                return Err(format!("{path}.window: {window} is not a duration (seconds, or \"30s\", \"5m\", \"1h\", \"1d\"; at most 30 days)"));
            }
        }
        Condition::Approval { approver } => {
            let role = ["reviewer", "admin"].contains(&approver.as_str());
            if !role && !crate::domain::identity::principal::is_group_name(approver) {
                return Err(format!("{path}.approver: '{approver}' is neither a role that can approve (reviewer, admin) nor a group name (1 to 32 lowercase letters, digits, '-' or '_', starting with a letter)"));
            }
        }
        Condition::ContextCheck {
            field,
            operator,
            value,
        } => {
            if field.trim().is_empty() {
                return Err(format!("{path}.field must name a context field"));
            }
            let numeric = matches!(
                operator,
                Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte
            );
            if numeric && !value.is_number() {
                return Err(format!(
                    "{path}.value must be a number for operator {operator:?}"
                ));
            }
            if *operator == Operator::In && !value.is_array() {
                return Err(format!("{path}.value must be an array for operator in"));
            }
        }
    }
    Ok(())
}

impl Policy {
    /// Checks everything serde cannot: ids, references between relations and terms, and
    /// every condition. The message names the offending place.
    pub fn validate(&self) -> DomainResult<()> {
        self.problem().map_or(Ok(()), |message| {
            Err(DomainError::invalid("policy", message))
        })
    }

    fn problem(&self) -> Option<String> {
        for (name, value, max) in [
            ("policy_id", &self.policy_id, 255),
            ("version", &self.version, 64),
            ("name", &self.name, 255),
        ] {
            if value.trim().is_empty() || value.len() > max {
                return Some(format!("{name} must be 1 to {max} characters"));
            }
        }
        let mut ids: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
        let groups: [(&str, Vec<&str>); 3] = [
            (
                "actions",
                self.terms.actions.iter().map(|t| t.id.as_str()).collect(),
            ),
            (
                "actors",
                self.terms.actors.iter().map(|t| t.id.as_str()).collect(),
            ),
            (
                "data_classes",
                self.terms
                    .data_classes
                    .iter()
                    .map(|t| t.id.as_str())
                    .collect(),
            ),
        ];
        for (group, list) in groups {
            let set = ids.entry(group).or_default();
            for (i, id) in list.into_iter().enumerate() {
                if id.trim().is_empty() || id == WILDCARD || id.len() > 255 {
                    return Some(format!(
                        "terms.{group}[{i}].id must be a non-empty name other than \"*\""
                    ));
                }
                if !set.insert(id) {
                    return Some(format!("terms.{group}[{i}].id '{id}' is defined twice"));
                }
            }
        }
        for (i, action) in self.terms.actions.iter().enumerate() {
            if action.risk_level.is_some_and(|r| !(1..=5).contains(&r)) {
                return Some(format!("terms.actions[{i}].risk_level must be 1 to 5"));
            }
        }
        let known = |group: &str, id: &str| id == WILDCARD || ids[group].contains(id);
        let reference = |path: String, group: &str, id: &str| -> Option<String> {
            let singular = match group {
                "actions" => "action",
                "actors" => "actor",
                _ => "data_class",
            };
            (!known(group, id))
                .then(|| format!("{path}: unknown {singular} '{id}' (not in terms.{group})"))
        };
        for (i, r) in self.relations.permits.iter().enumerate() {
            let path = format!("relations.permits[{i}]");
            if let Some(p) = reference(format!("{path}.actor"), "actors", &r.actor)
                .or_else(|| reference(format!("{path}.action"), "actions", &r.action))
                .or_else(|| {
                    r.data_class
                        .as_deref()
                        .and_then(|d| reference(format!("{path}.data_class"), "data_classes", d))
                })
            {
                return Some(p);
            }
            for (j, c) in r.conditions.iter().enumerate() {
                if let Err(p) = check_condition(&format!("{path}.conditions[{j}]"), c) {
                    return Some(p);
                }
            }
        }
        for (i, r) in self.relations.forbids.iter().enumerate() {
            let path = format!("relations.forbids[{i}]");
            if let Some(p) = reference(format!("{path}.actor"), "actors", &r.actor)
                .or_else(|| reference(format!("{path}.action"), "actions", &r.action))
                .or_else(|| {
                    r.data_class
                        .as_deref()
                        .and_then(|d| reference(format!("{path}.data_class"), "data_classes", d))
                })
            {
                return Some(p);
            }
        }
        for (i, r) in self.relations.requires.iter().enumerate() {
            let path = format!("relations.requires[{i}]");
            if let Some(p) = reference(format!("{path}.action"), "actions", &r.action) {
                return Some(p);
            }
            if r.conditions.is_empty() {
                return Some(format!(
                    "{path}.conditions must hold at least one condition"
                ));
            }
            for (j, c) in r.conditions.iter().enumerate() {
                if let Err(p) = check_condition(&format!("{path}.conditions[{j}]"), c) {
                    return Some(p);
                }
            }
        }
        None
    }

    /// The built-in policy the server decides with from first start: strict, permitting a
    /// few read-only actions, forbidding credential handling, reviewing destructive actions.
    pub fn builtin() -> Self {
        let action = ActionTerm::rated;
        let permit = |action: &str| Permit {
            actor: WILDCARD.into(),
            action: action.into(),
            data_class: None,
            conditions: vec![],
        };
        let review = Require::reviewed;
        Policy {
            policy_id: "pol_orrery_default".into(),
            version: "1.0.0".into(),
            name: "Orrery default policy".into(),
            description: Some("Strict: read-only actions are permitted, credential data is forbidden, destructive actions need a reviewer.".into()),
            mode: Mode::Strict,
            terms: Terms {
                actions: vec![
                    action("web_search", 1, "Search the web"),
                    action("search_web", 1, "Search the web"),
                    action("read_file", 1, "Read a file"),
                    action("file_reader", 1, "Read a file"),
                    action("list_files", 1, "List files"),
                    action("http_request", 2, "Make an HTTP request"),
                    action("write_file", 3, "Write a file"),
                    action("send_email", 3, "Send an email"),
                    action("delete_file", 4, "Delete a file"),
                    action("execute_command", 4, "Run a shell command"),
                ],
                actors: ["model", "user", "agent"]
                    .into_iter()
                    .map(|id| ActorTerm { id: id.into(), description: None, trust_level: None })
                    .collect(),
                data_classes: [("public", 1), ("internal", 2), ("pii", 4), ("credentials", 5)]
                    .into_iter()
                    .map(|(id, s)| DataClassTerm::rated(id, s))
                    .collect(),
            },
            relations: Relations {
                permits: ["web_search", "search_web", "read_file", "file_reader", "list_files"].into_iter().map(permit).collect(),
                forbids: vec![Forbid {
                    actor: WILDCARD.into(),
                    action: WILDCARD.into(),
                    data_class: Some("credentials".into()),
                    reason: Some("Credentials may not be handled by automated actions".into()),
                }],
                requires: vec![review("delete_file"), review("execute_command")],
            },
        }
    }

    fn action_risk(&self, request: &Request<'_>) -> Option<u8> {
        self.terms
            .actions
            .iter()
            .filter(|a| a.id == request.tool || a.id == request.proposed_action)
            .filter_map(|a| a.risk_level)
            .max()
    }
}

/// What is being decided.
pub struct Request<'a> {
    pub actor: &'a str,
    pub proposed_action: &'a str,
    pub tool: &'a str,
    pub risk_level: Option<u8>,
    pub data_classes: &'a [String],
    pub context: &'a Value,
    pub mode: Mode,
    pub now: DateTime<Utc>,
    /// Decisions already made for this actor and action within a window (seconds).
    pub recent: &'a dyn Fn(u64) -> u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed { reason: String },
    Denied { reason: String },
    Review { reason: String, approver: String },
}

fn matches_id(rule: &str, value: &str) -> bool {
    rule == WILDCARD || rule == value
}

fn matches_action(rule: &str, request: &Request<'_>) -> bool {
    rule == WILDCARD || rule == request.tool || rule == request.proposed_action
}

fn matches_data_class(rule: Option<&str>, request: &Request<'_>) -> bool {
    match rule {
        None | Some(WILDCARD) => true,
        Some(class) => request.data_classes.iter().any(|c| c == class),
    }
}

fn lookup<'v>(context: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(context, |value, key| value.get(key))
}

fn compare(actual: &Value, operator: Operator, expected: &Value) -> bool {
    let numbers = || Some((actual.as_f64()?, expected.as_f64()?));
    match operator {
        Operator::Eq => actual == expected,
        Operator::Ne => actual != expected,
        Operator::Gt => numbers().is_some_and(|(a, b)| a > b),
        Operator::Gte => numbers().is_some_and(|(a, b)| a >= b),
        Operator::Lt => numbers().is_some_and(|(a, b)| a < b),
        Operator::Lte => numbers().is_some_and(|(a, b)| a <= b),
        Operator::In => expected
            .as_array()
            .is_some_and(|options| options.contains(actual)),
        Operator::Contains => match (actual, expected) {
            (Value::String(a), Value::String(b)) => a.contains(b.as_str()),
            (Value::Array(items), needle) => items.contains(needle),
            _ => false,
        },
    }
}

enum Check {
    Holds,
    Fails(String),
    NeedsApproval(String),
}

fn evaluate_condition(condition: &Condition, request: &Request<'_>) -> Check {
    match condition {
        Condition::ContextCheck {
            field,
            operator,
            value,
        } => match lookup(request.context, field) {
            Some(actual) if compare(actual, *operator, value) => Check::Holds,
            Some(actual) => Check::Fails(format!(
                "context_check failed: context.{field} = {actual} is not {} {value}",
                format!("{operator:?}").to_lowercase()
            )),
            None => Check::Fails(format!("context_check failed: context.{field} is missing")),
        },
        Condition::TimeWindow {
            start,
            end,
            timezone,
            days,
        } => {
            let (Some(start_t), Some(end_t), Some(offset)) =
                (parse_time(start), parse_time(end), parse_offset(timezone))
            else {
                return Check::Fails("time_window is malformed".into());
            };
            let local = request.now.with_timezone(&offset);
            let t = local.time();
            let inside = if start_t <= end_t {
                t >= start_t && t < end_t
            } else {
                t >= start_t || t < end_t
            };
            let day = DAYS[local.weekday().num_days_from_monday() as usize];
            let day_ok = days.is_empty() || days.iter().any(|d| d.eq_ignore_ascii_case(day));
            if inside && day_ok {
                Check::Holds
            } else {
                Check::Fails(format!(
                    "time_window failed: allowed {start}–{end} {timezone}{}",
                    if days.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", days.join(", "))
                    }
                ))
            }
        }
        Condition::RateLimit {
            max_requests,
            window,
        } => {
            let secs = window_secs(window).unwrap_or(1);
            let used = (request.recent)(secs);
            if used < u64::from(*max_requests) {
                Check::Holds
            } else {
                Check::Fails(format!("rate_limit failed: {used} of {max_requests} requests already made within {secs} s"))
            }
        }
        Condition::Approval { approver } => Check::NeedsApproval(approver.clone()),
    }
}

/// The five steps of the spec, in order.
pub fn evaluate(policy: &Policy, request: &Request<'_>) -> Outcome {
    // 1. forbids
    for (i, forbid) in policy.relations.forbids.iter().enumerate() {
        if matches_id(&forbid.actor, request.actor)
            && matches_action(&forbid.action, request)
            && matches_data_class(forbid.data_class.as_deref(), request)
        {
            let why = forbid
                .reason
                .clone()
                .unwrap_or_else(|| "forbidden by policy".into());
            return Outcome::Denied {
                reason: format!("{why} (relations.forbids[{i}])"),
            };
        }
    }
    // 2. requires
    let mut approver: Option<(String, String)> = None;
    for (i, require) in policy.relations.requires.iter().enumerate() {
        if !matches_action(&require.action, request) {
            continue;
        }
        for (j, condition) in require.conditions.iter().enumerate() {
            match evaluate_condition(condition, request) {
                Check::Holds => {}
                Check::Fails(why) => {
                    return Outcome::Denied {
                        reason: format!(
                            "Requirement not met: {why} (relations.requires[{i}].conditions[{j}])"
                        ),
                    }
                }
                Check::NeedsApproval(role) => {
                    approver
                        .get_or_insert((role, format!("relations.requires[{i}].conditions[{j}]")));
                }
            }
        }
    }
    if let Some((role, rule)) = approver {
        return Outcome::Review {
            reason: format!("Approval by a {role} is required ({rule})"),
            approver: role,
        };
    }
    // 3. risk
    let risk = request
        .risk_level
        .into_iter()
        .chain(policy.action_risk(request))
        .max();
    if let Some(risk) = risk {
        let threshold = match request.mode {
            Mode::Strict => 4,
            Mode::Permissive => 5,
        };
        if risk >= threshold {
            return Outcome::Review {
                reason: format!(
                    "Risk level {risk} requires review in {} mode",
                    request.mode.as_str()
                ),
                approver: "reviewer".into(),
            };
        }
    }
    // 4. permits whose conditions hold
    let mut failed: Option<String> = None;
    for (i, permit) in policy.relations.permits.iter().enumerate() {
        if !(matches_id(&permit.actor, request.actor)
            && matches_action(&permit.action, request)
            && matches_data_class(permit.data_class.as_deref(), request))
        {
            continue;
        }
        let mut needs = None;
        let mut holds = true;
        for (j, condition) in permit.conditions.iter().enumerate() {
            match evaluate_condition(condition, request) {
                Check::Holds => {}
                Check::Fails(why) => {
                    failed.get_or_insert(format!("{why} (relations.permits[{i}].conditions[{j}])"));
                    holds = false;
                    break;
                }
                Check::NeedsApproval(role) => needs = needs.or(Some((role, j))),
            }
        }
        if !holds {
            continue;
        }
        if let Some((role, j)) = needs {
            return Outcome::Review {
                reason: format!(
                    "Approval by a {role} is required (relations.permits[{i}].conditions[{j}])"
                ),
                approver: role,
            };
        }
        return Outcome::Allowed {
            reason: format!("Action explicitly permitted by policy (relations.permits[{i}])"),
        };
    }
    // 5. the mode's default
    match request.mode {
        Mode::Strict => Outcome::Denied {
            reason: match failed {
                Some(why) => format!("Action not explicitly permitted: {why}"),
                None => "Action not explicitly permitted".into(),
            },
        },
        Mode::Permissive => Outcome::Allowed {
            reason: "Permitted by default in permissive mode".into(),
        },
    }
}
