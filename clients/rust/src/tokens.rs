//! One session's tokens and where the client keeps them. The storage is a trait so an app can persist
//! the session (a keyring, an encrypted file) and resume it in the next run.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// One session's pair. `Debug` never shows a token, so logging one by accident leaks nothing;
/// `Serialize` does (it is for a storage that persists the session).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    /// `None` for a session that cannot be refreshed (then the client logs in again, if it can).
    pub refresh_token: Option<String>,
    /// When the access token expires, by this machine's clock: the start of the request that got the
    /// pair plus the `expiresIn` it answered.
    pub expires_at: SystemTime,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Where the client keeps the session. `save` is called with every new pair (each rotated refresh
/// token included) and `clear` when the session ends; `load` once, before the client's first use of
/// the session. Calls are made one at a time, under the client's own lock: keep them quick, and let a
/// storage that cannot write report it its own way (the client carries on with the pair in memory).
pub trait TokenStorage: Send + Sync {
    fn load(&self) -> Option<Tokens>;
    fn save(&self, tokens: &Tokens);
    fn clear(&self);
}

/// The default storage: the session lives as long as the storage.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    tokens: Mutex<Option<Tokens>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// A storage holding a session already, e.g. one handed over by another part of the app.
    pub fn with_tokens(tokens: Tokens) -> Self {
        Self {
            tokens: Mutex::new(Some(tokens)),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Tokens>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl TokenStorage for MemoryStorage {
    fn load(&self) -> Option<Tokens> {
        self.slot().clone()
    }

    fn save(&self, tokens: &Tokens) {
        *self.slot() = Some(tokens.clone());
    }

    fn clear(&self) {
        *self.slot() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pair() -> Tokens {
        Tokens {
            access_token: "eyJ.access-secret-part".into(),
            refresh_token: Some("eyJ.refresh-secret-part".into()),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000),
        }
    }

    #[test]
    fn debug_never_shows_a_token() {
        let text = format!("{:?} {:#?}", pair(), MemoryStorage::with_tokens(pair()));
        assert!(!text.contains("secret-part"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn memory_storage_keeps_the_last_pair_until_cleared() {
        let storage = MemoryStorage::new();
        assert_eq!(storage.load(), None);
        storage.save(&pair());
        let mut next = pair();
        next.refresh_token = Some("rotated".into());
        storage.save(&next);
        assert_eq!(storage.load(), Some(next));
        storage.clear();
        assert_eq!(storage.load(), None);
    }

    #[test]
    fn a_persisted_pair_reads_back_the_same() {
        let text = serde_json::to_string(&pair()).unwrap();
        assert_eq!(serde_json::from_str::<Tokens>(&text).unwrap(), pair());
    }
}
