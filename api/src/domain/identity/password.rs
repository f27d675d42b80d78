//! Password hashing: argon2id with the OWASP minimum parameters, run on blocking threads
//! under a semaphore so a login flood cannot take every core from other requests.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{DomainError, DomainResult};

const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
/// A caller that cannot get a hashing slot within this time gets a clear 503 instead of
/// piling up behind a flood.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

#[derive(Clone)]
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
    /// Verified against for unknown users so they cost the same work as known ones.
    dummy_hash: Arc<str>,
}

pub enum Verified {
    Yes { rehash: Option<String> },
    No,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("static params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> DomainResult<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(DomainError::internal)
}

fn has_current_params(hash: &PasswordHash<'_>) -> bool {
    hash.algorithm == argon2::ARGON2ID_IDENT
        && Params::try_from(hash).is_ok_and(|p| {
            p.m_cost() == MEMORY_KIB && p.t_cost() == ITERATIONS && p.p_cost() == PARALLELISM
        })
}

/// Checks the length rule; the domain never hashes a password it would refuse.
pub fn validate(password: &str) -> DomainResult<()> {
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(DomainError::invalid(
            "password",
            format!("password must be {MIN_LEN} to {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        let concurrency = if concurrency == 0 {
            // Leave a core for everything else.
            std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1).max(1))
                .unwrap_or(1)
        } else {
            concurrency
        };
        let dummy_hash = hash_now("orrery-dummy-password").expect("argon2 with static params");
        Self {
            slots: Arc::new(Semaphore::new(concurrency)),
            dummy_hash: dummy_hash.into(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> DomainResult<T> {
        let _permit = tokio::time::timeout(QUEUE_WAIT, self.slots.acquire())
            .await
            .map_err(|_| {
                DomainError::Unavailable("too many concurrent sign-ins; try again shortly".into())
            })?
            .map_err(DomainError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(DomainError::internal)
    }

    pub async fn hash(&self, password: String) -> DomainResult<String> {
        self.run(move || hash_now(&password)).await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no user,
    /// so both cases cost one argon2 computation.
    pub async fn verify(&self, password: String, stored: Option<String>) -> DomainResult<Verified> {
        let dummy = self.dummy_hash.clone();
        self.run(move || {
            let known = stored.is_some();
            let phc = stored.as_deref().unwrap_or(&dummy);
            let Ok(parsed) = PasswordHash::new(phc) else {
                return Ok(Verified::No);
            };
            let ok = argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            if !(ok && known) {
                return Ok(Verified::No);
            }
            let rehash = if has_current_params(&parsed) {
                None
            } else {
                Some(hash_now(&password)?)
            };
            Ok(Verified::Yes { rehash })
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_report_stale_params() {
        let hasher = PasswordHasher::new(1);
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(matches!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap(),
            Verified::Yes { rehash: None }
        ));
        assert!(matches!(
            hasher.verify("wrong".into(), Some(hash)).await.unwrap(),
            Verified::No
        ));
        // Unknown user: the dummy hash's own password must not log anyone in.
        assert!(matches!(
            hasher
                .verify("orrery-dummy-password".into(), None)
                .await
                .unwrap(),
            Verified::No
        ));

        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(
            b"pw-old-params",
            &SaltString::generate(&mut rand::rngs::OsRng),
        )
        .unwrap()
        .to_string();
        assert!(matches!(
            hasher
                .verify("pw-old-params".into(), Some(weak))
                .await
                .unwrap(),
            Verified::Yes { rehash: Some(_) }
        ));
    }

    #[test]
    fn length_rule() {
        assert!(validate("short").is_err());
        assert!(validate(&"x".repeat(129)).is_err());
        assert!(validate("eight888").is_ok());
    }
}
