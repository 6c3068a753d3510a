//! The token endpoint's grants, free of HTTP: who the client is (RFC 6749 §2.3), what it asked for,
//! and the RFC 9068 access token it gets, or the RFC 6749 §5.2 error it gets instead.
//!
//! `client_credentials` (§4.4): a confidential client authenticates with the one method it registered
//! (`client_secret_basic` or `client_secret_post`; presenting two is `invalid_request`), asks for a
//! subset of its scopes (all of its `solicitud:*` ones when it names none), and gets an access token
//! with `sub` = its `client_id`, no refresh token and no `rol`. The per-IP ceiling and the failure
//! lock of logins count here too, per client: five wrong secrets for one `client_id` lock it for the
//! window, whether or not the id exists, so the lock tells nothing about which ids do.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use shared::{AccessClaims, TokenCodec, TokenKind};
use uuid::Uuid;

use super::registry::Registry;
use crate::limits::{AccountKey, Limits};
use crate::refusal::Refusal;
use crate::store::{ClientRecord, StoreError};

/// An RFC 6749 §5.2 error (or a refusal of the kind every endpoint has: a limit, the store down).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Unknown client, wrong secret, another authentication method than the registered one, a
    /// disabled client: all alike.
    #[error("invalid_client")]
    InvalidClient,
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// A code or refresh token that is unknown, expired, used, revoked, another client's, or whose
    /// PKCE verifier or redirect URI does not match.
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// Over a rate limit: answered 429 with `Retry-After`.
    #[error("slow_down: retry in {retry_after_secs} s")]
    SlowDown { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<Refusal> for OAuthError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limited { retry_after_secs } => OAuthError::SlowDown { retry_after_secs },
            Refusal::Store(e) => OAuthError::Store(e),
            other => OAuthError::Internal(other.to_string()),
        }
    }
}

/// How the client presented its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form.
    Post,
    /// A public client: `client_id` alone (its proof is PKCE).
    None,
}

impl AuthMethod {
    fn registered_name(self) -> &'static str {
        match self {
            AuthMethod::Basic => "client_secret_basic",
            AuthMethod::Post => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

/// A client's credentials as presented.
pub struct Credentials {
    pub client_id: String,
    pub secret: String,
    pub method: AuthMethod,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// See the module doc.
pub struct TokenEndpoint {
    registry: Registry,
    limits: Arc<Limits>,
    codec: Arc<TokenCodec>,
}

impl TokenEndpoint {
    pub fn new(registry: Registry, limits: Arc<Limits>, codec: Arc<TokenCodec>) -> Self {
        Self {
            registry,
            limits,
            codec,
        }
    }

    /// The active client these credentials authenticate, counted against the limits; `invalid_client`
    /// for anything else.
    pub async fn authenticate(
        &self,
        ip: IpAddr,
        credentials: &Credentials,
    ) -> Result<ClientRecord, OAuthError> {
        let account = AccountKey::client(&credentials.client_id);
        if credentials.method == AuthMethod::None {
            self.limits.admit(ip, &account).await?;
            return match self.registry.get(&credentials.client_id).await? {
                Some(c) if c.active && c.token_endpoint_auth_method == "none" => Ok(c),
                _ => {
                    self.limits.failed(&account).await?;
                    Err(OAuthError::InvalidClient)
                }
            };
        }
        // The limits and the client's record in parallel: one round trip's wait, not two. A client
        // over a limit is refused before its secret is looked at.
        let (admitted, client) = tokio::join!(
            self.limits.admit(ip, &account),
            self.registry
                .authenticate(&credentials.client_id, &credentials.secret),
        );
        admitted?;
        let client = client?;
        match client {
            Some(c) if c.token_endpoint_auth_method == credentials.method.registered_name() => Ok(c),
            _ => {
                self.limits.failed(&account).await?;
                Err(OAuthError::InvalidClient)
            }
        }
    }

    /// The client of a `refresh_token` grant: the record as read at most a second ago
    /// ([`Registry::authenticate_recent`]); a public client by its id. Nothing is counted for a good
    /// client here: the request's IP is counted inside the rotation, as at `/auth/refresh`, so a
    /// refresh costs one store round trip. A wrong secret counts as a failure of the client (and is
    /// refused with the wait once the client is locked), as at any grant.
    pub async fn authenticate_for_refresh(
        &self,
        credentials: &Credentials,
    ) -> Result<ClientRecord, OAuthError> {
        let client = match credentials.method {
            AuthMethod::None => {
                self.registry
                    .authenticate_recent_public(&credentials.client_id)
                    .await?
            }
            method => self
                .registry
                .authenticate_recent(&credentials.client_id, &credentials.secret)
                .await?
                .filter(|c| c.token_endpoint_auth_method == method.registered_name()),
        };
        match client {
            Some(c) => Ok(c),
            None => {
                // The account key (a hash of the normalised id) only when there is a failure to count.
                let account = AccountKey::client(&credentials.client_id);
                self.limits.failed(&account).await?;
                self.limits.check_lock(&account).await?;
                Err(OAuthError::InvalidClient)
            }
        }
    }

    /// `grant_type=client_credentials` for an authenticated client, with the `scope` it asked for.
    pub async fn client_credentials(
        &self,
        client: &ClientRecord,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.grant_types.iter().any(|g| g == "client_credentials") {
            return Err(OAuthError::UnauthorizedClient(
                "this client may not use client_credentials".into(),
            ));
        }
        let allowed: BTreeSet<&str> = client
            .scope
            .split_whitespace()
            .filter(|s| s.starts_with("solicitud:"))
            .collect();
        let granted: BTreeSet<&str> = match scope {
            None => allowed.clone(),
            Some(asked) => {
                let asked: BTreeSet<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
                if let Some(bad) = asked.iter().find(|s| !allowed.contains(*s)) {
                    return Err(OAuthError::InvalidScope(format!(
                        "scope {bad} is not one this client may ask for with client_credentials"
                    )));
                }
                asked
            }
        };
        if granted.is_empty() {
            return Err(OAuthError::InvalidScope("no scope to grant".into()));
        }
        let scope = granted.into_iter().collect::<Vec<_>>().join(" ");
        // Not before the client's last cut-off (a disable, a secret ended now): tokens carry whole
        // seconds, and one dated in the cut-off's second would be born revoked.
        let now = self.codec.now_secs();
        let after = client.tokens_after_ms.div_euclid(1000) + 1;
        let issued = if client.tokens_after_ms > 0 && after > now {
            tokio::time::sleep(std::time::Duration::from_millis(
                (after * 1000 - self.codec.clock().now_ms()).clamp(0, 1000) as u64,
            ))
            .await;
            after
        } else {
            now
        };
        let expires_in = self.codec.access_ttl_secs();
        let claims = AccessClaims {
            sub: client.client_id.clone(),
            jti: Uuid::new_v4().simple().to_string(),
            sid: String::new(),
            iat: issued,
            nbf: issued,
            exp: issued + expires_in,
            iss: self.codec.issuer().to_string(),
            aud: self.codec.audience().to_string(),
            typ: TokenKind::Access,
            username: String::new(),
            email: String::new(),
            rol: None,
            client_id: Some(client.client_id.clone()),
            scope: Some(scope.clone()),
        };
        let access_token = self
            .codec
            .sign_at_jwt(&claims)
            .map_err(|e| OAuthError::Internal(e.to_string()))?;
        // Debug, not info: the request's own log line already names the endpoint and its status, and
        // a line more per token is measurable CPU at this rate.
        tracing::debug!(client_id = %client.client_id, scope = %scope, "client token issued");
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            scope,
        })
    }
}
