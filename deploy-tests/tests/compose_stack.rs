//! docker-compose.yml for real: the stack a Docker Engine built and started from a copy of the
//! repository, with a `.env` written by `deploy/new-env.sh`, checked through the gateway's one origin.
//!
//! Ignored by `cargo test`: it needs the running stack that `deploy-tests/compose/run.sh` brings up
//! (and tears down, with the engine, however this ends), which `.ci/run` calls. The script passes
//! where the stack is in `COMPOSE_STACK_DIR`, its project name in `COMPOSE_PROJECT_NAME`, and the
//! generated admin password in `COMPOSE_ADMIN_PASSWORD`.
//!
//! One test, in phases that build on each other (the data made before a Redis restart is what must
//! survive it): the seed's own clients and a walk; three auth-service replicas sharing one refresh
//! chain, its reuse and a login lock; `restart redis` and `down` + `up`; the gateway's own answers
//! with a service stopped; TLS at the gateway; and last, every container's log read for JSON, request
//! ids and secrets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

const ORIGIN: &str = "http://127.0.0.1:8000";
/// docker-compose.yml's JWT_ISSUER: where a browser on this machine reaches the gateway.
const ISSUER: &str = "http://localhost:8000";
const ADMIN: &str = "api_user";

struct Stack {
    dir: PathBuf,
    project: String,
    password: String,
    client: Client,
    /// Every token the stack handed out, and every secret in its .env: none may appear in a log.
    secrets: BTreeSet<String>,
    next_id: u32,
    /// The logs of containers that `down` removed, per service, for the checks at the end.
    earlier_logs: Vec<(&'static str, String)>,
}

const SERVICES: [&str; 4] = ["redis", "auth-service", "solicitud-service", "gateway"];

struct Reply {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Stack {
    fn from_env() -> Stack {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run deploy-tests/compose/run.sh, not this test")
            })
        };
        let dir = PathBuf::from(var("COMPOSE_STACK_DIR"));
        let env = std::fs::read_to_string(dir.join(".env")).expect("the stack's .env");
        let secrets = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, v)| {
                ["JWT_SECRET", "API_PASSWORD", "MFA_ENCRYPTION_KEY"].contains(k) && !v.is_empty()
            })
            .map(|(_, v)| v.to_string())
            .collect::<BTreeSet<_>>();
        assert_eq!(secrets.len(), 3, "new-env.sh wrote three secrets");
        Stack {
            dir,
            project: var("COMPOSE_PROJECT_NAME"),
            password: var("COMPOSE_ADMIN_PASSWORD"),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            secrets,
            next_id: 0,
            earlier_logs: Vec::new(),
        }
    }

    /// `docker compose <args>` in the stack's directory; its stdout. Panics with its output on failure.
    fn compose(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .arg("compose")
            .args(["-p", &self.project])
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("docker must be installed");
        assert!(
            out.status.success(),
            "docker compose {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container ids of a service.
    fn containers(&self, service: &str) -> Vec<String> {
        self.compose(&["ps", "-q", service])
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Waits until every container of `service` reports healthy.
    fn wait_healthy(&self, service: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let ids = self.containers(service);
            let healthy = ids
                .iter()
                .filter(|id| {
                    let out = Command::new("docker")
                        .args(["inspect", "-f", "{{.State.Health.Status}}", id])
                        .output()
                        .unwrap();
                    String::from_utf8_lossy(&out.stdout).trim() == "healthy"
                })
                .count();
            if healthy == count && ids.len() == count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{service}: {healthy} of {count} healthy after 180 s\n{}",
                self.compose(&["ps", "-a"])
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn wait_all_healthy(&self) {
        for service in ["redis", "auth-service", "solicitud-service", "gateway"] {
            self.wait_healthy(service, 1);
        }
    }

    /// A request id of our own, so the logs can be searched for it.
    fn request_id(&mut self) -> String {
        self.next_id += 1;
        format!("compose-ci-{}", self.next_id)
    }

    fn send(&mut self, request: RequestBuilder) -> Reply {
        let res = request.send().unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().unwrap();
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
        // Whatever token the stack hands out is a secret from here on.
        for key in [
            "accessToken",
            "refreshToken",
            "access_token",
            "mfaToken",
            "client_secret",
        ] {
            for holder in [&body["datos"], &body["ResultData"]] {
                if let Some(t) = holder[key].as_str() {
                    self.secrets.insert(t.to_string());
                }
            }
        }
        Reply {
            status,
            body,
            headers,
        }
    }

    fn post(&mut self, path: &str, body: Value) -> Reply {
        let id = self.request_id();
        let rq = self
            .client
            .post(format!("{ORIGIN}{path}"))
            .header("X-Request-Id", id)
            .json(&body);
        self.send(rq)
    }

    fn get_bearer(&mut self, path: &str, token: &str) -> Reply {
        let rq = self.client.get(format!("{ORIGIN}{path}")).bearer_auth(token);
        self.send(rq)
    }

    fn login(&mut self, password: &str) -> Reply {
        let password = password.to_string();
        self.post("/auth/login", json!({"username": ADMIN, "password": password}))
    }

    /// (access, refresh) of a successful login.
    fn login_pair(&mut self) -> (String, String) {
        let password = self.password.clone();
        let r = self.login(&password);
        assert_eq!(r.status, 200, "{}", r.body);
        pair(&r.body)
    }

    fn refresh(&mut self, refresh: &str) -> Reply {
        self.post("/auth/refresh", json!({"refreshToken": refresh}))
    }

    /// What `service`'s running containers logged, one line per line (compose starts each line with
    /// an erase-line escape even when its output is not a terminal; that goes).
    fn logs(&self, service: &str) -> String {
        strip_escapes(&self.compose(&["logs", "--no-color", "--no-log-prefix", service]))
    }

    /// Keeps every service's log before its containers are removed.
    fn keep_logs(&mut self) {
        for service in SERVICES {
            let logs = self.logs(service);
            self.earlier_logs.push((service, logs));
        }
    }

    /// Everything `service` logged, in removed containers and running ones.
    fn all_logs(&self, service: &str) -> String {
        let mut all: String = self
            .earlier_logs
            .iter()
            .filter(|(s, _)| *s == service)
            .map(|(_, l)| l.as_str())
            .collect();
        all.push_str(&self.logs(service));
        all
    }
}

/// `text` without ANSI escape sequences (ESC `[` parameters, then one letter).
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
        } else {
            out.push(c);
        }
    }
    out
}

fn pair(body: &Value) -> (String, String) {
    (
        body["datos"]["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_string(),
        body["datos"]["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_string(),
    )
}

fn new_solicitud() -> Value {
    json!({
        "origen": "Bogotá, Calle 26",
        "destino": "Aeropuerto El Dorado",
        "fechaServicio": "2031-06-01T08:30:00-05:00",
        "pasajeros": 3,
        "motivo": "Traslado de testigos a audiencia"
    })
}

/// What the first phase leaves behind for the restarts to find again.
struct Kept {
    access: String,
    refresh: String,
    revoked_access: String,
    solicitud_id: u64,
}

#[test]
#[ignore = "needs the compose stack: deploy-tests/compose/run.sh runs it (from .ci/run)"]
fn the_compose_stack_end_to_end() {
    let mut stack = Stack::from_env();
    stack.wait_all_healthy();

    seed_clients_gettoken_and_a_solicitud(&mut stack);
    machine_clients_through_the_gateway(&mut stack);
    let kept = state_to_keep(&mut stack);
    three_replicas_share_one_chain_its_reuse_and_the_lock(&mut stack);

    // `restart redis`: the first requests once Redis is healthy again succeed, on every replica's
    // old connection, and nothing was forgotten.
    stack.compose(&["restart", "redis"]);
    stack.wait_healthy("redis", 1);
    let kept = still_there(&mut stack, kept, "after restart redis");

    // `down` + `up`: new containers, the same volume.
    stack.keep_logs();
    stack.compose(&["down"]);
    stack.compose(&["up", "-d"]);
    stack.wait_all_healthy();
    let _ = still_there(&mut stack, kept, "after down + up");

    the_gateways_own_answers(&mut stack);
    tls_at_the_gateway(&mut stack);
    logs_are_json_with_request_ids_and_hold_no_secret(&stack);
}

fn seed_clients_gettoken_and_a_solicitud(stack: &mut Stack) {
    if test_support::seed_clients::seeds_present("the compose stack's seed clients") {
        test_support::seed_clients::run_all(ORIGIN, ADMIN, &stack.password).unwrap_or_else(|e| panic!("{e}"));
    }
    the_readmes_curl_walk(stack);
    tokens_verify_with_the_published_keys_alone(stack);

    let password = stack.password.clone();
    let r = stack.post(
        "/v2/auth/gettoken",
        json!({"username": "api_user@example.com", "password": password, "virtual_operator": "saphety"}),
    );
    assert_eq!((r.status, &r.body["IsValid"]), (200, &json!(true)), "{}", r.body);
    let saphety = r.body["ResultData"]["access_token"].as_str().unwrap().to_string();

    // A solicitud created (with the Saphety token, which the solicitud service takes like any access
    // token) and approved by the admin.
    let id = stack.request_id();
    let rq = stack
        .client
        .post(format!("{ORIGIN}/solicitud/"))
        .header("X-Request-Id", id)
        .bearer_auth(&saphety)
        .json(&new_solicitud());
    let r = stack.send(rq);
    assert_eq!(r.status, 201, "{}", r.body);
    let sid = r.body["datos"]["id"].as_u64().unwrap();
    let (access, _) = stack.login_pair();
    let rq = stack
        .client
        .patch(format!("{ORIGIN}/solicitud/{sid}/estado"))
        .bearer_auth(&access)
        .json(&json!({"estado": "aprobada"}));
    let r = stack.send(rq);
    assert_eq!(
        (r.status, &r.body["datos"]["estado"]),
        (200, &json!("aprobada")),
        "{}",
        r.body
    );
    println!("compose: the seed's clients, gettoken, a solicitud created and approved");
}

/// The stack signs with Ed25519 (docker-compose.yml's JWT_ALGORITHM): the gateway serves the public
/// keys, cacheable and without a private member, and an access token verifies with them alone; the
/// solicitud service (which holds no JWT_SECRET here) accepts it.
fn tokens_verify_with_the_published_keys_alone(stack: &mut Stack) {
    let rq = stack.client.get(format!("{ORIGIN}/.well-known/jwks.json"));
    let r = stack.send(rq);
    assert_eq!(r.status, 200, "{}", r.body);
    let cache = r.headers["cache-control"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(r.body.clone()).unwrap();
    assert!(!set.keys.is_empty(), "{}", r.body);
    // The access tokens' Ed25519 keys, and the ID-token keys of the OpenID Provider (RS256 by
    // default, ES256 and EdDSA on request): public halves only, each of the kind its `alg` says.
    for key in r.body["keys"].as_array().unwrap() {
        let kind = match key["alg"].as_str() {
            Some("EdDSA") => (json!("OKP"), json!("Ed25519")),
            Some("ES256") => (json!("EC"), json!("P-256")),
            Some("RS256") => (json!("RSA"), Value::Null),
            other => panic!("a key of {other:?}: {key}"),
        };
        assert_eq!((key["kty"].clone(), key["crv"].clone()), kind, "{key}");
        for private in ["d", "p", "q", "k"] {
            assert!(key.get(private).is_none(), "{key} carries {private}");
        }
    }
    let (access, _) = stack.login_pair();
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let kid = header.kid.expect("a kid");
    let jwk = set.find(&kid).unwrap_or_else(|| panic!("{kid} is not published"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["solicitud-transporte-api"]);
    validation.set_issuer(&[ISSUER]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let claims = jsonwebtoken::decode::<Value>(&access, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], json!("1"), "the bootstrap admin: {claims}");
    let r = stack.get_bearer("/solicitud/", &access);
    assert_eq!(r.status, 200, "{}", r.body);
    println!("compose: EdDSA tokens, verified with the published keys alone");
}

/// OAuth 2.0 through the gateway: discovery names the issuer, an admin registers a machine client, its
/// client_credentials token reads solicitudes but may not create one, and once the client is disabled
/// solicitud-service refuses the token (the revocation feed).
fn machine_clients_through_the_gateway(stack: &mut Stack) {
    let rq = stack
        .client
        .get(format!("{ORIGIN}/.well-known/openid-configuration"));
    let r = stack.send(rq);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["issuer"], ISSUER);
    assert_eq!(r.body["token_endpoint"], format!("{ISSUER}/oauth2/token"));
    assert_eq!(
        r.body["authorization_endpoint"],
        format!("{ISSUER}/oauth2/authorize")
    );
    // Out of the box: the demo client (deploy/demo-clients.toml, mounted by the compose file) gets
    // the hosted login page through the gateway.
    let rq = stack.client.get(format!(
        "{ORIGIN}/oauth2/authorize?response_type=code&client_id=demo&scope=openid&state=s\
         &redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    ));
    let res = rq.send().unwrap();
    assert_eq!(res.status().as_u16(), 200, "the demo client's login page");
    let page = res.text().unwrap();
    assert!(page.contains("autocomplete=\"current-password\""), "{page}");
    assert!(page.contains("Demo app"), "{page}");
    let (admin, _) = stack.login_pair();
    let rq = stack
        .client
        .post(format!("{ORIGIN}/admin/clients"))
        .bearer_auth(&admin)
        .json(&json!({"client_id": "compose-reports", "client_name": "Reports",
                      "grant_types": ["client_credentials"], "scope": "solicitud:read"}));
    let r = stack.send(rq);
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["datos"]["client_secret"].as_str().unwrap().to_string();
    let rq = stack
        .client
        .post(format!("{ORIGIN}/oauth2/token"))
        .basic_auth("compose-reports", Some(&secret))
        .form(&[("grant_type", "client_credentials")]);
    let r = stack.send(rq);
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let r = stack.get_bearer("/solicitud/", &token);
    assert_eq!(r.status, 200, "{}", r.body);
    let rq = stack
        .client
        .post(format!("{ORIGIN}/solicitud/"))
        .bearer_auth(&token)
        .json(&new_solicitud());
    let r = stack.send(rq);
    assert_eq!(r.status, 403, "solicitud:read only: {}", r.body);
    let rq = stack
        .client
        .patch(format!("{ORIGIN}/admin/clients/compose-reports"))
        .bearer_auth(&admin)
        .json(&json!({"active": false}));
    assert_eq!(stack.send(rq).status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = stack.get_bearer("/solicitud/", &token);
        if r.status == 401 {
            assert_eq!(r.body["codigo"], "TOKEN_REVOKED", "{}", r.body);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {}: {}",
            r.status,
            r.body
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    println!("compose: a machine client's token through the gateway, refused once the client is disabled");
}

/// The README's curl walk as written, through the gateway, with the stack's admin password in place of
/// the development one the README shows.
fn the_readmes_curl_walk(stack: &mut Stack) {
    let script = test_support::readme_walk()
        .unwrap()
        .replace("your-secure-password", &stack.password);
    let out = test_support::run_to_end(
        Command::new("bash")
            .args(["-e", "-o", "pipefail", "-c", &script])
            .env("BASE", ORIGIN),
        Duration::from_secs(60),
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last: solicitud-service, a process of its own, refuses the logged-out token (the feed).
    for needle in [
        "\"Autenticación exitosa\"",
        "\"pendiente\"",
        "\"Tunja\"",
        "same pair",
        "\"Sesión cerrada\"",
        "\"TOKEN_REVOKED\"",
    ] {
        assert!(
            stdout.contains(needle),
            "the walk did not print {needle}:\n{stdout}"
        );
    }
    for token in stdout.split('"').filter(|t| t.starts_with("eyJ") && t.len() > 40) {
        stack.secrets.insert(token.to_string());
    }
}

fn state_to_keep(stack: &mut Stack) -> Kept {
    let (access, refresh) = stack.login_pair();
    let (revoked_access, _) = stack.login_pair();
    let id = stack.request_id();
    let rq = stack
        .client
        .post(format!("{ORIGIN}/auth/logout"))
        .header("X-Request-Id", id)
        .bearer_auth(&revoked_access);
    assert_eq!(stack.send(rq).status, 200);
    let rq = stack
        .client
        .post(format!("{ORIGIN}/solicitud/"))
        .bearer_auth(&access)
        .json(&new_solicitud());
    let r = stack.send(rq);
    assert_eq!(r.status, 201, "{}", r.body);
    Kept {
        access,
        refresh,
        revoked_access,
        solicitud_id: r.body["datos"]["id"].as_u64().unwrap(),
    }
}

/// The session, the revocation and the solicitud made before are all still there; the session's
/// refresh token rotates (so the next check uses its successor).
fn still_there(stack: &mut Stack, kept: Kept, when: &str) -> Kept {
    // The very first request, no retry: a stale connection to Redis must not cost it.
    let r = stack.get_bearer("/auth/me", &kept.access);
    assert_eq!(r.status, 200, "{when}: the session survives: {}", r.body);
    let r = stack.get_bearer("/auth/me", &kept.revoked_access);
    assert_eq!(
        (r.status, r.body["codigo"].as_str()),
        (401, Some("TOKEN_REVOKED")),
        "{when}: the revocation survives"
    );
    let r = stack.get_bearer(&format!("/solicitud/{}", kept.solicitud_id), &kept.access);
    assert_eq!(r.status, 200, "{when}: the solicitud survives: {}", r.body);
    let r = stack.refresh(&kept.refresh);
    assert_eq!(r.status, 200, "{when}: the refresh token survives: {}", r.body);
    let (access, refresh) = pair(&r.body);
    println!("compose: sessions, revocations and solicitudes {when}");
    Kept {
        access,
        refresh,
        ..kept
    }
}

fn three_replicas_share_one_chain_its_reuse_and_the_lock(stack: &mut Stack) {
    stack.compose(&["up", "-d", "--no-recreate", "--scale", "auth-service=3"]);
    stack.wait_healthy("auth-service", 3);
    // The gateway resolves the service name again at most 10 s later (resolver valid=10s).
    std::thread::sleep(Duration::from_secs(11));

    let (_, first) = stack.login_pair();
    let mut chain = vec![first];
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = stack.request_id();
        let rq = stack
            .client
            .post(format!("{ORIGIN}/auth/refresh"))
            .header("X-Request-Id", &id)
            .json(&json!({"refreshToken": chain.last().unwrap()}));
        let r = stack.send(rq);
        assert_eq!(r.status, 200, "rotation {i}: {}", r.body);
        chain.push(pair(&r.body).1);
        ids.push(id);
    }
    // Which replica served each rotation: the gateway's access log says.
    let gateway_log = stack.logs("gateway");
    let upstreams: BTreeSet<String> = gateway_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| ids.iter().any(|id| l["request_id"] == id.as_str()))
        .filter_map(|l| l["upstream"].as_str().map(str::to_string))
        .collect();
    assert!(upstreams.len() >= 2, "20 rotations all went to {upstreams:?}");

    // Reuse of a token three rotations back, whichever replica gets it: the session dies everywhere.
    let r = stack.refresh(&chain[17].clone());
    assert_eq!(
        (r.status, r.body["codigo"].as_str()),
        (401, Some("TOKEN_REVOKED")),
        "{}",
        r.body
    );
    let r = stack.refresh(&chain[20].clone());
    assert_eq!(
        r.status, 401,
        "the newest token died with the session: {}",
        r.body
    );

    // Five failures for one name, spread over the replicas, lock it on all of them.
    let name = format!("locked-{}", std::process::id());
    for i in 0..5 {
        let r = stack.post("/auth/login", json!({"username": name, "password": "wrong"}));
        assert_eq!(r.status, 422, "failure {i}: {}", r.body);
    }
    for _ in 0..3 {
        let r = stack.post("/auth/login", json!({"username": name, "password": "wrong"}));
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.headers.contains_key("retry-after"));
    }
    println!(
        "compose: 3 replicas ({} served the chain): rotation, reuse and lock shared",
        upstreams.len()
    );
}

fn the_gateways_own_answers(stack: &mut Stack) {
    let (access, _) = stack.login_pair();
    stack.compose(&["stop", "solicitud-service"]);
    let r = stack.get_bearer("/solicitud/", &access);
    assert_eq!(
        (r.status, r.body["codigo"].as_str()),
        (503, Some("SERVICE_UNAVAILABLE")),
        "{}",
        r.body
    );
    stack.compose(&["start", "solicitud-service"]);

    let r = stack.get_bearer("/no/such/route", &access);
    assert_eq!((r.status, r.body["codigo"].as_str()), (404, Some("NOT_FOUND")));
    let big = json!({"username": "x".repeat(17 * 1024), "password": "y"});
    let r = stack.post("/auth/login", big);
    assert_eq!(
        (r.status, r.body["codigo"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    for h in ["cache-control", "x-content-type-options", "x-request-id"] {
        assert!(r.headers.contains_key(h), "the gateway's 413 lacks {h}");
    }
    stack.wait_healthy("solicitud-service", 1);
    println!("compose: the gateway's 503, 404 and 413");
}

/// The TLS override (docker-compose.tls.yml) with a self-signed certificate made here.
fn tls_at_the_gateway(stack: &mut Stack) {
    let certs = stack.dir.join("deploy").join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(certs.join("gateway.key"))
        .arg("-out")
        .arg(certs.join("gateway.crt"))
        .output()
        .expect("openssl must be installed");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // The key is read by nginx's workers inside the container.
    make_world_readable(&certs.join("gateway.key"));
    let files = ["-f", "docker-compose.yml", "-f", "docker-compose.tls.yml"];
    stack.compose(&[&files[..], &["up", "-d", "gateway"]].concat());
    stack.wait_healthy("gateway", 1);

    let ca = certs.join("gateway.crt");
    let password = stack.password.clone();
    let body = json!({"username": ADMIN, "password": password}).to_string();
    // A login over TLS 1.2+, with HSTS on the answer.
    let out = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--tlsv1.2",
        "-H",
        "Content-Type: application/json",
        "-d",
        &body,
        "https://localhost:8443/auth/login",
    ]);
    assert!(
        out.contains("HTTP/1.1 200") || out.contains("HTTP/2 200"),
        "{out}"
    );
    assert!(
        out.to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "{out}"
    );
    if let Some(t) = out
        .split("\"accessToken\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    {
        stack.secrets.insert(t.to_string());
    }
    // TLS 1.1 and below: refused at the handshake.
    let old = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--cacert",
            ca.to_str().unwrap(),
            "--tlsv1.1",
            "--tls-max",
            "1.1",
        ])
        .arg("https://localhost:8443/health")
        .status()
        .unwrap();
    assert!(!old.success(), "TLS 1.1 was accepted");
    // Plain HTTP on 8000: a GET is redirected to https, a POST (a password already sent in the clear)
    // is refused, never forwarded.
    let out = curl(&["http://127.0.0.1:8000/solicitud/"]);
    assert!(out.contains(" 301") || out.contains(" 308"), "{out}");
    assert!(out.to_ascii_lowercase().contains("location: https://"), "{out}");
    let out = curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        &body,
        "http://127.0.0.1:8000/auth/login",
    ]);
    assert!(out.contains("HTTP/1.1 400"), "{out}");
    assert!(out.contains("\"codigo\":\"BAD_REQUEST\""), "{out}");

    // Back to plain HTTP for the rest.
    stack.compose(&["up", "-d", "gateway"]);
    stack.wait_healthy("gateway", 1);
    println!("compose: TLS at the gateway (1.2+, HSTS, plain HTTP redirected or refused)");
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn make_world_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn logs_are_json_with_request_ids_and_hold_no_secret(stack: &Stack) {
    for service in ["auth-service", "solicitud-service"] {
        let logs = stack.all_logs(service);
        let lines: Vec<Value> = logs
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{service}: not JSON: {l}")))
            .collect();
        assert!(lines.len() > 5, "{service} logged {} lines", lines.len());
        assert!(
            logs.contains("compose-ci-"),
            "{service}: our request ids are not in its logs"
        );
    }
    // The gateway's access log: JSON lines with the request id (the image's entrypoint lines aside).
    let gateway = stack.all_logs("gateway");
    let access: Vec<Value> = gateway
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("gateway: not JSON: {l}")))
        .collect();
    assert!(access.iter().any(|l| l["request_id"]
        .as_str()
        .is_some_and(|i| i.starts_with("compose-ci-"))));

    for service in SERVICES {
        let logs = stack.all_logs(service);
        for secret in &stack.secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "{service}'s log holds a secret or token ({}…)",
                &secret[..8.min(secret.len())]
            );
        }
    }
    println!(
        "compose: logs are JSON with request ids; {} secrets and tokens appear in none",
        stack.secrets.len()
    );
}

/// Runs with `cargo test`: the log reader's one piece of parsing.
#[test]
fn escapes_are_stripped_from_compose_logs() {
    assert_eq!(
        strip_escapes("\u{1b}[2K{\"a\":1}\n\u{1b}[1;31mred\u{1b}[0m\n"),
        "{\"a\":1}\nred\n"
    );
}
