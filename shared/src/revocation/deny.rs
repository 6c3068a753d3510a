//! The revocations in force, held in memory by a backend that follows the feed: sessions, users' cut-offs
//! and single tokens, each with the time after which it no longer matters.
//!
//! An entry past its `until` is ignored by [`DenySet::is_revoked`] at once and removed by the next
//! [`DenySet::sweep`], so the set holds at most the last access-token life's revocations whatever the
//! history. Applying an entry twice, or an older one after a newer one, changes nothing: a reload of the
//! whole stream merges into what is held.

use std::collections::HashMap;

use super::{FeedEntry, Revoked};
use crate::claims::AccessClaims;

/// See the module doc.
#[derive(Debug, Default)]
pub struct DenySet {
    /// sid -> until (ms).
    sessions: HashMap<String, i64>,
    /// jti -> until (ms).
    tokens: HashMap<String, i64>,
    /// sub -> (cut-off, until) (ms).
    users: HashMap<String, (i64, i64)>,
}

impl DenySet {
    /// Adds an entry; the later `until` and the later cut-off win.
    pub fn apply(&mut self, entry: &FeedEntry) {
        let until = entry.until_ms;
        match &entry.revoked {
            Revoked::Session(sid) => {
                let held = self.sessions.entry(sid.clone()).or_insert(until);
                *held = (*held).max(until);
            }
            Revoked::Token(jti) => {
                let held = self.tokens.entry(jti.clone()).or_insert(until);
                *held = (*held).max(until);
            }
            Revoked::User { sub, cutoff_ms } => {
                let held = self.users.entry(sub.clone()).or_insert((*cutoff_ms, until));
                *held = (held.0.max(*cutoff_ms), held.1.max(until));
            }
        }
    }

    /// Whether a verified token is revoked at `now_ms`: its token, its session, or its user up to a
    /// cut-off at or after its issue time (`iat` is in seconds, the cut-off in ms: the auth service
    /// rounds cut-offs to the end of their second, so this comparison is exact).
    pub fn is_revoked(&self, claims: &AccessClaims, now_ms: i64) -> bool {
        let live = |until: &i64| *until > now_ms;
        self.tokens.get(&claims.jti).is_some_and(live)
            || self.sessions.get(&claims.sid).is_some_and(live)
            || self
                .users
                .get(&claims.sub)
                .is_some_and(|(cutoff, until)| live(until) && claims.iat.saturating_mul(1000) <= *cutoff)
    }

    /// Forgets every entry past its `until`.
    pub fn sweep(&mut self, now_ms: i64) {
        self.sessions.retain(|_, until| *until > now_ms);
        self.tokens.retain(|_, until| *until > now_ms);
        self.users.retain(|_, (_, until)| *until > now_ms);
    }

    /// How many entries are held (expired ones until the next sweep included).
    pub fn len(&self) -> usize {
        self.sessions.len() + self.tokens.len() + self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{Rol, TokenKind};

    fn claims(sub: &str, sid: &str, jti: &str, iat: i64) -> AccessClaims {
        AccessClaims {
            sub: sub.into(),
            jti: jti.into(),
            sid: sid.into(),
            iat,
            nbf: iat,
            exp: iat + 3600,
            iss: "i".into(),
            aud: "a".into(),
            typ: TokenKind::Access,
            username: "u".into(),
            email: "u@example.com".into(),
            rol: Some(Rol::Usuario),
            client_id: None,
            scope: None,
        }
    }

    fn entry(revoked: Revoked, until_ms: i64) -> FeedEntry {
        FeedEntry { revoked, until_ms }
    }

    #[test]
    fn a_revoked_session_token_or_user_is_refused_until_the_entry_expires() {
        let mut set = DenySet::default();
        set.apply(&entry(Revoked::Session("s1".into()), 10_000));
        set.apply(&entry(Revoked::Token("j2".into()), 10_000));
        assert!(set.is_revoked(&claims("1", "s1", "j1", 1), 5_000));
        assert!(set.is_revoked(&claims("1", "s2", "j2", 1), 5_000));
        assert!(!set.is_revoked(&claims("1", "s2", "j1", 1), 5_000));
        assert!(!set.is_revoked(&claims("1", "s1", "j1", 1), 10_000), "past until");
        assert_eq!(set.len(), 2);
        set.sweep(10_000);
        assert!(set.is_empty());
    }

    #[test]
    fn a_cut_off_refuses_tokens_issued_in_or_before_its_second_only() {
        let mut set = DenySet::default();
        set.apply(&entry(
            Revoked::User {
                sub: "7".into(),
                cutoff_ms: 1_000_999,
            },
            2_000_000,
        ));
        assert!(set.is_revoked(&claims("7", "s", "j", 1_000), 1_500_000));
        assert!(set.is_revoked(&claims("7", "s", "j", 999), 1_500_000));
        assert!(
            !set.is_revoked(&claims("7", "s", "j", 1_001), 1_500_000),
            "issued after"
        );
        assert!(
            !set.is_revoked(&claims("8", "s", "j", 1_000), 1_500_000),
            "another user"
        );
    }

    #[test]
    fn applying_is_idempotent_and_the_later_cut_off_and_until_win() {
        let mut set = DenySet::default();
        let later = entry(
            Revoked::User {
                sub: "7".into(),
                cutoff_ms: 5_999,
            },
            9_000,
        );
        let earlier = entry(
            Revoked::User {
                sub: "7".into(),
                cutoff_ms: 2_999,
            },
            20_000,
        );
        set.apply(&later);
        set.apply(&earlier);
        set.apply(&later);
        assert_eq!(set.len(), 1);
        assert!(
            set.is_revoked(&claims("7", "s", "j", 5), 15_000),
            "cut-off 5999, until 20000"
        );
        set.apply(&entry(Revoked::Session("s".into()), 1));
        set.apply(&entry(Revoked::Session("s".into()), 50));
        assert!(set.is_revoked(&claims("1", "s", "j", 5), 10));
    }
}
