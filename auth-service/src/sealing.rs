//! Keys that keep secrets at rest, sealed with ChaCha20-Poly1305 with associated data naming what each
//! belongs to, so a ciphertext cannot be moved to another owner: MFA secrets (the user id; recovery codes
//! are stored as HMAC-SHA256 under the same key) under `MFA_ENCRYPTION_KEY`, and the private halves of
//! signing keys (the key id) under `KEY_ENCRYPTION_KEY` ([`crate::signing`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the key must be 32 bytes in standard base64")]
    BadKey,
    #[error("a sealed secret cannot be opened (the wrong key?)")]
    Decrypt,
}

/// The key that seals TOTP secrets and keys recovery-code hashes.
#[derive(Clone)]
/// The key, and older keys it also opens with (never seals with).
pub struct SealingKey([u8; 32], Vec<[u8; 32]>);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

impl SealingKey {
    /// From `MFA_ENCRYPTION_KEY` (standard base64 of 32 bytes).
    pub fn from_base64(value: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(value.trim()).map_err(|_| SealError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self(key, Vec::new()))
    }

    /// A key derived from `secret` for `purpose` alone (HMAC-SHA256 of the purpose under the
    /// secret): with an HMAC `JWT_ALGORITHM` and no `KEY_ENCRYPTION_KEY`, the ID-token keys are sealed
    /// under `JWT_SECRET`, which every replica holds (and which mints access tokens anyway).
    pub fn derived(secret: &[u8], purpose: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(purpose);
        Self(mac.finalize().into_bytes().into(), Vec::new())
    }

    /// A random key for one process (the embedded store forgets everything on restart anyway).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self(key, Vec::new())
    }

    /// The key kept in `path` (standard base64, one line), made and written there (mode 0600) when
    /// the file does not exist yet: the embedded store's key when it keeps its state in a file, so
    /// MFA enrolments survive a restart without `MFA_ENCRYPTION_KEY`.
    pub fn kept_in(path: &std::path::Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                Self::from_base64(&text).map_err(|_| format!("{} does not hold a key", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options
                    .open(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                std::io::Write::write_all(&mut file, format!("{}\n", STANDARD.encode(key.0)).as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(key)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// `base64(nonce || ciphertext)` of `secret`, bound to `uid`.
    pub fn seal(&self, uid: &str, secret: &[u8]) -> Result<String, SealError> {
        let cipher = ChaCha20Poly1305::new(&Key::from(self.0));
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: uid.as_bytes(),
                },
            )
            .map_err(|_| SealError::Decrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// This key, also opening what `older` keys sealed (it seals with itself only): the ID-token
    /// keys sealed under a `JWT_SECRET` that has moved to `JWT_PREVIOUS_SECRETS`.
    pub fn also_opening(mut self, older: impl IntoIterator<Item = SealingKey>) -> Self {
        self.1.extend(older.into_iter().map(|k| k.0));
        self
    }

    /// What [`SealingKey::seal`] sealed for `uid`, under this key or one it also opens with.
    pub fn open(&self, uid: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        std::iter::once(&self.0)
            .chain(&self.1)
            .find_map(|key| Self::open_with(key, uid, sealed).ok())
            .ok_or(SealError::Decrypt)
    }

    fn open_with(key: &[u8; 32], uid: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = STANDARD.decode(sealed).map_err(|_| SealError::Decrypt)?;
        if raw.len() < 12 {
            return Err(SealError::Decrypt);
        }
        let (nonce, body) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Decrypt)?;
        ChaCha20Poly1305::new(&Key::from(*key))
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: uid.as_bytes(),
                },
            )
            .map_err(|_| SealError::Decrypt)
    }

    /// HMAC-SHA256 of `data` under the key, bound to `uid`, in hex: how recovery codes are stored.
    pub fn mac(&self, uid: &str, data: &[u8]) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(uid.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// An HMAC-SHA256 keyed with `key`.
pub(crate) fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac())
}

// HMAC accepts keys of any length (a long one is hashed first); this is never reached.
#[allow(clippy::panic)]
fn unreachable_hmac() -> ! {
    panic!("HMAC-SHA256 takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_also_opening_an_older_one_opens_both_and_seals_with_itself_only() {
        let old = SealingKey::derived(b"old secret", b"purpose");
        let new = SealingKey::derived(b"new secret", b"purpose");
        let sealed_by_old = old.seal("k1", b"der").unwrap();
        let both = new.clone().also_opening([old.clone()]);
        assert_eq!(both.open("k1", &sealed_by_old).unwrap(), b"der");
        assert!(
            new.open("k1", &sealed_by_old).is_err(),
            "the new key alone does not"
        );
        let sealed_by_both = both.seal("k2", b"der2").unwrap();
        assert_eq!(
            new.open("k2", &sealed_by_both).unwrap(),
            b"der2",
            "sealed with the new key"
        );
        assert!(old.open("k2", &sealed_by_both).is_err());
        assert!(both.open("k3", &sealed_by_old).is_err(), "still bound to the id");
    }

    #[test]
    fn sealed_secrets_open_only_for_their_user_and_key() {
        let key = SealingKey::random();
        let sealed = key.seal("7", b"0123456789abcdefghij").unwrap();
        assert_eq!(key.open("7", &sealed).unwrap(), b"0123456789abcdefghij");
        assert!(key.open("8", &sealed).is_err(), "bound to the user");
        assert!(
            SealingKey::random().open("7", &sealed).is_err(),
            "bound to the key"
        );
        assert_ne!(
            key.seal("7", b"0123456789abcdefghij").unwrap(),
            sealed,
            "random nonce"
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SealingKey::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(SealingKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(SealingKey::from_base64("not base64!").is_err());
    }
}
