//! The application's state, built once from configuration: every handle a request handler may need.
//! Serving it is [`crate::server`]'s job, so this module sits below the routes that read it.

use std::net::SocketAddr;
use std::sync::Arc;

use shared::config::{ConfigError, JWT_LEEWAY_SECS};
use shared::{SharedClock, TokenCodec};

use crate::accounts::Accounts;
use crate::authenticate::Authenticator;
use crate::config::AuthConfig;
use crate::introspection_clients::IntrospectionClients;
use crate::limits::Limits;
use crate::mfa::Mfa;
use crate::oauth::registry::{ConfiguredClient, Registry};
use crate::passwords::{PasswordError, Passwords};
use crate::sealing::SealingKey;
use crate::sessions::Sessions;
use crate::signing::{KeyError, SigningKeys};
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::Stores;
use crate::users::Configured;

/// How often the feed sweeper runs ([`App::spawn_feed_sweeper`]).
const FEED_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an owed entry is left to the request that owes it before the sweeper appends it.
const FEED_SWEEP_AFTER_MS: i64 = 5_000;

/// The signing keys of an asymmetric `JWT_ALGORITHM`: one from `JWT_PRIVATE_KEY_FILE`, or generated
/// ones sealed with `KEY_ENCRYPTION_KEY` (without it, on the embedded store: a key kept beside
/// `EMBEDDED_STORE_FILE`, or one for this process alone); none with an HMAC algorithm.
fn signing_keys(
    config: &AuthConfig,
    store: &Stores,
    codec: &Arc<TokenCodec>,
    clock: &SharedClock,
) -> Result<Option<SigningKeys>, StartError> {
    let jwt = &config.common.jwt;
    let hmac_access = shared::token::is_hmac(jwt.algorithm);
    if hmac_access && !config.oauth_enabled() {
        return Ok(None);
    }
    let lead = std::time::Duration::from_secs(config.jwks_cache_secs);
    if let Some(pem) = config.private_key_pem.as_ref().filter(|_| !hmac_access) {
        return SigningKeys::from_file(
            store.keys.clone(),
            jwt.algorithm,
            pem.expose(),
            codec.clone(),
            clock.clone(),
            lead,
        )
        .map(Some)
        .map_err(|e| ConfigError::new("JWT_PRIVATE_KEY_FILE", e).into());
    }
    let sealer = match (&config.key_encryption_key, &config.embedded_store_file) {
        (Some(key), _) => key.clone(),
        (None, Some(file)) if config.common.redis.is_none() => {
            let mut path = file.clone().into_os_string();
            path.push(".key-encryption-key");
            SealingKey::kept_in(std::path::Path::new(&path))
                .map_err(|e| ConfigError::new("EMBEDDED_STORE_FILE", e))?
        }
        (None, _) if hmac_access => {
            // Under JWT_SECRET, and opening under the previous secrets too: a rotation of the
            // secret does not stop the start (keys made since are sealed under the new one).
            let purpose = b"auth-service id-token key sealing v1";
            SealingKey::derived(jwt.secret.expose().as_bytes(), purpose).also_opening(
                jwt.previous_secrets
                    .iter()
                    .map(|s| SealingKey::derived(s.expose().as_bytes(), purpose)),
            )
        }
        (None, _) => {
            tracing::warn!("KEY_ENCRYPTION_KEY is not set: signing keys are sealed with a per-process key");
            SealingKey::random()
        }
    };
    // The access tokens' algorithm, if asymmetric; and, with the OpenID Provider on, every algorithm
    // an ID token may be signed with (RS256 first: OIDC's default, whatever signs access tokens).
    let mut algorithms: Vec<jsonwebtoken::Algorithm> = Vec::new();
    if !hmac_access {
        algorithms.push(jwt.algorithm);
    }
    if config.oauth_enabled() {
        for alg in crate::oauth::id_token::ALGORITHMS {
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
    }
    let longest = jwt.access_ttl_secs.max(jwt.saphety_ttl_secs) + JWT_LEEWAY_SECS;
    Ok(Some(SigningKeys::in_store(
        store.keys.clone(),
        sealer,
        std::time::Duration::from_secs(config.key_rotation_secs),
        algorithms,
        codec.clone(),
        clock.clone(),
        lead,
        std::time::Duration::from_secs(longest.max(0) as u64),
    )))
}

/// The longest an access token lives, plus leeway (ms): how long revocations are remembered and fed.
fn feed_life_ms(config: &AuthConfig) -> i64 {
    let jwt = &config.common.jwt;
    (jwt.access_ttl_secs.max(jwt.saphety_ttl_secs) + JWT_LEEWAY_SECS) * 1000
}

impl App {
    /// Reads the signing keys (making the first when there is none) and keeps them current, before
    /// serving. Keys that do not open under `KEY_ENCRYPTION_KEY` stop the start, naming it; a store
    /// that does not answer within a few seconds does not (the keys are read in the background, and
    /// nothing is signed nor the service ready until they are).
    pub async fn load_signing_keys(&self) -> Result<(), StartError> {
        let Some(keys) = &self.signing else {
            return Ok(());
        };
        match tokio::time::timeout(std::time::Duration::from_secs(3), keys.reload()).await {
            Ok(Err(KeyError::Unseal { kid })) => {
                let config = &self.config;
                let under_secret = config.key_encryption_key.is_none()
                    && config.common.redis.is_some()
                    && shared::token::is_hmac(config.common.jwt.algorithm);
                return Err(if under_secret {
                    ConfigError::new(
                        "JWT_SECRET",
                        format!("neither it nor JWT_PREVIOUS_SECRETS opens the ID-token signing key {kid} in the store: list the secret it was sealed under in JWT_PREVIOUS_SECRETS until that key retires"),
                    )
                } else {
                    ConfigError::new(
                        "KEY_ENCRYPTION_KEY",
                        format!("does not open the signing key {kid} in the store: it is not the key the signing keys were sealed with"),
                    )
                }
                .into());
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "the signing keys cannot be read yet; retrying"),
            Ok(Ok(())) => {
                tracing::info!(kid = %self.codec.current_kid().unwrap_or_default(), "signing keys loaded")
            }
            Err(_) => tracing::warn!("the store did not answer for the signing keys yet; retrying"),
        }
        keys.spawn();
        Ok(())
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("password hashing: {0}")]
    Passwords(#[from] PasswordError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Everything a request handler may need ([`AppState`]); one reference count to clone.
///
/// Cloning is on every request's path, many times over (warp clones the filters a request runs, and
/// each holds an `App`): one shared count keeps that to one atomic increment per clone, where cloning
/// every handle inside cost some twenty, on cache lines every worker thread touches.
#[derive(Clone)]
pub struct App(Arc<AppState>);

impl std::ops::Deref for App {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

/// The handles themselves; reached through [`App`].
pub struct AppState {
    pub config: Arc<AuthConfig>,
    pub(crate) codec: Arc<TokenCodec>,
    /// Every store capability, from the one implementation; `/ready` checks it.
    pub store: Stores,
    /// The users, in the store (and those configuration declares).
    pub accounts: Arc<Accounts>,
    pub passwords: Passwords,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) limits: Arc<Limits>,
    /// The password and second-factor steps of every login.
    pub(crate) authenticator: Arc<Authenticator>,
    /// Enforced for enrolled users whatever `MFA_ENABLED` says; that flag gates new enrolments.
    pub(crate) mfa: Arc<Mfa>,
    /// Users' passkeys and their ceremonies.
    pub(crate) passkeys: Arc<crate::passkeys::Passkeys>,
    /// Who may call `/auth/introspect`; anyone when none is configured.
    pub(crate) introspection_clients: Arc<IntrospectionClients>,
    /// The asymmetric signing keys and the published JWKS (an asymmetric `JWT_ALGORITHM`).
    pub signing: Option<Arc<SigningKeys>>,
    /// The OAuth 2.0 clients, in the store.
    pub registry: Registry,
    /// The grants of `/oauth2/token`.
    pub(crate) token_endpoint: Arc<crate::oauth::token::TokenEndpoint>,
    /// The authorization code flow: requests, codes, consents, ID tokens.
    pub(crate) provider: Arc<crate::oauth::authorize::Provider>,
    /// The hosted login page's browser sessions.
    pub(crate) browsers: Arc<crate::oauth::browser::Browsers>,
    /// The clients `CLIENTS_FILE` declares, applied to the store at start.
    pub configured_clients: Arc<[ConfiguredClient]>,
    pub clock: SharedClock,
}

impl App {
    /// The codec that signs and verifies this service's tokens (a backend in the same process verifies
    /// with it: the `all-in-one` binary).
    pub fn codec(&self) -> Arc<TokenCodec> {
        self.codec.clone()
    }

    /// The sessions as a revocation source for a backend in the same process (see
    /// [`shared::revocation`]): it sees a logout as soon as this service records it.
    pub fn revocation_check(&self) -> shared::revocation::SharedRevocationCheck {
        self.sessions.clone()
    }

    /// On a Redis Cluster, appends every few seconds the revocation-feed entries that revocations
    /// recorded as owed and nobody appended (an append that failed, a process that died between a
    /// revocation and its append: see [`crate::store::redis`]). Every replica runs one; what two find
    /// at once is appended twice, which backends take as once. Nothing to do on one Redis, Sentinel or
    /// the embedded store, where a revocation and its entry are one write.
    pub fn spawn_feed_sweeper(&self) {
        let on_cluster = self
            .config
            .common
            .redis
            .as_ref()
            .is_some_and(|target| target.is_cluster());
        if !on_cluster {
            return;
        }
        let feed = self.store.feed.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FEED_SWEEP_EVERY);
            loop {
                every.tick().await;
                match feed.sweep_owed(FEED_SWEEP_AFTER_MS).await {
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "revocation feed sweep failed; retried at the next"),
                }
            }
        });
    }

    /// Builds the state; the store is Redis when `REDIS_URL` is set, else the embedded one.
    pub fn build(config: AuthConfig, clock: SharedClock) -> Result<Self, StartError> {
        let feed_life_ms = feed_life_ms(&config);
        let store = match &config.common.redis {
            Some(target) => Stores::of(Arc::new(
                RedisStore::to(target, &config.common.redis_key_prefix)
                    .map_err(|e| ConfigError::new("REDIS_URL", e.to_string()))?
                    .with_feed_life_ms(feed_life_ms),
            )),
            None => {
                let memory = match &config.embedded_store_file {
                    Some(path) => MemoryStore::open(clock.clone(), path)
                        .map_err(|e| ConfigError::new("EMBEDDED_STORE_FILE", e.to_string()))?,
                    None => MemoryStore::new(clock.clone()),
                };
                Stores::of(Arc::new(memory.with_feed_life_ms(feed_life_ms)))
            }
        };
        Self::build_with_store(config, clock, store)
    }

    /// Builds the state around a given store.
    pub fn build_with_store(
        config: AuthConfig,
        clock: SharedClock,
        store: Stores,
    ) -> Result<Self, StartError> {
        let codec = Arc::new(TokenCodec::new(&config.common.jwt, clock.clone()));
        let configured: Arc<[Configured]> = crate::users::configured(&config)?.into();
        let passwords = Passwords::new(config.password_hash_concurrency)?;
        let limits = Arc::new(Limits::new(store.limits.clone(), &config));
        let accounts = Arc::new(Accounts::new(
            store.users.clone(),
            configured,
            passwords.clone(),
            limits.clone(),
            clock.clone(),
            config.default_virtual_operator.clone(),
            config.session_absolute_timeout_secs,
        ));
        let sessions = Arc::new(Sessions::new(
            &store,
            codec.clone(),
            config.refresh_retry_grace_secs,
            config.session_absolute_timeout_secs,
        ));
        // MFA is always enforced for users who enrolled: `MFA_ENABLED=false` only stops new enrolments.
        // Without a key (the embedded store, or Redis with MFA_ENABLED=false) secrets are sealed with a
        // per-process key; an enrolment sealed with another key then cannot be opened, and the login
        // fails closed rather than skipping the second factor.
        // With the embedded store kept in a file, the key is kept beside it (`<file>.mfa-key`).
        let key = match (&config.mfa_encryption_key, &config.embedded_store_file) {
            (Some(key), _) => key.clone(),
            (None, Some(file)) if config.common.redis.is_none() => {
                let mut path = file.clone().into_os_string();
                path.push(".mfa-key");
                SealingKey::kept_in(std::path::Path::new(&path))
                    .map_err(|e| ConfigError::new("EMBEDDED_STORE_FILE", e))?
            }
            (None, _) => {
                tracing::warn!(
                    "MFA_ENCRYPTION_KEY is not set: MFA secrets are sealed with a per-process key"
                );
                SealingKey::random()
            }
        };
        let mfa = Arc::new(Mfa::new(
            &store,
            codec.clone(),
            accounts.clone(),
            key,
            config.mfa_issuer_name.clone(),
            config.mfa_valid_window,
        ));
        let passkeys = Arc::new(crate::passkeys::Passkeys::new(
            store.passkeys.clone(),
            store.grants.clone(),
            accounts.clone(),
            limits.clone(),
            clock.clone(),
            // Stable across replicas and restarts, like the secret it comes from.
            SealingKey::derived(
                config.common.jwt.secret.expose().as_bytes(),
                b"auth-service passkey decoys v1",
            ),
            config.webauthn.as_ref(),
        ));
        let authenticator = Arc::new(Authenticator::new(
            accounts.clone(),
            passwords.clone(),
            limits.clone(),
            mfa.clone(),
            passkeys.clone(),
        ));
        let introspection_clients = Arc::new(IntrospectionClients::new(&config.introspection_clients));
        let signing = signing_keys(&config, &store, &codec, &clock)?.map(Arc::new);
        let configured_clients: Arc<[ConfiguredClient]> = match &config.clients_file {
            Some(path) => crate::oauth::registry::configured(path)?.into(),
            None => match config.builtin_clients {
                Some(text) => {
                    crate::oauth::registry::configured_from("the built-in demo clients", text)?.into()
                }
                None => Arc::new([]),
            },
        };
        let registry = Registry::new(
            store.clients.clone(),
            store.revocations.clone(),
            clock.clone(),
            feed_life_ms(&config),
        );
        let token_endpoint = Arc::new(crate::oauth::token::TokenEndpoint::new(
            registry.clone(),
            limits.clone(),
            codec.clone(),
        ));
        let provider = Arc::new(crate::oauth::authorize::Provider::new(
            registry.clone(),
            store.grants.clone(),
            sessions.clone(),
            accounts.clone(),
            signing.clone(),
            codec.clone(),
            clock.clone(),
            config.session_absolute_timeout_secs,
        ));
        let browsers = Arc::new(crate::oauth::browser::Browsers::new(
            store.grants.clone(),
            sessions.clone(),
            config.session_absolute_timeout_secs,
        ));
        Ok(Self(Arc::new(AppState {
            introspection_clients,
            signing,
            registry,
            token_endpoint,
            provider,
            browsers,
            configured_clients,
            config: Arc::new(config),
            codec,
            store,
            accounts,
            passwords,
            sessions,
            limits,
            authenticator,
            mfa,
            passkeys,
            clock,
        })))
    }
}
