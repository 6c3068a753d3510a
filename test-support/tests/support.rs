//! The helpers against stand-ins: a shell script that logs like a service, a binary that never
//! listens, a missing binary, and a real redis-server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use test_support::{free_port, redis_answers, resolve_redis, run_to_end, RedisProcess, ServiceProcess};

/// An executable script in a directory of this test run's own.
fn script(name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("test-support-tests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn fake_service(name: &str) -> PathBuf {
    script(
        name,
        r#"echo 'not json'
echo "{\"message\":\"env\",\"format\":\"$LOG_FORMAT\",\"greeting\":\"$GREETING\",\"path\":\"$PATH\",\"cwd\":\"$(pwd)\"}"
echo '{"message":"listening","addr":"127.0.0.1:4321"}'
echo '{"message":"after listening"}'
if [ "$EXIT_CODE" != "" ]; then exit "$EXIT_CODE"; fi
exec /bin/sleep 60"#,
    )
}

#[test]
fn a_service_is_started_with_only_the_given_vars_and_json_logs_and_its_address_and_logs_are_kept() {
    let bin = fake_service("service");
    let mut service = ServiceProcess::start(&bin, &[("GREETING", "hola".to_string())]).unwrap();
    assert_eq!(service.addr().to_string(), "127.0.0.1:4321");
    assert_eq!(service.url("/ready"), "http://127.0.0.1:4321/ready");
    assert!(service.is_running());
    assert!(service.wait_for_log("after listening", Duration::from_secs(5)));
    assert!(!service.wait_for_log("never logged", Duration::from_millis(100)));
    let logs = service.logs();
    assert_eq!(logs[0], "not json");
    let env: serde_json::Value = serde_json::from_str(&logs[1]).unwrap();
    assert_eq!(env["format"], "json");
    assert_eq!(env["greeting"], "hola");
    // The environment was cleared: not even PATH is inherited.
    assert_ne!(env["path"], std::env::var("PATH").unwrap_or_default());
    // A fresh working directory of its own, removed when the process is dropped.
    let cwd = PathBuf::from(env["cwd"].as_str().unwrap());
    assert_ne!(cwd, std::env::temp_dir());
    assert!(cwd.starts_with(std::env::temp_dir().canonicalize().unwrap()));
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "empty: no stray .env"
    );
    let pid = service.pid();
    drop(service);
    assert!(!cwd.exists(), "its working directory is removed");
    assert!(!is_alive(pid), "killed on drop");
}

fn is_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state says so.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn a_given_working_directory_is_used_and_left_in_place() {
    let bin = fake_service("service-in");
    let dir = bin.parent().unwrap().join("workdir");
    std::fs::create_dir_all(&dir).unwrap();
    let service = ServiceProcess::start_in(&bin, &dir, &[]).unwrap();
    let env: serde_json::Value = serde_json::from_str(&service.logs()[1]).unwrap();
    assert_eq!(
        PathBuf::from(env["cwd"].as_str().unwrap()),
        dir.canonicalize().unwrap()
    );
    drop(service);
    assert!(dir.is_dir());
}

#[test]
fn the_exit_code_is_reported_and_a_running_process_gives_none() {
    let bin = fake_service("service-exit");
    let mut service = ServiceProcess::start(&bin, &[("EXIT_CODE", "3".to_string())]).unwrap();
    assert_eq!(service.wait_exit(Duration::from_secs(10)), Some(3));
    assert!(!service.is_running());
    let mut running = ServiceProcess::start(&bin, &[]).unwrap();
    assert_eq!(running.wait_exit(Duration::from_millis(200)), None);
}

#[test]
fn a_binary_that_exits_before_listening_is_an_error_not_a_hang() {
    let bin = script("quits", "echo '{\"message\":\"starting\"}'\nexit 1");
    let err = ServiceProcess::start(&bin, &[]).err().unwrap();
    assert!(err.to_string().contains("exited before logging"), "{err}");
}

#[test]
fn a_missing_binary_is_an_error() {
    let err = ServiceProcess::start("/nonexistent/binary", &[]).err().unwrap();
    assert!(
        err.to_string().contains("cannot start /nonexistent/binary"),
        "{err}"
    );
}

#[test]
fn free_ports_can_be_bound() {
    let port = free_port().unwrap();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[test]
fn a_redis_of_our_own_stops_and_restarts_on_the_same_port() {
    let mut redis = RedisProcess::start(free_port().unwrap()).unwrap();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port));
    let ping = |port: u16| -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    };
    assert!(ping(redis.port));
    redis.stop();
    assert!(!ping(redis.port));
    redis.restart().unwrap();
    assert!(ping(redis.port));
}

/// A loopback address where nothing listens.
fn closed_addr() -> String {
    format!("127.0.0.1:{}", free_port().unwrap())
}

#[test]
fn a_given_test_redis_url_is_used_as_is() {
    let url = resolve_redis(
        Some("redis://10.9.8.7:1234".into()),
        closed_addr(),
        "redis-server",
    )
    .unwrap();
    assert_eq!(url, "redis://10.9.8.7:1234");
}

#[test]
fn a_redis_answering_on_the_probed_address_is_used() {
    let redis = RedisProcess::start(free_port().unwrap()).unwrap();
    let probe = format!("127.0.0.1:{}", redis.port);
    assert!(redis_answers(&probe));
    // A blank TEST_REDIS_URL counts as unset.
    assert_eq!(
        resolve_redis(Some(" ".into()), probe.clone(), "redis-server").unwrap(),
        format!("redis://{probe}")
    );
}

#[test]
fn only_a_redis_counts_as_answering() {
    assert!(!redis_answers(&closed_addr()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    assert!(!redis_answers(&addr), "an HTTP server is not a Redis");
}

#[test]
fn with_nothing_on_the_probed_address_the_tests_start_a_redis_of_their_own() {
    let probe = closed_addr();
    let url = resolve_redis(None, probe.clone(), "redis-server").unwrap();
    assert_ne!(url, format!("redis://{probe}"));
    assert!(redis_answers(url.trim_start_matches("redis://")), "{url}");
}

#[test]
fn without_redis_server_one_message_says_what_to_install_or_set() {
    let err = resolve_redis(None, closed_addr(), "redis-server-is-not-installed").unwrap_err();
    let text = err.to_string();
    for needle in [
        "TEST_REDIS_URL",
        "apt-get install redis-server",
        "nothing answers on 127.0.0.1:",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

/// Run by [`the_redis_a_test_process_starts_ends_with_it`] in a child test process: starts a Redis of
/// its own, prints its URL and returns, ending the process.
#[test]
#[ignore = "a helper the test below runs in a child process"]
fn child_that_starts_its_own_redis() {
    let probe = std::env::var("CHILD_PROBE").unwrap();
    let url = resolve_redis(None, probe, "redis-server").unwrap();
    use std::io::Write;
    writeln!(std::io::stdout(), "OWN_REDIS={url}").unwrap();
}

#[test]
fn the_redis_a_test_process_starts_ends_with_it() {
    let out = run_to_end(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_that_starts_its_own_redis",
                "--ignored",
                "--nocapture",
            ])
            .env("CHILD_PROBE", closed_addr()),
        Duration::from_secs(30),
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = stdout
        .lines()
        .find_map(|l| l.strip_prefix("OWN_REDIS=redis://"))
        .unwrap_or_else(|| panic!("no URL: {stdout}"))
        .to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while redis_answers(&addr) {
        assert!(
            std::time::Instant::now() < deadline,
            "{addr} still answers after its process ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
