//! The requests the workers send: one [`Step`] per worker, each with its own state (a refresh chain
//! carries its next token).

use std::sync::Arc;

use crate::measure::Step;
use crate::services::{json_of, Service, PASSWORD};
use serde_json::{json, Value};

/// Sends a request and reads the whole body; `true` for a 2xx.
pub(crate) async fn succeeded(req: reqwest::RequestBuilder) -> bool {
    match req.send().await {
        Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
        Err(_) => false,
    }
}

pub(crate) fn get_step(url: String, token: Option<String>) -> Step {
    Box::new(move |client: &reqwest::Client| {
        let mut req = client.get(&url);
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        Box::pin(succeeded(req))
    })
}

pub(crate) fn post_step(url: String, body: Value) -> Step {
    Box::new(move |client: &reqwest::Client| {
        let req = client.post(&url).json(&body);
        Box::pin(succeeded(req))
    })
}

/// A worker that asks `/oauth2/token` for a client_credentials token over and over (HTTP Basic).
pub(crate) fn client_credentials_step(url: String, client_id: String, secret: String) -> Step {
    Box::new(move |client: &reqwest::Client| {
        let req = client
            .post(&url)
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")]);
        Box::pin(succeeded(req))
    })
}

/// A worker that refreshes its own session over and over, each time with the token it just got.
pub(crate) fn refresh_chain_step(url: String, first: String) -> Step {
    let current = Arc::new(std::sync::Mutex::new(first));
    Box::new(move |client: &reqwest::Client| {
        let token = current.lock().unwrap().clone();
        let req = client.post(&url).json(&json!({ "refreshToken": token }));
        let current = current.clone();
        Box::pin(async move {
            let Ok(res) = req.send().await else { return false };
            let Ok(body) = res.json::<Value>().await else {
                return false;
            };
            match body["datos"]["refreshToken"].as_str() {
                Some(next) => {
                    *current.lock().unwrap() = next.to_string();
                    true
                }
                None => false,
            }
        })
    })
}

pub(crate) async fn login(client: &reqwest::Client, auth: &Service) -> Value {
    let body = json_of(
        client
            .post(auth.url("/auth/login"))
            .json(&json!({"username": "api_user", "password": PASSWORD})),
    )
    .await;
    assert_eq!(body["exito"], true, "login failed: {body}");
    body["datos"].clone()
}

pub(crate) async fn refresh_workers(auth: &Service, n: usize) -> Vec<Step> {
    let client = reqwest::Client::new();
    let mut workers = Vec::new();
    for _ in 0..n {
        let datos = login(&client, auth).await;
        workers.push(refresh_chain_step(
            auth.url("/auth/refresh"),
            datos["refreshToken"].as_str().unwrap().into(),
        ));
    }
    workers
}

/// Refreshes one session `n` times, one request after the other; the last refresh token.
pub(crate) async fn refresh_in_turn(
    client: &reqwest::Client,
    auth: &Service,
    mut token: String,
    n: usize,
) -> String {
    for _ in 0..n {
        let body = json_of(
            client
                .post(auth.url("/auth/refresh"))
                .json(&json!({ "refreshToken": token })),
        )
        .await;
        token = body["datos"]["refreshToken"].as_str().unwrap().to_string();
    }
    token
}
