//! Sessions: starting one at login, rotating its refresh token, checking and revoking it.
//!
//! A session is one login and every token pair descending from it. The store keeps, per session, the
//! one refresh `jti` that may rotate now and the one it replaced; the token pair itself is never stored.
//! Within the retry grace the replaced token gets its successor again, minted byte-for-byte the same
//! from the stored `jti`s and issue time (HMAC signing is deterministic), so two tabs or a retried
//! request stay logged in without a second pair ever existing.
//!
//! Every time here that another replica may compare (a session's start, a pair's issue time, the
//! logout-all cut-off, the grace) is the store's, never this process's clock; tokens' `iat`/`exp` derive
//! from the times the store hands back, so replicas with skewed clocks still mint and decide as one.

use std::sync::Arc;

use serde::Serialize;
use shared::config::JWT_LEEWAY_SECS;
use shared::metrics::metrics;
use shared::{AccessClaims, RefreshClaims, TokenCodec, TokenError, TokenKind};
use uuid::Uuid;

use crate::limits::limited;
use crate::refusal::Refusal;
use crate::store::{
    ClientStore, Counter, Gate, Generation, LimitStore, NewSession, RevocationStore, RotateOutcome, Rotation,
    SessionStart, SessionStore, SessionView, StoreError, Stores,
};

/// The longest a new session's answer waits for its start (see [`Sessions::start`]): the rest of
/// the second of a cut-off. Longer means the store's clock stepped back, and nothing is waited for.
const MAX_START_WAIT_MS: i64 = 1_000;
use crate::users::User;

/// A freshly issued (or re-issued) pair; `expires_in` is the access token's life in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// See the module doc.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    revocations: Arc<dyn RevocationStore>,
    /// Machine clients' tokens are live while their client is active.
    clients: Arc<dyn ClientStore>,
    /// The per-IP gate of a refresh whose token does not verify (a good one is gated inside `rotate`).
    limits: Arc<dyn LimitStore>,
    codec: Arc<TokenCodec>,
    grace_ms: i64,
    absolute_secs: i64,
}

/// A new random id (a session's, a token's `jti`).
pub(crate) fn new_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The OAuth 2.0 client a session's tokens are issued to at `/oauth2/token`, and the scope they carry:
/// its access tokens are RFC 9068's (`typ: at+jwt`, `client_id`, `scope`) and its refresh tokens are
/// refreshed only by that client ([`Sessions::refresh_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub client_id: String,
    pub scope: String,
}

impl Sessions {
    pub fn new(stores: &Stores, codec: Arc<TokenCodec>, grace_secs: u64, absolute_secs: i64) -> Self {
        Self {
            store: stores.sessions.clone(),
            revocations: stores.revocations.clone(),
            clients: stores.clients.clone(),
            limits: stores.limits.clone(),
            codec,
            grace_ms: (grace_secs as i64) * 1000,
            absolute_secs,
        }
    }

    /// How long a session record must outlive its newest pair's issue time.
    fn record_ttl_ms(&self) -> i64 {
        (self.codec.access_ttl_secs().max(self.codec.refresh_ttl_secs()) + JWT_LEEWAY_SECS) * 1000
    }

    /// Starts a session for a user who has proven who they are: with the credential `user` holds
    /// (read before its hash was checked), and, for a login finished by a second factor, the user's
    /// cut-off its challenge saw (`None` otherwise). The store starts it only if the user, as stored
    /// at that instant, is still active with that credential and had no session ended since
    /// ([`SessionStore::create_session`]); the tokens carry the user as stored then. A session that must start after a cut-off made earlier in the same second (tokens carry
    /// whole seconds) starts at the next second: its answer waits for that second, at most one, so
    /// no token is ever dated in the future.
    pub async fn start(&self, user: &User, cutoff_seen: Option<i64>) -> Result<(TokenPair, User), Refusal> {
        self.start_bound(user, cutoff_seen, new_id(), None).await
    }

    /// A session whose tokens go to an OAuth 2.0 client (an authorization code's exchange), under
    /// the `sid` chosen when the code was issued (so a replayed code can end it, RFC 6749 §4.1.2).
    pub async fn start_for_client(
        &self,
        user: &User,
        sid: String,
        binding: &Binding,
    ) -> Result<(TokenPair, User), Refusal> {
        self.start_bound(user, None, sid, Some(binding)).await
    }

    /// A browser session of the hosted login page: a session record that no token descends from
    /// (its refresh and access `jti`s are never issued), living the absolute session limit, ended by
    /// everything that ends sessions (logout-all, a disable, a new password). Returns its `sid` and
    /// start (ms).
    pub async fn start_browser(
        &self,
        user: &User,
        cutoff_seen: Option<i64>,
    ) -> Result<(String, i64), Refusal> {
        let sid = new_id();
        let (started_ms, _) = self
            .begin(
                user,
                cutoff_seen.is_some(),
                NewSession {
                    sid: sid.clone(),
                    uid: user.id.to_string(),
                    fingerprint: user.fingerprint(),
                    refresh_jti: new_id(),
                    access_jti: new_id(),
                    ttl_ms: (self.absolute_secs + JWT_LEEWAY_SECS) * 1000,
                    cutoff_seen,
                },
            )
            .await?;
        tracing::info!(user_id = user.id, sid = %sid, "browser session started");
        Ok((sid, started_ms))
    }

    /// The user of a session, as stored now, if the session is still good (not ended, the user
    /// active with the credential it started with): a browser session's check.
    pub async fn live_user(&self, sid: &str, uid: &str) -> Result<Option<User>, Refusal> {
        match self.store.session_view(sid, uid, None).await? {
            SessionView::Active { user, .. } => Ok(Some(User::from_record(*user)?)),
            SessionView::Revoked => Ok(None),
        }
    }

    /// Ends session `sid` of user `uid` (a browser session, or one of its descendants).
    pub async fn end(&self, uid: &str, sid: &str) -> Result<(), Refusal> {
        self.revocations.revoke_session(uid, sid, None).await?;
        metrics().revocations.with_label_values(&["logout"]).inc();
        Ok(())
    }

    /// Ends session `sid` of user `uid`, and if it has not started yet, bars it from starting: an
    /// authorization code's replay, which may overtake the first exchange of the code.
    pub async fn end_even_unstarted(&self, uid: &str, sid: &str) -> Result<(), Refusal> {
        self.revocations.revoke_session_even_unstarted(uid, sid).await?;
        metrics().revocations.with_label_values(&["logout"]).inc();
        Ok(())
    }

    async fn start_bound(
        &self,
        user: &User,
        cutoff_seen: Option<i64>,
        sid: String,
        binding: Option<&Binding>,
    ) -> Result<(TokenPair, User), Refusal> {
        let refresh_jti = new_id();
        let access_jti = new_id();
        let (started_ms, user) = self
            .begin(
                user,
                cutoff_seen.is_some(),
                NewSession {
                    sid: sid.clone(),
                    uid: user.id.to_string(),
                    fingerprint: user.fingerprint(),
                    refresh_jti: refresh_jti.clone(),
                    access_jti: access_jti.clone(),
                    ttl_ms: self.record_ttl_ms(),
                    cutoff_seen,
                },
            )
            .await?;
        tracing::info!(user_id = user.id, sid = %sid, "session started");
        let pair = self.mint(
            &user,
            &sid,
            &Generation {
                started_ms,
                issued_ms: started_ms,
                refresh_jti,
                access_jti,
            },
            binding,
        )?;
        Ok((pair, user))
    }

    /// Records a session; its start and the user as stored then, once that start is not ahead of now.
    async fn begin(
        &self,
        user: &User,
        challenged: bool,
        session: NewSession,
    ) -> Result<(i64, User), Refusal> {
        match self.store.create_session(&session).await? {
            SessionStart::Started {
                started_ms,
                now_ms,
                user,
            } => {
                let ahead_ms = started_ms - now_ms;
                if (1..=MAX_START_WAIT_MS).contains(&ahead_ms) {
                    tokio::time::sleep(std::time::Duration::from_millis(ahead_ms as u64)).await;
                } else if ahead_ms > MAX_START_WAIT_MS {
                    tracing::warn!(
                        ahead_ms,
                        "a session starts ahead of the store's clock (a clock stepped back)"
                    );
                }
                Ok((started_ms, User::from_record(*user)?))
            }
            SessionStart::Refused => {
                tracing::info!(
                    user_id = user.id,
                    "session refused: the user changed since the credentials were checked, or the session was revoked before it started"
                );
                Err(if challenged {
                    Refusal::Revoked
                } else {
                    Refusal::BadCredentials
                })
            }
        }
    }

    /// A session with only an access token of `ttl_secs` (capped by the absolute limit), whose claims
    /// `wrap` may extend (given the user as stored when it started); for `/v2/auth/gettoken`. Returns
    /// the token and its `exp`.
    pub async fn start_access_only<S, F>(
        &self,
        user: &User,
        ttl_secs: i64,
        wrap: F,
    ) -> Result<(String, i64), Refusal>
    where
        S: Serialize,
        F: FnOnce(AccessClaims, &User) -> S,
    {
        let sid = new_id();
        let access_jti = new_id();
        let (started_ms, user) = self
            .begin(
                user,
                false,
                NewSession {
                    sid: sid.clone(),
                    uid: user.id.to_string(),
                    fingerprint: user.fingerprint(),
                    // Never issued: this session cannot be refreshed.
                    refresh_jti: new_id(),
                    access_jti: access_jti.clone(),
                    ttl_ms: (ttl_secs + JWT_LEEWAY_SECS) * 1000,
                    cutoff_seen: None,
                },
            )
            .await?;
        let issued = started_ms.div_euclid(1000);
        let exp = issued + ttl_secs.min(self.absolute_secs);
        let claims = self.access_claims(&user, &sid, &access_jti, issued, exp);
        let token = self
            .codec
            .sign_as(TokenKind::Access, &wrap(claims, &user))
            .map_err(Refusal::internal)?;
        tracing::info!(user_id = user.id, sid = %sid, "access-only session started");
        Ok((token, exp))
    }

    fn access_claims(&self, user: &User, sid: &str, jti: &str, issued: i64, exp: i64) -> AccessClaims {
        AccessClaims {
            sub: user.id.to_string(),
            jti: jti.to_string(),
            sid: sid.to_string(),
            iat: issued,
            nbf: issued,
            exp,
            iss: self.codec.issuer().to_string(),
            aud: self.codec.audience().to_string(),
            typ: TokenKind::Access,
            username: user.username.as_str().to_string(),
            email: user.email.as_str().to_string(),
            rol: Some(user.rol),
            client_id: None,
            scope: None,
        }
    }

    /// The pair of a generation; the same inputs always give the same bytes.
    fn mint(
        &self,
        user: &User,
        sid: &str,
        generation: &Generation,
        binding: Option<&Binding>,
    ) -> Result<TokenPair, Refusal> {
        let issued = generation.issued_ms.div_euclid(1000);
        let absolute_end = generation.started_ms.div_euclid(1000) + self.absolute_secs;
        let access_exp = (issued + self.codec.access_ttl_secs()).min(absolute_end);
        let refresh_exp = (issued + self.codec.refresh_ttl_secs()).min(absolute_end);
        if access_exp <= issued || refresh_exp <= issued {
            return Err(Refusal::Token(TokenKind::Refresh, TokenError::Expired));
        }
        let mut access = self.access_claims(user, sid, &generation.access_jti, issued, access_exp);
        if let Some(b) = binding {
            access.client_id = Some(b.client_id.clone());
            access.scope = Some(b.scope.clone());
        }
        let refresh = RefreshClaims {
            sub: user.id.to_string(),
            jti: generation.refresh_jti.clone(),
            sid: sid.to_string(),
            iat: issued,
            nbf: issued,
            exp: refresh_exp,
            iss: self.codec.issuer().to_string(),
            aud: self.codec.audience_for(TokenKind::Refresh).to_string(),
            typ: TokenKind::Refresh,
            client_id: binding.map(|b| b.client_id.clone()),
            scope: binding.map(|b| b.scope.clone()),
        };
        let access_token = match binding {
            Some(_) => self.codec.sign_at_jwt(&access),
            None => self.codec.sign(&access),
        };
        Ok(TokenPair {
            access_token: access_token.map_err(Refusal::internal)?,
            refresh_token: self.codec.sign(&refresh).map_err(Refusal::internal)?,
            token_type: "Bearer",
            expires_in: access_exp - issued,
        })
    }

    /// Rotates a refresh token: its successor, the same successor again within the grace, or a
    /// revoked session on reuse.
    ///
    /// `gate` (the caller's per-IP counter) is counted in the same atomic step as the rotation, so a
    /// good refresh costs one store round trip; a token that does not verify is counted separately.
    pub async fn refresh(&self, refresh_token: &str, gate: Option<Counter>) -> Result<TokenPair, Refusal> {
        self.refresh_for(refresh_token, gate, None)
            .await
            .map(|(pair, _)| pair)
    }

    /// [`Sessions::refresh`] of a token bound to `client` (`/oauth2/token`), or, with `None`, of
    /// one bound to no client (`/auth/refresh`): a token of another binding is refused as invalid
    /// before anything rotates, so a client's refresh token never yields the seed's scope-less
    /// tokens, nor another client's. Returns the pair and the token's binding (client and scope).
    pub async fn refresh_for(
        &self,
        refresh_token: &str,
        gate: Option<Counter>,
        client: Option<&str>,
    ) -> Result<(TokenPair, Option<Binding>), Refusal> {
        let refreshes = &metrics().refreshes;
        let claims = match self.codec.verify::<RefreshClaims>(refresh_token) {
            Ok(claims) => claims,
            Err(e) => {
                refreshes.with_label_values(&["invalid"]).inc();
                if let Some(gate) = gate {
                    if let Gate::Limited { retry_after_ms } = self.limits.gate(&[gate], &[]).await? {
                        return Err(limited(retry_after_ms));
                    }
                }
                return Err(Refusal::Token(TokenKind::Refresh, e));
            }
        };
        if claims.client_id.as_deref() != client {
            refreshes.with_label_values(&["invalid"]).inc();
            return Err(Refusal::Token(
                TokenKind::Refresh,
                TokenError::Invalid("issued to another client"),
            ));
        }
        let binding = claims
            .client_id
            .as_ref()
            .zip(claims.scope.as_ref())
            .map(|(client_id, scope)| Binding {
                client_id: client_id.clone(),
                scope: scope.clone(),
            });
        let outcome = self
            .store
            .rotate(&Rotation {
                sid: claims.sid.clone(),
                uid: claims.sub.clone(),
                presented_jti: claims.jti.clone(),
                grace_ms: self.grace_ms,
                new_refresh_jti: new_id(),
                new_access_jti: new_id(),
                ttl_ms: self.record_ttl_ms(),
                gate,
            })
            .await?;
        let label = match &outcome {
            RotateOutcome::Limited { .. } => "limited",
            RotateOutcome::Rotated(..) => "rotated",
            RotateOutcome::Replayed(..) => "replayed",
            RotateOutcome::Reused => "reused",
            RotateOutcome::Revoked => "revoked",
        };
        refreshes.with_label_values(&[label]).inc();
        match outcome {
            RotateOutcome::Limited { retry_after_ms } => Err(limited(retry_after_ms)),
            RotateOutcome::Rotated(generation, user) | RotateOutcome::Replayed(generation, user) => {
                let user = User::from_record(user)?;
                let pair = self.mint(&user, &claims.sid, &generation, binding.as_ref())?;
                Ok((pair, binding))
            }
            RotateOutcome::Reused => {
                metrics().reuse_detected.inc();
                metrics().revocations.with_label_values(&["reuse"]).inc();
                tracing::warn!(user_id = %claims.sub, sid = %claims.sid, "refresh token reuse detected; session revoked");
                crate::audit::record(
                    "refresh_reuse_detected",
                    crate::audit::Actor::Anonymous,
                    &claims.sub,
                    "session revoked",
                );
                Err(Refusal::Revoked)
            }
            RotateOutcome::Revoked => Err(Refusal::Revoked),
        }
    }

    /// The user behind an access token whose session is still good; the revocation-aware check.
    /// One store round trip: the session, the token, and the user as stored now.
    /// A machine client's token (no `rol`) is no person's: refused here, as invalid.
    pub async fn check_access(&self, claims: &AccessClaims) -> Result<Arc<User>, Refusal> {
        if claims.rol.is_none() {
            return Err(Refusal::Token(
                TokenKind::Access,
                TokenError::Invalid("a client's token"),
            ));
        }
        match self
            .store
            .session_view(&claims.sid, &claims.sub, Some(&claims.jti))
            .await?
        {
            SessionView::Active { user, .. } => Ok(Arc::new(User::from_record(*user)?)),
            SessionView::Revoked => Err(Refusal::Revoked),
        }
    }

    /// Whether a machine client's token is still good: its client is active, no cut-off of its
    /// `sub` (a disable, a secret ended at once) covers its issue time, and it was not revoked by
    /// itself (`/oauth2/revoke`).
    pub async fn check_client_token(&self, claims: &AccessClaims) -> Result<(), Refusal> {
        let (client, cutoff, revoked) = futures::try_join!(
            self.clients.client(&claims.sub),
            self.revocations.cutoff(&claims.sub),
            self.revocations.token_revoked(&claims.sub, &claims.jti),
        )?;
        let active = client.is_some_and(|c| c.active);
        if !active || revoked || cutoff.is_some_and(|c| claims.iat.saturating_mul(1000) <= c) {
            return Err(Refusal::Revoked);
        }
        Ok(())
    }

    /// Revokes one access token by itself (`/oauth2/revoke`): its `jti` until it expires, fed to
    /// every backend. A person's token ends its whole session, as a logout does.
    pub async fn revoke_access(&self, claims: &AccessClaims) -> Result<(), Refusal> {
        if claims.rol.is_some() {
            return self.logout(claims).await;
        }
        let remaining_ms = (claims.exp - self.codec.now_secs() + JWT_LEEWAY_SECS) * 1000;
        // No session: only the token (a client's tokens have no session record to mark).
        self.revocations
            .revoke_session(&claims.sub, "", Some((&claims.jti, remaining_ms)))
            .await?;
        metrics().revocations.with_label_values(&["oauth_revoke"]).inc();
        Ok(())
    }

    /// Ends the session of this access token (and the token itself).
    pub async fn logout(&self, claims: &AccessClaims) -> Result<(), Refusal> {
        let remaining_ms = (claims.exp - self.codec.now_secs() + JWT_LEEWAY_SECS) * 1000;
        self.revocations
            .revoke_session(&claims.sub, &claims.sid, Some((&claims.jti, remaining_ms)))
            .await?;
        metrics().revocations.with_label_values(&["logout"]).inc();
        tracing::info!(user_id = %claims.sub, sid = %claims.sid, "session ended");
        Ok(())
    }

    /// Ends every session of this token's user.
    pub async fn logout_all(&self, claims: &AccessClaims) -> Result<(), Refusal> {
        let ttl_ms = (self.absolute_secs + JWT_LEEWAY_SECS) * 1000;
        let cutoff_ms = self.revocations.revoke_user(&claims.sub, ttl_ms).await?;
        metrics().revocations.with_label_values(&["logout_all"]).inc();
        tracing::info!(user_id = %claims.sub, cutoff_ms, "every session ended");
        Ok(())
    }

    /// RFC 7662 in spirit: `{active: false}` for anything not currently good, else the claims. An
    /// access token's check is the session check of [`Sessions::check_access`] without building the
    /// user it does not answer.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, Refusal> {
        if let Ok(claims) = self.codec.verify::<AccessClaims>(token) {
            if claims.rol.is_none() {
                return Ok(match self.check_client_token(&claims).await {
                    Ok(()) => Introspection::access(claims),
                    Err(Refusal::Revoked) => Introspection::inactive(),
                    Err(e) => return Err(e),
                });
            }
            return Ok(
                match self
                    .store
                    .session_view(&claims.sid, &claims.sub, Some(&claims.jti))
                    .await?
                {
                    SessionView::Active { .. } => Introspection::access(claims),
                    SessionView::Revoked => Introspection::inactive(),
                },
            );
        }
        if let Ok(claims) = self.codec.verify::<RefreshClaims>(token) {
            return Ok(
                match self.store.session_view(&claims.sid, &claims.sub, None).await? {
                    SessionView::Active {
                        current_refresh_jti, ..
                    } if current_refresh_jti == claims.jti => Introspection::refresh(claims),
                    _ => Introspection::inactive(),
                },
            );
        }
        Ok(Introspection::inactive())
    }
}

/// An introspection's answer: `{"active": false}`, or `{"active": true}` and every claim of the token,
/// serialized straight from the claims.
#[derive(Debug, Serialize)]
pub struct Introspection {
    active: bool,
    #[serde(flatten)]
    access: Option<AccessClaims>,
    #[serde(flatten)]
    refresh: Option<RefreshClaims>,
}

impl Introspection {
    fn inactive() -> Self {
        Self {
            active: false,
            access: None,
            refresh: None,
        }
    }

    fn access(claims: AccessClaims) -> Self {
        Self {
            active: true,
            access: Some(claims),
            refresh: None,
        }
    }

    fn refresh(claims: RefreshClaims) -> Self {
        Self {
            active: true,
            access: None,
            refresh: Some(claims),
        }
    }
}

/// The auth service's sessions as the revocation source of a backend in the same process (the
/// `all-in-one` binary): the same check `GET /auth/me` makes (the session and its access `jti`, the
/// user's logout-all cut-off, a disabled user or a changed password), in the same store.
#[async_trait::async_trait]
impl shared::revocation::RevocationCheck for Sessions {
    async fn check(&self, claims: &AccessClaims) -> Result<(), shared::revocation::RevocationError> {
        use shared::revocation::RevocationError;
        let checked = match claims.rol {
            Some(_) => self.check_access(claims).await.map(|_| ()),
            None => self.check_client_token(claims).await,
        };
        match checked {
            Ok(()) => Ok(()),
            Err(Refusal::Store(e)) => Err(RevocationError::Unavailable(e)),
            // check_access refuses only in these two ways; anything else fails closed all the same.
            Err(Refusal::Revoked) => Err(RevocationError::Revoked),
            Err(other) => Err(RevocationError::Unavailable(StoreError::Protocol(
                other.to_string(),
            ))),
        }
    }
}
