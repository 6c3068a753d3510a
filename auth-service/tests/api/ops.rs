//! Operations: graceful shutdown on SIGTERM, and metrics that move.

use std::io::{Read, Write};
use std::time::Duration;

use crate::helpers::*;
use crate::process::start_auth;

fn vars() -> Vec<(&'static str, String)> {
    vec![
        ("JWT_SECRET", SECRET.to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
    ]
}

#[test]
fn sigterm_during_a_request_lets_it_complete_then_exits_0() {
    let mut auth = start_auth(&vars());
    let addr = auth.addr().to_string();
    let body = format!(r#"{{"username":"{ADMIN}","password":"{ADMIN_PASSWORD}"}}"#);
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Half a request: headers and the first part of the body.
    write!(
        stream,
        "POST /auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &auth.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(auth.is_running(), "waits for the request in flight");
    // The rest of the body: the request completes.
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("accessToken"));
    assert_eq!(auth.wait_exit(Duration::from_secs(10)), Some(0));
}

fn counter(metrics: &str, line_start: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_when_logins_succeed_and_fail() {
    let auth = start_auth(&vars());
    let client = reqwest::Client::new();
    let scrape = || async {
        let res = client.get(auth.url("/metrics")).send().await.unwrap();
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        res.text().await.unwrap()
    };
    let before = scrape().await;
    for password in [ADMIN_PASSWORD, "wrong", "wrong"] {
        client
            .post(auth.url("/auth/login"))
            .json(&serde_json::json!({"username": ADMIN, "password": password}))
            .send()
            .await
            .unwrap();
    }
    let after = scrape().await;
    let ok = r#"auth_logins_total{outcome="success"}"#;
    let bad = r#"auth_logins_total{outcome="invalid_credentials"}"#;
    assert_eq!(counter(&after, ok) - counter(&before, ok), 1.0, "{after}");
    assert_eq!(counter(&after, bad) - counter(&before, bad), 2.0);
    let requests =
        r#"http_requests_total{method="POST",route="/auth/login",service="auth-service",status="422"}"#;
    assert_eq!(
        counter(&after, requests) - counter(&before, requests),
        2.0,
        "{after}"
    );
    assert!(after.contains("http_request_duration_seconds_bucket"));
    assert!(!after.contains(ADMIN), "no user in any label");
}
