//! One turn at a time per session: turns of one session queue behind each other (so each
//! sees the one before), turns of different sessions do not wait for each other. An entry
//! lives only while someone holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Key = (String, String);

#[derive(Default)]
pub struct SessionLocks {
    held: Arc<Mutex<HashMap<Key, Arc<AsyncMutex<()>>>>>,
}

pub struct SessionGuard {
    guard: Option<OwnedMutexGuard<()>>,
    key: Key,
    held: Arc<Mutex<HashMap<Key, Arc<AsyncMutex<()>>>>>,
}

impl SessionLocks {
    pub async fn lock(&self, owner: &str, session: &str) -> SessionGuard {
        let key = (owner.to_string(), session.to_string());
        let entry = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        SessionGuard {
            guard: Some(entry.lock_owned().await),
            key,
            held: self.held.clone(),
        }
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        self.guard.take();
        // The map's own reference is the last one: nobody holds or waits for it.
        if held
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            held.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_session_queues_and_others_do_not_and_entries_go_away() {
        let locks = Arc::new(SessionLocks::default());
        let first = locks.lock("u", "s").await;
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock("u", "t")).await;
        assert!(other.is_ok(), "another session is not blocked");
        drop(other);
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _second = locks.lock("u", "s").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the same session waits");
        drop(first);
        waiting.await.unwrap();
        assert_eq!(locks.entries(), 0);
    }
}
