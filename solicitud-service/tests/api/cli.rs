//! The command line of the real binary: `--help` and `--version` answer and exit 0; any argument is
//! refused with exit status 2, and none of them starts the server.

use std::process::Command;
use std::time::Duration;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = test_support::run_to_end(
        Command::new(env!("CARGO_BIN_EXE_solicitud-service"))
            .args(args)
            .env_clear()
            .env("SOLICITUD_BIND_ADDR", "127.0.0.1:0")
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
fn help_names_the_address_the_environment_and_rust_log_and_exits_0() {
    let (code, out, err) = run(&["--help"]);
    assert_eq!(code, 0, "{err}");
    for needle in ["SOLICITUD_BIND_ADDR", ".env.example", "RUST_LOG", "--version"] {
        assert!(out.contains(needle), "--help does not mention {needle}: {out}");
    }
}

#[test]
fn version_prints_the_name_and_the_crate_version_and_exits_0() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("solicitud-service {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn any_argument_is_refused_with_status_2() {
    for args in [&["serve"][..], &["--port", "80"], &["hash-password"]] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("Usage:"), "{args:?}: {err}");
    }
}

#[test]
fn a_port_already_taken_stops_start_up_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = test_support::run_to_end(
        Command::new(env!("CARGO_BIN_EXE_solicitud-service"))
            .env_clear()
            .env("JWT_SECRET", "0123456789abcdef0123456789abcdef")
            .env("SOLICITUD_BIND_ADDR", &addr)
            .current_dir(std::env::temp_dir()),
        Duration::from_secs(20),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("solicitud-service: cannot listen on {addr}: ")),
        "{stderr}"
    );
}
