//! One fixture per evaluation rule and condition type.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::policy::{evaluate, Mode, Outcome, Policy, Request};

fn policy(relations: Value, mode: &str) -> Policy {
    let policy: Policy = serde_json::from_value(json!({
        "policy_id": "pol_test",
        "version": "2.0.0",
        "name": "test",
        "mode": mode,
        "terms": {
            "actions": [
                { "id": "web_search", "risk_level": 1 },
                { "id": "delete_file", "risk_level": 4 },
                { "id": "send_email" },
                { "id": "transfer" }
            ],
            "actors": [{ "id": "model" }, { "id": "user" }],
            "data_classes": [{ "id": "pii" }, { "id": "public" }]
        },
        "relations": relations
    }))
    .expect("fixture parses");
    policy.validate().expect("fixture is valid");
    policy
}

struct Ask<'a> {
    actor: &'a str,
    tool: &'a str,
    risk: Option<u8>,
    classes: Vec<String>,
    context: Value,
    mode: Option<Mode>,
    now: DateTime<Utc>,
    recent: u64,
}

fn ask(tool: &str) -> Ask<'_> {
    Ask {
        actor: "model",
        tool,
        risk: None,
        classes: vec![],
        context: json!({}),
        mode: None,
        now: "2026-11-18T10:30:00Z".parse().unwrap(), // a Wednesday
        recent: 0,
    }
}

fn decide(policy: &Policy, a: Ask<'_>) -> Outcome {
    let recent = a.recent;
    let count = move |_: u64| recent;
    evaluate(
        policy,
        &Request {
            actor: a.actor,
            proposed_action: "do it",
            tool: a.tool,
            risk_level: a.risk,
            data_classes: &a.classes,
            context: &a.context,
            mode: a.mode.unwrap_or(policy.mode),
            now: a.now,
            recent: &count,
        },
    )
}

fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Allowed { .. } => "ALLOWED",
        Outcome::Denied { .. } => "DENIED",
        Outcome::Review { .. } => "REQUIRES_REVIEW",
    }
}

fn reason(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Allowed { reason }
        | Outcome::Denied { reason }
        | Outcome::Review { reason, .. } => reason,
    }
}

#[test]
fn step1_forbid_beats_permit() {
    let p = policy(
        json!({
            "permits": [{ "actor": "*", "action": "web_search" }],
            "forbids": [{ "actor": "model", "action": "web_search", "reason": "no browsing" }]
        }),
        "strict",
    );
    let outcome = decide(&p, ask("web_search"));
    assert_eq!(kind(&outcome), "DENIED");
    assert!(reason(&outcome).contains("no browsing") && reason(&outcome).contains("forbids[0]"));
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                actor: "user",
                ..ask("web_search")
            }
        )),
        "ALLOWED",
        "ids match exactly"
    );
}

#[test]
fn step1_forbid_by_data_class() {
    let p = policy(
        json!({
            "permits": [{ "actor": "*", "action": "*" }],
            "forbids": [{ "actor": "*", "action": "*", "data_class": "pii" }]
        }),
        "strict",
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                classes: vec!["pii".into()],
                ..ask("send_email")
            }
        )),
        "DENIED"
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                classes: vec!["public".into()],
                ..ask("send_email")
            }
        )),
        "ALLOWED"
    );
}

#[test]
fn step2_context_check_operators() {
    let cases = [
        ("eq", json!("eu"), json!({ "region": "eu" }), true),
        ("eq", json!("eu"), json!({ "region": "us" }), false),
        ("ne", json!("us"), json!({ "region": "eu" }), true),
        ("gt", json!(10), json!({ "amount": 11 }), true),
        ("gt", json!(10), json!({ "amount": 10 }), false),
        ("gte", json!(10), json!({ "amount": 10 }), true),
        ("lt", json!(10), json!({ "amount": 9.5 }), true),
        ("lte", json!(10), json!({ "amount": 11 }), false),
        ("in", json!(["a", "b"]), json!({ "region": "b" }), true),
        ("in", json!(["a", "b"]), json!({ "region": "c" }), false),
        (
            "contains",
            json!("ops"),
            json!({ "region": "devops" }),
            true,
        ),
        (
            "contains",
            json!("x"),
            json!({ "region": ["x", "y"] }),
            true,
        ),
    ];
    for (operator, value, context, holds) in cases {
        let field = if context.get("amount").is_some() {
            "amount"
        } else {
            "region"
        };
        let p = policy(
            json!({
                "permits": [{ "actor": "*", "action": "transfer" }],
                "requires": [{ "action": "transfer", "conditions": [
                    { "type": "context_check", "field": field, "operator": operator, "value": value }
                ] }]
            }),
            "strict",
        );
        let outcome = decide(
            &p,
            Ask {
                context: context.clone(),
                ..ask("transfer")
            },
        );
        assert_eq!(
            kind(&outcome) == "ALLOWED",
            holds,
            "{operator} {value} on {context}: {outcome:?}"
        );
        if !holds {
            assert!(
                reason(&outcome).contains("context_check"),
                "the reason names the condition"
            );
        }
    }
}

#[test]
fn step2_context_check_on_nested_and_missing_fields() {
    let p = policy(
        json!({
            "permits": [{ "actor": "*", "action": "transfer" }],
            "requires": [{ "action": "transfer", "conditions": [
                { "type": "context_check", "field": "user.verified", "operator": "eq", "value": true }
            ] }]
        }),
        "strict",
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                context: json!({ "user": { "verified": true } }),
                ..ask("transfer")
            }
        )),
        "ALLOWED"
    );
    let missing = decide(&p, ask("transfer"));
    assert_eq!(kind(&missing), "DENIED");
    assert!(reason(&missing).contains("missing"));
}

#[test]
fn step2_time_window() {
    let p = policy(
        json!({
            "permits": [{ "actor": "*", "action": "send_email" }],
            "requires": [{ "action": "send_email", "conditions": [
                { "type": "time_window", "start": "09:00", "end": "17:00", "timezone": "+02:00", "days": ["mon", "tue", "wed", "thu", "fri"] }
            ] }]
        }),
        "strict",
    );
    let at = |t: &str| Ask {
        now: t.parse().unwrap(),
        ..ask("send_email")
    };
    assert_eq!(
        kind(&decide(&p, at("2026-11-18T10:30:00Z"))),
        "ALLOWED",
        "12:30 local on a Wednesday"
    );
    assert_eq!(
        kind(&decide(&p, at("2026-11-18T15:30:00Z"))),
        "DENIED",
        "17:30 local is outside"
    );
    assert_eq!(
        kind(&decide(&p, at("2026-11-18T06:59:00Z"))),
        "DENIED",
        "08:59 local is outside"
    );
    let weekend = decide(&p, at("2026-11-21T10:30:00Z"));
    assert_eq!(kind(&weekend), "DENIED", "Saturday");
    assert!(reason(&weekend).contains("time_window"));

    let overnight = policy(
        json!({
            "permits": [{ "actor": "*", "action": "send_email" }],
            "requires": [{ "action": "send_email", "conditions": [{ "type": "time_window", "start": "22:00", "end": "06:00" }] }]
        }),
        "strict",
    );
    assert_eq!(
        kind(&decide(&overnight, at("2026-11-18T23:00:00Z"))),
        "ALLOWED"
    );
    assert_eq!(
        kind(&decide(&overnight, at("2026-11-18T12:00:00Z"))),
        "DENIED"
    );
}

#[test]
fn step2_rate_limit() {
    let p = policy(
        json!({
            "permits": [{ "actor": "*", "action": "web_search" }],
            "requires": [{ "action": "web_search", "conditions": [{ "type": "rate_limit", "max_requests": 3, "window": "1h" }] }]
        }),
        "strict",
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                recent: 2,
                ..ask("web_search")
            }
        )),
        "ALLOWED"
    );
    let over = decide(
        &p,
        Ask {
            recent: 3,
            ..ask("web_search")
        },
    );
    assert_eq!(kind(&over), "DENIED");
    assert!(reason(&over).contains("rate_limit"));
}

#[test]
fn step2_approval_requires_review_unless_denied() {
    let p = policy(
        json!({
            "permits": [{ "actor": "*", "action": "transfer" }],
            "requires": [{ "action": "transfer", "conditions": [
                { "type": "approval", "approver": "admin" },
                { "type": "context_check", "field": "amount", "operator": "lt", "value": 1000 }
            ] }]
        }),
        "strict",
    );
    match decide(
        &p,
        Ask {
            context: json!({ "amount": 10 }),
            ..ask("transfer")
        },
    ) {
        Outcome::Review { approver, .. } => assert_eq!(approver, "admin"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                context: json!({ "amount": 5000 }),
                ..ask("transfer")
            }
        )),
        "DENIED",
        "a failed check beats approval"
    );
}

#[test]
fn step3_risk_by_mode() {
    let p = policy(
        json!({ "permits": [{ "actor": "*", "action": "*" }] }),
        "strict",
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                risk: Some(3),
                ..ask("send_email")
            }
        )),
        "ALLOWED"
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                risk: Some(4),
                ..ask("send_email")
            }
        )),
        "REQUIRES_REVIEW"
    );
    assert_eq!(
        kind(&decide(&p, ask("delete_file"))),
        "REQUIRES_REVIEW",
        "the action term's risk 4 counts"
    );
    let permissive = Ask {
        mode: Some(Mode::Permissive),
        ..ask("delete_file")
    };
    assert_eq!(
        kind(&decide(&p, permissive)),
        "ALLOWED",
        "permissive reviews only risk 5"
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                mode: Some(Mode::Permissive),
                risk: Some(5),
                ..ask("send_email")
            }
        )),
        "REQUIRES_REVIEW"
    );
    let forbidden = policy(
        json!({ "permits": [{ "actor": "*", "action": "*" }], "forbids": [{ "actor": "*", "action": "delete_file" }] }),
        "strict",
    );
    assert_eq!(
        kind(&decide(
            &forbidden,
            Ask {
                risk: Some(5),
                ..ask("delete_file")
            }
        )),
        "DENIED",
        "not if already denied"
    );
}

#[test]
fn step4_permit_conditions_must_hold() {
    let p = policy(
        json!({ "permits": [{ "actor": "model", "action": "transfer", "conditions": [
            { "type": "context_check", "field": "approved_by_user", "operator": "eq", "value": true }
        ] }] }),
        "strict",
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                context: json!({ "approved_by_user": true }),
                ..ask("transfer")
            }
        )),
        "ALLOWED"
    );
    let refused = decide(&p, ask("transfer"));
    assert_eq!(kind(&refused), "DENIED");
    assert!(reason(&refused).starts_with("Action not explicitly permitted"));
}

#[test]
fn step5_mode_default() {
    let p = policy(json!({}), "strict");
    let strict = decide(&p, ask("send_email"));
    assert_eq!(
        strict,
        Outcome::Denied {
            reason: "Action not explicitly permitted".into()
        }
    );
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                mode: Some(Mode::Permissive),
                ..ask("send_email")
            }
        )),
        "ALLOWED"
    );
    let permissive = policy(json!({}), "permissive");
    assert_eq!(kind(&decide(&permissive, ask("send_email"))), "ALLOWED");
    assert_eq!(
        kind(&decide(
            &permissive,
            Ask {
                mode: Some(Mode::Strict),
                ..ask("send_email")
            }
        )),
        "DENIED",
        "per-call override"
    );
}

#[test]
fn validation_names_the_problem() {
    let cases = [
        (
            json!({ "permits": [{ "actor": "modle", "action": "web_search" }] }),
            "relations.permits[0].actor: unknown actor 'modle'",
        ),
        (
            json!({ "forbids": [{ "actor": "*", "action": "fly" }] }),
            "relations.forbids[0].action: unknown action 'fly'",
        ),
        (
            json!({ "permits": [{ "actor": "*", "action": "*", "data_class": "secret" }] }),
            "unknown data_class 'secret'",
        ),
        (
            json!({ "requires": [{ "action": "web_search", "conditions": [] }] }),
            "must hold at least one condition",
        ),
        (
            json!({ "requires": [{ "action": "web_search", "conditions": [{ "type": "time_window", "start": "9am", "end": "17:00" }] }] }),
            "conditions[0].start",
        ),
        (
            json!({ "requires": [{ "action": "web_search", "conditions": [{ "type": "time_window", "start": "09:00", "end": "17:00", "timezone": "Mars/Olympus" }] }] }),
            "timezone",
        ),
        (
            json!({ "requires": [{ "action": "web_search", "conditions": [{ "type": "rate_limit", "max_requests": 0, "window": 60 }] }] }),
            "max_requests",
        ),
        (
            json!({ "requires": [{ "action": "web_search", "conditions": [{ "type": "rate_limit", "max_requests": 1, "window": "forever" }] }] }),
            "window",
        ),
        (
            json!({ "requires": [{ "action": "web_search", "conditions": [{ "type": "approval", "approver": "Intern Team" }] }] }),
            "approver",
        ),
        (
            json!({ "requires": [{ "action": "web_search", "conditions": [{ "type": "context_check", "field": "x", "operator": "gt", "value": "ten" }] }] }),
            "must be a number",
        ),
    ];
    for (relations, expected) in cases {
        let mut value = serde_json::to_value(policy(json!({}), "strict")).unwrap();
        value["relations"] = relations;
        let parsed: Policy = serde_json::from_value(value).unwrap();
        let err = parsed.validate().expect_err(expected).to_string();
        assert!(err.contains(expected), "{err} should mention {expected}");
    }
    let unknown_type = serde_json::from_value::<Policy>(json!({
        "policy_id": "p", "version": "1", "name": "n", "mode": "strict",
        "relations": { "requires": [{ "action": "*", "conditions": [{ "type": "vibes" }] }] }
    }));
    assert!(unknown_type.is_err(), "unknown condition types are refused");
}

#[test]
fn builtin_policy_is_valid_and_sensible() {
    let p = Policy::builtin();
    p.validate().unwrap();
    assert_eq!(kind(&decide(&p, ask("web_search"))), "ALLOWED");
    assert_eq!(kind(&decide(&p, ask("file_reader"))), "ALLOWED");
    assert_eq!(kind(&decide(&p, ask("delete_file"))), "REQUIRES_REVIEW");
    assert_eq!(kind(&decide(&p, ask("send_email"))), "DENIED");
    assert_eq!(
        kind(&decide(
            &p,
            Ask {
                classes: vec!["credentials".into()],
                ..ask("web_search")
            }
        )),
        "DENIED"
    );
}
