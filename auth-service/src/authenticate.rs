//! Proving who you are: the one sign-in behind `POST /auth/login` (+ `/auth/mfa/verify`),
//! `POST /v2/auth/gettoken` and the hosted login page ([`Authenticator::sign_in`],
//! [`Authenticator::second_step`], with a passkey [`Authenticator::second_step_with_passkey`] or
//! [`Authenticator::passkey_sign_in`] alone), and the password step it starts with, which
//! `POST /auth/password` also uses, each under its account lock.
//! The endpoints differ only in how the second factor arrives (a step of its own, or with the
//! password: [`Authenticator::sign_in_with_code`]) and in what they issue once the user is
//! [`Proven`]: a session (a token pair) or gettoken's access token.
//!
//! The password step, in this order:
//! 1. a password over [`MAX_PASSWORD_CHARS`] is refused before anything is counted or hashed;
//! 2. a hashing permit is taken ([`Passwords::permit`]);
//! 3. the request counts against its IP and the account's lock is checked ([`Limits::admit`]), with the
//!    account named by the identifier as typed, in its kind ([`AccountKey::username`],
//!    [`AccountKey::email`]), known or not;
//! 4. one argon2 verification, against the dummy hash for an unknown or disabled user;
//! 5. anything but a match of an active user who `belongs` (gettoken: the virtual operator) is one
//!    failure, recorded before the permit is given back, and `INVALID_CREDENTIALS`; a match forgets
//!    that account's failures (what it proved, and nothing else).
//!
//! Steps 4 and 5 run in a task of their own: a client that hangs up while its password is hashed
//! still has its failure counted, and its permit is given back only after that, so hanging up is no
//! way around the lock or the bound on hashes in flight.
//!
//! Second-factor codes ([`Authenticator::second_step`], [`Authenticator::inline_code`], and the codes
//! that activate or disable MFA through [`Authenticator::code_attempt`]) are admitted by the user's
//! code lock ([`AccountKey::codes`]), counted there when wrong and forgotten there when right. This
//! module and the token endpoint's client authentication ([`crate::oauth::token`]) are the only
//! callers of [`Limits`]' account locks.

use std::net::IpAddr;
use std::sync::Arc;

use tracing::Instrument;

use crate::accounts::Accounts;
use crate::limits::{AccountKey, Limits};
use crate::mfa::{Challenge, Mfa};
use crate::passkeys::{Ask, Passkeys};
use crate::passwords::{Passwords, MAX_PASSWORD_CHARS};
use crate::refusal::Refusal;
use crate::users::User;

/// What a client logs in with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Identifier<'a> {
    /// `/auth/login`.
    Username(&'a str),
    /// `/v2/auth/gettoken`.
    Email(&'a str),
}

/// A correct password of an active user: the user, and the account it was proven for.
pub(crate) struct PasswordProof {
    pub user: Arc<User>,
}

/// Where a sign-in stands after a correct password.
pub(crate) enum SignIn {
    /// Every factor the user has is proven.
    Proven(Proven),
    /// The user has MFA on: the challenge that the second step answers.
    Challenge(Challenge),
}

/// A user who passed every factor they have: what a session or a token may be issued to.
pub struct Proven {
    pub user: Arc<User>,
    /// The user's cut-off as the MFA challenge saw it, for a sign-in in two steps: the session it
    /// starts is bound to it ([`crate::sessions::Sessions::start`]).
    pub cutoff_seen: Option<i64>,
    /// How.
    pub method: Method,
}

/// How a user proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    /// A password, then a TOTP or recovery code.
    PasswordAndCode,
    /// A password, then a passkey (`synced`: one whose backup-eligible flag is set).
    PasswordAndPasskey {
        synced: bool,
    },
    /// A passkey alone, with user verification.
    Passkey {
        synced: bool,
    },
}

impl Method {
    /// The `amr` claim (RFC 8176): `pwd`; then `otp`, or a key (`hwk`, or `swk` for a passkey that
    /// may be synced), with `mfa`. A passkey alone with user verification is the key, `user` and `mfa`
    /// (possession plus the authenticator's own check of the person).
    pub fn amr(self) -> Vec<String> {
        let list: &[&str] = match self {
            Method::Password => &["pwd"],
            Method::PasswordAndCode => &["pwd", "otp", "mfa"],
            Method::PasswordAndPasskey { synced: false } => &["pwd", "hwk", "mfa"],
            Method::PasswordAndPasskey { synced: true } => &["pwd", "swk", "mfa"],
            Method::Passkey { synced: false } => &["hwk", "user", "mfa"],
            Method::Passkey { synced: true } => &["swk", "user", "mfa"],
        };
        list.iter().map(|s| s.to_string()).collect()
    }
}

/// See the module doc.
pub(crate) struct Authenticator {
    users: Arc<Accounts>,
    passwords: Passwords,
    limits: Arc<Limits>,
    mfa: Arc<Mfa>,
    passkeys: Arc<Passkeys>,
}

impl Authenticator {
    pub(crate) fn new(
        users: Arc<Accounts>,
        passwords: Passwords,
        limits: Arc<Limits>,
        mfa: Arc<Mfa>,
        passkeys: Arc<Passkeys>,
    ) -> Self {
        Self {
            users,
            passwords,
            limits,
            mfa,
            passkeys,
        }
    }

    /// The password step (see the module doc). `belongs` is a further condition on the user that,
    /// when false, fails exactly like a wrong password.
    pub(crate) async fn password(
        &self,
        identifier: Identifier<'_>,
        password: &str,
        ip: IpAddr,
        belongs: impl FnOnce(&User) -> bool,
    ) -> Result<PasswordProof, Refusal> {
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(Refusal::PasswordTooLong {
                max: MAX_PASSWORD_CHARS,
            });
        }
        let account = match identifier {
            Identifier::Username(name) => AccountKey::username(name),
            Identifier::Email(email) => AccountKey::email(email),
        };
        let permit = self.passwords.permit().await.map_err(Refusal::internal)?;
        self.limits.admit(ip, &account).await?;
        // Looked up after the lock, known or not: one store round trip either way.
        let user = match identifier {
            Identifier::Username(name) => self.users.by_username(name).await?,
            Identifier::Email(email) => self.users.by_email(email).await?,
        };
        let user = user.filter(|u| u.active).filter(|u| belongs(u));
        let (passwords, limits, password) =
            (self.passwords.clone(), self.limits.clone(), password.to_owned());
        let checked = tokio::spawn(
            async move {
                // A user without a password yet (a set-password token pending) verifies against the
                // dummy, as an unknown, disabled or foreign one does.
                let hash = user
                    .as_ref()
                    .filter(|u| !u.password_hash.is_empty())
                    .map(|u| u.password_hash.as_str());
                let matched = passwords
                    .verify(&permit, hash, &password)
                    .await
                    .map_err(Refusal::internal)?;
                match user {
                    Some(user) if matched => {
                        limits.succeeded(&account).await?;
                        Ok(PasswordProof { user })
                    }
                    _ => {
                        // Recorded while the permit is held: this is what bounds the hashes of a flood.
                        limits.failed(&account).await?;
                        drop(permit);
                        tracing::info!("login refused");
                        Err(Refusal::BadCredentials)
                    }
                }
            }
            .in_current_span(),
        );
        checked.await.map_err(Refusal::internal)?
    }

    /// The second factors a user holds (`totp`, `passkey`): any makes their logins ask for one. TOTP
    /// counts whatever `MFA_ENABLED` says, and passkeys whether or not passkeys are on now: turning a
    /// setting off never turns anyone's second factor off.
    pub(crate) async fn second_factors(&self, user: &User) -> Result<Vec<&'static str>, Refusal> {
        let mut methods = Vec::new();
        if self.mfa.is_active(user).await? {
            methods.push("totp");
        }
        if self.passkeys.any(&user.id.to_string()).await? {
            methods.push("passkey");
        }
        Ok(methods)
    }

    /// A sign-in in two steps: the password step, then, for a user with MFA on, a challenge that
    /// [`Authenticator::second_step`] finishes (`/auth/login` then `/auth/mfa/verify`).
    pub(crate) async fn sign_in(
        &self,
        identifier: Identifier<'_>,
        password: &str,
        ip: IpAddr,
        belongs: impl FnOnce(&User) -> bool,
    ) -> Result<SignIn, Refusal> {
        let proof = self.password(identifier, password, ip, belongs).await?;
        let methods = self.second_factors(&proof.user).await?;
        if !methods.is_empty() {
            return Ok(SignIn::Challenge(self.mfa.challenge(&proof.user, methods).await?));
        }
        Ok(SignIn::Proven(Proven {
            user: proof.user,
            cutoff_seen: None,
            method: Method::Password,
        }))
    }

    /// A sign-in in one step, the code sent with the password (gettoken's `otp`): the password step,
    /// then, for a user with MFA on, that code under the user's code lock. No code for such a user is
    /// [`Refusal::SecondFactorRequired`], answered after the password was proven (gettoken's contract
    /// tells a right password without a code from a wrong one).
    pub(crate) async fn sign_in_with_code(
        &self,
        identifier: Identifier<'_>,
        password: &str,
        code: Option<&str>,
        ip: IpAddr,
        belongs: impl FnOnce(&User) -> bool,
    ) -> Result<Proven, Refusal> {
        let proof = self.password(identifier, password, ip, belongs).await?;
        let mut method = Method::Password;
        if !self.second_factors(&proof.user).await?.is_empty() {
            let code = code.ok_or(Refusal::SecondFactorRequired)?;
            self.inline_code(&proof, code).await?;
            method = Method::PasswordAndCode;
        }
        Ok(Proven {
            user: proof.user,
            cutoff_seen: None,
            method,
        })
    }

    /// A second-factor code sent with the password (gettoken's `otp`), under the user's code lock.
    async fn inline_code(&self, proof: &PasswordProof, code: &str) -> Result<(), Refusal> {
        let account = AccountKey::codes(proof.user.id);
        self.limits.check_lock(&account).await?;
        if self.mfa.check_code(&proof.user, code).await? {
            return self.limits.succeeded(&account).await;
        }
        self.limits.failed(&account).await?;
        Err(Refusal::BadCode)
    }

    /// The second step of a sign-in (`POST /auth/mfa/verify`): a live challenge with tries left and a
    /// good code prove the user, with the cut-off the challenge saw.
    pub(crate) async fn second_step(
        &self,
        mfa_token: &str,
        code: &str,
        ip: IpAddr,
    ) -> Result<Proven, Refusal> {
        let (claims, user) = self.mfa.open_challenge(mfa_token).await?;
        let account = AccountKey::codes(user.id);
        self.limits.admit(ip, &account).await?;
        self.mfa.try_challenge(&claims).await?;
        if !self.mfa.check_code(&user, code).await? {
            shared::metrics::metrics()
                .mfa
                .with_label_values(&["invalid"])
                .inc();
            tracing::info!(user_id = user.id, "mfa code refused");
            self.limits.failed(&account).await?;
            return Err(Refusal::BadCode);
        }
        self.mfa.finish_challenge(&claims).await?;
        self.limits.succeeded(&account).await?;
        Ok(Proven {
            user,
            cutoff_seen: Some(claims.co),
            method: Method::PasswordAndCode,
        })
    }

    /// The second step of a sign-in with a passkey (`POST /auth/mfa/verify` with `passkey`, the
    /// hosted page's second step): the same challenge, tries and code lock as a code, the assertion
    /// answering a ceremony begun for this challenge ([`Passkeys::login_options`]).
    pub(crate) async fn second_step_with_passkey(
        &self,
        mfa_token: &str,
        assertion: &[u8],
        ip: IpAddr,
    ) -> Result<Proven, Refusal> {
        let (claims, user) = self.mfa.open_challenge(mfa_token).await?;
        let account = AccountKey::codes(user.id);
        self.limits.admit(ip, &account).await?;
        self.mfa.try_challenge(&claims).await?;
        let synced = match self
            .passkeys
            .second_factor(&user.id.to_string(), &claims.jti, assertion)
            .await
        {
            Ok(synced) => synced,
            Err(Refusal::BadCode) => {
                shared::metrics::metrics()
                    .mfa
                    .with_label_values(&["invalid"])
                    .inc();
                tracing::info!(user_id = user.id, "passkey refused as a second factor");
                self.limits.failed(&account).await?;
                return Err(Refusal::BadCode);
            }
            Err(other) => return Err(other),
        };
        self.mfa.finish_challenge(&claims).await?;
        self.limits.succeeded(&account).await?;
        Ok(Proven {
            user,
            cutoff_seen: Some(claims.co),
            method: Method::PasswordAndPasskey { synced },
        })
    }

    /// The options of a passkey's second step: the passkeys of the user a live challenge names, for
    /// that challenge alone.
    pub(crate) async fn second_step_options(&self, mfa_token: &str) -> Result<serde_json::Value, Refusal> {
        let (claims, user) = self.mfa.open_challenge(mfa_token).await?;
        self.passkeys
            .login_options(Ask::SecondStep {
                uid: &user.id.to_string(),
                jti: &claims.jti,
            })
            .await
    }

    /// A sign-in with a passkey alone (`POST /auth/passkeys/login`, the hosted page's "Entrar con
    /// llave de acceso"): the IP ceiling, the account lock of the user the passkey names, one failure
    /// there when the assertion fails ([`Passkeys::sign_in`]).
    pub(crate) async fn passkey_sign_in(&self, assertion: &[u8], ip: IpAddr) -> Result<Proven, Refusal> {
        let asserted = self.passkeys.sign_in(assertion, ip).await.inspect_err(|e| {
            if matches!(e, Refusal::BadCredentials) {
                tracing::info!("passkey login refused");
            }
        })?;
        Ok(Proven {
            user: asserted.user,
            cutoff_seen: None,
            method: Method::Passkey {
                synced: asserted.synced,
            },
        })
    }

    /// A code check by a signed-in user (MFA activate, disable) under the user's code lock: admitted
    /// first, a wrong code counted as a failure, a success forgetting the code failures (and only
    /// those: see [`crate::limits`]).
    pub(crate) async fn code_attempt<T>(
        &self,
        ip: IpAddr,
        user: &User,
        attempt: impl std::future::Future<Output = Result<T, Refusal>>,
    ) -> Result<T, Refusal> {
        let account = AccountKey::codes(user.id);
        self.limits.admit(ip, &account).await?;
        match attempt.await {
            Ok(value) => {
                self.limits.succeeded(&account).await?;
                Ok(value)
            }
            Err(Refusal::BadCode) => {
                self.limits.failed(&account).await?;
                Err(Refusal::BadCode)
            }
            Err(other) => Err(other),
        }
    }
}
