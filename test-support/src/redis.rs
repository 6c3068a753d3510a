//! Redis for the tests: the shared one ([`redis_url`]), and servers of a test's own
//! ([`RedisProcess`], [`SentinelProcess`]).

use crate::cluster::{redis_cli, redis_server_missing};
use crate::process::{free_port, kill, lock, temp_dir};
use std::io::{self, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A redis-server of our own on `port`, so stopping it disturbs no other test: without persistence,
/// or with an append-only file ([`RedisProcess::start_with_aof`]) so that a restart keeps the data.
/// It works in a directory of its own (a replica writes the snapshot it syncs from there, even with
/// `--save ""`), never the test's working directory. Killed when dropped, and its directory removed.
pub struct RedisProcess {
    child: Option<Child>,
    pub port: u16,
    /// Its working directory (`--dir`).
    dir: PathBuf,
    /// Whether it keeps an append-only file in `dir`.
    aof: bool,
    /// More `redis-server` arguments (a replica's `--replicaof`).
    extra: Vec<String>,
}

impl RedisProcess {
    /// Waits (at most `timeout`) until `n` replicas are attached to this server and in sync
    /// (`state=online` in `INFO replication`): before that, a write that waits for a replica's
    /// acknowledgement is refused.
    pub fn wait_for_replicas(&self, n: usize, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let info = redis_cli(self.port, &["INFO", "replication"]).unwrap_or_default();
            let online = info
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                .count();
            if online >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{online} of {n} replicas in sync on {} after {timeout:?}: {info}",
                        self.port
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

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
            dir: temp_dir("redis")?,
            aof: false,
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
            dir: temp_dir("redis-aof")?,
            aof: true,
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
        let dir = self.dir.to_string_lossy().into_owned();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            &dir,
        ];
        if self.aof {
            args.extend(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            args.extend(["--appendonly", "no"]);
        }
        args.extend(self.extra.iter().map(String::as_str));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .map_err(redis_server_missing)?;
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
        let _ = std::fs::remove_dir_all(&self.dir);
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
