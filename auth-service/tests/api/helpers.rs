//! `TestApp`: a running auth-service with a settable clock, and the requests tests make.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use auth_service::app::App;
use auth_service::config::AuthConfig;
use auth_service::store::redis::RedisStore;
use auth_service::store::Stores;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use shared::config::FromVars;
pub use shared::Clock;
use shared::ManualClock;
use tokio::sync::oneshot;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const ADMIN: &str = "api_user";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const MARIA: &str = "maria";
pub const MARIA_PASSWORD: &str = "maria-password-1";
pub const BLOCKED: &str = "bloqueado";
pub const BLOCKED_PASSWORD: &str = "blocked-password-1";
pub const OPS_EMAIL: &str = "ops@acme.example";
pub const OPS_PASSWORD: &str = "ops-password-1";
pub const ISSUER: &str = "auth-service";
/// 32 bytes in base64, for MFA_ENCRYPTION_KEY.
pub const MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const AUDIENCE: &str = "solicitud-transporte-api";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Redis,
    Memory,
}

/// The Redis the tests share (see [`test_support::redis_url`]: `TEST_REDIS_URL`, the one on 6379, or
/// one started for this test process).
pub fn redis_url() -> String {
    test_support::redis_url()
}

pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// A users file with a usuario and a disabled user, written once per test run.
fn users_file() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let maria = auth_service::passwords::hash_password(MARIA_PASSWORD).unwrap();
        let blocked = auth_service::passwords::hash_password(BLOCKED_PASSWORD).unwrap();
        let ops = auth_service::passwords::hash_password(OPS_PASSWORD).unwrap();
        let text = format!(
            "[[users]]\nusername = \"{MARIA}\"\nemail = \"maria@example.com\"\nrol = \"usuario\"\npassword_hash = \"{maria}\"\n\n\
             [[users]]\nusername = \"{BLOCKED}\"\nemail = \"bloqueado@example.com\"\nrol = \"usuario\"\npassword_hash = \"{blocked}\"\nactive = false\n\n\
             [[users]]\nusername = \"ops\"\nemail = \"{OPS_EMAIL}\"\nrol = \"admin\"\npassword_hash = \"{ops}\"\nvirtual_operator = \"AcmeCorp\"\n"
        );
        let path = std::env::temp_dir().join(format!("auth-test-users-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    })
}

/// The test's time, as one replica sees it: the app's clock and, on Redis, the store's offset.
///
/// `advance_secs`/`set_ms` move time for the replica and its store together (on the embedded store they
/// are one clock); `skew_secs` moves only the replica's own clock, as a replica whose clock is off.
#[derive(Debug, Clone)]
pub struct TestClock {
    process: ManualClock,
    redis: Option<Arc<RedisStore>>,
}

impl TestClock {
    pub fn advance_secs(&self, secs: i64) {
        self.process.advance_secs(secs);
        if let Some(redis) = &self.redis {
            redis.advance_time_ms(secs * 1000);
        }
    }

    pub fn set_ms(&self, now_ms: i64) {
        let delta = now_ms - self.process.now_ms();
        self.process.set_ms(now_ms);
        if let Some(redis) = &self.redis {
            redis.advance_time_ms(delta);
        }
    }

    /// This replica's clock only; on the embedded store that is the store's clock too.
    pub fn skew_secs(&self, secs: i64) {
        self.process.advance_secs(secs);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.process.now_ms()
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub clock: TestClock,
    pub app: App,
    pub prefix: String,
    _shutdown: oneshot::Sender<()>,
}

impl TestApp {
    /// On Redis, with the contract's defaults.
    pub async fn spawn() -> Self {
        Self::spawn_with(StoreKind::Redis, &[]).await
    }

    pub async fn spawn_with(kind: StoreKind, extra: &[(&str, &str)]) -> Self {
        Self::spawn_on(kind, &unique_prefix(), extra).await
    }

    /// Under a given key prefix, so several apps can act as replicas of one deployment.
    pub async fn spawn_on(kind: StoreKind, prefix: &str, extra: &[(&str, &str)]) -> Self {
        let prefix = prefix.to_string();
        let mut pairs: Vec<(String, String)> = vec![
            ("JWT_SECRET".into(), SECRET.into()),
            ("API_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("API_USER_EMAIL".into(), "admin@example.com".into()),
            ("USERS_FILE".into(), users_file().into()),
            ("REDIS_KEY_PREFIX".into(), prefix.clone()),
            ("MFA_ENCRYPTION_KEY".into(), MFA_KEY.into()),
        ];
        if kind == StoreKind::Redis {
            pairs.push(("REDIS_URL".into(), redis_url()));
        }
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        let config = AuthConfig::from_pairs(pairs).unwrap();
        let process = ManualClock::starting_now();
        // On Redis the store is built here, so the test can move its time too.
        let redis = config
            .common
            .redis
            .as_ref()
            .map(|target| Arc::new(RedisStore::to(target, &config.common.redis_key_prefix).unwrap()));
        let app = match &redis {
            Some(store) => {
                App::build_with_store(config, Arc::new(process.clone()), Stores::of(store.clone()))
            }
            None => App::build(config, Arc::new(process.clone())),
        }
        .unwrap();
        let clock = TestClock { process, redis };
        let (tx, rx) = oneshot::channel::<()>();
        let (addr, server) = app
            .clone()
            .bind("127.0.0.1:0".parse().unwrap(), async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        tokio::spawn(server);
        Self {
            addr,
            client: reqwest::Client::new(),
            clock,
            app,
            prefix,
            _shutdown: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self.client.post(self.url(path)).json(&body).send().await.unwrap();
        read(res).await
    }

    pub async fn post_bearer(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    pub async fn post_login(&self, username: &str, password: &str) -> (u16, Value) {
        self.post_json(
            "/auth/login",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Logs the admin in; (access, refresh).
    pub async fn login_tokens(&self) -> (String, String) {
        self.login_tokens_as(ADMIN, ADMIN_PASSWORD).await
    }

    pub async fn login_tokens_as(&self, username: &str, password: &str) -> (String, String) {
        let (status, body) = self.post_login(username, password).await;
        assert_eq!(status, 200, "{body}");
        tokens(&body)
    }

    pub async fn post_refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.post_json("/auth/refresh", json!({ "refreshToken": refresh_token }))
            .await
    }

    pub async fn get_me(&self, access_token: &str) -> (u16, Value) {
        self.get_bearer("/auth/me", access_token).await
    }

    pub async fn introspect(&self, token: &str) -> Value {
        let (status, body) = self
            .post_json("/auth/introspect", json!({ "token": token }))
            .await;
        assert_eq!(status, 200, "{body}");
        body["datos"].clone()
    }
}

pub async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// (access, refresh) from a login or refresh body.
pub fn tokens(body: &Value) -> (String, String) {
    (
        body["datos"]["accessToken"].as_str().unwrap().to_string(),
        body["datos"]["refreshToken"].as_str().unwrap().to_string(),
    )
}

pub fn codigo(body: &Value) -> &str {
    body["codigo"].as_str().unwrap_or("")
}

/// The claims of a token, read without verification (tests only).
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A token with any header and claims, HMAC-signed with `secret` using `alg`.
pub fn forge(header: &Value, claims: &Value, secret: &str, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret.as_bytes()),
        alg,
    )
    .unwrap();
    format!("{message}.{signature}")
}

pub fn kid(secret: &str) -> String {
    shared::token::kid_for(secret.as_bytes())
}

/// Access claims as the service would issue them for the admin, valid now.
pub fn access_claims(now: i64) -> Value {
    json!({
        "sub": "1", "jti": "forged-jti", "sid": "forged-sid", "iat": now, "nbf": now, "exp": now + 600,
        "iss": ISSUER, "aud": AUDIENCE, "typ": "access",
        "username": ADMIN, "email": "admin@example.com", "rol": "admin"
    })
}

pub fn hs256_header(secret: &str) -> Value {
    json!({ "alg": "HS256", "typ": "JWT", "kid": kid(secret) })
}

/// What a backend in another language does by the tutorials (PyJWT's `decode(secret, algorithms=
/// ["HS256"], audience=..., issuer=...)`): signature with the secret, `iss` and `aud`, nothing more.
pub fn plain_decode(token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
}

/// Why a service configured with `pairs` does not start (its error, as the operator reads it); empty
/// when it starts.
pub async fn start_error(pairs: &[(&str, &str)]) -> String {
    let config = AuthConfig::from_pairs(pairs.iter().copied()).unwrap();
    let app = App::build(config, Arc::new(shared::SystemClock)).unwrap();
    app.bind("127.0.0.1:0".parse().unwrap(), async {})
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}
