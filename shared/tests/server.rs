//! The shared server's limits, over real sockets: oversized headers, slow headers, slow bodies, and
//! graceful shutdown letting an in-flight request finish.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use shared::http::{into_reply, json_body};
use shared::routing::serve_table;
use shared::routing::{Route, Router};
use shared::server::{serve_with, Limits, ServiceInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use warp::Filter;

static ROUTES: &[Route] = &[
    Route {
        template: "/echo",
        methods: &["POST"],
    },
    Route {
        template: "/slow",
        methods: &["GET"],
    },
];

fn router() -> Router {
    let echo = warp::path!("echo")
        .and(warp::post())
        .and(json_body::<serde_json::Value>())
        .map(|v: serde_json::Value| into_reply(Ok(shared::envelope::ok("ok", v))));
    let slow = warp::path!("slow").and(warp::get()).then(|| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        into_reply(Ok(shared::envelope::ok("lento", serde_json::Value::Null)))
    });
    let none = warp::any().and_then(|| async { Err::<warp::reply::Response, _>(warp::reject::not_found()) });
    Router::from_parts(
        ROUTES,
        vec![serve_table(ROUTES, echo), serve_table(ROUTES, slow)],
        serve_table(ROUTES, none),
    )
}

async fn start(limits: Limits) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    start_named("test", limits).await
}

/// Metrics are per process: a test that counts uses a service name of its own.
async fn start_named(
    name: &'static str,
    limits: Limits,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(serve_with(
        ServiceInfo { name },
        router(),
        listener,
        async {
            let _ = rx.await;
        },
        limits,
    ));
    (addr, tx, handle)
}

fn short() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// Reads until the server closes the connection (or 5 s pass); returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn oversized_headers_get_431_in_the_envelope() {
    let (addr, _stop, _) = start(Limits::default()).await;
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/echo"))
        .header("x-padding", "a".repeat(20 * 1024))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 431);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["codigo"], "HEADERS_TOO_LARGE");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let (addr, _stop, _) = start(short()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    read_to_close(&mut stream).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed after the header deadline"
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_in_the_envelope() {
    let (addr, _stop, _) = start(short()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
        .await
        .unwrap();
    let reply = read_to_close(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("REQUEST_TIMEOUT"), "{reply}");
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let (addr, stop, handle) = start(Limits::default()).await;
    let request = tokio::spawn(async move { reqwest::get(format!("http://{addr}/slow")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let res = request.await.unwrap().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_a_missing_or_odd_one_is_generated() {
    let (addr, _stop, _) = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/echo");
    let res = client
        .post(&url)
        .header("x-request-id", "abc-123")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = client
        .post(&url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let res = client
        .post(&url)
        .header("x-request-id", "bad id\twith\tstuff")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id\twith\tstuff");
}

#[tokio::test]
async fn requests_are_counted_by_route_template() {
    let (addr, _stop, _) = start_named("counted", Limits::default()).await;
    let before = shared::metrics::metrics()
        .http_requests
        .with_label_values(&["counted", "POST", "/echo", "200"])
        .get();
    reqwest::Client::new()
        .post(format!("http://{addr}/echo"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    reqwest::Client::new()
        .get(format!("http://{addr}/nope/123"))
        .send()
        .await
        .unwrap();
    let m = shared::metrics::metrics();
    assert_eq!(
        m.http_requests
            .with_label_values(&["counted", "POST", "/echo", "200"])
            .get(),
        before + 1
    );
    assert!(
        m.http_requests
            .with_label_values(&["counted", "GET", "unmatched", "404"])
            .get()
            >= 1
    );
}

#[tokio::test]
async fn head_answers_a_get_routes_status_and_headers_without_the_body() {
    let (addr, _stop, _) = start(Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"HEAD /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let reply = read_to_close(&mut stream).await;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("cache-control: no-store"),
        "{head}"
    );
    assert_eq!(body, "", "no body after the headers");
    // The GET's own length is announced.
    let get = reqwest::get(format!("http://{addr}/slow")).await.unwrap();
    let length = get.headers()["content-length"].to_str().unwrap().to_string();
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {length}")),
        "{head}"
    );
    // A route without GET refuses HEAD like any other method, and says what it takes.
    let post_only = reqwest::Client::new()
        .head(format!("http://{addr}/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(post_only.status().as_u16(), 405);
    assert_eq!(post_only.headers()["allow"], "POST");
    // And a 405 on a GET route lists HEAD beside GET.
    let wrong = reqwest::Client::new()
        .delete(format!("http://{addr}/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.headers()["allow"], "GET, HEAD");
}
