//! [`Client`]: a session with the identity provider and authenticated calls to the APIs behind it, and
//! [`ClientBuilder`] for its options.
//!
//! The session lives in the client's state (read from the [`TokenStorage`] once, written through to it
//! on every change). A refresh is single-flight: the first task that finds the access token due starts
//! one rotation on the runtime (so a caller that gives up half-way cannot lose a rotated pair), and
//! every task that comes while it runs waits for the same outcome.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Response, ResponseBuilderExt, StatusCode, Url};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::error::Error;
use crate::tokens::{MemoryStorage, TokenStorage, Tokens};

/// Refresh when the access token has less than this left (the guide's 5-minute buffer).
pub const REFRESH_BUFFER: Duration = Duration::from_secs(5 * 60);

/// The default client's limit on a whole request, as the Python client's.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What a refresh or an API call answers when the session is over: log in again, or give up.
const SESSION_OVER: [&str; 2] = ["TOKEN_REVOKED", "TOKEN_EXPIRED"];

type MfaCallback = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;
/// What a refresh in flight ends with; `None` until it has.
type Outcome = Option<Result<(), Error>>;

/// The options of a [`Client`]. Start from [`Client::builder`].
pub struct ClientBuilder {
    base_url: String,
    credentials: Option<(String, Password)>,
    mfa_code: Option<MfaCallback>,
    allow_insecure_http: bool,
    storage: Option<Arc<dyn TokenStorage>>,
    refresh_buffer: Duration,
    http: Option<reqwest::Client>,
    timeout: Duration,
    clock: Option<Clock>,
}

impl ClientBuilder {
    /// The user to log in as. Without credentials the client works from a stored session and returns
    /// [`Error::SessionExpired`] when it ends.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((username.into(), Password(password.into())));
        self
    }

    /// Called (once per login) for a TOTP or recovery code when the user has MFA on. Without it,
    /// such a login returns [`Error::MfaRequired`] and [`Client::verify_mfa`] finishes it.
    pub fn mfa_code<F, Fut>(mut self, code: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.mfa_code = Some(Arc::new(move || Box::pin(code())));
        self
    }

    /// Accept plain `http://` to another machine, where anyone on the way reads the tokens. Plain
    /// HTTP to this machine (`localhost`, `127.0.0.0/8`, `::1`) is always accepted.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Where the session is kept ([`MemoryStorage`] by default).
    pub fn storage(mut self, storage: Arc<dyn TokenStorage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Refresh when the access token has less than this left ([`REFRESH_BUFFER`] by default).
    pub fn refresh_buffer(mut self, buffer: Duration) -> Self {
        self.refresh_buffer = buffer;
        self
    }

    /// The `reqwest` client to send with (its own TLS, proxy and timeout settings).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The default `reqwest` client's limit on a whole request (30 s); ignored with `http_client`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock that decides when the access token is due (tests move it forward).
    pub fn clock(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    /// Checks the base URL: an `http(s)` URL with a host, and plain HTTP only to this machine unless
    /// `allow_insecure_http`.
    pub fn build(self) -> Result<Client, Error> {
        let invalid = || Error::InvalidUrl(self.base_url.clone());
        let url = Url::parse(&self.base_url).map_err(|_| invalid())?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(invalid)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure_http || is_loopback(host) => {}
            "http" => {
                return Err(Error::InsecureHttp {
                    host: host.to_string(),
                })
            }
            _ => return Err(invalid()),
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder().timeout(self.timeout).build()?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                base_url: self.base_url.trim_end_matches('/').to_string(),
                credentials: self.credentials,
                http,
                storage: self.storage.unwrap_or_else(|| Arc::new(MemoryStorage::new())),
                mfa_code: self.mfa_code,
                buffer: self.refresh_buffer,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                state: Mutex::new(State::default()),
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("mfa_code", &self.mfa_code.as_ref().map(|_| "callback"))
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("refresh_buffer", &self.refresh_buffer)
            .finish_non_exhaustive()
    }
}

/// A session with the identity provider and authenticated calls to the APIs behind it. Cheap to clone:
/// clones share the session, so any number of tasks can use one.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// A client that logs in as `username` when it needs a session, with the default options.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::builder(base_url).credentials(username, password).build()
    }

    /// Options: credentials, the MFA callback, storage, plain HTTP, the refresh buffer.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            credentials: None,
            mfa_code: None,
            allow_insecure_http: false,
            storage: None,
            refresh_buffer: REFRESH_BUFFER,
            http: None,
            timeout: TIMEOUT,
            clock: None,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub fn username(&self) -> Option<&str> {
        self.inner.credentials.as_ref().map(|(u, _)| u.as_str())
    }

    /// The session as it stands (none before a login, or after it ended).
    pub fn tokens(&self) -> Option<Tokens> {
        self.inner.current()
    }

    /// The guide's `access_token`, read-only.
    pub fn access_token(&self) -> Option<String> {
        self.tokens().map(|t| t.access_token)
    }

    /// The guide's `refresh_token`, read-only: always the latest rotated one.
    pub fn refresh_token(&self) -> Option<String> {
        self.tokens().and_then(|t| t.refresh_token)
    }

    /// The guide's `token_expiry`: when the access token expires, by this machine's clock.
    pub fn token_expiry(&self) -> Option<SystemTime> {
        self.tokens().map(|t| t.expires_at)
    }

    /// True between a login that answered `mfaRequired` and a successful [`Client::verify_mfa`].
    pub fn mfa_pending(&self) -> bool {
        self.inner.state().mfa_token.is_some()
    }

    /// Logs in with the credentials and stores the session. [`Error::MfaRequired`] when the user has
    /// MFA on and there is no callback (finish with [`Client::verify_mfa`]); [`Error::InvalidCredentials`],
    /// [`Error::RateLimited`].
    pub async fn login(&self) -> Result<(), Error> {
        self.inner.login().await
    }

    /// Finishes a login that answered `mfaRequired`, with a TOTP or recovery code.
    pub async fn verify_mfa(&self, code: &str) -> Result<(), Error> {
        self.inner.verify_mfa(code).await
    }

    /// Rotates the session now, sharing a refresh already in progress. When the session is over it
    /// logs in again if it can, else returns [`Error::SessionExpired`].
    pub async fn refresh_access_token(&self) -> Result<(), Error> {
        self.inner.refresh(None).await
    }

    /// The guide's headers (`Authorization: Bearer …`, `Content-Type: application/json`) with an
    /// access token that has more than the buffer left: refreshed first when it has not, logged in
    /// first when there is no session and the client can. The `Authorization` value is marked
    /// sensitive, so `Debug` output of the map hides it.
    pub async fn get_headers(&self) -> Result<HeaderMap, Error> {
        let access = self.inner.access().await?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, bearer(&access)?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(headers)
    }

    /// An authenticated call to `path` (appended to the base URL), with `json` as its body. Any answer
    /// is returned as it came, except that a 401 saying the token expired or was revoked gets one
    /// refresh (or a new login) and one retry.
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        json: Option<&T>,
    ) -> Result<Response, Error> {
        let body = json.map(serde_json::to_vec).transpose()?;
        let (response, used) = self.inner.send(&method, path, body.as_deref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let (response, codigo) = peek_codigo(response).await?;
        if !codigo.as_deref().is_some_and(is_session_over) {
            return Ok(response);
        }
        self.inner.refresh(Some(&used)).await?;
        Ok(self.inner.send(&method, path, body.as_deref()).await?.0)
    }

    /// Authenticated GET, as in the guide.
    pub async fn get(&self, path: &str) -> Result<Response, Error> {
        self.request::<()>(Method::GET, path, None).await
    }

    /// Authenticated POST of `json`, as in the guide.
    pub async fn post<T: Serialize + ?Sized>(&self, path: &str, json: &T) -> Result<Response, Error> {
        self.request(Method::POST, path, Some(json)).await
    }

    /// Ends this session at the service (`POST /auth/logout`) and forgets it here, even when the
    /// service could not be reached (that error is returned after forgetting).
    pub async fn logout(&self) -> Result<(), Error> {
        let sent = match self.inner.current() {
            Some(tokens) => self
                .inner
                .http
                .post(self.inner.url("/auth/logout"))
                .bearer_auth(&tokens.access_token)
                .send()
                .await
                .map(drop),
            None => Ok(()),
        };
        self.inner.clear_session();
        self.inner.state().mfa_token = None;
        Ok(sent?)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // What is known without reading the storage (Debug has no side effects): `None` until it is.
        let (session, mfa_pending) = {
            let state = self.inner.state();
            (
                state.tokens.as_ref().map(Option::is_some),
                state.mfa_token.is_some(),
            )
        };
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("username", &self.username())
            .field("session", &session)
            .field("mfa_pending", &mfa_pending)
            .finish_non_exhaustive()
    }
}

/// A password that `Debug` does not print.
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

struct Inner {
    base_url: String,
    credentials: Option<(String, Password)>,
    http: reqwest::Client,
    storage: Arc<dyn TokenStorage>,
    mfa_code: Option<MfaCallback>,
    buffer: Duration,
    clock: Clock,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The session; `None` until the storage has been read.
    tokens: Option<Option<Tokens>>,
    /// The refresh in progress, which every other caller waits for instead of starting its own.
    flight: Option<watch::Receiver<Outcome>>,
    /// Between a login that answered `mfaRequired` and the code that finishes it.
    mfa_token: Option<String>,
}

/// A service answer to an authentication step, read whole.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    // --- the session ---

    fn loaded<'a>(&self, state: &'a mut State) -> &'a Option<Tokens> {
        state.tokens.get_or_insert_with(|| self.storage.load())
    }

    fn current(&self) -> Option<Tokens> {
        self.loaded(&mut self.state()).clone()
    }

    fn save(&self, tokens: Tokens) {
        let mut state = self.state();
        self.storage.save(&tokens);
        state.tokens = Some(Some(tokens));
    }

    fn clear_session(&self) {
        let mut state = self.state();
        self.storage.clear();
        state.tokens = Some(None);
    }

    /// Whether the access token has no more than the buffer left.
    fn due(&self, tokens: &Tokens) -> bool {
        tokens
            .expires_at
            .checked_sub(self.buffer)
            .is_none_or(|at| self.now() >= at)
    }

    /// An access token with more than the buffer left.
    async fn access(self: &Arc<Self>) -> Result<String, Error> {
        match self.current() {
            None => self.refresh(None).await?,
            Some(tokens) if self.due(&tokens) => self.refresh(Some(&tokens.access_token)).await?,
            Some(tokens) => return Ok(tokens.access_token),
        }
        self.current()
            .map(|t| t.access_token)
            .ok_or(Error::SessionExpired { codigo: None })
    }

    async fn send(
        self: &Arc<Self>,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(Response, String), Error> {
        let access = self.access().await?;
        let mut request = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(&access);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        Ok((request.send().await?, access))
    }

    // --- logging in ---

    async fn login(&self) -> Result<(), Error> {
        let Some((username, password)) = &self.credentials else {
            return Err(Error::SessionExpired { codigo: None });
        };
        let started = self.now();
        let answer = self
            .post_json(
                "/auth/login",
                &json!({"username": username, "password": password.0}),
            )
            .await?;
        let datos = answer.datos();
        if answer.ok() && datos.get("mfaRequired") == Some(&Value::Bool(true)) {
            let Some(mfa_token) = datos.get("mfaToken").and_then(Value::as_str) else {
                return Err(answer.unexpected("mfaRequired without an mfaToken"));
            };
            self.state().mfa_token = Some(mfa_token.to_string());
            let Some(mfa_code) = &self.mfa_code else {
                return Err(Error::MfaRequired);
            };
            let code = mfa_code().await;
            return self.verify_mfa(&code).await;
        }
        self.store_pair(&answer, started)
    }

    async fn verify_mfa(&self, code: &str) -> Result<(), Error> {
        let Some(mfa_token) = self.state().mfa_token.clone() else {
            return Err(Error::NoMfaPending);
        };
        let started = self.now();
        let answer = self
            .post_json("/auth/mfa/verify", &json!({"mfaToken": mfa_token, "code": code}))
            .await?;
        if answer.ok() {
            self.state().mfa_token = None;
        }
        self.store_pair(&answer, started)
    }

    fn store_pair(&self, answer: &Answer, started: SystemTime) -> Result<(), Error> {
        let datos = answer.datos();
        let Some(access) = datos
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|_| answer.ok())
        else {
            return Err(answer.error());
        };
        let lifetime = datos
            .get("expiresIn")
            .and_then(Value::as_f64)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or_default();
        self.save(Tokens {
            access_token: access.to_string(),
            refresh_token: datos
                .get("refreshToken")
                .and_then(Value::as_str)
                .map(str::to_string),
            expires_at: started.checked_add(lifetime).unwrap_or(started),
        });
        Ok(())
    }

    // --- refreshing ---

    /// Single flight: one rotation at a time, and every caller that comes while it runs gets its
    /// outcome. `stale` is the access token the caller found wanting: when the session holds another
    /// one by now, someone refreshed in between and there is nothing to do.
    async fn refresh(self: &Arc<Self>, stale: Option<&str>) -> Result<(), Error> {
        let mut flight = {
            let mut state = self.state();
            match &state.flight {
                Some(flight) => flight.clone(),
                None => {
                    let current = self.loaded(&mut state).as_ref();
                    if let (Some(stale), Some(current)) = (stale, current) {
                        if current.access_token != stale {
                            return Ok(());
                        }
                    }
                    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                        return Err(Error::Interrupted);
                    };
                    let (done, flight) = watch::channel(None);
                    state.flight = Some(flight.clone());
                    // On the runtime rather than in this caller: a caller that stops waiting (a
                    // timeout, a dropped request) must not cut a rotation short and lose the new pair.
                    let inner = Arc::clone(self);
                    runtime.spawn(async move {
                        let landed = Landed(Arc::clone(&inner));
                        let outcome = inner.rotate().await;
                        drop(landed);
                        let _ = done.send(Some(outcome));
                    });
                    flight
                }
            }
        };
        let outcome = match flight.wait_for(Option::is_some).await {
            Ok(seen) => seen.clone(),
            Err(_) => None,
        };
        outcome.unwrap_or(Err(Error::Interrupted))
    }

    async fn rotate(&self) -> Result<(), Error> {
        let Some(refresh_token) = self.current().and_then(|t| t.refresh_token) else {
            return self.login().await;
        };
        let payload = json!({"refreshToken": refresh_token});
        let mut started = self.now();
        let answer = match self.post_json("/auth/refresh", &payload).await {
            // The answer may have been lost after the service rotated: inside its retry grace the
            // same token gets the same pair again, so one retry is safe and keeps the session.
            Err(Error::Http(_)) => {
                started = self.now();
                self.post_json("/auth/refresh", &payload).await?
            }
            answer => answer?,
        };
        if answer.session_over() {
            self.clear_session();
            if self.credentials.is_none() {
                return Err(Error::SessionExpired {
                    codigo: answer.codigo().map(str::to_string),
                });
            }
            return self.login().await;
        }
        self.store_pair(&answer, started)
    }

    /// POSTs `payload` and reads the whole answer: a connection lost before the body is complete is
    /// an [`Error::Http`], as one lost before the status line.
    async fn post_json(&self, path: &str, payload: &Value) -> Result<Answer, Error> {
        let response = self.http.post(self.url(path)).json(payload).send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// Ends a flight on every path out of its task (finished, or dropped with the runtime), so the next
/// caller that finds the token due starts a new one.
struct Landed(Arc<Inner>);

impl Drop for Landed {
    fn drop(&mut self) {
        self.0.state().flight = None;
    }
}

impl Answer {
    fn ok(&self) -> bool {
        self.status == StatusCode::OK && self.body.get("exito") == Some(&Value::Bool(true))
    }

    fn datos(&self) -> &Value {
        self.body.get("datos").unwrap_or(&Value::Null)
    }

    fn codigo(&self) -> Option<&str> {
        self.body.get("codigo").and_then(Value::as_str)
    }

    fn session_over(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED && self.codigo().is_some_and(is_session_over)
    }

    fn mensaje(&self) -> String {
        self.body
            .get("mensaje")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", self.status.as_u16()))
    }

    /// The error an authentication step that did not give a pair ends with.
    fn error(&self) -> Error {
        let codigo = self.codigo().map(str::to_string);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            return Error::RateLimited {
                retry_after: self.retry_after,
                codigo,
            };
        }
        match codigo.as_deref() {
            Some("INVALID_CREDENTIALS") => Error::InvalidCredentials {
                mensaje: self.mensaje(),
            },
            Some("MFA_INVALID") => Error::MfaInvalid {
                mensaje: self.mensaje(),
            },
            _ if self.session_over() => Error::SessionExpired { codigo },
            _ => Error::Api {
                status: self.status.as_u16(),
                codigo,
                mensaje: self.mensaje(),
            },
        }
    }

    fn unexpected(&self, what: &str) -> Error {
        Error::Api {
            status: self.status.as_u16(),
            codigo: None,
            mensaje: what.to_string(),
        }
    }
}

fn is_session_over(codigo: &str) -> bool {
    SESSION_OVER.contains(&codigo)
}

/// This machine: `localhost` and its subdomains, `127.0.0.0/8`, `::1` (also IPv4-mapped).
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    })
}

fn bearer(access: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::try_from(format!("Bearer {access}")).map_err(|_| Error::Api {
        status: 200,
        codigo: None,
        mensaje: "the access token is not a valid header value".to_string(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Reads a 401's body for its `codigo`, and gives back a response with the same status, headers, URL
/// and body for the caller.
async fn peek_codigo(response: Response) -> Result<(Response, Option<String>), Error> {
    let status = response.status();
    let version = response.version();
    let url = response.url().clone();
    let headers = response.headers().clone();
    let bytes = response.bytes().await?;
    let codigo = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("codigo")?.as_str().map(str::to_string));
    let mut rebuilt = http::Response::builder().status(status).version(version).url(url);
    if let Some(slot) = rebuilt.headers_mut() {
        *slot = headers;
    }
    let rebuilt = rebuilt.body(bytes).map_err(|e| Error::Api {
        status: status.as_u16(),
        codigo: codigo.clone(),
        mensaje: format!("the answer could not be handed back: {e}"),
    })?;
    Ok((Response::from(rebuilt), codigo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn session(expires_in: Duration) -> Tokens {
        Tokens {
            access_token: "eyJ.access-secret-part".into(),
            refresh_token: Some("eyJ.refresh-secret-part".into()),
            expires_at: SystemTime::now() + expires_in,
        }
    }

    #[test]
    fn plain_http_to_another_host_is_refused_unless_allowed() {
        for url in [
            "http://api.example.com",
            "http://10.0.0.5:8000",
            "http://localhost.evil.com",
            "http://[2001:db8::1]:8000",
        ] {
            let e = Client::new(url, "u", "p").unwrap_err();
            assert!(matches!(e, Error::InsecureHttp { .. }), "{url}: {e:?}");
        }
        let e = Client::new("http://api.example.com/", "u", "p").unwrap_err();
        assert_eq!(e.to_string(), "refusing to send tokens over plain HTTP to api.example.com: use https, or allow_insecure_http(true)");
        Client::builder("http://api.example.com")
            .allow_insecure_http(true)
            .build()
            .unwrap();
        for url in [
            "https://api.example.com",
            "http://localhost:8000",
            "http://api.localhost",
            "http://127.0.0.1:8000",
            "http://127.8.9.10",
            "http://[::1]:8000",
            "http://[::ffff:127.0.0.1]:8000",
        ] {
            Client::new(url, "u", "p").unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        for url in [
            "ftp://api.example.com",
            "not a url",
            "http://",
            "file:///etc/passwd",
        ] {
            let e = Client::new(url, "u", "p").unwrap_err();
            assert!(matches!(e, Error::InvalidUrl(_)), "{url}: {e:?}");
        }
    }

    #[test]
    fn the_base_url_loses_its_trailing_slashes() {
        let client = Client::new("http://127.0.0.1:8000//", "u", "p").unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:8000");
        assert_eq!(
            client.inner.url("/solicitud/"),
            "http://127.0.0.1:8000/solicitud/"
        );
    }

    #[test]
    fn debug_shows_neither_the_password_nor_a_token() {
        let builder = Client::builder("http://127.0.0.1:8000")
            .credentials("api_user", "the-password-itself")
            .mfa_code(|| async { "123456".to_string() })
            .storage(Arc::new(MemoryStorage::with_tokens(session(
                Duration::from_secs(3600),
            ))));
        let text = format!("{builder:?}");
        let client = builder.build().unwrap();
        assert!(format!("{client:?}").contains("session: None"), "{client:?}");
        let text = format!("{text} {client:?} {client:#?} {:?}", client.tokens());
        assert!(
            format!("{client:?}").contains("session: Some(true)"),
            "{client:?}"
        );
        assert!(text.contains("api_user"), "{text}");
        for secret in ["the-password-itself", "secret-part"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    /// A port where nothing may connect: a test that must not send any request fails if one arrives.
    fn silent_port() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        (listener, origin)
    }

    fn nothing_arrived(listener: &TcpListener) {
        let e = listener.accept().map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "a request arrived");
    }

    #[tokio::test]
    async fn no_session_and_no_credentials_is_session_expired_without_a_request() {
        let (listener, origin) = silent_port();
        let client = Client::builder(&origin).build().unwrap();
        for e in [
            client.get_headers().await.unwrap_err(),
            client.refresh_access_token().await.unwrap_err(),
            client.get("/solicitud/").await.unwrap_err(),
            client.login().await.unwrap_err(),
        ] {
            assert!(matches!(e, Error::SessionExpired { codigo: None }), "{e:?}");
        }
        assert!(matches!(
            client.verify_mfa("123456").await,
            Err(Error::NoMfaPending)
        ));
        nothing_arrived(&listener);
    }

    #[tokio::test]
    async fn a_stored_session_outside_the_buffer_gives_headers_without_a_request() {
        let (listener, origin) = silent_port();
        let storage = Arc::new(MemoryStorage::with_tokens(session(Duration::from_secs(6 * 60))));
        let client = Client::builder(&origin).storage(storage).build().unwrap();
        let headers = client.get_headers().await.unwrap();
        assert_eq!(headers[AUTHORIZATION], "Bearer eyJ.access-secret-part");
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert!(!format!("{headers:?}").contains("secret-part"));
        nothing_arrived(&listener);
    }

    /// A session with six minutes left is not due; two minutes later (by the client's clock) it is:
    /// the refresh finds no service, is tried exactly twice (the lost-answer retry), and the stored
    /// session is left as it was for the next attempt.
    #[tokio::test]
    async fn a_refresh_without_an_answer_is_tried_twice_and_keeps_the_session() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(socket); // no answer
            }
        });
        let offset = Arc::new(AtomicU64::new(0));
        let moved = Arc::clone(&offset);
        let stored = session(Duration::from_secs(6 * 60));
        let storage = Arc::new(MemoryStorage::with_tokens(stored.clone()));
        let client = Client::builder(&origin)
            .storage(storage.clone())
            .clock(move || SystemTime::now() + Duration::from_secs(moved.load(Ordering::SeqCst)))
            .build()
            .unwrap();
        client.get_headers().await.unwrap();
        assert_eq!(connections.load(Ordering::SeqCst), 0);
        offset.store(2 * 60, Ordering::SeqCst);
        let e = client.get_headers().await.unwrap_err();
        assert!(matches!(e, Error::Http(_)), "{e:?}");
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert_eq!(storage.load(), Some(stored.clone()));
        assert_eq!(client.tokens(), Some(stored));
    }

    fn answer(status: u16, body: Value, retry_after: Option<u64>) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after,
            body,
        }
    }

    #[test]
    fn each_refusal_maps_to_its_error() {
        let refusal = |status, codigo: &str| {
            answer(
                status,
                json!({"exito": false, "mensaje": "m", "codigo": codigo}),
                None,
            )
            .error()
        };
        assert!(matches!(
            answer(429, json!({"codigo": "RATE_LIMITED"}), Some(42)).error(),
            Error::RateLimited { retry_after: Some(42), codigo: Some(c) } if c == "RATE_LIMITED"
        ));
        assert!(
            matches!(refusal(422, "INVALID_CREDENTIALS"), Error::InvalidCredentials { mensaje } if mensaje == "m")
        );
        assert!(matches!(refusal(422, "MFA_INVALID"), Error::MfaInvalid { .. }));
        for codigo in SESSION_OVER {
            assert!(matches!(refusal(401, codigo), Error::SessionExpired { codigo: Some(c) } if c == codigo));
        }
        assert!(matches!(
            refusal(401, "TOKEN_INVALID"),
            Error::Api { status: 401, codigo: Some(c), .. } if c == "TOKEN_INVALID"
        ));
        assert!(matches!(
            answer(502, json!({}), None).error(),
            Error::Api { status: 502, codigo: None, mensaje } if mensaje == "HTTP 502"
        ));
    }

    #[test]
    fn a_pair_expires_its_lifetime_after_the_request_started() {
        let client = Client::new("http://127.0.0.1:9", "u", "p").unwrap();
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let ok = answer(
            200,
            json!({"exito": true, "datos": {"accessToken": "a", "refreshToken": "r", "expiresIn": 3600}}),
            None,
        );
        client.inner.store_pair(&ok, started).unwrap();
        assert_eq!(client.token_expiry(), Some(started + Duration::from_secs(3600)));
        assert_eq!(client.refresh_token().as_deref(), Some("r"));
        // 200 without a pair is not a session.
        let odd = answer(200, json!({"exito": true, "datos": {}}), None);
        assert!(matches!(
            client.inner.store_pair(&odd, started),
            Err(Error::Api { status: 200, .. })
        ));
        assert_eq!(client.access_token().as_deref(), Some("a"));
    }

    #[test]
    fn inside_the_buffer_is_due() {
        let client = Client::new("http://127.0.0.1:9", "u", "p").unwrap();
        assert!(!client.inner.due(&session(Duration::from_secs(5 * 60 + 5))));
        assert!(client.inner.due(&session(Duration::from_secs(5 * 60 - 5))));
        let past = Tokens {
            expires_at: SystemTime::UNIX_EPOCH,
            ..session(Duration::ZERO)
        };
        assert!(client.inner.due(&past));
    }
}
