//! Passkeys (WebAuthn): registered from a signed-in session, then used as the second factor after the
//! password or as the whole sign-in (user verification required).
//!
//! The ceremonies are webauthn_rp's: it builds the options (in the WebAuthn JSON forms a browser's
//! `PublicKeyCredential.parseCreationOptionsFromJSON` takes), parses what the browser sends back
//! (`toJSON()`), and checks it: the challenge, the origin against [`RelyingParty::origins`], the RP ID
//! hash, the flags, the signature, the signature counter. Nothing here reads CBOR or COSE.
//!
//! - **Ceremonies** live in the store ([`GrantKind::Ceremony`], by challenge, [`CEREMONY_SECS`]): any
//!   replica finishes what another began, and each is redeemed once, atomically, so an assertion or a
//!   registration presented twice is refused the second time.
//! - **What is kept** ([`PasskeyRecord`]) is the public key and the counter state, per user and by
//!   credential id (unique across users). Each use writes the new counter by compare-and-set on the
//!   record as read, so two assertions racing from the same counter cannot both pass; a counter that
//!   goes backwards (a cloned authenticator) is refused and logged.
//! - **User handles** are 16 random bytes per user, chosen at the first registration and kept with
//!   each passkey; no name or id of ours goes to the authenticator as its handle.
//! - **Sign-in** with a passkey alone goes through the same IP ceiling and account lock as a password
//!   ([`crate::limits`]); as a second factor, through the MFA challenge's tries and the code lock.
//!   [`Method`] says which, for the `amr` of ID tokens.
//! - Asking for a user's options by name answers the same shape whether the user exists or not: an
//!   unknown user (or one without passkeys) is offered decoy credentials derived from the name, as
//!   many and as long as real ones come, with the transports real ones report.

use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::SharedClock;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AllowedCredential, AllowedCredentials, AuthenticationVerificationOptions,
    DiscoverableCredentialRequestOptions, NonDiscoverableCredentialRequestOptions,
};
use webauthn_rp::request::register::{
    CredProtect, PublicKeyCredentialCreationOptions, PublicKeyCredentialUserEntity,
    RegistrationVerificationOptions, UserHandle, Username,
};
use webauthn_rp::request::{
    AsciiDomain, Credentials, ExtensionInfo, PublicKeyCredentialDescriptor, RpId, TimedCeremony,
    UserVerificationRequirement,
};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, Backup, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication, DiscoverableAuthenticationServerState,
    NonDiscoverableAuthentication, NonDiscoverableAuthenticationServerState, Registration,
    RegistrationServerState,
};

use crate::accounts::Accounts;
use crate::config::RelyingParty;
use crate::limits::{AccountKey, Limits};
use crate::refusal::{PasskeyProblem, Refusal};
use crate::sealing::SealingKey;
use crate::store::{
    GrantKind, GrantStore, PasskeyAdded, PasskeyRecord, PasskeyRemoved, PasskeyStore, Redeemed,
};
use crate::users::User;

/// Bytes of a user handle.
const HANDLE_LEN: usize = 16;
/// How long a ceremony may take, seconds (webauthn_rp's options ask the browser for five minutes).
pub(crate) const CEREMONY_SECS: i64 = 300;
/// The most passkeys one user may hold.
pub(crate) const MAX_PASSKEYS: usize = 10;
/// The longest name a passkey may have, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 64;

type Handle = UserHandle<HANDLE_LEN>;
type StoredKey = CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>;

/// What a ceremony in the store is for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
enum Purpose {
    /// A new passkey for this user.
    Register { uid: String },
    /// A sign-in with any discoverable passkey.
    SignIn,
    /// A sign-in with a passkey of the user named (none: a name nobody has).
    SignInAs { uid: Option<String> },
    /// The second step of the login whose MFA challenge is `jti`.
    SecondFactor { uid: String, jti: String },
}

/// A ceremony as the store keeps it: its purpose and webauthn_rp's server state.
#[derive(Debug, Serialize, Deserialize)]
struct Ceremony {
    purpose: Purpose,
    state: String,
}

/// A passkey as its user sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasskeyInfo {
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; null until first used.
    pub last_used_at: Option<String>,
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(r: &PasskeyRecord) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            created_at: rfc3339(r.created_ms),
            last_used_at: r.last_used_ms.map(rfc3339),
        }
    }
}

/// Which options a sign-in asks for.
pub(crate) enum Ask<'a> {
    /// Any passkey the browser holds for us (a discoverable credential).
    Anyone,
    /// A passkey of the user with this name.
    Named(&'a str),
    /// The second step of a login: the user its MFA challenge names.
    SecondStep { uid: &'a str, jti: &'a str },
}

/// A passkey assertion that passed, and whose it is.
pub(crate) struct Asserted {
    pub user: Arc<User>,
    pub synced: bool,
}

fn problem(p: PasskeyProblem) -> Refusal {
    Refusal::BadPasskey(p)
}

fn decode_b64(s: &str) -> Result<Vec<u8>, Refusal> {
    B64.decode(s)
        .map_err(|_| Refusal::internal(StoredPasskey("not base64url")))
}

/// A stored passkey that does not decode: a bug or a damaged store, never the client's fault.
#[derive(Debug, thiserror::Error)]
#[error("stored passkey: {0}")]
struct StoredPasskey(&'static str);

fn stored(what: &'static str) -> Refusal {
    Refusal::internal(StoredPasskey(what))
}

/// The user handle of a record.
fn handle_of(record: &PasskeyRecord) -> Result<Handle, Refusal> {
    let bytes: [u8; HANDLE_LEN] = decode_b64(&record.user_handle)?
        .try_into()
        .map_err(|_| stored("user handle length"))?;
    Handle::decode(bytes).map_err(|_| stored("user handle"))
}

fn static_state_of(record: &PasskeyRecord) -> Result<StaticState<StoredKey>, Refusal> {
    StaticState::decode(decode_b64(&record.public_key)?.as_slice()).map_err(|_| stored("public key"))
}

fn dynamic_state_of(record: &PasskeyRecord) -> Result<DynamicState, Refusal> {
    let bytes: [u8; 7] = decode_b64(&record.state)?
        .try_into()
        .map_err(|_| stored("state length"))?;
    DynamicState::decode(bytes).map_err(|_| stored("state"))
}

fn descriptor_of(record: &PasskeyRecord) -> Result<PublicKeyCredentialDescriptor<Vec<u8>>, Refusal> {
    Ok(PublicKeyCredentialDescriptor {
        id: CredentialId::decode(decode_b64(&record.id)?).map_err(|_| stored("credential id"))?,
        transports: AuthTransports::decode(record.transports).map_err(|_| stored("transports"))?,
    })
}

fn challenge_key(challenge: u128) -> String {
    format!("{challenge:032x}")
}

/// A passkey's name as given: trimmed, not empty, at most [`MAX_NAME_CHARS`], no control characters.
pub(crate) fn passkey_name(name: Option<&str>) -> Result<String, Refusal> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Llave de acceso");
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(problem(PasskeyProblem::Name));
    }
    Ok(name.to_string())
}

/// See the module doc.
pub(crate) struct Passkeys {
    store: Arc<dyn PasskeyStore>,
    grants: Arc<dyn GrantStore>,
    users: Arc<Accounts>,
    limits: Arc<Limits>,
    clock: SharedClock,
    /// Derives decoy credential ids; stable across replicas and restarts.
    decoys: SealingKey,
    /// `None`: passkeys are off (no RP ID configured nor derivable).
    rp: Option<(RpId, Vec<String>)>,
}

impl Passkeys {
    pub(crate) fn new(
        store: Arc<dyn PasskeyStore>,
        grants: Arc<dyn GrantStore>,
        users: Arc<Accounts>,
        limits: Arc<Limits>,
        clock: SharedClock,
        decoys: SealingKey,
        rp: Option<&RelyingParty>,
    ) -> Self {
        let rp = rp.and_then(|rp| {
            AsciiDomain::try_from(rp.rp_id.clone())
                .ok()
                .map(|domain| (RpId::Domain(domain), rp.origins.clone()))
        });
        Self {
            store,
            grants,
            users,
            limits,
            clock,
            decoys,
            rp,
        }
    }

    /// Whether passkeys are on.
    pub(crate) fn enabled(&self) -> bool {
        self.rp.is_some()
    }

    fn rp(&self) -> Result<(&RpId, &[String]), Refusal> {
        self.rp
            .as_ref()
            .map(|(id, origins)| (id, origins.as_slice()))
            .ok_or(Refusal::PasskeysOff)
    }

    /// The user's passkeys.
    pub(crate) async fn of_user(&self, user: &User) -> Result<Vec<PasskeyRecord>, Refusal> {
        let mut all = self.store.passkeys(&user.id.to_string()).await?;
        all.sort_by_key(|p| p.created_ms);
        Ok(all)
    }

    /// Whether the user holds any passkey (which makes logins ask for a second factor).
    pub(crate) async fn any(&self, uid: &str) -> Result<bool, Refusal> {
        Ok(!self.store.passkeys(uid).await?.is_empty())
    }

    async fn begin(&self, purpose: Purpose, state: Vec<u8>, challenge: u128) -> Result<(), Refusal> {
        let value = serde_json::to_string(&Ceremony {
            purpose,
            state: B64.encode(state),
        })
        .map_err(Refusal::internal)?;
        self.grants
            .put_grant(
                GrantKind::Ceremony,
                &challenge_key(challenge),
                &value,
                CEREMONY_SECS * 1000,
            )
            .await?;
        Ok(())
    }

    /// Redeems the ceremony of a challenge: once, and only while it lives.
    async fn redeem(&self, challenge: u128) -> Result<Option<Ceremony>, Refusal> {
        match self
            .grants
            .redeem_grant(GrantKind::Ceremony, &challenge_key(challenge))
            .await?
        {
            Redeemed::Fresh(value) => Ok(serde_json::from_str(&value).ok()),
            Redeemed::Replayed(_) => {
                tracing::info!("passkey ceremony presented again: refused");
                Ok(None)
            }
            Redeemed::Missing => Ok(None),
        }
    }

    /// The options to register a new passkey (`datos.publicKey`), its ceremony kept in the store.
    pub(crate) async fn register_options(&self, user: &User) -> Result<Value, Refusal> {
        let (rp_id, _) = self.rp()?;
        let existing = self.of_user(user).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(Refusal::TooManyPasskeys { max: MAX_PASSKEYS });
        }
        let handle = match existing.first() {
            Some(record) => handle_of(record)?,
            None => {
                let mut bytes = [0u8; HANDLE_LEN];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                Handle::decode(bytes).map_err(Refusal::internal)?
            }
        };
        let exclude = existing
            .iter()
            .map(descriptor_of)
            .collect::<Result<Vec<_>, _>>()?;
        let fallback = format!("usuario-{}", user.id);
        let name = Username::try_from(user.username.as_str())
            .or_else(|_| Username::try_from(fallback.as_str()))
            .map_err(Refusal::internal)?;
        let entity = PublicKeyCredentialUserEntity {
            name,
            id: &handle,
            display_name: None,
        };
        let mut creation = PublicKeyCredentialCreationOptions::passkey(rp_id, entity, exclude);
        // Ask authenticators to require user verification for this credential (credProtect), but do
        // not make the browser refuse one that cannot say so: older security keys lack the extension,
        // and webauthn_rp's default (enforced) turns them, and Chromium's, away.
        creation.extensions.cred_protect =
            CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
        let (server, client) = creation.start_ceremony().map_err(Refusal::internal)?;
        let options = serde_json::to_value(&client).map_err(Refusal::internal)?;
        let state = server.encode().map_err(Refusal::internal)?;
        self.begin(
            Purpose::Register {
                uid: user.id.to_string(),
            },
            state,
            server.sent_challenge().0,
        )
        .await?;
        Ok(options)
    }

    /// Finishes a registration: the browser's `RegistrationResponseJSON` for a ceremony this user
    /// began. The passkey is kept, and from then on the user's logins ask for a second factor.
    pub(crate) async fn register(
        &self,
        user: &User,
        credential: &[u8],
        name: &str,
    ) -> Result<PasskeyInfo, Refusal> {
        let (rp_id, origins) = self.rp()?;
        let registration =
            Registration::from_json_relaxed(credential).map_err(|_| problem(PasskeyProblem::Unreadable))?;
        let challenge = registration
            .challenge_relaxed()
            .map_err(|_| problem(PasskeyProblem::Unreadable))?;
        let uid = user.id.to_string();
        let state = match self.redeem(challenge.0).await? {
            Some(Ceremony {
                purpose: Purpose::Register { uid: of },
                state,
            }) if of == uid => state,
            _ => return Err(problem(PasskeyProblem::UnknownCeremony)),
        };
        let server = RegistrationServerState::<HANDLE_LEN>::decode(decode_b64(&state)?.as_slice())
            .map_err(|_| stored("registration ceremony"))?;
        let options = RegistrationVerificationOptions::<String, String> {
            allowed_origins: origins,
            ..Default::default()
        };
        let credential = server.verify(rp_id, &registration, &options).map_err(|e| {
            tracing::info!(user_id = user.id, error = %e, "passkey registration refused");
            problem(PasskeyProblem::Refused)
        })?;
        let (id, transports, handle, static_state, dynamic_state, _) = credential.into_parts();
        let now = self.clock.now_ms();
        let record = PasskeyRecord {
            id: B64.encode(id.as_ref()),
            uid: uid.clone(),
            name: name.to_string(),
            created_ms: now,
            last_used_ms: None,
            user_handle: B64.encode(handle.encode().map_err(Refusal::internal)?),
            transports: transports.encode().map_err(Refusal::internal)?,
            public_key: B64.encode(static_state.encode().map_err(Refusal::internal)?),
            state: B64.encode(dynamic_state.encode().map_err(Refusal::internal)?),
        };
        match self.store.add_passkey(&record, MAX_PASSKEYS).await? {
            PasskeyAdded::Added => {}
            PasskeyAdded::Taken => return Err(problem(PasskeyProblem::AlreadyRegistered)),
            PasskeyAdded::Full => return Err(Refusal::TooManyPasskeys { max: MAX_PASSKEYS }),
        }
        shared::metrics::metrics()
            .mfa
            .with_label_values(&["passkey_added"])
            .inc();
        crate::audit::record(
            "passkey_added",
            crate::audit::Actor::User(user.id),
            &uid,
            &record.id,
        );
        Ok(PasskeyInfo::from(&record))
    }

    /// Renames one of the user's passkeys.
    pub(crate) async fn rename(&self, user: &User, id: &str, name: &str) -> Result<PasskeyInfo, Refusal> {
        // Compare-and-set against a use that moves its counter meanwhile: a few tries.
        for _ in 0..3 {
            let before = self.own(user, id).await?;
            let after = PasskeyRecord {
                name: name.to_string(),
                ..before.clone()
            };
            if self.store.update_passkey(&before, &after).await? {
                return Ok(PasskeyInfo::from(&after));
            }
        }
        Err(Refusal::internal(StoredPasskey(
            "changed under every rename attempt",
        )))
    }

    /// One of the user's passkeys, by id.
    async fn own(&self, user: &User, id: &str) -> Result<PasskeyRecord, Refusal> {
        self.store
            .passkey(id)
            .await?
            .filter(|p| p.uid == user.id.to_string())
            .ok_or(Refusal::UnknownPasskey)
    }

    /// Removes one of the user's passkeys (the caller asks for the password first when it is the
    /// account's last second factor).
    /// Removes a passkey of `user`; with `keep_last`, not if it is their last (`Ok(false)`): decided
    /// in the store, with the removal.
    pub(crate) async fn remove(&self, user: &User, id: &str, keep_last: bool) -> Result<bool, Refusal> {
        let uid = user.id.to_string();
        match self.store.remove_passkey(&uid, id, keep_last).await? {
            PasskeyRemoved::Removed => {}
            PasskeyRemoved::Unknown => return Err(Refusal::UnknownPasskey),
            PasskeyRemoved::Last => return Ok(false),
        }
        crate::audit::record("passkey_removed", crate::audit::Actor::User(user.id), &uid, id);
        Ok(true)
    }

    /// The decoy credentials offered for a name without passkeys (an unknown name included): the
    /// same for the same name, every time, and drawn like real ones, so that the answer for a name
    /// says nothing of whether it has passkeys. One or (a quarter of names) two; each id as long as
    /// one of the common authenticators' (16, 20, 32 or 64 bytes), with the transports such an
    /// authenticator reports. Derived by HMAC from the name under the deployment's key.
    fn decoys(&self, name: &str) -> Result<Vec<PublicKeyCredentialDescriptor<Vec<u8>>>, Refusal> {
        const LENGTHS: [usize; 4] = [16, 20, 32, 64];
        // internal+hybrid (a phone's or a laptop's platform passkey), internal, hybrid, usb+nfc, usb.
        const TRANSPORTS: [u8; 5] = [0x4 | 0x2, 0x4, 0x2, 0x20 | 0x8, 0x20];
        let name = crate::identity::normalize(name);
        let bytes =
            |label: &str| hex::decode(self.decoys.mac(label, name.as_bytes())).map_err(Refusal::internal);
        let shape: [u8; 32] = bytes("passkey-decoy-shape")?
            .try_into()
            .map_err(|_| Refusal::internal(std::io::Error::other("an HMAC-SHA256 of other than 32 bytes")))?;
        let count = if shape[0] < 64 { 2 } else { 1 };
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let mut id = bytes(&format!("passkey-decoy:{i}"))?;
            id.extend(bytes(&format!("passkey-decoy:{i}+"))?);
            id.truncate(LENGTHS[usize::from(shape[1 + i]) % LENGTHS.len()]);
            out.push(PublicKeyCredentialDescriptor {
                id: CredentialId::decode(id).map_err(Refusal::internal)?,
                transports: AuthTransports::decode(TRANSPORTS[usize::from(shape[3 + i]) % TRANSPORTS.len()])
                    .map_err(Refusal::internal)?,
            });
        }
        Ok(out)
    }

    /// The options of a sign-in (`datos.publicKey`), its ceremony kept in the store.
    pub(crate) async fn login_options(&self, ask: Ask<'_>) -> Result<Value, Refusal> {
        let (rp_id, _) = self.rp()?;
        let (allowed, purpose, verify_user) = match ask {
            Ask::Anyone => {
                let (server, client) = DiscoverableCredentialRequestOptions::passkey(rp_id)
                    .start_ceremony()
                    .map_err(Refusal::internal)?;
                let options = serde_json::to_value(&client).map_err(Refusal::internal)?;
                let state = server.encode().map_err(Refusal::internal)?;
                self.begin(Purpose::SignIn, state, server.sent_challenge().0)
                    .await?;
                return Ok(options);
            }
            Ask::Named(name) => {
                let user = self.users.by_username(name).await?.filter(|u| u.active);
                let records = match &user {
                    Some(u) => self.of_user(u).await?,
                    None => Vec::new(),
                };
                let mut allowed = records.iter().map(descriptor_of).collect::<Result<Vec<_>, _>>()?;
                if allowed.is_empty() {
                    allowed = self.decoys(name)?;
                }
                let uid = user.filter(|_| !records.is_empty()).map(|u| u.id.to_string());
                (allowed, Purpose::SignInAs { uid }, true)
            }
            Ask::SecondStep { uid, jti } => {
                let records = self.store.passkeys(uid).await?;
                if records.is_empty() {
                    return Err(Refusal::BadCode);
                }
                let allowed = records.iter().map(descriptor_of).collect::<Result<Vec<_>, _>>()?;
                (
                    allowed,
                    Purpose::SecondFactor {
                        uid: uid.to_string(),
                        jti: jti.to_string(),
                    },
                    false,
                )
            }
        };
        let mut credentials = AllowedCredentials::with_capacity(allowed.len());
        for descriptor in allowed {
            credentials.push(AllowedCredential::from(descriptor));
        }
        let mut request = NonDiscoverableCredentialRequestOptions::second_factor(rp_id, credentials)
            .map_err(Refusal::internal)?;
        if verify_user {
            request.options().user_verification = UserVerificationRequirement::Required;
        }
        let (server, client) = request.start_ceremony().map_err(Refusal::internal)?;
        let options = serde_json::to_value(&client).map_err(Refusal::internal)?;
        let state = server.encode().map_err(Refusal::internal)?;
        self.begin(purpose, state, server.sent_challenge().0).await?;
        Ok(options)
    }

    /// A sign-in with a passkey alone (`AuthenticationResponseJSON` of a [`Ask::Anyone`] or
    /// [`Ask::Named`] ceremony): under the IP ceiling, then the account lock of the user it names, a
    /// failed assertion counted against that lock. Anything wrong is [`Refusal::BadCredentials`].
    pub(crate) async fn sign_in(&self, credential: &[u8], ip: IpAddr) -> Result<Asserted, Refusal> {
        self.rp()?;
        self.limits.admit_ip(ip).await?;
        let parsed = NonDiscoverableAuthentication::<HANDLE_LEN>::from_json_relaxed(credential)
            .map_err(|_| Refusal::BadCredentials)?;
        let challenge = parsed.challenge_relaxed().map_err(|_| Refusal::BadCredentials)?;
        let Some(ceremony) = self.redeem(challenge.0).await? else {
            return Err(Refusal::BadCredentials);
        };
        let id = B64.encode(parsed.raw_id().as_ref());
        let record = self.store.passkey(&id).await?.ok_or(Refusal::BadCredentials)?;
        match &ceremony.purpose {
            Purpose::SignIn => {}
            Purpose::SignInAs { uid: Some(uid) } if *uid == record.uid => {}
            _ => return Err(Refusal::BadCredentials),
        }
        let user = self
            .users
            .by_sub(&record.uid)
            .await?
            .filter(|u| u.active)
            .ok_or(Refusal::BadCredentials)?;
        let account = AccountKey::username(user.username.as_str());
        self.limits.check_lock(&account).await?;
        match self.check(&ceremony, credential, &parsed, &record).await {
            Ok(synced) => {
                self.limits.succeeded(&account).await?;
                Ok(Asserted { user, synced })
            }
            Err(Refusal::BadCode) => {
                self.limits.failed(&account).await?;
                Err(Refusal::BadCredentials)
            }
            Err(other) => Err(other),
        }
    }

    /// The second step of a login with a passkey: the assertion must answer a ceremony begun for this
    /// very challenge (`jti`) and user. The caller counts the try and the code lock
    /// ([`crate::authenticate::Authenticator::second_step_with_passkey`]). A wrong one is
    /// [`Refusal::BadCode`].
    pub(crate) async fn second_factor(
        &self,
        uid: &str,
        jti: &str,
        credential: &[u8],
    ) -> Result<bool, Refusal> {
        self.rp()?;
        let parsed = NonDiscoverableAuthentication::<HANDLE_LEN>::from_json_relaxed(credential)
            .map_err(|_| Refusal::BadCode)?;
        let challenge = parsed.challenge_relaxed().map_err(|_| Refusal::BadCode)?;
        let Some(ceremony) = self.redeem(challenge.0).await? else {
            return Err(Refusal::BadCode);
        };
        match &ceremony.purpose {
            Purpose::SecondFactor {
                uid: of,
                jti: for_jti,
            } if of == uid && for_jti == jti => {}
            _ => return Err(Refusal::BadCode),
        }
        let id = B64.encode(parsed.raw_id().as_ref());
        let record = self
            .store
            .passkey(&id)
            .await?
            .filter(|r| r.uid == uid)
            .ok_or(Refusal::BadCode)?;
        self.check(&ceremony, credential, &parsed, &record).await
    }

    /// Verifies an assertion against its ceremony and passkey, then moves the passkey's counter by
    /// compare-and-set. Whether the passkey may be synced (for `amr`); [`Refusal::BadCode`] if anything
    /// fails.
    async fn check(
        &self,
        ceremony: &Ceremony,
        credential: &[u8],
        parsed: &NonDiscoverableAuthentication<HANDLE_LEN>,
        record: &PasskeyRecord,
    ) -> Result<bool, Refusal> {
        let (rp_id, origins) = self.rp()?;
        let handle = handle_of(record)?;
        let id_bytes = decode_b64(&record.id)?;
        let id = CredentialId::decode(id_bytes.as_slice()).map_err(|_| stored("credential id"))?;
        let mut cred =
            AuthenticatedCredential::new(id, &handle, static_state_of(record)?, dynamic_state_of(record)?)
                .map_err(|_| stored("credential"))?;
        let options = AuthenticationVerificationOptions::<String, String> {
            allowed_origins: origins,
            update_uv: true,
            ..Default::default()
        };
        let state = decode_b64(&ceremony.state)?;
        let verified = match ceremony.purpose {
            Purpose::SignIn => {
                let discoverable = DiscoverableAuthentication::<HANDLE_LEN>::from_json_relaxed(credential)
                    .map_err(|_| Refusal::BadCode)?;
                DiscoverableAuthenticationServerState::decode(state.as_slice())
                    .map_err(|_| stored("authentication ceremony"))?
                    .verify(rp_id, &discoverable, &mut cred, &options)
            }
            _ => NonDiscoverableAuthenticationServerState::decode(state.as_slice())
                .map_err(|_| stored("authentication ceremony"))?
                .verify(rp_id, parsed, &mut cred, &options),
        };
        match verified {
            Ok(_) => {}
            Err(AuthCeremonyErr::SignatureCounter) => {
                tracing::warn!(
                    user_id = %record.uid,
                    passkey = %record.id,
                    "passkey refused: its signature counter went backwards (a cloned authenticator?)"
                );
                crate::audit::record(
                    "passkey_counter_regressed",
                    crate::audit::Actor::Anonymous,
                    &record.uid,
                    &record.id,
                );
                return Err(Refusal::BadCode);
            }
            Err(e) => {
                tracing::info!(user_id = %record.uid, error = %e, "passkey assertion refused");
                return Err(Refusal::BadCode);
            }
        }
        let dynamic = cred.dynamic_state();
        let after = PasskeyRecord {
            last_used_ms: Some(self.clock.now_ms()),
            state: B64.encode(dynamic.encode().map_err(Refusal::internal)?),
            ..record.clone()
        };
        if !self.store.update_passkey(record, &after).await? {
            tracing::info!(user_id = %record.uid, "passkey used twice at once: the second refused");
            return Err(Refusal::BadCode);
        }
        Ok(!matches!(dynamic.backup, Backup::NotEligible))
    }
}
