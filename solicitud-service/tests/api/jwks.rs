//! A backend that can verify but never mint: auth-service signing with EdDSA and publishing its keys,
//! solicitud-service verifying with `JWT_JWKS_URL` and no secret, both real processes on Redis.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use test_support::{free_port, sibling_binary, ServiceProcess};

use crate::helpers::{codigo, read, redis_url, unique_prefix, SECRET};

const ADMIN_PASSWORD: &str = "jwks admin password";
const KEY_ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn start(name: &str, vars: &[(&str, String)]) -> ServiceProcess {
    let binary = sibling_binary(env!("CARGO_BIN_EXE_solicitud-service"), name)
        .unwrap_or_else(|e| panic!("no {name} binary: {e}"));
    ServiceProcess::start(binary, vars).unwrap_or_else(|e| panic!("{name} did not start: {e}"))
}

fn auth_vars(prefix: &str, addr: &str) -> Vec<(&'static str, String)> {
    vec![
        ("JWT_ALGORITHM", "EdDSA".to_string()),
        ("JWT_SECRET", SECRET.to_string()),
        ("KEY_ENCRYPTION_KEY", KEY_ENCRYPTION_KEY.to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("MFA_ENABLED", "false".to_string()),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix.to_string()),
        ("AUTH_BIND_ADDR", addr.to_string()),
        ("RATE_LIMIT_IP_PER_MINUTE", "100000".to_string()),
    ]
}

/// solicitud-service verifying with the JWKS at `auth_addr`: no `JWT_SECRET` at all.
fn solicitud_vars(prefix: &str, auth_addr: &str) -> Vec<(&'static str, String)> {
    vec![
        ("JWT_ALGORITHM", "EdDSA".to_string()),
        (
            "JWT_JWKS_URL",
            format!("http://{auth_addr}/.well-known/jwks.json"),
        ),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix.to_string()),
        ("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()),
    ]
}

async fn status_of(client: &reqwest::Client, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    read(req.send().await.unwrap()).await
}

async fn access_token(client: &reqwest::Client, auth: &ServiceProcess) -> String {
    let res = client
        .post(auth.url("/auth/login"))
        .json(&json!({"username": "api_user", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    body["datos"]["accessToken"].as_str().unwrap().to_string()
}

/// How many times auth-service served its JWKS, from its metrics.
async fn jwks_served(client: &reqwest::Client, auth: &ServiceProcess) -> u64 {
    let text = client
        .get(auth.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("http_requests_total") && l.contains("route=\"/.well-known/jwks.json\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn a_backend_without_the_secret_verifies_eddsa_tokens_with_the_published_keys() {
    let prefix = unique_prefix();
    let auth_addr = format!("127.0.0.1:{}", free_port().unwrap());
    let client = reqwest::Client::new();

    // Started while auth-service is down: never held a set, so not ready, and no token verifies.
    let sol = start("solicitud-service", &solicitud_vars(&prefix, &auth_addr));
    let (status, body) = status_of(&client, sol.url("/ready"), None).await;
    assert_eq!((status, codigo(&body)), (503, "SERVICE_UNAVAILABLE"), "{body}");
    // A token it cannot check yet is 503 (try again), not 401 (a client would drop a good token).
    let unchecked = format!(
        "{}.{}.{}",
        base64_url(r#"{"alg":"EdDSA","typ":"JWT","kid":"not-fetched-yet"}"#),
        base64_url(r#"{"sub":"1"}"#),
        base64_url("a signature")
    );
    let (status, body) = status_of(&client, sol.url("/solicitud/"), Some(&unchecked)).await;
    assert_eq!((status, codigo(&body)), (503, "SERVICE_UNAVAILABLE"), "{body}");

    // auth-service comes up: the backend fetches the set and becomes ready within seconds.
    let auth = start("auth-service", &auth_vars(&prefix, &auth_addr));
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(&client, sol.url("/ready"), None).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready after auth-service started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = access_token(&client, &auth).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let (status, body) = status_of(&client, sol.url("/solicitud/"), Some(&token)).await;
    assert_eq!(status, 200, "{body}");

    // Algorithm confusion: a token that says HS256, signed with the secret auth-service holds (for its
    // refresh tokens), with the right kid and claims, is refused.
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&token)
        .unwrap()
        .claims;
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = header.kid.clone();
    let forged = jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    let (status, body) = status_of(&client, sol.url("/solicitud/"), Some(&forged)).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"), "{body}");

    // A flood of tokens naming made-up kids costs auth-service a handful of fetches, not one each.
    let before = jwks_served(&client, &auth).await;
    let payload = token.split('.').nth(1).unwrap().to_string();
    let started = Instant::now();
    for i in 0..1000 {
        let junk_header = json!({"alg": "EdDSA", "typ": "JWT", "kid": format!("junk-{i}")});
        let junk = format!(
            "{}.{payload}.{}",
            base64_url(&junk_header.to_string()),
            base64_url("not a signature")
        );
        let (status, _) = status_of(&client, sol.url("/solicitud/"), Some(&junk)).await;
        assert_eq!(status, 401);
    }
    let fetched = jwks_served(&client, &auth).await - before;
    let window = started.elapsed().as_secs() / 5 + 2;
    assert!(
        fetched <= window,
        "{fetched} JWKS fetches for 1000 junk kids in {:?}",
        started.elapsed()
    );

    // auth-service goes away: the set held goes on verifying.
    drop(auth);
    let (status, body) = status_of(&client, sol.url("/solicitud/"), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_of(&client, sol.url("/ready"), None).await.0, 200);
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn an_asymmetric_backend_needs_the_key_set_and_an_hmac_one_refuses_it() {
    use shared::config::FromVars;
    use solicitud_service::config::SolicitudConfig;
    let err = SolicitudConfig::from_pairs([("JWT_ALGORITHM", "EdDSA")])
        .err()
        .map(|e| e.vars());
    assert_eq!(err, Some(vec!["JWT_JWKS_URL"]));
    assert!(SolicitudConfig::from_pairs([
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_JWKS_URL", "http://auth-service:8001/.well-known/jwks.json"),
    ])
    .is_ok());
    let err = SolicitudConfig::from_pairs([
        ("JWT_SECRET", SECRET),
        ("JWT_JWKS_URL", "http://auth-service:8001/.well-known/jwks.json"),
    ])
    .err()
    .map(|e| e.vars());
    assert_eq!(
        err,
        Some(vec!["JWT_JWKS_URL"]),
        "an HMAC algorithm has no published keys"
    );
    let err = SolicitudConfig::from_pairs([("JWT_ALGORITHM", "HS256")])
        .err()
        .map(|e| e.vars());
    assert_eq!(err, Some(vec!["JWT_SECRET"]));
}
