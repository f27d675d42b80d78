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
