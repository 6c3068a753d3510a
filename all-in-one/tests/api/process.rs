//! The real binary: its command line, and the README's run command (`.env.example` copied to `.env`)
//! with the seed's own Python and JavaScript clients run unchanged against it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use test_support::ServiceProcess;

const BIN: &str = env!("CARGO_BIN_EXE_all-in-one");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = test_support::run_to_end(
        Command::new(BIN)
            .args(args)
            .env_clear()
            .env("ALL_IN_ONE_BIND_ADDR", "127.0.0.1:0")
            .current_dir(std::env::temp_dir()),
        Duration::from_secs(20),
    )
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_version_answer_and_anything_else_is_a_usage_error() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for needle in ["ALL_IN_ONE_BIND_ADDR", "REDIS_URL", ".env.example", "RUST_LOG"] {
        assert!(out.contains(needle), "--help does not mention {needle}: {out}");
    }
    let (code, out, _) = run(&["--version"]);
    assert_eq!(
        (code, out.trim()),
        (0, format!("all-in-one {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    for args in [&["serve"][..], &["--port", "8000"]] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("Usage:"), "{err}");
    }
}

#[test]
fn a_bad_configuration_is_reported_all_at_once_with_exit_2() {
    let out = test_support::run_to_end(
        Command::new(BIN)
            .env_clear()
            .current_dir(std::env::temp_dir())
            .envs([("ALL_IN_ONE_BIND_ADDR", "port 8000"), ("JWT_ALGORITHM", "none")]),
        Duration::from_secs(20),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let vars: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("all-in-one: invalid configuration: "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        vars,
        [
            // The algorithm first: whether JWT_SECRET is needed depends on it.
            "JWT_ALGORITHM",
            "JWT_SECRET",
            "API_PASSWORD",
            "ALL_IN_ONE_BIND_ADDR"
        ],
        "{stderr}"
    );
}

/// The README's run command in a directory of its own: `.env.example` as `.env`, the port chosen by
/// the test (real variables win over `.env`).
fn start_as_the_readme_says() -> (ServiceProcess, PathBuf) {
    let dir = std::env::temp_dir().join(format!("all-in-one-readme-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example");
    std::fs::copy(example, dir.join(".env")).unwrap();
    let service = ServiceProcess::start_in(BIN, &dir, &[("ALL_IN_ONE_BIND_ADDR", "127.0.0.1:0".to_string())])
        .unwrap_or_else(|e| panic!("all-in-one did not start: {e}"));
    (service, dir)
}

#[test]
fn the_seeds_own_clients_run_unchanged_against_the_one_process_mode() {
    if !test_support::seed_clients::seeds_present(
        "the_seeds_own_clients_run_unchanged_against_the_one_process_mode",
    ) {
        return;
    }
    let (service, dir) = start_as_the_readme_says();
    let origin = format!("http://{}", service.addr());
    // The seed's user and password are .env.example's.
    let result = test_support::seed_clients::run_all(&origin, "api_user", "your-secure-password");
    let served = |logs: &[String], (method, path): (&str, &str)| {
        logs.iter().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            v["method"] == method && v["path"] == path && v["status"] == 200
        })
    };
    let expected = [
        ("POST", "/auth/login"),
        ("GET", "/solicitud/"),
        ("POST", "/auth/refresh"),
    ];
    // Request lines are written in batches: wait for them (or fail below, naming the missing one).
    service.wait_for_logs(
        |logs| expected.iter().all(|e| served(logs, *e)),
        Duration::from_secs(5),
    );
    let logs = service.logs();
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|e| panic!("{e}"));
    for (method, path) in expected {
        assert!(
            served(&logs, (method, path)),
            "{method} {path} not served: {logs:?}"
        );
    }
}

/// The README's curl walk (its `sh` block), as written, against the README's run command.
#[test]
fn the_readmes_curl_walk_runs_as_written() {
    for tool in ["curl", "jq"] {
        if Command::new(tool).arg("--version").output().is_err() {
            let on_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
            assert!(!on_ci, "the README's curl walk needs {tool}");
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the README's curl walk: {tool} is not installed"
            );
            return;
        }
    }
    let script = test_support::readme_walk().unwrap();
    let (service, dir) = start_as_the_readme_says();
    let out = test_support::run_to_end(
        Command::new("bash")
            .args(["-e", "-o", "pipefail", "-c", &script])
            .env("BASE", format!("http://{}", service.addr())),
        Duration::from_secs(60),
    )
    .unwrap();
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
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
            "the walk did not print {needle}:\n{stdout}\n{stderr}"
        );
    }
}
