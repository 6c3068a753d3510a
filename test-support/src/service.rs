//! A service binary as a child process ([`ServiceProcess`]), and its `hash-password` subcommand.

use crate::process::{kill, lock, spawn_fresh, temp_dir};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a service may take to log "listening".
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running service binary: its address and everything it has logged so far. Killed when dropped.
pub struct ServiceProcess {
    child: Child,
    addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    /// The temporary working directory, removed on drop (None when the caller gave one).
    own_dir: Option<PathBuf>,
}

impl ServiceProcess {
    /// Starts `binary` with only `vars` (plus `LOG_FORMAT=json`) in a fresh temporary working
    /// directory, and waits for its "listening" line. The service must be told to bind a free port
    /// (e.g. `AUTH_BIND_ADDR=127.0.0.1:0`) by `vars`.
    pub fn start(binary: impl AsRef<Path>, vars: &[(&str, String)]) -> io::Result<Self> {
        let dir = temp_dir("service")?;
        match Self::spawn(binary.as_ref(), &dir, vars) {
            Ok(mut service) => {
                service.own_dir = Some(dir);
                Ok(service)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Like [`ServiceProcess::start`], in the given working directory (left in place on drop).
    pub fn start_in(binary: impl AsRef<Path>, workdir: &Path, vars: &[(&str, String)]) -> io::Result<Self> {
        Self::spawn(binary.as_ref(), workdir, vars)
    }

    fn spawn(binary: &Path, workdir: &Path, vars: &[(&str, String)]) -> io::Result<Self> {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .current_dir(workdir)
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = spawn_fresh(&mut command)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", binary.display())))?;
        let Some(stdout) = child.stdout.take() else {
            kill(&mut child);
            return Err(io::Error::other("no stdout pipe"));
        };
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "listening" {
                        let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                    }
                }
                lock(&sink).push(line);
            }
        });
        let listening = rx.recv_timeout(START_TIMEOUT);
        let addr = match listening {
            Ok(addr) => addr
                .parse::<SocketAddr>()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("not an address: {addr:?}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} did not log \"listening\" within {START_TIMEOUT:?}",
                    binary.display()
                ),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other(format!(
                "{} exited before logging \"listening\"",
                binary.display()
            ))),
        };
        match addr {
            Ok(addr) => Ok(Self {
                child,
                addr,
                logs,
                own_dir: None,
            }),
            Err(e) => {
                kill(&mut child);
                Err(e)
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit (at most `limit`); its exit code, None if it is still running
    /// or was ended by a signal.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every stdout line logged so far.
    pub fn logs(&self) -> Vec<String> {
        lock(&self.logs).clone()
    }

    /// Waits (at most `timeout`) for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_logs(|lines| lines.iter().any(|l| l.contains(needle)), timeout)
    }

    /// Waits (at most `timeout`) until the lines logged so far satisfy `done`. The services write
    /// each request's line in batches, up to a tenth of a second after the response (see
    /// `shared::log_writer`), so a test looking for request lines waits for them.
    pub fn wait_for_logs(&self, done: impl Fn(&[String]) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&lock(&self.logs)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        kill(&mut self.child);
        if let Some(dir) = self.own_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The PHC hash of `password`, from the auth-service binary's own `hash-password` subcommand.
pub fn hash_password(binary: impl AsRef<Path>, password: &str) -> io::Result<String> {
    let mut child = Command::new(binary.as_ref())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(password.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("hash-password failed: {}", out.status)));
    }
    String::from_utf8(out.stdout)
        .map(|s| s.trim().to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
