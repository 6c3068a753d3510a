//! The command line of the real binary: `--help` and `--version` answer and exit 0, a misspelt command
//! or an unknown flag is refused with exit status 2 (and never starts the server), and
//! `hash-password` asks twice without echo at a terminal (a pseudo-terminal made by `script`) and reads
//! a pipe whole.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};

const BIN: &str = env!("CARGO_BIN_EXE_auth-service");

fn verifies(password: &str, phc: &str) -> bool {
    let hash = PasswordHash::new(phc).unwrap();
    Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// Runs the binary with `args`, a clean environment and no input; (exit code, stdout, stderr). Fails
/// the test if it is still running after a few seconds (it started the server instead).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = test_support::run_to_end(
        Command::new(BIN)
            .args(args)
            .env_clear()
            .env("AUTH_BIND_ADDR", "127.0.0.1:0")
            .current_dir(std::env::temp_dir()),
        LIMIT,
    )
    .unwrap();
    texts(out)
}

const LIMIT: Duration = Duration::from_secs(20);

fn texts(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits (at most [`LIMIT`]) for a child whose input the test fed itself.
fn finish(mut child: Child, what: &str) -> (i32, String, String) {
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} was still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    texts(child.wait_with_output().unwrap())
}

#[test]
fn help_names_the_command_the_environment_and_rust_log_and_exits_0() {
    for flag in ["--help", "-h"] {
        let (code, out, err) = run(&[flag]);
        assert_eq!(code, 0, "{err}");
        for needle in [
            "hash-password",
            "AUTH_BIND_ADDR",
            ".env.example",
            "RUST_LOG",
            "--version",
        ] {
            assert!(out.contains(needle), "{flag} does not mention {needle}: {out}");
        }
    }
    let (code, out, _) = run(&["hash-password", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("without echoing"), "{out}");
}

#[test]
fn version_prints_the_name_and_the_crate_version_and_exits_0() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("auth-service {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_misspelt_command_or_an_unknown_flag_is_refused_with_status_2() {
    let (code, out, err) = run(&["hash-pasword"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("hash-pasword") && err.contains("hash-password"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    for args in [&["--port", "80"][..], &["-x"], &["hash-password", "extra"]] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("Usage:"), "{args:?}: {err}");
    }
}

/// `hash-password` reading `input` from a pipe.
fn hash_from_pipe(input: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    finish(child, "hash-password")
}

#[test]
fn hash_password_reads_a_pipe_whole_less_one_newline() {
    let (code, out, err) = hash_from_pipe(b"s3cret pass\n");
    assert_eq!(code, 0, "{err}");
    let phc = out.trim();
    assert_eq!(auth_service::passwords::check_phc(phc), Ok(()));
    assert!(verifies("s3cret pass", phc));
    assert!(err.is_empty(), "no prompt on a pipe: {err}");
}

#[test]
fn hash_password_refuses_an_empty_pipe_or_one_that_is_not_text() {
    for input in [&b""[..], b"\n", b"\xff\xfe"] {
        let (code, out, err) = hash_from_pipe(input);
        assert_eq!(code, 2, "{input:?}: {err}");
        assert!(out.is_empty());
        assert!(err.starts_with("auth-service hash-password: "), "{err}");
    }
}

/// `hash-password` at a terminal: `script` gives it a pseudo-terminal; each answer is typed after its
/// prompt appears. Returns the exit code and everything the terminal showed.
fn hash_at_a_terminal(answers: &[&str]) -> Option<(i32, String)> {
    if Command::new("script").arg("--version").output().is_err() {
        // util-linux's script is on every Debian; say so loudly where it is not.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the terminal half of hash-password: `script` (util-linux) is not installed"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "script (util-linux) is missing on CI"
        );
        return None;
    }
    let mut child = Command::new("script")
        .args(["-qec", &format!("{BIN} hash-password"), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut shown = String::new();
    let wait_for = |needle: &str, shown: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !shown.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(bytes) => shown.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => break,
            }
        }
    };
    let prompts = ["Password: ", "Repeat the password: "];
    for (answer, prompt) in answers.iter().zip(prompts) {
        wait_for(prompt, &mut shown);
        assert!(shown.contains(prompt), "no prompt {prompt:?}: {shown:?}");
        // The prompt is printed just before echo is switched off (rpassword's order); a person types
        // after that, and so does the test, or the terminal would echo what it typed ahead.
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let (code, rest, _) = finish(child, "script");
    while let Ok(bytes) = rx.try_recv() {
        shown.push_str(&String::from_utf8_lossy(&bytes));
    }
    shown.push_str(&rest);
    drop(stdin);
    Some((code, shown))
}

#[test]
fn hash_password_at_a_terminal_asks_twice_without_echo() {
    let Some((code, shown)) = hash_at_a_terminal(&["tty pass phrase", "tty pass phrase"]) else {
        return;
    };
    assert_eq!(code, 0, "{shown}");
    assert!(
        !shown.contains("tty pass phrase"),
        "the password was echoed: {shown:?}"
    );
    let phc = shown
        .split_whitespace()
        .find(|w| w.starts_with("$argon2id$"))
        .unwrap_or_else(|| panic!("no hash: {shown:?}"));
    assert!(verifies("tty pass phrase", phc));
}

#[test]
fn hash_password_at_a_terminal_refuses_two_different_answers() {
    let Some((code, shown)) = hash_at_a_terminal(&["tty pass phrase", "tty pass phrasf"]) else {
        return;
    };
    assert_ne!(code, 0, "{shown}");
    assert!(shown.contains("do not match"), "{shown:?}");
    assert!(!shown.contains("$argon2id$"), "{shown:?}");
}
