//! Start-up: the real binary refuses bad configuration with one line per bad variable, each naming
//! it, all in one start, then exits with status 2.

use std::process::Command;

#[test]
fn every_bad_variable_is_reported_in_one_start_one_line_each_then_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_solicitud-service"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .envs([
            ("JWT_SECRET", "too-short"),
            ("LOG_FORMAT", "xml"),
            ("SOLICITUD_BIND_ADDR", "port 80"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.trim().lines().collect();
    assert_eq!(lines.len(), 3, "one line per bad variable: {stderr}");
    for (line, var) in lines
        .iter()
        .zip(["LOG_FORMAT", "JWT_SECRET", "SOLICITUD_BIND_ADDR"])
    {
        assert!(
            line.starts_with(&format!("solicitud-service: invalid configuration: {var}: ")),
            "{line}"
        );
    }
    assert!(
        !stderr.contains("too-short"),
        "a secret is never echoed: {stderr}"
    );
}

#[test]
fn production_refuses_the_embedded_store_unless_allowed() {
    let run = |extra: &[(&str, &str)]| {
        test_support::run_to_end(
            Command::new(env!("CARGO_BIN_EXE_solicitud-service"))
                .env_clear()
                .current_dir(std::env::temp_dir())
                .envs([
                    ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                    ("APP_ENV", "production"),
                    ("SOLICITUD_BIND_ADDR", "port 80"),
                ])
                .envs(extra.iter().copied()),
            std::time::Duration::from_secs(20),
        )
        .unwrap()
    };
    // The bad address keeps the service from starting either way; what differs is REDIS_URL's line.
    let refused = run(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("solicitud-service: invalid configuration: REDIS_URL: is empty, and APP_ENV=production refuses the embedded store"),
        "{stderr}"
    );
    let allowed = run(&[("ALLOW_EMBEDDED_STORE", "true")]);
    let stderr = String::from_utf8_lossy(&allowed.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SOLICITUD_BIND_ADDR"), "{stderr}");
}
