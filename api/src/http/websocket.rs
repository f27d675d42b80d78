//! WebSocket settings every socket shares.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};

/// How long a closing server waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// tungstenite zero-fills its read buffer up to this size on every read attempt, and a
/// socket is polled each time its task wakes (every event a subscription hears): at the
/// default 128 KiB, fanning one event out to 3 000 sockets zeroed 400 MB (measured: 30 % of
/// an instance's CPU). Client messages are small; larger ones still arrive whole.
const READ_BUFFER: usize = 4096;

/// An upgrade with the shared buffer size and this endpoint's message limit.
pub fn upgrade(upgrade: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .max_message_size(max_message)
}

/// Closes with `code` and `reason`, then waits, at most [`CLOSE_WAIT`], for the client's
/// close, discarding what it sends meanwhile. Dropping the connection with the client's messages
/// unread resets it, and a client still sending (a flood, the very reason for closing) then
/// read an error instead of the close frame and its code (the consciousness flood test).
pub async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    if socket.send(frame).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
