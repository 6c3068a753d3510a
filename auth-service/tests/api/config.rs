//! Start-up: the real binary refuses bad configuration with one line per bad variable, each naming
//! it, all in one start, then exits with status 2; and `auth-service hash-password` prints a PHC hash.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_auth-service");

/// Runs the binary with exactly these variables (nothing inherited, no .env in the temp dir).
fn start_with(vars: &[(&str, &str)]) -> (i32, String) {
    let dir = std::env::temp_dir();
    let out = Command::new(BIN)
        .env_clear()
        .current_dir(&dir)
        .envs(vars.iter().copied())
        .env("AUTH_BIND_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_bad_configuration_value_stops_start_up_naming_the_variable() {
    let good_secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
    let password = ("API_PASSWORD", "pw");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![password], "JWT_SECRET"),
        (vec![("JWT_SECRET", "too-short"), password], "JWT_SECRET"),
        (vec![good_secret], "API_PASSWORD"),
        (
            vec![good_secret, password, ("JWT_ALGORITHM", "none")],
            "JWT_ALGORITHM",
        ),
        (
            vec![good_secret, password, ("JWT_ALGORITHM", "ES384")],
            "JWT_ALGORITHM",
        ),
        (
            vec![good_secret, password, ("JWT_ACCESS_TOKEN_EXP_UNIT", "days")],
            "JWT_ACCESS_TOKEN_EXP_UNIT",
        ),
        (
            vec![good_secret, password, ("JWT_REFRESH_TOKEN_EXP_VALUE", "0")],
            "JWT_REFRESH_TOKEN_EXP_VALUE",
        ),
        (
            vec![good_secret, password, ("USERS_FILE", "/nonexistent/users.toml")],
            "USERS_FILE",
        ),
        (
            vec![
                ("JWT_SECRET", shared::config::DEV_PLACEHOLDER_SECRET),
                ("API_PASSWORD", "correct horse battery staple"),
                ("APP_ENV", "production"),
                ("ALLOW_EMBEDDED_STORE", "true"),
            ],
            "JWT_SECRET",
        ),
        (
            vec![
                good_secret,
                ("API_PASSWORD", "qwerty123456"),
                ("APP_ENV", "production"),
                ("ALLOW_EMBEDDED_STORE", "true"),
            ],
            "API_PASSWORD",
        ),
        (
            vec![
                good_secret,
                ("API_PASSWORD", "correct horse battery staple"),
                ("APP_ENV", "production"),
            ],
            "REDIS_URL",
        ),
    ];
    for (vars, expected) in cases {
        let (code, stderr) = start_with(&vars);
        assert_eq!(code, 2, "{vars:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{vars:?} should name {expected}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let (_, stderr) = start_with(&[password]);
    assert!(
        stderr.contains("openssl rand"),
        "says how to generate a secret: {stderr}"
    );
}

#[test]
fn every_bad_variable_is_reported_in_one_start_one_line_each_then_exit_2() {
    let (code, stderr) = start_with(&[
        ("JWT_SECRET", "too-short"),
        ("API_PASSWORD", "pw"),
        ("JWT_ALGORITHM", "none"),
        ("RATE_LIMIT_IP_PER_MINUTE", "lots"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.trim().lines().collect();
    assert_eq!(lines.len(), 3, "one line per bad variable: {stderr}");
    let mut named: Vec<&str> = lines
        .iter()
        .map(|line| {
            let rest = line
                .strip_prefix("auth-service: invalid configuration: ")
                .unwrap_or_else(|| panic!("{line}"));
            rest.split(':').next().unwrap_or_default()
        })
        .collect();
    named.sort_unstable();
    assert_eq!(
        named,
        ["JWT_ALGORITHM", "JWT_SECRET", "RATE_LIMIT_IP_PER_MINUTE"],
        "{stderr}"
    );
    assert!(
        !stderr.contains("too-short"),
        "a secret is never echoed: {stderr}"
    );
}

#[test]
fn hash_password_prints_an_argon2id_phc_string_that_verifies() {
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret-pass\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap();
    let phc = phc.trim();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert_eq!(auth_service::passwords::check_phc(phc), Ok(()));
}

#[test]
fn production_refuses_a_weak_password_and_the_embedded_store_in_one_start() {
    let (code, stderr) = start_with(&[
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("API_PASSWORD", "a"),
        ("APP_ENV", "production"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr.trim().lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("auth-service: invalid configuration: REDIS_URL: "),
        "{stderr}"
    );
    assert!(lines[0].contains("ALLOW_EMBEDDED_STORE=true"), "{stderr}");
    assert!(
        lines[1].starts_with("auth-service: invalid configuration: API_PASSWORD: "),
        "{stderr}"
    );
    assert!(lines[1].contains("min_length"), "{stderr}");
}

#[test]
fn production_starts_on_the_embedded_store_when_the_operator_allows_it() {
    let service = test_support::ServiceProcess::start(
        BIN,
        &[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef".to_string()),
            ("API_PASSWORD", "correct horse battery staple".to_string()),
            ("APP_ENV", "production".to_string()),
            ("ALLOW_EMBEDDED_STORE", "true".to_string()),
            ("AUTH_BIND_ADDR", "127.0.0.1:0".to_string()),
        ],
    )
    .unwrap();
    assert!(
        service
            .logs()
            .iter()
            .any(|l| l.contains("ALLOW_EMBEDDED_STORE=true")),
        "the choice is logged: {:?}",
        service.logs()
    );
}

#[test]
fn a_port_already_taken_stops_start_up_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("API_PASSWORD", "pw")
        .env("AUTH_BIND_ADDR", &addr)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("auth-service: cannot listen on {addr}: ")),
        "{stderr}"
    );
}
