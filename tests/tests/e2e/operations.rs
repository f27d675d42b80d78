//! The LUKHAS core API's operations views end to end: per-route latency histograms that
//! move with traffic, for administrators and auditors only, in REST and GraphQL.

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

fn route<'a>(report: &'a Value, method: &str, template: &str) -> Option<&'a Value> {
    report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == method && r["route"] == template)
}

#[tokio::test]
async fn route_latency_moves_with_traffic() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (user, _, _) = server.sign_up(&unique_email("perf-user")).await;
    let perf = |query: &'static str| {
        let server = &server;
        let admin = admin.clone();
        async move {
            let response = server
                .get(&format!("/lukhas/v1/perf{query}"), Some(&admin))
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let before = perf("?route=/lukhas/v1/matriz").await;
    let counted = |report: &Value| {
        route(report, "POST", "/lukhas/v1/matriz/process")
            .map_or(0, |r| r["count"].as_u64().unwrap())
    };
    let start = counted(&before);
    for i in 0..5 {
        let response = server
            .post(
                "/lukhas/v1/matriz/process",
                Some(&user),
                json!({"input": format!("Explain memory folds, part {i}")}),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    // A refusal is counted in its class.
    let response = server
        .post("/lukhas/v1/matriz/process", Some(&user), json!({}))
        .await;
    assert_eq!(response.status(), 400);
    // A path with an id is counted under its template.
    let missing = server
        .get("/lukhas/v1/incidents/inc_nope", Some(&user))
        .await;
    assert_eq!(missing.status(), 404);

    let after = perf("?route=/lukhas/v1/").await;
    let process = route(&after, "POST", "/lukhas/v1/matriz/process").expect("the pipeline route");
    assert_eq!(process["count"].as_u64().unwrap(), start + 6, "{process}");
    assert_eq!(
        process["status_classes"]["success"].as_u64().unwrap(),
        start + 5
    );
    assert!(process["status_classes"]["client_errors"].as_u64().unwrap() >= 1);
    let buckets: u64 = process["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(buckets, process["count"].as_u64().unwrap());
    assert!(process["latency_ms"]["mean"].as_f64().unwrap() > 0.0);
    let p50 = process["latency_ms"]["p50"].as_f64().unwrap();
    let p99 = process["latency_ms"]["p99"].as_f64().unwrap();
    assert!(p50 <= p99, "{process}");
    let by_template =
        route(&after, "GET", "/lukhas/v1/incidents/{incident_id}").expect("templated");
    assert_eq!(by_template["status_classes"]["client_errors"], 1);
    assert!(after["routes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["route"].as_str().unwrap().starts_with("/lukhas/v1/")));
    let posts = perf("?method=POST").await;
    assert!(posts["routes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["method"] == "POST"));

    // Operators only; GraphQL carries the same.
    let response = server.get("/lukhas/v1/perf", Some(&user)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(server.get("/lukhas/v1/perf", None).await.status(), 401);
    let auditor = server
        .user_with_roles("perf-auditor", &["USER", "AUDITOR"])
        .await;
    assert_eq!(
        server.get("/lukhas/v1/perf", Some(&auditor)).await.status(),
        200
    );
    let answer = server
        .graphql(
            Some(&admin),
            "{ routePerformance(routePrefix: \"/lukhas/v1/matriz/process\") { routes { method route count success clientErrors latencyMs { count p50Bound p95Bound p99Bound buckets { le count } } } } }",
            json!({}),
        )
        .await;
    let routes = answer["data"]["routePerformance"]["routes"]
        .as_array()
        .unwrap();
    assert_eq!(routes.len(), 1, "{answer}");
    assert_eq!(routes[0]["count"].as_u64().unwrap(), start + 6);
    assert_eq!(routes[0]["latencyMs"]["count"], routes[0]["count"]);
    let answer = server
        .graphql(Some(&user), "{ routePerformance { since } }", json!({}))
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
}

#[tokio::test]
async fn the_audit_trail_is_filtered_checked_and_turns_red_when_tampered() {
    let server = TestServer::start().await;
    let (user, _, _) = server.sign_up(&unique_email("audit-user")).await;
    let (other, _, _) = server.sign_up(&unique_email("audit-other")).await;
    let validated = server
        .post(
            "/lukhas/v1/guardian/validate",
            Some(&user),
            json!({"action": {"type": "response_generation", "content": "Explain photosynthesis"}}),
        )
        .await;
    assert_eq!(validated.status(), 200);
    let reported = server
        .post(
            "/lukhas/v1/incidents",
            Some(&user),
            json!({"title": "Shared laptop left signed in", "severity": "low"}),
        )
        .await;
    assert_eq!(reported.status(), 201);
    let audit = |token: String, query: &str| {
        let server = &server;
        let query = query.to_string();
        async move {
            let response = server
                .get(&format!("/lukhas/v1/audit{query}"), Some(&token))
                .await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let (status, incidents) = audit(user.clone(), "?event_type=incident.*").await;
    assert_eq!(status, 200, "{incidents}");
    assert_eq!(incidents["total_count"], 1, "{incidents}");
    let entry = &incidents["entries"][0];
    assert_eq!(entry["event_type"], "incident.opened");
    assert_eq!(entry["verified"], true);
    assert_eq!(entry["data"]["severity"], "low");
    let (_, mine) = audit(user.clone(), "?event_type=guardian.validation").await;
    assert_eq!(mine["total_count"], 1, "{mine}");
    let (_, all_mine) = audit(user.clone(), "").await;
    // Security events are the account's own view (`securityEvents`), not the ledger's.
    assert_eq!(
        all_mine["total_count"], 2,
        "the validation and the incident: {all_mine}"
    );
    assert!(all_mine["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["verified"] == true));
    assert_eq!(all_mine["total_count_exact"], true);
    assert_eq!(
        all_mine["next_before_seq"],
        Value::Null,
        "one page holds both"
    );
    // Keyset pages: one entry each, newest first, each from before the last seq seen.
    let (_, first) = audit(user.clone(), "?limit=1").await;
    assert_eq!(first["entries"][0]["event_type"], "incident.opened");
    let cursor = first["next_before_seq"].as_i64().expect("a next page");
    let (_, second) = audit(
        user.clone(),
        Box::leak(format!("?limit=1&before_seq={cursor}").into_boxed_str()),
    )
    .await;
    assert_eq!(
        second["entries"][0]["event_type"], "guardian.validation",
        "{second}"
    );
    assert_eq!(second["total_count"], 1, "counted from the cursor on");
    let (status, _) = audit(user.clone(), "?before_seq=0").await;
    assert_eq!(status, 400);
    // A family spanning types is merged newest first, and pages through the merge.
    let (_, every) = audit(user.clone(), "?event_type=*").await;
    let kinds: Vec<&str> = every["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["incident.opened", "guardian.validation"], "{every}");
    assert_eq!(every["total_count"], 2);
    let (_, second_of_family) = audit(user.clone(), "?event_type=*&limit=1&offset=1").await;
    assert_eq!(
        second_of_family["entries"][0]["event_type"],
        "guardian.validation"
    );
    let (_, windowed) = audit(
        user.clone(),
        &format!(
            "?since={}",
            (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    assert_eq!(windowed["total_count"], 2, "{windowed}");
    let (_, none) = audit(user.clone(), "?since=2999-01-01T00:00:00Z").await;
    assert_eq!(none["total_count"], 0);
    let (_, theirs) = audit(other.clone(), "?event_type=incident.*").await;
    assert_eq!(
        theirs["total_count"], 0,
        "another account's entries are not theirs"
    );
    let (status, error) = audit(user.clone(), "?since=yesterday").await;
    assert_eq!(status, 400, "{error}");
    let (status, _) = audit(user.clone(), "/verify").await;
    assert_eq!(status, 403);

    let admin = server.admin().await;
    let (status, clean) = audit(admin.clone(), "/verify").await;
    assert_eq!(status, 200, "{clean}");
    assert_eq!(clean["valid"], true, "{clean}");
    assert!(clean["entries_checked"].as_u64().unwrap() >= 5);

    // Tampering with the incident's entry turns both views red.
    let entry_id = entry["entry_id"].as_str().unwrap();
    let db = server.database().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE gov_ledger SET data = replace(data, '\"low\"', '\"high\"') WHERE entry_id = '{entry_id}'"
    ))
    .await
    .unwrap();
    let (_, tampered) = audit(admin.clone(), "/verify").await;
    assert_eq!(tampered["valid"], false, "{tampered}");
    assert_eq!(tampered["first_bad"]["entry_id"], entry_id);
    let (_, seen) = audit(user.clone(), "?event_type=incident.opened").await;
    assert_eq!(seen["entries"][0]["verified"], false, "{seen}");
    assert!(seen["entries"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("entry_hash"));
    let answer = server
        .graphql(
            Some(&user),
            "{ ledger(filter: {eventType: \"incident.*\"}) { totalCount edges { node { eventType verified } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["ledger"]["edges"],
        json!([{"node": {"eventType": "incident.opened", "verified": false}}]),
        "{answer}"
    );
}

#[tokio::test]
async fn registered_tools_feed_governance_decisions() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (user, _, _) = server.sign_up(&unique_email("tools-user")).await;
    let decide = |tool: &'static str| {
        let server = &server;
        let user = user.clone();
        async move {
            let response = server
                .post(
                    "/lexecon/decide",
                    Some(&user),
                    json!({"actor": "model", "proposed_action": "Pay the invoice", "tool": tool}),
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    // Unregistered, the policy's own rating of the action decides (read_file: 1).
    assert_eq!(decide("read_file").await["decision"], "ALLOWED");

    let register = |token: String, body: Value| {
        let server = &server;
        async move {
            let response = server.post("/lukhas/v1/tools", Some(&token), body).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let wire = json!({"name": "read_file", "description": "Reads any file on the shared drive.",
                      "risk_level": 4, "data_classes": ["financial", "financial"]});
    let (status, error) = register(user.clone(), wire.clone()).await;
    assert_eq!(status, 403, "{error}");
    let (status, tool) = register(admin.clone(), wire.clone()).await;
    assert_eq!(status, 201, "{tool}");
    assert_eq!(tool["data_classes"], json!(["financial"]));
    let (status, error) = register(admin.clone(), wire).await;
    assert_eq!(status, 409, "{error}");
    for (body, field) in [
        (json!({"name": "x", "risk_level": 0}), "risk_level"),
        (json!({"name": "  ", "risk_level": 2}), "name"),
        (
            json!({"name": "x", "risk_level": 2, "data_classes": [""]}),
            "data_classes[0]",
        ),
    ] {
        let (status, error) = register(admin.clone(), body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }

    // Registered, the tool's risk decides: level 4 asks for a review in strict mode (the
    // built-in policy's), and its data classes meet the policy's forbids.
    let decision = decide("read_file").await;
    assert_eq!(decision["decision"], "REQUIRES_REVIEW", "{decision}");
    assert!(decision["reason"]
        .as_str()
        .unwrap()
        .contains("Risk level 4"));
    let (status, _) = register(
        admin.clone(),
        json!({"name": "list_files", "risk_level": 1, "data_classes": ["credentials"]}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(decide("list_files").await["decision"], "DENIED");
    assert_eq!(decide("web_search").await["decision"], "ALLOWED");

    let listed: Value = server
        .get("/lukhas/v1/tools", Some(&user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total_count"], 2, "{listed}");
    let by_name: Value = server
        .get("/lukhas/v1/tools/read_file", Some(&user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["tool_id"], tool["tool_id"]);
    let by_id = server
        .get(
            &format!("/lukhas/v1/tools/{}", tool["tool_id"].as_str().unwrap()),
            Some(&user),
        )
        .await;
    assert_eq!(by_id.status(), 200);
    assert_eq!(
        server
            .get("/lukhas/v1/tools/nope", Some(&user))
            .await
            .status(),
        404
    );

    // GraphQL.
    let answer = server
        .graphql(
            Some(&admin),
            "mutation { registerTool(input: {name: \"read_calendar\", riskLevel: 1, dataClasses: [\"pii\"]}) { tool { name riskLevel dataClasses } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["registerTool"]["tool"],
        json!({"name": "read_calendar", "riskLevel": 1, "dataClasses": ["pii"]}),
        "{answer}"
    );
    let answer = server
        .graphql(
            Some(&user),
            "{ tools(first: 5) { totalCount edges { node { name } } } tool(idOrName: \"read_file\") { riskLevel } missing: tool(idOrName: \"nope\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(answer["data"]["tools"]["totalCount"], 3, "{answer}");
    assert_eq!(answer["data"]["tool"]["riskLevel"], 4);
    assert_eq!(answer["data"]["missing"], Value::Null);
}

#[tokio::test]
async fn administrators_manage_accounts_tiers_roles_and_keys() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let email = unique_email("admin-managed");
    let (user, _, _) = server.sign_up(&email).await;
    let (key, key_id) = server.create_key(&user).await;
    let me: Value = server
        .get("/lunaos/auth/me", Some(&user))
        .await
        .json()
        .await
        .unwrap();
    let user_id = me["data"]["id"].as_str().unwrap().to_string();

    // A user is 403 on every admin route.
    for path in [
        "/lukhas/v1/admin/users".to_string(),
        format!("/lukhas/v1/admin/users/{user_id}"),
    ] {
        assert_eq!(server.get(&path, Some(&user)).await.status(), 403, "{path}");
    }
    let response = server
        .patch(
            &format!("/lukhas/v1/admin/users/{user_id}"),
            &user,
            json!({"tier": "team"}),
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = server
        .delete(&format!("/lukhas/v1/admin/keys/{key_id}"), &user)
        .await;
    assert_eq!(response.status(), 403);

    let listing: Value = server
        .get(
            &format!(
                "/lukhas/v1/admin/users?email={}",
                email.split('@').next().unwrap()
            ),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["total_count"], 1, "{listing}");
    assert_eq!(listing["users"][0]["user_id"], user_id.as_str());
    assert_eq!(listing["users"][0]["active_api_keys"], 1);
    let detail: Value = server
        .get(&format!("/lukhas/v1/admin/users/{user_id}"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["api_keys"][0]["key_id"], key_id.as_str(), "{detail}");
    assert_eq!(
        server
            .get(
                "/lukhas/v1/admin/users/00000000-0000-0000-0000-000000000000",
                Some(&admin)
            )
            .await
            .status(),
        404
    );

    let response = server
        .patch(
            &format!("/lukhas/v1/admin/users/{user_id}"),
            &admin,
            json!({"tier": "team", "roles": ["auditor"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["tier"], "team");
    assert_eq!(changed["roles"], json!(["user", "auditor"]));
    for (body, field) in [
        (json!({"roles": ["overlord"]}), "roles[0]"),
        (json!({"tier": "platinum"}), "tier"),
    ] {
        let response = server
            .patch(&format!("/lukhas/v1/admin/users/{user_id}"), &admin, body)
            .await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    // The new role takes effect: an auditor reads the performance figures.
    assert_eq!(
        server.get("/lukhas/v1/perf", Some(&user)).await.status(),
        200
    );

    // Revoking the user's key: it stops working, and the owner's events say who did it.
    let response = server
        .delete(&format!("/lukhas/v1/admin/keys/{key_id}"), &admin)
        .await;
    assert_eq!(response.status(), 200);
    let revoked: Value = response.json().await.unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_eq!(
        server.get("/lukhas/v1/perf", Some(&key)).await.status(),
        401
    );
    let response = server
        .delete(&format!("/lukhas/v1/admin/keys/{key_id}"), &admin)
        .await;
    assert_eq!(response.status(), 404);
    let events = server
        .graphql(
            Some(&user),
            "{ viewer { securityEvents(limit: 5) { type detail } } }",
            json!({}),
        )
        .await;
    let revocation = events["data"]["viewer"]["securityEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "API_KEY_REVOKED")
        .cloned()
        .expect("a revocation event");
    assert!(revocation["detail"]["by"].is_string(), "{revocation}");

    // GraphQL: the accounts and another account's keys, for administrators only.
    let answer = server
        .graphql(
            Some(&admin),
            "query($email: String) { users(email: $email, tier: TEAM) { totalCount edges { node { email roles apiKeys { totalCount } } } } }",
            json!({"email": email}),
        )
        .await;
    let node = &answer["data"]["users"]["edges"][0]["node"];
    assert_eq!(node["email"], email.as_str(), "{answer}");
    assert_eq!(node["apiKeys"]["totalCount"], 1);
    let answer = server
        .graphql(Some(&user), "{ users { totalCount } }", json!({}))
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
}

#[tokio::test]
async fn the_t4_report_runs_live_checks_and_turns_red_on_a_tampered_ledger() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (user, _, _) = server.sign_up(&unique_email("t4-user")).await;
    assert_eq!(server.get("/lukhas/v1/t4", Some(&user)).await.status(), 403);
    let report = |token: String| {
        let server = &server;
        async move {
            let response = server.get("/lukhas/v1/t4", Some(&token)).await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let check = |report: &Value, name: &str| -> Value {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {report}"))
    };

    let first = report(admin.clone()).await;
    assert_eq!(first["t4_compliant"], true, "{first}");
    let names: Vec<&str> = first["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ledger_integrity",
            "security_headers",
            "rate_limits_active",
            "latency_p99",
            "guardian_active"
        ]
    );
    let headers = check(&first, "security_headers");
    assert_eq!(headers["evidence"]["x-frame-options"], "DENY", "{headers}");
    assert_eq!(
        check(&first, "rate_limits_active")["evidence"]["probe"],
        json!({"first_allowed": true, "second_allowed": false})
    );
    let whole = check(&first, "ledger_integrity")["evidence"]["entries_checked"]
        .as_u64()
        .unwrap();
    assert!(
        whole >= 3,
        "the first report verifies from the genesis: {first}"
    );

    // The next report verifies only what was appended since.
    let reported = server
        .post(
            "/lukhas/v1/incidents",
            Some(&user),
            json!({"title": "Phishing mail asking for the API key", "severity": "medium"}),
        )
        .await;
    assert_eq!(reported.status(), 201);
    let second = report(admin.clone()).await;
    let ledger = check(&second, "ledger_integrity");
    assert_eq!(ledger["passed"], true, "{ledger}");
    let since = ledger["evidence"]["entries_checked"].as_u64().unwrap();
    assert!(
        (1..whole).contains(&since),
        "incremental: {since} of {whole}: {ledger}"
    );

    // Another instance on the same data goes on from the signed checkpoint the last report
    // left, not from the genesis.
    let sibling = TestServer::with(|c| c.data_dir = server.data_dir.clone()).await;
    let sibling_admin = sibling.admin().await;
    let resumed: Value = sibling
        .get("/lukhas/v1/t4", Some(&sibling_admin))
        .await
        .json()
        .await
        .unwrap();
    let ledger = check(&resumed, "ledger_integrity");
    assert_eq!(ledger["passed"], true, "{ledger}");
    let checked = ledger["evidence"]["entries_checked"].as_u64().unwrap();
    assert!(
        checked < whole,
        "resumed from the checkpoint: {checked} of {whole}: {ledger}"
    );
    sibling.stop().await;

    // Tampering with an entry appended since turns the ledger check, and the report, red.
    let again = server
        .post(
            "/lukhas/v1/incidents",
            Some(&user),
            json!({"title": "Second phishing mail", "severity": "low"}),
        )
        .await;
    assert_eq!(again.status(), 201);
    let db = server.database().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(
        "UPDATE gov_ledger SET data = replace(data, '\"low\"', '\"critical\"') WHERE seq = (SELECT MAX(seq) FROM gov_ledger)",
    )
    .await
    .unwrap();
    let tampered = report(admin.clone()).await;
    assert_eq!(tampered["t4_compliant"], false, "{tampered}");
    let ledger = check(&tampered, "ledger_integrity");
    assert_eq!(ledger["passed"], false);
    assert!(
        ledger["detail"].as_str().unwrap().contains("entry_hash"),
        "{ledger}"
    );

    let answer = server
        .graphql(
            Some(&admin),
            "{ t4Report { compliant checks { name passed } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer["data"]["t4Report"]["compliant"], false, "{answer}");
    assert_eq!(
        answer["data"]["t4Report"]["checks"][0],
        json!({"name": "ledger_integrity", "passed": false})
    );
}

#[tokio::test]
async fn a_backup_is_verified_and_restores_into_a_fresh_data_dir() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (user, _, _) = server.sign_up(&unique_email("backup-user")).await;
    let response = server
        .post("/lukhas/v1/ops/backup", Some(&user), json!({}))
        .await;
    assert_eq!(response.status(), 403);
    let reported = server
        .post(
            "/lukhas/v1/incidents",
            Some(&user),
            json!({"title": "Before the backup", "severity": "low"}),
        )
        .await;
    assert_eq!(reported.status(), 201);

    let response = server
        .post("/lukhas/v1/ops/backup", Some(&admin), json!({}))
        .await;
    assert_eq!(response.status(), 201);
    let taken: Value = response.json().await.unwrap();
    assert_eq!(taken["ledger"]["valid"], true, "{taken}");
    let entries = taken["ledger"]["entries_checked"].as_u64().unwrap();
    assert!(entries >= 3, "{taken}");
    let name = taken["backup"]["name"].as_str().unwrap().to_string();
    let listed: Value = server
        .get("/lukhas/v1/ops/backups", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["backups"][0]["name"], name.as_str());
    assert_eq!(listed["backups"][0]["sha256"], taken["backup"]["sha256"]);
    assert_eq!(
        server
            .get("/lukhas/v1/ops/backups", Some(&user))
            .await
            .status(),
        403
    );

    // Restored into a fresh data directory with the original node key, the ledger verifies,
    // and a server on it knows the accounts and incidents.
    let fresh = tempfile::tempdir().unwrap();
    let backup = server.data_dir.join("backups").join(&name);
    let report = orrery_api::domain::ops::restore(&backup, fresh.path(), &server.data_dir)
        .await
        .unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.entries_checked, entries);
    let again = orrery_api::domain::ops::restore(&backup, fresh.path(), &server.data_dir).await;
    assert!(again.is_err(), "a data dir with a database is refused");
    let restored = TestServer::with(|c| c.data_dir = fresh.path().to_path_buf()).await;
    let admin = restored.admin().await;
    let verified: Value = restored
        .get("/lukhas/v1/audit/verify", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["valid"], true, "{verified}");
    let incidents: Value = restored
        .get("/lukhas/v1/incidents?source=reported", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        incidents["incidents"][0]["title"], "Before the backup",
        "{incidents}"
    );
}

#[tokio::test]
async fn maintenance_mode_refuses_changes_but_not_reads_logins_or_administrators() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let email = unique_email("maintenance");
    let (user, _, _) = server.sign_up(&email).await;
    let feedback = json!({"rating": 4, "category": "accuracy", "comment": "fine"});

    let off: Value = server
        .get("/lukhas/v1/ops/maintenance", Some(&user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(off["enabled"], false);
    let denied = server
        .put_json(
            "/lukhas/v1/ops/maintenance",
            &user,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(denied.status(), 403, "only administrators switch it");

    let on = server
        .put_json(
            "/lukhas/v1/ops/maintenance",
            &admin,
            json!({"enabled": true, "message": "moving to new disks"}),
        )
        .await;
    assert_eq!(on.status(), 200);
    let on: Value = on.json().await.unwrap();
    assert_eq!(on["enabled"], true);
    assert_eq!(on["message"], "moving to new disks");
    assert!(on["changed_by"].is_string() && on["changed_at"].is_string());

    // A user's changes are refused in each dialect's own format, with Retry-After.
    let refused = server
        .post("/lukhas/v1/feedback", Some(&user), feedback.clone())
        .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "60");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("moving to new disks"));
    let lunaos = server
        .post("/lunaos/api-keys", Some(&user), json!({"name": "during"}))
        .await;
    assert_eq!(lunaos.status(), 503);
    let mutation = server
        .graphql(
            Some(&user),
            "mutation { submitFeedback(input: {rating: 4, category: \"accuracy\"}) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mutation["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{mutation}"
    );

    // Reads and logins go on; administrators keep full access.
    assert_eq!(
        server
            .get("/lukhas/v1/feedback", Some(&user))
            .await
            .status(),
        200
    );
    let viewer = server
        .graphql(
            Some(&user),
            "{ viewer { email } maintenance { enabled message } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer["data"]["maintenance"]["enabled"], true, "{viewer}");
    assert!(
        !server.log_in(&email).await.is_empty(),
        "logging in stays open"
    );
    let by_admin = server
        .post("/lukhas/v1/feedback", Some(&admin), feedback.clone())
        .await;
    assert_eq!(by_admin.status(), 201);

    // Switched off in GraphQL; the user's change goes through again.
    let switched = server
        .graphql(
            Some(&admin),
            "mutation { setMaintenance(input: {enabled: false}) { maintenance { enabled } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        switched["data"]["setMaintenance"]["maintenance"]["enabled"], false,
        "{switched}"
    );
    let accepted = server
        .post("/lukhas/v1/feedback", Some(&user), feedback)
        .await;
    assert_eq!(accepted.status(), 201);

    // Both switches are in the signed ledger.
    let trail: Value = server
        .get("/lukhas/v1/audit?event_type=ops.*", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{trail}"))
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["ops.maintenance_off", "ops.maintenance_on"],
        "{trail}"
    );
    server.stop().await;
}
