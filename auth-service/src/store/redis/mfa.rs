//! TOTP second factors and the challenges of two-step logins.

use super::*;

#[async_trait]
impl MfaStore for RedisStore {
    async fn mfa_record(&self, uid: &str) -> Result<MfaRecord, StoreError> {
        let mut inv = self.mfa_record.prepare_invoke();
        inv.key(self.keys.mfa(uid)).key(self.keys.mfa_pending(uid));
        let parts: Vec<String> = from_value(self.invoke(inv).await?)?;
        let some = |s: &String| (!s.is_empty()).then(|| s.clone());
        match parts.as_slice() {
            [active, pending] => Ok(MfaRecord {
                active: some(active),
                pending: some(pending),
            }),
            _ => Err(StoreError::Protocol(format!("unexpected MFA reply {parts:?}"))),
        }
    }

    async fn mfa_set_pending(&self, uid: &str, sealed: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let mut inv = self.mfa_set_pending.prepare_invoke();
        inv.key(self.keys.mfa(uid))
            .key(self.keys.mfa_pending(uid))
            .arg(sealed)
            .arg(ttl_ms.max(1));
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn mfa_activate(
        &self,
        uid: &str,
        sealed: &str,
        step: i64,
        recovery: &[String],
    ) -> Result<bool, StoreError> {
        let mut inv = self.mfa_activate.prepare_invoke();
        inv.key(self.keys.mfa(uid))
            .key(self.keys.mfa_pending(uid))
            .key(self.keys.mfa_recovery(uid))
            .arg(sealed)
            .arg(step);
        for hash in recovery {
            inv.arg(hash);
        }
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn mfa_accept_step(&self, uid: &str, step: i64) -> Result<bool, StoreError> {
        let mut inv = self.mfa_accept_step.prepare_invoke();
        inv.key(self.keys.mfa(uid)).arg(step);
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn mfa_use_recovery(&self, uid: &str, hash: &str) -> Result<bool, StoreError> {
        let removed: i64 = self
            .query_durable(redis::cmd("SREM").arg(self.keys.mfa_recovery(uid)).arg(hash))
            .await?;
        Ok(removed == 1)
    }

    async fn mfa_disable(&self, uid: &str) -> Result<(), StoreError> {
        self.query::<i64>(
            redis::cmd("DEL")
                .arg(self.keys.mfa(uid))
                .arg(self.keys.mfa_pending(uid))
                .arg(self.keys.mfa_recovery(uid)),
        )
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl ChallengeStore for RedisStore {
    async fn mfa_challenge_try(
        &self,
        jti: &str,
        max_tries: u32,
        ttl_ms: i64,
    ) -> Result<ChallengeTry, StoreError> {
        let mut inv = self.challenge_try.prepare_invoke();
        inv.key(self.keys.challenge(jti))
            .arg(max_tries)
            .arg(ttl_ms.max(1));
        let reply: String = from_value(self.invoke_durable(inv).await?)?;
        match reply.as_str() {
            "allowed" => Ok(ChallengeTry::Allowed),
            "exhausted" => Ok(ChallengeTry::Exhausted),
            "used" => Ok(ChallengeTry::Used),
            other => Err(StoreError::Protocol(format!(
                "unexpected challenge reply {other}"
            ))),
        }
    }

    async fn mfa_challenge_finish(&self, jti: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let mut inv = self.challenge_finish.prepare_invoke();
        inv.key(self.keys.challenge(jti)).arg(ttl_ms.max(1));
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }
}
