//! The Rust client (`clients/rust`, crate `solicitud-auth`) against the real binary, one process per
//! test on the shared Redis: the same scenarios as the Python and JavaScript suites, with requests
//! counted on the server side from its JSON request log, as they count them.

use std::future::Future as _;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use solicitud_auth::{Client, Error, MemoryStorage, TokenStorage, Tokens};
use test_support::ServiceProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_all-in-one");
const USER: &str = "api_user";
const PASSWORD: &str = "rust-client-tests-password-1";

/// The all-in-one binary on a free port (`bind`, usually 127.0.0.1:0) and the shared Redis, under a
/// key prefix of its own.
fn start_on(bind: &str, extra: &[(&str, &str)]) -> Service {
    let mut vars = vec![
        ("ALL_IN_ONE_BIND_ADDR", bind.to_string()),
        (
            "JWT_SECRET",
            "rust-client-tests-secret-0123456789abcdef".to_string(),
        ),
        ("API_PASSWORD", PASSWORD.to_string()),
        ("API_USER_EMAIL", "api_user@example.com".to_string()),
        // 32 bytes, base64: MFA secrets sealed with a fixed test key (required with Redis).
        (
            "MFA_ENCRYPTION_KEY",
            "cnVzdC1jbGllbnQtdGVzdHMtbWZhLWtleS0wMTIzNDU=".to_string(),
        ),
        ("REDIS_URL", test_support::redis_url()),
        (
            "REDIS_KEY_PREFIX",
            format!("clients-rs-{}:", uuid::Uuid::new_v4().simple()),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let process = ServiceProcess::start(BIN, &vars).unwrap();
    let origin = format!("http://127.0.0.1:{}", process.addr().port());
    Service { process, origin }
}

fn start(extra: &[(&str, &str)]) -> Service {
    start_on("127.0.0.1:0", extra)
}

struct Service {
    process: ServiceProcess,
    origin: String,
}

impl Service {
    /// How many requests the service logged for `method path` (with `status`, when given), once its
    /// log has been quiet for a moment (a request's line comes after its answer).
    async fn requests(&self, method: &str, path: &str, status: Option<u64>) -> usize {
        self.settle().await;
        self.count(method, path, status)
    }

    /// [`Self::requests`], once at least `n` of them are logged (or 20 s passed): for a request
    /// made by a task the test does not wait on, which a loaded machine may start late.
    async fn requests_reaching(&self, method: &str, path: &str, status: Option<u64>, n: usize) -> usize {
        for _ in 0..200 {
            if self.count(method, path, status) >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.requests(method, path, status).await
    }

    fn count(&self, method: &str, path: &str, status: Option<u64>) -> usize {
        self.process
            .logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["message"] == "request" && e["method"] == method && e["path"] == path)
            .filter(|e| status.is_none_or(|s| e["status"] == s))
            .count()
    }

    async fn reuse_detected(&self) -> bool {
        self.settle().await;
        self.process.logs().iter().any(|l| l.contains("reuse detected"))
    }

    async fn settle(&self) {
        let mut seen = usize::MAX;
        for _ in 0..10 {
            let now = self.process.logs().len();
            if now == seen {
                return;
            }
            seen = now;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// The client's clock, which a test moves forward (time travel without waiting).
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicU64>);

impl TestClock {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
    fn now(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let offset = Arc::clone(&self.0);
        move || SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst))
    }
}

/// A storage that remembers every pair it was given: what an app persisting the session sees.
#[derive(Default)]
struct Recording {
    inner: MemoryStorage,
    saved: Mutex<Vec<Tokens>>,
}

impl Recording {
    fn saved(&self) -> Vec<Tokens> {
        self.saved.lock().unwrap().clone()
    }
}

impl TokenStorage for Recording {
    fn load(&self) -> Option<Tokens> {
        self.inner.load()
    }
    fn save(&self, tokens: &Tokens) {
        self.saved.lock().unwrap().push(tokens.clone());
        self.inner.save(tokens);
    }
    fn clear(&self) {
        self.inner.clear();
    }
}

/// A plain request, outside the library: how the tests act as another device.
async fn post(origin: &str, path: &str, body: Value, token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().post(format!("{origin}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn status_with(origin: &str, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{origin}/solicitud/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_client_fifty_tasks_inside_the_buffer_share_one_refresh_and_all_succeed() {
    let service = start(&[]);
    let clock = TestClock::default();
    let storage = Arc::new(Recording::default());
    let client = Client::builder(&service.origin)
        .credentials(USER, PASSWORD)
        .storage(storage.clone())
        .clock(clock.now())
        .build()
        .unwrap();
    client.login().await.unwrap();
    let first = client.refresh_token().unwrap();
    clock.advance(Duration::from_secs(56 * 60)); // four minutes left: inside the 5-minute buffer
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/solicitud/").await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap());
    }
    assert_eq!(statuses, vec![200; 50]);
    assert_eq!(service.requests("POST", "/auth/refresh", None).await, 1);
    assert_eq!(service.requests("POST", "/auth/refresh", Some(200)).await, 1);
    assert_eq!(service.requests("GET", "/solicitud/", Some(200)).await, 50);
    assert_ne!(client.refresh_token().unwrap(), first);
    let saved = storage.saved();
    assert_eq!(saved.len(), 2);
    assert_eq!(saved[1].refresh_token, client.refresh_token());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_a_second_refresh_after_the_grace_is_not_reuse() {
    let service = start(&[("JWT_REFRESH_RETRY_GRACE_SECONDS", "1")]);
    let client = Client::new(&service.origin, USER, PASSWORD).unwrap();
    client.login().await.unwrap();
    client.refresh_access_token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    client.refresh_access_token().await.unwrap();
    assert_eq!(service.requests("POST", "/auth/refresh", Some(200)).await, 2);
    assert_eq!(service.requests("POST", "/auth/refresh", None).await, 2);
    assert_eq!(service.requests("POST", "/auth/login", Some(200)).await, 1);
    assert!(!service.reuse_detected().await);
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_a_caller_that_stops_waiting_does_not_lose_the_rotated_pair() {
    let service = start(&[]);
    let client = Client::new(&service.origin, USER, PASSWORD).unwrap();
    client.login().await.unwrap();
    let before = client.refresh_token().unwrap();
    // The caller gives up at once: its future dropped after one poll, which started the refresh.
    // (Polled exactly once by hand: a timeout, however short, could see the answer come first on a
    // loaded machine, whose timer wakes late.)
    let mut refresh = Box::pin(client.refresh_access_token());
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(refresh.as_mut().poll(cx))).await;
    assert!(
        first.is_pending(),
        "the refresh finished in its first poll: {first:?}"
    );
    drop(refresh);
    assert_eq!(
        service
            .requests_reaching("POST", "/auth/refresh", Some(200), 1)
            .await,
        1
    );
    // The rotation went on without it: the new pair is the session, and it works.
    let after = client.refresh_token().unwrap();
    assert_ne!(after, before);
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    client.refresh_access_token().await.unwrap();
    assert_eq!(service.requests("POST", "/auth/refresh", Some(200)).await, 2);
    assert!(!service.reuse_detected().await);
}

/// Forwards each connection's one request to `upstream`; for the first `drops` requests to `lose` it
/// reads the service's whole answer, keeps its body in `dropped`, and closes the connection without
/// a byte to the client: a response lost on the way back.
struct LossyProxy {
    origin: String,
    dropped: Arc<Mutex<Vec<Value>>>,
}

async fn lossy_proxy(upstream: SocketAddr, lose: &'static str, drops: usize) -> LossyProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let left = Arc::new(AtomicUsize::new(drops));
    let kept = Arc::clone(&dropped);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (kept, left) = (Arc::clone(&kept), Arc::clone(&left));
            tokio::spawn(async move { relay(client, upstream, lose, &left, &kept).await });
        }
    });
    LossyProxy { origin, dropped }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    lose: &str,
    left: &AtomicUsize,
    dropped: &Mutex<Vec<Value>>,
) {
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
    // One request per connection: the service answers and closes, so the answer ends at EOF.
    let mut forwarded: String = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream).await.unwrap();
    server.write_all(forwarded.as_bytes()).await.unwrap();
    server.write_all(&body).await.unwrap();
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await.unwrap();
    let lost = path == lose
        && left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if lost {
        dropped.lock().unwrap().push(response_body(&answer));
        return; // the connection closes here, answer unsent
    }
    client.write_all(&answer).await.unwrap();
    let _ = client.shutdown().await;
}

/// One HTTP/1.1 request: its head (request line and headers) and its body (by Content-Length).
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).ok()?;
    let length: usize = head
        .split("\r\n")
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

/// The JSON body of a whole HTTP/1.1 response (Content-Length or chunked).
fn response_body(answer: &[u8]) -> Value {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let mut body = answer[end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        let (mut raw, mut out) = (&body[..], Vec::new());
        loop {
            let line = raw.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&raw[..line]).unwrap().trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&raw[line + 2..line + 2 + size]);
            raw = &raw[line + 2 + size + 2..];
        }
        body = out;
    }
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_a_lost_refresh_answer_is_retried_once_and_gets_the_same_pair() {
    let service = start(&[]);
    let proxy = lossy_proxy(service.process.addr(), "/auth/refresh", 1).await;
    let client = Client::new(&proxy.origin, USER, PASSWORD).unwrap();
    client.login().await.unwrap();
    client.refresh_access_token().await.unwrap();
    let dropped = proxy.dropped.lock().unwrap().clone();
    assert_eq!(dropped.len(), 1);
    let lost = &dropped[0]["datos"];
    assert_eq!(
        (client.access_token().unwrap(), client.refresh_token().unwrap()),
        (
            lost["accessToken"].as_str().unwrap().to_string(),
            lost["refreshToken"].as_str().unwrap().to_string()
        )
    );
    assert_eq!(service.requests("POST", "/auth/refresh", Some(200)).await, 2);
    assert!(!service.reuse_detected().await);
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    // The session goes on rotating.
    client.refresh_access_token().await.unwrap();
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    assert_eq!(service.requests("POST", "/auth/refresh", Some(200)).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_a_refresh_the_service_takes_for_reuse_is_session_expired_without_credentials() {
    let service = start(&[("JWT_REFRESH_RETRY_GRACE_SECONDS", "0")]);
    let client = Client::new(&service.origin, USER, PASSWORD).unwrap();
    client.login().await.unwrap();
    let stale = client.tokens().unwrap();
    client.refresh_access_token().await.unwrap();
    let holder = Client::builder(&service.origin)
        .storage(Arc::new(MemoryStorage::with_tokens(stale)))
        .build()
        .unwrap();
    let e = holder.refresh_access_token().await.unwrap_err();
    assert!(
        matches!(&e, Error::SessionExpired { codigo: Some(c) } if c == "TOKEN_REVOKED"),
        "{e:?}"
    );
    assert_eq!(holder.tokens(), None);
    assert!(service.reuse_detected().await);
}

async fn logout_all_elsewhere(origin: &str) {
    let other = Client::new(origin, USER, PASSWORD).unwrap();
    other.login().await.unwrap();
    let r = other.post("/auth/logout-all", &json!({})).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_after_a_logout_elsewhere_the_next_call_logs_in_again_with_credentials() {
    let service = start(&[]);
    let client = Client::new(&service.origin, USER, PASSWORD).unwrap();
    client.login().await.unwrap();
    let before = client.access_token().unwrap();
    logout_all_elsewhere(&service.origin).await;
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    assert_ne!(client.access_token().unwrap(), before);
    // This client's login, the other device's, and this client's new one.
    assert_eq!(service.requests("POST", "/auth/login", Some(200)).await, 3);
    assert_eq!(service.requests("POST", "/auth/refresh", Some(401)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_after_a_logout_elsewhere_the_next_call_is_session_expired_without_credentials() {
    let service = start(&[]);
    let seeded = Client::new(&service.origin, USER, PASSWORD).unwrap();
    seeded.login().await.unwrap();
    let storage = Arc::new(MemoryStorage::with_tokens(seeded.tokens().unwrap()));
    let client = Client::builder(&service.origin)
        .storage(storage.clone())
        .build()
        .unwrap();
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    logout_all_elsewhere(&service.origin).await;
    let e = client.get("/solicitud/").await.unwrap_err();
    assert!(
        matches!(&e, Error::SessionExpired { codigo: Some(c) } if c == "TOKEN_REVOKED"),
        "{e:?}"
    );
    assert_eq!(storage.load(), None);
    // Nothing left to send: the next call fails at once.
    assert!(matches!(
        client.get("/solicitud/").await,
        Err(Error::SessionExpired { codigo: None })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_a_stored_session_resumes_in_a_new_client_and_keeps_rotating() {
    let service = start(&[]);
    let storage = Arc::new(Recording::default());
    Client::builder(&service.origin)
        .credentials(USER, PASSWORD)
        .storage(storage.clone())
        .build()
        .unwrap()
        .login()
        .await
        .unwrap();
    let resumed = Client::builder(&service.origin)
        .storage(storage.clone())
        .build()
        .unwrap();
    resumed.refresh_access_token().await.unwrap();
    assert_eq!(resumed.get("/solicitud/").await.unwrap().status(), 200);
    let saved = storage.saved();
    assert_eq!(saved.len(), 2);
    assert_ne!(saved[0].refresh_token, saved[1].refresh_token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_logout_ends_the_session_at_the_service_and_here() {
    let service = start(&[]);
    let client = Client::new(&service.origin, USER, PASSWORD).unwrap();
    client.login().await.unwrap();
    let access = client.access_token().unwrap();
    client.logout().await.unwrap();
    assert_eq!(client.tokens(), None);
    let (status, body) = status_with(&service.origin, &access).await;
    assert_eq!((status, body["codigo"].as_str()), (401, Some("TOKEN_REVOKED")));
    assert_eq!(service.requests("POST", "/auth/logout", Some(200)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_a_401_that_is_not_about_the_session_is_handed_back_as_it_came() {
    let service = start(&[]);
    // A 401 TOKEN_INVALID is neither expired nor revoked: returned with its URL and body intact,
    // without a refresh or a login.
    let client = Client::builder(&service.origin)
        .storage(Arc::new(MemoryStorage::with_tokens(Tokens {
            access_token: "not-a-token".into(),
            refresh_token: Some("not-a-refresh-token".into()),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        })))
        .build()
        .unwrap();
    let r = client.get("/solicitud/").await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.url().as_str().ends_with("/solicitud/"), "{}", r.url());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["codigo"], "TOKEN_INVALID", "{body}");
    assert_eq!(service.requests("POST", "/auth/refresh", None).await, 0);
    assert_eq!(service.requests("POST", "/auth/login", None).await, 0);
}

// --- MFA ---

/// A user's authenticator app: each code is for a later step than the last one used (the service
/// accepts a step once, and ±1 step around its clock).
struct Authenticator {
    totp: totp_rs::TOTP,
    last: Mutex<u64>,
}

impl Authenticator {
    fn code(&self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 30;
        let mut last = self.last.lock().unwrap();
        *last = now.max(*last + 1);
        self.totp.generate(*last * 30)
    }
}

/// Turns MFA on for the API user through the API, as a user would.
async fn enrol_mfa(origin: &str) -> Arc<Authenticator> {
    let login = post(
        origin,
        "/auth/login",
        json!({"username": USER, "password": PASSWORD}),
        None,
    )
    .await;
    let token = login["datos"]["accessToken"].as_str().unwrap().to_string();
    let setup = post(origin, "/auth/mfa/setup", json!({}), Some(&token)).await;
    assert_eq!(setup["exito"], true, "{setup}");
    let secret = totp_rs::Secret::Encoded(setup["datos"]["secret"].as_str().unwrap().to_string())
        .to_bytes()
        .unwrap();
    let app = Arc::new(Authenticator {
        totp: totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret, None, String::new()),
        last: Mutex::new(0),
    });
    let activated = post(
        origin,
        "/auth/mfa/activate",
        json!({"code": app.code()}),
        Some(&token),
    )
    .await;
    assert_eq!(activated["exito"], true, "{activated}");
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_the_mfa_callback_is_used_once_for_the_login() {
    let service = start(&[]);
    let app = enrol_mfa(&service.origin).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let clock = TestClock::default();
    let (counted, authenticator) = (Arc::clone(&calls), Arc::clone(&app));
    let client = Client::builder(&service.origin)
        .credentials(USER, PASSWORD)
        .clock(clock.now())
        .mfa_code(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let code = authenticator.code();
            async move { code }
        })
        .build()
        .unwrap();
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    assert!(!client.mfa_pending());
    clock.advance(Duration::from_secs(56 * 60));
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(service.requests("POST", "/auth/mfa/verify", Some(200)).await, 1);
    assert_eq!(service.requests("POST", "/auth/refresh", Some(200)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_without_a_callback_login_is_mfa_required_and_verify_mfa_finishes_it() {
    let service = start(&[]);
    let app = enrol_mfa(&service.origin).await;
    let client = Client::new(&service.origin, USER, PASSWORD).unwrap();
    assert!(matches!(client.login().await, Err(Error::MfaRequired)));
    assert!(client.mfa_pending());
    assert_eq!(client.tokens(), None);
    let code = app.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = client.verify_mfa(wrong).await.unwrap_err();
    assert!(matches!(e, Error::MfaInvalid { .. }), "{e:?}");
    assert!(client.mfa_pending());
    client.verify_mfa(&code).await.unwrap();
    assert!(!client.mfa_pending());
    assert_eq!(client.get("/solicitud/").await.unwrap().status(), 200);
    assert!(matches!(
        client.verify_mfa(&app.code()).await,
        Err(Error::NoMfaPending)
    ));
}

// --- refusals ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_wrong_credentials_are_invalid_credentials_then_rate_limited() {
    let service = start(&[("RATE_LIMIT_LOGIN_MAX_FAILURES", "2")]);
    let client = Client::new(&service.origin, USER, "wrong-password").unwrap();
    for _ in 0..2 {
        let e = client.login().await.unwrap_err();
        assert!(matches!(e, Error::InvalidCredentials { .. }), "{e:?}");
    }
    let e = client.login().await.unwrap_err();
    assert!(
        matches!(e, Error::RateLimited { retry_after: Some(s), .. } if s > 0),
        "{e:?}"
    );
    assert_eq!(client.tokens(), None);
}

/// An address of this machine that is not loopback (the one it would reach the internet from), when
/// it has one.
fn own_non_loopback_ip() -> Option<std::net::IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?; // no packet is sent: this only picks a route
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_plain_http_to_a_host_that_is_not_this_machine_is_refused_unless_allowed() {
    for url in [
        "http://api.example.com",
        "http://10.0.0.5:8000",
        "http://localhost.evil.com",
    ] {
        let e = Client::new(url, USER, PASSWORD).unwrap_err();
        assert!(matches!(e, Error::InsecureHttp { .. }), "{url}: {e:?}");
    }
    // The service on every interface, reached through this machine's own non-loopback address.
    let service = start_on("0.0.0.0:0", &[]);
    let Some(ip) = own_non_loopback_ip() else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"rust_client: no non-loopback address here; only the URL checks ran\n",
        );
        return;
    };
    let origin = format!("http://{}", SocketAddr::new(ip, service.process.addr().port()));
    let e = Client::new(&origin, USER, PASSWORD).unwrap_err();
    assert!(
        matches!(&e, Error::InsecureHttp { host } if *host == ip.to_string()),
        "{e:?}"
    );
    assert_eq!(service.requests("POST", "/auth/login", None).await, 0);
    let allowed = Client::builder(&origin)
        .credentials(USER, PASSWORD)
        .allow_insecure_http(true)
        .build()
        .unwrap();
    assert_eq!(allowed.get("/solicitud/").await.unwrap().status(), 200);
    assert_eq!(service.requests("POST", "/auth/login", Some(200)).await, 1);
}

/// A machine client (`ClientCredentials`): fifty tasks share one token request, the scope asked for is
/// what the token carries, `client_secret_post` works for a client registered with it, and a disabled
/// client's token is refused and no new one is given (`invalid_client`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_client_credentials_share_one_token_and_stop_when_the_client_is_disabled() {
    let service = start(&[]);
    let login = post(
        &service.origin,
        "/auth/login",
        json!({"username": USER, "password": PASSWORD}),
        None,
    )
    .await;
    let admin = login["datos"]["accessToken"].as_str().unwrap().to_string();
    let register = |metadata: Value| {
        let (origin, admin) = (service.origin.clone(), admin.clone());
        async move {
            let created = post(&origin, "/admin/clients", metadata, Some(&admin)).await;
            assert_eq!(created["exito"], true, "{created}");
            created["datos"]["client_secret"].as_str().unwrap().to_string()
        }
    };
    let secret = register(json!({"client_id": "rs-reports", "client_name": "Reports",
        "grant_types": ["client_credentials"], "scope": "solicitud:read solicitud:write"}))
    .await;
    let client = solicitud_auth::ClientCredentials::with(
        &service.origin,
        "rs-reports",
        &secret,
        Some("solicitud:read"),
        false,
        false,
    )
    .unwrap();
    assert!(!format!("{client:?}").contains(&secret), "the secret never shows");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/solicitud/").await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
    assert_eq!(service.requests("POST", "/oauth2/token", Some(200)).await, 1);
    let created = client.post("/solicitud/", &json!({"origen": "A"})).await.unwrap();
    assert_eq!(created.status(), 403, "read-only, as asked");

    let poster_secret = register(json!({"client_id": "rs-poster", "client_name": "Poster",
        "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}))
    .await;
    let poster = solicitud_auth::ClientCredentials::with(
        &service.origin,
        "rs-poster",
        &poster_secret,
        None,
        true,
        false,
    )
    .unwrap();
    assert_eq!(poster.get("/solicitud/").await.unwrap().status(), 200);

    let disabled = reqwest::Client::new()
        .patch(format!("{}/admin/clients/rs-reports", service.origin))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    match client.get("/solicitud/").await {
        Err(Error::Api {
            status: 401, codigo, ..
        }) => assert_eq!(codigo.as_deref(), Some("invalid_client")),
        other => panic!("a disabled client got {other:?}"),
    }
    let wrong =
        solicitud_auth::ClientCredentials::new(&service.origin, "rs-poster", "not-the-secret").unwrap();
    assert!(matches!(wrong.token().await, Err(Error::Api { status: 401, .. })));
    assert!(matches!(
        solicitud_auth::ClientCredentials::new("http://auth.example", "x", "y"),
        Err(Error::InsecureHttp { .. })
    ));
}
