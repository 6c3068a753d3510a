//! The OAuth 2.0 client registry through the admin API and `CLIENTS_FILE`: secrets shown once and
//! kept hashed, two valid during a rotation, a disabled client's tokens cut off through the feed, and
//! bad input refused with the field named.

use auth_service::store::EntryId;
use serde_json::{json, Value};
use shared::config::FromVars;
use shared::revocation::Revoked;

use crate::helpers::{codigo, read, StoreKind, TestApp, MARIA, MARIA_PASSWORD};

impl TestApp {
    async fn as_admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.login_tokens().await.0;
        let req = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(token);
        read(
            match body {
                Some(b) => req.json(&b),
                None => req,
            }
            .send()
            .await
            .unwrap(),
        )
        .await
    }

    async fn authenticates(&self, client_id: &str, secret: &str) -> bool {
        self.app
            .registry
            .authenticate(client_id, secret)
            .await
            .unwrap()
            .is_some()
    }

    /// The `sub`s the revocation feed has cut off so far.
    async fn cut_off_subs(&self) -> Vec<String> {
        let entries = self.app.store.feed.feed_after(EntryId::ZERO, 1000).await.unwrap();
        entries
            .into_iter()
            .filter_map(|(_, e)| match e.revoked {
                Revoked::User { sub, .. } => Some(sub),
                _ => None,
            })
            .collect()
    }
}

fn machine_client() -> Value {
    json!({
        "client_id": "billing-service",
        "client_name": "Billing",
        "grant_types": ["client_credentials"],
        "scope": "solicitud:read solicitud:write",
    })
}

#[tokio::test]
async fn a_client_is_created_with_a_secret_shown_once_and_kept_only_hashed() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .as_admin("POST", "/admin/clients", Some(machine_client()))
        .await;
    assert_eq!(status, 201, "{body}");
    let client = &body["datos"]["client"];
    assert_eq!(client["client_id"], "billing-service");
    assert_eq!(client["scope"], "solicitud:read solicitud:write");
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        (client["active"].clone(), client["valid_secrets"].clone()),
        (json!(true), json!(1))
    );
    let secret = body["datos"]["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "256 bits");
    assert!(app.authenticates("billing-service", &secret).await);
    assert!(!app.authenticates("billing-service", "not-the-secret").await);
    assert!(!app.authenticates("no-such-client", &secret).await);

    // Read back: no secret, no hash, anywhere.
    let (status, read_back) = app.as_admin("GET", "/admin/clients/billing-service", None).await;
    assert_eq!(status, 200);
    let (_, list) = app.as_admin("GET", "/admin/clients", None).await;
    for shown in [read_back.to_string(), list.to_string()] {
        assert!(
            !shown.contains(&secret) && !shown.contains("hash") && !shown.contains("salt"),
            "{shown}"
        );
    }
    assert_eq!(list["datos"].as_array().unwrap().len(), 1);

    // The same id again is taken.
    let (status, body) = app
        .as_admin("POST", "/admin/clients", Some(machine_client()))
        .await;
    assert_eq!((status, codigo(&body)), (409, "CONFLICT"));
    // A generated id when none is given.
    let (status, body) = app
        .as_admin(
            "POST",
            "/admin/clients",
            Some(json!({"client_name": "Reports", "grant_types": ["client_credentials"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["datos"]["client"]["client_id"]
        .as_str()
        .unwrap()
        .starts_with("app_"));
    assert_eq!(body["datos"]["client"]["scope"], "solicitud:read");
}

#[tokio::test]
async fn a_rotation_keeps_the_previous_secret_for_a_while_or_ends_it_now() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let (_, body) = app
        .as_admin("POST", "/admin/clients", Some(machine_client()))
        .await;
    let first = body["datos"]["client_secret"].as_str().unwrap().to_string();

    let (status, body) = app
        .as_admin(
            "POST",
            "/admin/clients/billing-service/secret",
            Some(json!({"keep_previous_seconds": 60})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = body["datos"]["client_secret"].as_str().unwrap().to_string();
    assert_eq!(body["datos"]["client"]["valid_secrets"], 2);
    assert!(app.authenticates("billing-service", &first).await);
    assert!(app.authenticates("billing-service", &second).await);
    app.clock.advance_secs(61);
    assert!(
        !app.authenticates("billing-service", &first).await,
        "the previous one lapsed"
    );
    assert!(app.authenticates("billing-service", &second).await);

    // 0: the previous one stops now, and the client's tokens are cut off (a leaked secret).
    let (status, body) = app
        .as_admin(
            "POST",
            "/admin/clients/billing-service/secret",
            Some(json!({"keep_previous_seconds": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let third = body["datos"]["client_secret"].as_str().unwrap().to_string();
    assert!(!app.authenticates("billing-service", &second).await);
    assert!(app.authenticates("billing-service", &third).await);
    assert_eq!(app.cut_off_subs().await, ["billing-service"]);

    for (bad, field) in [
        (json!({"keep_previous_seconds": -1}), "keep_previous_seconds"),
        (
            json!({"keep_previous_seconds": 2_592_001}),
            "keep_previous_seconds",
        ),
    ] {
        let (status, body) = app
            .as_admin("POST", "/admin/clients/billing-service/secret", Some(bad))
            .await;
        assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
        assert!(body["detalle"].as_str().unwrap().contains(field), "{body}");
    }
    let (status, _) = app
        .as_admin("POST", "/admin/clients/nobody/secret", Some(json!({})))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn disabling_a_client_refuses_its_secret_and_cuts_its_tokens_off_through_the_feed() {
    let app = TestApp::spawn().await;
    let (_, body) = app
        .as_admin("POST", "/admin/clients", Some(machine_client()))
        .await;
    let secret = body["datos"]["client_secret"].as_str().unwrap().to_string();
    let (status, body) = app
        .as_admin(
            "PATCH",
            "/admin/clients/billing-service",
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datos"]["active"], false);
    assert!(!app.authenticates("billing-service", &secret).await);
    assert!(app.cut_off_subs().await.contains(&"billing-service".to_string()));

    let (status, body) = app
        .as_admin(
            "PATCH",
            "/admin/clients/billing-service",
            Some(json!({"active": true, "scope": "solicitud:read"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datos"]["scope"], "solicitud:read");
    assert!(app.authenticates("billing-service", &secret).await);
}

#[tokio::test]
async fn bad_client_metadata_is_refused_naming_the_field() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    for (body, field) in [
        (
            json!({"client_name": "x", "client_id": "12345", "grant_types": ["client_credentials"]}),
            "client_id",
        ),
        (
            json!({"client_name": "x", "grant_types": ["password"]}),
            "grant_types",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "scope": "everything"}),
            "scope",
        ),
        (json!({"client_name": "x"}), "redirect_uris"),
        (
            json!({"client_name": "x", "redirect_uris": ["http://app.example/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "grant_types",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
            "token_endpoint_auth_method",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "client_secret": "mine"}),
            "client_secret",
        ),
        (json!({"grant_types": ["client_credentials"]}), "client_name"),
    ] {
        let (status, answer) = app.as_admin("POST", "/admin/clients", Some(body.clone())).await;
        assert_eq!(
            (status, codigo(&answer)),
            (422, "VALIDATION_ERROR"),
            "{body}: {answer}"
        );
        assert!(
            answer["detalle"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    // A public client with PKCE-style metadata is fine, and has no secret.
    let (status, body) = app
        .as_admin(
            "POST",
            "/admin/clients",
            Some(json!({"client_name": "SPA", "token_endpoint_auth_method": "none", "redirect_uris": ["http://localhost:5173/cb"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["datos"].get("client_secret").is_none());
    let id = body["datos"]["client"]["client_id"].as_str().unwrap().to_string();
    let (status, body) = app
        .as_admin("POST", &format!("/admin/clients/{id}/secret"), Some(json!({})))
        .await;
    assert_eq!((status, codigo(&body)), (409, "CONFLICT"));
    let (status, body) = app
        .as_admin(
            "PATCH",
            &format!("/admin/clients/{id}"),
            Some(json!({"token_endpoint_auth_method": "client_secret_basic"})),
        )
        .await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    assert_eq!(app.as_admin("GET", "/admin/clients/nobody", None).await.0, 404);
}

#[tokio::test]
async fn only_admins_manage_clients() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let maria = app.login_tokens_as(MARIA, MARIA_PASSWORD).await.0;
    for (method, path) in [
        ("GET", "/admin/clients"),
        ("POST", "/admin/clients"),
        ("GET", "/admin/clients/x"),
        ("PATCH", "/admin/clients/x"),
        ("POST", "/admin/clients/x/secret"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&maria)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!((status, codigo(&body)), (403, "FORBIDDEN"), "{method} {path}");
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{method} {path} without a token");
    }
}

#[tokio::test]
async fn the_clients_file_is_applied_at_start_and_a_bad_one_stops_it_naming_the_entry() {
    let fresh = auth_service::oauth::registry::new_secret();
    let path = std::env::temp_dir().join(format!(
        "auth-test-clients-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &path,
        format!(
            r#"
[[clients]]
client_id = "reports"
client_name = "Reports"
grant_types = ["client_credentials"]
scope = "solicitud:read"
client_secret_hash = "{}:{}"

[[clients]]
client_id = "spa"
client_name = "The SPA"
token_endpoint_auth_method = "none"
redirect_uris = ["http://localhost:5173/callback"]
first_party = true
"#,
            fresh.stored.salt, fresh.stored.hash
        ),
    )
    .unwrap();
    let app = TestApp::spawn_with(StoreKind::Redis, &[("CLIENTS_FILE", path.to_str().unwrap())]).await;
    // Served once the configured clients are applied.
    let (status, body) = app.as_admin("GET", "/admin/clients", None).await;
    assert!(app.authenticates("reports", &fresh.secret).await);
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["datos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["reports", "spa"]);
    assert_eq!(body["datos"][0]["configured"], true);

    for (text, expected) in [
        ("[[clients]]\nclient_name = \"x\"\n", "client_id is required"),
        ("[[clients]]\nclient_id = \"a\"\nclient_name = \"x\"\ngrant_types = [\"client_credentials\"]\n", "client_secret_hash"),
        ("[[clients]]\nclient_id = \"a\"\nclient_name = \"x\"\ngrant_types = [\"client_credentials\"]\nclient_secret_hash = \"plain\"\n", "client_secret_hash"),
        ("[[clients]]\nclient_id = \"a\"\nclient_name = \"x\"\ngrant_types = [\"client_credentials\"]\nscope = \"all\"\n", "scope"),
        ("[[clients]]\nclient_id = \"a\"\ncolour = \"blue\"\n", "colour"),
    ] {
        std::fs::write(&path, text).unwrap();
        let config = auth_service::config::AuthConfig::from_pairs(vec![
            ("JWT_SECRET".to_string(), crate::helpers::SECRET.to_string()),
            ("API_PASSWORD".to_string(), crate::helpers::ADMIN_PASSWORD.to_string()),
            ("CLIENTS_FILE".to_string(), path.to_str().unwrap().to_string()),
        ])
        .unwrap();
        let err = auth_service::app::App::build(config, std::sync::Arc::new(shared::SystemClock))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("CLIENTS_FILE") && err.contains(expected), "{text}: {err}");
    }
    let _ = std::fs::remove_file(&path);
}

/// `auth-service clients …` against the store a running service uses: a client added, listed, given a
/// new secret, disabled and enabled, each change seen by the service at once; an unknown client is
/// refused with status 2.
#[tokio::test]
async fn the_cli_manages_clients_in_the_configured_store() {
    let vars: Vec<(&'static str, String)> = vec![
        ("JWT_SECRET", crate::helpers::SECRET.to_string()),
        ("API_PASSWORD", crate::helpers::ADMIN_PASSWORD.to_string()),
        ("MFA_ENCRYPTION_KEY", crate::helpers::MFA_KEY.to_string()),
        ("REDIS_URL", crate::helpers::redis_url()),
        ("REDIS_KEY_PREFIX", crate::helpers::unique_prefix()),
        ("JWT_ISSUER", "http://localhost:8000".to_string()),
    ];
    let service = crate::process::start_auth(&vars);
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"));
        cmd.env_clear().args(["clients"]).args(args);
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let token = |secret: String| {
        let url = service.url("/oauth2/token");
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth("cli-reports", Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let secret_of = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("client_secret (shown this once): "))
            .unwrap_or_else(|| panic!("no secret in {out}"))
            .to_string()
    };

    let (code, out, err) = cli(&[
        "add",
        "Reports",
        "--client-id",
        "cli-reports",
        "--grant-type",
        "client_credentials",
        "--scope",
        "solicitud:read",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let first = secret_of(&out);
    assert!(err.contains("client_created"), "the audit line, actor cli: {err}");
    assert!(!err.contains(&first), "the secret never reaches a log");
    assert_eq!(token(first.clone()).await, 200);

    let (code, out, _) = cli(&["list"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("cli-reports\tReports\ttrue\tclient_credentials\tsolicitud:read")),
        "{out}"
    );
    assert!(!out.contains(&first), "never a secret in the list: {out}");

    let (code, out, _) = cli(&["rotate-secret", "cli-reports", "--keep-previous-seconds", "0"]);
    assert_eq!(code, 0, "{out}");
    let second = secret_of(&out);
    assert_eq!(token(first).await, 401, "the previous secret ended at once");
    assert_eq!(token(second.clone()).await, 200);

    assert_eq!(cli(&["disable", "cli-reports"]).0, 0);
    assert_eq!(token(second.clone()).await, 401);
    assert_eq!(cli(&["enable", "cli-reports"]).0, 0);
    assert_eq!(token(second).await, 200);

    let (code, _, err) = cli(&["disable", "nobody"]);
    assert_eq!((code, err.contains("no such client")), (2, true), "{err}");
    let (code, _, err) = cli(&[
        "add",
        "Bad",
        "--client-id",
        "12345",
        "--grant-type",
        "client_credentials",
    ]);
    assert_eq!(code, 2, "{err}");
}
