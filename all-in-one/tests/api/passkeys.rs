//! Passkeys in a real browser: headless Chromium with a virtual authenticator (the WebDriver "Virtual
//! Authenticators" extension chromedriver implements), against the real all-in-one binary. On
//! `/cuenta`: register a passkey, sign in with it alone, with the password then the passkey, an
//! assertion replayed refused, the passkey removed (with the password: it is the last factor) no
//! longer signs in. On the hosted login page: "Entrar con llave de acceso" alone, to an app's code
//! whose ID token says how (`amr`). And two replicas on one Redis: a ceremony the first began, the
//! second finishes with the browser's assertion.
//!
//! Without chromium and chromedriver each test prints a `SKIPPED` line and passes, except on CI.

use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::Locator;
use serde_json::{json, Value};
use sha2::Digest;

use crate::cuenta::{
    api, chromium_or_skip, create_maria, save_screenshot_as, start_system, Browser, PASSWORD,
};

const WAIT: Duration = Duration::from_secs(15);

/// One command of the WebDriver WebAuthn extension, under `/session/{id}/webauthn/`.
#[derive(Debug)]
struct WebAuthn {
    path: String,
    body: Value,
}

impl WebDriverCompatibleCommand for WebAuthn {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/webauthn/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (warp::http::Method, Option<String>) {
        (warp::http::Method::POST, Some(self.body.to_string()))
    }
}

/// Gives the browser a platform authenticator that holds passkeys and verifies its user (a
/// fingerprint that always matches).
async fn add_virtual_authenticator(browser: &Browser) {
    let id = browser
        .c()
        .issue_cmd(WebAuthn {
            path: "authenticator".into(),
            body: json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true,
            }),
        })
        .await
        .unwrap_or_else(|e| panic!("chromedriver has no virtual authenticators: {e}"));
    assert!(id.is_string(), "{id}");
}

/// Waits until `script` returns true.
async fn until(browser: &Browser, script: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    while browser.js(script).await != json!(true) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The JSON payload of a JWT.
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registered_on_the_account_page_signs_in_there_and_on_the_hosted_login_page() {
    let test = "a_passkey_registered_on_the_account_page_signs_in_there_and_on_the_hosted_login_page";
    let Some((chromium, chromedriver)) = chromium_or_skip(test) else {
        return;
    };
    // The issuer is http://localhost:<port>, so the relying party is `localhost` and the browser
    // must use that name (an IP address is never an RP ID).
    let port = test_support::free_port().unwrap();
    let system = start_system(&[("ALL_IN_ONE_BIND_ADDR", &format!("127.0.0.1:{port}"))]);
    let origin = format!("http://localhost:{port}");
    create_maria(&system).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    add_virtual_authenticator(&browser).await;

    // Register on /cuenta.
    browser.open(&format!("{origin}/cuenta")).await;
    assert!(
        browser.is_visible("login-llave").await,
        "the passkey sign-in is offered"
    );
    browser.log_in("maria", PASSWORD).await;
    browser.wait_visible("cuenta").await;
    browser.wait_visible("form-llave").await;
    browser.type_into("llave-nombre", "Portátil de prueba").await;
    browser.click("boton-llave-crear").await;
    browser.wait_notice("Llave de acceso añadida").await;
    until(
        &browser,
        "return document.querySelectorAll('#lista-llaves li').length === 1",
        "the passkey listed",
    )
    .await;
    save_screenshot_as(&browser, "passkey-cuenta.png").await;
    let listed = browser
        .js("return document.querySelector('#lista-llaves li input').value")
        .await;
    assert_eq!(listed, json!("Portátil de prueba"));

    // Signed out, the passkey alone signs in; the page keeps what it sent to replay it below.
    browser.click("boton-salir").await;
    browser.wait_visible("paso-login").await;
    browser
        .js(
            "window.sent = []; const real = window.fetch; window.fetch = (url, init) => { \
             if (String(url).endsWith('/auth/passkeys/login')) { window.sent.push(init.body); } \
             return real(url, init); };",
        )
        .await;
    browser.click("boton-login-llave").await;
    browser.wait_visible("cuenta").await;
    assert_eq!(browser.text("yo-usuario").await, "maria");

    // The same assertion again (a replay): refused.
    let replayed = browser
        .js("return fetch('/auth/passkeys/login', {method: 'POST', \
             headers: {'Content-Type': 'application/json'}, body: window.sent[0]}) \
             .then(async (r) => [r.status, (await r.json()).codigo]);")
        .await;
    assert_eq!(replayed, json!([422, "INVALID_CREDENTIALS"]));

    // The password now asks for the passkey as the second step (no code form: she has no TOTP).
    browser.click("boton-salir").await;
    browser.wait_visible("paso-login").await;
    browser.log_in("maria", PASSWORD).await;
    browser.wait_visible("paso-mfa").await;
    assert!(!browser.is_visible("form-mfa").await);
    browser.wait_visible("boton-mfa-llave").await;
    browser.click("boton-mfa-llave").await;
    browser.wait_visible("cuenta").await;
    assert_eq!(browser.text("yo-usuario").await, "maria");

    // The hosted login page: the passkey alone, to the demo app's code.
    let verifier = b64url(uuid::Uuid::new_v4().as_bytes()).repeat(2);
    let challenge = b64url(&sha2::Sha256::digest(verifier.as_bytes()));
    let authorize = format!(
        "{origin}/oauth2/authorize?client_id=demo&response_type=code&scope=openid%20profile\
         &redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&state=s1&nonce=n1\
         &code_challenge={challenge}&code_challenge_method=S256&prompt=login"
    );
    browser.c().goto(&authorize).await.unwrap();
    until(
        &browser,
        "const f = document.querySelector('form[data-passkey=login]'); return !!f && !f.hidden",
        "the passkey form on the login page",
    )
    .await;
    save_screenshot_as(&browser, "passkey-login.png").await;
    browser
        .c()
        .find(Locator::Css("form[data-passkey=login] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let landed = loop {
        let url = browser.c().current_url().await.unwrap();
        if url.as_str().starts_with("http://localhost:3000/callback") {
            break url;
        }
        assert!(Instant::now() < deadline, "never sent back to the app; at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let code = landed
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {landed}"));
    let tokens: Value = reqwest::Client::new()
        .post(system.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:3000/callback"),
            ("client_id", "demo"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = payload(tokens["id_token"].as_str().unwrap_or_else(|| panic!("{tokens}")));
    assert_eq!(id_token["preferred_username"], "maria", "{id_token}");
    let amr: Vec<&str> = id_token["amr"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        amr.contains(&"user") && amr.contains(&"mfa") && !amr.contains(&"pwd"),
        "{amr:?}"
    );
    assert!(amr.contains(&"hwk") || amr.contains(&"swk"), "{amr:?}");

    // The hosted page's second step: the password, then the passkey instead of a code.
    browser
        .c()
        .goto(&authorize.replace("state=s1", "state=s2"))
        .await
        .unwrap();
    until(
        &browser,
        "return !!document.getElementById('password')",
        "the login page",
    )
    .await;
    browser.type_into("username", "maria").await;
    browser.type_into("password", PASSWORD).await;
    browser
        .c()
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &browser,
        "const f = document.querySelector('form[data-passkey=second]'); \
         return !!f && !f.hidden && !document.getElementById('code')",
        "the second step offering the passkey (and no code: she has no TOTP)",
    )
    .await;
    browser
        .c()
        .find(Locator::Css("form[data-passkey=second] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let url = browser.c().current_url().await.unwrap();
        if url.as_str().starts_with("http://localhost:3000/callback") {
            assert!(
                url.as_str().contains("state=s2") && url.as_str().contains("code="),
                "{url}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never sent back to the app; at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Back on /cuenta: removing her only passkey (her last second factor) asks for the password;
    // then it no longer signs in.
    browser.open(&format!("{origin}/cuenta")).await;
    browser.log_in("maria", PASSWORD).await;
    browser.wait_visible("paso-mfa").await;
    browser.click("boton-mfa-llave").await;
    browser.wait_visible("cuenta").await;
    until(
        &browser,
        "return document.querySelectorAll('#lista-llaves li').length === 1",
        "the passkey listed",
    )
    .await;
    browser
        .c()
        .find(Locator::Css("#lista-llaves li button.peligro"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_visible("llave-confirmar").await;
    browser.type_into("llave-clave", PASSWORD).await;
    browser.click("boton-llave-confirmar").await;
    browser.wait_notice("Llave de acceso quitada").await;
    browser.wait_visible("llaves-vacio").await;
    browser.click("boton-salir").await;
    browser.wait_visible("paso-login").await;
    browser.click("boton-login-llave").await;
    browser.wait_notice("Credenciales inválidas").await;
    assert!(browser.is_visible("paso-login").await);
    // And the password alone signs in again.
    browser.log_in("maria", PASSWORD).await;
    browser.wait_visible("cuenta").await;
    browser.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_one_replica_began_another_finishes_with_the_browsers_assertion() {
    let test = "a_ceremony_one_replica_began_another_finishes_with_the_browsers_assertion";
    let Some((chromium, chromedriver)) = chromium_or_skip(test) else {
        return;
    };
    let (port_a, port_b) = (
        test_support::free_port().unwrap(),
        test_support::free_port().unwrap(),
    );
    let (origin_a, origin_b) = (
        format!("http://localhost:{port_a}"),
        format!("http://localhost:{port_b}"),
    );
    let origins = format!("{origin_a},{origin_b}");
    let prefix = format!("passkey-replicas-{}:", uuid::Uuid::new_v4().simple());
    let redis = test_support::redis_url();
    let replica = |port: u16| {
        start_system(&[
            ("ALL_IN_ONE_BIND_ADDR", &format!("127.0.0.1:{port}")),
            ("REDIS_URL", &redis),
            ("REDIS_KEY_PREFIX", &prefix),
            (
                "MFA_ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
            ("WEBAUTHN_RP_ID", "localhost"),
            ("WEBAUTHN_ORIGINS", &origins),
        ])
    };
    let (a, b) = (replica(port_a), replica(port_b));
    create_maria(&a).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    add_virtual_authenticator(&browser).await;

    // A passkey registered through replica A's page.
    browser.open(&format!("{origin_a}/cuenta")).await;
    browser.log_in("maria", PASSWORD).await;
    browser.wait_visible("form-llave").await;
    browser.click("boton-llave-crear").await;
    browser.wait_notice("Llave de acceso añadida").await;

    // On A's page: A begins a sign-in and the browser answers it...
    let assertion = browser
        .js("return fetch('/auth/passkeys/login/options', {method: 'POST', \
             headers: {'Content-Type': 'application/json'}, body: '{}'}) \
             .then((r) => r.json()) \
             .then((e) => navigator.credentials.get({publicKey: \
                PublicKeyCredential.parseRequestOptionsFromJSON(e.datos.publicKey)})) \
             .then((c) => JSON.stringify(c.toJSON()));")
        .await;
    let assertion = assertion
        .as_str()
        .unwrap_or_else(|| panic!("{assertion}"))
        .to_string();
    // ...and on B's page, B finishes it.
    browser.open(&format!("{origin_b}/cuenta")).await;
    let finished = browser
        .c()
        .execute(
            "return fetch('/auth/passkeys/login', {method: 'POST', \
             headers: {'Content-Type': 'application/json'}, \
             body: JSON.stringify({credential: JSON.parse(arguments[0])})}) \
             .then(async (r) => [r.status, (await r.json()).datos.user.username]);",
            vec![json!(assertion)],
        )
        .await
        .unwrap();
    assert_eq!(finished, json!([200, "maria"]));
    // Once: the same assertion at A is a replay.
    let (status, body) = api(
        &a,
        "POST",
        "/auth/passkeys/login",
        None,
        Some(json!({"credential": serde_json::from_str::<Value>(&assertion).unwrap()})),
    )
    .await;
    assert_eq!(
        (status, body["codigo"].as_str()),
        (422, Some("INVALID_CREDENTIALS")),
        "{body}"
    );
    drop(b);
}
