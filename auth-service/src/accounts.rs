//! Managing users live, on the store every replica shares: lookups for login, the admin API's use
//! cases, set-password tokens, self-service password changes, and configuration applied at start.
//!
//! Every change is a compare-and-set on the user's version ([`UserStore::update_user`]), retried from
//! a fresh read when another replica wrote first, so concurrent admins never undo each other silently.
//! A change that weakens a user (disabled, a new or cleared password, another role) ends every session
//! of the user in the same atomic step: the cut-off goes to the revocation feed, so backends refuse
//! their tokens at once too. A new password also changes the user's credential fingerprint, which every
//! rotation and session check compares ([`crate::store`]).
//!
//! Set-password tokens: `<user id>.<32 random bytes, base64url>`, shown once; the user's record keeps
//! only the SHA-256 of the secret part and its expiry, compared in constant time. A newer token
//! replaces an older one, and using one clears it in the same compare-and-set that sets the password,
//! so each is good exactly once.

use std::sync::Arc;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use shared::config::JWT_LEEWAY_SECS;
use shared::{Rol, SharedClock};
use subtle::ConstantTimeEq;

use crate::audit::{self, Actor};
use crate::identity::{normalize, Email, Username};
use crate::limits::{AccountKey, Limits};
use crate::password_policy;
use crate::passwords::{self, Passwords};
use crate::refusal::{FieldRule, Refusal};
use crate::store::{Taken, UserStore, UserUpdate};
use crate::users::{Configured, User};

/// How long a set-password token is good for.
pub(crate) const RESET_TOKEN_SECS: i64 = 72 * 3600;

/// How many times a compare-and-set is retried from a fresh read before giving up (503).
const CAS_TRIES: usize = 8;

/// A new user, as the admin API or the CLI asks for one.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub rol: Rol,
    pub virtual_operator: Option<String>,
    /// `None`: the user gets a set-password token instead.
    pub password: Option<String>,
}

/// The fields an admin may change; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub rol: Option<Rol>,
    pub email: Option<String>,
    pub virtual_operator: Option<String>,
    pub active: Option<bool>,
}

/// A one-time set-password token, as shown once to whoever must pass it on.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetToken {
    /// Good once, for `POST /auth/password/set`.
    pub set_password_token: String,
    /// Seconds it stays good.
    pub expires_in: i64,
}

/// See the module doc.
pub struct Accounts {
    store: Arc<dyn UserStore>,
    /// The users configuration declares (applied at start, and again if the store lost them).
    configured: Arc<[Configured]>,
    passwords: Passwords,
    limits: Arc<Limits>,
    clock: SharedClock,
    default_virtual_operator: String,
    /// How long a user's cut-off is remembered: the longest a session can live, plus leeway.
    cutoff_ttl_ms: i64,
}

fn invalid(rule: FieldRule) -> Refusal {
    Refusal::Invalid(rule)
}

/// A new username: the login's rules, and ASCII only, so no two accounts can look alike.
pub(crate) fn new_username(raw: &str) -> Result<Username, Refusal> {
    if !raw.is_ascii() {
        return Err(invalid(FieldRule::UsernameAscii));
    }
    Username::parse(raw).map_err(|_| invalid(FieldRule::UsernameShape))
}

/// A new e-mail: a plausible address, ASCII only.
pub(crate) fn new_email(raw: &str) -> Result<Email, Refusal> {
    if !raw.is_ascii() {
        return Err(invalid(FieldRule::EmailAscii));
    }
    Email::parse(raw).map_err(|_| invalid(FieldRule::EmailShape))
}

/// A virtual operator: 1 to 64 characters, no control character, not blank (kept as given, as the
/// OpenAPI schema says).
fn new_operator(raw: &str) -> Result<String, Refusal> {
    if raw.trim().is_empty() || raw.chars().count() > 64 || raw.chars().any(char::is_control) {
        return Err(invalid(FieldRule::VirtualOperator));
    }
    Ok(raw.to_string())
}

/// Whether `password` may be set (the policy), naming `field` when it may not.
pub(crate) fn check_new_password(field: &'static str, password: &str) -> Result<(), Refusal> {
    password_policy::check(password).map_err(|rule| Refusal::WeakPassword { field, rule })
}

/// An admin acting on their own password through the admin API.
fn refuse_own(id: u64, actor: Actor) -> Result<(), Refusal> {
    match actor {
        Actor::User(me) if me == id => Err(Refusal::OwnPasswordThroughAdmin),
        _ => Ok(()),
    }
}

fn secret_hash(secret: &str) -> String {
    hex::encode(
        Sha256::new_with_prefix(b"set-password:")
            .chain_update(secret.as_bytes())
            .finalize(),
    )
}

impl Accounts {
    pub fn new(
        store: Arc<dyn UserStore>,
        configured: Arc<[Configured]>,
        passwords: Passwords,
        limits: Arc<Limits>,
        clock: SharedClock,
        default_virtual_operator: String,
        absolute_session_secs: i64,
    ) -> Self {
        Self {
            store,
            configured,
            passwords,
            limits,
            clock,
            default_virtual_operator,
            cutoff_ttl_ms: (absolute_session_secs + JWT_LEEWAY_SECS) * 1000,
        }
    }

    fn user(record: Option<crate::store::UserRecord>) -> Result<Option<Arc<User>>, Refusal> {
        Ok(record.map(User::from_record).transpose()?.map(Arc::new))
    }

    /// The users configuration declares.
    pub fn configured(&self) -> &[Configured] {
        &self.configured
    }

    /// The user a login names, under the one normalisation.
    pub async fn by_username(&self, username: &str) -> Result<Option<Arc<User>>, Refusal> {
        let key = normalize(username);
        let found = self.store.user_by_username(&key).await?;
        if found.is_none() && self.declares(|u| u.index_keys().0 == key) {
            return self.reapplied(self.store.user_by_username(&key)).await;
        }
        Self::user(found)
    }

    /// The user a gettoken names by e-mail, under the one normalisation.
    pub async fn by_email(&self, email: &str) -> Result<Option<Arc<User>>, Refusal> {
        let key = normalize(email);
        let found = self.store.user_by_email(&key).await?;
        if found.is_none() && self.declares(|u| u.index_keys().1 == key) {
            return self.reapplied(self.store.user_by_email(&key)).await;
        }
        Self::user(found)
    }

    fn declares(&self, matches: impl Fn(&User) -> bool) -> bool {
        self.configured.iter().any(|c| matches(&c.user))
    }

    /// A configured user the store does not have: the store lost its data (a Redis without
    /// persistence restarted, a flush). The configuration is applied again (it creates only what is
    /// missing), then `lookup` runs again.
    async fn reapplied<F>(&self, lookup: F) -> Result<Option<Arc<User>>, Refusal>
    where
        F: std::future::Future<Output = Result<Option<crate::store::UserRecord>, crate::store::StoreError>>,
    {
        tracing::warn!("a configured user is missing from the store; applying the configuration again");
        match self.apply_configuration().await {
            Ok(_) => {}
            Err(ApplyError::Store(e)) => return Err(e.into()),
            Err(conflict) => tracing::error!(error = %conflict, "a configured user conflicts with the store"),
        }
        Self::user(lookup.await?)
    }

    pub async fn by_id(&self, id: u64) -> Result<Option<Arc<User>>, Refusal> {
        Self::user(self.store.user(id).await?)
    }

    /// The user a token's `sub` names, if it is a well-formed id.
    pub async fn by_sub(&self, sub: &str) -> Result<Option<Arc<User>>, Refusal> {
        match sub.parse::<u64>() {
            Ok(id) => self.by_id(id).await,
            Err(_) => Ok(None),
        }
    }

    /// At most `limit` users with ids above `after`, by id.
    pub async fn list(&self, after: u64, limit: usize) -> Result<Vec<User>, Refusal> {
        self.store
            .users_after(after, limit)
            .await?
            .into_iter()
            .map(|r| User::from_record(r).map_err(Refusal::from))
            .collect()
    }

    async fn hash(&self, password: &str) -> Result<String, Refusal> {
        let permit = self.passwords.permit().await.map_err(Refusal::internal)?;
        let password = password.to_owned();
        let phc = tokio::task::spawn_blocking(move || passwords::hash_password(&password))
            .await
            .map_err(Refusal::internal)?
            .map_err(Refusal::internal)?;
        drop(permit);
        Ok(phc)
    }

    fn reset_token(&self, user_id: u64) -> (ResetToken, String) {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let expires_ms = self.clock.now_ms() + RESET_TOKEN_SECS * 1000;
        (
            ResetToken {
                set_password_token: format!("{user_id}.{secret}"),
                expires_in: RESET_TOKEN_SECS,
            },
            format!("{}:{expires_ms}", secret_hash(&secret)),
        )
    }

    /// Creates a user with a password (held to the policy) or, without one, a set-password token.
    pub async fn create(&self, new: NewUser, actor: Actor) -> Result<(User, Option<ResetToken>), Refusal> {
        let username = new_username(&new.username)?;
        let email = new_email(&new.email)?;
        let virtual_operator = match &new.virtual_operator {
            Some(vo) => new_operator(vo)?,
            None => self.default_virtual_operator.clone(),
        };
        let password_hash = match &new.password {
            Some(password) => {
                check_new_password("password", password)?;
                self.hash(password).await?
            }
            None => String::new(),
        };
        let mut user = User {
            id: 0,
            username,
            email,
            rol: new.rol,
            password_hash,
            virtual_operator,
            active: true,
            version: 0,
            config: String::new(),
            reset: String::new(),
        };
        let (name_key, email_key) = user.index_keys();
        let created = self
            .store
            .create_user(&user.to_record(), &name_key, &email_key)
            .await?
            .map_err(Refusal::Taken)?;
        user = User::from_record(created)?;
        audit::record("user_created", actor, &user.id.to_string(), user.rol.as_str());
        // A token names its user's id, known only now.
        let reset = match new.password {
            None => Some(self.issue_reset(user.id, actor).await?),
            Some(_) => None,
        };
        let user = match reset {
            Some(_) => self.require(user.id).await?,
            None => user,
        };
        Ok((user, reset))
    }

    async fn require(&self, id: u64) -> Result<User, Refusal> {
        match self.store.user(id).await? {
            Some(record) => Ok(User::from_record(record)?),
            None => Err(Refusal::UnknownUser),
        }
    }

    /// Reads the user, lets `change` edit it (answering whether the edit weakens the user, which
    /// ends their sessions), and writes it over the version read; again from a fresh read if another
    /// writer came first.
    async fn update<F>(&self, id: u64, mut change: F) -> Result<(User, bool), Refusal>
    where
        F: FnMut(&mut User) -> Result<bool, Refusal>,
    {
        for _ in 0..CAS_TRIES {
            let mut user = self.require(id).await?;
            let weakens = change(&mut user)?;
            let (name_key, email_key) = user.index_keys();
            let end = weakens.then_some(self.cutoff_ttl_ms);
            match self
                .store
                .update_user(&user.to_record(), &name_key, &email_key, end)
                .await?
            {
                UserUpdate::Updated { user, .. } => return Ok((User::from_record(*user)?, weakens)),
                UserUpdate::Stale => continue,
                UserUpdate::Missing => return Err(Refusal::UnknownUser),
                UserUpdate::Taken(which) => return Err(Refusal::Taken(which)),
                UserUpdate::LastAdmin => return Err(Refusal::LastAdmin),
            }
        }
        Err(Refusal::Store(crate::store::StoreError::Unavailable(
            "the user kept changing under a compare-and-set".into(),
        )))
    }

    /// Changes `rol`, `email`, `virtual_operator`, `active`; disabling or another role ends every
    /// session of the user.
    pub async fn change(&self, id: u64, changes: Changes, actor: Actor) -> Result<User, Refusal> {
        let email = changes.email.as_deref().map(new_email).transpose()?;
        let operator = changes
            .virtual_operator
            .as_deref()
            .map(new_operator)
            .transpose()?;
        let mut events = Vec::new();
        let (user, _) = self
            .update(id, |user| {
                events.clear();
                let mut weakens = false;
                if let Some(rol) = changes.rol.filter(|r| *r != user.rol) {
                    user.rol = rol;
                    weakens = true;
                    events.push("role_changed");
                }
                if let Some(active) = changes.active.filter(|a| *a != user.active) {
                    user.active = active;
                    weakens |= !active;
                    if !active {
                        // A pending set-password token dies with the account's access.
                        user.reset.clear();
                    }
                    events.push(if active { "user_enabled" } else { "user_disabled" });
                }
                if let Some(email) = email.clone().filter(|e| e.as_str() != user.email.as_str()) {
                    user.email = email;
                    events.push("user_updated");
                }
                if let Some(vo) = operator.clone().filter(|vo| *vo != user.virtual_operator) {
                    user.virtual_operator = vo;
                    if !events.contains(&"user_updated") {
                        events.push("user_updated");
                    }
                }
                Ok(weakens)
            })
            .await?;
        for event in events {
            audit::record(event, actor, &id.to_string(), "");
        }
        Ok(user)
    }

    /// Sets a user's password (held to the policy) and ends their sessions.
    /// An admin's own password is not theirs to set here: a stolen admin token must not become a
    /// permanent takeover ([`Refusal::OwnPasswordThroughAdmin`]; theirs goes through
    /// `POST /auth/password`, with the current one).
    pub async fn set_password(&self, id: u64, password: &str, actor: Actor) -> Result<User, Refusal> {
        refuse_own(id, actor)?;
        check_new_password("password", password)?;
        let user = self.store_password(id, password).await?;
        audit::record(
            "password_reset",
            actor,
            &id.to_string(),
            "set by an administrator",
        );
        Ok(user)
    }

    /// Hashes `password` and makes it the user's (any set-password token spent), ending every
    /// session of the user.
    async fn store_password(&self, id: u64, password: &str) -> Result<User, Refusal> {
        let phc = self.hash(password).await?;
        let (user, _) = self
            .update(id, |user| {
                user.password_hash = phc.clone();
                user.reset.clear();
                Ok(true)
            })
            .await?;
        Ok(user)
    }

    /// Clears a user's password, ends their sessions, and hands back a one-time set-password token
    /// (replacing any earlier one).
    /// Refused for an admin's own account, as [`Accounts::set_password`] is.
    pub async fn issue_reset(&self, id: u64, actor: Actor) -> Result<ResetToken, Refusal> {
        refuse_own(id, actor)?;
        let (token, stored) = self.reset_token(id);
        self.update(id, |user| {
            user.password_hash.clear();
            user.reset = stored.clone();
            Ok(true)
        })
        .await?;
        audit::record(
            "password_reset",
            actor,
            &id.to_string(),
            "set-password token issued",
        );
        Ok(token)
    }

    /// Uses a set-password token: sets the password (held to the policy) if the token is the user's
    /// current one and has not expired; the token is spent in the same compare-and-set.
    pub async fn redeem_reset(&self, token: &str, password: &str) -> Result<User, Refusal> {
        let (id, secret) = token
            .split_once('.')
            .and_then(|(id, secret)| Some((id.parse::<u64>().ok()?, secret)))
            .ok_or(Refusal::BadResetToken)?;
        check_new_password("newPassword", password)?;
        let presented = secret_hash(secret);
        let now = self.clock.now_ms();
        let good = |user: &User| {
            if !user.active {
                return false;
            }
            let Some((hash, expires)) = user.reset.split_once(':') else {
                return false;
            };
            let fresh = expires.parse::<i64>().is_ok_and(|exp| exp > now);
            bool::from(hash.as_bytes().ct_eq(presented.as_bytes())) && fresh
        };
        match self.by_id(id).await? {
            Some(user) if good(&user) => {}
            _ => return Err(Refusal::BadResetToken),
        }
        let phc = self.hash(password).await?;
        let (user, _) = self
            .update(id, |user| {
                if !good(user) {
                    return Err(Refusal::BadResetToken);
                }
                user.password_hash = phc.clone();
                user.reset.clear();
                Ok(true)
            })
            .await
            .map_err(|e| match e {
                Refusal::UnknownUser => Refusal::BadResetToken,
                other => other,
            })?;
        audit::record(
            "password_set",
            Actor::Anonymous,
            &id.to_string(),
            "with a set-password token",
        );
        Ok(user)
    }

    /// The user's own new password, after the caller proved the current one: ends every session.
    pub async fn change_own_password(&self, id: u64, password: &str) -> Result<User, Refusal> {
        let user = self.store_password(id, password).await?;
        audit::record("password_changed", Actor::User(id), &id.to_string(), "");
        Ok(user)
    }

    /// Ends every session of a user (admin `logout-all`), through the same cut-off as a weakening
    /// change.
    pub async fn end_sessions(&self, id: u64, actor: Actor) -> Result<(), Refusal> {
        self.update(id, |_| Ok(true)).await?;
        audit::record("sessions_ended", actor, &id.to_string(), "");
        Ok(())
    }

    /// Forgets the failed logins of a user's username and e-mail and their wrong codes, so a locked
    /// account can log in.
    pub async fn unlock(&self, id: u64, actor: Actor) -> Result<(), Refusal> {
        let user = self.require(id).await?;
        self.limits
            .forget(&[
                AccountKey::username(user.username.as_str()),
                AccountKey::email(user.email.as_str()),
                AccountKey::codes(user.id),
            ])
            .await?;
        audit::record("account_unlocked", actor, &id.to_string(), "");
        Ok(())
    }

    /// Applies the configured users to the store (see [`crate::users`]): a missing one is created, one
    /// whose entry changed since it was last applied is overwritten with what the entry declares (a
    /// weakening change ends their sessions), and the rest stay as they are. Idempotent: every
    /// replica runs it at start. Returns what it did, one line per user it touched.
    pub async fn apply_configuration(&self) -> Result<Vec<String>, ApplyError> {
        let mut done = Vec::new();
        for c in self.configured.iter() {
            let (name_key, email_key) = c.user.index_keys();
            let mut applied = false;
            for _ in 0..CAS_TRIES {
                let stored = self.store.user_by_username(&name_key).await?;
                let Some(stored) = stored else {
                    match self
                        .store
                        .create_user(&c.user.to_record(), &name_key, &email_key)
                        .await?
                    {
                        Ok(record) => {
                            audit::record("config_applied", Actor::Config, &record.id.to_string(), "created");
                            done.push(format!("{}: created as user {}", c.label, record.id));
                            applied = true;
                            break;
                        }
                        // Another replica created it meanwhile: read it again.
                        Err(Taken::Username) => continue,
                        Err(which) => return Err(ApplyError::Taken(c.label.clone(), which)),
                    }
                };
                if stored.config == c.user.config {
                    applied = true;
                    break;
                }
                let mut user = User::from_record(stored.clone())?;
                let weakens = user.password_hash != c.user.password_hash
                    || user.rol != c.user.rol
                    || (user.active && !c.user.active);
                user.email = c.user.email.clone();
                user.rol = c.user.rol;
                user.password_hash = c.user.password_hash.clone();
                user.virtual_operator = c.user.virtual_operator.clone();
                user.active = c.user.active;
                user.config = c.user.config.clone();
                user.reset.clear();
                let end = weakens.then_some(self.cutoff_ttl_ms);
                match self
                    .store
                    .update_user(&user.to_record(), &name_key, &email_key, end)
                    .await?
                {
                    UserUpdate::Updated { .. } => {
                        let what = if weakens {
                            "updated; sessions ended"
                        } else {
                            "updated"
                        };
                        audit::record("config_applied", Actor::Config, &user.id.to_string(), what);
                        done.push(format!("{}: user {} {what}", c.label, user.id));
                        applied = true;
                        break;
                    }
                    UserUpdate::Stale | UserUpdate::Missing => continue,
                    UserUpdate::Taken(which) => return Err(ApplyError::Taken(c.label.clone(), which)),
                    UserUpdate::LastAdmin => return Err(ApplyError::LastAdmin(c.label.clone())),
                }
            }
            if !applied {
                return Err(ApplyError::Store(crate::store::StoreError::Unavailable(format!(
                    "{}: the user kept changing while it was applied",
                    c.label
                ))));
            }
        }
        Ok(done)
    }
}

/// Why configured users could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Another user already has this entry's e-mail (or id): the configuration must change.
    #[error("{0}: its {1:?} already belongs to another user")]
    Taken(String, Taken),
    /// The entry would leave no active admin (it demotes or disables the last one).
    #[error("{0}: it would leave no active admin; keep one admin active (here or in the store)")]
    LastAdmin(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
