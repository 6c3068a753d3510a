//! The client libraries (`clients/python`, `clients/js`) run their own test suites against this
//! binary, so `cargo test --workspace` (and CI) runs them; and the seed's own client, run unchanged,
//! shows why they exist: a second refresh after the retry grace revokes its session.
//!
//! Without `python3` (with `requests`) or `node`, a suite prints a SKIPPED line and passes, except on
//! CI (`CI` set and not `0`/`false`), where it fails saying what is missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use test_support::ServiceProcess;

const BIN: &str = env!("CARGO_BIN_EXE_all-in-one");

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients")
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Whether `program args` runs; when it does not, a SKIPPED line (a failure on CI).
fn available(test: &str, program: &str, args: &[&str], install: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!on_ci(), "{test} needs {install}");
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: needs {install}");
    }
    ok
}

/// Runs a client suite with the binary and the shared Redis; panics with its whole output on failure.
fn run_suite(command: &mut Command) -> String {
    let out = test_support::run_to_end(
        command
            .current_dir(clients_dir())
            .env("ALL_IN_ONE_BIN", BIN)
            .env("TEST_REDIS_URL", test_support::redis_url()),
        Duration::from_secs(300),
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} failed:\n{stdout}\n{stderr}", command);
    format!("{stdout}\n{stderr}")
}

#[test]
fn the_python_client_passes_its_suite_against_the_real_system() {
    let test = "the Python client's suite";
    if !available(
        test,
        "python3",
        &["-c", "import requests"],
        "python3 with requests",
    ) {
        return;
    }
    let out = run_suite(Command::new("python3").args([
        "-W",
        "ignore::ResourceWarning",
        "-m",
        "unittest",
        "discover",
        "-s",
        "python/tests",
        "-v",
    ]));
    // unittest reports on stderr; every test ran (none skipped for a missing binary).
    assert!(out.contains("\nOK"), "{out}");
    assert!(!out.contains("skipped"), "{out}");
    assert!(
        out.contains("test_fifty_threads_inside_the_buffer_share_one_refresh"),
        "{out}"
    );
}

#[test]
fn the_javascript_client_passes_its_suite_against_the_real_system() {
    let test = "the JavaScript client's suite";
    if !available(test, "node", &["--version"], "node (18 or later)") {
        return;
    }
    let out = run_suite(Command::new("node").args(["--test", "js/tests/"]));
    assert!(out.contains("# fail 0"), "{out}");
    assert!(out.contains("# skipped 0"), "{out}");
    assert!(
        out.contains("fifty concurrent calls inside the buffer share one refresh"),
        "{out}"
    );
}

/// What the seed's client does after its usage: a refresh, a wait past the (1 s) grace, a second
/// refresh with the first refresh token it still holds, then a call. Printed as one JSON line.
const PY_SCENARIO: &str = r#"
import json as _json, time as _time
_first = client.refresh_access_token()
_time.sleep(2.5)
_second = client.refresh_access_token()
_after = client.get("/solicitud/")
print("SCENARIO " + _json.dumps({"first": _first, "second": _second, "status": _after.status_code, "codigo": _after.json().get("codigo")}))
"#;

const JS_SCENARIO: &str = r#"
const _first = await client.refreshAccessToken();
await new Promise((r) => setTimeout(r, 2500));
const _second = await client.refreshAccessToken();
const _after = await client.get('/solicitud/');
console.log('SCENARIO ' + JSON.stringify({ first: _first, second: _second, status: _after.status, codigo: (await _after.json()).codigo }));
"#;

#[test]
fn the_seeds_own_client_loses_its_session_on_a_second_refresh_after_the_grace() {
    let test = "the seed's client after the grace";
    if !test_support::seed_clients::seeds_present(test) {
        return;
    }
    if !available(
        test,
        "python3",
        &["-c", "import requests"],
        "python3 with requests",
    ) || !available(test, "node", &["--version"], "node (18 or later)")
    {
        return;
    }
    let password = "seed-client-password-1";
    for python in [true, false] {
        let service = ServiceProcess::start(
            BIN,
            &[
                ("ALL_IN_ONE_BIND_ADDR", "127.0.0.1:0".to_string()),
                ("JWT_SECRET", "seed-client-tests-secret-0123456789ab".to_string()),
                ("API_PASSWORD", password.to_string()),
                ("JWT_REFRESH_RETRY_GRACE_SECONDS", "1".to_string()),
            ],
        )
        .unwrap();
        let origin = format!("http://{}", service.addr());
        let programs = test_support::seed_clients::client_programs(&origin, "api_user", password).unwrap();
        let seed = programs.into_iter().find(|p| p.is_python() == python).unwrap();
        let dir = test_support::seed_clients::work_dir().unwrap();
        let scenario = if python { PY_SCENARIO } else { JS_SCENARIO };
        let result = seed.run_with(&dir, scenario, "SCENARIO ");
        let _ = std::fs::remove_dir_all(&dir);
        let out = result.unwrap_or_else(|e| panic!("{e}"));
        let line = out.lines().find_map(|l| l.strip_prefix("SCENARIO ")).unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        // The first refresh works; the second presents the first refresh token, long rotated: reuse.
        // The seed reports it as a failed refresh and carries on with an access token of a session
        // that no longer exists.
        assert_eq!(
            v,
            serde_json::json!({"first": true, "second": false, "status": 401, "codigo": "TOKEN_REVOKED"}),
            "{}: {out}",
            seed.name
        );
        assert!(
            service.wait_for_log("refresh token reuse detected", Duration::from_secs(5)),
            "{}: no reuse was detected: {:?}",
            seed.name,
            service.logs()
        );
    }
}
