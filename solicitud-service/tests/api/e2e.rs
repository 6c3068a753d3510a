//! End to end: both binaries as real processes on free ports with Redis, running the seed's flow
//! across them. The solicitud service is never told where the auth service is: it only shares the secret.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use test_support::{hash_password, sibling_binary, ServiceProcess};

use crate::helpers::{codigo, read, redis_url, unique_prefix, SECRET};

const ADMIN_PASSWORD: &str = "e2e admin password";
const MARIA_PASSWORD: &str = "e2e maria password";

fn binary(name: &str) -> PathBuf {
    sibling_binary(env!("CARGO_BIN_EXE_solicitud-service"), name)
        .unwrap_or_else(|e| panic!("no {name} binary: {e}"))
}

/// Starts a service with JSON logs and waits for its "listening" line to learn the port.
fn start(name: &str, vars: &[(&str, String)]) -> ServiceProcess {
    ServiceProcess::start(binary(name), vars).unwrap_or_else(|e| panic!("{name} did not start: {e}"))
}

fn hash(password: &str) -> String {
    hash_password(binary("auth-service"), password).unwrap()
}

async fn login(client: &reqwest::Client, auth: &ServiceProcess, username: &str, password: &str) -> Value {
    let res = client
        .post(auth.url("/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_seeds_flow_runs_across_both_services() {
    let users = std::env::temp_dir().join(format!("e2e-users-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &users,
        format!(
            "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"usuario\"\npassword_hash = \"{}\"\n",
            hash(MARIA_PASSWORD)
        ),
    )
    .unwrap();
    let prefix = unique_prefix();
    let common = vec![
        ("JWT_SECRET", SECRET.to_string()),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix),
    ];
    let mut auth_vars = common.clone();
    auth_vars.extend([
        ("AUTH_BIND_ADDR", "127.0.0.1:0".to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        (
            "MFA_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string(),
        ),
        ("USERS_FILE", users.to_string_lossy().into_owned()),
    ]);
    let mut sol_vars = common;
    sol_vars.push(("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()));
    let auth = start("auth-service", &auth_vars);
    let sol = start("solicitud-service", &sol_vars);
    let client = reqwest::Client::new();
    let list = sol.url("/solicitud/");

    // Login at the auth service; the token works at the solicitud service.
    let body = login(&client, &auth, "api_user", ADMIN_PASSWORD).await;
    let access = body["datos"]["accessToken"].as_str().unwrap().to_string();
    let refresh = body["datos"]["refreshToken"].as_str().unwrap().to_string();
    let (status, body) = read(client.get(&list).bearer_auth(&access).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");

    // No token.
    let (status, body) = read(client.get(&list).send().await.unwrap()).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_MISSING"));

    // Refresh, and the new access token works at the solicitud service.
    let res = client
        .post(auth.url("/auth/refresh"))
        .json(&json!({"refreshToken": refresh}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    let admin = body["datos"]["accessToken"].as_str().unwrap().to_string();
    assert_eq!(
        read(client.get(&list).bearer_auth(&admin).send().await.unwrap())
            .await
            .0,
        200
    );

    // A token forged with a past exp: 401 with the seed's detalle.
    let now = shared::Clock::now_secs(&shared::SystemClock);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(shared::token::kid_for(SECRET.as_bytes()));
    let claims = |exp: i64| {
        json!({"sub": "1", "jti": "x", "sid": "x", "iat": now - 7200, "nbf": now - 7200, "exp": exp,
               "iss": "auth-service", "aud": "solicitud-transporte-api", "typ": "access",
               "username": "api_user", "email": "api_user@example.com", "rol": "admin"})
    };
    let expired = jsonwebtoken::encode(
        &header,
        &claims(now - 60),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = read(client.get(&list).bearer_auth(&expired).send().await.unwrap()).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_EXPIRED"));
    assert_eq!(
        body["detalle"],
        "El token de acceso ha expirado. Use el refresh token para obtener uno nuevo."
    );

    // A token signed with another secret.
    let foreign = jsonwebtoken::encode(
        &header,
        &claims(now + 600),
        &EncodingKey::from_secret(b"some-other-secret-that-is-long-enough!!"),
    )
    .unwrap();
    let (status, body) = read(client.get(&list).bearer_auth(&foreign).send().await.unwrap()).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"));

    // The Saphety-style gettoken token is accepted like any access token.
    let res = client
        .post(auth.url("/v2/auth/gettoken"))
        .json(&json!({"username": "api_user@example.com", "password": ADMIN_PASSWORD, "virtual_operator": "saphety"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    let saphety = body["ResultData"]["access_token"].as_str().unwrap();
    assert_eq!(
        read(client.get(&list).bearer_auth(saphety).send().await.unwrap())
            .await
            .0,
        200
    );

    // A usuario creates a request, the admin approves it, the usuario sees it approved.
    let body = login(&client, &auth, "maria", MARIA_PASSWORD).await;
    let maria = body["datos"]["accessToken"].as_str().unwrap().to_string();
    let res = client
        .post(&list)
        .bearer_auth(&maria)
        .json(&crate::helpers::valid_request())
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 201, "{body}");
    let id = body["datos"]["id"].as_u64().unwrap();
    let res = client
        .patch(sol.url(&format!("/solicitud/{id}/estado")))
        .bearer_auth(&admin)
        .json(&json!({"estado": "aprobada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 200);
    let (status, body) = read(
        client
            .get(sol.url(&format!("/solicitud/{id}")))
            .bearer_auth(&maria)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["datos"]["estado"], "aprobada");

    let _ = std::fs::remove_file(users);
}

/// The line every request leaves (`LOG_FORMAT=json`): one JSON object with the event's fields at the
/// top, its target, and the request's id in the current span and in the span list, as operators'
/// log queries read it.
#[tokio::test]
async fn each_request_leaves_one_json_line_carrying_its_request_id() {
    let sol = start(
        "solicitud-service",
        &[
            ("JWT_SECRET", SECRET.to_string()),
            ("REDIS_URL", redis_url()),
            ("REDIS_KEY_PREFIX", unique_prefix()),
            ("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()),
        ],
    );
    let client = reqwest::Client::new();
    let id = format!("log-shape-{}", uuid::Uuid::new_v4().simple());
    let res = client
        .get(sol.url("/solicitud/"))
        .header("X-Request-Id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        sol.wait_for_log(&id, std::time::Duration::from_secs(5)),
        "{:?}",
        sol.logs()
    );
    let lines: Vec<Value> = sol
        .logs()
        .iter()
        .filter(|l| l.contains(&id))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["target"], "http", "{line}");
    assert_eq!(line["message"], "request", "{line}");
    assert_eq!(line["service"], "solicitud-service", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["path"], "/solicitud/", "{line}");
    assert_eq!(line["status"], 401, "{line}");
    assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    assert!(
        line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{line}"
    );
    assert_eq!(line["span"]["name"], "request", "{line}");
    assert_eq!(line["span"]["request_id"], id.as_str(), "{line}");
    assert_eq!(line["spans"][0]["request_id"], id.as_str(), "{line}");
    assert!(line.get("fields").is_none(), "the fields are flattened: {line}");
}
