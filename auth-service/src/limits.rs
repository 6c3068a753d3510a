//! Abuse protection, counted in the store so every replica counts together.
//!
//! - Per client IP: at most `RATE_LIMIT_IP_PER_MINUTE` requests a minute to login, refresh, MFA verify
//!   and gettoken (a hit counter: every request counts).
//! - Per account: at most `RATE_LIMIT_LOGIN_MAX_FAILURES` **failed** attempts in
//!   `RATE_LIMIT_LOGIN_WINDOW_SECONDS`, a window that starts with the first failure. At that count the
//!   account is locked until the window ends: 429 for the right password too, with `Retry-After` the
//!   time the window has left. Only failures count, so any number of simultaneous logins with the
//!   right password succeed.
//!
//! Each kind of failure has its own counter, and a success forgets only the counter of what it
//! proved ([`AccountKey`]):
//! - wrong passwords for a **username** (`/auth/login`, `POST /auth/password`) and wrong passwords
//!   for an **e-mail** (gettoken) are counted apart, each under a hash of the identifier as typed
//!   (under the one normalisation of [`crate::identity::normalize`]), for known and unknown names
//!   alike, so the lock answers the same for every spelling whether the account exists or not; a
//!   username spelled like someone's e-mail names another counter than that e-mail;
//! - wrong second-factor codes are counted per user, whatever step sent them (the login's second
//!   step, gettoken's `otp`, activating or disabling MFA). A right password forgets only its own
//!   counter, a right code only the user's code counter: holding a session and a code proves nothing
//!   about the password, so it cannot reset a password lock.
//!
//! How a flood of wrong passwords stays cheap: the lock is checked while holding one of the
//! [`crate::passwords::Passwords`] hashing permits, and a failure is recorded before the permit is given
//! back. With `C` permits, at most `C - 1` other hashes are in flight unrecorded when a check passes, so
//! one replica runs at most `RATE_LIMIT_LOGIN_MAX_FAILURES + C - 1` hashes for an account per window.

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::AuthConfig;
use crate::identity::normalize;
use crate::refusal::Refusal;
use crate::store::keys;
use crate::store::{Counter, Gate, LimitStore};

/// The store key of one failure counter (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey(String);

impl AccountKey {
    /// The wrong passwords typed for a username.
    pub fn username(typed: &str) -> Self {
        Self::hashed("username", typed)
    }

    /// The wrong passwords typed for an e-mail (gettoken).
    pub fn email(typed: &str) -> Self {
        Self::hashed("email", typed)
    }

    /// The wrong secrets presented for an OAuth client at the token endpoint.
    pub fn client(client_id: &str) -> Self {
        Self::hashed("client", client_id)
    }

    /// The wrong second-factor codes of a user.
    pub fn codes(user_id: u64) -> Self {
        Self(keys::code_counter(user_id))
    }

    fn hashed(namespace: &str, identifier: &str) -> Self {
        let digest = Sha256::new_with_prefix(b"account:")
            .chain_update(namespace.as_bytes())
            .chain_update(b":")
            .chain_update(normalize(identifier).as_bytes())
            .finalize();
        Self(keys::account_counter(&hex::encode(&digest[..16])))
    }
}

/// A refusal for a window with `retry_after_ms` left: `Retry-After` in whole seconds, at least 1.
pub(crate) fn limited(retry_after_ms: i64) -> Refusal {
    Refusal::Limited {
        retry_after_secs: (retry_after_ms.max(1) as u64).div_ceil(1000),
    }
}

pub struct Limits {
    store: Arc<dyn LimitStore>,
    ip_per_minute: u64,
    max_failures: u64,
    window_ms: i64,
}

impl Limits {
    pub fn new(store: Arc<dyn LimitStore>, config: &AuthConfig) -> Self {
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
            key: keys::ip_counter(ip),
            limit: self.ip_per_minute,
            window_ms: 60_000,
        }
    }

    fn failures(&self, account: &AccountKey) -> Counter {
        Counter {
            key: account.0.clone(),
            limit: self.max_failures,
            window_ms: self.window_ms,
        }
    }

    /// Counts the request against its IP and checks the account's lock, in one store round trip:
    /// 429 with the real time left when either refuses. Call it before hashing anything.
    pub async fn admit(&self, ip: IpAddr, account: &AccountKey) -> Result<(), Refusal> {
        match self
            .store
            .gate(&[self.ip_counter(ip)], &[self.failures(account)])
            .await?
        {
            Gate::Open => Ok(()),
            Gate::Limited { retry_after_ms } => {
                tracing::info!(retry_after_ms, "rate limited");
                Err(limited(retry_after_ms))
            }
        }
    }

    /// Counts the request against its IP alone (a sign-in whose account is known only later, from
    /// what it presents: a passkey).
    pub async fn admit_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        match self.store.gate(&[self.ip_counter(ip)], &[]).await? {
            Gate::Open => Ok(()),
            Gate::Limited { retry_after_ms } => {
                tracing::info!(retry_after_ms, "rate limited");
                Err(limited(retry_after_ms))
            }
        }
    }

    /// Whether the account is locked, without counting anything (a code sent with a password that
    /// was admitted already).
    pub async fn check_lock(&self, account: &AccountKey) -> Result<(), Refusal> {
        match self.store.gate(&[], &[self.failures(account)]).await? {
            Gate::Open => Ok(()),
            Gate::Limited { retry_after_ms } => Err(limited(retry_after_ms)),
        }
    }

    /// A wrong password or code: one more failure against the account. The failure that reaches the
    /// limit locks the account: one `login_locked` audit line (the account named by its hash only, as
    /// the name may not exist).
    pub async fn failed(&self, account: &AccountKey) -> Result<(), Refusal> {
        let count = self.store.fail(&[self.failures(account)]).await?;
        if count == self.max_failures {
            crate::audit::record("login_locked", crate::audit::Actor::Anonymous, &account.0, "");
        }
        Ok(())
    }

    /// Forgets the failures of these accounts (an admin's unlock).
    pub async fn forget(&self, accounts: &[AccountKey]) -> Result<(), Refusal> {
        let keys: Vec<String> = accounts.iter().map(|a| a.0.clone()).collect();
        Ok(self.store.reset(&keys).await?)
    }

    /// A success: the failures of what it proved are forgotten.
    pub async fn succeeded(&self, account: &AccountKey) -> Result<(), Refusal> {
        Ok(self.store.reset(std::slice::from_ref(&account.0)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_name_is_one_account() {
        let key = AccountKey::username("maria");
        for spelling in [
            "MARIA",
            " maria",
            "Maria\t",
            "\u{ff4d}\u{ff41}\u{ff52}\u{ff49}\u{ff41}",
        ] {
            assert_eq!(AccountKey::username(spelling), key, "{spelling:?}");
        }
        assert_ne!(AccountKey::username("mario"), key);
    }

    #[test]
    fn a_username_spelled_like_an_email_and_that_email_are_counted_apart() {
        assert_ne!(AccountKey::username("b@x.io"), AccountKey::email("b@x.io"));
        assert_ne!(AccountKey::username("b@x.io"), AccountKey::codes(7));
        assert_eq!(AccountKey::email("B@X.io"), AccountKey::email("b@x.io"));
    }
}
