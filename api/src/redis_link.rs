//! The one way Orrery connects to Redis (the rate store and the Redis bus): a multiplexed
//! connection that reconnects by itself, with bounded waits so an unreachable Redis answers
//! quickly instead of holding callers.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Connects lazily: nothing waits for Redis until the first command.
pub fn connect(
    client: redis::Client,
    timeout: Duration,
    max_delay: Duration,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(max_delay);
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Whether Redis answers a PING within `timeout`.
pub async fn ping(connection: &ConnectionManager, timeout: Duration) -> bool {
    let mut connection = connection.clone();
    let command = redis::cmd("PING");
    let answer = command.query_async::<String>(&mut connection);
    matches!(tokio::time::timeout(timeout, answer).await, Ok(Ok(_)))
}
