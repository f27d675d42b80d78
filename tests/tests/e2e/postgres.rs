//! The same flows on PostgreSQL, when `ORRERY_TEST_POSTGRES_URL` is set.

use orrery_tests::TestServer;

use crate::flows;

#[tokio::test]
async fn identity_flows_on_postgres() {
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    flows::lunaos_signup_login_me(&server).await;
    flows::lukhas_token_and_refresh(&server).await;
    flows::refresh_reuse_revokes_family(&server).await;
    flows::api_key_lifecycle(&server).await;
    flows::keys_are_private(&server).await;
    flows::graphql_auth_flow(&server).await;
    assert_eq!(server.get("/readyz", None).await.status(), 200);
    server.stop().await;
}

/// Two server instances on one PostgreSQL database, sharing the node identity, take
/// concurrent decisions: the ledger is one unbroken chain.
#[tokio::test]
async fn two_instances_on_one_postgres_keep_one_chain() {
    let Some(url) = orrery_tests::fresh_postgres_database().await else {
        return;
    };
    let (a, b) = orrery_tests::two_instances(&url).await;
    let email = orrery_tests::unique_email("pg");
    let (token_a, _, _) = a.sign_up(&email).await;
    let token_b = b.log_in(&email).await;
    let requests = (0..200).map(|i| {
        let (server, token) = if i % 2 == 0 { (&a, &token_a) } else { (&b, &token_b) };
        crate::governance::decide(
            server,
            token,
            serde_json::json!({ "actor": "model", "proposed_action": format!("search {i}"), "tool": "web_search" }),
        )
    });
    let decisions = futures::future::join_all(requests).await;
    assert!(decisions.iter().all(|d| d["decision"] == "ALLOWED"));
    let admin = a.admin().await;
    // Each instance signs JWTs with its own data dir's key ring: log in on B as well (before
    // verifying: a login is itself a ledger entry).
    let admin_b = b.admin().await;
    let report: serde_json::Value = a
        .get("/lexecon/ledger/verify", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], true, "{report}");
    let total: serde_json::Value = b
        .get("/lexecon/ledger?limit=1", Some(&admin_b))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["entries_checked"], total["total"]);
    assert!(total["total"].as_u64().unwrap() >= 200);
    a.stop().await;
    b.stop().await;
    orrery_tests::drop_postgres_database(&url).await;
}

#[tokio::test]
async fn governance_flows_on_postgres() {
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("gov")).await;
    let decision = crate::governance::decide(
        &server,
        &token,
        serde_json::json!({ "actor": "model", "proposed_action": "Search", "tool": "web_search", "request_id": "once" }),
    )
    .await;
    let again = crate::governance::decide(
        &server,
        &token,
        serde_json::json!({ "actor": "model", "proposed_action": "Search", "tool": "web_search", "request_id": "once" }),
    )
    .await;
    assert_eq!(decision, again);
    let verified: serde_json::Value = server
        .post(
            "/lexecon/verify",
            Some(&token),
            serde_json::json!({ "capability_token": decision["capability_token"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["valid"], true);
    let admin = server.admin().await;
    let report: serde_json::Value = server
        .get("/lexecon/ledger/verify", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], true, "{report}");
    server.stop().await;
}

/// Approver groups live beside the roles in one column: a user in the most groups allowed,
/// each of the longest name allowed, is stored on PostgreSQL too (a VARCHAR that SQLite
/// does not enforce).
#[tokio::test]
async fn the_most_groups_fit_on_postgres() {
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    let admin = server.admin().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("groups")).await;
    let id = server
        .graphql(Some(&token), "{ viewer { id } }", serde_json::json!({}))
        .await["data"]["viewer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let groups: Vec<String> = (0..16)
        .map(|i| format!("g{i:02}{}", "x".repeat(29)))
        .collect();
    let update = "mutation($id: ID!, $g: [String!]) { updateUser(input: { id: $id, roles: [USER, REVIEWER, AUDITOR], groups: $g }) { user { groups } userErrors { message } } }";
    let updated = server
        .graphql(
            Some(&admin),
            update,
            serde_json::json!({ "id": id, "g": groups }),
        )
        .await;
    assert_eq!(
        updated["data"]["updateUser"]["user"]["groups"]
            .as_array()
            .map(Vec::len),
        Some(16),
        "{updated}"
    );
    let mut one_more = groups.clone();
    one_more.push("g16".into());
    let refused = server
        .graphql(
            Some(&admin),
            update,
            serde_json::json!({ "id": id, "g": one_more }),
        )
        .await;
    assert!(
        refused["data"]["updateUser"]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 16"),
        "{refused}"
    );
    server.stop().await;
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `limit`.
async fn eventually<F, Fut>(what: &str, limit: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The ids of `query`'s best memories on `server`, best first.
async fn memory_hits(server: &TestServer, token: &str, query: &str) -> Vec<String> {
    let found = crate::memory::search(server, token, serde_json::json!({ "query": query })).await;
    found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["memory_id"].as_str().unwrap().to_string())
        .collect()
}

async fn store_memory(server: &TestServer, token: &str, data: &str) -> String {
    let stored = crate::memory::store(server, token, "semantic", data, 0.5).await;
    stored["memory_id"].as_str().unwrap().to_string()
}

/// Two instances on one PostgreSQL database keep their in-memory vector indexes in step:
/// memories stored, updated and deleted through A are found (and gone) in B's searches, B's
/// count of a user's code chunks includes those indexed through A, and a change made while
/// B's listening connection is cut still reaches B once it reconnects (it resynchronises).
#[tokio::test]
async fn two_instances_on_one_postgres_keep_their_search_indexes_in_step() {
    let Some(url) = orrery_tests::fresh_postgres_database().await else {
        return;
    };
    let share = |c: &mut orrery_api::config::Config| {
        c.database_url = url.clone();
        c.rag.max_chunks_per_user = 4;
    };
    let a = TestServer::with(share).await;
    let b = TestServer::with(share).await;
    let email = orrery_tests::unique_email("index-sync");
    let (token_a, _, _) = a.sign_up(&email).await;
    let token_b = b.log_in(&email).await;
    let second = std::time::Duration::from_secs(1);

    let id = store_memory(&a, &token_a, "The lighthouse keeper counts ships at dawn").await;
    eventually("a memory stored on A found on B", second, || async {
        memory_hits(&b, &token_b, "The lighthouse keeper counts ships at dawn")
            .await
            .first()
            == Some(&id)
    })
    .await;
    let updated = a
        .client
        .put(a.url(&format!("/lukhas/v1/memory/{id}")))
        .bearer_auth(&token_a)
        .json(&serde_json::json!({ "content": { "data": "Volcanic glass cools into obsidian" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    eventually("an update on A re-ranks B's search", second, || async {
        memory_hits(&b, &token_b, "Volcanic glass cools into obsidian")
            .await
            .first()
            == Some(&id)
    })
    .await;
    let deleted = a.delete(&format!("/lukhas/v1/memory/{id}"), &token_a).await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    eventually("a memory deleted on A gone from B", second, || async {
        !memory_hits(&b, &token_b, "Volcanic glass cools into obsidian")
            .await
            .contains(&id)
    })
    .await;

    // Code chunks: B refuses a fifth chunk once it has heard of the three indexed on A.
    let files = |names: &[&str]| {
        serde_json::json!({ "repository": "sync", "files": names.iter().map(|n| serde_json::json!({
            "path": format!("{n}.rs"), "content": format!("pub fn {n}() -> u32 {{ 7 }}\n")
        })).collect::<Vec<_>>() })
    };
    let indexed = a
        .post(
            "/lunaos/rag/index",
            Some(&token_a),
            files(&["one", "two", "three"]),
        )
        .await;
    assert_eq!(indexed.status(), 200);
    eventually("B counts the chunks indexed on A", second, || async {
        let refused = b
            .post(
                "/lunaos/rag/index",
                Some(&token_b),
                files(&["four", "five"]),
            )
            .await;
        refused.status() == 403 || refused.status() == 429
    })
    .await;

    // Cut every listening connection, then change something at once: B hears nothing of it
    // and must resynchronise after reconnecting.
    let db = a.database().await;
    use sea_orm::ConnectionTrait;
    let cut = db
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    assert!(cut.rows_affected() >= 2, "both listeners cut");
    let missed = store_memory(&a, &token_a, "Stored while B was not listening").await;
    eventually(
        "B resynchronised after reconnecting",
        5 * second,
        || async {
            memory_hits(&b, &token_b, "Stored while B was not listening")
                .await
                .first()
                == Some(&missed)
        },
    )
    .await;
    a.stop().await;
    b.stop().await;
    orrery_tests::drop_postgres_database(&url).await;
}

/// Maintenance switched on one instance holds on the other within the sync tick.
#[tokio::test]
async fn maintenance_reaches_every_instance() {
    let Some(url) = orrery_tests::fresh_postgres_database().await else {
        return;
    };
    let (a, b) = orrery_tests::two_instances(&url).await;
    let email = orrery_tests::unique_email("pg-maintenance");
    a.sign_up(&email).await;
    let user_b = b.log_in(&email).await;
    let admin_a = a.admin().await;
    let on = a
        .put_json(
            "/lukhas/v1/ops/maintenance",
            &admin_a,
            serde_json::json!({"enabled": true}),
        )
        .await;
    assert_eq!(on.status(), 200);
    let started = std::time::Instant::now();
    loop {
        let status = b
            .post(
                "/lunaos/api-keys",
                Some(&user_b),
                serde_json::json!({"name": "k"}),
            )
            .await
            .status();
        if status == 503 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "instance B still accepts changes ({status})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!("maintenance reached instance B in {:?}", started.elapsed());
    a.stop().await;
    b.stop().await;
    orrery_tests::drop_postgres_database(&url).await;
}

/// A MATRIZ interaction on PostgreSQL: its fold and the guardian's approval of it are
/// written in one ledger transaction, and the chain verifies.
#[tokio::test]
async fn matriz_folds_and_their_approvals_on_postgres() {
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    let (token, _, _) = server
        .sign_up(&orrery_tests::unique_email("pg-matriz"))
        .await;
    let runs = (0..8).map(|i| {
        let (server, token) = (&server, &token);
        async move {
            let response = server
                .post(
                    "/lukhas/v1/matriz/process",
                    Some(token),
                    serde_json::json!({"input": format!("Plan a picnic by the river {i}")}),
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.unwrap()
        }
    });
    let answers = futures::future::join_all(runs).await;
    for answer in &answers {
        let fold = answer["memory_fold_created"].as_str().unwrap();
        let recalled = server
            .get(&format!("/lukhas/v1/memory/recall/{fold}"), Some(&token))
            .await;
        assert_eq!(recalled.status(), 200);
    }
    let audit = server
        .get_json(
            "/lukhas/v1/audit?event_type=guardian.validation",
            Some(&token),
        )
        .await;
    assert_eq!(audit["total_count"], 8, "{audit}");
    let admin = server.admin().await;
    let verified = server
        .get_json("/lukhas/v1/audit/verify", Some(&admin))
        .await;
    assert_eq!(verified["valid"], true, "{verified}");
    server.stop().await;
}
