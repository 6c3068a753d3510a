//! A relying party nobody here wrote: Apache httpd with mod_auth_openidc (Debian's `apache2` and
//! `libapache2-mod-auth-openidc`) protects two apps on two ports, each an OAuth client of the
//! all-in-one binary, and headless Chromium signs in as a person would: the first app redirects to the
//! hosted login page, the password and a TOTP code are typed, and the app shows the claims
//! mod_auth_openidc passes on; the second app signs in without a password (single sign-on); logging
//! out of the first (mod_auth_openidc's logout, then RP-Initiated Logout here) ends both, the second
//! through OIDC Back-Channel Logout.
//!
//! Without Apache, the module, chromium or chromedriver the test prints a `SKIPPED` line and passes,
//! except on CI, where that is a failure saying what to install (`.ci/run` installs them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{json, Value};

use crate::cuenta::{
    api, api_session, chromium_or_skip, create_maria, find_binary, is_root, now_step, on_ci, start_system,
    Authenticator, Browser, PASSWORD,
};

const MODULES: &str = "/usr/lib/apache2/modules";
/// How long a page may take to load through the redirects.
const WAIT: Duration = Duration::from_secs(20);

/// Apache's binary, with mod_auth_openidc installed; or None and a SKIPPED line (a failure on CI).
fn apache_or_skip(test: &str) -> Option<PathBuf> {
    let apache = find_binary("APACHE2", &["apache2"])
        .or_else(|| Some(PathBuf::from("/usr/sbin/apache2")).filter(|p| p.is_file()));
    let module = Path::new(MODULES).join("mod_auth_openidc.so");
    match apache {
        Some(apache) if module.is_file() => Some(apache),
        _ => {
            let what = "apache2 and mod_auth_openidc (apt-get install apache2 libapache2-mod-auth-openidc)";
            assert!(!on_ci(), "{test}: {what} not installed (.ci/run installs them)");
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {what} not installed");
            None
        }
    }
}

/// Apache in the foreground with a configuration of its own; stopped when dropped.
struct Apache {
    child: Child,
    dir: PathBuf,
}

/// One protected app: its port and OAuth client.
struct App {
    port: u16,
    client_id: &'static str,
    secret: String,
}

impl Apache {
    fn start(binary: &Path, issuer: &str, apps: &[&App]) -> Self {
        let dir = std::env::temp_dir().join(format!("rp-apache-{}", uuid::Uuid::new_v4().simple()));
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("protected")).unwrap();
        std::fs::write(
            www.join("protected/index.shtml"),
            "<!doctype html><html><head><title>protegida</title></head><body>\n\
             <h1 id=\"app\"><!--#echo var=\"SERVER_PORT\" --></h1>\n\
             <p id=\"user\"><!--#echo var=\"OIDC_CLAIM_preferred_username\" --></p>\n\
             <p id=\"email\"><!--#echo var=\"OIDC_CLAIM_email\" --></p>\n\
             <p id=\"amr\"><!--#echo var=\"OIDC_CLAIM_amr\" --></p>\n</body></html>\n",
        )
        .unwrap();
        std::fs::write(
            www.join("loggedout.html"),
            "<!doctype html><html><body><p id=\"bye\">fuera</p></body></html>\n",
        )
        .unwrap();
        let user = if is_root() {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        let mut conf = format!(
            "ServerRoot \"{dir}\"\nServerName localhost\nPidFile \"{dir}/httpd.pid\"\n\
             ErrorLog \"{dir}/error.log\"\nLogLevel warn auth_openidc:info\n{user}\
             LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n\
             LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
             LoadModule authz_user_module {MODULES}/mod_authz_user.so\n\
             LoadModule authn_core_module {MODULES}/mod_authn_core.so\n\
             LoadModule mime_module {MODULES}/mod_mime.so\n\
             LoadModule include_module {MODULES}/mod_include.so\n\
             LoadModule dir_module {MODULES}/mod_dir.so\n\
             LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so\n\
             TypesConfig /etc/mime.types\nAddType text/html .shtml\nAddOutputFilter INCLUDES .shtml\n\
             DirectoryIndex index.shtml index.html\n\
             OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration\n\
             OIDCCryptoPassphrase {pass}\nOIDCScope \"openid profile email\"\nOIDCPKCEMethod S256\n\
             <Directory \"{dir}/www\">\n  Options +Includes\n  Require all granted\n</Directory>\n",
            dir = dir.display(),
            pass = uuid::Uuid::new_v4().simple(),
        );
        for app in apps {
            conf.push_str(&format!(
                "Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n  DocumentRoot \"{www}\"\n\
                 OIDCClientID {id}\n  OIDCClientSecret {secret}\n\
                 OIDCRedirectURI http://localhost:{port}/protected/redirect_uri\n\
                 # Each app its own session cookie: cookies do not tell ports apart.\n\
                 OIDCCookie rp_session_{port}\n\
                 <Location /protected>\n    AuthType openid-connect\n    Require valid-user\n  </Location>\n\
                 </VirtualHost>\n",
                port = app.port,
                www = www.display(),
                id = app.client_id,
                secret = app.secret,
            ));
        }
        std::fs::write(dir.join("httpd.conf"), conf).unwrap();
        let child = Command::new(binary)
            .arg("-f")
            .arg(dir.join("httpd.conf"))
            .arg("-DFOREGROUND")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let apache = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        for app in apps {
            while std::net::TcpStream::connect(("127.0.0.1", app.port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "apache did not listen on {}: {}",
                    app.port,
                    apache.log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        apache
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `script` until it returns true; the page's text and Apache's log if it never does.
async fn wait_for(browser: &Browser, apache: &Apache, script: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if browser.js(script).await == json!(true) {
            return;
        }
        if Instant::now() >= deadline {
            let page = browser
                .js("return document.location.href + '\\n' + document.body.innerText")
                .await;
            panic!(
                "timed out waiting for {what}; the browser shows {page}; apache: {}",
                apache.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn shows(id: &str) -> String {
    format!("return !!document.getElementById('{id}')")
}

async fn text(browser: &Browser, id: &str) -> String {
    browser
        .js(&format!("return document.getElementById('{id}').innerText"))
        .await
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string()
}

async fn submit(browser: &Browser) {
    browser
        .c()
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Registers a confidential client for an app behind mod_auth_openidc.
async fn register(
    system: &test_support::ServiceProcess,
    admin: &str,
    client_id: &'static str,
    port: u16,
) -> App {
    let base = format!("http://localhost:{port}");
    let (status, body) = api(
        system,
        "POST",
        "/admin/clients",
        Some(admin),
        Some(json!({
            "client_id": client_id, "client_name": format!("Apache {port}"),
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [format!("{base}/protected/redirect_uri")],
            "post_logout_redirect_uris": [format!("{base}/loggedout.html")],
            "backchannel_logout_uri": format!("{base}/protected/redirect_uri?logout=backchannel"),
            "scope": "openid profile email", "first_party": true,
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    App {
        port,
        client_id,
        secret: body["datos"]["client_secret"].as_str().unwrap().to_string(),
    }
}

/// Turns TOTP on for maria through the API; her authenticator.
async fn enrol_maria(system: &test_support::ServiceProcess) -> Authenticator {
    let access = api_session(system, "maria", PASSWORD).await;
    let (status, setup) = api(system, "POST", "/auth/mfa/setup", Some(&access), None).await;
    assert_eq!(status, 200, "{setup}");
    let totp = Authenticator::from_page(setup["datos"]["secret"].as_str().unwrap());
    let (status, done): (u16, Value) = api(
        system,
        "POST",
        "/auth/mfa/activate",
        Some(&access),
        Some(json!({"code": totp.at(now_step())})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    totp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_mod_auth_openidc_signs_in_with_the_second_factor_shares_the_session_and_logs_out_of_both() {
    let test =
        "apache_mod_auth_openidc_signs_in_with_the_second_factor_shares_the_session_and_logs_out_of_both";
    let Some(apache_bin) = apache_or_skip(test) else {
        return;
    };
    let Some((chromium, chromedriver)) = chromium_or_skip(test) else {
        return;
    };
    let port = test_support::free_port().unwrap();
    let system = start_system(&[("ALL_IN_ONE_BIND_ADDR", &format!("127.0.0.1:{port}"))]);
    let issuer = format!("http://localhost:{port}");
    create_maria(&system).await;
    let totp = enrol_maria(&system).await;
    let admin = api_session(&system, "api_user", PASSWORD).await;
    let a = register(&system, &admin, "apache-a", test_support::free_port().unwrap()).await;
    let b = register(&system, &admin, "apache-b", test_support::free_port().unwrap()).await;
    let apache = tokio::task::block_in_place(|| Apache::start(&apache_bin, &issuer, &[&a, &b]));
    let browser = Browser::start(&chromium, &chromedriver).await;

    // The first app sends the browser to the hosted login page.
    browser
        .c()
        .goto(&format!("http://localhost:{}/protected/", a.port))
        .await
        .unwrap();
    wait_for(&browser, &apache, &shows("username"), "the login page").await;
    browser.type_into("username", "maria").await;
    browser.type_into("password", PASSWORD).await;
    submit(&browser).await;
    wait_for(&browser, &apache, &shows("code"), "the second step").await;
    browser.type_into("code", &totp.at(now_step() + 1)).await;
    submit(&browser).await;
    wait_for(&browser, &apache, &shows("user"), "the first app's page").await;
    assert_eq!(text(&browser, "app").await, a.port.to_string());
    assert_eq!(text(&browser, "user").await, "maria");
    assert_eq!(text(&browser, "email").await, "maria@example.com");
    let amr = text(&browser, "amr").await;
    assert!(amr.contains("otp") && amr.contains("mfa"), "amr {amr}");

    // The second app: signed in by the session the browser already has, no password asked.
    browser
        .c()
        .goto(&format!("http://localhost:{}/protected/", b.port))
        .await
        .unwrap();
    wait_for(&browser, &apache, &shows("user"), "the second app's page").await;
    assert_eq!(text(&browser, "app").await, b.port.to_string());
    assert_eq!(text(&browser, "user").await, "maria");

    // Logging out of the first app: mod_auth_openidc ends its session and sends the browser to the
    // end-session endpoint with its ID token, which ends the browser session and tells the second
    // app over the back channel.
    let back = format!("http://localhost:{}/loggedout.html", a.port);
    let logout = format!(
        "http://localhost:{}/protected/redirect_uri?logout={}",
        a.port,
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    );
    browser.c().goto(&logout).await.unwrap();
    wait_for(&browser, &apache, &shows("bye"), "the page after logout").await;
    for app in [&b, &a] {
        let deadline = Instant::now() + WAIT;
        loop {
            browser
                .c()
                .goto(&format!("http://localhost:{}/protected/", app.port))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            if browser.js(&shows("username")).await == json!(true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "app {} still signed in after logout; apache: {}",
                app.port,
                apache.log()
            );
        }
    }
}
