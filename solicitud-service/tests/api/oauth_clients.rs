//! OAuth 2.0 machine clients, proven with clients nobody here wrote: Python's Authlib
//! (`OAuth2Session.fetch_token` with `client_credentials`) and Node's openid-client (discovery, then
//! `clientCredentialsGrant`) get tokens from a running auth-service (its clients from `CLIENTS_FILE`,
//! their secret hashes from `auth-service clients new-secret`), and those tokens are used at a running
//! solicitud-service: read with `solicitud:read`, refused a create without `solicitud:write` (403),
//! and refused altogether once their client is disabled (the revocation feed). The scripts are in
//! `tests/interop/`. Authlib and openid-client are installed once into the target directory; without
//! python3 or npm (or the registries) the test prints SKIPPED, except on CI, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::{free_port, node_modules, python_venv, run_script, sibling_binary, skip, ServiceProcess};

use crate::helpers::{redis_url, unique_prefix, valid_request, SECRET};

const AUTHLIB: &str = "1.9.10";
const REQUESTS: &str = "2.34.2";
const OPENID_CLIENT: &str = "6.9.1";
const ADMIN_PASSWORD: &str = "interop admin password 42";

fn binary(name: &str) -> PathBuf {
    sibling_binary(env!("CARGO_BIN_EXE_solicitud-service"), name)
        .unwrap_or_else(|e| panic!("no {name} binary: {e}"))
}

fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_solicitud-service"));
    bin.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn interop(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(file)
}

/// Both services on one Redis prefix, with the issuer URL auth-service listens at and two clients
/// from `CLIENTS_FILE`: `reports` (`client_secret_basic`, `solicitud:read`) and `poster`
/// (`client_secret_post`, `solicitud:read solicitud:write`), both with `secret`.
struct Deployment {
    issuer: String,
    secret: String,
    auth: ServiceProcess,
    sol: ServiceProcess,
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn deploy() -> Deployment {
    // The secret and its hash as an operator makes them.
    let made = run_script(
        Command::new(binary("auth-service"))
            .args(["clients", "new-secret"])
            .env_clear(),
    )
    .unwrap();
    let secret = made
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("a client_secret line")
        .to_string();
    let hash_line = made
        .lines()
        .find(|l| l.starts_with("client_secret_hash = "))
        .expect("a client_secret_hash line");
    let dir =
        tempdir::Dir(std::env::temp_dir().join(format!("oauth-interop-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let clients = dir.0.join("clients.toml");
    std::fs::write(
        &clients,
        format!(
            "[[clients]]\nclient_id = \"reports\"\nclient_name = \"Reports\"\ngrant_types = [\"client_credentials\"]\n\
             scope = \"solicitud:read\"\n{hash_line}\n\n\
             [[clients]]\nclient_id = \"poster\"\nclient_name = \"Poster\"\ngrant_types = [\"client_credentials\"]\n\
             scope = \"solicitud:read solicitud:write\"\ntoken_endpoint_auth_method = \"client_secret_post\"\n{hash_line}\n"
        ),
    )
    .unwrap();
    let port = free_port().unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    let prefix = unique_prefix();
    let common = vec![
        ("JWT_SECRET", SECRET.to_string()),
        ("JWT_ISSUER", issuer.clone()),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix),
    ];
    let mut auth_vars = common.clone();
    auth_vars.extend([
        ("AUTH_BIND_ADDR", format!("127.0.0.1:{port}")),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        (
            "MFA_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string(),
        ),
        ("CLIENTS_FILE", clients.display().to_string()),
    ]);
    let auth = ServiceProcess::start(binary("auth-service"), &auth_vars)
        .unwrap_or_else(|e| panic!("auth-service did not start: {e}"));
    let mut sol_vars = common;
    sol_vars.push(("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()));
    let sol = ServiceProcess::start(binary("solicitud-service"), &sol_vars)
        .unwrap_or_else(|e| panic!("solicitud-service did not start: {e}"));
    assert!(
        sol.wait_for_log("revocation feed loaded", Duration::from_secs(10)),
        "{:?}",
        sol.logs()
    );
    Deployment {
        issuer,
        secret,
        auth,
        sol,
        _dir: dir,
    }
}

async fn status(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// What each library got, checked the same way: tokens for the right scopes, the RFC's errors, and
/// the tokens used at solicitud-service. Returns the `reports` token.
async fn check_cases(library: &str, d: &Deployment, cases: &Value) -> String {
    let client = reqwest::Client::new();
    for (case, scope) in [
        ("basic", "solicitud:read"),
        ("post", "solicitud:read solicitud:write"),
        ("narrowed", "solicitud:read"),
    ] {
        assert_eq!(cases[case]["scope"], scope, "{library} {case}: {cases}");
        assert_eq!(cases[case]["expires_in"], 3600, "{library} {case}");
        let token = cases[case]["access_token"].as_str().unwrap();
        let (got, body) = status(client.get(d.sol.url("/solicitud/")).bearer_auth(token)).await;
        assert_eq!(got, 200, "{library} {case} reads: {body}");
        let (got, body) = status(
            client
                .post(d.sol.url("/solicitud/"))
                .bearer_auth(token)
                .json(&valid_request()),
        )
        .await;
        let expected = if scope.contains("solicitud:write") {
            201
        } else {
            403
        };
        assert_eq!(got, expected, "{library} {case} creates: {body}");
    }
    for (case, error) in [
        ("wrong_secret", "invalid_client"),
        ("unknown_client", "invalid_client"),
        ("scope_not_allowed", "invalid_scope"),
    ] {
        assert_eq!(cases[case]["error"], error, "{library} {case}: {cases}");
    }
    cases["basic"]["access_token"].as_str().unwrap().to_string()
}

/// Disables `reports` through the admin API; its token is then refused at solicitud-service within
/// a few seconds, with no call between the services.
async fn disabling_reports_revokes(d: &Deployment, token: &str) {
    let client = reqwest::Client::new();
    let (got, login) = status(
        client
            .post(d.auth.url("/auth/login"))
            .json(&json!({"username": "api_user", "password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!(got, 200, "{login}");
    let admin = login["datos"]["accessToken"].as_str().unwrap();
    let (got, body) = status(
        client
            .patch(d.auth.url("/admin/clients/reports"))
            .bearer_auth(admin)
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(got, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (got, body) = status(client.get(d.sol.url("/solicitud/")).bearer_auth(token)).await;
        if got == 401 {
            assert_eq!(body["codigo"], "TOKEN_REVOKED", "{body}");
            return;
        }
        assert!(Instant::now() < deadline, "still {got} after disabling: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn authlib_gets_client_credentials_tokens_that_solicitud_service_honours() {
    let test = "authlib_gets_client_credentials_tokens_that_solicitud_service_honours";
    let venv = target_dir().join("oauth-interop-venv");
    let python = match tokio::task::spawn_blocking(move || {
        python_venv(
            &venv,
            &[&format!("authlib=={AUTHLIB}"), &format!("requests=={REQUESTS}")],
            "import authlib, requests; print(authlib.__version__)",
            AUTHLIB,
        )
    })
    .await
    .unwrap()
    {
        Ok(python) => python,
        Err(why) => return skip(test, &format!("Authlib could not be installed: {why}")),
    };
    let d = deploy();
    let (issuer, secret) = (d.issuer.clone(), d.secret.clone());
    let out = tokio::task::spawn_blocking(move || {
        run_script(
            Command::new(python)
                .arg(interop("authlib_client.py"))
                .arg(issuer)
                .arg(secret)
                .env_clear(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    })
    .await
    .unwrap();
    let cases: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let token = check_cases("authlib", &d, &cases).await;
    disabling_reports_revokes(&d, &token).await;
}

#[tokio::test]
async fn openid_client_discovers_and_gets_client_credentials_tokens_that_solicitud_service_honours() {
    let test = "openid_client_discovers_and_gets_client_credentials_tokens_that_solicitud_service_honours";
    let dir = target_dir().join("oauth-interop-node");
    let modules =
        match tokio::task::spawn_blocking(move || node_modules(&dir, "openid-client", OPENID_CLIENT))
            .await
            .unwrap()
        {
            Ok(dir) => dir,
            Err(why) => return skip(test, &format!("openid-client could not be installed: {why}")),
        };
    let d = deploy();
    // Node resolves packages from the script's own directory: a copy beside node_modules.
    let script = modules.join(format!("openid_client-{}.mjs", uuid::Uuid::new_v4().simple()));
    std::fs::copy(interop("openid_client.mjs"), &script).unwrap();
    let (issuer, secret, run) = (d.issuer.clone(), d.secret.clone(), script.clone());
    let out = tokio::task::spawn_blocking(move || {
        run_script(Command::new("node").arg(run).arg(issuer).arg(secret).env_clear())
            .unwrap_or_else(|e| panic!("{e}"))
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&script);
    let cases: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    // openid-client reads the 401's RFC 6749 body from its WWW-Authenticate challenge.
    assert_eq!(cases["wrong_secret"]["challenge"], "basic", "{cases}");
    let token = check_cases("openid-client", &d, &cases).await;
    disabling_reports_revokes(&d, &token).await;
}
