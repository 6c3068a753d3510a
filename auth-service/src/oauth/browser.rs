//! The hosted login page's browser sessions: single sign-on across clients.
//!
//! A browser that signs in on the page gets a cookie holding 256 random bits; the store keeps, under
//! the cookie's SHA-256 ([`GrantKind::Browser`]), which session it is: a session record like any login's
//! ([`crate::sessions::Sessions::start_browser`]), so whatever ends sessions ends it too (logout-all, a
//! disabled user, a new password), checked on every use ([`Browsers::current`]). It lives the absolute
//! session limit. Logging out (`/oauth2/logout`) ends it and every session its codes started.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::bearer::{hashed, random_token};
use crate::authenticate::Proven;
use crate::refusal::Refusal;
use crate::sessions::Sessions;
use crate::store::{GrantKind, GrantStore};
use crate::users::User;

/// What a browser session's cookie names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSession {
    /// Its session record.
    pub sid: String,
    pub uid: String,
    /// When the user signed in (s).
    pub auth_time: i64,
    /// How (RFC 8176).
    pub amr: Vec<String>,
}

/// See the module doc.
pub struct Browsers {
    grants: Arc<dyn GrantStore>,
    sessions: Arc<Sessions>,
    life_ms: i64,
}

impl Browsers {
    pub fn new(grants: Arc<dyn GrantStore>, sessions: Arc<Sessions>, absolute_secs: i64) -> Self {
        Self {
            grants,
            sessions,
            life_ms: absolute_secs.saturating_mul(1000),
        }
    }

    /// How long the cookie may live (s).
    pub fn life_secs(&self) -> i64 {
        self.life_ms / 1000
    }

    /// Starts a browser session for a user who just signed in: its cookie's value and what it names
    /// (`amr`: how they signed in).
    pub async fn start(&self, proven: &Proven) -> Result<(String, BrowserSession), Refusal> {
        let (sid, started_ms) = self
            .sessions
            .start_browser(&proven.user, proven.cutoff_seen)
            .await?;
        let amr = proven.method.amr();
        let session = BrowserSession {
            sid,
            uid: proven.user.id.to_string(),
            auth_time: started_ms.div_euclid(1000),
            amr,
        };
        let cookie = random_token();
        let value = serde_json::to_string(&session).map_err(Refusal::internal)?;
        let id = hashed(&cookie);
        self.grants
            .put_grant(GrantKind::Browser, &id, &value, self.life_ms)
            .await?;
        self.grants
            .add_to_set(GrantKind::UserBrowsers, &session.uid, &id, self.life_ms)
            .await?;
        Ok((cookie, session))
    }

    /// A user's live browser sessions, by id (the store's id: the cookie's SHA-256), newest first.
    pub async fn of_user(&self, uid: &str) -> Result<Vec<(String, BrowserSession)>, Refusal> {
        let mut found = Vec::new();
        for id in self.grants.set_members(GrantKind::UserBrowsers, uid).await? {
            let Some(value) = self.grants.grant(GrantKind::Browser, &id).await? else {
                continue;
            };
            let Ok(session) = serde_json::from_str::<BrowserSession>(&value) else {
                continue;
            };
            if session.uid == uid && self.sessions.live_user(&session.sid, uid).await?.is_some() {
                found.push((id, session));
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.1.auth_time));
        Ok(found)
    }

    /// The live browser session a cookie names, with its user as stored now; `None` for no cookie, an
    /// unknown one, or a session that has ended.
    pub async fn current(&self, cookie: Option<&str>) -> Result<Option<(BrowserSession, User)>, Refusal> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 64) else {
            return Ok(None);
        };
        let Some(value) = self.grants.grant(GrantKind::Browser, &hashed(cookie)).await? else {
            return Ok(None);
        };
        let Ok(session) = serde_json::from_str::<BrowserSession>(&value) else {
            return Ok(None);
        };
        Ok(self
            .sessions
            .live_user(&session.sid, &session.uid)
            .await?
            .map(|user| (session, user)))
    }

    /// Ends the browser session `id` of user `uid` (from `/cuenta`); what it was, if it was theirs.
    pub async fn end_by_id(&self, uid: &str, id: &str) -> Result<Option<BrowserSession>, Refusal> {
        self.end_id(id, Some(uid)).await
    }

    /// Ends the browser session of a cookie (its record and its session); what it was, if anything.
    pub async fn end(&self, cookie: &str) -> Result<Option<BrowserSession>, Refusal> {
        self.end_id(&hashed(cookie), None).await
    }

    /// Ends browser session `id` (its session and its record), if it is `owner`'s when one is named.
    async fn end_id(&self, id: &str, owner: Option<&str>) -> Result<Option<BrowserSession>, Refusal> {
        let Some(value) = self.grants.grant(GrantKind::Browser, id).await? else {
            return Ok(None);
        };
        let session = serde_json::from_str::<BrowserSession>(&value).ok();
        if owner.is_some_and(|uid| session.as_ref().is_none_or(|s| s.uid != uid)) {
            return Ok(None);
        }
        if let Some(s) = &session {
            self.sessions.end(&s.uid, &s.sid).await?;
        }
        self.grants.drop_grant(GrantKind::Browser, id).await?;
        Ok(session)
    }
}
