//! Every Redis key the auth service uses, built in one place: one function per kind of key, all under
//! the configured prefix `P` followed by `auth:`. The Redis store and any test that reads Redis
//! directly build keys here and nowhere else.
//!
//! Everything of one user is under that user's hash tag `{u:<uid>}`, so on a Redis Cluster it lives in
//! one hash slot and every script that touches a session, the user's record, cut-off or MFA state stays
//! one atomic call on one node; the user indexes share the tag `{users}`. The rest (rate-limit counters,
//! login challenges, the revocation feed) are single keys, each in a slot of its own. The same layout
//! serves one Redis, Sentinel and Cluster; [`legacy`] names the layout before hash tags, which the Redis
//! store renames on first use ([`super::redis`]).
//!
//! - `P auth:{u:<uid>}:sess:<sid>`: hash `uid fp started cur cur_a prev rot rev`, TTL = life of its
//!   last tokens;
//! - `P auth:{u:<uid>}:revoked:<jti>`: a revoked access token of the user, TTL = what was left of its life;
//! - `P auth:{u:<uid>}:cutoff`: sessions started at or before this ms (Redis time) are revoked (logout-all);
//! - `P auth:{u:<uid>}:issued`: the latest issue time (ms) of any of the user's tokens, which a
//!   logout-all's cut-off covers; TTL = the life of a token issued then;
//! - `P auth:{u:<uid>}:owed`: on a cluster, revocation-feed entries recorded with the revocation and
//!   not yet appended (hash `<kind>:<value>` -> `<until>|<cut-off>`), TTL = the feed's life;
//! - `P auth:owed`: on a cluster, the users who may owe feed entries (sorted set, scored by Redis time
//!   when added), which the sweeper reads;
//! - `P auth:{u:<uid>}:mfa`: hash `active` (sealed secret) and `last` (last accepted TOTP step), kept;
//! - `P auth:{u:<uid>}:mfa-pending`: a sealed secret awaiting activation, with a TTL;
//! - `P auth:{u:<uid>}:mfa-rc`: set of recovery-code HMACs;
//! - `P auth:{u:<uid>}:passkeys`: hash of the user's passkeys (credential id -> record JSON), kept;
//! - `P auth:passkey:<credential id>`: the id of the user who holds that passkey (the index that keeps
//!   credential ids unique and finds a passkey by the id an assertion names), kept;
//! - `P auth:{u:<uid>}:user`: hash `id username email rol hash fp vo active ver config reset nk ek` of a
//!   user (`fp` is the fingerprint of `hash`, kept beside it so the scripts compare without hashing;
//!   `nk`/`ek` the normalised username and e-mail it is indexed under), kept;
//! - `P auth:{users}:name`, `P auth:{users}:email`: hashes from the normalised username / e-mail to the
//!   user id: the uniqueness indexes, kept;
//! - `P auth:{keys}:signing`: hash of the signing keys (kid -> record JSON, with the private key sealed)
//!   and `~newest:<alg>` -> the newest kid of each algorithm; kept, pruned by the service;
//! - `P auth:{users}:admins`: set of the ids of the active admins, of which a write may never leave
//!   none; `P auth:{users}:admins-built`: set once that set was built from the records;
//! - `P auth:{users}:ids`: sorted set of every user id (score = id), for paging; `P auth:{users}:seq`: the
//!   last id handed out;
//! - `P auth:rl:<counter>`: rate-limit counters, TTL = their window; a counter is named by
//!   [`ip_counter`] (`ip:<address>`), [`account_counter`] (`fail:<hash of the kind and the account>`) or
//!   [`code_counter`] (`codes:<uid>`);
//! - `P auth:chal:<jti>`: hash `tries used` of a login challenge, TTL = the challenge's life;
//! - `P auth:revocations`: the revocation feed, a stream trimmed by time whose key expires after the
//!   longest access-token life without an entry (format: [`shared::revocation`], which backends read;
//!   its name comes from [`shared::revocation::feed_key`] so writer and readers agree);
//! - `P auth:grant:<kind>:<id>`: hash `v n` of an OpenID Provider record (`v` its value, `n` how often
//!   it was redeemed), TTL = its life; `P auth:grant-set:<kind>:<id>`: a set of ids (the sessions of a
//!   browser session), TTL = the longest life of what was added;
//! - `P auth:layout`: `2` once the keys of the layout before hash tags have been renamed.

/// The name of a client IP's request counter (under [`Keys::rate_limit`]).
pub fn ip_counter(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

/// The name of a user's wrong-code counter (under [`Keys::rate_limit`]).
pub fn code_counter(user_id: u64) -> String {
    format!("codes:{user_id}")
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

    /// A key of user `uid`, under the user's hash tag.
    fn of_user(&self, uid: &str, kind: &str) -> String {
        format!("{}{{u:{uid}}}:{kind}", self.base)
    }

    /// A key of the user indexes, under their common hash tag.
    fn of_users(&self, kind: &str) -> String {
        format!("{}{{users}}:{kind}", self.base)
    }

    /// A session's record.
    pub fn session(&self, uid: &str, sid: &str) -> String {
        self.of_user(uid, &format!("sess:{sid}"))
    }

    /// The mark of one revoked access token of user `uid`.
    pub fn revoked_jti(&self, uid: &str, jti: &str) -> String {
        self.of_user(uid, &format!("revoked:{jti}"))
    }

    /// A user's logout-all cut-off.
    pub fn cutoff(&self, uid: &str) -> String {
        self.of_user(uid, "cutoff")
    }

    /// A user's active MFA secret and last accepted step.
    pub fn mfa(&self, uid: &str) -> String {
        self.of_user(uid, "mfa")
    }

    /// The latest issue time of any of a user's tokens.
    pub fn issued(&self, uid: &str) -> String {
        self.of_user(uid, "issued")
    }

    /// A user's revocation-feed entries not yet appended (cluster).
    pub fn owed(&self, uid: &str) -> String {
        self.of_user(uid, "owed")
    }

    /// The users who may owe feed entries (cluster).
    pub fn owed_index(&self) -> String {
        format!("{}owed", self.base)
    }

    /// A user's MFA secret awaiting activation.
    pub fn mfa_pending(&self, uid: &str) -> String {
        self.of_user(uid, "mfa-pending")
    }

    /// A user's recovery-code hashes.
    pub fn mfa_recovery(&self, uid: &str) -> String {
        self.of_user(uid, "mfa-rc")
    }

    /// A user's passkeys: credential id -> record JSON.
    pub fn passkeys(&self, uid: &str) -> String {
        self.of_user(uid, "passkeys")
    }

    /// Who holds the passkey with credential id `id` (base64url).
    pub fn passkey_owner(&self, id: &str) -> String {
        self.key("passkey", id)
    }

    /// A rate-limit or failure counter, by its [`super::Counter::key`].
    pub fn rate_limit(&self, counter: &str) -> String {
        self.key("rl", counter)
    }

    /// A login challenge's tries and use.
    pub fn challenge(&self, jti: &str) -> String {
        self.key("chal", jti)
    }

    /// An OpenID Provider record ([`super::GrantKind`]).
    pub fn grant(&self, kind: super::GrantKind, id: &str) -> String {
        self.key("grant", &format!("{}:{id}", kind.as_str()))
    }

    /// A set of ids of the OpenID Provider ([`super::GrantKind::Descendants`]).
    pub fn grant_set(&self, kind: super::GrantKind, id: &str) -> String {
        self.key("grant-set", &format!("{}:{id}", kind.as_str()))
    }

    /// The revocation feed backends follow.
    pub fn revocation_feed(&self) -> String {
        shared::revocation::feed_key(&self.prefix)
    }

    /// A user's record.
    pub fn user(&self, uid: &str) -> String {
        self.of_user(uid, "user")
    }

    /// What comes before and after the id in [`Keys::user`], for the scripts that find a user through
    /// an index (one Redis or Sentinel only: on a cluster the record is in another slot).
    pub fn user_affixes(&self) -> (String, String) {
        (format!("{}{{u:", self.base), "}:user".to_string())
    }

    /// The index of normalised usernames to ids.
    pub fn users_by_username(&self) -> String {
        self.of_users("name")
    }

    /// The index of normalised e-mails to ids.
    pub fn users_by_email(&self) -> String {
        self.of_users("email")
    }

    /// Every user id, for paging.
    pub fn user_ids(&self) -> String {
        self.of_users("ids")
    }

    /// The signing keys (one hash, one slot: adding one is atomic on a cluster too).
    pub fn signing_keys(&self) -> String {
        format!("{}{{keys}}:signing", self.base)
    }

    /// The OAuth 2.0 clients (one hash, one slot): `client_id` -> record (JSON), `~v:<client_id>` -> its
    /// version, so a write compares and sets in one step on a cluster too.
    pub fn oauth_clients(&self) -> String {
        format!("{}{{clients}}:oauth", self.base)
    }

    /// The ids of the active admins: there is always at least one (see `lua/admins.lua`).
    pub fn admins(&self) -> String {
        self.of_users("admins")
    }

    /// Set once [`Keys::admins`] has been built from the records.
    pub fn admins_built(&self) -> String {
        self.of_users("admins-built")
    }

    /// The last id handed out.
    pub fn user_seq(&self) -> String {
        self.of_users("seq")
    }

    /// Set once the keys of the [`legacy`] layout are renamed.
    pub fn layout(&self) -> String {
        format!("{}layout", self.base)
    }

    /// `P auth:`: what every key starts with.
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// The layout before hash tags (`P auth:<kind>:<id>`), and where each of its keys goes now. Only the
/// kinds that hold something a user would miss are renamed: sessions (`uid` read from the record),
/// cut-offs, MFA state, user records and indexes. A revoked-token mark is dropped: its session is
/// revoked too (the mark is written with the session's own revocation), which refuses the token all
/// the same, and the feed keeps its entry.
pub mod legacy {
    use super::Keys;

    /// What an old key becomes.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Move {
        /// Rename to this key.
        To(String),
        /// A session: rename to [`Keys::session`] of the `uid` its record holds.
        Session { sid: String },
        /// Not needed in the new layout.
        Drop,
        /// Not an old-layout key (a new one, or another kind).
        Keep,
    }

    /// Where `key` (a key under `P auth:`) goes.
    pub fn destination(keys: &Keys, key: &str) -> Move {
        let Some(rest) = key.strip_prefix(keys.base()) else {
            return Move::Keep;
        };
        if rest.starts_with('{') {
            return Move::Keep;
        }
        let Some((kind, id)) = rest.split_once(':') else {
            return Move::Keep;
        };
        match kind {
            "sess" => Move::Session { sid: id.to_string() },
            "revoked" => Move::Drop,
            "cutoff" => Move::To(keys.cutoff(id)),
            "mfa" => Move::To(keys.mfa(id)),
            "mfa-pending" => Move::To(keys.mfa_pending(id)),
            "mfa-rc" => Move::To(keys.mfa_recovery(id)),
            "user" => Move::To(keys.user(id)),
            "users" => match id {
                "name" => Move::To(keys.users_by_username()),
                "email" => Move::To(keys.users_by_email()),
                "ids" => Move::To(keys.user_ids()),
                "seq" => Move::To(keys.user_seq()),
                _ => Move::Keep,
            },
            _ => Move::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::legacy::{destination, Move};
    use super::Keys;

    #[test]
    fn every_key_is_under_the_prefix_and_its_kind() {
        let keys = Keys::new("p:");
        assert_eq!(keys.session("1", "s"), "p:auth:{u:1}:sess:s");
        assert_eq!(keys.revoked_jti("1", "j"), "p:auth:{u:1}:revoked:j");
        assert_eq!(keys.cutoff("1"), "p:auth:{u:1}:cutoff");
        assert_eq!(keys.mfa("1"), "p:auth:{u:1}:mfa");
        assert_eq!(keys.mfa_pending("1"), "p:auth:{u:1}:mfa-pending");
        assert_eq!(keys.mfa_recovery("1"), "p:auth:{u:1}:mfa-rc");
        assert_eq!(keys.rate_limit("ip:1"), "p:auth:rl:ip:1");
        assert_eq!(keys.challenge("c"), "p:auth:chal:c");
        assert_eq!(keys.revocation_feed(), "p:auth:revocations");
        assert_eq!(keys.user("1"), "p:auth:{u:1}:user");
        let (before, after) = keys.user_affixes();
        assert_eq!(format!("{before}7{after}"), keys.user("7"));
        assert_eq!(keys.users_by_username(), "p:auth:{users}:name");
        assert_eq!(keys.users_by_email(), "p:auth:{users}:email");
        assert_eq!(keys.user_ids(), "p:auth:{users}:ids");
        assert_eq!(keys.user_seq(), "p:auth:{users}:seq");
        assert_eq!(keys.layout(), "p:auth:layout");
        assert_eq!(
            keys.grant(super::super::GrantKind::Code, "h"),
            "p:auth:grant:code:h"
        );
        assert_eq!(
            keys.grant_set(super::super::GrantKind::Descendants, "s"),
            "p:auth:grant-set:desc:s"
        );
    }

    #[test]
    fn a_users_keys_share_one_hash_tag_and_the_indexes_another() {
        let keys = Keys::new("p:");
        let tag = |key: &str| {
            let open = key.find('{').map(|i| i + 1).unwrap_or(0);
            let close = key[open..].find('}').map(|i| i + open).unwrap_or(key.len());
            key[open..close].to_string()
        };
        for key in [
            keys.session("42", "s"),
            keys.revoked_jti("42", "j"),
            keys.cutoff("42"),
            keys.mfa("42"),
            keys.mfa_pending("42"),
            keys.mfa_recovery("42"),
            keys.user("42"),
        ] {
            assert_eq!(tag(&key), "u:42", "{key}");
        }
        for key in [
            keys.users_by_username(),
            keys.users_by_email(),
            keys.user_ids(),
            keys.user_seq(),
        ] {
            assert_eq!(tag(&key), "users", "{key}");
        }
    }

    #[test]
    fn old_layout_keys_map_to_their_new_names() {
        let keys = Keys::new("p:");
        assert_eq!(
            destination(&keys, "p:auth:sess:abc"),
            Move::Session { sid: "abc".into() }
        );
        assert_eq!(destination(&keys, "p:auth:cutoff:3"), Move::To(keys.cutoff("3")));
        assert_eq!(destination(&keys, "p:auth:mfa:3"), Move::To(keys.mfa("3")));
        assert_eq!(
            destination(&keys, "p:auth:mfa-pending:3"),
            Move::To(keys.mfa_pending("3"))
        );
        assert_eq!(
            destination(&keys, "p:auth:mfa-rc:3"),
            Move::To(keys.mfa_recovery("3"))
        );
        assert_eq!(destination(&keys, "p:auth:user:3"), Move::To(keys.user("3")));
        assert_eq!(
            destination(&keys, "p:auth:users:name"),
            Move::To(keys.users_by_username())
        );
        assert_eq!(destination(&keys, "p:auth:users:seq"), Move::To(keys.user_seq()));
        assert_eq!(destination(&keys, "p:auth:revoked:j"), Move::Drop);
        for kept in [
            keys.session("3", "s"),
            keys.user("3"),
            keys.rate_limit("ip:1"),
            keys.challenge("c"),
            keys.revocation_feed(),
            keys.layout(),
            "q:auth:user:3".to_string(),
        ] {
            assert_eq!(destination(&keys, &kept), Move::Keep, "{kept}");
        }
    }
}
