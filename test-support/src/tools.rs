//! Inputs and tools from outside the workspace: the README's walk, CI or not, skipped tests, a
//! Python venv and node modules installed once.

use crate::process::run_to_end;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The README's curl walk: the first `sh` block under its "A walk through the API with curl" heading,
/// which the tests run as written (against the one-process system, and through the compose gateway).
pub fn readme_walk() -> io::Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path)?;
    walk_of(&readme).map(str::to_string).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "README.md has no ```sh block under \"## A walk through the API with curl\"",
        )
    })
}

fn walk_of(readme: &str) -> Option<&str> {
    let section = &readme[readme.find("\n## A walk through the API with curl\n")?..];
    let open = section.find("\n```sh\n")? + "\n```sh\n".len();
    Some(&section[open..open + section[open..].find("\n```")?])
}

/// Whether this run is CI's (`CI` set to anything but empty, `0` or `false`): there, a test whose tool
/// or input is missing fails instead of printing a `SKIPPED` line.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// An input that lives outside this repository (the seed documents, the Compose schema, beside it on
/// our own machines): the path in `var` when set, else `default`. When nothing is there, `test`
/// prints `SKIPPED <test>: <what> not found at <path> (set <var>)` and gets `None`, so a fresh clone's
/// `cargo test --workspace` passes; on CI ([`on_ci`]) it fails instead, naming the variable.
pub fn outside_input(test: &str, what: &str, var: &str, default: PathBuf) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or(default, PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    let message = format!("{what} not found at {} (set {var})", path.display());
    assert!(!on_ci(), "{test}: {message}");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {message}");
    None
}

/// A tool a test needs could not be had: a visible `SKIPPED` line, or on CI ([`on_ci`]) a failure
/// saying why.
pub fn skip(test: &str, why: &str) {
    assert!(!on_ci(), "{test}: {why}");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Runs a command to its end within `limit`; its standard output, or what went wrong.
fn output_of(command: &mut Command, limit: Duration) -> Result<String, String> {
    let what = format!("{command:?}");
    let out = run_to_end(command, limit).map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How long installing a test's Python or Node packages may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// The python of a virtual environment at `venv` holding exactly `pins` (`name==version`), made once
/// and reused while `probe` (a Python statement) runs and prints `expect`.
pub fn python_venv(venv: &Path, pins: &[&str], probe: &str, expect: &str) -> Result<PathBuf, String> {
    let _one_at_a_time = install_lock(venv)?;
    let python = venv.join("bin/python");
    let installed = |python: &Path| {
        output_of(Command::new(python).args(["-c", probe]), Duration::from_secs(60))
            .is_ok_and(|v| v.trim() == expect)
    };
    if !installed(&python) {
        output_of(
            Command::new("python3").args(["-m", "venv"]).arg(venv),
            INSTALL_LIMIT,
        )
        .map_err(|e| format!("python3 -m venv (Debian: apt-get install python3-venv): {e}"))?;
        output_of(
            Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check"])
                .args(pins),
            INSTALL_LIMIT,
        )?;
        if !installed(&python) {
            return Err(format!("{pins:?} are not importable in {}", venv.display()));
        }
    }
    Ok(python)
}

/// Held while one test checks or installs the packages in `dir`: tests of one binary, and of several
/// binaries at once, share a directory, and one that saw it half-made (a venv without its `pip` yet)
/// would fail. An exclusive lock on `<dir>.lock`, given back when dropped (or when the process ends).
fn install_lock(dir: &Path) -> Result<std::fs::File, String> {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock");
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let file = std::fs::File::create(PathBuf::from(name)).map_err(|e| e.to_string())?;
    file.lock()
        .map_err(|e| format!("locking {}: {e}", dir.display()))?;
    Ok(file)
}

/// A directory whose `node_modules` holds `package` at `version` (installed there once with npm).
pub fn node_modules(dir: &Path, package: &str, version: &str) -> Result<PathBuf, String> {
    let manifest = dir.join("node_modules").join(package).join("package.json");
    let installed = || {
        std::fs::read_to_string(&manifest)
            .ok()
            .is_some_and(|t| t.contains(&format!("\"version\": \"{version}\"")))
    };
    let _one_at_a_time = install_lock(dir)?;
    if !installed() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        output_of(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(dir)
                .arg(format!("{package}@{version}")),
            INSTALL_LIMIT,
        )
        .map_err(|e| format!("npm (Debian: apt-get install npm): {e}"))?;
        if !installed() {
            return Err(format!("{package} {version} is not in {}", dir.display()));
        }
    }
    Ok(dir.to_path_buf())
}

/// Runs `command` to its end (a minute at most): its standard output, or what failed.
pub fn run_script(command: &mut Command) -> Result<String, String> {
    output_of(command, Duration::from_secs(60))
}
