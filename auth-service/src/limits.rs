//! Abuse protection, counted in the store so every replica counts together.
//!
//! - Per client IP: at most `RATE_LIMIT_IP_PER_MINUTE` requests a minute to login, refresh, MFA verify
//!   and gettoken.
//! - Per account, and per account and IP: at most `RATE_LIMIT_LOGIN_MAX_FAILURES` attempts in
//!   `RATE_LIMIT_LOGIN_WINDOW_SECONDS`. An attempt is counted *before* the password is hashed and
//!   forgotten when the login succeeds, so a flood of guesses costs at most that many argon2 runs, and a
//!   locked account answers 429 whether the password is right or not, until the window ends (never for
//!   ever). Unknown usernames are counted the same way, under a hash of the name.

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use shared::ApiError;

use crate::config::AuthConfig;
use crate::store::{Counter, Gate, SharedStore};
use crate::users::User;

pub struct Limits {
    store: SharedStore,
    ip_per_minute: u64,
    max_failures: u64,
    window_ms: i64,
}

/// Who an attempt is against: a known user by id, anyone else by a hash of the name given.
pub fn subject(identifier: &str, user: Option<&User>) -> String {
    match user {
        Some(u) => format!("u{}", u.id),
        None => {
            let digest = Sha256::new_with_prefix(b"subject:")
                .chain_update(identifier.trim().to_lowercase().as_bytes())
                .finalize();
            format!("n{}", hex::encode(&digest[..16]))
        }
    }
}

/// 429 with `Retry-After` in whole seconds, at least 1.
pub fn limited(retry_after_ms: i64) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: (retry_after_ms.max(1) as u64).div_ceil(1000),
    }
}

impl Limits {
    pub fn new(store: SharedStore, config: &AuthConfig) -> Self {
        Self {
            store,
            ip_per_minute: config.rate_limit_ip_per_minute,
            max_failures: config.rate_limit_login_max_failures,
            window_ms: (config.rate_limit_login_window_secs as i64) * 1000,
        }
    }

    /// The per-IP ceiling.
    pub fn ip_counter(&self, ip: IpAddr) -> Counter {
        Counter {
            key: format!("ip:{ip}"),
            limit: self.ip_per_minute,
            window_ms: 60_000,
        }
    }

    fn attempt_counters(&self, subject: &str, ip: IpAddr) -> [Counter; 2] {
        [
            Counter {
                key: format!("fail:{subject}"),
                limit: self.max_failures,
                window_ms: self.window_ms,
            },
            Counter {
                key: format!("fail:{subject}:{ip}"),
                limit: self.max_failures,
                window_ms: self.window_ms,
            },
        ]
    }

    /// Counts a credential attempt (IP, account, account+IP); 429 when any is over its limit.
    /// Call it before hashing anything.
    pub async fn attempt(&self, ip: IpAddr, subject: &str) -> Result<(), ApiError> {
        let [account, account_ip] = self.attempt_counters(subject, ip);
        match self
            .store
            .gate(&[self.ip_counter(ip), account, account_ip])
            .await?
        {
            Gate::Open => Ok(()),
            Gate::Limited { retry_after_ms } => {
                tracing::info!(retry_after_ms, "rate limited");
                Err(limited(retry_after_ms))
            }
        }
    }

    /// Runs one code attempt by a known user (MFA activate, disable) under the same limits as a
    /// password: counted before it runs, forgotten when it succeeds.
    pub async fn counted<T>(
        &self,
        ip: IpAddr,
        user: &User,
        attempt: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let subject = subject("", Some(user));
        self.attempt(ip, &subject).await?;
        let value = attempt.await?;
        self.succeeded(ip, &subject).await?;
        Ok(value)
    }

    /// A successful login: the attempts against the account stop counting.
    pub async fn succeeded(&self, ip: IpAddr, subject: &str) -> Result<(), ApiError> {
        let keys: Vec<String> = self
            .attempt_counters(subject, ip)
            .into_iter()
            .map(|c| c.key)
            .collect();
        Ok(self.store.reset(&keys).await?)
    }
}
