//! argon2id password hashing and verification.
//!
//! Verification runs on a fixed pool of hashing threads (one per CPU by default), inside the request's
//! span. Each thread keeps its own argon2 memory (~19 MiB) and reuses it for every hash, so a burst of
//! logins costs that memory once per thread, never per request: waiting logins queue as cheap futures
//! on a bounded channel, and the async workers that verify tokens are never stalled. (On tokio's
//! blocking pool each hash allocated and freed 19 MiB on whichever thread ran it, and the allocator kept
//! those blocks: RSS grew past 500 MiB under a login burst.) Every login that can fail (unknown user,
//! disabled user, empty password) still verifies one hash, so all failures cost the same time.
//!
//! A verification needs a [`HashPermit`], one per hashing thread: the login flow checks the account's
//! lock while holding one and records a failure before giving it back, which bounds the hashes a flood
//! of guesses can cause (see [`crate::limits`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// Longer passwords are refused before hashing (never truncated).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// OWASP's argon2id minimum: m=19456 KiB, t=2, p=1.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Hash(String),
    #[error("the hashing threads are gone")]
    Closed,
}

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string for `password` with a random salt; what `auth-service hash-password` prints.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hash_with_salt(password, &salt)
}

/// A PHC string with a salt derived from `context` and the password, so every replica computes the
/// same hash for the bootstrap user (and the session fingerprint derived from it agrees across replicas).
/// The result still costs a full argon2 computation per guess.
pub fn hash_deterministic(context: &str, password: &str) -> Result<String, PasswordError> {
    let digest = Sha256::new()
        .chain_update(b"auth-service bootstrap salt\0")
        .chain_update(context.as_bytes())
        .chain_update(b"\0")
        .chain_update(password.as_bytes())
        .finalize();
    let salt = SaltString::encode_b64(&digest[..16]).map_err(|e| PasswordError::Hash(e.to_string()))?;
    hash_with_salt(password, &salt)
}

fn hash_with_salt(password: &str, salt: &SaltString) -> Result<String, PasswordError> {
    argon2()?
        .hash_password(password.as_bytes(), salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks that a PHC string is argon2id with at least the OWASP parameters; for `USERS_FILE` entries.
pub fn check_phc(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| format!("password_hash is not a PHC string ({e})"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!("password_hash uses {}, not argon2id", parsed.algorithm));
    }
    let params = Params::try_from(&parsed).map_err(|e| format!("password_hash has bad parameters ({e})"))?;
    if params.m_cost() < MEMORY_KIB || params.t_cost() < ITERATIONS || params.p_cost() < PARALLELISM {
        return Err(format!(
            "password_hash parameters m={},t={},p={} are below the minimum m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    if parsed.hash.is_none() {
        return Err("password_hash has no hash part".into());
    }
    Ok(())
}

/// Verifies `password` against a PHC string, computing the hash in `memory` (grown as needed and kept
/// by the caller) and comparing it in constant time. The parameters come from the PHC string.
fn verify_in(phc: &str, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
    let Ok(version) = version else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    bool::from(out.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
fn verify_sync(phc: &str, password: &str) -> bool {
    verify_in(phc, password.as_bytes(), &mut Vec::new())
}

/// One verification for the hashing threads.
struct Job {
    phc: Arc<str>,
    password: String,
    span: tracing::Span,
    reply: oneshot::Sender<bool>,
}

/// How many verifications may wait for a hashing thread before callers wait to enqueue.
const QUEUE: usize = 1024;

fn hashing_thread(jobs: Arc<std::sync::Mutex<mpsc::Receiver<Job>>>, counter: Arc<AtomicU64>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let Ok(mut receiver) = jobs.lock() else {
                return;
            };
            match receiver.blocking_recv() {
                Some(job) => job,
                None => return,
            }
        };
        let _entered = job.span.enter();
        counter.fetch_add(1, Ordering::Relaxed);
        let matched = verify_in(&job.phc, job.password.as_bytes(), &mut memory);
        let _ = job.reply.send(matched);
    }
}

/// The right to run one verification now: there are as many as hashing threads.
pub struct HashPermit(#[allow(dead_code)] OwnedSemaphorePermit);

/// The bounded verifier the login path uses.
#[derive(Clone)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
    permits: Arc<Semaphore>,
    /// Verified instead of a real hash when there is none, so failures cost the same.
    dummy_hash: Arc<str>,
    hashes_run: Arc<AtomicU64>,
}

impl Passwords {
    /// Starts `concurrency` hashing threads; they end when the last `Passwords` clone is dropped.
    pub fn new(concurrency: usize) -> Result<Self, PasswordError> {
        let dummy_hash = hash_password("dummy password that never matches anything")?;
        let hashes_run = Arc::new(AtomicU64::new(0));
        let (sender, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        let concurrency = concurrency.max(1);
        for i in 0..concurrency {
            let (receiver, counter) = (receiver.clone(), hashes_run.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || hashing_thread(receiver, counter))
                .map_err(|e| PasswordError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            jobs: sender,
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy_hash: dummy_hash.into(),
            hashes_run,
        })
    }

    /// How many argon2 verifications have run; for tests and metrics.
    pub fn hashes_run(&self) -> u64 {
        self.hashes_run.load(Ordering::Relaxed)
    }

    /// Waits for a hashing thread to be free for this request.
    pub async fn permit(&self) -> Result<HashPermit, PasswordError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map(HashPermit)
            .map_err(|_| PasswordError::Closed)
    }

    /// Verifies `password` against `phc`, or against the dummy hash when `phc` is `None`
    /// (and then always answers `false`). An empty password is checked against the dummy too.
    pub async fn verify(
        &self,
        _permit: &HashPermit,
        phc: Option<&str>,
        password: &str,
    ) -> Result<bool, PasswordError> {
        let real = phc.filter(|_| !password.is_empty());
        let target: Arc<str> = match real {
            Some(p) => p.into(),
            None => self.dummy_hash.clone(),
        };
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                phc: target,
                password: password.to_owned(),
                span: tracing::Span::current(),
                reply,
            })
            .await
            .map_err(|_| PasswordError::Closed)?;
        let matched = answer.await.map_err(|_| PasswordError::Closed)?;
        Ok(matched && real.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() -> Result<(), PasswordError> {
        let phc = hash_password("s3cret")?;
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(check_phc(&phc), Ok(()));
        assert!(verify_sync(&phc, "s3cret"));
        assert!(!verify_sync(&phc, "s3cre"));
        Ok(())
    }

    #[test]
    fn weak_or_foreign_hashes_are_refused() {
        assert!(check_phc("not a hash").is_err());
        assert!(check_phc(
            "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A"
        )
        .is_err());
        assert!(check_phc(
            "$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A"
        )
        .is_err());
    }

    #[test]
    fn the_bootstrap_hash_is_the_same_on_every_replica() -> Result<(), PasswordError> {
        assert_eq!(
            hash_deterministic("api_user", "pw")?,
            hash_deterministic("api_user", "pw")?
        );
        assert_ne!(
            hash_deterministic("api_user", "pw")?,
            hash_deterministic("api_user", "pw2")?
        );
        Ok(())
    }

    #[tokio::test]
    async fn missing_hashes_and_empty_passwords_still_cost_one_verification() -> Result<(), PasswordError> {
        let p = Passwords::new(2)?;
        let phc = hash_password("right")?;
        let permit = p.permit().await?;
        assert!(p.verify(&permit, Some(&phc), "right").await?);
        assert!(!p.verify(&permit, Some(&phc), "wrong").await?);
        assert!(!p.verify(&permit, None, "right").await?);
        assert!(!p.verify(&permit, Some(&phc), "").await?);
        assert_eq!(p.hashes_run(), 4);
        Ok(())
    }
}
