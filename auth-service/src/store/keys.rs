//! Every Redis key the auth service uses, built in one place: one function per kind of key, all under
//! the configured prefix `P` followed by `auth:`. The Redis store and any test that reads Redis
//! directly build keys here and nowhere else.
//!
//! - `P auth:sess:<sid>`: hash `uid fp started cur cur_a prev rot rev`, TTL = life of its last tokens;
//! - `P auth:revoked:<jti>`: a revoked access token, TTL = what was left of its life;
//! - `P auth:cutoff:<uid>`: sessions started at or before this ms (Redis time) are revoked (logout-all);
//! - `P auth:mfa:<uid>`: hash `active` (sealed secret) and `last` (last accepted TOTP step), kept;
//! - `P auth:mfa-pending:<uid>`: a sealed secret awaiting activation, with a TTL;
//! - `P auth:mfa-rc:<uid>`: set of recovery-code HMACs;
//! - `P auth:rl:<counter>`: rate-limit counters, TTL = their window; a counter is named by
//!   [`ip_counter`] (`ip:<address>`) or [`account_counter`] (`fail:<hash of the account>`);
//! - `P auth:chal:<jti>`: hash `tries used` of a login challenge, TTL = the challenge's life;
//! - `P auth:revocations`: the revocation feed, a stream trimmed by time whose key expires after the
//!   longest access-token life without an entry (format: [`shared::revocation`], which backends read;
//!   its name comes from [`shared::revocation::feed_key`] so writer and readers agree);
//! - `P auth:cred:<uid>`: the user's credential fingerprint (or `disabled:` and it) as `USERS_FILE` had it
//!   at the last start, kept: one small key per configured user.

/// The name of a client IP's request counter (under [`Keys::rate_limit`]).
pub fn ip_counter(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

/// The name of an account's failure counter (under [`Keys::rate_limit`]), from its hash in hex.
pub fn account_counter(account_hash_hex: &str) -> String {
    format!("fail:{account_hash_hex}")
}

/// The key builder of one deployment (one prefix); cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `P`.
    prefix: String,
    /// `P` followed by `auth:`.
    base: String,
}

impl Keys {
    /// Keys under the configured `REDIS_KEY_PREFIX`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            base: format!("{prefix}auth:"),
        }
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.base)
    }

    /// A session's record.
    pub fn session(&self, sid: &str) -> String {
        self.key("sess", sid)
    }

    /// The mark of one revoked access token.
    pub fn revoked_jti(&self, jti: &str) -> String {
        self.key("revoked", jti)
    }

    /// A user's logout-all cut-off.
    pub fn cutoff(&self, uid: &str) -> String {
        self.key("cutoff", uid)
    }

    /// A user's active MFA secret and last accepted step.
    pub fn mfa(&self, uid: &str) -> String {
        self.key("mfa", uid)
    }

    /// A user's MFA secret awaiting activation.
    pub fn mfa_pending(&self, uid: &str) -> String {
        self.key("mfa-pending", uid)
    }

    /// A user's recovery-code hashes.
    pub fn mfa_recovery(&self, uid: &str) -> String {
        self.key("mfa-rc", uid)
    }

    /// A rate-limit or failure counter, by its [`super::Counter::key`].
    pub fn rate_limit(&self, counter: &str) -> String {
        self.key("rl", counter)
    }

    /// A login challenge's tries and use.
    pub fn challenge(&self, jti: &str) -> String {
        self.key("chal", jti)
    }

    /// The revocation feed backends follow.
    pub fn revocation_feed(&self) -> String {
        shared::revocation::feed_key(&self.prefix)
    }

    /// A user's credential state at the last start.
    pub fn credentials(&self, uid: &str) -> String {
        self.key("cred", uid)
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn every_key_is_under_the_prefix_and_its_kind() {
        let keys = Keys::new("p:");
        assert_eq!(keys.session("s"), "p:auth:sess:s");
        assert_eq!(keys.revoked_jti("j"), "p:auth:revoked:j");
        assert_eq!(keys.cutoff("1"), "p:auth:cutoff:1");
        assert_eq!(keys.mfa("1"), "p:auth:mfa:1");
        assert_eq!(keys.mfa_pending("1"), "p:auth:mfa-pending:1");
        assert_eq!(keys.mfa_recovery("1"), "p:auth:mfa-rc:1");
        assert_eq!(keys.rate_limit("ip:1"), "p:auth:rl:ip:1");
        assert_eq!(keys.challenge("c"), "p:auth:chal:c");
        assert_eq!(keys.revocation_feed(), "p:auth:revocations");
        assert_eq!(keys.credentials("1"), "p:auth:cred:1");
    }
}
