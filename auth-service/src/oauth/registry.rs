//! The OAuth 2.0 client registry: the clients `CLIENTS_FILE` declares, and the ones made live through
//! the admin API and `auth-service clients …`, all kept in the store so every replica sees a change at
//! once (a write compares the version it read, as users' writes do).
//!
//! Secrets are generated here (32 random bytes, base64url: 256 bits), shown once, and kept only as
//! HMAC-SHA256 under a random salt of their own ([`StoredSecret`]). A fast keyed hash is the right one
//! for a secret of that entropy: no dictionary reaches it, so a slow hash would only make every token
//! request cost what a login does. A presented secret is compared in constant time with every valid
//! one, and an unknown `client_id` costs the same comparison against a decoy, so timing tells nothing
//! about which ids exist. A rotation keeps the previous secret valid for a while (two valid at once),
//! so a deployment can roll out the new one without a failed call.
//!
//! A client's tokens carry its `client_id` as `sub`, so disabling it revokes them through the user
//! cut-off of that `sub` ([`crate::store::RevocationStore::revoke_user`]), which the revocation feed
//! carries to every backend. A `client_id` is therefore never all digits: those are user ids.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::config::ConfigError;
use shared::SharedClock;
use subtle::ConstantTimeEq;

use crate::audit::{self, Actor};
use crate::refusal::{FieldRule, Refusal, UriRule};
use crate::store::{ClientRecord, ClientStore, RevocationStore, StoreError, StoredSecret};

/// The scopes a client may be allowed (the contract's "Scopes").
pub const SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "solicitud:read",
    "solicitud:write",
    "solicitud:admin",
];

/// The grants a client may be allowed.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// How a client authenticates at the token endpoint.
pub const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// How an ID token may be signed for a client.
pub const ID_TOKEN_ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// How long the previous secret stays valid after a rotation unless the caller says otherwise.
pub const DEFAULT_PREVIOUS_SECRET_SECS: i64 = 24 * 3600;

/// The longest a previous secret may stay valid.
pub const MAX_PREVIOUS_SECRET_SECS: i64 = 30 * 24 * 3600;

/// Writes retried when another write to the same client came first.
const CAS_ATTEMPTS: usize = 8;

/// A client as declared (a `CLIENTS_FILE` entry) or asked for (`POST /admin/clients`): RFC 7591
/// metadata names; what is left out takes RFC 7591's default or the one written beside it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    /// Generated when left out (`app_` and 24 hex digits).
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `["authorization_code"]` when left out (RFC 7591 §2).
    pub grant_types: Option<Vec<String>>,
    /// Space-separated. Left out: `solicitud:read` for a client whose only grant is
    /// `client_credentials`, else `openid profile email`.
    pub scope: Option<String>,
    /// `client_secret_basic` when left out (RFC 7591 §2).
    pub token_endpoint_auth_method: Option<String>,
    /// `RS256` when left out (OIDC Core §3.1.3.7).
    pub id_token_signed_response_alg: Option<String>,
    /// OIDC Back-Channel Logout 1.0's `backchannel_logout_uri`.
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub first_party: bool,
    /// Only in `CLIENTS_FILE`: the hash `auth-service clients new-secret` prints beside a new secret.
    pub client_secret_hash: Option<String>,
    /// Only in `CLIENTS_FILE` (`true` when left out); the admin API changes it with `PATCH`.
    pub active: Option<bool>,
}

/// A change to a client (`PATCH /admin/clients/{client_id}`): the fields given replace the stored ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientChanges {
    pub client_name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    /// An empty string removes it.
    pub backchannel_logout_uri: Option<String>,
    pub first_party: Option<bool>,
    pub active: Option<bool>,
}

fn invalid(rule: FieldRule) -> Refusal {
    Refusal::Invalid(rule)
}

/// A `client_id`: 1 to 64 of RFC 3986's unreserved characters, not all digits (user ids are).
pub fn check_client_id(id: &str) -> Result<(), Refusal> {
    let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    if id.is_empty() || id.len() > 64 || !id.chars().all(unreserved) || id.starts_with('~') {
        return Err(invalid(FieldRule::ClientId));
    }
    if id.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(FieldRule::ClientIdDigits));
    }
    Ok(())
}

/// A port, 1 to 65535.
macro_rules! port {
    () => {
        "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
    };
}

/// What a redirect URI may look like: `https` on a domain name, `http` on a loopback host, or a
/// native app's private-use scheme (`com.example.app:/cb`); a path of unreserved characters and an
/// optional query. The OpenAPI document publishes this very pattern and [`check_redirect_uri`]
/// holds every URI to it, so what the document calls invalid is refused.
pub const REDIRECT_URI_PATTERN: &str = concat!(
    "^((https://[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,20}){0,3}|http://(localhost|127\\.0\\.0\\.1|\\[::1\\]))",
    "(:",
    port!(),
    ")?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?",
    "|[a-z][a-z0-9]{0,20}(\\.[a-z][a-z0-9]{0,20}){1,3}:/([A-Za-z0-9._~-]+/?)*)$"
);

/// What a back-channel logout URI may look like: `http` (see [`check_backchannel_uri`]) on a host
/// name or 127.0.0.1, a path and an optional query; or empty (none).
pub const BACKCHANNEL_URI_PATTERN: &str = concat!(
    "^$|^http://([a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,20}){0,3}|127\\.0\\.0\\.1)(:",
    port!(),
    ")?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
);

/// Whether `value` matches `pattern` (each compiled once).
fn matches(pattern: &'static str, value: &str) -> bool {
    static COMPILED: std::sync::OnceLock<std::sync::Mutex<HashMap<&'static str, regex::Regex>>> =
        std::sync::OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match compiled.get(pattern) {
        Some(re) => re.is_match(value),
        None => match regex::Regex::new(pattern) {
            Ok(re) => {
                let is = re.is_match(value);
                compiled.insert(pattern, re);
                is
            }
            Err(_) => false,
        },
    }
}

/// A redirect URI: absolute, without a fragment (RFC 6749 §3.1.2), `https`, or `http` on a loopback
/// host (RFC 8252 §7.3), or a private-use scheme of a native app (`com.example.app:/cb`, RFC 8252 §7.1);
/// and of the shape [`REDIRECT_URI_PATTERN`] says.
fn check_redirect_uri(field: &'static str, uri: &str) -> Result<(), Refusal> {
    let bad = |why: UriRule| {
        invalid(FieldRule::RedirectUri {
            field,
            uri: uri.to_string(),
            why,
        })
    };
    if !matches(REDIRECT_URI_PATTERN, uri) {
        return Err(bad(UriRule::Shape));
    }
    let parsed = url::Url::parse(uri).map_err(|_| bad(UriRule::NotAbsolute))?;
    if parsed.fragment().is_some() {
        return Err(bad(UriRule::Fragment));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host() {
            Some(url::Host::Domain("localhost")) => Ok(()),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err(bad(UriRule::HttpNotLoopback)),
        },
        "javascript" | "data" | "file" | "vbscript" => Err(bad(UriRule::SchemeRefused)),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(bad(UriRule::Scheme)),
    }
}

/// A back-channel logout URI (OIDC Back-Channel Logout §2.2): absolute, no fragment, and `http`:
/// logout tokens are posted server to server, and this build's HTTP client has no TLS (a relying
/// party on the same network, or a local proxy in front of an https one).
fn check_backchannel_uri(uri: &str) -> Result<(), Refusal> {
    let bad = |why: UriRule| {
        invalid(FieldRule::BackchannelUri {
            uri: uri.to_string(),
            why,
        })
    };
    if !matches(BACKCHANNEL_URI_PATTERN, uri) {
        return Err(bad(UriRule::Shape));
    }
    let parsed = url::Url::parse(uri).map_err(|_| bad(UriRule::NotAbsolute))?;
    if parsed.fragment().is_some() {
        return Err(bad(UriRule::Fragment));
    }
    match parsed.scheme() {
        "http" if parsed.host().is_some() => Ok(()),
        "https" => Err(bad(UriRule::BackchannelHttps)),
        _ => Err(bad(UriRule::BackchannelScheme)),
    }
}

/// Back-Channel Logout §2.2 allows http "provided that the Client Type is confidential"; a public
/// client (an app on a device) has no server to be told anyway. Checked where a URI is given (a new
/// client, or a change that sets one), so a client registered before the rule can still be changed
/// and disabled (it is never told: `end_descendants`).
fn check_backchannel_client(record: &ClientRecord) -> Result<(), Refusal> {
    if record.token_endpoint_auth_method == "none" && !record.backchannel_logout_uri.is_empty() {
        return Err(invalid(FieldRule::BackchannelUri {
            uri: record.backchannel_logout_uri.clone(),
            why: UriRule::BackchannelPublic,
        }));
    }
    Ok(())
}

fn one_of(field: &'static str, value: &str, allowed: &[&'static str]) -> Result<(), Refusal> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid(FieldRule::OneOf {
            field,
            value: value.to_string(),
            allowed: allowed.to_vec(),
        }))
    }
}

/// Every rule a client's metadata must keep, checked on the record as it would be stored.
fn check(record: &ClientRecord) -> Result<(), Refusal> {
    check_client_id(&record.client_id)?;
    if record.client_name.trim().is_empty() || record.client_name.chars().count() > 100 {
        return Err(invalid(FieldRule::ClientName));
    }
    if record.grant_types.is_empty() {
        return Err(invalid(FieldRule::GrantTypesEmpty));
    }
    let mut seen = HashSet::new();
    for grant in &record.grant_types {
        one_of("grant_types", grant, &GRANT_TYPES)?;
        if !seen.insert(grant) {
            return Err(invalid(FieldRule::GrantTwice(grant.clone())));
        }
    }
    if record.scope.trim().is_empty() {
        return Err(invalid(FieldRule::ScopeEmpty));
    }
    for scope in record.scope.split_whitespace() {
        one_of("scope", scope, &SCOPES)?;
    }
    one_of(
        "token_endpoint_auth_method",
        &record.token_endpoint_auth_method,
        &AUTH_METHODS,
    )?;
    one_of(
        "id_token_signed_response_alg",
        &record.id_token_signed_response_alg,
        &ID_TOKEN_ALGS,
    )?;
    let public = record.token_endpoint_auth_method == "none";
    if public && record.grant_types.iter().any(|g| g == "client_credentials") {
        return Err(invalid(FieldRule::PublicClientGrant));
    }
    let code = record.grant_types.iter().any(|g| g == "authorization_code");
    if code && record.redirect_uris.is_empty() {
        return Err(invalid(FieldRule::RedirectUrisRequired));
    }
    for uri in &record.redirect_uris {
        check_redirect_uri("redirect_uris", uri)?;
    }
    if !record.backchannel_logout_uri.is_empty() {
        check_backchannel_uri(&record.backchannel_logout_uri)?;
    }
    for uri in &record.post_logout_redirect_uris {
        check_redirect_uri("post_logout_redirect_uris", uri)?;
    }
    Ok(())
}

/// A new secret: what the client is given once, and what is kept.
pub struct NewSecret {
    pub secret: String,
    pub stored: StoredSecret,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret").finish_non_exhaustive()
    }
}

fn keyed_hash(salt: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut mac = crate::sealing::hmac_sha256(salt);
    mac.update(secret);
    mac.finalize().into_bytes().into()
}

/// The kept form of `secret`: `<salt hex>:<hash hex>` (what `CLIENTS_FILE`'s `client_secret_hash`
/// holds).
pub fn hash_secret(secret: &str) -> StoredSecret {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    StoredSecret {
        salt: hex::encode(salt),
        hash: hex::encode(keyed_hash(&salt, secret.as_bytes())),
        expires_ms: 0,
    }
}

/// A fresh secret of 256 bits, and its kept form.
pub fn new_secret() -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let stored = hash_secret(&secret);
    NewSecret { secret, stored }
}

/// `<salt hex>:<hash hex>` as a kept secret; `None` when it is not one.
fn parse_secret_hash(value: &str) -> Option<StoredSecret> {
    let (salt, hash) = value.trim().split_once(':')?;
    let ok = |h: &str, len: usize| h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit());
    (ok(salt, 32) && ok(hash, 64)).then(|| StoredSecret {
        salt: salt.to_ascii_lowercase(),
        hash: hash.to_ascii_lowercase(),
        expires_ms: 0,
    })
}

/// Whether `presented` is one of `secrets` still valid at `now_ms`, compared in constant time with each.
fn secret_matches(secrets: &[StoredSecret], presented: &str, now_ms: i64) -> bool {
    let mut matched = false;
    for kept in secrets {
        let (Ok(salt), Ok(hash)) = (hex::decode(&kept.salt), hex::decode(&kept.hash)) else {
            continue;
        };
        let equal: bool = keyed_hash(&salt, presented.as_bytes()).ct_eq(&hash[..]).into();
        let live = kept.expires_ms == 0 || kept.expires_ms > now_ms;
        matched |= equal && live;
    }
    matched
}

/// A `CLIENTS_FILE` entry, with the digest of what it declares.
#[derive(Debug, Clone)]
pub struct ConfiguredClient {
    pub record: ClientRecord,
    pub digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(default)]
    clients: Vec<ClientMetadata>,
}

/// The record `metadata` describes (defaults applied), not yet checked.
fn record_of(metadata: &ClientMetadata) -> ClientRecord {
    let grant_types = metadata
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    let machine_only = grant_types.iter().all(|g| g == "client_credentials");
    let scope = metadata.scope.clone().unwrap_or_else(|| {
        if machine_only {
            "solicitud:read".into()
        } else {
            "openid profile email".into()
        }
    });
    ClientRecord {
        client_id: metadata
            .client_id
            .clone()
            .unwrap_or_else(|| format!("app_{}", &uuid::Uuid::new_v4().simple().to_string()[..24])),
        client_name: metadata.client_name.clone().unwrap_or_default(),
        redirect_uris: metadata.redirect_uris.clone(),
        post_logout_redirect_uris: metadata.post_logout_redirect_uris.clone(),
        grant_types,
        scope: scope.split_whitespace().collect::<Vec<_>>().join(" "),
        token_endpoint_auth_method: metadata
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| "client_secret_basic".into()),
        id_token_signed_response_alg: metadata
            .id_token_signed_response_alg
            .clone()
            .unwrap_or_else(|| "RS256".into()),
        backchannel_logout_uri: metadata.backchannel_logout_uri.clone().unwrap_or_default(),
        first_party: metadata.first_party,
        active: metadata.active.unwrap_or(true),
        secrets: Vec::new(),
        tokens_after_ms: 0,
        version: 0,
        config: String::new(),
    }
}

/// The clients of `CLIENTS_FILE` (TOML `[[clients]]`); a bad file or entry stops the start naming it.
pub fn configured(path: &Path) -> Result<Vec<ConfiguredClient>, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("CLIENTS_FILE", format!("cannot read {name}: {e}")))?;
    configured_from(&name, &text)
}

/// The clients a `CLIENTS_FILE` text declares; `name` says where it comes from in errors.
pub fn configured_from(name: &str, text: &str) -> Result<Vec<ConfiguredClient>, ConfigError> {
    let bad = |reason: String| ConfigError::new("CLIENTS_FILE", reason);
    let file: ClientsFile = toml::from_str(text).map_err(|e| bad(format!("{name}: {e}")))?;
    let mut seen = HashSet::new();
    let mut clients = Vec::new();
    for (i, metadata) in file.clients.iter().enumerate() {
        let entry = format!(
            "{name}: [[clients]] entry {} ({})",
            i + 1,
            metadata.client_id.as_deref().unwrap_or("no client_id")
        );
        if metadata.client_id.is_none() {
            return Err(bad(format!("{entry}: client_id is required in the file")));
        }
        let mut record = record_of(metadata);
        check(&record).map_err(|e| bad(format!("{entry}: {e}")))?;
        let confidential = record.token_endpoint_auth_method != "none";
        match (&metadata.client_secret_hash, confidential) {
            (Some(hash), true) => record.secrets = vec![parse_secret_hash(hash).ok_or_else(|| {
                bad(format!("{entry}: client_secret_hash is not what `auth-service clients new-secret` prints"))
            })?],
            (None, true) => {
                return Err(bad(format!(
                    "{entry}: a confidential client needs client_secret_hash (from `auth-service clients new-secret`)"
                )))
            }
            (Some(_), false) => return Err(bad(format!("{entry}: a public client has no secret"))),
            (None, false) => {}
        }
        if !seen.insert(record.client_id.clone()) {
            return Err(bad(format!("{entry}: client_id declared twice")));
        }
        let digest = hex::encode(&Sha256::digest(format!("{metadata:?}").as_bytes())[..8]);
        record.config = digest.clone();
        clients.push(ConfiguredClient { record, digest });
    }
    Ok(clients)
}

/// A client as created: its record and, for a confidential one, its secret (shown this once).
#[derive(Debug)]
pub struct Created {
    pub client: ClientRecord,
    pub secret: Option<NewSecret>,
}

/// See the module doc.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn ClientStore>,
    revocations: Arc<dyn RevocationStore>,
    clock: SharedClock,
    /// How long a client's cut-off is remembered: the longest its tokens live, plus leeway (ms).
    cutoff_ttl_ms: i64,
    /// Compared against when a `client_id` is unknown, so both cost the same.
    decoy: Arc<StoredSecret>,
    /// Records read for [`Registry::authenticate_recent`], with when they were read (ms).
    recent: Arc<std::sync::Mutex<Recent>>,
}

/// Client records by `client_id` (`None`: none of that id), with when they were read (ms).
type Recent = HashMap<String, (Option<ClientRecord>, i64)>;

/// How old a record [`Registry::authenticate_recent`] may use is (ms).
pub const RECENT_MS: i64 = 1_000;
/// Records kept for it at most; past that the cache starts over.
const RECENT_MAX: usize = 4_096;

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(
        store: Arc<dyn ClientStore>,
        revocations: Arc<dyn RevocationStore>,
        clock: SharedClock,
        cutoff_ttl_ms: i64,
    ) -> Self {
        Self {
            store,
            revocations,
            clock,
            cutoff_ttl_ms,
            decoy: Arc::new(new_secret().stored),
            recent: Arc::default(),
        }
    }

    /// [`Registry::authenticate`] against the client's record as read at most [`RECENT_MS`] ago by
    /// this process: for the `refresh_token` grant, whose rotation is the store call that decides
    /// (a disabled client's sessions are ended before it is disabled, so a record a moment old never
    /// lets a refresh through that the store would refuse). A secret ended at once stops working
    /// here within that second.
    pub async fn authenticate_recent(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let now = self.clock.now_ms();
        let client = self.recent_record(client_id, now).await?;
        Ok(self.matching(client, secret, now))
    }

    /// A public client (`token_endpoint_auth_method` `none`) that is active, from a record at most
    /// [`RECENT_MS`] old; for the `refresh_token` grant.
    pub async fn authenticate_recent_public(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let now = self.clock.now_ms();
        Ok(self
            .recent_record(client_id, now)
            .await?
            .filter(|c| c.active && c.token_endpoint_auth_method == "none"))
    }

    /// The client's record as this process read it at most [`RECENT_MS`] ago, or read now.
    async fn recent_record(&self, client_id: &str, now: i64) -> Result<Option<ClientRecord>, StoreError> {
        let cached = {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent
                .get(client_id)
                .filter(|(_, at)| now - *at < RECENT_MS && *at <= now)
                .map(|(record, _)| record.clone())
        };
        if let Some(record) = cached {
            return Ok(record);
        }
        let record = self.get(client_id).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT_MAX {
            recent.clear();
        }
        recent.insert(client_id.to_string(), (record.clone(), now));
        Ok(record)
    }

    pub async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if check_client_id(client_id).is_err() {
            return Ok(None);
        }
        self.store.client(client_id).await
    }

    pub async fn list(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.store.clients().await
    }

    /// The active client that `client_id` and `secret` authenticate, if they do. Unknown, disabled and
    /// public clients and wrong secrets all answer `None` after the same work.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let client = self.get(client_id).await?;
        let now = self.clock.now_ms();
        Ok(self.matching(client, secret, now))
    }

    /// `client` if it is active, confidential and `secret` is one of its live secrets; the decoy is
    /// compared when there is no client or no secret, so every answer costs the same.
    fn matching(&self, client: Option<ClientRecord>, secret: &str, now: i64) -> Option<ClientRecord> {
        let decoy = std::slice::from_ref(self.decoy.as_ref());
        let secrets = client.as_ref().map_or(decoy, |c| c.secrets.as_slice());
        let secrets = if secrets.is_empty() { decoy } else { secrets };
        let matched = secret_matches(secrets, secret, now);
        client.filter(|c| matched && c.active && !c.secrets.is_empty())
    }

    /// Creates a client from `metadata` (a confidential one gets a secret, returned this once).
    pub async fn create(&self, metadata: &ClientMetadata, actor: Actor) -> Result<Created, Refusal> {
        if metadata.client_secret_hash.is_some() || metadata.active.is_some() {
            return Err(invalid(FieldRule::SecretHashInFileOnly));
        }
        let mut record = record_of(metadata);
        check(&record)?;
        check_backchannel_client(&record)?;
        let secret = (record.token_endpoint_auth_method != "none").then(new_secret);
        if let Some(s) = &secret {
            record.secrets = vec![s.stored.clone()];
        }
        let client = self
            .store
            .put_client(&record)
            .await?
            .ok_or(Refusal::ClientIdTaken)?;
        audit::record("client_created", actor, &client.client_id, &client.scope);
        Ok(Created { client, secret })
    }

    /// Applies `changes`; disabling the client revokes every token it holds.
    pub async fn change(
        &self,
        client_id: &str,
        changes: &ClientChanges,
        actor: Actor,
    ) -> Result<ClientRecord, Refusal> {
        let disabling = changes.active == Some(false);
        if disabling {
            // Before the write, so a failure leaves the client's tokens revoked rather than alive.
            self.end_tokens(client_id).await?;
        }
        // Enabling: the new tokens are dated after the cut-off in force.
        let cutoff = match changes.active {
            Some(true) => self.revocations.cutoff(client_id).await?.unwrap_or(0),
            _ => 0,
        };
        let client = self
            .write(client_id, |record| {
                let c = changes.clone();
                if let Some(v) = c.client_name {
                    record.client_name = v;
                }
                if let Some(v) = c.redirect_uris {
                    record.redirect_uris = v;
                }
                if let Some(v) = c.post_logout_redirect_uris {
                    record.post_logout_redirect_uris = v;
                }
                if let Some(v) = c.backchannel_logout_uri {
                    record.backchannel_logout_uri = v;
                    check_backchannel_client(record)?;
                }
                if let Some(v) = c.grant_types {
                    record.grant_types = v;
                }
                if let Some(v) = c.scope {
                    record.scope = v.split_whitespace().collect::<Vec<_>>().join(" ");
                }
                if let Some(v) = c.token_endpoint_auth_method {
                    if (v == "none") != (record.token_endpoint_auth_method == "none") {
                        return Err(invalid(FieldRule::ClientTypeChange));
                    }
                    record.token_endpoint_auth_method = v;
                }
                if let Some(v) = c.id_token_signed_response_alg {
                    record.id_token_signed_response_alg = v;
                }
                if let Some(v) = c.first_party {
                    record.first_party = v;
                }
                if let Some(v) = c.active {
                    record.active = v;
                }
                record.tokens_after_ms = record.tokens_after_ms.max(cutoff);
                check(record)
            })
            .await?;
        if disabling {
            // And after it: a token issued while the write was on its way is cut off too.
            self.end_tokens(client_id).await?;
        }
        let event = match changes.active {
            Some(false) => "client_disabled",
            Some(true) => "client_enabled",
            None => "client_updated",
        };
        audit::record(event, actor, client_id, &client.scope);
        Ok(client)
    }

    /// A new secret for a confidential client; the previous ones stay valid for `keep_previous_secs`
    /// (0: they stop now, and every token the client holds is revoked, as for a leaked secret).
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        keep_previous_secs: i64,
        actor: Actor,
    ) -> Result<(ClientRecord, NewSecret), Refusal> {
        if !(0..=MAX_PREVIOUS_SECRET_SECS).contains(&keep_previous_secs) {
            return Err(invalid(FieldRule::KeepPrevious {
                max: MAX_PREVIOUS_SECRET_SECS,
            }));
        }
        let fresh = new_secret();
        let now = self.clock.now_ms();
        let until = now + keep_previous_secs * 1000;
        let cutoff = if keep_previous_secs == 0 {
            self.end_tokens(client_id).await?
        } else {
            0
        };
        let client = self
            .write(client_id, |record| {
                if record.token_endpoint_auth_method == "none" {
                    return Err(Refusal::PublicClient);
                }
                let previous = record
                    .secrets
                    .iter()
                    .filter(|s| keep_previous_secs > 0 && (s.expires_ms == 0 || s.expires_ms > now))
                    .map(|s| StoredSecret {
                        expires_ms: if s.expires_ms == 0 {
                            until
                        } else {
                            s.expires_ms.min(until)
                        },
                        ..s.clone()
                    });
                // The newest previous one only: at most two secrets are valid at once.
                let previous = previous.max_by_key(|s| s.expires_ms);
                record.secrets = std::iter::once(fresh.stored.clone()).chain(previous).collect();
                record.tokens_after_ms = record.tokens_after_ms.max(cutoff);
                Ok(())
            })
            .await?;
        audit::record("client_secret_rotated", actor, client_id, "");
        Ok((client, fresh))
    }

    /// Revokes every token `client_id` holds now (its `sub`'s cut-off, carried by the feed); returns
    /// the cut-off (ms).
    async fn end_tokens(&self, client_id: &str) -> Result<i64, Refusal> {
        Ok(self
            .revocations
            .revoke_user(client_id, self.cutoff_ttl_ms)
            .await?)
    }

    /// Reads, changes and writes one client, again when another write came first.
    async fn write(
        &self,
        client_id: &str,
        change: impl Fn(&mut ClientRecord) -> Result<(), Refusal>,
    ) -> Result<ClientRecord, Refusal> {
        for _ in 0..CAS_ATTEMPTS {
            let mut record = self.get(client_id).await?.ok_or(Refusal::UnknownClient)?;
            change(&mut record)?;
            if let Some(written) = self.store.put_client(&record).await? {
                return Ok(written);
            }
        }
        Err(Refusal::Store(StoreError::Unavailable(
            "a client kept changing under every write".into(),
        )))
    }

    /// Applies `CLIENTS_FILE`: each entry whose digest differs from the one last applied to its client
    /// is written (metadata and secret as declared); clients changed live keep their changes until
    /// their entry changes. Returns the ids written.
    pub async fn apply_configuration(&self, clients: &[ConfiguredClient]) -> Result<Vec<String>, Refusal> {
        let mut applied = Vec::new();
        for configured in clients {
            let id = &configured.record.client_id;
            let stored = self.get(id).await?;
            if stored.as_ref().is_some_and(|s| s.config == configured.digest) {
                continue;
            }
            let was_active = stored.as_ref().is_some_and(|s| s.active);
            if was_active && !configured.record.active {
                self.end_tokens(id).await?;
            }
            let mut record = configured.record.clone();
            record.tokens_after_ms = self.revocations.cutoff(id).await?.unwrap_or(0);
            record.version = stored.map_or(0, |s| s.version);
            if self.store.put_client(&record).await?.is_none() {
                return Err(Refusal::Store(StoreError::Unavailable(format!(
                    "client {id} changed while CLIENTS_FILE was applied; start again"
                ))));
            }
            audit::record("config_applied", Actor::Config, id, "client");
            applied.push(id.clone());
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_its_hash_only_while_valid() {
        let s = new_secret();
        assert!(s.secret.len() >= 43, "256 bits, base64url");
        assert!(secret_matches(std::slice::from_ref(&s.stored), &s.secret, 1));
        assert!(!secret_matches(std::slice::from_ref(&s.stored), "wrong", 1));
        let expired = StoredSecret {
            expires_ms: 10,
            ..s.stored.clone()
        };
        assert!(secret_matches(std::slice::from_ref(&expired), &s.secret, 9));
        assert!(!secret_matches(std::slice::from_ref(&expired), &s.secret, 10));
        let line = format!("{}:{}", s.stored.salt, s.stored.hash);
        assert_eq!(parse_secret_hash(&line), Some(s.stored.clone()));
        assert_eq!(parse_secret_hash("nothex:zz"), None);
    }

    #[test]
    fn metadata_rules() {
        let ok = |m: ClientMetadata| {
            let record = record_of(&m);
            check(&record).and_then(|()| check_backchannel_client(&record))
        };
        let machine = ClientMetadata {
            client_id: Some("billing".into()),
            client_name: Some("Billing".into()),
            grant_types: Some(vec!["client_credentials".into()]),
            ..Default::default()
        };
        assert!(ok(machine.clone()).is_ok());
        assert_eq!(record_of(&machine).scope, "solicitud:read");
        for (field, bad) in [
            (
                "client_id",
                ClientMetadata {
                    client_id: Some("12345".into()),
                    ..machine.clone()
                },
            ),
            (
                "client_id",
                ClientMetadata {
                    client_id: Some("a b".into()),
                    ..machine.clone()
                },
            ),
            (
                "client_name",
                ClientMetadata {
                    client_name: None,
                    ..machine.clone()
                },
            ),
            (
                "scope",
                ClientMetadata {
                    scope: Some("solicitud:read admin".into()),
                    ..machine.clone()
                },
            ),
            (
                "grant_types",
                ClientMetadata {
                    grant_types: Some(vec!["password".into()]),
                    ..machine.clone()
                },
            ),
            (
                "grant_types",
                ClientMetadata {
                    token_endpoint_auth_method: Some("none".into()),
                    ..machine.clone()
                },
            ),
            (
                "redirect_uris",
                ClientMetadata {
                    grant_types: None,
                    ..machine.clone()
                },
            ),
            (
                "redirect_uris",
                ClientMetadata {
                    grant_types: None,
                    redirect_uris: vec!["http://evil.example/cb".into()],
                    ..machine.clone()
                },
            ),
            (
                "redirect_uris",
                ClientMetadata {
                    grant_types: None,
                    redirect_uris: vec!["https://app.example/cb#x".into()],
                    ..machine.clone()
                },
            ),
            (
                "redirect_uris",
                ClientMetadata {
                    grant_types: None,
                    redirect_uris: vec!["javascript:alert(1)".into()],
                    ..machine.clone()
                },
            ),
            (
                "backchannel_logout_uri",
                ClientMetadata {
                    grant_types: None,
                    redirect_uris: vec!["https://app.example/cb".into()],
                    token_endpoint_auth_method: Some("none".into()),
                    backchannel_logout_uri: Some("http://rp:8080/bc".into()),
                    ..machine.clone()
                },
            ),
        ] {
            match ok(bad.clone()) {
                Err(Refusal::Invalid(rule)) => assert_eq!(rule.field(), field, "{bad:?}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        for good in [
            "https://app.example/cb",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "com.example.app:/cb",
        ] {
            let m = ClientMetadata {
                grant_types: None,
                redirect_uris: vec![good.into()],
                ..machine.clone()
            };
            assert!(ok(m).is_ok(), "{good}");
        }
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn redirect_uris_are_held_to_the_pattern_the_openapi_document_publishes() {
        for good in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/a/b?x=1&y=z",
            "http://localhost:37123/protected/redirect_uri",
            "http://127.0.0.1/cb",
            "http://[::1]:9000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_redirect_uri("redirect_uris", good).is_ok(), "{good}");
        }
        for bad in [
            "http://localhost/*",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "javascript:/alert(1)",
            "https://user@app.example.com/cb",
            "http://localhost:70000/cb",
            "https://APP.example.com/cb",
            "https://app.example.com/a b",
        ] {
            assert!(check_redirect_uri("redirect_uris", bad).is_err(), "{bad}");
        }
        assert!(check_backchannel_uri("http://rp:8080/oidc/redirect_uri?logout=backchannel").is_ok());
        assert!(check_backchannel_uri("http://127.0.0.1:9/bc").is_ok());
        for bad in [
            "https://rp.example/bc",
            "http://rp/bc#x",
            "http://rp/b c",
            "http://10.0.0.1/bc",
        ] {
            assert!(check_backchannel_uri(bad).is_err(), "{bad}");
        }
    }
}
