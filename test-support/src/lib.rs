//! Test support: the real binaries of this workspace as child processes, for the tests that need a
//! process rather than an in-process server (replicas, signals, end to end, the gateway).
//!
//! - [`ServiceProcess`] starts a service binary with a clean environment, JSON logs and a working
//!   directory of its own (so no stray `.env` is read), waits for its `"listening"` log line to learn
//!   the address, keeps every log line for assertions, and kills the process when dropped.
//! - [`redis_url`] is the Redis every test shares: `TEST_REDIS_URL`, else the one answering on
//!   127.0.0.1:6379, else a `redis-server` this test process starts for itself on a free port (and
//!   that ends with the process); with none to be had, one message says what to install or set and
//!   the test process exits, rather than every test failing with a 503.
//! - [`RedisProcess`] runs a dedicated `redis-server` on a free port, so a test can stop and restart
//!   Redis without disturbing any other test.
//! - [`seed_clients`] runs the seed's own Python and JavaScript clients against one origin.
//! - [`free_port`], [`sibling_binary`] (another binary of the workspace, built when missing),
//!   [`run_to_end`] (a command that must finish, such as `--help`) and [`hash_password`] (the
//!   service's own `hash-password` subcommand).
//!
//! Only ever a dev-dependency. Failures are returned as [`std::io::Error`]s with a message saying what
//! did not happen; the tests decide to panic on them.

pub mod seed_clients;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
        let mut child = Command::new(binary)
            .env_clear()
            .current_dir(workdir)
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
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
        let deadline = Instant::now() + timeout;
        loop {
            if lock(&self.logs).iter().any(|l| l.contains(needle)) {
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

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new empty directory under the system's temporary directory.
fn temp_dir(label: &str) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "test-support-{label}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

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

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The workspace binary `name` next to `own_exe` (a test's `env!("CARGO_BIN_EXE_...")`), built with
/// `cargo build -p name` when missing: `cargo test --workspace` builds it, a lone `cargo test -p` may not.
pub fn sibling_binary(own_exe: impl AsRef<Path>, name: &str) -> io::Result<PathBuf> {
    let path = own_exe.as_ref().with_file_name(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo).args(["build", "-p", name]).status()?;
        if !status.success() || !path.exists() {
            return Err(io::Error::other(format!("could not build {name}")));
        }
    }
    Ok(path)
}

/// Runs `command` to its end with no input, its output captured; an error (after killing it) if it
/// is still running after `limit`, as a binary would be that started serving instead of answering
/// `--help`.
pub fn run_to_end(command: &mut Command, limit: Duration) -> io::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drained while it runs, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{command:?} was still running after {limit:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
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

/// A redis-server of our own on `port`, so stopping it disturbs no other test: without persistence,
/// or with an append-only file in a directory of its own ([`RedisProcess::start_with_aof`]) so that a
/// restart keeps the data. Killed when dropped (and its directory removed).
pub struct RedisProcess {
    child: Option<Child>,
    pub port: u16,
    /// The AOF directory, when persistent.
    aof_dir: Option<PathBuf>,
    /// More `redis-server` arguments (a replica's `--replicaof`).
    extra: Vec<String>,
}

impl RedisProcess {
    /// Starts it and waits until it accepts connections.
    pub fn start(port: u16) -> io::Result<Self> {
        Self::start_with(port, &[])
    }

    /// Like [`RedisProcess::start`], with more `redis-server` arguments (e.g. `--replicaof 127.0.0.1
    /// 6400` for a replica).
    pub fn start_with(port: u16, extra: &[&str]) -> io::Result<Self> {
        let mut redis = Self {
            child: None,
            port,
            aof_dir: None,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        redis.restart()?;
        Ok(redis)
    }

    /// Like [`RedisProcess::start`], persisting every write to an append-only file (`appendfsync
    /// always`), as the compose deployment's Redis does: a restart comes back with the data.
    pub fn start_with_aof(port: u16) -> io::Result<Self> {
        let mut redis = Self {
            child: None,
            port,
            aof_dir: Some(temp_dir("redis-aof")?),
            extra: Vec::new(),
        };
        redis.restart()?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }

    /// Stops it if running, starts it again on the same port and waits until it accepts connections.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let port = self.port.to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""];
        let dir;
        match &self.aof_dir {
            Some(path) => {
                dir = path.to_string_lossy().into_owned();
                args.extend(["--appendonly", "yes", "--appendfsync", "always", "--dir", &dir]);
            }
            None => args.extend(["--appendonly", "no"]),
        }
        args.extend(self.extra.iter().map(String::as_str));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("redis-server must be installed (.ci/run installs it): {e}"),
                )
            })?;
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("redis-server did not start on {}", self.port),
        ))
    }
}

/// A Redis Sentinel of our own on `port`, monitoring the primary at `127.0.0.1:primary_port` under
/// `master` (quorum 2, down after 1 s, so a failover takes a few seconds). Killed when dropped.
pub struct SentinelProcess {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl SentinelProcess {
    pub fn start(port: u16, master: &str, primary_port: u16) -> io::Result<Self> {
        let dir = temp_dir("sentinel")?;
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nsentinel monitor {master} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {master} 1000\nsentinel failover-timeout {master} 5000\n\
                 sentinel parallel-syncs {master} 1\n",
                dir = dir.display()
            ),
        )?;
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .spawn()?;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Self { child, port, dir });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("redis sentinel did not start on {port}"),
        ))
    }
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        kill(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.aof_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The shared Redis

/// Where the tests look for a running Redis when `TEST_REDIS_URL` is not set.
pub const DEFAULT_REDIS_PROBE: &str = "127.0.0.1:6379";

/// What to do when there is no Redis at all.
pub const NO_REDIS_HELP: &str = "\
no Redis for the tests: TEST_REDIS_URL is not set, nothing answers on {probe}, and redis-server is not
installed, so the tests cannot start one of their own. Either install it (Debian or Ubuntu:
`apt-get install redis-server`; macOS: `brew install redis`), or set TEST_REDIS_URL to a Redis they
may write to under their own key prefixes (e.g. TEST_REDIS_URL=redis://127.0.0.1:6380).";

/// The Redis the tests share, as a `redis://` URL; decided once per test process:
///
/// 1. `TEST_REDIS_URL`, when set (and not blank);
/// 2. else the Redis answering `PING` on [`redis_probe_addr`] (127.0.0.1:6379);
/// 3. else a `redis-server` of this process's own on a free port, stopped when the process ends.
///
/// When none of them can be had (no `redis-server` installed), it prints [`NO_REDIS_HELP`] once on
/// standard error and ends the test process with status 1: one clear message, instead of each test
/// failing on its own with a 503 or "connection refused".
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let given = std::env::var("TEST_REDIS_URL").ok();
        match resolve_redis(given, redis_probe_addr(), "redis-server") {
            Ok(url) => url,
            Err(e) => {
                // Written straight to stderr: the test harness captures `eprintln!`, not this.
                let _ = writeln!(io::stderr(), "\n{e}\n");
                std::process::exit(1)
            }
        }
    })
    .clone()
}

/// The address probed for a running Redis: `TEST_REDIS_PROBE_ADDR` (a test of this very logic points
/// it at a closed port), else [`DEFAULT_REDIS_PROBE`].
pub fn redis_probe_addr() -> String {
    std::env::var("TEST_REDIS_PROBE_ADDR")
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REDIS_PROBE.to_string())
}

/// The decision of [`redis_url`] with its inputs given: the URL the tests should use, starting
/// `server` (the `redis-server` program) when needed. The Redis it starts lives as long as the
/// process.
pub fn resolve_redis(given: Option<String>, probe: String, server: &str) -> io::Result<String> {
    if let Some(url) = given.filter(|u| !u.trim().is_empty()) {
        return Ok(url);
    }
    if redis_answers(&probe) {
        return Ok(format!("redis://{probe}"));
    }
    static OWN: OnceLock<Mutex<Vec<OwnRedis>>> = OnceLock::new();
    let own = OwnRedis::start(server).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(e.kind(), NO_REDIS_HELP.replace("{probe}", &probe))
        } else {
            e
        }
    })?;
    let url = own.url();
    lock(OWN.get_or_init(|| Mutex::new(Vec::new()))).push(own);
    Ok(url)
}

/// Whether a Redis answers `PING` at `addr` within a moment.
pub fn redis_answers(addr: &str) -> bool {
    use std::io::Read;
    let Ok(Some(addr)) = std::net::ToSocketAddrs::to_socket_addrs(addr).map(|mut a| a.next()) else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// A `redis-server` that ends with this process, however the process ends: it runs under a small
/// shell that holds the read end of a pipe whose write end only this process has, and stops the
/// server when that pipe closes (statics are never dropped, so a `Drop` could not do it).
struct OwnRedis {
    port: u16,
    /// Its stdin is the pipe's write end: kept open for as long as this value (in a static: the
    /// process) lives.
    shell: Child,
}

impl OwnRedis {
    fn start(server: &str) -> io::Result<Self> {
        // Installed at all? (A NotFound here becomes the message of NO_REDIS_HELP.)
        Command::new(server)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        let port = free_port()?;
        let script = r#"server=$1; port=$2
"$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pid=$!
read -r _ignored
kill "$pid" 2>/dev/null
wait "$pid""#;
        let shell = Command::new("sh")
            .args(["-c", script, "sh", server, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        let mut own = Self { port, shell };
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis_answers(&addr) {
            if Instant::now() >= deadline {
                // Closing the pipe makes the shell stop the server.
                drop(own.shell.stdin.take());
                let _ = own.shell.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{server} did not answer on {addr} within 10 s"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(own)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}
