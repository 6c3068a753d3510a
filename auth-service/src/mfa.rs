//! TOTP multi-factor authentication: enrolment, codes, recovery codes and the login challenge.
//!
//! - Secrets are 160 bits from the OS RNG, shown once as base32, an `otpauth://` URL and a QR code, and
//!   kept encrypted at rest with ChaCha20-Poly1305 under `MFA_ENCRYPTION_KEY` (the user id is the
//!   associated data, so a ciphertext cannot be moved to another user). A Redis dump alone reveals no
//!   secret.
//! - A code is accepted for ±`MFA_VALID_WINDOW` steps of 30 s around the server's time (the injected
//!   clock), and only if its step is later than the last one accepted for that user: the store makes
//!   that check-and-set atomic, so a code works once across every replica.
//! - Recovery codes are random, shown once, stored as HMAC-SHA256 under the same key, and each is
//!   removed atomically when used.
//! - The login challenge is a 5-minute `typ: mfa` token, good for at most [`MAX_TRIES`] attempts and
//!   one success.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use shared::config::JWT_LEEWAY_SECS;
use shared::{MfaClaims, TokenCodec, TokenKind};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::accounts::Accounts;
use crate::refusal::Refusal;
use crate::sealing::{SealError, SealingKey};
use crate::store::{ChallengeStore, ChallengeTry, MfaStore, RevocationStore, Stores};
use crate::users::User;

/// TOTP step, seconds.
pub(crate) const STEP_SECS: i64 = 30;
/// Digits of a TOTP code.
pub(crate) const DIGITS: usize = 6;
/// How long a login challenge lives, seconds.
pub(crate) const CHALLENGE_SECS: i64 = shared::config::MFA_CHALLENGE_SECS;
/// Attempts allowed per challenge.
pub(crate) const MAX_TRIES: u32 = 5;
/// How many recovery codes activation returns.
pub(crate) const RECOVERY_CODES: usize = 10;
/// How long an enrolment may stay pending before setup must be called again, seconds.
pub(crate) const PENDING_SECS: i64 = 3600;

const RECOVERY_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

#[derive(Debug, thiserror::Error)]
pub(crate) enum MfaError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("totp: {0}")]
    Totp(String),
}

/// The stored form of a recovery code: bound to the user, case and dashes ignored.
fn recovery_hash(key: &SealingKey, uid: &str, code: &str) -> String {
    key.mac(uid, normalize_recovery(code).as_bytes())
}

/// A new 160-bit secret from the OS RNG.
pub(crate) fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// The TOTP of a secret, labelled for authenticator apps.
pub(crate) fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, MfaError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS as u64,
        secret.to_vec(),
        Some(issuer.to_string()),
        account.to_string(),
    )
    .map_err(|e| MfaError::Totp(e.to_string()))
}

/// What setup shows the user once.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Enrolment {
    pub secret: String,
    pub otpauth_url: String,
    pub qr_code: String,
}

/// The secret, its `otpauth://` URL (every parameter explicit: some authenticators do not assume the
/// defaults) and that same URL as a QR code.
pub(crate) fn enrolment(totp: &TOTP) -> Result<Enrolment, MfaError> {
    let otpauth_url = format!(
        "{}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        totp.get_url()
    );
    let png = qr_png(&otpauth_url).map_err(MfaError::Totp)?;
    Ok(Enrolment {
        secret: Secret::Raw(totp.secret.clone()).to_encoded().to_string(),
        otpauth_url,
        qr_code: format!("data:image/png;base64,{}", BASE64.encode(png)),
    })
}

/// Pixels per QR module, and modules of quiet zone on each side (ISO/IEC 18004 asks for four).
const QR_SCALE: usize = 8;
const QR_QUIET: usize = 4;

/// `text` as a QR code (error correction M) in a black-on-white 8-bit grayscale PNG.
fn qr_png(text: &str) -> Result<Vec<u8>, String> {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium).map_err(|e| e.to_string())?;
    let modules = usize::try_from(qr.size()).map_err(|e| e.to_string())?;
    let side = (modules + 2 * QR_QUIET) * QR_SCALE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            // Both coordinates are below `qr.size()`, an i32.
            if !qr.get_module(x as i32, y as i32) {
                continue;
            }
            for row in 0..QR_SCALE {
                let start = ((y + QR_QUIET) * QR_SCALE + row) * side + (x + QR_QUIET) * QR_SCALE;
                pixels[start..start + QR_SCALE].fill(0);
            }
        }
    }
    let side = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Whether `code` is a 6-digit TOTP code (anything else is tried as a recovery code).
pub(crate) fn looks_like_totp(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// The step within ±`window` of `now_secs` whose code is `code`, compared in constant time.
pub(crate) fn matching_step(totp: &TOTP, code: &str, now_secs: i64, window: u8) -> Option<i64> {
    let current = now_secs.div_euclid(STEP_SECS);
    let mut found = None;
    for step in (current - i64::from(window))..=(current + i64::from(window)) {
        if step < 0 {
            continue;
        }
        let expected = totp.generate((step * STEP_SECS) as u64);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// Ten fresh recovery codes, `XXXXX-XXXXX` (50 bits each).
pub(crate) fn new_recovery_codes() -> Vec<String> {
    let mut rng = OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// Upper-case, without separators, so `abcde-fghij` and `ABCDEFGHIJ` are the same code.
pub(crate) fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The MFA flows, over the store; the routes call these.
pub(crate) struct Mfa {
    store: Arc<dyn MfaStore>,
    challenges: Arc<dyn ChallengeStore>,
    /// Read for the cut-off a challenge remembers.
    revocations: Arc<dyn RevocationStore>,
    codec: Arc<TokenCodec>,
    users: Arc<Accounts>,
    key: SealingKey,
    issuer: String,
    window: u8,
}

/// What a login of an MFA user answers instead of tokens.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Challenge {
    pub mfa_required: bool,
    pub mfa_token: String,
    pub expires_in: i64,
    /// The second factors the user holds, any of which answers the challenge: `totp` (a code, or a
    /// recovery code) and `passkey`.
    #[schema(value_type = Vec<String>)]
    pub methods: Vec<&'static str>,
}

fn internal(e: impl Into<MfaError>) -> Refusal {
    Refusal::internal(e.into())
}

impl Mfa {
    pub(crate) fn new(
        stores: &Stores,
        codec: Arc<TokenCodec>,
        users: Arc<Accounts>,
        key: SealingKey,
        issuer: String,
        window: u8,
    ) -> Self {
        Self {
            store: stores.mfa.clone(),
            challenges: stores.challenges.clone(),
            revocations: stores.revocations.clone(),
            codec,
            users,
            key,
            issuer,
            window,
        }
    }

    /// Whether logins of this user need the second step.
    pub(crate) async fn is_active(&self, user: &User) -> Result<bool, Refusal> {
        Ok(self
            .store
            .mfa_record(&user.id.to_string())
            .await?
            .active
            .is_some())
    }

    /// A new pending secret (replacing a pending one, never an active one).
    pub(crate) async fn setup(&self, user: &User) -> Result<Enrolment, Refusal> {
        let uid = user.id.to_string();
        let secret = new_secret();
        let totp = totp(&secret, &self.issuer, user.username.as_str()).map_err(internal)?;
        let enrolment = enrolment(&totp).map_err(internal)?;
        let sealed = self.key.seal(&uid, &secret).map_err(internal)?;
        if !self
            .store
            .mfa_set_pending(&uid, &sealed, PENDING_SECS * 1000)
            .await?
        {
            return Err(Refusal::MfaAlreadyActive);
        }
        shared::metrics::metrics().mfa.with_label_values(&["setup"]).inc();
        tracing::info!(user_id = user.id, "mfa setup started");
        Ok(enrolment)
    }

    /// Activates the pending secret with a current code; returns the recovery codes, shown once.
    pub(crate) async fn activate(&self, user: &User, code: &str) -> Result<Vec<String>, Refusal> {
        let uid = user.id.to_string();
        let record = self.store.mfa_record(&uid).await?;
        if record.active.is_some() {
            return Err(Refusal::MfaAlreadyActive);
        }
        let Some(sealed) = record.pending else {
            return Err(Refusal::MfaNotPending);
        };
        let secret = self.key.open(&uid, &sealed).map_err(internal)?;
        let totp = totp(&secret, &self.issuer, user.username.as_str()).map_err(internal)?;
        let step = looks_like_totp(code)
            .then(|| matching_step(&totp, code, self.codec.now_secs(), self.window))
            .flatten()
            .ok_or(Refusal::BadCode)?;
        let codes = new_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(&self.key, &uid, c)).collect();
        if !self.store.mfa_activate(&uid, &sealed, step, &hashes).await? {
            return Err(Refusal::BadCode);
        }
        shared::metrics::metrics()
            .mfa
            .with_label_values(&["activated"])
            .inc();
        tracing::info!(user_id = user.id, "mfa activated");
        crate::audit::record("mfa_enabled", crate::audit::Actor::User(user.id), &uid, "");
        Ok(codes)
    }

    /// Checks a TOTP or recovery code against the active secret, consuming it (exactly once).
    pub(crate) async fn check_code(&self, user: &User, code: &str) -> Result<bool, Refusal> {
        let uid = user.id.to_string();
        let Some(sealed) = self.store.mfa_record(&uid).await?.active else {
            return Ok(false);
        };
        let code = code.trim();
        if looks_like_totp(code) {
            let secret = self.key.open(&uid, &sealed).map_err(internal)?;
            let totp = totp(&secret, &self.issuer, user.username.as_str()).map_err(internal)?;
            return match matching_step(&totp, code, self.codec.now_secs(), self.window) {
                Some(step) => Ok(self.store.mfa_accept_step(&uid, step).await?),
                None => Ok(false),
            };
        }
        if normalize_recovery(code).len() != 10 {
            return Ok(false);
        }
        let used = self
            .store
            .mfa_use_recovery(&uid, &recovery_hash(&self.key, &uid, code))
            .await?;
        if used {
            tracing::info!(user_id = user.id, "recovery code used");
        }
        Ok(used)
    }

    /// The challenge an MFA user gets from a correct password: bound to the credential it proved and
    /// to the user's cut-off as it is now, so a password change or a logout-all voids it.
    pub(crate) async fn challenge(
        &self,
        user: &User,
        methods: Vec<&'static str>,
    ) -> Result<Challenge, Refusal> {
        let cutoff = self.revocations.cutoff(&user.id.to_string()).await?;
        let now = self.codec.now_secs();
        let claims = MfaClaims {
            sub: user.id.to_string(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            fp: user.fingerprint(),
            co: cutoff.unwrap_or(0),
            iat: now,
            nbf: now,
            exp: now + CHALLENGE_SECS,
            iss: self.codec.issuer().to_string(),
            aud: self.codec.audience_for(TokenKind::Mfa).to_string(),
            typ: TokenKind::Mfa,
        };
        Ok(Challenge {
            mfa_required: true,
            mfa_token: self.codec.sign(&claims).map_err(Refusal::internal)?,
            expires_in: CHALLENGE_SECS,
            methods,
        })
    }

    /// The user behind a login challenge, if the token verifies and the user is still active with the
    /// credential the challenge was issued for. (The session it leads to checks that again, with the
    /// user's cut-off, in the store's one atomic step: [`crate::sessions::Sessions::start`].)
    pub(crate) async fn open_challenge(&self, mfa_token: &str) -> Result<(MfaClaims, Arc<User>), Refusal> {
        let claims = self
            .codec
            .verify::<MfaClaims>(mfa_token)
            .map_err(|e| Refusal::Token(TokenKind::Mfa, e))?;
        let user = self
            .users
            .by_sub(&claims.sub)
            .await?
            .filter(|u| u.active && bool::from(u.fingerprint().as_bytes().ct_eq(claims.fp.as_bytes())))
            .ok_or(Refusal::Revoked)?;
        Ok((claims, user))
    }

    fn challenge_ttl_ms(&self, claims: &MfaClaims) -> i64 {
        (claims.exp - self.codec.now_secs() + JWT_LEEWAY_SECS).max(1) * 1000
    }

    /// Counts one attempt on a challenge: past [`MAX_TRIES`], or once it completed a login, it is spent.
    pub(crate) async fn try_challenge(&self, claims: &MfaClaims) -> Result<(), Refusal> {
        match self
            .challenges
            .mfa_challenge_try(&claims.jti, MAX_TRIES, self.challenge_ttl_ms(claims))
            .await?
        {
            ChallengeTry::Allowed => Ok(()),
            ChallengeTry::Exhausted | ChallengeTry::Used => Err(Refusal::BadCode),
        }
    }

    /// Marks a challenge as having completed its login (exactly once).
    pub(crate) async fn finish_challenge(&self, claims: &MfaClaims) -> Result<(), Refusal> {
        if self
            .challenges
            .mfa_challenge_finish(&claims.jti, self.challenge_ttl_ms(claims))
            .await?
        {
            shared::metrics::metrics()
                .mfa
                .with_label_values(&["verified"])
                .inc();
            Ok(())
        } else {
            Err(Refusal::BadCode)
        }
    }

    /// Turns MFA off with a current code or a recovery code.
    pub(crate) async fn disable(&self, user: &User, code: &str) -> Result<(), Refusal> {
        if !self.is_active(user).await? {
            return Err(Refusal::MfaNotActive);
        }
        if !self.check_code(user, code).await? {
            return Err(Refusal::BadCode);
        }
        self.store.mfa_disable(&user.id.to_string()).await?;
        shared::metrics::metrics()
            .mfa
            .with_label_values(&["disabled"])
            .inc();
        tracing::info!(user_id = user.id, "mfa disabled");
        crate::audit::record(
            "mfa_disabled",
            crate::audit::Actor::User(user.id),
            &user.id.to_string(),
            "",
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_within_the_window_only() {
        let t = totp(&new_secret(), "ONI_Justicia", "maria").unwrap();
        let now = 1_800_000_015;
        let code_at = |secs: i64| t.generate(secs as u64);
        assert_eq!(matching_step(&t, &code_at(now), now, 1), Some(now / 30));
        assert_eq!(matching_step(&t, &code_at(now - 30), now, 1), Some(now / 30 - 1));
        assert_eq!(matching_step(&t, &code_at(now - 60), now, 1), None);
        assert_eq!(matching_step(&t, &code_at(now - 30), now, 0), None);
        assert_eq!(
            matching_step(&t, "000000", now, 1).is_some(),
            code_at(now) == "000000"
        );
    }

    #[test]
    fn recovery_codes_are_distinct_normalised_and_never_look_like_totp() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let key = SealingKey::random();
        for c in &codes {
            assert!(!looks_like_totp(c));
            assert_eq!(
                recovery_hash(&key, "1", c),
                recovery_hash(&key, "1", &c.to_lowercase().replace('-', " "))
            );
            assert_ne!(recovery_hash(&key, "1", c), recovery_hash(&key, "2", c));
        }
    }

    #[test]
    fn enrolment_shows_base32_url_and_png() {
        let secret = new_secret();
        let t = totp(&secret, "ONI_Justicia", "maria").unwrap();
        let e = enrolment(&t).unwrap();
        assert_eq!(e.secret.len(), 32, "160 bits in base32");
        assert!(e.otpauth_url.starts_with("otpauth://totp/ONI_Justicia:maria?"));
        let png = BASE64
            .decode(e.qr_code.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(frame.width, frame.height);
        let qr = qrcodegen::QrCode::encode_text(&e.otpauth_url, qrcodegen::QrCodeEcc::Medium).unwrap();
        let side = (qr.size() as usize + 2 * QR_QUIET) * QR_SCALE;
        assert_eq!(frame.width as usize, side);
        // Every module's centre pixel is dark exactly where the QR code has a dark module; the quiet
        // zone is white.
        for y in 0..qr.size() {
            for x in 0..qr.size() {
                let (px, py) = (
                    (x as usize + QR_QUIET) * QR_SCALE + QR_SCALE / 2,
                    (y as usize + QR_QUIET) * QR_SCALE + QR_SCALE / 2,
                );
                assert_eq!(pixels[py * side + px] == 0, qr.get_module(x, y), "module {x},{y}");
            }
        }
        assert!(pixels[..side * QR_QUIET * QR_SCALE].iter().all(|&p| p == 255));
    }
}
