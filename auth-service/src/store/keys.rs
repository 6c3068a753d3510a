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
//! - `P auth:user:<uid>`: hash `id username email rol hash fp vo active ver config reset` of a user
//!   (`fp` is the fingerprint of `hash`, kept beside it so the scripts compare without hashing), kept;
//! - `P auth:users:name`, `P auth:users:email`: hashes from the normalised username / e-mail to the
//!   user id: the uniqueness indexes, kept;
//! - `P auth:users:ids`: sorted set of every user id (score = id), for paging; `P auth:users:seq`: the
//!   last id handed out.

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

    /// A user's record.
    pub fn user(&self, uid: &str) -> String {
        self.key("user", uid)
    }

    /// What [`Keys::user`] puts before the id, for the scripts that find a user through an index.
    pub fn user_prefix(&self) -> String {
        self.key("user", "")
    }

    /// The index of normalised usernames to ids.
    pub fn users_by_username(&self) -> String {
        self.key("users", "name")
    }

    /// The index of normalised e-mails to ids.
    pub fn users_by_email(&self) -> String {
        self.key("users", "email")
    }

    /// Every user id, for paging.
    pub fn user_ids(&self) -> String {
        self.key("users", "ids")
    }

    /// The last id handed out.
    pub fn user_seq(&self) -> String {
        self.key("users", "seq")
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
        assert_eq!(keys.user("1"), "p:auth:user:1");
        assert_eq!(keys.user_prefix() + "7", keys.user("7"));
        assert_eq!(keys.users_by_username(), "p:auth:users:name");
        assert_eq!(keys.users_by_email(), "p:auth:users:email");
        assert_eq!(keys.user_ids(), "p:auth:users:ids");
        assert_eq!(keys.user_seq(), "p:auth:users:seq");
    }
}
