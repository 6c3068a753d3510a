//! TOTP second factors and the challenges of two-step logins.

use super::*;

#[async_trait]
impl MfaStore for MemoryStore {
    async fn mfa_record(&self, uid: &str) -> Result<MfaRecord, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock()?;
        Ok(MfaRecord {
            active: inner.mfa.get(uid).and_then(|m| m.active.clone()),
            pending: inner
                .mfa_pending
                .get(uid)
                .filter(|(_, exp)| *exp > now)
                .map(|(sealed, _)| sealed.clone()),
        })
    }

    async fn mfa_set_pending(&self, uid: &str, sealed: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        if inner.mfa.get(uid).is_some_and(|m| m.active.is_some()) {
            return Ok(false);
        }
        inner
            .mfa_pending
            .insert(uid.to_string(), (sealed.to_string(), now + ttl_ms));
        inner.wrote(now);
        inner.commit()?;
        Ok(true)
    }

    async fn mfa_activate(
        &self,
        uid: &str,
        sealed: &str,
        step: i64,
        recovery: &[String],
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let pending_matches = inner
            .mfa_pending
            .get(uid)
            .is_some_and(|(p, exp)| *exp > now && p == sealed);
        let entry = inner.mfa.entry(uid.to_string()).or_default();
        if entry.active.is_some() || !pending_matches || entry.last_step.is_some_and(|last| step <= last) {
            return Ok(false);
        }
        entry.active = Some(sealed.to_string());
        entry.last_step = Some(step);
        entry.recovery = recovery.iter().cloned().collect();
        inner.mfa_pending.remove(uid);
        inner.commit()?;
        Ok(true)
    }

    async fn mfa_accept_step(&self, uid: &str, step: i64) -> Result<bool, StoreError> {
        let mut inner = self.write()?;
        match inner.mfa.get_mut(uid) {
            Some(entry) if entry.active.is_some() && entry.last_step.is_none_or(|last| step > last) => {
                entry.last_step = Some(step);
                inner.commit()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mfa_use_recovery(&self, uid: &str, hash: &str) -> Result<bool, StoreError> {
        let mut inner = self.write()?;
        let removed = inner
            .mfa
            .get_mut(uid)
            .is_some_and(|entry| entry.recovery.remove(hash));
        if removed {
            inner.commit()?;
        }
        Ok(removed)
    }

    async fn mfa_disable(&self, uid: &str) -> Result<(), StoreError> {
        let mut inner = self.write()?;
        inner.mfa.remove(uid);
        inner.mfa_pending.remove(uid);
        inner.commit()
    }
}

#[async_trait]
impl ChallengeStore for MemoryStore {
    async fn mfa_challenge_try(
        &self,
        jti: &str,
        max_tries: u32,
        ttl_ms: i64,
    ) -> Result<ChallengeTry, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let challenge = inner.challenges.entry(jti.to_string()).or_default();
        if challenge.expires_ms <= now {
            *challenge = Challenge {
                tries: 0,
                used: false,
                expires_ms: now + ttl_ms,
            };
        }
        if challenge.used {
            return Ok(ChallengeTry::Used);
        }
        challenge.tries += 1;
        let outcome = if challenge.tries > max_tries {
            ChallengeTry::Exhausted
        } else {
            ChallengeTry::Allowed
        };
        inner.wrote(now);
        inner.commit()?;
        Ok(outcome)
    }

    async fn mfa_challenge_finish(&self, jti: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let challenge = inner.challenges.entry(jti.to_string()).or_default();
        if challenge.used && challenge.expires_ms > now {
            return Ok(false);
        }
        challenge.used = true;
        challenge.expires_ms = now + ttl_ms;
        inner.commit()?;
        Ok(true)
    }
}
