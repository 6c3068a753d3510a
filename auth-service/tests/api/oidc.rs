//! OpenID Connect: the authorization code flow with PKCE through the hosted login page, as a browser
//! drives it (cookies kept, redirects not followed), the code exchange, ID tokens checked against the
//! published JWKS, userinfo, refresh bound to the client, SSO, logout, and every refusal the contract
//! names. (Relying parties nobody here wrote drive the same flow in `deploy-tests/oidc`.)

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{claims_of, read, unique_prefix, StoreKind, TestApp, MARIA, MARIA_PASSWORD};
use crate::mfa::{code_at, maria_enrolled};

const ISSUER: &str = "http://localhost:8000";
const CB: &str = "http://localhost:9999/cb";
const BYE: &str = "http://localhost:9999/bye";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn oidc_app(kind: StoreKind) -> TestApp {
    TestApp::spawn_with(kind, &[("JWT_ISSUER", ISSUER)]).await
}

/// A client registered through the admin API; its secret (empty for a public one).
async fn register(app: &TestApp, metadata: Value) -> String {
    let token = app.login_tokens().await.0;
    let res = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(token)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 201, "{body}");
    body["datos"]["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn web_client(id: &str, first_party: bool) -> Value {
    json!({"client_id": id, "client_name": format!("App {id}"),
           "grant_types": ["authorization_code", "refresh_token"],
           "redirect_uris": [CB], "post_logout_redirect_uris": [BYE],
           "scope": "openid profile email solicitud:read", "first_party": first_party})
}

/// A browser: keeps cookies, does not follow redirects.
struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// An answer as the browser saw it.
struct Seen {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Seen {
    fn location(&self) -> String {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// The query parameters of the redirect.
    fn redirect_params(&self) -> HashMap<String, String> {
        let url = url::Url::parse(&self.location()).unwrap();
        url.query_pairs().into_owned().collect()
    }

    /// The value of the form field `name`.
    fn field(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\""))?;
        let start = self.body[..at].rfind("<input")?;
        let end = at + self.body[at..].find('>')?;
        let tag = &self.body[start..end];
        let v = tag.find("value=\"")? + 7;
        Some(tag[v..v + tag[v..].find('"')?].to_string())
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn seen(&mut self, res: reqwest::Response) -> Seen {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let body = res.text().await.unwrap();
        Seen {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path_and_query: &str) -> Seen {
        let res = self
            .http
            .get(self.app.url(path_and_query))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.seen(res).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Seen {
        let res = self
            .http
            .post(self.app.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.seen(res).await
    }

    /// `GET /oauth2/authorize` for `client_id` with PKCE, `state` and `nonce`, plus `extra`.
    async fn authorize(&mut self, client_id: &str, extra: &[(&str, &str)]) -> Seen {
        let challenge = challenge(VERIFIER);
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CB),
            ("scope", "openid profile email"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(n, _)| n != k);
            params.push((k, v));
        }
        let query = serde_urlencoded::to_string(&params).unwrap();
        self.get(&format!("/oauth2/authorize?{query}")).await
    }

    /// Submits the login form of `page`.
    async fn log_in(&mut self, page: &Seen, username: &str, password: &str) -> Seen {
        let (csrf, req) = (page.field("csrf").unwrap(), page.field("req").unwrap());
        self.post(
            "/oauth2/login",
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// From the authorization request to the code, signing in as maria.
    async fn code_for(&mut self, client_id: &str) -> String {
        let page = self.authorize(client_id, &[]).await;
        if page.status == 303 {
            // Signed in already (SSO).
            return page.redirect_params()["code"].clone();
        }
        assert_eq!(page.status, 200, "{}", page.body);
        let done = self.log_in(&page, MARIA, MARIA_PASSWORD).await;
        assert_eq!(done.status, 303, "{}", done.body);
        done.redirect_params()["code"].clone()
    }
}

/// The token endpoint, as a confidential client with HTTP Basic.
async fn token(app: &TestApp, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn exchange(app: &TestApp, client: (&str, &str), code: &str, verifier: &str) -> (u16, Value) {
    token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// An ID token verified against the published JWKS, as a relying party would.
async fn verified_id_token(app: &TestApp, id_token: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the ID token's key is published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

async fn userinfo(app: &TestApp, access: &str) -> (u16, Value) {
    let res = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn whole_flow(kind: StoreKind) {
    let app = oidc_app(kind).await;
    let secret = register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);

    let page = browser.authorize("web", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' http://localhost:9999"), "{csp}");
    // Scripts: this service's own file only (the passkey form's), never inline.
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(page.body.contains("autocomplete=\"current-password\""));
    assert!(page.body.contains("App web"));

    let done = browser.log_in(&page, MARIA, MARIA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location().starts_with(CB));
    let params = done.redirect_params();
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], ISSUER);
    let sso = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("sso="))
        .expect("a browser session cookie");
    assert!(sso.contains("HttpOnly") && sso.contains("SameSite=Lax"), "{sso}");

    let (status, body) = exchange(&app, ("web", &secret), &params["code"], VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid email profile");
    let access = body["access_token"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["typ"], "at+jwt", "RFC 9068");
    let at = claims_of(access);
    assert_eq!(at["client_id"], "web");
    assert_eq!(at["username"], MARIA);
    assert_eq!(at["scope"], "openid email profile");

    let id = verified_id_token(&app, body["id_token"].as_str().unwrap(), "web").await;
    assert_eq!(id["sub"], at["sub"]);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["preferred_username"], MARIA);
    assert_eq!(id["email"], "maria@example.com");
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    assert!(id["sid"].as_str().is_some_and(|s| !s.is_empty()));
    let expected_at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]);
    assert_eq!(id["at_hash"], expected_at_hash);
    let jwt_header = jsonwebtoken::decode_header(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(jwt_header.alg, jsonwebtoken::Algorithm::RS256, "RS256 by default");

    let (status, info) = userinfo(&app, access).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], at["sub"]);
    assert_eq!(info["preferred_username"], MARIA);
    assert_eq!(info["email_verified"], false);

    // Refresh at the token endpoint: rotated, bound to the client.
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = token(
        &app,
        ("web", &secret),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        claims_of(refreshed["access_token"].as_str().unwrap())["scope"],
        "openid email profile"
    );
    assert_ne!(refreshed["refresh_token"], body["refresh_token"]);

    // The seed's refresh endpoint refuses a client's refresh token (and nothing rotated).
    let (status, seed) = app
        .post_refresh(refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401, "{seed}");
    let (status, again) = token(
        &app,
        ("web", &secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{again}");
}

#[tokio::test]
async fn the_code_flow_signs_in_on_the_page_and_gives_verified_tokens_on_redis() {
    whole_flow(StoreKind::Redis).await;
}

#[tokio::test]
async fn the_code_flow_signs_in_on_the_page_and_gives_verified_tokens_on_the_embedded_store() {
    whole_flow(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_refresh_token_is_refused_to_another_client_and_the_seeds_to_every_client() {
    let app = oidc_app(StoreKind::Redis).await;
    let web = register(&app, web_client("web", true)).await;
    let other = register(&app, web_client("other", true)).await;
    let mut browser = Browser::new(&app);
    let code = browser.code_for("web").await;
    let (_, body) = exchange(&app, ("web", &web), &code, VERIFIER).await;
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, err) = token(
        &app,
        ("other", &other),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    let (_, seed_refresh) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let (status, err) = token(
        &app,
        ("web", &web),
        &[("grant_type", "refresh_token"), ("refresh_token", &seed_refresh)],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    // Neither refusal rotated anything: the client's own refresh still works.
    let (status, ok) = token(
        &app,
        ("web", &web),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200, "{ok}");
}

#[tokio::test]
async fn a_second_app_signs_in_without_a_password_and_logout_ends_both() {
    let app = oidc_app(StoreKind::Redis).await;
    let a = register(&app, web_client("app-a", true)).await;
    let b = register(&app, web_client("app-b", true)).await;
    let mut browser = Browser::new(&app);
    let code = browser.code_for("app-a").await;
    let (_, tokens_a) = exchange(&app, ("app-a", &a), &code, VERIFIER).await;

    // SSO: straight to the code.
    let sso = browser.authorize("app-b", &[]).await;
    assert_eq!(sso.status, 303, "{}", sso.body);
    let (status, tokens_b) = exchange(&app, ("app-b", &b), &sso.redirect_params()["code"], VERIFIER).await;
    assert_eq!(status, 200, "{tokens_b}");
    let id_b = verified_id_token(&app, tokens_b["id_token"].as_str().unwrap(), "app-b").await;
    let id_a = claims_of(tokens_a["id_token"].as_str().unwrap());
    assert_eq!(id_a["sid"], id_b["sid"], "one browser session");
    assert_eq!(id_a["auth_time"], id_b["auth_time"]);

    // prompt=login asks again even with a session; so does select_account (the login page is where
    // an account is picked).
    for prompt in ["login", "select_account"] {
        let again = browser.authorize("app-b", &[("prompt", prompt)]).await;
        assert_eq!(again.status, 200, "{prompt}");
        assert!(again.field("password").is_some() || again.body.contains("current-password"));
    }

    // Logout with the ID token as hint: at once, to the registered address, with the state.
    let query = serde_urlencoded::to_string([
        ("id_token_hint", tokens_a["id_token"].as_str().unwrap()),
        ("post_logout_redirect_uri", BYE),
        ("state", "bye-1"),
    ])
    .unwrap();
    let out = browser.get(&format!("/oauth2/logout?{query}")).await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.location(), format!("{BYE}?state=bye-1"));
    assert!(!browser.cookies.contains_key("sso"), "the cookie is cleared");
    for access in [&tokens_a["access_token"], &tokens_b["access_token"]] {
        let (status, _) = userinfo(&app, access.as_str().unwrap()).await;
        assert_eq!(status, 401, "what the browser session's codes gave ends with it");
    }
    let fresh = browser.authorize("app-a", &[("prompt", "none")]).await;
    assert_eq!(fresh.redirect_params()["error"], "login_required");
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_refuses_an_unregistered_return_address() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    browser.code_for("web").await;
    let evil = serde_urlencoded::to_string([
        ("client_id", "web"),
        ("post_logout_redirect_uri", "https://evil.example/"),
    ])
    .unwrap();
    let refused = browser.get(&format!("/oauth2/logout?{evil}")).await;
    assert_eq!(refused.status, 400);
    assert!(refused.headers.get("location").is_none());

    let ask = browser.get("/oauth2/logout").await;
    assert_eq!(ask.status, 200);
    let csrf = ask.field("csrf").unwrap();
    let forged = browser.post("/oauth2/logout", &[("confirm", "yes")]).await;
    assert_eq!(forged.status, 403, "a confirmation without its CSRF token");
    assert!(browser.cookies.contains_key("sso"));
    let done = browser
        .post("/oauth2/logout", &[("confirm", "yes"), ("csrf", &csrf)])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Has cerrado la sesión"));
    let after = browser.authorize("web", &[("prompt", "none")]).await;
    assert_eq!(after.redirect_params()["error"], "login_required");
}

#[tokio::test]
async fn logout_with_an_id_token_of_another_browser_session_asks_first_and_ends_nothing() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("web", true)).await;
    // Someone's own ID token (here maria's, from another browser: anyone's would do)...
    let mut other = Browser::new(&app);
    let code = other.code_for("web").await;
    let (_, theirs) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    let hint = theirs["id_token"].as_str().unwrap();
    // ...in a link opened by a browser signed in with a session of its own.
    let mut victim = Browser::new(&app);
    let code = victim.code_for("web").await;
    let (_, own) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    let query = serde_urlencoded::to_string([
        ("id_token_hint", hint),
        ("post_logout_redirect_uri", BYE),
        ("state", "bye-2"),
    ])
    .unwrap();
    let asked = victim.get(&format!("/oauth2/logout?{query}")).await;
    assert_eq!(asked.status, 200, "asked first: {}", asked.body);
    assert!(asked.headers.get("location").is_none());
    assert!(victim.cookies.contains_key("sso"));
    let (status, _) = userinfo(&app, own["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "nothing of the victim's session ended");
    let still = victim.authorize("web", &[("prompt", "none")]).await;
    assert_eq!(still.status, 303);
    assert!(still.redirect_params().contains_key("code"), "still signed in");
    // The question carries the hint's client, so a yes returns to its registered address.
    assert_eq!(asked.field("client_id").as_deref(), Some("web"));
    let csrf = asked.field("csrf").unwrap();
    let yes = victim
        .post(
            "/oauth2/logout",
            &[
                ("confirm", "yes"),
                ("csrf", &csrf),
                ("client_id", "web"),
                ("post_logout_redirect_uri", BYE),
                ("state", "bye-2"),
            ],
        )
        .await;
    assert_eq!(yes.status, 303, "{}", yes.body);
    assert_eq!(yes.location(), format!("{BYE}?state=bye-2"));
    assert!(!victim.cookies.contains_key("sso"));

    // A hint and a client_id that name two clients: refused (RP-Initiated Logout 1.0 §2).
    register(&app, web_client("web-2", true)).await;
    let mismatch = serde_urlencoded::to_string([("id_token_hint", hint), ("client_id", "web-2")]).unwrap();
    let refused = other.get(&format!("/oauth2/logout?{mismatch}")).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(other.cookies.contains_key("sso"), "nothing ended");
}

#[tokio::test]
async fn a_consent_form_posted_without_the_sign_in_the_app_asked_for_gets_the_login_page() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("partner", false)).await;
    let mut browser = Browser::new(&app);
    let page = browser.authorize("partner", &[]).await;
    browser.log_in(&page, MARIA, MARIA_PASSWORD).await;
    assert!(browser.cookies.contains_key("sso"), "signed in");

    // prompt=login and max_age=0 (two seconds later) each want a sign-in now. Posting the consent
    // form with the login page's own fields, skipping the sign-in, gets the login page, no code.
    app.clock.advance_secs(2);
    for (extra, first) in [(("max_age", "0"), true), (("prompt", "login"), false)] {
        let login = browser.authorize("partner", &[extra]).await;
        assert_eq!(login.status, 200, "{extra:?}: {}", login.body);
        let (csrf, req) = (login.field("csrf").unwrap(), login.field("req").unwrap());
        let skipped = browser
            .post(
                "/oauth2/login/consent",
                &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
            )
            .await;
        assert_eq!(skipped.status, 200, "{extra:?}: {}", skipped.body);
        assert!(skipped.headers.get("location").is_none(), "{extra:?}: no code");
        assert!(
            skipped.body.contains("current-password") && !skipped.body.contains("¿Permitir el acceso?"),
            "{extra:?}: the login page: {}",
            skipped.body
        );

        // Signing in there gives the code: after the consent screen the first time (however long
        // the user takes over it: that sign-in is the one max_age=0 asked for), at once the second
        // (the consent is remembered).
        let signed = browser.log_in(&skipped, MARIA, MARIA_PASSWORD).await;
        let done = if first {
            assert_eq!(signed.status, 200, "{extra:?}: {}", signed.body);
            assert!(signed.body.contains("¿Permitir el acceso?"));
            app.clock.advance_secs(5);
            let (csrf, req) = (signed.field("csrf").unwrap(), signed.field("req").unwrap());
            browser
                .post(
                    "/oauth2/login/consent",
                    &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
                )
                .await
        } else {
            signed
        };
        assert_eq!(done.status, 303, "{extra:?}: {}", done.body);
        assert!(done.redirect_params().contains_key("code"));
        app.clock.advance_secs(2);
    }
}

#[tokio::test]
async fn with_one_key_from_a_file_a_client_whose_id_token_algorithm_has_no_key_is_told_at_once() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let pem = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
        .to_pkcs8_pem(Default::default())
        .unwrap();
    let path = std::env::temp_dir().join(format!("oidc-key-file-{}.pem", unique_prefix()));
    std::fs::write(&path, pem.as_bytes()).unwrap();
    let app = TestApp::spawn_with(
        StoreKind::Memory,
        &[
            ("JWT_ISSUER", ISSUER),
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_PRIVATE_KEY_FILE", path.to_str().unwrap()),
        ],
    )
    .await;
    // Registered with the default RS256, which no key here signs: the authorization request says
    // so at once (no code is issued that the exchange could only fail on).
    register(&app, web_client("rs", true)).await;
    let mut browser = Browser::new(&app);
    let seen = browser.authorize("rs", &[]).await;
    assert_eq!(seen.status, 303, "{}", seen.body);
    let params = seen.redirect_params();
    assert_eq!(params["error"], "server_error", "{params:?}");
    assert!(params["error_description"].contains("EdDSA"), "{params:?}");
    // With the file's algorithm it signs in.
    let mut eddsa = web_client("ed", true);
    eddsa["id_token_signed_response_alg"] = json!("EdDSA");
    let secret = register(&app, eddsa).await;
    let code = browser.code_for("ed").await;
    let (status, tokens) = exchange(&app, ("ed", &secret), &code, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_repeated_state_is_an_invalid_request_sent_back_without_a_state() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("web", true)).await;
    let challenge = challenge(VERIFIER);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "one"),
        ("state", "two"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let seen = Browser::new(&app)
        .get(&format!("/oauth2/authorize?{query}"))
        .await;
    assert_eq!(seen.status, 303, "{}", seen.body);
    let params = seen.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert!(!params.contains_key("state"), "{params:?}");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_and_never_a_redirect() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    for (client, uri) in [
        ("web", "https://evil.example/cb"),
        ("web", "http://localhost:9999/cb/../evil"),
        ("nobody", CB),
    ] {
        let seen = browser
            .authorize(client, &[("redirect_uri", uri), ("response_type", "token")])
            .await;
        assert_eq!(seen.status, 400, "{client} {uri}");
        assert!(seen.headers.get("location").is_none());
        assert!(seen.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    // A registered URI: the errors go back to it.
    let seen = browser.authorize("web", &[("response_type", "token")]).await;
    assert_eq!(seen.status, 303);
    assert_eq!(seen.redirect_params()["error"], "unsupported_response_type");
    assert_eq!(seen.redirect_params()["state"], "st-123");
    let seen = browser
        .authorize("web", &[("code_challenge_method", "plain")])
        .await;
    assert_eq!(seen.redirect_params()["error"], "invalid_request");
    let seen = browser
        .authorize("web", &[("scope", "openid solicitud:admin")])
        .await;
    assert_eq!(seen.redirect_params()["error"], "invalid_scope");
}

#[tokio::test]
async fn a_code_used_twice_revokes_what_the_first_exchange_gave() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    let code = browser.code_for("web").await;
    let (status, first) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    assert_eq!(status, 200, "{first}");
    let (status, _) = userinfo(&app, first["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let (status, second) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    assert_eq!(
        (status, second["error"].as_str()),
        (400, Some("invalid_grant")),
        "{second}"
    );
    let (status, _) = userinfo(&app, first["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "the first exchange's access token is revoked");
    let (status, refreshed) = token(
        &app,
        ("web", &secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400, "and its refresh token: {refreshed}");
}

/// A replay that overtakes the first exchange (it finds the code spent while the first has not yet
/// started the code's session) ends that session all the same: whichever way the two meet, no token
/// of the code outlives them.
async fn two_exchanges_of_one_code_at_once_leave_no_live_token(kind: StoreKind) {
    let app = oidc_app(kind).await;
    let secret = register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    for round in 0..16 {
        let code = browser.code_for("web").await;
        let (a, b) = tokio::join!(
            exchange(&app, ("web", &secret), &code, VERIFIER),
            exchange(&app, ("web", &secret), &code, VERIFIER)
        );
        let mut issued = 0;
        for (status, body) in [a, b] {
            if status != 200 {
                assert_eq!(body["error"], "invalid_grant", "round {round}: {body}");
                continue;
            }
            issued += 1;
            let (status, _) = userinfo(&app, body["access_token"].as_str().unwrap()).await;
            assert_eq!(status, 401, "round {round}: the access token outlived the replay");
            let (status, refreshed) = token(
                &app,
                ("web", &secret),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", body["refresh_token"].as_str().unwrap()),
                ],
            )
            .await;
            assert_eq!(
                status, 400,
                "round {round}: the refresh token outlived the replay: {refreshed}"
            );
        }
        assert!(issued <= 1, "round {round}: one code gave two sets of tokens");
    }
}

#[tokio::test]
async fn two_exchanges_of_one_code_at_once_leave_no_live_token_on_redis() {
    two_exchanges_of_one_code_at_once_leave_no_live_token(StoreKind::Redis).await;
}

#[tokio::test]
async fn two_exchanges_of_one_code_at_once_leave_no_live_token_on_the_embedded_store() {
    two_exchanges_of_one_code_at_once_leave_no_live_token(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_wrong_verifier_another_clients_code_or_an_expired_code_is_invalid_grant() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("web", true)).await;
    let other = register(&app, web_client("other", true)).await;
    let mut browser = Browser::new(&app);

    let code = browser.code_for("web").await;
    let wrong = "x".repeat(43);
    let (status, body) = exchange(&app, ("web", &secret), &code, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, _) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    assert_eq!(status, 400, "a code is spent by its first exchange, good or not");

    let code = browser.code_for("web").await;
    let (status, body) = exchange(&app, ("other", &other), &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    let code = browser.code_for("web").await;
    app.clock.advance_secs(61);
    let (status, body) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn a_public_client_must_use_pkce_and_authenticates_with_its_id_alone() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(
        &app,
        json!({"client_id": "spa", "client_name": "SPA", "token_endpoint_auth_method": "none",
               "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [CB],
               "scope": "openid profile", "first_party": true}),
    )
    .await;
    assert!(secret.is_empty(), "a public client has no secret");
    let mut browser = Browser::new(&app);
    let seen = browser
        .authorize(
            "spa",
            &[
                ("scope", "openid"),
                ("code_challenge", ""),
                ("code_challenge_method", ""),
            ],
        )
        .await;
    assert_eq!(
        seen.redirect_params()["error"],
        "invalid_request",
        "{}",
        seen.location()
    );

    let page = browser.authorize("spa", &[("scope", "openid profile")]).await;
    let done = browser.log_in(&page, MARIA, MARIA_PASSWORD).await;
    let code = done.redirect_params()["code"].clone();
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = (res.status().as_u16(), res.json::<Value>().await.unwrap());
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    let seen = browser.authorize("web", &[("prompt", "none")]).await;
    assert_eq!(seen.status, 303);
    let params = seen.redirect_params();
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], ISSUER);
}

#[tokio::test]
async fn a_login_form_without_its_csrf_token_is_refused() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    let page = browser.authorize("web", &[]).await;
    let req = page.field("req").unwrap();
    for csrf in [None, Some("forged-token-forged-token-forged-token-abcd")] {
        let mut form = vec![
            ("req", req.as_str()),
            ("username", MARIA),
            ("password", MARIA_PASSWORD),
        ];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let seen = browser.post("/oauth2/login", &form).await;
        assert_eq!(seen.status, 403, "{}", seen.body);
        assert!(!browser.cookies.contains_key("sso"));
    }
    // Without the cookie either (another site's form): refused.
    let mut stranger = Browser::new(&app);
    let csrf = page.field("csrf").unwrap();
    let seen = stranger
        .post(
            "/oauth2/login",
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("username", MARIA),
                ("password", MARIA_PASSWORD),
            ],
        )
        .await;
    assert_eq!(seen.status, 403);
}

#[tokio::test]
async fn a_third_party_app_asks_consent_once_and_a_refusal_is_access_denied() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("partner", false)).await;
    let mut browser = Browser::new(&app);
    let page = browser.authorize("partner", &[]).await;
    let consent = browser.log_in(&page, MARIA, MARIA_PASSWORD).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("¿Permitir el acceso?"));
    let (csrf, req) = (consent.field("csrf").unwrap(), consent.field("req").unwrap());
    let denied = browser
        .post(
            "/oauth2/login/consent",
            &[("csrf", &csrf), ("req", &req), ("decision", "deny")],
        )
        .await;
    assert_eq!(denied.status, 303);
    assert_eq!(denied.redirect_params()["error"], "access_denied");
    assert_eq!(denied.redirect_params()["state"], "st-123");

    let ask = browser.authorize("partner", &[]).await;
    assert!(ask.body.contains("¿Permitir el acceso?"), "still no consent");
    let none = browser.authorize("partner", &[("prompt", "none")]).await;
    assert_eq!(none.redirect_params()["error"], "consent_required");
    let (csrf, req) = (ask.field("csrf").unwrap(), ask.field("req").unwrap());
    let allowed = browser
        .post(
            "/oauth2/login/consent",
            &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
        )
        .await;
    assert_eq!(allowed.status, 303);
    assert!(allowed.redirect_params().contains_key("code"));
    let remembered = browser.authorize("partner", &[]).await;
    assert_eq!(remembered.status, 303, "consent is remembered");
    let wider = browser
        .authorize("partner", &[("scope", "openid profile email solicitud:read")])
        .await;
    assert_eq!(wider.status, 200, "a wider scope asks again");
}

#[tokio::test]
async fn wrong_passwords_a_disabled_user_and_a_locked_account_get_clear_messages() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    let page = browser.authorize("web", &[("login_hint", MARIA)]).await;
    assert_eq!(
        page.field("username").as_deref(),
        Some(MARIA),
        "login_hint fills the username"
    );
    let wrong = browser.log_in(&page, MARIA, "not-her-password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Usuario o contraseña incorrectos."));
    let disabled = browser
        .log_in(&wrong, crate::helpers::BLOCKED, crate::helpers::BLOCKED_PASSWORD)
        .await;
    assert_eq!(
        disabled.status, 401,
        "a disabled user is refused like a wrong password"
    );
    assert!(disabled.body.contains("Usuario o contraseña incorrectos."));
    let mut last = disabled;
    for _ in 0..5 {
        last = browser.log_in(&last, MARIA, "not-her-password").await;
    }
    assert_eq!(last.status, 429, "{}", last.body);
    assert!(
        last.body.contains("Inténtalo de nuevo dentro de"),
        "{}",
        last.body
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_browser_session() {
    let app = oidc_app(StoreKind::Redis).await;
    register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    browser.code_for("web").await;
    let sso = browser.authorize("web", &[("prompt", "none")]).await;
    assert!(sso.redirect_params().contains_key("code"));
    let admin = app.login_tokens().await.0;
    let users: Value = app
        .client
        .get(app.url("/admin/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let maria = users["datos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == MARIA)
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/admin/users/{maria}")))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = browser.authorize("web", &[("prompt", "none")]).await;
    assert_eq!(after.redirect_params()["error"], "login_required");
}

#[tokio::test]
async fn a_user_with_mfa_passes_the_second_step_on_the_page() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("web", true)).await;
    let enrolled = maria_enrolled(&app).await;
    let mut browser = Browser::new(&app);
    let page = browser.authorize("web", &[]).await;
    let step = browser.log_in(&page, MARIA, MARIA_PASSWORD).await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step
        .body
        .contains("autocomplete=\"one-time-code\" inputmode=\"numeric\""));
    let (csrf, req, mfa) = (
        step.field("csrf").unwrap(),
        step.field("req").unwrap(),
        step.field("mfa").unwrap(),
    );
    let wrong = browser
        .post(
            "/oauth2/login",
            &[("csrf", &csrf), ("req", &req), ("mfa", &mfa), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Código incorrecto"));
    let code = code_at(&enrolled.totp, app.now());
    let done = browser
        .post(
            "/oauth2/login",
            &[("csrf", &csrf), ("req", &req), ("mfa", &mfa), ("code", &code)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (status, body) = exchange(&app, ("web", &secret), &done.redirect_params()["code"], VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    let id = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn discovery_names_every_endpoint_and_the_id_token_keys_are_published() {
    let app = oidc_app(StoreKind::Redis).await;
    let doc: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (name, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("end_session_endpoint", "/oauth2/logout"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(doc[name], format!("{ISSUER}{path}"), "{name}");
    }
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    // Discovery §3 defaults request_uri_parameter_supported to true; request_uri is refused here.
    assert_eq!(doc["request_uri_parameter_supported"], json!(false));
    assert_eq!(
        doc["prompt_values_supported"],
        json!(["none", "login", "consent", "select_account"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{algs:?}");
    }
    for key in jwks["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "k"] {
            assert!(key.get(private).is_none());
        }
    }
}

#[tokio::test]
async fn the_oidc_endpoints_are_off_without_an_issuer_url() {
    let app = TestApp::spawn().await;
    for path in [
        "/oauth2/authorize",
        "/oauth2/login",
        "/oauth2/logout",
        "/oauth2/userinfo",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
}

/// openid-client, the version the relying-party test pins.
const OPENID_CLIENT: &str = "6.9.1";
const DRIVER: &str = include_str!("openid_client_driver.mjs");

fn openid_client_modules() -> Result<std::path::PathBuf, String> {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_auth-service"));
    let target = bin.parent().and_then(std::path::Path::parent).unwrap();
    test_support::node_modules(&target.join("oidc-node"), "openid-client", OPENID_CLIENT)
}

/// Runs the driver in `dir` (beside its node_modules) with `args`; its JSON answer.
fn drive(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = test_support::run_script(
        std::process::Command::new("node")
            .arg(dir.join("driver.mjs"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default()),
    )
    .unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A relying party nobody here wrote: discovery, the authorization URL with PKCE, the code
/// exchange with its ID token validated (signature against the JWKS, nonce, state, `iss` of the
/// response), userinfo, a refresh and a revocation, each by openid-client.
#[tokio::test]
async fn openid_client_signs_in_refreshes_and_revokes() {
    let test = "openid-client relying party";
    let modules = match tokio::task::spawn_blocking(openid_client_modules).await.unwrap() {
        Ok(dir) => dir,
        Err(why) => return test_support::skip(test, &format!("openid-client could not be installed: {why}")),
    };
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("node-rp", true)).await;
    let dir = modules.join(format!("run-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("driver.mjs"), DRIVER).unwrap();
    let base = app.url("");
    let args = |mode: &'static str| {
        vec![
            mode.to_string(),
            base.clone(),
            "node-rp".to_string(),
            secret.clone(),
        ]
    };

    let dir2 = dir.clone();
    let mut start = args("start");
    start.push(CB.to_string());
    let started = tokio::task::spawn_blocking(move || {
        drive(&dir2, &start.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let url = started["url"].as_str().unwrap();
    let path = url
        .strip_prefix(ISSUER)
        .expect("the authorization endpoint of the discovery document");
    let mut browser = Browser::new(&app);
    let page = browser.get(path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let done = browser.log_in(&page, MARIA, MARIA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let callback = done.location();
    std::fs::write(dir.join("state.json"), started.to_string()).unwrap();

    let dir2 = dir.clone();
    let mut finish = args("finish");
    finish.push(dir.join("state.json").to_string_lossy().into_owned());
    finish.push(callback);
    let finished = tokio::task::spawn_blocking(move || {
        drive(&dir2, &finish.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let claims = &finished["claims"];
    assert_eq!(claims["iss"], ISSUER, "{finished}");
    assert_eq!(claims["aud"], "node-rp");
    assert_eq!(claims["preferred_username"], MARIA);
    assert_eq!(finished["userinfo"]["sub"], claims["sub"]);
    assert_eq!(finished["userinfo"]["email"], "maria@example.com");
    assert_eq!(finished["refreshed"]["has_refresh_token"], true);
    assert!(
        finished["revoked"].as_str().unwrap().starts_with("refused"),
        "{finished}"
    );
}

/// One HTTP request received on a fresh loopback port (answered 200): its body.
async fn one_request() -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/backchannel",
        listener.local_addr().unwrap().port()
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                    let _ = tx.send(text[end + 4..].to_string());
                    return;
                }
            }
            if n == 0 {
                return;
            }
        }
    });
    (url, rx)
}

#[tokio::test]
async fn logout_sends_a_backchannel_logout_token_to_each_client_the_session_signed_in() {
    let app = oidc_app(StoreKind::Redis).await;
    let (uri, received) = one_request().await;
    let mut metadata = web_client("bc", true);
    metadata["backchannel_logout_uri"] = json!(uri);
    let secret = register(&app, metadata).await;
    let mut browser = Browser::new(&app);
    let code = browser.code_for("bc").await;
    let (_, tokens) = exchange(&app, ("bc", &secret), &code, VERIFIER).await;
    let id = claims_of(tokens["id_token"].as_str().unwrap());
    let hint =
        serde_urlencoded::to_string([("id_token_hint", tokens["id_token"].as_str().unwrap())]).unwrap();
    let out = browser.get(&format!("/oauth2/logout?{hint}")).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), received)
        .await
        .expect("a logout token within the timeout")
        .unwrap();
    let token: String = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("a logout_token form field");
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let mut checked = verified_id_token(&app, &token, "bc").await;
    assert_eq!(checked["sid"], id["sid"]);
    assert_eq!(checked["sub"], id["sub"]);
    assert!(checked["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(checked.as_object_mut().unwrap().remove("nonce").is_none());
}

#[tokio::test]
async fn a_backchannel_uri_must_be_plain_http() {
    let app = oidc_app(StoreKind::Redis).await;
    let token = app.login_tokens().await.0;
    for bad in [
        "https://rp.example/bc",
        "ftp://rp.example/bc",
        "http://rp.example/bc#x",
    ] {
        let mut metadata = web_client("x", true);
        metadata["backchannel_logout_uri"] = json!(bad);
        let res = app
            .client
            .post(app.url("/admin/clients"))
            .bearer_auth(&token)
            .json(&metadata)
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(
            body["detalle"]
                .as_str()
                .unwrap()
                .contains("backchannel_logout_uri"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_apps_token_is_refused_by_the_account_and_admin_api() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    let page = browser.authorize("web", &[]).await;
    let done = browser
        .log_in(&page, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD)
        .await;
    let (_, tokens) = exchange(&app, ("web", &secret), &done.redirect_params()["code"], VERIFIER).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["rol"], "admin");
    for path in ["/auth/me", "/admin/users", "/auth/apps"] {
        let (status, body) = app.get_bearer(path, access).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, _) = app.post_bearer("/auth/logout-all", access).await;
    assert_eq!(status, 403);
    let (status, _) = userinfo(&app, access).await;
    assert_eq!(status, 200, "userinfo is what the token is for");
}

#[tokio::test]
async fn the_account_lists_and_withdraws_apps_and_ends_signed_in_browsers() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("partner", false)).await;
    let mut browser = Browser::new(&app);
    let page = browser.authorize("partner", &[]).await;
    let consent = browser.log_in(&page, MARIA, MARIA_PASSWORD).await;
    let (csrf, req) = (consent.field("csrf").unwrap(), consent.field("req").unwrap());
    let allowed = browser
        .post(
            "/oauth2/login/consent",
            &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
        )
        .await;
    let (_, tokens) = exchange(
        &app,
        ("partner", &secret),
        &allowed.redirect_params()["code"],
        VERIFIER,
    )
    .await;
    let (maria, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;

    let (status, apps) = app.get_bearer("/auth/apps", &maria).await;
    assert_eq!(status, 200, "{apps}");
    assert_eq!(
        apps["datos"],
        json!([{"clientId": "partner", "clientName": "App partner", "scope": "email openid profile"}])
    );
    let (status, browsers) = app.get_bearer("/auth/browsers", &maria).await;
    assert_eq!(status, 200, "{browsers}");
    let list = browsers["datos"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{browsers}");
    assert_eq!(list[0]["amr"], json!(["pwd"]));

    // Withdrawing the app: its tokens end, and it must ask again.
    let res = app
        .client
        .delete(app.url("/auth/apps/partner"))
        .bearer_auth(&maria)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, _) = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "the app's token is revoked");
    let ask = browser.authorize("partner", &[]).await;
    assert!(ask.body.contains("¿Permitir el acceso?"), "consent asked again");
    let res = app
        .client
        .delete(app.url("/auth/apps/partner"))
        .bearer_auth(&maria)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "nothing left to withdraw");

    // Ending the browser session from the account: that browser is signed out.
    let id = list[0]["id"].as_str().unwrap();
    let (other, _) = app.login_tokens().await;
    let res = app
        .client
        .delete(app.url(&format!("/auth/browsers/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "another user's browser is not theirs to end");
    let res = app
        .client
        .delete(app.url(&format!("/auth/browsers/{id}")))
        .bearer_auth(&maria)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = browser.authorize("partner", &[("prompt", "none")]).await;
    assert_eq!(after.redirect_params()["error"], "login_required");
    let (_, browsers) = app.get_bearer("/auth/browsers", &maria).await;
    assert_eq!(browsers["datos"], json!([]));
}

#[tokio::test]
async fn disabling_a_client_revokes_the_tokens_it_holds_of_people() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    let code = browser.code_for("web").await;
    let (_, tokens) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.0, 200);
    let admin = app.login_tokens().await.0;
    let res = app
        .client
        .patch(app.url("/admin/clients/web"))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        userinfo(&app, access).await.0,
        401,
        "the person's token the client held is revoked"
    );
    let introspected = app.introspect(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(introspected["active"], false, "{introspected}");
}

#[tokio::test]
async fn a_refresh_needs_the_clients_secret_and_an_ended_secret_stops_within_a_second() {
    let app = oidc_app(StoreKind::Redis).await;
    let secret = register(&app, web_client("web", true)).await;
    let mut browser = Browser::new(&app);
    let code = browser.code_for("web").await;
    let (_, tokens) = exchange(&app, ("web", &secret), &code, VERIFIER).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = token(&app, ("web", "not-the-secret"), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );

    // The secret ended at once (a leak): within a second the old one is refused, and nothing rotated.
    let admin = app.login_tokens().await.0;
    let res = app
        .client
        .post(app.url("/admin/clients/web/secret"))
        .bearer_auth(&admin)
        .json(&json!({"keep_previous_seconds": 0}))
        .send()
        .await
        .unwrap();
    let (status, rotated) = read(res).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["datos"]["client_secret"].as_str().unwrap().to_string();
    app.clock.advance_secs(1);
    let (status, body) = token(&app, ("web", &secret), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let (status, body) = token(&app, ("web", &new_secret), &form).await;
    assert_eq!(status, 200, "{body}");
}
