//! The services under load: started from the binaries beside this one, with the settings each
//! scenario gives them, and killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub(crate) const SECRET: &str = "benchmark-secret-0123456789abcdef-0123456789";
pub(crate) const PASSWORD: &str = "benchmark admin password";
pub(crate) const MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub(crate) struct Settings {
    pub(crate) quick: bool,
    /// `--tokens`: only the request-cost scenarios (health, the GET, refresh, introspect, /auth/me).
    pub(crate) tokens_only: bool,
    pub(crate) duration: Duration,
    pub(crate) concurrency: usize,
    pub(crate) redis_url: String,
}

/// A running service, killed on drop.
pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) ready_after: Duration,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub(crate) fn binary(name: &str) -> PathBuf {
    let path = std::env::current_exe().unwrap().with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run bench/run (it builds every binary first)",
        path.display()
    );
    path
}

pub(crate) async fn start(name: &str, vars: &[(&str, String)]) -> Service {
    start_under(&[], name, vars, Duration::from_secs(30)).await
}

/// [`start`], with the binary run by `launcher` (a program and its arguments, the binary's path
/// appended: `valgrind --tool=callgrind ...`) and `timeout` to reach `listening`.
pub(crate) async fn start_under(
    launcher: &[String],
    name: &str,
    vars: &[(&str, String)],
    timeout: Duration,
) -> Service {
    let spawned = Instant::now();
    let mut command = match launcher.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary(name));
            command
        }
        None => Command::new(binary(name)),
    };
    let mut child = command
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
        .recv_timeout(timeout)
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

/// Sends `request` and reads its JSON body (a request that fails stops the run).
pub(crate) async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// The `REDIS_KEY_PREFIX` of `vars`.
pub(crate) fn prefix_of(vars: &[(&str, String)]) -> String {
    vars.iter()
        .find(|(k, _)| *k == "REDIS_KEY_PREFIX")
        .map(|(_, v)| v.clone())
        .unwrap()
}

/// Creates one solicitud on `service` (the one the GET scenarios read) and returns its id.
pub(crate) async fn create_solicitud(client: &reqwest::Client, service: &Service, access: &str) -> u64 {
    let created = json_of(
        client
            .post(service.url("/solicitud/"))
            .bearer_auth(access)
            .json(&json!({"origen": "A", "destino": "B", "fechaServicio": "2031-01-01T08:00:00Z", "pasajeros": 2, "motivo": "benchmark"})),
    )
    .await;
    created["datos"]["id"].as_u64().expect("solicitud created")
}

/// `vars` with `REDIS_KEY_PREFIX` replaced by `prefix`.
pub(crate) fn with_prefix(
    mut vars: Vec<(&'static str, String)>,
    prefix: &str,
) -> Vec<(&'static str, String)> {
    vars.retain(|(k, _)| *k != "REDIS_KEY_PREFIX");
    vars.push(("REDIS_KEY_PREFIX", prefix.to_string()));
    vars
}

pub(crate) fn common_vars(settings: &Settings, redis: bool) -> Vec<(&'static str, String)> {
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
