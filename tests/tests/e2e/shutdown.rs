use std::time::Duration;

use futures::{SinkExt, StreamExt};
use orrery_tests::TestServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn shutdown_closes_websockets_with_1001() {
    let server = TestServer::start().await;
    let mut request = server.ws_url("/graphql/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(r#"{"type":"connection_init"}"#.into()))
        .await
        .unwrap();
    let _ack = socket.next().await;
    let stopping = tokio::spawn(server.stop());
    let frame = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 5 s");
    assert_eq!(u16::from(frame.expect("close frame").code), 1001);
    stopping.await.unwrap();
}
