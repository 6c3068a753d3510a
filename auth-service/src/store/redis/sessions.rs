//! Sessions, their rotation and their revocation.

use super::users::{generation, view_record};
use super::*;

/// A rotation script's reply.
pub(super) fn rotate_outcome(parts: &[String]) -> Result<RotateOutcome, StoreError> {
    match parts.first().map(String::as_str) {
        Some("limited") => Ok(RotateOutcome::Limited {
            retry_after_ms: parts.get(1).map(|s| int(s)).transpose()?.unwrap_or(1000),
        }),
        Some("rotated") => {
            let (generation, user) = generation(parts)?;
            Ok(RotateOutcome::Rotated(generation, user))
        }
        Some("replayed") => {
            let (generation, user) = generation(parts)?;
            Ok(RotateOutcome::Replayed(generation, user))
        }
        Some("reused") => Ok(RotateOutcome::Reused),
        Some("revoked") => Ok(RotateOutcome::Revoked),
        _ => Err(StoreError::Protocol("unexpected rotation reply".into())),
    }
}

impl RedisStore {
    pub(super) fn rotate_call(&self, r: &Rotation, fused: bool) -> Call<'_> {
        let mut call = self.rotate.prepare_invoke();
        call.key(self.keys.session(&r.uid, &r.sid))
            .key(self.keys.cutoff(&r.uid))
            .key(self.keys.user(&r.uid))
            .key(self.keys.issued(&r.uid))
            .arg(self.time_offset_ms())
            .arg(&r.uid)
            .arg(if fused { "0" } else { "1" })
            .arg(&r.presented_jti)
            .arg(r.grace_ms)
            .arg(&r.new_refresh_jti)
            .arg(&r.new_access_jti)
            .arg(r.ttl_ms.max(1))
            .arg(&r.sid)
            .arg(self.feed_life_ms);
        if !fused {
            call.key(self.keys.owed(&r.uid));
        } else {
            call.key(self.keys.revocation_feed());
            if let Some(gate) = &r.gate {
                call.key(self.keys.rate_limit(&gate.key))
                    .arg(gate.limit)
                    .arg(gate.window_ms.max(1));
            }
        }
        call
    }

    /// A refresh on a cluster: the rotation and the gate in calls of their own (see the module doc).
    /// A rotation that committed is always delivered: withholding it would lose it (the presented
    /// token is already replaced), so a gate call that fails or refuses after it is logged, not
    /// answered.
    pub(super) async fn rotate_split(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        let rotation = async {
            let parts = from_value::<Vec<String>>(self.invoke_durable(self.rotate_call(r, false)).await?)?;
            self.settle_owed(&r.uid, parts).await
        };
        let parts = match &r.gate {
            None => rotation.await?,
            Some(gate) if self.is_hot(&gate.key) => {
                let ttl: i64 = from_value(self.invoke(self.gate_call(gate, true)).await?)?;
                if let Gate::Limited { retry_after_ms } = gate_of(ttl) {
                    return Ok(RotateOutcome::Limited { retry_after_ms });
                }
                rotation.await?
            }
            Some(gate) => {
                let gated = async {
                    if injected(&self.failing_gates) {
                        return Err(StoreError::Unavailable("injected gate failure".into()));
                    }
                    from_value::<i64>(self.invoke(self.gate_call(gate, true)).await?)
                };
                let (parts, ttl) = tokio::join!(rotation, gated);
                let outcome = rotate_outcome(&parts?)?;
                let committed = matches!(outcome, RotateOutcome::Rotated(..) | RotateOutcome::Replayed(..));
                return match ttl.map(gate_of) {
                    Ok(Gate::Limited { retry_after_ms }) => {
                        self.mark_hot(&gate.key, retry_after_ms);
                        Ok(if committed {
                            outcome
                        } else {
                            RotateOutcome::Limited { retry_after_ms }
                        })
                    }
                    Ok(Gate::Open) => Ok(outcome),
                    Err(e) if committed => {
                        tracing::warn!(error = %e, "refresh: the per-IP gate did not answer; the committed rotation is delivered");
                        Ok(outcome)
                    }
                    Err(e) => Err(e),
                };
            }
        };
        rotate_outcome(&parts)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_session(&self, s: &NewSession) -> Result<SessionStart, StoreError> {
        let mut inv = self.create.prepare_invoke();
        inv.key(self.keys.session(&s.uid, &s.sid))
            .key(self.keys.cutoff(&s.uid))
            .key(self.keys.user(&s.uid))
            .key(self.keys.issued(&s.uid))
            .arg(self.time_offset_ms())
            .arg(&s.uid)
            .arg(&s.fingerprint)
            .arg(&s.refresh_jti)
            .arg(&s.access_jti)
            .arg(s.ttl_ms.max(1))
            .arg(s.cutoff_seen.map_or(String::new(), |seen| seen.to_string()));
        let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
        match parts.as_slice() {
            [kind] if kind == "refused" => Ok(SessionStart::Refused),
            [kind, started, now, user @ ..] if kind == "started" => Ok(SessionStart::Started {
                started_ms: int(started)?,
                now_ms: int(now)?,
                user: Box::new(view_record(user)?),
            }),
            _ => Err(StoreError::Protocol("unexpected create_session reply".into())),
        }
    }

    async fn rotate(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        if self.cluster {
            return self.rotate_split(r).await;
        }
        let parts = from_value::<Vec<String>>(self.invoke_durable(self.rotate_call(r, true)).await?)?;
        rotate_outcome(&parts)
    }

    async fn session_view(
        &self,
        sid: &str,
        uid: &str,
        access_jti: Option<&str>,
    ) -> Result<SessionView, StoreError> {
        let mut inv = self.view.prepare_invoke();
        inv.key(self.keys.session(uid, sid))
            .key(self.keys.cutoff(uid))
            .key(self.keys.user(uid));
        if let Some(jti) = access_jti {
            inv.key(self.keys.revoked_jti(uid, jti));
        }
        inv.arg(uid);
        if self.cluster {
            inv.key(self.keys.owed(uid)).arg("1");
        }
        let mut parts = from_value::<Vec<String>>(self.invoke(inv).await?)?;
        if self.cluster {
            parts = self.settle_owed(uid, parts).await?;
        }
        match parts.as_slice() {
            [state] if state == "revoked" => Ok(SessionView::Revoked),
            [state, cur, user @ ..] if state == "active" => Ok(SessionView::Active {
                user: Box::new(view_record(user)?),
                current_refresh_jti: cur.clone(),
            }),
            _ => Err(StoreError::Protocol("unexpected session reply".into())),
        }
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    async fn revoke_session(&self, uid: &str, sid: &str, jti: Option<(&str, i64)>) -> Result<(), StoreError> {
        self.revoke_session_with(uid, sid, jti, false).await
    }

    async fn revoke_session_even_unstarted(&self, uid: &str, sid: &str) -> Result<(), StoreError> {
        self.revoke_session_with(uid, sid, None, true).await
    }

    async fn cutoff(&self, uid: &str) -> Result<Option<i64>, StoreError> {
        let cutoff: Option<String> = self.query(redis::cmd("GET").arg(self.keys.cutoff(uid))).await?;
        cutoff.map(|c| int(&c)).transpose()
    }

    async fn token_revoked(&self, uid: &str, jti: &str) -> Result<bool, StoreError> {
        let found: i64 = self
            .query(redis::cmd("EXISTS").arg(self.keys.revoked_jti(uid, jti)))
            .await?;
        Ok(found == 1)
    }

    async fn revoke_user(&self, uid: &str, ttl_ms: i64) -> Result<i64, StoreError> {
        if self.cluster {
            self.index_owed(uid).await?;
        }
        let mut inv = self.revoke_user.prepare_invoke();
        inv.key(self.keys.cutoff(uid))
            .key(self.keys.issued(uid))
            .key(if self.cluster {
                self.keys.owed(uid)
            } else {
                self.keys.revocation_feed()
            })
            .arg(self.time_offset_ms())
            .arg(ttl_ms.max(1))
            .arg(uid)
            .arg(self.feed_life_ms)
            .arg(if self.cluster { "1" } else { "0" });
        let reply: String = from_value(self.invoke_durable(inv).await?)?;
        if self.cluster {
            self.drain_owed(uid).await?;
        }
        int(&reply)
    }
}

impl RedisStore {
    /// `revoke_session.lua`; with `unstarted`, a session not started yet is marked revoked too.
    async fn revoke_session_with(
        &self,
        uid: &str,
        sid: &str,
        jti: Option<(&str, i64)>,
        unstarted: bool,
    ) -> Result<(), StoreError> {
        let jti = jti.filter(|(_, ttl_ms)| *ttl_ms > 0);
        if self.cluster {
            self.index_owed(uid).await?;
        }
        let mut inv = self.revoke_session.prepare_invoke();
        inv.key(self.keys.session(uid, sid))
            .key(self.keys.revoked_jti(uid, jti.map_or("", |(jti, _)| jti)))
            .key(if self.cluster {
                self.keys.owed(uid)
            } else {
                self.keys.revocation_feed()
            })
            .arg(self.time_offset_ms())
            .arg(sid)
            .arg(self.feed_life_ms)
            .arg(jti.map_or("", |(jti, _)| jti))
            .arg(jti.map_or(1, |(_, ttl_ms)| ttl_ms))
            .arg(if self.cluster { "1" } else { "0" })
            .arg(if unstarted { "1" } else { "0" });
        let owed = from_value::<i64>(self.invoke_durable(inv).await?)? == 1;
        if owed {
            // The revocation is in; its feed entries go out now, or at the sweep if this fails.
            self.drain_owed(uid).await?;
        }
        Ok(())
    }
}
