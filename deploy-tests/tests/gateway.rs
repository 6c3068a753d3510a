//! The gateway for real: deploy/gateway.conf.template rendered the way the nginx image renders it, run
//! by Debian's nginx on loopback in front of both services (real processes, with Redis), and the seed's
//! flow sent through that one origin. The client IP the rate limiter sees must be the original client's:
//! nginx (127.0.0.1) is the only trusted proxy, and the clients come from 127.0.0.2 and 127.0.0.3.
//!
//! Needs `nginx` (Debian's package; .ci/run installs it; `NGINX` names another binary). Without it the
//! tests print a SKIPPED line (visible in a passing run) and pass, except on CI (`CI` set, and not
//! `false` or `0`), where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::config::FromVars;
use test_support::ServiceProcess;

use common::{read, render, repo, template_variables, unique, TempDir, TEMPLATE};

const SECRET: &str = "deploy-tests-jwt-secret-0123456789-abcdefghij";
const PASSWORD: &str = "deploy tests admin password";
const MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const CLIENT_A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const CLIENT_B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

// ---------------------------------------------------------------------------------------------------
// Processes and files that clean up after themselves

/// A child process, killed when the test ends however it ends.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------------
// The services

/// target/debug, from this test binary's own path (target/debug/deps/gateway-<hash>).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest Rust source the service binaries are built from. (Manifests and Cargo.lock are left
/// out: they change with any crate's dev-dependencies, which does not relink these binaries, and a
/// needless `cargo build -p` with other features would recompile half the dependencies.)
fn newest_source() -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if path.extension().is_some_and(|e| e == "rs") {
                *newest = (*newest).max(modified(&path));
            }
        }
    }
    let mut newest = None;
    for dir in ["shared/src", "auth-service/src", "solicitud-service/src"] {
        walk(&repo().join(dir), &mut newest);
    }
    newest
}

/// The service binaries, built when missing or older than their sources. `cargo test --workspace`
/// has just built both (and nothing is rebuilt then); a lone `cargo test -p deploy-tests` may not have.
fn binaries() -> (PathBuf, PathBuf) {
    static BUILD: Mutex<()> = Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir();
    let auth = dir.join("auth-service");
    let sol = dir.join("solicitud-service");
    let newest = newest_source();
    let stale = |bin: &Path| match (modified(bin), newest) {
        (None, _) => true,
        (Some(built), Some(source)) => built < source,
        (Some(_), None) => false,
    };
    if stale(&auth) || stale(&sol) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let status = Command::new(cargo)
            .current_dir(repo())
            .args(["build", "-p", "auth-service", "-p", "solicitud-service"])
            .status()
            .unwrap();
        assert!(status.success(), "could not build the services");
    }
    (auth, sol)
}

/// Starts a service with JSON logs on 127.0.0.1:0 in `workdir` (a directory of our own: no stray
/// .env is read) and waits for its "listening" line.
fn start(binary: &Path, workdir: &Path, vars: &[(&str, String)]) -> ServiceProcess {
    ServiceProcess::start_in(binary, workdir, vars)
        .unwrap_or_else(|e| panic!("{} did not start: {e}", binary.display()))
}

fn redis_url() -> String {
    test_support::redis_url()
}

// ---------------------------------------------------------------------------------------------------
// nginx

/// nginx: `NGINX` when set (a path; one that is not a file counts as "not installed", which is how
/// the skip and the CI failure are tried on a machine that has nginx), else the first on `PATH`, else
/// Debian's `/usr/sbin/nginx`.
fn nginx_binary() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("NGINX") {
        return Some(PathBuf::from(given)).filter(|p| p.is_file());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|p| p.is_file())
}

/// nginx, or None (and a note) where it is not installed; on CI its absence is a failure.
fn nginx_or_skip(test: &str) -> Option<PathBuf> {
    let found = nginx_binary();
    if found.is_none() {
        let on_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
        assert!(!on_ci, "nginx is not installed; .ci/run installs Debian's nginx");
        // Straight to stderr, so the line shows in a passing run (the harness captures `eprintln!`).
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: nginx is not installed (apt-get install nginx); the gateway was not run"
        );
    }
    found
}

struct Gateway {
    base: String,
    dir: TempDir,
    _proc: Proc,
}

impl Gateway {
    fn access_log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.0.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect()
    }
}

fn free_port() -> u16 {
    test_support::free_port().unwrap()
}

/// Renders the template for these upstreams, wraps it in a minimal main config with everything in
/// a temp dir, and runs nginx in the foreground until dropped.
fn start_gateway(nginx: &Path, auth: SocketAddr, solicitud: SocketAddr) -> Gateway {
    let template = read(TEMPLATE);
    for attempt in 0..5 {
        let dir = TempDir::new("nginx");
        let d = dir.0.display().to_string();
        for sub in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.0.join(sub)).unwrap();
        }
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let vars = BTreeMap::from([
            ("GATEWAY_LISTEN", listen.to_string()),
            ("GATEWAY_AUTH_UPSTREAM", auth.to_string()),
            ("GATEWAY_SOLICITUD_UPSTREAM", solicitud.to_string()),
            // Never asked: both upstreams are addresses, not names.
            ("GATEWAY_RESOLVER", "127.0.0.1".to_string()),
            ("GATEWAY_ACCESS_LOG", format!("{d}/access.log")),
        ]);
        let server = render(&template, &vars);
        let left: Vec<String> = template_variables(&server).into_iter().collect();
        assert!(
            left.is_empty(),
            "the template uses variables the test does not set: {left:?}"
        );
        std::fs::write(dir.0.join("gateway.conf"), server).unwrap();
        let main = format!(
            "worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             \x20   client_body_temp_path {d}/client_body;\n\
             \x20   proxy_temp_path {d}/proxy;\n\
             \x20   fastcgi_temp_path {d}/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/uwsgi;\n\
             \x20   scgi_temp_path {d}/scgi;\n\
             \x20   access_log {d}/http-access.log;\n\
             \x20   include {d}/gateway.conf;\n\
             }}\n"
        );
        std::fs::write(dir.0.join("nginx.conf"), main).unwrap();
        let stderr = std::fs::File::create(dir.0.join("stderr.log")).unwrap();
        let child = Command::new(nginx)
            .args(["-p", &format!("{d}/"), "-c", &format!("{d}/nginx.conf"), "-e"])
            .arg(format!("{d}/error.log"))
            // One process in the foreground: killing it stops nginx entirely, and as root it does not
            // switch to a worker user that could not write to this directory.
            .args(["-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", nginx.display()));
        let mut proc = Proc { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = proc.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default()
                    + &std::fs::read_to_string(dir.0.join("stderr.log")).unwrap_or_default();
                if log.contains("Address already in use") && attempt < 4 {
                    break;
                }
                panic!("nginx exited ({status}):\n{log}");
            }
            if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
                return Gateway {
                    base: format!("http://{listen}"),
                    dir,
                    _proc: proc,
                };
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {listen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("nginx found no free port")
}

// ---------------------------------------------------------------------------------------------------
// HTTP

/// A client whose requests leave from `source`: loopback only, never a proxy.
fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .no_proxy()
        // What the gateway answers, not where a redirect leads.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

struct Reply {
    status: StatusCode,
    request_id: String,
    retry_after: Option<String>,
    /// Cache-Control and X-Content-Type-Options, as sent.
    cache_control: Option<String>,
    nosniff: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let res = request.send().await.unwrap();
    let status = res.status();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request_id = header("x-request-id").unwrap_or_default();
    let retry_after = header("retry-after");
    let cache_control = header("cache-control");
    let nosniff = header("x-content-type-options");
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    Reply {
        status,
        request_id,
        retry_after,
        cache_control,
        nosniff,
        body,
    }
}

/// The headers every answer carries, the gateway's own included: no caching, no sniffing, a request id.
fn assert_own_answer_headers(r: &Reply, what: &str) {
    assert_eq!(r.cache_control.as_deref(), Some("no-store"), "{what}");
    assert_eq!(r.nosniff.as_deref(), Some("nosniff"), "{what}");
    assert!(is_nginx_request_id(&r.request_id), "{what}: {:?}", r.request_id);
}

fn is_nginx_request_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Both services on Redis under a fresh key prefix, auth-service trusting the gateway (127.0.0.1),
/// with `extra` auth-service variables; the workdir lives as long as the returned guard.
fn start_services(extra: &[(&str, &str)]) -> (ServiceProcess, ServiceProcess, TempDir) {
    let (auth_bin, sol_bin) = binaries();
    let workdir = TempDir::new("services");
    let prefix = format!("{}:", unique("deploy-tests"));
    let common = vec![
        ("JWT_SECRET", SECRET.to_string()),
        // The one-command mode's default issuer, so both systems serve the OAuth 2.0 endpoints alike.
        ("JWT_ISSUER", "http://localhost:8000".to_string()),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix),
        // Short lifetimes: what this test leaves in Redis expires within minutes.
        ("JWT_ACCESS_TOKEN_EXP_VALUE", "5".to_string()),
        ("JWT_ACCESS_TOKEN_EXP_UNIT", "minutes".to_string()),
        ("JWT_REFRESH_TOKEN_EXP_VALUE", "5".to_string()),
        ("JWT_REFRESH_TOKEN_EXP_UNIT", "minutes".to_string()),
    ];
    let mut auth_vars = common.clone();
    auth_vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    auth_vars.extend([
        ("AUTH_BIND_ADDR", "127.0.0.1:0".to_string()),
        ("API_PASSWORD", PASSWORD.to_string()),
        ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
        ("TRUSTED_PROXIES", "127.0.0.1".to_string()),
    ]);
    let mut sol_vars = common;
    sol_vars.push(("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()));
    let auth = start(&auth_bin, &workdir.0, &auth_vars);
    let sol = start(&sol_bin, &workdir.0, &sol_vars);
    (auth, sol, workdir)
}

// ---------------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flow_runs_through_the_gateway_and_the_rate_limiter_sees_the_real_client() {
    let Some(nginx) = nginx_or_skip("the_seed_flow_runs_through_the_gateway") else {
        return;
    };
    let (auth, sol, _workdir) = start_services(&[("RATE_LIMIT_IP_PER_MINUTE", "3")]);
    let gateway = start_gateway(&nginx, auth.addr(), sol.addr());
    let base = &gateway.base;
    let a = client_from(CLIENT_A);
    let b = client_from(CLIENT_B);
    let login = json!({"username": "api_user", "password": PASSWORD});

    // 1 (of 3 for 127.0.0.2). Login through the gateway; our request id goes through and comes back.
    let login_id = unique("login");
    let r = send(
        a.post(format!("{base}/auth/login"))
            .header("X-Request-Id", &login_id)
            .json(&login),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["exito"], true, "{}", r.body);
    assert_eq!(r.body["datos"]["tokenType"], "Bearer");
    let access = r.body["datos"]["accessToken"]
        .as_str()
        .expect("datos.accessToken")
        .to_string();
    let refresh = r.body["datos"]["refreshToken"]
        .as_str()
        .expect("datos.refreshToken")
        .to_string();
    assert_eq!(
        r.request_id, login_id,
        "the gateway returns the client's request id"
    );
    assert!(
        auth.wait_for_log(&login_id, Duration::from_secs(5)),
        "the auth service never saw request id {login_id}"
    );

    // The token works at the solicitud service, through the same origin, with and without the slash.
    let r = send(a.get(format!("{base}/solicitud/")).bearer_auth(&access)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["exito"], true);
    assert!(r.body["datos"].is_array(), "{}", r.body);
    let r = send(a.get(format!("{base}/solicitud"))).await;
    assert_eq!(
        (r.status.as_u16(), r.body["codigo"].as_str()),
        (401, Some("TOKEN_MISSING")),
        "/solicitud reaches the solicitud service: {}",
        r.body
    );
    // A request id that is not a sane token is replaced by nginx's own, which the service gets.
    let r = send(
        a.get(format!("{base}/solicitud/"))
            .bearer_auth(&access)
            .header("X-Request-Id", "not a sane id!"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        is_nginx_request_id(&r.request_id),
        "request id {:?}",
        r.request_id
    );
    assert!(
        sol.wait_for_log(&r.request_id, Duration::from_secs(5)),
        "the solicitud service never saw {}",
        r.request_id
    );

    // 2. Refresh.
    let r = send(
        a.post(format!("{base}/auth/refresh"))
            .json(&json!({"refreshToken": refresh})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["exito"], true);
    let refreshed = r.body["datos"]["accessToken"]
        .as_str()
        .expect("a new access token");
    let r = send(a.get(format!("{base}/auth/me")).bearer_auth(refreshed)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["datos"]["username"], "api_user");

    // 3. The Saphety-compatible endpoint, under /v2/auth/.
    let gettoken =
        json!({"username": "api_user@example.com", "password": PASSWORD, "virtual_operator": "saphety"});
    let r = send(a.post(format!("{base}/v2/auth/gettoken")).json(&gettoken)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["IsValid"], true, "{}", r.body);

    // 4. Over the limit of 3 a minute for 127.0.0.2, whichever endpoint.
    let r = send(a.post(format!("{base}/auth/login")).json(&login)).await;
    assert_eq!(r.status, 429, "the 4th request from 127.0.0.2: {}", r.body);
    assert_eq!(r.body["codigo"], "RATE_LIMITED");
    assert!(r.retry_after.is_some(), "429 without Retry-After");
    let r = send(a.post(format!("{base}/v2/auth/gettoken")).json(&gettoken)).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["Errors"][0]["Code"], "TooManyRequests");
    // A forged X-Forwarded-For changes nothing: nginx appends the real peer, which is what counts.
    let r = send(
        a.post(format!("{base}/auth/login"))
            .header("X-Forwarded-For", "203.0.113.9")
            .json(&login),
    )
    .await;
    assert_eq!(
        r.status, 429,
        "a forged X-Forwarded-For escaped the limit: {}",
        r.body
    );

    // Another client, behind the same gateway, is its own client.
    let r = send(b.post(format!("{base}/auth/login")).json(&login)).await;
    assert_eq!(r.status, 200, "127.0.0.3 was limited with 127.0.0.2: {}", r.body);

    // The gateway's access log: one JSON line per request, with the client's own address.
    let log = gateway.access_log();
    let line = log
        .iter()
        .find(|l| l["request_id"] == login_id.as_str())
        .unwrap_or_else(|| panic!("no access-log line for {login_id}: {log:?}"));
    assert_eq!(line["client"], CLIENT_A.to_string());
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream"], auth.addr().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_own_answers_are_in_the_apis_envelopes() {
    let Some(nginx) = nginx_or_skip("the_gateways_own_answers_are_in_the_apis_envelopes") else {
        return;
    };
    // Upstreams that are down: nothing listens on these ports.
    let down_auth = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let down_sol = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let gateway = start_gateway(&nginx, down_auth, down_sol);
    let base = &gateway.base;
    let c = client_from(CLIENT_A);

    let r = send(c.get(format!("{base}/health"))).await;
    assert_eq!((r.status.as_u16(), &r.body["exito"]), (200, &json!(true)));
    assert_own_answer_headers(&r, "/health");

    // Only the API is routed: not the services' /health, /ready or anything else.
    for path in [
        "/",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/auth",
        "/v2/auth",
        "/admin",
        "/solicitudes",
        "/cuentas",
        "/v2/other",
        "/_gateway/unavailable",
    ] {
        let r = send(c.get(format!("{base}{path}"))).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.body["codigo"], "NOT_FOUND", "{path}");
        assert_eq!(r.body["exito"], false, "{path}");
        assert_own_answer_headers(&r, path);
    }

    // A service that does not answer: 503 in the envelope of the route's API.
    let r = send(c.get(format!("{base}/solicitud/"))).await;
    assert_eq!(
        (r.status.as_u16(), r.body["codigo"].as_str()),
        (503, Some("SERVICE_UNAVAILABLE"))
    );
    assert_own_answer_headers(&r, "503");
    let r = send(c.post(format!("{base}/auth/login")).json(&json!({}))).await;
    assert_eq!(
        (r.status.as_u16(), r.body["codigo"].as_str()),
        (503, Some("SERVICE_UNAVAILABLE"))
    );
    let r = send(c.get(format!("{base}/cuenta"))).await;
    assert_eq!(
        (r.status.as_u16(), r.body["codigo"].as_str()),
        (503, Some("SERVICE_UNAVAILABLE"))
    );
    assert_own_answer_headers(&r, "/cuenta 503");
    let r = send(c.post(format!("{base}/v2/auth/gettoken")).json(&json!({}))).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["Errors"][0]["Code"], "ServiceUnavailable", "{}", r.body);

    // Bodies over 16 KiB stop at the gateway.
    let big = json!({"username": "x".repeat(17 * 1024), "password": "y"});
    let r = send(
        c.post(format!("{base}/auth/login?next=secret-in-a-query"))
            .header("X-Request-Id", "too-large-1")
            .json(&big),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["codigo"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    assert_eq!(r.cache_control.as_deref(), Some("no-store"));
    assert_eq!(r.nosniff.as_deref(), Some("nosniff"));
    assert_eq!(r.request_id, "too-large-1");
    let r = send(c.post(format!("{base}/v2/auth/gettoken")).json(&big)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["Errors"][0]["Code"], "InvalidRequest", "{}", r.body);
    assert_eq!(r.body["ResultCode"], 413);

    // A header line over 16 KiB: 431, like the services.
    let r = send(
        c.get(format!("{base}/auth/me"))
            .header("X-Big", "a".repeat(17 * 1024)),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["codigo"].as_str()),
        (431, Some("HEADERS_TOO_LARGE"))
    );

    // A request line over 16 KiB.
    let r = send(c.get(format!("{base}/auth/{}", "a".repeat(17 * 1024)))).await;
    assert_eq!(
        (r.status.as_u16(), r.body["codigo"].as_str()),
        (414, Some("BAD_REQUEST"))
    );

    // Not HTTP at all: 400 in the envelope, not nginx's HTML page.
    let listen = base.trim_start_matches("http://");
    let mut raw = TcpStream::connect(listen).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"codigo\":\"BAD_REQUEST\""), "{answer}");

    // The access log records what the client asked for, not the error page it was sent to, and
    // leaves the query string out.
    let log = gateway.access_log();
    let line = log
        .iter()
        .find(|l| l["request_id"] == "too-large-1")
        .unwrap_or_else(|| panic!("no access-log line for the 413: {log:?}"));
    assert_eq!(
        (&line["method"], &line["path"], &line["status"]),
        (&json!("POST"), &json!("/auth/login"), &json!(413)),
        "{line}"
    );
    assert!(
        !log.iter().any(|l| l.to_string().contains("secret-in-a-query")),
        "{log:?}"
    );
    // The only /_gateway/ path in the log is the one a client asked for itself (and got 404 for).
    for l in &log {
        if l["path"].as_str().is_some_and(|p| p.starts_with("/_gateway/")) {
            assert_eq!(
                (&l["path"], &l["status"]),
                (&json!("/_gateway/unavailable"), &json!(404)),
                "{l}"
            );
        }
    }
}

/// The seed's own Python and JavaScript `APIClient`s and its `test_authentication` script, taken from
/// the seed and run unchanged (test_support::seed_clients), against the one origin the gateway gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_own_clients_run_unchanged_through_the_gateway() {
    let Some(nginx) = nginx_or_skip("the_seeds_own_clients_run_unchanged_through_the_gateway") else {
        return;
    };
    if !test_support::seed_clients::seeds_present("the_seeds_own_clients_run_unchanged_through_the_gateway") {
        return;
    }
    let (auth, sol, _workdir) = start_services(&[]);
    let gateway = start_gateway(&nginx, auth.addr(), sol.addr());
    let base = gateway.base.clone();
    tokio::task::spawn_blocking(move || test_support::seed_clients::run_all(&base, "api_user", PASSWORD))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    // They went through the gateway to both services.
    let log = gateway.access_log();
    for (method, path) in [
        ("POST", "/auth/login"),
        ("GET", "/solicitud/"),
        ("POST", "/auth/refresh"),
    ] {
        assert!(
            log.iter()
                .any(|l| l["method"] == method && l["path"] == path && l["status"] == 200),
            "{method} {path} not in {log:?}"
        );
    }
}

/// The one-process system (the all-in-one binary) routes as the gateway does: the same requests, sent
/// to nginx in front of the two services and to the one-process system, get the same status, `codigo`
/// (or Saphety `Code`) and `Allow`. Only `/health` differs on purpose (nginx answers it itself, to any method).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_process_system_routes_every_request_as_the_gateway_does() {
    let Some(nginx) = nginx_or_skip("the_one_process_system_routes_every_request_as_the_gateway_does") else {
        return;
    };
    let (auth, sol, _workdir) = start_services(&[]);
    let gateway = start_gateway(&nginx, auth.addr(), sol.addr());
    let config =
        all_in_one::config::AllInOneConfig::from_pairs([("JWT_SECRET", SECRET), ("API_PASSWORD", PASSWORD)])
            .unwrap();
    let system = all_in_one::System::build(config, std::sync::Arc::new(shared::SystemClock)).unwrap();
    let (addr, server) = system
        .bind("127.0.0.1:0".parse().unwrap(), std::future::pending())
        .await
        .unwrap();
    let server = tokio::spawn(server);
    let one = format!("http://{addr}");
    let client = client_from(Ipv4Addr::LOCALHOST);

    /// What is compared: status, the envelope's code, and Allow.
    async fn outcome(request: reqwest::RequestBuilder) -> (u16, String, String) {
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap_or_default();
        let code = body["codigo"]
            .as_str()
            .or(body["Errors"][0]["Code"].as_str())
            .unwrap_or_default()
            .to_string();
        (status, code, allow)
    }

    let json_body = |r: reqwest::RequestBuilder, body: &str| {
        r.header("content-type", "application/json")
            .body(body.to_string())
    };
    let cases: Vec<(&str, &str, Option<&str>)> = vec![
        ("GET", "/", None),
        ("GET", "/ready", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/nope", None),
        ("GET", "/auth", None),
        ("GET", "/auth/", None),
        ("GET", "/auth/nope", None),
        ("GET", "/auth/login", None),
        ("POST", "/auth/login", Some("{}")),
        ("POST", "/auth/login", Some("not json")),
        ("GET", "/auth/me", None),
        ("GET", "/v2/auth", None),
        ("GET", "/v2/auth/gettoken", None),
        ("POST", "/v2/auth/gettoken", Some("{}")),
        ("GET", "/admin", None),
        ("GET", "/admin/users", None),
        ("DELETE", "/admin/users/7", None),
        ("POST", "/admin/users", Some("{}")),
        ("GET", "/solicitud", None),
        ("GET", "/solicitud/", None),
        ("GET", "/solicitud/7", None),
        ("GET", "/solicitud/abc", None),
        ("DELETE", "/solicitud/", None),
        ("PATCH", "/solicitud/7/estado", Some("{}")),
        ("GET", "/solicitudes", None),
        ("GET", "/cuenta", None),
        ("GET", "/cuenta/", None),
        ("GET", "/cuenta/app.js", None),
        ("GET", "/cuenta/app.css", None),
        ("GET", "/cuenta/nada", None),
        ("POST", "/cuenta", Some("{}")),
        ("GET", "/cuentas", None),
        ("GET", "/.well-known/jwks.json", None),
        ("POST", "/.well-known/jwks.json", Some("{}")),
        ("GET", "/.well-known/nope", None),
        ("GET", "/.well-known", None),
        ("GET", "/.well-known/openid-configuration", None),
        ("POST", "/oauth2/token", Some("{}")),
        ("GET", "/oauth2/token", None),
        ("GET", "/oauth2", None),
        ("GET", "/oauth2/nope", None),
    ];
    for (method, path, body) in cases {
        let request = |base: &str| {
            let r = client.request(method.parse().unwrap(), format!("{base}{path}"));
            match body {
                Some(b) => json_body(r, b),
                None => r,
            }
        };
        let through_gateway = outcome(request(&gateway.base)).await;
        let in_one_process = outcome(request(&one)).await;
        assert_eq!(
            in_one_process, through_gateway,
            "{method} {path}: all-in-one vs gateway"
        );
    }
    // The account page's files: the same bytes and the service's own headers through both, the CSP
    // exactly once (the gateway adds no header that weakens or duplicates it).
    for path in ["/cuenta", "/cuenta/app.js", "/cuenta/app.css"] {
        let mut answers = Vec::new();
        for base in [&gateway.base, &one] {
            let res = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(res.status(), 200, "{base}{path}");
            let h = res.headers().clone();
            let csp: Vec<&str> = h
                .get_all("content-security-policy")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(
                csp,
                [auth_service::routes::CONTENT_SECURITY_POLICY],
                "{base}{path}"
            );
            for (name, value) in [
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("referrer-policy", "no-referrer"),
            ] {
                assert_eq!(h.get_all(name).iter().count(), 1, "{base}{path} {name}");
                assert_eq!(h[name], value, "{base}{path} {name}");
            }
            let content_type = h["content-type"].to_str().unwrap().to_string();
            answers.push((content_type, res.text().await.unwrap()));
        }
        assert_eq!(answers[0], answers[1], "{path}: gateway vs all-in-one");
    }
    // /health: 200 from both (nginx's own answer, the process's own).
    assert_eq!(
        outcome(client.get(format!("{}/health", gateway.base))).await.0,
        200
    );
    assert_eq!(outcome(client.get(format!("{one}/health"))).await.0, 200);
    server.abort();
}

/// HEAD through the gateway: every GET route of both services, and the gateway's own `/health`,
/// answer HEAD with the GET's status and no body (before, the services answered 405 and the gateway
/// passed it on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_goes_through_the_gateway_as_get_does() {
    let Some(nginx) = nginx_or_skip("head_goes_through_the_gateway_as_get_does") else {
        return;
    };
    let (auth, sol, _workdir) = start_services(&[]);
    let gateway = start_gateway(&nginx, auth.addr(), sol.addr());
    let base = &gateway.base;
    let c = client_from(CLIENT_A);
    for path in [
        "/health",
        "/cuenta",
        "/cuenta/app.css",
        "/auth/me",
        "/solicitud/",
        "/solicitud/3",
    ] {
        let get = c.get(format!("{base}{path}")).send().await.unwrap();
        let head = c.head(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_ne!(head.status(), 405, "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has a body");
    }
}
