//! The account page (`GET /cuenta`) in a real browser: Debian's headless Chromium, driven over
//! WebDriver (chromium-driver) by fantoccini, against the real all-in-one binary on the embedded store.
//! The tests read what the page shows and type what a person would, computing TOTP codes from the
//! secret the page displays; they check through the API what the page did (a session it ended).
//!
//! Without chromium and chromedriver each test prints a `SKIPPED` line and passes, except on CI (`CI`
//! set, not empty, `0` or `false`), where that is a failure saying what to install. `CHROMIUM` and
//! `CHROMEDRIVER` name other binaries (a path that is not a file counts as "not installed").
//!
//! The enrolment step's screenshot is written to `CARGO_TARGET_TMPDIR/cuenta-mfa.png` on every run, and
//! to `docs/cuenta-mfa.png` (the README's picture) when `UPDATE_SCREENSHOTS=1`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use test_support::ServiceProcess;

const BIN: &str = env!("CARGO_BIN_EXE_all-in-one");
pub(crate) const SECRET: &str = "cuenta-browser-test-secret-0123456789abcdef";
pub(crate) const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase for maria";
/// How long the page may take to show the result of an action.
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------------
// Finding the browser

pub(crate) fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// `var` when set (a path; not a file = not installed), else the first `names` on PATH, else /usr/bin.
pub(crate) fn find_binary(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(given) = std::env::var_os(var) {
        return Some(PathBuf::from(given)).filter(|p| p.is_file());
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|name| {
            dirs.iter()
                .map(move |d| d.join(name))
                .chain([Path::new("/usr/bin").join(name)])
        })
        .find(|p| p.is_file())
}

/// (chromium, chromedriver), or None and a SKIPPED line; on CI their absence fails the test.
pub(crate) fn chromium_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    let chromium = find_binary("CHROMIUM", &["chromium", "chromium-browser"]);
    let driver = find_binary("CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = [("chromium", c.is_none()), ("chromedriver", d.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" and ");
            assert!(
                !on_ci(),
                "{test}: {missing} not installed; install Debian's packages with \
                 `apt-get install -y chromium chromium-driver` (.ci/run does)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {missing} not installed (apt-get install chromium chromium-driver); \
                 the browser test was not run"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The browser

/// chromedriver on a free port and one headless Chromium session; both end when dropped.
pub(crate) struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    pub(crate) async fn start(chromium: &Path, chromedriver: &Path) -> Self {
        let port = test_support::free_port().unwrap();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = std::env::temp_dir().join(format!("cuenta-chromium-{}", uuid::Uuid::new_v4().simple()));
        let mut browser = Self {
            client: None,
            driver,
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut args = vec![
            "--headless=new".to_string(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--window-size=900,1300".into(),
            "--lang=es".into(),
            format!("--user-data-dir={}", browser.profile.display()),
        ];
        // Chromium refuses to run as root with its sandbox (CI runs as root).
        if is_root() {
            args.push("--no-sandbox".into());
        }
        let caps = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }))
        .unwrap();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("no browser session from chromedriver: {e}"));
        browser.client = Some(client);
        browser
    }

    pub(crate) fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Opens the page and waits for its script to be ready; starts recording CSP violations.
    pub(crate) async fn open(&self, url: &str) {
        self.c().goto(url).await.unwrap();
        self.wait_js(
            "return document.body.dataset.listo === 'si'",
            "the page's script to start",
        )
        .await;
        // WebDriver's scripts are not subject to the page's CSP; the page's own would be.
        self.js(
            "window.cspViolations = []; document.addEventListener('securitypolicyviolation', \
             (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));",
        )
        .await;
    }

    pub(crate) async fn js(&self, script: &str) -> Value {
        self.c().execute(script, vec![]).await.unwrap()
    }

    /// Polls `script` until it returns true.
    pub(crate) async fn wait_js(&self, script: &str, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.c().execute(script, vec![]).await.unwrap() == json!(true) {
                return;
            }
            if Instant::now() >= deadline {
                let notice = self.notice().await;
                panic!("timed out waiting for {what}; the page says: {notice}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn wait_visible(&self, id: &str) {
        let script = format!(
            "const e = document.getElementById('{id}'); return !!e && e.offsetParent !== null \
             && e.getClientRects().length > 0"
        );
        self.wait_js(&script, &format!("#{id} to show")).await;
    }

    pub(crate) async fn is_visible(&self, id: &str) -> bool {
        self.c()
            .find(Locator::Id(id))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    }

    pub(crate) async fn text(&self, id: &str) -> String {
        self.c()
            .find(Locator::Id(id))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub(crate) async fn type_into(&self, id: &str, text: &str) {
        let field = self.c().find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub(crate) async fn click(&self, id: &str) {
        self.c()
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// The message box's text ("" when hidden).
    pub(crate) async fn notice(&self) -> String {
        let v = self
            .c()
            .execute(
                "const a = document.getElementById('aviso'); return a && !a.hidden ? a.innerText : ''",
                vec![],
            )
            .await
            .unwrap();
        v.as_str().unwrap_or_default().to_string()
    }

    /// Waits for the message box to show a text containing `needle`; the whole text.
    pub(crate) async fn wait_notice(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let notice = self.notice().await;
            if notice.contains(needle) {
                return notice;
            }
            assert!(
                Instant::now() < deadline,
                "the page never said {needle:?}; it says {notice:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first step of the login, as a person types it.
    pub(crate) async fn log_in(&self, username: &str, password: &str) {
        self.type_into("login-usuario", username).await;
        self.type_into("login-clave", password).await;
        self.click("boton-login").await;
    }

    /// No CSP violation so far, and nothing kept where it would outlive the tab.
    pub(crate) async fn assert_clean(&self) {
        assert_eq!(self.js("return window.cspViolations").await, json!([]));
        let kept = self
            .js("return [localStorage.length, sessionStorage.length, document.cookie]")
            .await;
        assert_eq!(kept, json!([0, 0, ""]));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ends the browser; chromedriver is killed below either way.
            let close = client.close();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let _ = tokio::task::block_in_place(|| {
                    handle.block_on(async { tokio::time::timeout(Duration::from_secs(10), close).await })
                });
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

// ---------------------------------------------------------------------------------------------------
// The system and TOTP

/// The all-in-one binary on the embedded store, with a user `maria` (rol usuario) besides the admin.
pub(crate) fn start_system(extra: &[(&str, &str)]) -> ServiceProcess {
    let mut vars = vec![
        ("JWT_SECRET", SECRET.to_string()),
        ("API_PASSWORD", PASSWORD.to_string()),
        ("ALL_IN_ONE_BIND_ADDR", "127.0.0.1:0".to_string()),
        ("MFA_VALID_WINDOW", "1".to_string()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    ServiceProcess::start(BIN, &vars).unwrap_or_else(|e| panic!("all-in-one did not start: {e}"))
}

pub(crate) async fn api(
    system: &ServiceProcess,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), system.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// The admin creates `maria` through the admin API, as an operator would.
pub(crate) async fn create_maria(system: &ServiceProcess) {
    let admin = api_session(system, "api_user", PASSWORD).await;
    let (status, created) = api(
        system,
        "POST",
        "/admin/users",
        Some(&admin),
        Some(json!({"username": "maria", "email": "maria@example.com", "rol": "usuario", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
}

/// An access token of a session of `username` opened through the API (no second factor).
pub(crate) async fn api_session(system: &ServiceProcess, username: &str, password: &str) -> String {
    let (status, body) = api(
        system,
        "POST",
        "/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["datos"]["accessToken"].as_str().unwrap().to_string()
}

async fn me_status(system: &ServiceProcess, access: &str) -> (u16, Value) {
    api(system, "GET", "/auth/me", Some(access), None).await
}

pub(crate) fn now_step() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 30
}

/// The TOTP of the base32 secret the page shows (spaces ignored), as authenticator apps compute it.
pub(crate) struct Authenticator(totp_rs::TOTP);

impl Authenticator {
    pub(crate) fn from_page(shown: &str) -> Self {
        let secret: String = shown.split_whitespace().collect();
        let bytes = totp_rs::Secret::Encoded(secret.clone())
            .to_bytes()
            .unwrap_or_else(|e| panic!("the page's secret {secret:?} is not base32: {e:?}"));
        assert!(bytes.len() >= 16, "{} bytes", bytes.len());
        Self(totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            bytes,
            None,
            String::new(),
        ))
    }

    pub(crate) fn at(&self, step: u64) -> String {
        self.0.generate(step * 30)
    }

    /// A six-digit code that no step within the window accepts.
    fn wrong(&self) -> String {
        let now = now_step();
        let valid: Vec<String> = (now - 2..=now + 2).map(|s| self.at(s)).collect();
        (0..)
            .map(|n: u32| format!("{:06}", (n * 7919 + 123_456) % 1_000_000))
            .find(|c| !valid.contains(c))
            .unwrap()
    }
}

/// Enrols TOTP on the page, as a person: the QR code shows, the secret is read off the page, a wrong
/// code is refused with the API's message, the right one activates; the recovery codes are shown
/// once. Returns the authenticator and the step its activation code used (a later code must be newer).
async fn enrol(browser: &Browser, screenshot: bool) -> (Authenticator, u64) {
    assert!(browser.text("totp-estado").await.contains("Desactivada"));
    browser.click("boton-totp-iniciar").await;
    browser.wait_visible("totp-alta").await;
    // The QR code is a real image (decoded from the data: URL the CSP allows), 200 px wide at least.
    browser
        .wait_js(
            "const i = document.getElementById('totp-qr'); return i.complete && i.naturalWidth >= 100",
            "the QR code to load",
        )
        .await;
    let src = browser.js("return document.getElementById('totp-qr').src").await;
    assert!(
        src.as_str().unwrap().starts_with("data:image/png;base64,"),
        "{src}"
    );
    let link = browser
        .js("return document.getElementById('totp-enlace').href")
        .await;
    assert!(link.as_str().unwrap().starts_with("otpauth://totp/"), "{link}");
    let authenticator = Authenticator::from_page(&browser.text("totp-secreto").await);
    if screenshot {
        save_screenshot(browser).await;
    }

    browser.type_into("totp-codigo", &authenticator.wrong()).await;
    browser.click("boton-totp-activar").await;
    let notice = browser.wait_notice("Código MFA inválido").await;
    assert!(browser.is_visible("totp-alta").await, "{notice}");

    let step = now_step();
    browser.type_into("totp-codigo", &authenticator.at(step)).await;
    browser.click("boton-totp-activar").await;
    browser.wait_visible("totp-recuperacion").await;
    browser.wait_notice("Verificación en dos pasos activada").await;
    let codes = browser
        .js("return Array.from(document.querySelectorAll('#lista-recuperacion li'), (li) => li.textContent)")
        .await;
    let codes: Vec<String> = serde_json::from_value(codes).unwrap();
    assert_eq!(codes.len(), 10, "{codes:?}");
    for code in &codes {
        assert!(
            code.len() == 11
                && code.as_bytes()[5] == b'-'
                && code
                    .chars()
                    .filter(|c| *c != '-')
                    .all(|c| c.is_ascii_alphanumeric()),
            "{code}"
        );
    }
    // The enrolment's secret is gone from the page once activated.
    assert_eq!(browser.text("totp-secreto").await, "");
    assert!(!browser.is_visible("totp-alta").await);
    browser.click("boton-copiar").await;
    browser
        .wait_js(
            "return document.getElementById('copiado').textContent.length > 0",
            "the copy button's answer",
        )
        .await;
    let copied = browser.text("copiado").await;
    assert!(
        copied.starts_with("Copiados") || copied.starts_with("Seleccionados"),
        "{copied}"
    );
    // Once saved, the codes leave the page for good.
    browser.click("boton-recuperacion-listo").await;
    browser.wait_visible("totp-activo").await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#lista-recuperacion li').length")
            .await,
        json!(0)
    );
    assert!(browser.text("totp-estado").await.contains("Activada"));
    (authenticator, step)
}

/// A screenshot of the page as it is, kept in the target directory; with `UPDATE_SCREENSHOTS=1` also in
/// `docs/<name>`, where the README shows it.
pub(crate) async fn save_screenshot_as(browser: &Browser, name: &str) {
    let png = browser.c().screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&tmp, &png).unwrap();
    if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs").join(name);
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(&docs, &png).unwrap();
    }
}

async fn save_screenshot(browser: &Browser) {
    save_screenshot_as(browser, "cuenta-mfa.png").await;
}

// ---------------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_enrols_totp_logs_in_with_it_and_ends_every_session() {
    let test = "the_account_page_enrols_totp_logs_in_with_it_and_ends_every_session";
    let Some((chromium, chromedriver)) = chromium_or_skip(test) else {
        return;
    };
    let system = start_system(&[]);
    // Another session of the same user, opened before MFA is on (a phone, another browser).
    let other = api_session(&system, "api_user", PASSWORD).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.open(&system.url("/cuenta")).await;

    // The style sheet applied (the CSP let it load), and only the login shows.
    let background = browser
        .js("return getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(background, json!("rgb(244, 246, 248)"));
    assert!(browser.is_visible("paso-login").await);
    assert!(!browser.is_visible("cuenta").await);

    // A wrong password: the API's message.
    browser.log_in("api_user", "not the password").await;
    browser.wait_notice("Credenciales inválidas").await;

    browser.log_in("api_user", PASSWORD).await;
    browser.wait_visible("cuenta").await;
    assert_eq!(browser.text("yo-usuario").await, "api_user");
    assert_eq!(browser.text("yo-rol").await, "admin");
    assert!(!browser.is_visible("paso-login").await);
    // The password field is emptied once used.
    assert_eq!(
        browser
            .js("return document.getElementById('login-clave').value")
            .await,
        json!("")
    );

    let (authenticator, activated_at) = enrol(&browser, true).await;

    browser.click("boton-salir").await;
    browser.wait_notice("Sesión cerrada").await;
    browser.wait_visible("paso-login").await;
    assert_eq!(browser.text("yo-usuario").await, "");

    // Logging in again asks for the second step; a wrong code is refused with the API's message.
    browser.log_in("api_user", PASSWORD).await;
    browser.wait_visible("paso-mfa").await;
    browser.type_into("mfa-codigo", &authenticator.wrong()).await;
    browser.click("boton-mfa").await;
    let notice = browser.wait_notice("Código MFA inválido").await;
    assert!(browser.is_visible("paso-mfa").await, "{notice}");
    // A code newer than the one activation used (a used step is never accepted again).
    let step = (activated_at + 1).max(now_step());
    browser.type_into("mfa-codigo", &authenticator.at(step)).await;
    browser.click("boton-mfa").await;
    browser.wait_visible("cuenta").await;
    assert_eq!(browser.text("yo-usuario").await, "api_user");
    assert!(browser.text("totp-estado").await.contains("Activada"));

    // The other session is alive until the page ends every session.
    assert_eq!(me_status(&system, &other).await.0, 200);
    browser.click("boton-salir-todas").await;
    browser.wait_notice("Todas sus sesiones se cerraron").await;
    browser.wait_visible("paso-login").await;
    let (status, body) = me_status(&system, &other).await;
    assert_eq!(
        (status, body["codigo"].as_str()),
        (401, Some("TOKEN_REVOKED")),
        "{body}"
    );

    browser.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_changes_the_password_disables_totp_and_waits_out_a_429() {
    let test = "the_account_page_changes_the_password_disables_totp_and_waits_out_a_429";
    let Some((chromium, chromedriver)) = chromium_or_skip(test) else {
        return;
    };
    let system = start_system(&[
        ("RATE_LIMIT_LOGIN_MAX_FAILURES", "3"),
        ("RATE_LIMIT_LOGIN_WINDOW_SECONDS", "90"),
    ]);
    create_maria(&system).await;
    let other = api_session(&system, "maria", PASSWORD).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.open(&system.url("/cuenta")).await;
    browser.log_in("maria", PASSWORD).await;
    browser.wait_visible("cuenta").await;
    assert_eq!(browser.text("yo-correo").await, "maria@example.com");
    assert_eq!(browser.text("yo-rol").await, "usuario");

    // The two new passwords must match (checked on the page, nothing sent).
    browser.type_into("clave-actual", PASSWORD).await;
    browser.type_into("clave-nueva", NEW_PASSWORD).await;
    browser
        .type_into("clave-repetir", "something else entirely")
        .await;
    browser.click("boton-clave").await;
    browser.wait_notice("Las contraseñas nuevas no coinciden").await;
    // A wrong current password: the API's message.
    browser.type_into("clave-actual", "not my password").await;
    browser.type_into("clave-repetir", NEW_PASSWORD).await;
    browser.click("boton-clave").await;
    browser.wait_notice("Credenciales inválidas").await;
    browser.type_into("clave-actual", PASSWORD).await;
    // A new password the policy refuses: the API's message and the rule it names.
    browser.type_into("clave-nueva", "password1234").await;
    browser.type_into("clave-repetir", "password1234").await;
    browser.click("boton-clave").await;
    let notice = browser.wait_notice("Datos inválidos").await;
    assert!(notice.contains("common_password"), "{notice}");
    // The right current password and a good new one: changed, this session goes on, the other ends.
    browser.type_into("clave-nueva", NEW_PASSWORD).await;
    browser.type_into("clave-repetir", NEW_PASSWORD).await;
    browser.click("boton-clave").await;
    browser.wait_notice("Contraseña cambiada").await;
    assert_eq!(me_status(&system, &other).await.0, 401);
    assert_eq!(
        browser
            .js("return document.getElementById('clave-actual').value")
            .await,
        json!("")
    );

    // The page's session holds the fresh pair: enrolment works with it.
    let (authenticator, activated_at) = enrol(&browser, false).await;

    // Disabling: a wrong code is refused; a current one turns it off.
    browser
        .type_into("totp-codigo-desactivar", &authenticator.wrong())
        .await;
    browser.click("boton-totp-desactivar").await;
    browser.wait_notice("Código MFA inválido").await;
    assert!(browser.text("totp-estado").await.contains("Activada"));
    let step = (activated_at + 1).max(now_step());
    browser
        .type_into("totp-codigo-desactivar", &authenticator.at(step))
        .await;
    browser.click("boton-totp-desactivar").await;
    browser.wait_notice("Verificación en dos pasos desactivada").await;
    assert!(browser.text("totp-estado").await.contains("Desactivada"));
    browser.wait_visible("totp-inactivo").await;

    browser.click("boton-salir").await;
    browser.wait_visible("paso-login").await;
    // The new password logs in with no second step now; the old one is refused.
    assert_eq!(
        api(
            &system,
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": "maria", "password": PASSWORD}))
        )
        .await
        .0,
        422
    );
    api_session(&system, "maria", NEW_PASSWORD).await;

    // Wrong passwords until the account is locked: the page shows the 429 and its wait, and the
    // button waits with it.
    let mut notice = String::new();
    for _ in 0..5 {
        // Hide the last answer, so the next one is seen arriving.
        browser.js("document.getElementById('aviso').hidden = true").await;
        browser.log_in("maria", "wrong password, again").await;
        browser
            .wait_js(
                "return !document.getElementById('aviso').hidden",
                "an answer to the login",
            )
            .await;
        notice = browser.notice().await;
        if notice.contains("Demasiadas solicitudes") {
            break;
        }
        assert!(notice.contains("Credenciales inválidas"), "{notice}");
    }
    assert!(notice.contains("Demasiadas solicitudes"), "{notice}");
    assert!(
        notice.contains("Espere ") && notice.contains(" antes de intentarlo de nuevo"),
        "{notice}"
    );
    assert!(
        notice.contains("minuto") || notice.contains("segundo"),
        "{notice}"
    );
    let disabled = browser
        .js("return document.getElementById('boton-login').disabled")
        .await;
    assert_eq!(disabled, json!(true), "{notice}");

    browser.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_refreshes_an_expired_access_token_and_leaves_a_session_ended_elsewhere() {
    let test = "the_account_page_refreshes_an_expired_access_token_and_leaves_a_session_ended_elsewhere";
    let Some((chromium, chromedriver)) = chromium_or_skip(test) else {
        return;
    };
    // Access tokens of one minute, the shortest the configuration allows.
    let system = start_system(&[("JWT_ACCESS_TOKEN_EXP_VALUE", "1")]);
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.open(&system.url("/cuenta")).await;
    browser.log_in("api_user", PASSWORD).await;
    browser.wait_visible("cuenta").await;
    // A token issued after the page's: once it has expired, so has the page's.
    let later = api_session(&system, "api_user", PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = me_status(&system, &later).await;
        if status == 401 {
            assert_eq!(body["codigo"], "TOKEN_EXPIRED", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the access token never expired");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let refreshes = |logs: &[String]| {
        logs.iter()
            .filter(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_default();
                v["path"] == "/auth/refresh" && v["status"] == 200
            })
            .count()
    };
    // Seconds have passed since the page's last call: its request lines have all been written.
    assert_eq!(refreshes(&system.logs()), 0);

    // The page's next call finds its token expired, refreshes the pair once and goes on.
    browser.click("boton-totp-iniciar").await;
    browser.wait_visible("totp-alta").await;
    // Request lines are written in batches, within a tenth of a second.
    system.wait_for_logs(|logs| refreshes(logs) > 0, Duration::from_secs(5));
    assert_eq!(refreshes(&system.logs()), 1);
    browser.click("boton-totp-cancelar").await;
    browser.wait_visible("totp-inactivo").await;

    // Every session ended from elsewhere: the page's next call is refused, and it goes back to the
    // login saying why, with nothing of the user left on it.
    let fresh = api_session(&system, "api_user", PASSWORD).await;
    let (status, body) = api(&system, "POST", "/auth/logout-all", Some(&fresh), None).await;
    assert_eq!(status, 200, "{body}");
    browser.click("boton-totp-iniciar").await;
    browser.wait_notice("Token revocado").await;
    browser.wait_visible("paso-login").await;
    assert!(!browser.is_visible("cuenta").await);
    assert_eq!(browser.text("yo-usuario").await, "");

    browser.assert_clean().await;
}
