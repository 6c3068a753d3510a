//! `TestApp`: a running solicitud service, and access tokens minted with the shared codec (the same
//! code the auth service signs with).

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use shared::config::FromVars;
pub use shared::Clock;
use shared::{AccessClaims, ManualClock, Rol, TokenCodec, TokenKind};
use solicitud_service::app::App;
use solicitud_service::config::SolicitudConfig;
use tokio::sync::oneshot;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

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

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub codec: TokenCodec,
    _shutdown: oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn(kind: StoreKind) -> Self {
        Self::spawn_with(kind, &[]).await
    }

    pub async fn spawn_with(kind: StoreKind, extra: &[(&str, &str)]) -> Self {
        let mut pairs = vec![
            ("JWT_SECRET".to_string(), SECRET.to_string()),
            ("REDIS_KEY_PREFIX".to_string(), unique_prefix()),
        ];
        if kind == StoreKind::Redis {
            pairs.push(("REDIS_URL".into(), redis_url()));
        }
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        let config = SolicitudConfig::from_pairs(pairs).unwrap();
        let clock = ManualClock::starting_now();
        let codec = TokenCodec::new(&config.common.jwt, Arc::new(clock.clone()));
        let app = App::build(config, Arc::new(clock.clone())).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let (addr, server) = app
            .bind("127.0.0.1:0".parse().unwrap(), async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        tokio::spawn(server);
        let app = Self {
            addr,
            client: reqwest::Client::new(),
            clock,
            codec,
            _shutdown: tx,
        };
        if kind == StoreKind::Redis {
            app.wait_ready().await;
        }
        app
    }

    /// Waits (at most 5 s) for `/ready`: with Redis, until the revocation feed has been read.
    pub async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let ready = self.client.get(self.url("/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "not ready within 5 s");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// An access token for `username` with `rol`, valid for an hour from the test clock's now.
    pub fn token(&self, username: &str, rol: Rol) -> String {
        let now = self.clock.now_secs();
        self.codec
            .sign(&AccessClaims {
                sub: username.len().to_string(),
                jti: uuid::Uuid::new_v4().to_string(),
                sid: "test-session".into(),
                iat: now,
                nbf: now,
                exp: now + 3600,
                iss: self.codec.issuer().into(),
                aud: self.codec.audience().into(),
                typ: TokenKind::Access,
                username: username.into(),
                email: format!("{username}@example.com"),
                rol: Some(rol),
                client_id: None,
                scope: None,
            })
            .unwrap()
    }

    /// An access token as the token endpoint issues one: a machine client's (`rol` `None`) or a
    /// person's with `scope`, valid for an hour.
    pub fn scoped_token(&self, person: Option<(&str, Rol)>, scope: &str) -> String {
        let now = self.clock.now_secs();
        let (sub, sid, username, email, rol, client_id) = match person {
            Some((username, rol)) => (
                username.len().to_string(),
                "test-session".to_string(),
                username.to_string(),
                format!("{username}@example.com"),
                Some(rol),
                "some-app".to_string(),
            ),
            None => (
                "billing-service".to_string(),
                String::new(),
                String::new(),
                String::new(),
                None,
                "billing-service".to_string(),
            ),
        };
        self.codec
            .sign(&AccessClaims {
                sub,
                jti: uuid::Uuid::new_v4().to_string(),
                sid,
                iat: now,
                nbf: now,
                exp: now + 3600,
                iss: self.codec.issuer().into(),
                aud: self.codec.audience().into(),
                typ: TokenKind::Access,
                username,
                email,
                rol,
                client_id: Some(client_id),
                scope: Some(scope.into()),
            })
            .unwrap()
    }

    pub fn admin(&self) -> String {
        self.token("admin", Rol::Admin)
    }

    pub fn maria(&self) -> String {
        self.token("maria", Rol::Usuario)
    }

    pub fn pedro(&self) -> String {
        self.token("pedro", Rol::Usuario)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        read(
            self.client
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        read(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        read(
            self.client
                .patch(self.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Creates a valid request as the owner of `token`; returns its id.
    pub async fn create(&self, token: &str) -> u64 {
        let (status, body) = self.post("/solicitud/", token, valid_request()).await;
        assert_eq!(status, 201, "{body}");
        body["datos"]["id"].as_u64().unwrap()
    }
}

pub fn valid_request() -> Value {
    json!({
        "origen": "Bogotá, Calle 26",
        "destino": "Aeropuerto El Dorado",
        "fechaServicio": "2031-06-01T08:30:00-05:00",
        "pasajeros": 3,
        "motivo": "Traslado de testigos a audiencia"
    })
}

pub async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

pub fn codigo(body: &Value) -> &str {
    body["codigo"].as_str().unwrap_or("")
}
