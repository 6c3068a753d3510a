//! `TestSystem`: the whole system in process on a free port, and the requests tests make.

use std::net::SocketAddr;
use std::sync::Arc;

use all_in_one::config::AllInOneConfig;
use all_in_one::System;
use serde_json::{json, Value};
use shared::config::FromVars;
use shared::SystemClock;
use tokio::sync::oneshot;

pub const SECRET: &str = "all-in-one-test-secret-0123456789abcdef";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// 32 bytes in base64, for MFA_ENCRYPTION_KEY (required with Redis).
const MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis,
}

pub struct TestSystem {
    pub addr: SocketAddr,
    /// Its store's key prefix (`REDIS_KEY_PREFIX`), its own.
    pub prefix: String,
    pub client: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

impl TestSystem {
    pub async fn spawn(kind: StoreKind) -> Self {
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        Self::spawn_with(kind, prefix, &[]).await
    }

    /// On this key prefix (a second system on the same one sees the first one's data, as a restart
    /// does), with more variables.
    pub async fn spawn_with(kind: StoreKind, prefix: String, more: &[(&str, String)]) -> Self {
        let mut pairs = vec![
            ("JWT_SECRET".to_string(), SECRET.to_string()),
            ("API_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("MFA_ENCRYPTION_KEY".into(), MFA_KEY.into()),
            ("REDIS_KEY_PREFIX".into(), prefix.clone()),
        ];
        if kind == StoreKind::Redis {
            pairs.push(("REDIS_URL".into(), test_support::redis_url()));
        }
        pairs.extend(more.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let config = AllInOneConfig::from_pairs(pairs).unwrap();
        let system = System::build(config, Arc::new(SystemClock)).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let (addr, server) = system
            .bind("127.0.0.1:0".parse().unwrap(), async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        tokio::spawn(server);
        Self {
            addr,
            prefix,
            client: reqwest::Client::new(),
            _shutdown: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Any request; (status, headers, body as JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, headers, body)
    }

    /// Logs the bootstrap admin in; the access token.
    pub async fn login(&self) -> String {
        let (status, _, body) = self
            .send(
                "POST",
                "/auth/login",
                None,
                Some(json!({"username": "api_user", "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["datos"]["accessToken"].as_str().unwrap().to_string()
    }
}

pub fn codigo(body: &Value) -> &str {
    body["codigo"].as_str().unwrap_or("")
}

/// A request body for `POST /solicitud/`, for a trip in the future.
pub fn new_solicitud() -> Value {
    json!({
        "origen": "Bogotá",
        "destino": "Tunja",
        "fechaServicio": "2099-01-01T08:00:00Z",
        "pasajeros": 2,
        "motivo": "Audiencia"
    })
}
