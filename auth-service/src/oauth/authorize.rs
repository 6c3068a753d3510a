//! The authorization code flow (RFC 6749 §4.1 with PKCE, RFC 7636; OIDC Core §3.1), free of HTTP:
//! checking an authorization request, keeping it while the user signs in, consents, the code it
//! ends in, and that code's exchange for tokens.
//!
//! - **The request** is checked in RFC 6749 §4.1.2.1's order: an unknown or disabled client, or a
//!   `redirect_uri` that is not exactly one the client registered, is an error shown to the user
//!   ([`AuthorizeError::Page`]: nothing is ever sent to an unregistered URI); anything else wrong is
//!   sent back to the client's `redirect_uri` with `error`, `state` and `iss` (RFC 9207).
//!   PKCE: `S256` only (`plain` is refused), required from public clients.
//! - **While the user signs in** the request waits in the store under a random id
//!   ([`GrantKind::Request`], ten minutes), which the login and consent forms carry.
//! - **A code** is 256 random bits; the store keeps only its SHA-256, for [`CODE_LIFE_MS`], with the
//!   client, the redirect URI, the PKCE challenge, the user, the browser session and the `sid` the
//!   exchange's session will have. Redeeming is atomic ([`crate::store::GrantStore::redeem_grant`]):
//!   the first exchange gets it; any later one (RFC 6749 §4.1.2) is refused and ends the session the
//!   first one started, and the record stays [`CODE_RECORD_MS`] so a late replay is caught too.
//! - **Consent** (third-party clients): remembered per user and client, as the scopes granted; a
//!   request within them asks nothing again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::{SharedClock, TokenCodec};
use subtle::ConstantTimeEq;

use super::bearer::{hashed, random_token};
use super::browser::BrowserSession;
use super::id_token::{self, has_scope, IdClaims, Profile};
use super::registry::{Registry, SCOPES};
use super::token::OAuthError;
use crate::accounts::Accounts;
use crate::refusal::Refusal;
use crate::sessions::{new_id, Binding, Sessions, TokenPair};
use crate::signing::SigningKeys;
use crate::store::{ClientRecord, GrantKind, GrantStore, Redeemed, StoreError};

/// How long a code may be exchanged (the contract: at most 60 s).
pub const CODE_LIFE_MS: i64 = 60_000;
/// How long a code's record is kept, so a replay after its life still ends what it gave.
const CODE_RECORD_MS: i64 = 10 * 60_000;
/// How long an authorization request waits for its login and consent.
pub const REQUEST_LIFE_MS: i64 = 10 * 60_000;
/// How long a consent is remembered.
const CONSENT_LIFE_MS: i64 = 365 * 24 * 3_600_000;

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The scopes asked for, space-separated, in a stable order.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// PKCE (`S256` only).
    pub code_challenge: Option<String>,
    /// OIDC `prompt` values.
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The browser session signed in on this request's own login page (set once that sign-in is
    /// done): the sign-in `prompt=login` and `max_age` ask for, whatever the clocks say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_sid: Option<String>,
}

impl AuthRequest {
    pub fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }
}

/// Why an authorization request goes no further.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown to the user, never redirected: no client, or no registered `redirect_uri` to send it to.
    Page(String),
    /// Sent back to the client's `redirect_uri` (RFC 6749 §4.1.2.1).
    Redirect(ErrorRedirect),
    Store(StoreError),
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        AuthorizeError::Store(e)
    }
}

/// An error for the client, at its registered `redirect_uri`.
#[derive(Debug, Clone)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl ErrorRedirect {
    pub fn of(request: &AuthRequest, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            redirect_uri: request.redirect_uri.clone(),
            error,
            description: description.into(),
            state: request.state.clone(),
        }
    }
}

/// A code's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeRecord {
    client_id: String,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    uid: String,
    /// The browser session the user signed in with.
    bsid: String,
    auth_time: i64,
    amr: Vec<String>,
    /// The session the exchange starts (chosen now, so a replay can end it).
    sid: String,
    /// Until when it may be exchanged (ms, this service's clock).
    exp_ms: i64,
}

/// What an exchanged code gives (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct CodeTokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// See the module doc.
pub struct Provider {
    pub registry: Registry,
    grants: Arc<dyn GrantStore>,
    sessions: Arc<Sessions>,
    accounts: Arc<Accounts>,
    signing: Option<Arc<SigningKeys>>,
    codec: Arc<TokenCodec>,
    clock: SharedClock,
    /// The absolute session limit (ms): how long a browser session and its descendants are listed.
    absolute_ms: i64,
    /// Back-channel logout requests (five seconds at most each).
    http: reqwest::Client,
}

/// One parameter, at most once (RFC 6749 §3.1).
fn single(params: &[(String, String)], name: &str) -> Result<Option<String>, String> {
    let mut found = params.iter().filter(|(n, _)| n == name);
    let first = found.next().map(|(_, v)| v.clone());
    if found.next().is_some() {
        return Err(format!("the parameter {name} appears more than once"));
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn pkce_shaped(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl Provider {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: Registry,
        grants: Arc<dyn GrantStore>,
        sessions: Arc<Sessions>,
        accounts: Arc<Accounts>,
        signing: Option<Arc<SigningKeys>>,
        codec: Arc<TokenCodec>,
        clock: SharedClock,
        absolute_secs: i64,
    ) -> Self {
        Self {
            registry,
            grants,
            sessions,
            accounts,
            signing,
            codec,
            clock,
            absolute_ms: absolute_secs.saturating_mul(1000),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn issuer(&self) -> &str {
        self.codec.issuer()
    }

    /// The algorithms ID tokens can be signed with here (discovery's
    /// `id_token_signing_alg_values_supported`).
    pub fn id_token_algorithms(&self) -> Vec<&'static str> {
        let Some(keys) = &self.signing else {
            return Vec::new();
        };
        id_token::ALGORITHMS
            .into_iter()
            .filter(|a| keys.signer(*a).is_some())
            .map(crate::signing::alg_name)
            .collect()
    }

    /// Checks an authorization request (see the module doc), with the client it names.
    pub async fn check(
        &self,
        params: &[(String, String)],
    ) -> Result<(AuthRequest, ClientRecord), AuthorizeError> {
        let page = AuthorizeError::Page;
        let client_id = single(params, "client_id")
            .map_err(page)?
            .ok_or_else(|| page("Falta el parámetro client_id.".into()))?;
        let client = self
            .registry
            .get(&client_id)
            .await?
            .filter(|c| c.active)
            .ok_or_else(|| {
                page("La aplicación que pide el acceso no está registrada o está desactivada.".into())
            })?;
        let redirect_uri = single(params, "redirect_uri")
            .map_err(page)?
            .ok_or_else(|| page("Falta el parámetro redirect_uri.".into()))?;
        if !client.redirect_uris.contains(&redirect_uri) {
            return Err(page(
                "La dirección de retorno (redirect_uri) no es una de las registradas para esta aplicación."
                    .into(),
            ));
        }
        // A repeated `state` cannot be echoed (which one?): the error goes back without one.
        let (state, repeated_state) = match single(params, "state") {
            Ok(state) => (state, None),
            Err(e) => (None, Some(e)),
        };
        let mut request = AuthRequest {
            client_id,
            redirect_uri,
            scope: String::new(),
            state,
            nonce: None,
            code_challenge: None,
            prompt: Vec::new(),
            max_age: None,
            login_hint: None,
            signed_in_sid: None,
        };
        let fail = |request: &AuthRequest, error: &'static str, description: String| {
            AuthorizeError::Redirect(ErrorRedirect::of(request, error, description))
        };
        let invalid =
            |request: &AuthRequest, description: String| fail(request, "invalid_request", description);
        if let Some(e) = repeated_state {
            return Err(invalid(&request, e));
        }
        // Every other parameter, each at most once.
        let get = |name: &str| single(params, name);
        let mut values = HashMap::new();
        for name in [
            "response_type",
            "scope",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "login_hint",
            "request",
            "request_uri",
            "response_mode",
        ] {
            match get(name) {
                Ok(v) => {
                    values.insert(name, v);
                }
                Err(e) => return Err(invalid(&request, e)),
            }
        }
        let value = |name: &str| values.get(name).cloned().flatten();
        if value("request").is_some() {
            return Err(fail(
                &request,
                "request_not_supported",
                "request objects are not supported".into(),
            ));
        }
        if value("request_uri").is_some() {
            return Err(fail(
                &request,
                "request_uri_not_supported",
                "request_uri is not supported".into(),
            ));
        }
        match value("response_type").as_deref() {
            None => return Err(invalid(&request, "response_type is missing".into())),
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    &request,
                    "unsupported_response_type",
                    "only response_type=code is supported".into(),
                ))
            }
        }
        if value("response_mode").is_some_and(|m| m != "query") {
            return Err(invalid(&request, "only response_mode=query is supported".into()));
        }
        if !client.grant_types.iter().any(|g| g == "authorization_code") {
            return Err(fail(
                &request,
                "unauthorized_client",
                "this client may not use the authorization code flow".into(),
            ));
        }
        let asked = value("scope").ok_or_else(|| invalid(&request, "scope is missing".into()))?;
        let allowed: BTreeSet<&str> = client.scope.split_whitespace().collect();
        let mut scopes = BTreeSet::new();
        for s in asked.split(' ').filter(|s| !s.is_empty()) {
            if !SCOPES.contains(&s) || !allowed.contains(s) {
                return Err(fail(
                    &request,
                    "invalid_scope",
                    format!("scope {s} is not one this client may ask for"),
                ));
            }
            scopes.insert(s);
        }
        if scopes.is_empty() {
            return Err(invalid(&request, "scope is empty".into()));
        }
        // `openid` first, then the rest in order: one spelling per set of scopes.
        let openid = scopes.remove("openid");
        // An ID token this deployment cannot sign (the client registered an algorithm that no key
        // here has, as with one JWT_PRIVATE_KEY_FILE): said now, before a code is issued and
        // spent on an exchange that could only fail.
        let signable = self.id_token_algorithms();
        if openid && signable.is_empty() {
            // The keys not read yet (a start whose store is slow): a passing state.
            return Err(fail(
                &request,
                "temporarily_unavailable",
                "the signing keys are not loaded yet; try again shortly".into(),
            ));
        }
        if openid && !signable.contains(&client.id_token_signed_response_alg.as_str()) {
            return Err(fail(
                &request,
                "server_error",
                format!(
                    "no key here signs this client's ID tokens ({}); register it with one of {:?}",
                    client.id_token_signed_response_alg, signable
                ),
            ));
        }
        request.scope = openid
            .then_some("openid")
            .into_iter()
            .chain(scopes)
            .collect::<Vec<_>>()
            .join(" ");
        match (value("code_challenge"), value("code_challenge_method").as_deref()) {
            (Some(challenge), Some("S256")) if pkce_shaped(&challenge) => {
                request.code_challenge = Some(challenge);
            }
            (Some(_), Some("S256")) => {
                return Err(invalid(
                    &request,
                    "code_challenge is not a PKCE challenge (RFC 7636 §4.2)".into(),
                ))
            }
            (Some(_), Some(_) | None) => {
                return Err(invalid(
                    &request,
                    "code_challenge_method must be S256 (plain is refused)".into(),
                ))
            }
            (None, Some(_)) => return Err(invalid(&request, "code_challenge is missing".into())),
            (None, None) if client.token_endpoint_auth_method == "none" => {
                return Err(invalid(
                    &request,
                    "a public client must use PKCE (code_challenge with S256)".into(),
                ))
            }
            (None, None) => {}
        }
        request.nonce = value("nonce");
        if let Some(prompt) = value("prompt") {
            let prompts: Vec<String> = prompt
                .split(' ')
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect();
            if let Some(bad) = prompts
                .iter()
                .find(|p| !["none", "login", "consent", "select_account"].contains(&p.as_str()))
            {
                return Err(invalid(&request, format!("prompt {bad} is not known")));
            }
            if prompts.len() > 1 && prompts.iter().any(|p| p == "none") {
                return Err(invalid(&request, "prompt=none goes with no other value".into()));
            }
            request.prompt = prompts;
        }
        if let Some(max_age) = value("max_age") {
            request.max_age = Some(
                max_age
                    .parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| invalid(&request, "max_age must be a number of seconds".into()))?,
            );
        }
        request.login_hint = value("login_hint").filter(|h| h.chars().count() <= 254);
        Ok((request, client))
    }

    /// Keeps a checked request while the user signs in; its id.
    pub async fn park(&self, request: &AuthRequest) -> Result<String, StoreError> {
        let id = random_token();
        let value = serde_json::to_string(request).map_err(|e| StoreError::Protocol(e.to_string()))?;
        self.grants
            .put_grant(GrantKind::Request, &id, &value, REQUEST_LIFE_MS)
            .await?;
        Ok(id)
    }

    /// A parked request, if it is still there, with its client (still active).
    pub async fn parked(&self, id: &str) -> Result<Option<(AuthRequest, ClientRecord)>, StoreError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let Some(value) = self.grants.grant(GrantKind::Request, id).await? else {
            return Ok(None);
        };
        let Ok(request) = serde_json::from_str::<AuthRequest>(&value) else {
            return Ok(None);
        };
        let client = self.registry.get(&request.client_id).await?.filter(|c| c.active);
        Ok(client.map(|c| (request, c)))
    }

    /// Forgets a parked request (it has ended in a code or an error).
    pub async fn unpark(&self, id: &str) -> Result<(), StoreError> {
        self.grants.drop_grant(GrantKind::Request, id).await
    }

    /// Whether `browser` may answer `request` without signing in again: OIDC Core §3.1.2.1's
    /// `prompt=login` and `max_age`.
    pub fn fresh_enough(&self, request: &AuthRequest, browser: &BrowserSession) -> bool {
        !Self::asks_sign_in(request) && self.within_max_age(request, browser)
    }

    /// Whether `browser` may answer `request` on the consent screen: the sign-in on the request's
    /// own login page answers `prompt=login` and `max_age` (however long the user then takes over
    /// the consent screen); without one, the same rules as [`Provider::fresh_enough`]. Without this,
    /// a consent form posted with a parked request's fields would skip the sign-in the app asked for.
    pub fn may_consent(&self, request: &AuthRequest, browser: &BrowserSession) -> bool {
        request.signed_in_sid.as_deref() == Some(browser.sid.as_str()) || self.fresh_enough(request, browser)
    }

    /// Records on the parked request `id` that `browser` signed in on its login page.
    pub async fn signed_in_for(
        &self,
        id: &str,
        request: &mut AuthRequest,
        browser: &BrowserSession,
    ) -> Result<(), StoreError> {
        request.signed_in_sid = Some(browser.sid.clone());
        let value = serde_json::to_string(request).map_err(|e| StoreError::Protocol(e.to_string()))?;
        self.grants
            .put_grant(GrantKind::Request, id, &value, REQUEST_LIFE_MS)
            .await
    }

    /// `prompt=login`, or `prompt=select_account`: the login page is where the user picks the
    /// account (OIDC Core §3.1.2.1: the server "SHOULD prompt the End-User to select a user
    /// account"), so both show it even to a signed-in browser.
    fn asks_sign_in(request: &AuthRequest) -> bool {
        request.prompts("login") || request.prompts("select_account")
    }

    fn within_max_age(&self, request: &AuthRequest, browser: &BrowserSession) -> bool {
        match request.max_age {
            Some(max_age) => self.codec.now_secs() - browser.auth_time <= max_age,
            None => true,
        }
    }

    /// Whether the user must be asked before `client` gets `request`'s scopes.
    pub async fn needs_consent(
        &self,
        request: &AuthRequest,
        client: &ClientRecord,
        uid: &str,
    ) -> Result<bool, StoreError> {
        if client.first_party && !request.prompts("consent") {
            return Ok(false);
        }
        if request.prompts("consent") {
            return Ok(true);
        }
        let granted = self
            .grants
            .grant(GrantKind::Consent, &format!("{uid}:{}", client.client_id))
            .await?
            .unwrap_or_default();
        let granted: BTreeSet<&str> = granted.split(' ').collect();
        Ok(!request.scope.split(' ').all(|s| granted.contains(s)))
    }

    /// The clients a user consented to, with the scopes granted (for `/cuenta`).
    pub async fn consents(&self, uid: &str) -> Result<Vec<(ClientRecord, String)>, StoreError> {
        let mut found = Vec::new();
        for client_id in self.grants.set_members(GrantKind::UserConsents, uid).await? {
            let Some(scope) = self
                .grants
                .grant(GrantKind::Consent, &format!("{uid}:{client_id}"))
                .await?
            else {
                continue;
            };
            if let Some(client) = self.registry.get(&client_id).await? {
                found.push((client, scope));
            }
        }
        found.sort_by(|a, b| a.0.client_id.cmp(&b.0.client_id));
        Ok(found)
    }

    /// Withdraws a client's access: the consent is forgotten (the next sign-in asks again) and every
    /// session the client holds of the user ends (its tokens are revoked and fed). Whether there was
    /// a consent.
    pub async fn withdraw(&self, uid: &str, client_id: &str) -> Result<bool, Refusal> {
        let id = format!("{uid}:{client_id}");
        let had = self.grants.grant(GrantKind::Consent, &id).await?.is_some();
        self.grants.drop_grant(GrantKind::Consent, &id).await?;
        for sid in self.grants.set_members(GrantKind::ClientSessions, &id).await? {
            self.sessions.end(uid, &sid).await?;
        }
        self.grants.drop_grant(GrantKind::ClientSessions, &id).await?;
        Ok(had)
    }

    /// Ends every session a client holds of anyone (its tokens revoked and fed): a disabled client's.
    pub async fn end_client_sessions(&self, client_id: &str) -> Result<(), Refusal> {
        for member in self
            .grants
            .set_members(GrantKind::AllClientSessions, client_id)
            .await?
        {
            if let Some((uid, sid)) = member.split_once(' ') {
                self.sessions.end(uid, sid).await?;
            }
        }
        self.grants
            .drop_grant(GrantKind::AllClientSessions, client_id)
            .await?;
        Ok(())
    }

    /// Remembers that the user let `client_id` have `scope` (with what was granted before).
    pub async fn consent(&self, uid: &str, client_id: &str, scope: &str) -> Result<(), StoreError> {
        self.grants
            .add_to_set(GrantKind::UserConsents, uid, client_id, CONSENT_LIFE_MS)
            .await?;
        let id = format!("{uid}:{client_id}");
        let before = self
            .grants
            .grant(GrantKind::Consent, &id)
            .await?
            .unwrap_or_default();
        let all: BTreeSet<&str> = before
            .split(' ')
            .chain(scope.split(' '))
            .filter(|s| !s.is_empty())
            .collect();
        let all = all.into_iter().collect::<Vec<_>>().join(" ");
        self.grants
            .put_grant(GrantKind::Consent, &id, &all, CONSENT_LIFE_MS)
            .await
    }

    /// The code that ends `request` for the user of `browser`.
    pub async fn issue_code(
        &self,
        request: &AuthRequest,
        browser: &BrowserSession,
    ) -> Result<String, StoreError> {
        let code = random_token();
        let record = CodeRecord {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            uid: browser.uid.clone(),
            bsid: browser.sid.clone(),
            auth_time: browser.auth_time,
            amr: browser.amr.clone(),
            sid: new_id(),
            exp_ms: self.clock.now_ms() + CODE_LIFE_MS,
        };
        let value = serde_json::to_string(&record).map_err(|e| StoreError::Protocol(e.to_string()))?;
        self.grants
            .put_grant(GrantKind::Code, &hashed(&code), &value, CODE_RECORD_MS)
            .await?;
        Ok(code)
    }

    /// `grant_type=authorization_code` for an authenticated `client` (RFC 6749 §4.1.3, RFC 7636 §4.6).
    pub async fn exchange(
        &self,
        client: &ClientRecord,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<CodeTokens, OAuthError> {
        let bad = |why: &str| OAuthError::InvalidGrant(why.to_string());
        let record = match self.grants.redeem_grant(GrantKind::Code, &hashed(code)).await? {
            Redeemed::Missing => return Err(bad("the code is not valid (unknown, expired or already used)")),
            Redeemed::Replayed(value) => {
                if let Ok(record) = serde_json::from_str::<CodeRecord>(&value) {
                    // RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for.
                    self.sessions.end_even_unstarted(&record.uid, &record.sid).await?;
                    tracing::warn!(client_id = %record.client_id, user_id = %record.uid, sid = %record.sid,
                        "authorization code replayed; the session it started is revoked");
                    crate::audit::record(
                        "authorization_code_replayed",
                        crate::audit::Actor::Anonymous,
                        &record.uid,
                        "session revoked",
                    );
                }
                return Err(bad("the code is not valid (unknown, expired or already used)"));
            }
            Redeemed::Fresh(value) => serde_json::from_str::<CodeRecord>(&value)
                .map_err(|e| OAuthError::Internal(format!("a stored code does not read: {e}")))?,
        };
        if record.exp_ms <= self.clock.now_ms() {
            return Err(bad("the code has expired"));
        }
        if record.client_id != client.client_id {
            return Err(bad("the code was issued to another client"));
        }
        if redirect_uri != Some(record.redirect_uri.as_str()) {
            return Err(bad("redirect_uri is not the one of the authorization request"));
        }
        match (&record.code_challenge, verifier) {
            (Some(challenge), Some(verifier)) if pkce_shaped(verifier) => {
                let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                    return Err(bad("the PKCE code_verifier does not match the code_challenge"));
                }
            }
            (Some(_), _) => return Err(bad("a valid code_verifier is required (PKCE)")),
            (None, Some(_)) => return Err(bad("code_verifier was sent for a code without code_challenge")),
            (None, None) => {}
        }
        let user = self
            .sessions
            .live_user(&record.bsid, &record.uid)
            .await
            .map_err(refused)?
            .ok_or_else(|| bad("the sign-in this code came from has ended"))?;
        let binding = Binding {
            client_id: client.client_id.clone(),
            scope: record.scope.clone(),
        };
        let (pair, user) = self
            .sessions
            .start_for_client(&user, record.sid.clone(), &binding)
            .await
            .map_err(refused)?;
        self.grants
            .add_to_set(
                GrantKind::Descendants,
                &record.bsid,
                &format!("{} {}", record.sid, client.client_id),
                self.absolute_ms,
            )
            .await?;
        self.grants
            .add_to_set(
                GrantKind::AllClientSessions,
                &client.client_id,
                &format!("{} {}", record.uid, record.sid),
                self.absolute_ms,
            )
            .await?;
        self.grants
            .add_to_set(
                GrantKind::ClientSessions,
                &format!("{}:{}", record.uid, client.client_id),
                &record.sid,
                self.absolute_ms,
            )
            .await?;
        let id_token = if has_scope(&record.scope, "openid") {
            Some(self.id_token(client, &record, &user, &pair)?)
        } else {
            None
        };
        let refresh = client.grant_types.iter().any(|g| g == "refresh_token");
        tracing::info!(client_id = %client.client_id, user_id = user.id, sid = %record.sid, "authorization code exchanged");
        let TokenPair {
            access_token,
            refresh_token,
            expires_in,
            ..
        } = pair;
        Ok(CodeTokens {
            access_token,
            token_type: "Bearer",
            expires_in,
            scope: record.scope,
            refresh_token: refresh.then_some(refresh_token),
            id_token,
        })
    }

    fn id_token(
        &self,
        client: &ClientRecord,
        record: &CodeRecord,
        user: &crate::users::User,
        pair: &TokenPair,
    ) -> Result<String, OAuthError> {
        let keys = self
            .signing
            .as_ref()
            .ok_or_else(|| OAuthError::Internal("no keys to sign ID tokens with".into()))?;
        let alg = client.id_token_signed_response_alg.as_str();
        let algorithm = crate::signing::alg_of(alg)
            .ok_or_else(|| OAuthError::Internal(format!("unknown ID token algorithm {alg}")))?;
        // Never before the sign-in it reports (the sign-in's time is the store's clock).
        let now = self.codec.now_secs().max(record.auth_time);
        let claims = IdClaims {
            iss: self.codec.issuer().to_string(),
            sub: user.id.to_string(),
            aud: client.client_id.clone(),
            exp: now + pair.expires_in,
            iat: now,
            auth_time: record.auth_time,
            nonce: record.nonce.clone(),
            sid: record.bsid.clone(),
            amr: record.amr.clone(),
            at_hash: Some(id_token::at_hash(algorithm, &pair.access_token)),
            profile: Profile::of(user, &record.scope),
        };
        id_token::sign(keys, alg, "JWT", &claims).map_err(|e| OAuthError::Internal(e.to_string()))
    }

    /// `grant_type=refresh_token` for an authenticated `client` (RFC 6749 §6): the rotation of
    /// `/auth/refresh`, for a token bound to this client. A `scope` may repeat the granted scopes or
    /// name fewer; the token keeps those it was granted (the answer's `scope` says which).
    pub async fn refresh(
        &self,
        client: &ClientRecord,
        refresh_token: &str,
        scope: Option<&str>,
        gate: crate::store::Counter,
    ) -> Result<CodeTokens, OAuthError> {
        let (pair, binding) = self
            .sessions
            .refresh_for(refresh_token, Some(gate), Some(&client.client_id))
            .await
            .map_err(refused)?;
        // The scope the token was granted: what its successor's access token carries.
        let granted = binding.map(|b| b.scope).unwrap_or_default();
        if let Some(asked) = scope {
            if let Some(extra) = asked
                .split(' ')
                .filter(|s| !s.is_empty())
                .find(|s| !has_scope(&granted, s))
            {
                return Err(OAuthError::InvalidScope(format!("scope {extra} was not granted")));
            }
        }
        Ok(CodeTokens {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            scope: granted,
            refresh_token: Some(pair.refresh_token),
            id_token: None,
        })
    }

    /// The claims of an ID token this service signed (expired or not), for `id_token_hint`; `None`
    /// for anything else.
    pub fn id_token_hint(&self, token: &str) -> Option<IdClaims> {
        let keys = self.signing.as_ref()?;
        let header = jsonwebtoken::decode_header(token).ok()?;
        let (algorithm, key) = keys.verifying_key(header.kid.as_deref()?)?;
        if header.alg != algorithm {
            return None;
        }
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[self.codec.issuer()]);
        jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// Ends a browser session's descendants (the sessions its codes started), and tells each of
    /// their clients that registered a `backchannel_logout_uri` (OIDC Back-Channel Logout 1.0: a
    /// logout token naming the browser session's `sid`, posted in the background; a client that does
    /// not answer is logged, and its tokens are revoked all the same).
    pub async fn end_descendants(&self, browser: &BrowserSession) -> Result<(), Refusal> {
        let members = self
            .grants
            .set_members(GrantKind::Descendants, &browser.sid)
            .await?;
        let mut clients = BTreeSet::new();
        for member in &members {
            let (sid, client_id) = member.split_once(' ').unwrap_or((member.as_str(), ""));
            self.sessions.end(&browser.uid, sid).await?;
            if !client_id.is_empty() {
                clients.insert(client_id.to_string());
            }
        }
        self.grants
            .drop_grant(GrantKind::Descendants, &browser.sid)
            .await?;
        for client_id in clients {
            let Some(client) = self.registry.get(&client_id).await? else {
                continue;
            };
            // A public client is never told (§2.2: http is for confidential clients; one registered
            // before that rule may still hold a URI).
            if client.backchannel_logout_uri.is_empty() || client.token_endpoint_auth_method == "none" {
                continue;
            }
            match self.logout_token(&client, browser) {
                Ok(token) => self.post_logout_token(client.backchannel_logout_uri.clone(), client_id, token),
                Err(e) => tracing::error!(client_id = %client_id, error = %e, "logout token not signed"),
            }
        }
        Ok(())
    }

    /// OIDC Back-Channel Logout §2.4: `iss`, `aud`, `iat`, `exp`, `jti`, `sub`, `sid` and the logout
    /// event; never a `nonce`.
    fn logout_token(
        &self,
        client: &ClientRecord,
        browser: &BrowserSession,
    ) -> Result<String, id_token::IdTokenError> {
        let keys = self
            .signing
            .as_ref()
            .ok_or_else(|| id_token::IdTokenError::NoKey(client.id_token_signed_response_alg.clone()))?;
        let now = self.codec.now_secs();
        let claims = serde_json::json!({
            "iss": self.codec.issuer(),
            "aud": client.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": new_id(),
            "sub": browser.uid,
            "sid": browser.sid,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        });
        id_token::sign(keys, &client.id_token_signed_response_alg, "logout+jwt", &claims)
    }

    fn post_logout_token(&self, uri: String, client_id: String, token: String) {
        let http = self.http.clone();
        tokio::spawn(async move {
            let sent = http
                .post(&uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("logout_token={token}"))
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => {
                    tracing::info!(client_id = %client_id, "back-channel logout delivered")
                }
                Ok(res) => {
                    tracing::warn!(client_id = %client_id, status = res.status().as_u16(), "back-channel logout refused by the client")
                }
                Err(e) => {
                    tracing::warn!(client_id = %client_id, error = %e, "back-channel logout not delivered")
                }
            }
        });
    }

    /// The users of the sign-in flows.
    pub fn accounts(&self) -> &Arc<Accounts> {
        &self.accounts
    }
}

/// A refusal of the session layer as the token endpoint answers it.
fn refused(refusal: Refusal) -> OAuthError {
    match refusal {
        Refusal::Token(..) | Refusal::Revoked | Refusal::BadCredentials => {
            OAuthError::InvalidGrant("the grant is not valid (expired, revoked or already used)".into())
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pkce_value_is_43_to_128_unreserved_characters() {
        assert!(pkce_shaped(&"a".repeat(43)));
        assert!(pkce_shaped(&"A-._~9".repeat(10)));
        assert!(!pkce_shaped(&"a".repeat(42)));
        assert!(!pkce_shaped(&"a".repeat(129)));
        assert!(!pkce_shaped(&format!("{}+", "a".repeat(42))));
    }

    #[test]
    fn a_parameter_twice_is_refused() {
        let params = vec![
            ("a".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
            ("b".to_string(), String::new()),
        ];
        assert!(single(&params, "a").is_err());
        assert_eq!(single(&params, "b").unwrap(), None, "empty is absent");
        assert_eq!(single(&params, "c").unwrap(), None);
    }
}
