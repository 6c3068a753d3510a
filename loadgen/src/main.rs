//! The benchmark harness. `bench/run` builds everything in release mode and runs this binary, which:
//!
//! 1. starts auth-service (on Redis, and a second one on the embedded store) and solicitud-service from
//!    the binaries beside it (on Redis following the auth service's revocation feed, on Redis with the
//!    feed off, and on the embedded store), timing each from spawn to `/ready` and reading its idle RSS;
//! 2. loads them from this process over loopback (closed loop: N workers, one keep-alive connection
//!    each) and records every latency;
//! 3. prints one Markdown table with the machine it ran on.
//!
//! Every load scenario also reads the loaded service's CPU time (user + system, all threads, from
//! `/proc/<pid>/stat`) before and after, and prints the service's CPU microseconds per request served:
//! a figure that, unlike throughput, does not move much when other work shares the machine. The
//! request-cost scenarios also read the CPU Redis (`INFO cpu`), this loader and the whole machine
//! (`/proc/stat`) used meanwhile: where a request's CPU goes, and so how far a throughput share of
//! `/health` can go when the three share the cores.
//!
//! `--quick` runs every scenario for a fraction of a second at low concurrency: it proves the harness
//! works (CI runs it) and asserts nothing about speed. `--tokens` runs only the request-cost scenarios
//! (the GETs, refresh, introspect, `/auth/me`), full length, for comparing one change.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::future::join_all;
use serde_json::{json, Value};

const SECRET: &str = "benchmark-secret-0123456789abcdef-0123456789";
const PASSWORD: &str = "benchmark admin password";
const MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct Settings {
    quick: bool,
    /// `--tokens`: only the request-cost scenarios (health, the GET, refresh, introspect, /auth/me).
    tokens_only: bool,
    duration: Duration,
    concurrency: usize,
    redis_url: String,
}

/// A running service, killed on drop.
struct Service {
    child: Child,
    base: String,
    ready_after: Duration,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn binary(name: &str) -> PathBuf {
    let path = std::env::current_exe().unwrap().with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run bench/run (it builds every binary first)",
        path.display()
    );
    path
}

async fn start(name: &str, vars: &[(&str, String)]) -> Service {
    let spawned = Instant::now();
    let mut child = Command::new(binary(name))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .env("LOG_FORMAT", "json")
        // Quiet by default: no line per request. `RUST_LOG=info bench/run` measures what a service
        // with the default level costs (one JSON line per request on standard output, read by this
        // process as a log collector would).
        .env(
            "RUST_LOG",
            "warn,auth_service=info,solicitud_service=info,shared::telemetry=info",
        )
        // The knobs passed through: the runtime's size (`TOKIO_WORKER_THREADS=1 bench/run`) and the
        // log level.
        .envs(std::env::vars().filter(|(k, _)| k == "TOKIO_WORKER_THREADS" || k == "RUST_LOG"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        for line in lines.by_ref() {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["message"] == "listening" {
                    let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                    break;
                }
            }
        }
        // The rest is drained unread (with RUST_LOG=info, a line per request), so the service never
        // blocks on a full pipe and this reader costs the machine little.
        lines.for_each(drop);
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{name} did not start"));
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    loop {
        if let Ok(res) = client.get(format!("{base}/ready")).send().await {
            if res.status().is_success() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Service {
        child,
        base,
        ready_after: spawned.elapsed(),
    }
}

/// Creates one solicitud on `service` (the one the GET scenarios read) and returns its id.
async fn create_solicitud(client: &reqwest::Client, service: &Service, access: &str) -> u64 {
    let created: Value = client
        .post(service.url("/solicitud/"))
        .bearer_auth(access)
        .json(&json!({"origen": "A", "destino": "B", "fechaServicio": "2031-01-01T08:00:00Z", "pasajeros": 2, "motivo": "benchmark"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["datos"]["id"].as_u64().expect("solicitud created")
}

/// `VmRSS` or `VmHWM` of a process, in MiB.
fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system, every thread) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` once (100 on Linux).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(100.0)
    })
}

/// What a load run measured.
#[derive(Default, Clone)]
struct Run {
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    /// CPU seconds the loaded service's process used during the run, when measured ([`load_on`]).
    cpu_s: Option<f64>,
    /// Where the rest of the machine's CPU went meanwhile, when measured ([`load_costed`]).
    others: Option<Others>,
}

/// The CPU seconds a run cost besides the loaded service's: what sets the throughput of a closed loop
/// when everything shares the same cores.
#[derive(Debug, Default, Clone, Copy)]
struct Others {
    /// Redis (`INFO cpu`: its main thread and its I/O threads, user + system).
    redis_s: f64,
    /// This process: the loader (HTTP client, JSON, the workers).
    loader_s: f64,
    /// Every core of the machine, busy (`/proc/stat`, all but idle and I/O wait).
    machine_s: f64,
}

impl Others {
    fn add(self, other: Others) -> Others {
        Others {
            redis_s: self.redis_s + other.redis_s,
            loader_s: self.loader_s + other.loader_s,
            machine_s: self.machine_s + other.machine_s,
        }
    }
}

impl Run {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Adds another run of the same scenario (rounds of one measure).
    fn add(&mut self, run: Run) {
        self.ok += run.ok;
        self.errors += run.errors;
        self.elapsed += run.elapsed;
        self.latencies_us.extend(run.latencies_us);
        self.cpu_s = match (self.cpu_s, run.cpu_s) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.others = match (self.others, run.others) {
            (Some(a), Some(b)) => Some(a.add(b)),
            (a, b) => a.or(b),
        };
    }

    /// Microseconds of CPU per request served: the service, Redis, the loader, and the whole machine
    /// (the three and anything else running), when measured.
    fn budget_us(&self) -> Option<[f64; 4]> {
        let (service, others) = (self.cpu_s?, self.others?);
        let per = |s: f64| s * 1e6 / self.ok.max(1) as f64;
        Some([
            per(service),
            per(others.redis_s),
            per(others.loader_s),
            per(others.machine_s),
        ])
    }

    /// The service's CPU microseconds per request served, when measured.
    fn cpu_us_per_request(&self) -> Option<f64> {
        self.cpu_s.map(|s| s * 1e6 / self.ok.max(1) as f64)
    }

    /// The summary, then the service's CPU per request and its share of a core.
    fn summary_cpu(&self) -> String {
        match (self.cpu_us_per_request(), self.cpu_s) {
            (Some(per), Some(total)) => format!(
                "{}; service CPU **{per:.1} µs/request** ({:.0}% of a core)",
                self.summary(),
                100.0 * total / self.elapsed.as_secs_f64()
            ),
            _ => self.summary(),
        }
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index] as f64 / 1000.0
    }

    fn summary(&self) -> String {
        format!(
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms ({} ok, {} errors)",
            self.rps(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.ok,
            self.errors
        )
    }
}

/// One worker's request: given its state, sends one request and says whether it succeeded.
type Step = Box<dyn FnMut(&reqwest::Client) -> futures::future::BoxFuture<'static, bool> + Send>;

/// Runs `workers` closed-loop for `duration` (each worker its own connection), or until `stop` is set.
async fn load(workers: Vec<Step>, duration: Duration, stop: Option<Arc<AtomicBool>>) -> Run {
    let started = Instant::now();
    let tasks = workers.into_iter().map(|mut step| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut run = Run::default();
            while started.elapsed() < duration && !stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                let t = Instant::now();
                if step(&client).await {
                    run.ok += 1;
                    run.latencies_us.push(t.elapsed().as_micros() as u64);
                } else {
                    run.errors += 1;
                }
            }
            run
        })
    });
    let mut total = Run::default();
    for run in join_all(tasks).await {
        let run = run.unwrap();
        total.ok += run.ok;
        total.errors += run.errors;
        total.latencies_us.extend(run.latencies_us);
    }
    total.elapsed = started.elapsed();
    total
}

/// [`load`], also measuring the CPU the process `pid` (the loaded service) used meanwhile.
async fn load_on(pid: u32, workers: Vec<Step>, duration: Duration) -> Run {
    let before = cpu_seconds(pid);
    let mut run = load(workers, duration, None).await;
    run.cpu_s = Some(cpu_seconds(pid) - before);
    run
}

/// [`load_on`], also measuring the CPU that Redis at `redis_url`, this loader and the whole machine
/// used meanwhile ([`Others`]).
async fn load_costed(pid: u32, redis_url: &str, workers: Vec<Step>, duration: Duration) -> Run {
    let redis = redis_cpu_seconds(redis_url).await;
    let loader = cpu_seconds(std::process::id());
    let machine = machine_busy_seconds();
    let mut run = load_on(pid, workers, duration).await;
    run.others = Some(Others {
        redis_s: redis_cpu_seconds(redis_url).await - redis,
        loader_s: cpu_seconds(std::process::id()) - loader,
        machine_s: machine_busy_seconds() - machine,
    });
    run
}

/// The machine's cores, as this process may use them.
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// One section of `INFO` from the Redis at `url`.
async fn redis_info(url: &str, section: &str) -> String {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// The CPU seconds Redis has used since it started, user + system (`INFO cpu`).
async fn redis_cpu_seconds(url: &str) -> f64 {
    redis_info(url, "cpu")
        .await
        .lines()
        .filter_map(|l| {
            l.strip_prefix("used_cpu_sys:")
                .or_else(|| l.strip_prefix("used_cpu_user:"))
        })
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

/// CPU seconds every core of the machine has been busy since boot: the first line of `/proc/stat`,
/// all but idle and I/O wait (guest time is already inside user time).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|t| t.parse().ok()).collect())
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    busy / clock_ticks_per_second()
}

/// Sends a request and reads the whole body; `true` for a 2xx.
async fn succeeded(req: reqwest::RequestBuilder) -> bool {
    match req.send().await {
        Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
        Err(_) => false,
    }
}

fn get_step(url: String, token: Option<String>) -> Step {
    Box::new(move |client: &reqwest::Client| {
        let mut req = client.get(&url);
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        Box::pin(succeeded(req))
    })
}

fn post_step(url: String, body: Value) -> Step {
    Box::new(move |client: &reqwest::Client| {
        let req = client.post(&url).json(&body);
        Box::pin(succeeded(req))
    })
}

/// A worker that asks `/oauth2/token` for a client_credentials token over and over (HTTP Basic).
fn client_credentials_step(url: String, client_id: String, secret: String) -> Step {
    Box::new(move |client: &reqwest::Client| {
        let req = client
            .post(&url)
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")]);
        Box::pin(succeeded(req))
    })
}

/// Registers a machine client through the admin API; its secret.
async fn register_client(
    client: &reqwest::Client,
    auth: &Service,
    admin_access: &str,
    client_id: &str,
) -> String {
    let body: Value = client
        .post(auth.url("/admin/clients"))
        .bearer_auth(admin_access)
        .json(&json!({"client_id": client_id, "client_name": "loadgen",
                      "grant_types": ["client_credentials"], "scope": "solicitud:read"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["datos"]["client_secret"]
        .as_str()
        .unwrap_or_else(|| panic!("the client was not registered: {body}"))
        .to_string()
}

/// The OpenID Connect client of the code-flow scenarios: confidential, first-party (no consent).
const WEB_CLIENT: &str = "loadgen-web";
const WEB_CALLBACK: &str = "http://localhost:9/cb";

/// Registers [`WEB_CLIENT`]; its secret.
async fn register_web_client(client: &reqwest::Client, auth: &Service, admin_access: &str) -> String {
    let body: Value = client
        .post(auth.url("/admin/clients"))
        .bearer_auth(admin_access)
        .json(&json!({"client_id": WEB_CLIENT, "client_name": "loadgen web",
                      "grant_types": ["authorization_code", "refresh_token"],
                      "redirect_uris": [WEB_CALLBACK], "scope": "openid profile",
                      "first_party": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["datos"]["client_secret"]
        .as_str()
        .unwrap_or_else(|| panic!("the web client was not registered: {body}"))
        .to_string()
}

/// A client that keeps redirects for the caller to read.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn authorize_url(auth: &Service) -> String {
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
fn field(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// Signs the admin in on the hosted login page, as a browser: the browser session's cookie.
async fn browser_session(auth: &Service) -> String {
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
async fn code_of(http: &reqwest::Client, authorize: &str, sso: &str) -> Option<String> {
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
fn code_exchange_step(auth: &Service, sso: String, secret: String) -> Step {
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
async fn oauth_refresh_workers(auth: &Service, sso: &str, secret: &str, n: usize) -> Vec<Step> {
    let http = no_redirects();
    let (authorize, token) = (authorize_url(auth), auth.url("/oauth2/token"));
    let mut workers = Vec::new();
    for _ in 0..n {
        let code = code_of(&http, &authorize, sso).await.unwrap();
        let body: Value = http
            .post(&token)
            .basic_auth(WEB_CLIENT, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", WEB_CALLBACK),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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

/// A worker that refreshes its own session over and over, each time with the token it just got.
fn refresh_chain_step(url: String, first: String) -> Step {
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

async fn login(client: &reqwest::Client, auth: &Service) -> Value {
    let res = client
        .post(auth.url("/auth/login"))
        .json(&json!({"username": "api_user", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["exito"], true, "login failed: {body}");
    body["datos"].clone()
}

async fn refresh_workers(auth: &Service, n: usize) -> Vec<Step> {
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

/// The GET and the refresh with EdDSA access tokens and with HS256 ones, in alternating rounds (the
/// HS256 pair is the one already running: `auth`, `sol` and its solicitud `id`, read with `access`).
/// Returns (GET EdDSA, GET HS256, refresh EdDSA, refresh HS256).
async fn eddsa_next_to_hs256(
    settings: &Settings,
    auth: &Service,
    sol: &Service,
    id: u64,
    access: &str,
) -> (Run, Run, Run, Run) {
    let mut auth_vars = common_vars(settings, true);
    auth_vars.push(("JWT_ALGORITHM", "EdDSA".to_string()));
    // Any 32 bytes seal the generated key's private half in the store.
    auth_vars.push(("KEY_ENCRYPTION_KEY", MFA_KEY.to_string()));
    let prefix = auth_vars
        .iter()
        .find(|(k, _)| *k == "REDIS_KEY_PREFIX")
        .map(|(_, v)| v.clone())
        .unwrap();
    let auth_ed = start("auth-service", &auth_vars).await;
    // The backend holds no secret: only the JWKS URL.
    let mut sol_vars = with_prefix(common_vars(settings, true), &prefix);
    sol_vars.retain(|(k, _)| *k != "JWT_SECRET");
    sol_vars.push(("JWT_ALGORITHM", "EdDSA".to_string()));
    sol_vars.push(("JWT_JWKS_URL", auth_ed.url("/.well-known/jwks.json")));
    let sol_ed = start("solicitud-service", &sol_vars).await;
    let client = reqwest::Client::new();
    let access_ed = login(&client, &auth_ed).await["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let header = access_ed.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA", "the EdDSA service signed with {header}");
    let id_ed = create_solicitud(&client, &sol_ed, &access_ed).await;

    let (c, d) = (settings.concurrency, settings.duration);
    let rounds = if settings.quick { 1 } else { 2 };
    let (mut get_ed, mut get_hs, mut refresh_ed, mut refresh_hs) =
        (Run::default(), Run::default(), Run::default(), Run::default());
    for _ in 0..rounds {
        for (service, id, token, total) in [
            (&sol_ed, id_ed, &access_ed, &mut get_ed),
            (sol, id, &access.to_string(), &mut get_hs),
        ] {
            let workers = (0..c)
                .map(|_| get_step(service.url(&format!("/solicitud/{id}")), Some(token.clone())))
                .collect();
            total.add(load_costed(service.pid(), &settings.redis_url, workers, d / 2).await);
        }
        for (service, total) in [(&auth_ed, &mut refresh_ed), (auth, &mut refresh_hs)] {
            let workers = refresh_workers(service, c).await;
            total.add(load_costed(service.pid(), &settings.redis_url, workers, d / 2).await);
        }
    }
    (get_ed, get_hs, refresh_ed, refresh_hs)
}

/// Total calls of every command, from `INFO commandstats`.
async fn redis_calls(url: &str) -> u64 {
    redis_info(url, "commandstats")
        .await
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

/// Round trips per refresh, counted exactly: `MONITOR` shows every command a client sends (and, tagged
/// `lua`, the ones a script runs inside Redis); lines naming this run's key prefix and not from a script
/// are the service's round trips.
async fn round_trips_per_refresh(redis_url: &str, auth: &Service, prefix: &str, n: usize) -> f64 {
    let host_port = redis_url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "6379"));
    let mut monitor = Command::new("redis-cli")
        .args(["-h", host, "-p", port, "monitor"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli (from the redis-server package) counts round trips");
    let stdout = monitor.stdout.take().unwrap();
    let prefix_owned = prefix.to_string();
    let counter = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains(&prefix_owned) && !l.contains(" lua]"))
            .count()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let mut token = login(&client, auth).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..n {
        let body: Value = client
            .post(auth.url("/auth/refresh"))
            .json(&json!({ "refreshToken": token }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token = body["datos"]["refreshToken"].as_str().unwrap().to_string();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = monitor.kill();
    let _ = monitor.wait();
    let lines = counter.join().unwrap_or(0);
    // The login before the refreshes makes 4 round trips: attempt gate, MFA check, reset, session.
    (lines as f64 - 4.0) / n as f64
}

/// The argon2 parameters the service hashes with, read from a hash its own `hash-password` makes (so
/// the bound below is measured with exactly what the service runs, without linking the service).
fn service_argon2_params() -> argon2::Params {
    use std::io::Write;
    let mut child = Command::new(binary("auth-service"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"benchmark\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let phc = String::from_utf8(out.stdout).unwrap();
    let hash = argon2::password_hash::PasswordHash::new(phc.trim()).unwrap();
    argon2::Params::try_from(&hash).unwrap()
}

/// argon2id computations per second on every core with the service's parameters (m=19456, t=2, p=1),
/// each thread reusing its memory as the service's hashing threads do: the ceiling for logins.
fn argon2_bound(duration: Duration) -> f64 {
    let service = service_argon2_params();
    let params = argon2::Params::new(service.m_cost(), service.t_cost(), service.p_cost(), Some(32)).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                let params = params.clone();
                scope.spawn(move || {
                    let argon2 =
                        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
                    let mut memory = vec![argon2::Block::default(); argon2.params().block_count()];
                    let mut out = [0u8; 32];
                    let mut n = 0;
                    while started.elapsed() < duration {
                        argon2
                            .hash_password_into_with_memory(
                                b"the bound",
                                b"sixteen byte salt",
                                &mut out,
                                &mut memory,
                            )
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    counts.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown CPU".to_string(), |s| s.trim().to_string());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB, Linux {}", kernel.trim())
}

/// `vars` with `REDIS_KEY_PREFIX` replaced by `prefix`.
fn with_prefix(mut vars: Vec<(&'static str, String)>, prefix: &str) -> Vec<(&'static str, String)> {
    vars.retain(|(k, _)| *k != "REDIS_KEY_PREFIX");
    vars.push(("REDIS_KEY_PREFIX", prefix.to_string()));
    vars
}

/// `n` times: log in, check the token is accepted at `sol`, log out, then ask `sol` with the same token
/// without pause until it answers 401; the time from the logout's response to that first refusal.
async fn propagation(client: &reqwest::Client, auth: &Service, sol: &Service, n: usize) -> String {
    let probe = sol.url("/solicitud/999999999");
    let mut delays_us = Vec::with_capacity(n);
    for _ in 0..n {
        let access = login(client, auth).await["accessToken"]
            .as_str()
            .unwrap()
            .to_string();
        let status = client
            .get(&probe)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            status.as_u16(),
            404,
            "the fresh token is accepted (then not found)"
        );
        let res = client
            .post(auth.url("/auth/logout"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let _ = res.bytes().await;
        let answered = Instant::now();
        loop {
            let status = client
                .get(&probe)
                .bearer_auth(&access)
                .send()
                .await
                .unwrap()
                .status();
            if status.as_u16() == 401 {
                break;
            }
            assert!(
                answered.elapsed() < Duration::from_secs(5),
                "still accepted 5 s after logout"
            );
        }
        delays_us.push(answered.elapsed().as_micros() as u64);
    }
    delays_us.sort_unstable();
    let at = |p: f64| delays_us[((delays_us.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} logouts)",
        at(0.50),
        at(0.99),
        at(1.0),
        delays_us.len()
    )
}

fn common_vars(settings: &Settings, redis: bool) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("JWT_SECRET", SECRET.to_string()),
        // An issuer URL: the OAuth 2.0 endpoints are on (the client_credentials scenario).
        ("JWT_ISSUER", "http://localhost:8000".to_string()),
        ("API_PASSWORD", PASSWORD.to_string()),
        ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
        (
            "REDIS_KEY_PREFIX",
            format!("bench:{}:", uuid::Uuid::new_v4().simple()),
        ),
        // One client address makes every request: the per-IP and per-account limits would stop the run.
        ("RATE_LIMIT_IP_PER_MINUTE", "1000000000".to_string()),
        ("RATE_LIMIT_LOGIN_MAX_FAILURES", "1000000000".to_string()),
        ("AUTH_BIND_ADDR", "127.0.0.1:0".to_string()),
        ("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()),
    ];
    if redis {
        vars.push(("REDIS_URL", settings.redis_url.clone()));
    }
    vars
}

/// Calls of each command on the Redis at `port` (127.0.0.1), from `INFO commandstats`; commands run
/// inside scripts are counted too.
async fn command_calls(port: u16) -> std::collections::HashMap<String, u64> {
    let info = redis_info(&format!("redis://127.0.0.1:{port}"), "commandstats").await;
    let mut calls = std::collections::HashMap::new();
    for l in info.lines() {
        let Some((name, rest)) = l.strip_prefix("cmdstat_").and_then(|l| l.split_once(":calls=")) else {
            continue;
        };
        let mut fields = rest.split(',');
        let n = fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let usec = fields
            .find_map(|f| f.strip_prefix("usec="))
            .and_then(|u| u.parse().ok())
            .unwrap_or(0);
        calls.insert(name.to_string(), n);
        // Redis's own time in each command, µs (a script's time includes its commands').
        calls.insert(format!("usec:{name}"), usec);
    }
    calls
}

/// `MEMORY USAGE` of the first key matching `pattern` on the Redis at `port`, bytes.
async fn memory_of_a_key(port: u16, pattern: &str) -> Option<u64> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .ok()?;
        if let Some(key) = keys.first() {
            return redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .query_async(&mut conn)
                .await
                .ok();
        }
        if next == 0 {
            return None;
        }
        cursor = next;
    }
}

/// Whether a `usec:` entry is a command scripts run (its time is inside the script's already).
fn is_script_inner(key: &str) -> bool {
    !matches!(
        key,
        "usec:evalsha" | "usec:wait" | "usec:script|load" | "usec:ping"
    )
}

/// Calls per command summed over `ports`, as a difference from `before`.
async fn calls_since(
    ports: &[u16],
    before: &std::collections::HashMap<String, u64>,
) -> std::collections::HashMap<String, u64> {
    let mut now = std::collections::HashMap::new();
    for port in ports {
        for (name, calls) in command_calls(*port).await {
            *now.entry(name).or_insert(0) += calls;
        }
    }
    now.into_iter()
        .map(|(name, calls)| {
            let was = before.get(&name).copied().unwrap_or(0);
            (name, calls.saturating_sub(was))
        })
        .filter(|(name, calls)| *calls > 0 && name != "info")
        .collect()
}

/// `--topologies`: the same refresh and login load on one Redis and on a Redis Cluster of 3 primaries
/// and 3 replicas started here (test-support's `ClusterProcess`), and the Redis commands one refresh
/// costs on each (BENCHMARKS.md, "Past one Redis").
async fn topologies(settings: &Settings) {
    let cluster =
        test_support::ClusterProcess::start().expect("a Redis Cluster starts (redis-server, redis-cli)");
    let single_port: u16 = settings
        .redis_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(6379);
    let login_body = json!({"username": "api_user", "password": PASSWORD});
    let mut lines = Vec::new();
    for (name, var, value, ports) in [
        (
            "one Redis",
            "REDIS_URL",
            settings.redis_url.clone(),
            vec![single_port],
        ),
        (
            "cluster, 3 primaries + 3 replicas",
            "REDIS_CLUSTER_NODES",
            cluster.seeds(),
            cluster.ports(),
        ),
    ] {
        let mut vars = common_vars(settings, false);
        vars.push((var, value));
        let auth = start("auth-service", &vars).await;
        let refresh = load_on(
            auth.pid(),
            refresh_workers(&auth, settings.concurrency).await,
            settings.duration,
        )
        .await;
        let logins = load(
            (0..settings.concurrency)
                .map(|_| post_step(auth.url("/auth/login"), login_body.clone()))
                .collect(),
            settings.duration,
            None,
        )
        .await;
        // Commands per refresh: one chain, one refresh at a time, counted on every node.
        let client = reqwest::Client::new();
        let mut token = login(&client, &auth).await["refreshToken"]
            .as_str()
            .unwrap()
            .to_string();
        let n = 200u64;
        let before = calls_since(&ports, &std::collections::HashMap::new()).await;
        for _ in 0..n {
            let body: Value = client
                .post(auth.url("/auth/refresh"))
                .json(&json!({ "refreshToken": token }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            token = body["datos"]["refreshToken"].as_str().unwrap().to_string();
        }
        let spent = calls_since(&ports, &before).await;
        let redis_usec: u64 = spent
            .iter()
            .filter(|(k, _)| *k == "usec:evalsha" || (k.starts_with("usec:") && !is_script_inner(k)))
            .map(|(_, v)| *v)
            .sum();
        let spent: std::collections::HashMap<String, u64> = spent
            .into_iter()
            .filter(|(k, _)| !k.starts_with("usec:"))
            .collect();
        let per = |cmd: &str| spent.get(cmd).copied().unwrap_or(0) as f64 / n as f64;
        let total: u64 = spent.values().sum();
        let prefix = vars
            .iter()
            .find(|(k, _)| *k == "REDIS_KEY_PREFIX")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut sizes = String::new();
        for (what, pattern) in [("session", "*}:sess:*"), ("user record", "*}:user")] {
            for port in &ports {
                if let Some(bytes) = memory_of_a_key(*port, &format!("{prefix}auth:{pattern}")).await {
                    sizes.push_str(&format!("; a {what} {bytes} B"));
                    break;
                }
            }
        }
        let mut by_command: Vec<(String, u64)> = spent.clone().into_iter().collect();
        by_command.sort_by_key(|c| std::cmp::Reverse(c.1));
        let line = format!(
            "{name}: refresh {} (auth-service CPU {:.0} µs/refresh); login {:.0}/s; per refresh: {:.2} EVALSHA, {:.2} WAIT, {:.1} commands in all, Redis time {:.1} µs{sizes} (scripts' own commands included: {})",
            refresh.summary(),
            refresh.cpu_s.unwrap_or(0.0) * 1e6 / refresh.ok.max(1) as f64,
            logins.rps(),
            per("evalsha"),
            per("wait"),
            total as f64 / n as f64,
            redis_usec as f64 / n as f64,
            by_command
                .iter()
                .map(|(c, k)| format!("{c} {:.2}", *k as f64 / n as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
        eprintln!("{line}");
        lines.push(line);
    }
    println!();
    println!(
        "Topologies ({} s per scenario, {} connections):",
        settings.duration.as_secs(),
        settings.concurrency
    );
    for line in lines {
        println!("- {line}");
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = Settings {
        quick,
        tokens_only: std::env::args().any(|a| a == "--tokens"),
        duration: if quick {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(8)
        },
        concurrency: if quick { 4 } else { 32 },
        redis_url: std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    };
    if std::env::args().any(|a| a == "--topologies") {
        topologies(&settings).await;
        return;
    }
    let d = settings.duration;
    let c = settings.concurrency;
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut row = |what: &str, result: String, target: &str| {
        eprintln!("{what}: {result}");
        rows.push((what.to_string(), result, target.to_string()));
    };

    let auth_vars = common_vars(&settings, true);
    let auth_prefix = auth_vars
        .iter()
        .find(|(k, _)| *k == "REDIS_KEY_PREFIX")
        .map(|(_, v)| v.clone())
        .unwrap();
    let auth = start("auth-service", &auth_vars).await;
    // On the auth service's prefix: it follows the auth service's revocation feed.
    let sol = start(
        "solicitud-service",
        &with_prefix(common_vars(&settings, true), &auth_prefix),
    )
    .await;
    let mut off_vars = common_vars(&settings, true);
    off_vars.push(("REVOCATION_FEED_ENABLED", "false".to_string()));
    let sol_off = start("solicitud-service", &off_vars).await;
    let auth_mem = start("auth-service", &common_vars(&settings, false)).await;
    let sol_mem = start("solicitud-service", &common_vars(&settings, false)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    row(
        "Start to /ready",
        format!(
            "auth-service {:.0} ms (Redis), {:.0} ms (embedded); solicitud-service {:.0} ms",
            auth.ready_after.as_secs_f64() * 1000.0,
            auth_mem.ready_after.as_secs_f64() * 1000.0,
            sol.ready_after.as_secs_f64() * 1000.0
        ),
        "",
    );
    row(
        "Idle RSS",
        format!(
            "auth-service {:.1} MiB, solicitud-service {:.1} MiB",
            memory_mib(auth.pid(), "VmRSS"),
            memory_mib(sol.pid(), "VmRSS")
        ),
        "",
    );

    let client = reqwest::Client::new();
    let admin = login(&client, &auth).await;
    let access = admin["accessToken"].as_str().unwrap().to_string();
    let id = create_solicitud(&client, &sol, &access).await;
    let id_mem = create_solicitud(&client, &sol_mem, &access).await;
    let id_off = create_solicitud(&client, &sol_off, &access).await;

    // 2. Authenticated GET next to /health of the same process.
    let health = load_costed(
        sol.pid(),
        &settings.redis_url,
        (0..c).map(|_| get_step(sol.url("/health"), None)).collect(),
        d,
    )
    .await;
    // The feed on (sol) and off (sol_off), in alternating rounds so the machine's drift hits both alike.
    let rounds = if settings.quick || settings.tokens_only {
        1
    } else {
        4
    };
    let (mut get, mut get_off) = (Run::default(), Run::default());
    for _ in 0..rounds {
        for (service, id, total) in [(&sol, id, &mut get), (&sol_off, id_off, &mut get_off)] {
            let run = load_costed(
                service.pid(),
                &settings.redis_url,
                (0..c)
                    .map(|_| get_step(service.url(&format!("/solicitud/{id}")), Some(access.clone())))
                    .collect(),
                d / 2,
            )
            .await;
            total.add(run);
        }
    }
    let get_mem = load_on(
        sol_mem.pid(),
        (0..c)
            .map(|_| get_step(sol_mem.url(&format!("/solicitud/{id_mem}")), Some(access.clone())))
            .collect(),
        d,
    )
    .await;
    row("GET /health (solicitud-service)", health.summary_cpu(), "");
    row(
        "GET /solicitud/{id} (token verified, embedded store)",
        format!(
            "{} = {:.0}% of /health",
            get_mem.summary_cpu(),
            100.0 * get_mem.rps() / health.rps()
        ),
        "",
    );
    row(
        "GET /solicitud/{id} (token verified, Redis read)",
        format!(
            "{} = {:.0}% of /health",
            get.summary_cpu(),
            100.0 * get.rps() / health.rps()
        ),
        "≥ 85% of /health",
    );
    row(
        "GET /solicitud/{id} (Redis read, revocation feed off)",
        format!(
            "{} = {:.0}% of /health; the feed on: {:.1}% of this ({rounds} alternating rounds each)",
            get_off.summary_cpu(),
            100.0 * get_off.rps() / health.rps(),
            100.0 * get.rps() / get_off.rps()
        ),
        "",
    );

    // The floor of a request at the auth service: its /health, next to the token endpoints below.
    let auth_health = load_costed(
        auth.pid(),
        &settings.redis_url,
        (0..c).map(|_| get_step(auth.url("/health"), None)).collect(),
        d,
    )
    .await;
    row("GET /health (auth-service)", auth_health.summary_cpu(), "");

    // 2b. Propagation: from a logout's response at the auth service to the first refusal of the same
    // token at the solicitud service, which follows the revocation feed.
    if !settings.tokens_only {
        let delays = propagation(&client, &auth, &sol, if settings.quick { 10 } else { 300 }).await;
        row(
            "Logout to first refusal at solicitud-service (revocation feed)",
            delays,
            "p99 < 50 ms",
        );
    }

    // 3. Refresh, a fresh token every request, with Redis and with the embedded store.
    let workers = refresh_workers(&auth, c).await;
    let before = redis_calls(&settings.redis_url).await;
    let refresh = load_costed(auth.pid(), &settings.redis_url, workers, d).await;
    let executed = (redis_calls(&settings.redis_url).await - before) as f64 / refresh.ok.max(1) as f64;
    row(
        "POST /auth/refresh (Redis)",
        refresh.summary_cpu(),
        "≥ 5,000/s; ≤ 40 µs of CPU",
    );
    let trips = round_trips_per_refresh(&settings.redis_url, &auth, &auth_prefix, 200).await;
    row(
        "Redis round trips per refresh",
        format!(
            "{trips:.2} (MONITOR); {executed:.1} commands executed per refresh, inside the script included (INFO commandstats delta)"
        ),
        "exactly 1",
    );
    if !settings.tokens_only {
        let refresh_mem = load_on(auth_mem.pid(), refresh_workers(&auth_mem, c).await, d).await;
        row(
            "POST /auth/refresh (embedded store)",
            refresh_mem.summary_cpu(),
            "",
        );
    }

    // 3b. A machine client's token (client_credentials): one keyed hash of its secret, no session.
    let secret = register_client(&client, &auth, &access, "loadgen").await;
    let issuance = load_costed(
        auth.pid(),
        &settings.redis_url,
        (0..c)
            .map(|_| client_credentials_step(auth.url("/oauth2/token"), "loadgen".into(), secret.clone()))
            .collect(),
        d,
    )
    .await;
    let per_token = issuance.cpu_us_per_request().unwrap_or(f64::NAN);
    let per_refresh = refresh.cpu_us_per_request().unwrap_or(f64::NAN);
    row(
        "POST /oauth2/token, client_credentials (Redis), next to POST /auth/refresh",
        format!(
            "{}; {per_token:.1} µs of auth-service CPU per token against {per_refresh:.1} per refresh = {:.2}x",
            issuance.summary_cpu(),
            per_token / per_refresh
        ),
        "no more CPU than a refresh",
    );

    // 3c. OpenID Connect: code exchanges (the authorization endpoint for a signed-in browser, then
    // the token endpoint: a session, an access and a refresh token, an RS256 ID token), and the token
    // endpoint's refresh next to /auth/refresh.
    let web_secret = register_web_client(&client, &auth, &access).await;
    let sso = browser_session(&auth).await;
    let exchanges = load_costed(
        auth.pid(),
        &settings.redis_url,
        (0..c)
            .map(|_| code_exchange_step(&auth, sso.clone(), web_secret.clone()))
            .collect(),
        d,
    )
    .await;
    row(
        "Code exchanges: GET /oauth2/authorize (signed in) + POST /oauth2/token, authorization_code (Redis)",
        format!("{} (CPU per exchange, both requests)", exchanges.summary_cpu()),
        "",
    );
    let oauth_refresh = load_costed(
        auth.pid(),
        &settings.redis_url,
        oauth_refresh_workers(&auth, &sso, &web_secret, c).await,
        d,
    )
    .await;
    let per_oauth_refresh = oauth_refresh.cpu_us_per_request().unwrap_or(f64::NAN);
    row(
        "POST /oauth2/token, refresh_token (Redis), next to POST /auth/refresh",
        format!(
            "{}; {per_oauth_refresh:.1} µs of auth-service CPU per refresh against {per_refresh:.1} = {:.2}x",
            oauth_refresh.summary_cpu(),
            per_oauth_refresh / per_refresh
        ),
        "within 1.2x",
    );

    // 4. Introspection.
    let introspect = load_costed(
        auth.pid(),
        &settings.redis_url,
        (0..c)
            .map(|_| post_step(auth.url("/auth/introspect"), json!({ "token": access })))
            .collect(),
        d,
    )
    .await;
    row(
        "POST /auth/introspect (Redis)",
        introspect.summary_cpu(),
        "≥ 10,000/s",
    );

    // 4b. The user behind an access token (one Redis round trip: the session and the user).
    let me = load_costed(
        auth.pid(),
        &settings.redis_url,
        (0..c)
            .map(|_| get_step(auth.url("/auth/me"), Some(access.clone())))
            .collect(),
        d,
    )
    .await;
    row("GET /auth/me (Redis)", me.summary_cpu(), "");
    let ratio = |run: &Run| 100.0 * run.rps() / health.rps();
    row(
        "Throughput as a share of GET /health (solicitud-service), same run",
        format!(
            "refresh {:.0}%, introspect {:.0}%, /auth/me {:.0}%, GET /solicitud/{{id}} (Redis) {:.0}%",
            ratio(&refresh),
            ratio(&introspect),
            ratio(&me),
            ratio(&get)
        ),
        "refresh ≥ 50%, introspect and /auth/me ≥ 60%, GET ≥ 85%",
    );
    let per = |run: &Run| run.cpu_us_per_request().unwrap_or(f64::NAN);
    row(
        "auth-service CPU per request (process CPU seconds / requests served)",
        format!(
            "refresh {:.1} µs, introspect {:.1} µs, /auth/me {:.1} µs, /health {:.1} µs",
            per(&refresh),
            per(&introspect),
            per(&me),
            per(&auth_health)
        ),
        "refresh ≤ 40 µs",
    );
    // Where each request's CPU goes. Every scenario keeps both cores busy (the loader, the service
    // and Redis share them), so throughput is the cores over the machine's CPU per request, and a
    // share of /health is bounded by what Redis and the loader cost, whatever the service does.
    let budget = |run: &Run| run.budget_us().unwrap_or([f64::NAN; 4]);
    let line = |name: &str, run: &Run| {
        let [service, redis, loader, machine] = budget(run);
        format!(
            "{name} {service:.1} + {redis:.1} + {loader:.1} ({machine:.1}; {:.0}% of the cores busy)",
            100.0 * machine * run.rps() / 1e6 / cores()
        )
    };
    row(
        "CPU per request, µs: service + Redis + loader (the whole machine)",
        [
            line("solicitud /health", &health),
            line("GET /solicitud/{id} (Redis)", &get),
            line("auth /health", &auth_health),
            line("refresh", &refresh),
            line("introspect", &introspect),
            line("/auth/me", &me),
        ]
        .join("; "),
        "",
    );
    // How far each share could go on this machine, with Redis and the loader as they are: were the
    // endpoint to cost its service no more than its /health, and no more than its /health plus the one
    // Redis round trip it needs (the solicitud GET on Redis less the same GET on the embedded store).
    // The machine's CPU per /health over the endpoint's, with the service's part replaced.
    let round_trip =
        get.cpu_us_per_request().unwrap_or(f64::NAN) - get_mem.cpu_us_per_request().unwrap_or(f64::NAN);
    let share_at = |run: &Run, service_us: f64| {
        let [service, _, _, machine] = budget(run);
        100.0 * budget(&health)[3] / (machine - service + service_us)
    };
    let shares = |name: &str, run: &Run, floor: &Run| {
        let floor_us = budget(floor)[0];
        format!(
            "{name} {:.0}% (predicted {:.0}%; ceilings {:.0}%, {:.0}%)",
            ratio(run),
            share_at(run, budget(run)[0]),
            share_at(run, floor_us),
            share_at(run, floor_us + round_trip),
        )
    };
    row(
        "Share of /health, measured (predicted from the machine's CPU per request; ceilings were the endpoint to cost its service what its /health does, and that plus one Redis round trip)",
        format!(
            "{}; {}; {}; {}; one round trip {round_trip:.1} µs",
            shares("refresh", &refresh, &auth_health),
            shares("introspect", &introspect, &auth_health),
            shares("/auth/me", &me, &auth_health),
            shares("GET (Redis)", &get, &health),
        ),
        "",
    );
    // 4c. Asymmetric keys next to HS256: an auth-service signing access tokens with Ed25519 and a
    // solicitud-service verifying them with the set it fetched from that service's JWKS, against the
    // HS256 pair above, in alternating rounds. The GET costs the backend one Ed25519 verification per
    // token and then a cache lookup; a refresh signs its access token with Ed25519 (its refresh token
    // stays HMAC).
    let (get_ed, get_hs, refresh_ed, refresh_hs) =
        eddsa_next_to_hs256(&settings, &auth, &sol, id, &access).await;
    let per = |run: &Run| run.cpu_us_per_request().unwrap_or(f64::NAN);
    row(
        "GET /solicitud/{id}, EdDSA token (JWKS) next to HS256: service CPU per request",
        format!(
            "EdDSA {:.1} µs, HS256 {:.1} µs = {:.2}x ({} / {})",
            per(&get_ed),
            per(&get_hs),
            per(&get_ed) / per(&get_hs),
            get_ed.summary_cpu(),
            get_hs.summary_cpu()
        ),
        "≤ 1.3x",
    );
    row(
        "POST /auth/refresh, EdDSA access tokens next to HS256: service CPU per request",
        format!(
            "EdDSA {:.1} µs, HS256 {:.1} µs = {:.2}x ({} / {})",
            per(&refresh_ed),
            per(&refresh_hs),
            per(&refresh_ed) / per(&refresh_hs),
            refresh_ed.summary_cpu(),
            refresh_hs.summary_cpu()
        ),
        "≤ 1.3x",
    );

    if settings.tokens_only {
        print_table(&settings, &rows);
        return;
    }

    // 5. Login next to the raw argon2 bound of this machine.
    let bound = argon2_bound(d);
    let login_body = json!({"username": "api_user", "password": PASSWORD});
    let logins = load(
        (0..c)
            .map(|_| post_step(auth.url("/auth/login"), login_body.clone()))
            .collect(),
        d,
        None,
    )
    .await;
    row(
        "argon2id bound (m=19456,t=2,p=1, all cores)",
        format!("{bound:.1} hashes/s"),
        "",
    );
    row(
        "POST /auth/login",
        format!(
            "{} = {:.0}% of the bound",
            logins.summary(),
            100.0 * logins.rps() / bound
        ),
        "≥ 90% of the bound",
    );

    // 6. Isolation: refresh and the solicitud GET while a login storm saturates hashing.
    let stop = Arc::new(AtomicBool::new(false));
    let storm_workers: Vec<Step> = (0..c)
        .map(|_| post_step(auth.url("/auth/login"), login_body.clone()))
        .collect();
    let storm = tokio::spawn(load(storm_workers, d * 3, Some(stop.clone())));
    tokio::time::sleep(Duration::from_millis(if settings.quick { 50 } else { 500 })).await;
    let under_storm_refresh = load(refresh_workers(&auth, (c / 4).max(1)).await, d, None).await;
    let under_storm_get = load(
        (0..(c / 4).max(1))
            .map(|_| get_step(sol.url(&format!("/solicitud/{id}")), Some(access.clone())))
            .collect(),
        d,
        None,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let storm = storm.await.unwrap();
    row(
        "Refresh during a login storm",
        format!(
            "p99 {:.2} ms ({})",
            under_storm_refresh.percentile_ms(0.99),
            under_storm_refresh.summary()
        ),
        "p99 < 25 ms",
    );
    row(
        "GET /solicitud/{id} during a login storm",
        format!(
            "p99 {:.2} ms ({})",
            under_storm_get.percentile_ms(0.99),
            under_storm_get.summary()
        ),
        "p99 < 25 ms",
    );
    row("(the storm itself)", storm.summary(), "");

    // Peak RSS of the auth service through 500 concurrent logins.
    let burst = if settings.quick { 20 } else { 500 };
    let burst_client = reqwest::Client::new();
    let results = join_all((0..burst).map(|_| {
        burst_client
            .post(auth.url("/auth/login"))
            .json(&login_body)
            .send()
    }))
    .await;
    let ok = results
        .iter()
        .filter(|r| matches!(r, Ok(res) if res.status().is_success()))
        .count();
    row(
        &format!("Peak RSS of auth-service, {burst} concurrent logins"),
        format!("{:.1} MiB ({ok}/{burst} ok)", memory_mib(auth.pid(), "VmHWM")),
        "< 256 MiB",
    );

    print_table(&settings, &rows);
}

fn print_table(settings: &Settings, rows: &[(String, String, String)]) {
    println!("\nMachine: {}", machine());
    println!(
        "Run: {}, {} workers, {:?} per scenario, loader on the same machine\n",
        match (settings.quick, settings.tokens_only) {
            (true, _) => "quick",
            (false, true) => "token endpoints only (--tokens)",
            (false, false) => "full",
        },
        settings.concurrency,
        settings.duration
    );
    println!("| measure | result | target |\n|---|---|---|");
    for (what, result, target) in rows {
        println!("| {what} | {result} | {target} |");
    }
}
