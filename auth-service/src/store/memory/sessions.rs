//! Sessions, their rotation and their revocation, under the one lock.

use super::*;

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, s: &NewSession) -> Result<SessionStart, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let Some(user) = inner.session_user(&s.uid, &s.fingerprint) else {
            return Ok(SessionStart::Refused);
        };
        let cutoff = inner.cutoff(&s.uid, now);
        if s.cutoff_seen.is_some_and(|seen| cutoff.unwrap_or(0) != seen) {
            return Ok(SessionStart::Refused);
        }
        // Revoked before it started (see revoke_session_even_unstarted).
        if inner
            .sessions
            .get(&s.sid)
            .is_some_and(|r| r.revoked && r.uid == s.uid && r.expires_ms > now)
        {
            return Ok(SessionStart::Refused);
        }
        let started_ms = match cutoff {
            Some(cutoff) if now <= cutoff => cutoff + 1,
            _ => now,
        };
        inner.sessions.insert(
            s.sid.clone(),
            SessionRecord {
                uid: s.uid.clone(),
                fingerprint: s.fingerprint.clone(),
                started_ms,
                current: (s.refresh_jti.clone(), s.access_jti.clone()),
                previous: None,
                rotated_ms: started_ms,
                revoked: false,
                expires_ms: now + s.ttl_ms,
            },
        );
        inner.raise_issued(&s.uid, started_ms, s.ttl_ms, now);
        inner.wrote(now);
        inner.commit()?;
        Ok(SessionStart::Started {
            started_ms,
            now_ms: now,
            user: Box::new(user),
        })
    }

    async fn rotate(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        if let Some(gate) = &r.gate {
            if let Some(retry_after_ms) = inner.hit(gate, now) {
                inner.commit()?;
                return Ok(RotateOutcome::Limited { retry_after_ms });
            }
        }
        let cutoff = inner.cutoff(&r.uid, now);
        let Some(record) = inner.session(&r.sid, now).cloned() else {
            return Ok(RotateOutcome::Revoked);
        };
        if record.revoked || record.uid != r.uid || cutoff.is_some_and(|c| record.started_ms <= c) {
            inner.commit()?;
            return Ok(RotateOutcome::Revoked);
        }
        let user = inner.session_user(&r.uid, &record.fingerprint);
        let Some(entry) = inner.sessions.get_mut(&r.sid) else {
            return Ok(RotateOutcome::Revoked);
        };
        let life = self.feed_life_ms;
        let Some(user) = user else {
            entry.revoked = true;
            inner.feed_append(now, life, Revoked::Session(r.sid.clone()), now + life);
            inner.commit()?;
            return Ok(RotateOutcome::Revoked);
        };
        if r.presented_jti == record.current.0 {
            // A session started just after a cut-off may start a little ahead of now: its pairs are
            // never issued before its start (as rotate.lua); the grace counts from the rotation.
            let issued_ms = now.max(record.started_ms);
            entry.previous = Some(record.current.0.clone());
            entry.current = (r.new_refresh_jti.clone(), r.new_access_jti.clone());
            entry.rotated_ms = now;
            entry.expires_ms = now + r.ttl_ms;
            inner.raise_issued(&r.uid, issued_ms, r.ttl_ms, now);
            inner.wrote(now);
            inner.commit()?;
            return Ok(RotateOutcome::Rotated(
                Generation {
                    started_ms: record.started_ms,
                    issued_ms,
                    refresh_jti: r.new_refresh_jti.clone(),
                    access_jti: r.new_access_jti.clone(),
                },
                user,
            ));
        }
        let within_grace = r.grace_ms > 0 && now - record.rotated_ms <= r.grace_ms;
        if record.previous.as_deref() == Some(r.presented_jti.as_str()) && within_grace {
            inner.commit()?;
            return Ok(RotateOutcome::Replayed(
                Generation {
                    started_ms: record.started_ms,
                    issued_ms: record.rotated_ms.max(record.started_ms),
                    refresh_jti: record.current.0,
                    access_jti: record.current.1,
                },
                user,
            ));
        }
        entry.revoked = true;
        inner.feed_append(now, life, Revoked::Session(r.sid.clone()), now + life);
        inner.commit()?;
        Ok(RotateOutcome::Reused)
    }

    async fn session_view(
        &self,
        sid: &str,
        uid: &str,
        access_jti: Option<&str>,
    ) -> Result<SessionView, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock()?;
        let revoked = |jti: &str| inner.revoked_jtis.get(jti).is_some_and(|exp| *exp > now);
        if access_jti.is_some_and(revoked) {
            return Ok(SessionView::Revoked);
        }
        let cutoff = inner.cutoff(uid, now);
        let live = inner
            .session(sid, now)
            .filter(|s| !s.revoked && s.uid == uid && cutoff.is_none_or(|c| s.started_ms > c));
        Ok(
            match live.and_then(|s| Some((s, inner.session_user(uid, &s.fingerprint)?))) {
                Some((s, user)) => SessionView::Active {
                    user: Box::new(user),
                    current_refresh_jti: s.current.0.clone(),
                },
                None => SessionView::Revoked,
            },
        )
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke_session(&self, uid: &str, sid: &str, jti: Option<(&str, i64)>) -> Result<(), StoreError> {
        self.revoke_session_with(uid, sid, jti, false)
    }

    async fn revoke_session_even_unstarted(&self, uid: &str, sid: &str) -> Result<(), StoreError> {
        self.revoke_session_with(uid, sid, None, true)
    }

    async fn cutoff(&self, uid: &str) -> Result<Option<i64>, StoreError> {
        let now = self.clock.now_ms();
        Ok(self.lock()?.cutoff(uid, now))
    }

    async fn token_revoked(&self, _uid: &str, jti: &str) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        Ok(self
            .lock()?
            .revoked_jtis
            .get(jti)
            .is_some_and(|until| *until > now))
    }

    async fn revoke_user(&self, uid: &str, ttl_ms: i64) -> Result<i64, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let at = inner.cut_off(uid, ttl_ms, now, self.feed_life_ms);
        inner.wrote(now);
        inner.commit()?;
        Ok(at)
    }
}

impl MemoryStore {
    /// `revoke_session`; with `unstarted`, a session not started yet is marked revoked too.
    fn revoke_session_with(
        &self,
        uid: &str,
        sid: &str,
        jti: Option<(&str, i64)>,
        unstarted: bool,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let life = self.feed_life_ms;
        let mut inner = self.write()?;
        let live = |s: &&mut SessionRecord| s.expires_ms > now && s.uid == uid;
        let was_live = match inner.sessions.get_mut(sid).filter(live) {
            Some(s) => !std::mem::replace(&mut s.revoked, true),
            None => {
                // Not started (yet): marked revoked for the feed's life so it never starts (an
                // authorization code replayed while its first exchange is starting the session).
                // No tokens of it exist: nothing goes to the feed.
                if unstarted && inner.sessions.get(sid).is_none_or(|s| s.expires_ms <= now) {
                    inner.sessions.insert(
                        sid.to_string(),
                        SessionRecord {
                            uid: uid.to_string(),
                            fingerprint: String::new(),
                            started_ms: now,
                            current: (String::new(), String::new()),
                            previous: None,
                            rotated_ms: now,
                            revoked: true,
                            expires_ms: now + life,
                        },
                    );
                }
                false
            }
        };
        if was_live {
            inner.feed_append(now, life, Revoked::Session(sid.to_string()), now + life);
        }
        if let Some((jti, ttl_ms)) = jti.filter(|(_, ttl)| *ttl > 0) {
            inner.revoked_jtis.insert(jti.to_string(), now + ttl_ms);
            inner.feed_append(now, life, Revoked::Token(jti.to_string()), now + ttl_ms);
        }
        inner.wrote(now);
        inner.commit()?;
        Ok(())
    }
}
