//! WebSocket settings every socket shares.

use axum::extract::ws::WebSocketUpgrade;

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
