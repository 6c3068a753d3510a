//! The OAuth 2.0 and OpenID Connect scenarios' set-up: clients registered over the admin API, a
//! signed-in browser, and the code exchanges and refresh chains they load.

use std::sync::Arc;

use crate::measure::Step;
use crate::services::{json_of, Service, PASSWORD};
use crate::steps::succeeded;
use serde_json::{json, Value};

/// Registers a client with `metadata` through the admin API; its secret.
async fn register(client: &reqwest::Client, auth: &Service, admin_access: &str, metadata: Value) -> String {
    let body = json_of(
        client
            .post(auth.url("/admin/clients"))
            .bearer_auth(admin_access)
            .json(&metadata),
    )
    .await;
    body["datos"]["client_secret"]
        .as_str()
        .unwrap_or_else(|| panic!("the client was not registered: {body}"))
        .to_string()
}

/// Registers a machine client through the admin API; its secret.
pub(crate) async fn register_client(
    client: &reqwest::Client,
    auth: &Service,
    admin_access: &str,
    client_id: &str,
) -> String {
    let metadata = json!({"client_id": client_id, "client_name": "loadgen",
                          "grant_types": ["client_credentials"], "scope": "solicitud:read"});
    register(client, auth, admin_access, metadata).await
}

/// The OpenID Connect client of the code-flow scenarios: confidential, first-party (no consent).
pub(crate) const WEB_CLIENT: &str = "loadgen-web";
pub(crate) const WEB_CALLBACK: &str = "http://localhost:9/cb";

/// Registers [`WEB_CLIENT`]; its secret.
pub(crate) async fn register_web_client(
    client: &reqwest::Client,
    auth: &Service,
    admin_access: &str,
) -> String {
    let metadata = json!({"client_id": WEB_CLIENT, "client_name": "loadgen web",
                          "grant_types": ["authorization_code", "refresh_token"],
                          "redirect_uris": [WEB_CALLBACK], "scope": "openid profile",
                          "first_party": true});
    register(client, auth, admin_access, metadata).await
}

/// A client that keeps redirects for the caller to read.
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn authorize_url(auth: &Service) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", WEB_CLIENT),
        ("redirect_uri", WEB_CALLBACK),
        ("scope", "openid profile"),
        ("state", "s"),
        ("nonce", "n"),
    ])
    .unwrap();
    auth.url(&format!("/oauth2/authorize?{query}"))
}

/// The value of the hidden field `name` of a page of the hosted login page.
pub(crate) fn field(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// Signs the admin in on the hosted login page, as a browser: the browser session's cookie.
pub(crate) async fn browser_session(auth: &Service) -> String {
    let http = no_redirects();
    let page = http.get(authorize_url(auth)).send().await.unwrap();
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            v.to_str()
                .ok()?
                .strip_prefix("csrf=")?
                .split(';')
                .next()
                .map(String::from)
        })
        .unwrap();
    let html = page.text().await.unwrap();
    let done = http
        .post(auth.url("/oauth2/login"))
        .header("cookie", format!("csrf={csrf_cookie}"))
        .form(&[
            ("csrf", field(&html, "csrf")),
            ("req", field(&html, "req")),
            ("username", "api_user".to_string()),
            ("password", PASSWORD.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status().as_u16(),
        303,
        "the hosted login page did not sign in"
    );
    done.headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            v.to_str()
                .ok()?
                .strip_prefix("sso=")?
                .split(';')
                .next()
                .map(String::from)
        })
        .unwrap()
}

/// One authorization code, for a browser signed in already (single sign-on: one GET).
pub(crate) async fn code_of(http: &reqwest::Client, authorize: &str, sso: &str) -> Option<String> {
    let res = http
        .get(authorize)
        .header("cookie", format!("sso={sso}"))
        .send()
        .await
        .ok()?;
    let location = res.headers().get("location")?.to_str().ok()?;
    let url = reqwest::Url::parse(location).ok()?;
    let code = url.query_pairs().find(|(k, _)| k == "code")?.1.into_owned();
    Some(code)
}

/// A worker that gets a code (the authorization endpoint, signed in already) and exchanges it at the
/// token endpoint, over and over: two requests per exchange.
pub(crate) fn code_exchange_step(auth: &Service, sso: String, secret: String) -> Step {
    let (authorize, token) = (authorize_url(auth), auth.url("/oauth2/token"));
    let http = no_redirects();
    Box::new(move |_: &reqwest::Client| {
        let (http, authorize, token, sso, secret) = (
            http.clone(),
            authorize.clone(),
            token.clone(),
            sso.clone(),
            secret.clone(),
        );
        Box::pin(async move {
            let Some(code) = code_of(&http, &authorize, &sso).await else {
                return false;
            };
            let req = http.post(&token).basic_auth(WEB_CLIENT, Some(&secret)).form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", WEB_CALLBACK),
            ]);
            succeeded(req).await
        })
    })
}

/// `n` workers refreshing, at the token endpoint, sessions of [`WEB_CLIENT`] from code exchanges.
pub(crate) async fn oauth_refresh_workers(auth: &Service, sso: &str, secret: &str, n: usize) -> Vec<Step> {
    let http = no_redirects();
    let (authorize, token) = (authorize_url(auth), auth.url("/oauth2/token"));
    let mut workers = Vec::new();
    for _ in 0..n {
        let code = code_of(&http, &authorize, sso).await.unwrap();
        let body = json_of(http.post(&token).basic_auth(WEB_CLIENT, Some(secret)).form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", WEB_CALLBACK),
        ]))
        .await;
        let current = Arc::new(std::sync::Mutex::new(
            body["refresh_token"].as_str().unwrap().to_string(),
        ));
        let (token, secret) = (token.clone(), secret.to_string());
        workers.push(Box::new(move |client: &reqwest::Client| {
            let refresh = current.lock().unwrap().clone();
            let req = client.post(&token).basic_auth(WEB_CLIENT, Some(&secret)).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ]);
            let current = current.clone();
            Box::pin(async move {
                let Ok(res) = req.send().await else { return false };
                let Ok(body) = res.json::<Value>().await else {
                    return false;
                };
                match body["refresh_token"].as_str() {
                    Some(next) => {
                        *current.lock().unwrap() = next.to_string();
                        true
                    }
                    None => false,
                }
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
        }) as Step);
    }
    workers
}
