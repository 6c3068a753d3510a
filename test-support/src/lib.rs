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
//! - [`ClusterProcess`] runs a Redis Cluster of its own (three primaries, three replicas) whose nodes a
//!   test can kill and whose slots it can move, to watch a failover or a resharding from a client.
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

/// `command.spawn()`, retried while it fails with ETXTBSY ("Text file busy"). A program just written
/// (a test's script) can be briefly busy: another test thread forking at the moment it was open for
/// writing gives its child a copy of that descriptor until the child's exec closes it.
fn spawn_fresh(command: &mut Command) -> io::Result<Child> {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------------
// Redis Cluster

/// The number of hash slots of a Redis Cluster.
const CLUSTER_SLOTS: usize = 16384;

/// How long a `redis-cli` query may take before it counts as not answering.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);

/// A Redis Cluster of our own: three primaries with one replica each, every node a `redis-server
/// --cluster-enabled yes` on a free port with a directory of its own (its `nodes.conf` and its log,
/// `redis.log`), without persistence, `--cluster-node-timeout 1000` (a failover takes a few seconds),
/// created by `redis-cli --cluster create ... --cluster-replicas 1`. Each node's cluster bus is on a
/// free port too (`--cluster-port`), rather than on its port + 10000, which may be taken or above 65535.
/// A node can be killed ([`ClusterProcess::kill`]) and the cluster left to fail over; the slots moved
/// with `redis-cli --cluster reshard` ([`ClusterProcess::reshard`]). All nodes are killed and the
/// directories removed when dropped.
pub struct ClusterProcess {
    nodes: Vec<ClusterNode>,
    dir: PathBuf,
    /// Numbers the background reshards' log files.
    reshards: AtomicU64,
}

struct ClusterNode {
    port: u16,
    /// The node's cluster bus port.
    bus: u16,
    /// None once killed.
    child: Option<Child>,
}

/// One line of `CLUSTER NODES`.
struct NodeLine {
    port: u16,
    flags: Vec<String>,
    /// Inclusive slot ranges (those being migrated or imported, `[...]`, are left out).
    slots: Vec<(usize, usize)>,
}

impl NodeLine {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn is_failing(&self) -> bool {
        self.has("fail") || self.has("fail?") || self.has("noaddr") || self.has("handshake")
    }
}

impl ClusterProcess {
    /// The number of nodes: three primaries and three replicas.
    pub const NODES: usize = 6;

    /// Starts the six nodes, creates the cluster and waits (at most 20 s) until every node reports
    /// `cluster_state:ok`, agrees on who serves each slot, and every replica is in sync with its primary.
    pub fn start() -> io::Result<Self> {
        let mut cluster = Self {
            nodes: Vec::new(),
            dir: temp_dir("redis-cluster")?,
            reshards: AtomicU64::new(0),
        };
        // On any error below, dropping `cluster` kills the nodes started so far and removes the directory.
        let ports = distinct_free_ports(2 * Self::NODES)?;
        for pair in ports.chunks(2) {
            if let [port, bus] = *pair {
                cluster.spawn_node(port, bus)?;
            }
        }
        for node in &mut cluster.nodes {
            wait_accepting(node, &cluster.dir)?;
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        create.args(cluster.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = run_to_end(&mut create, Duration::from_secs(60))?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "redis-cli --cluster create failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        cluster.wait_healthy(Duration::from_secs(20))?;
        Ok(cluster)
    }

    fn spawn_node(&mut self, port: u16, bus: u16) -> io::Result<()> {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.join("redis.log"))?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-port", &bus.to_string()])
            .arg("--cluster-config-file")
            .arg(dir.join("nodes.conf"))
            .args([
                "--cluster-node-timeout",
                "1000",
                "--appendonly",
                "no",
                "--save",
                "",
            ])
            // A replica's first sync starts at once instead of after the default 5 s wait for more
            // replicas: a replica that never synced cannot be promoted.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("redis-server must be installed (.ci/run installs it): {e}"),
                )
            })?;
        match self.nodes.iter_mut().find(|n| n.port == port) {
            Some(node) => node.child = Some(child),
            None => self.nodes.push(ClusterNode {
                port,
                bus,
                child: Some(child),
            }),
        }
        Ok(())
    }

    /// Starts a killed node again on its port, with its `nodes.conf`: it rejoins the cluster, as a
    /// replica of the node that took over its slots (so that primary has a replica to acknowledge
    /// its writes again). Nothing happens for a running node.
    pub fn restart(&mut self, port: u16) -> io::Result<()> {
        let Some(bus) = self
            .nodes
            .iter()
            .find(|n| n.port == port && n.child.is_none())
            .map(|n| n.bus)
        else {
            return Ok(());
        };
        self.spawn_node(port, bus)
    }

    /// `redis://127.0.0.1:<port>` of every node (killed ones included), comma-separated: the value
    /// for `REDIS_CLUSTER_NODES`.
    pub fn seeds(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every node's port, killed ones included, in the order they were created with.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The ports of the nodes not killed.
    pub fn running(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// The ports of the running nodes that are primaries, by their own account.
    pub fn primaries(&self) -> io::Result<Vec<u16>> {
        let mut primaries = Vec::new();
        for port in self.running() {
            if myself(&cluster_nodes(port)?, port)?.has("master") {
                primaries.push(port);
            }
        }
        Ok(primaries)
    }

    /// The port of the running primary that serves `key`'s slot, by its own account (so a node
    /// whose view is stale cannot mislead it). An error when no running primary claims the slot.
    pub fn primary_for_key(&self, key: &str) -> io::Result<u16> {
        let running = self.running();
        let any = *running
            .first()
            .ok_or_else(|| io::Error::other("every node of the cluster has been killed"))?;
        let reply = redis_cli(any, &["cluster", "keyslot", key])?;
        let slot: usize = reply.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("CLUSTER KEYSLOT answered {reply:?}"),
            )
        })?;
        for port in running {
            let view = cluster_nodes(port)?;
            let me = myself(&view, port)?;
            if me.has("master") && me.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no running primary serves slot {slot} (of key {key:?})"),
        ))
    }

    /// Kills the node on `port` with SIGKILL, as a crash would. Nothing happens if `port` is not a
    /// node of this cluster or was killed already.
    pub fn kill(&mut self, port: u16) {
        if let Some(child) = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .and_then(|n| n.child.as_mut())
        {
            kill(child);
        }
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
            node.child = None;
        }
    }

    /// Waits (at most `timeout`) until the running nodes make a healthy cluster: each reports
    /// `cluster_state:ok`; the running primaries between them claim every slot once; every running
    /// node's view gives each slot to that same primary; and every running replica of a running
    /// primary has its replication link up. After a primary is killed this is when its replica has
    /// been promoted and everyone knows it (a few seconds, with the node timeout of 1 s).
    pub fn wait_healthy(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let why = match self.health() {
                Ok(()) => return Ok(()),
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the Redis Cluster was not healthy within {timeout:?}: {why}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Why the cluster is not healthy, if it is not.
    fn health(&self) -> Result<(), String> {
        let running = self.running();
        if running.is_empty() {
            return Err("every node has been killed".into());
        }
        let mut views = Vec::new();
        for &port in &running {
            let info = redis_cli(port, &["cluster", "info"]).map_err(|e| e.to_string())?;
            if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
                return Err(format!("node {port} does not report cluster_state:ok"));
            }
            views.push((port, cluster_nodes(port).map_err(|e| e.to_string())?));
        }
        // Who serves each slot, by the primaries' own claims.
        let mut owner: Vec<Option<u16>> = vec![None; CLUSTER_SLOTS];
        for (port, view) in &views {
            let me = myself(view, *port).map_err(|e| e.to_string())?;
            if !me.has("master") {
                continue;
            }
            for &(a, b) in &me.slots {
                for slot in owner.iter_mut().take(b + 1).skip(a) {
                    if let Some(other) = slot.replace(*port) {
                        return Err(format!("both {other} and {port} claim slot {a}..={b}"));
                    }
                }
            }
        }
        if let Some(slot) = owner.iter().position(Option::is_none) {
            return Err(format!("no running primary claims slot {slot}"));
        }
        // Everyone agrees.
        for (port, view) in &views {
            let mut seen: Vec<Option<u16>> = vec![None; CLUSTER_SLOTS];
            for line in view.iter().filter(|l| l.has("master") && !l.is_failing()) {
                for &(a, b) in &line.slots {
                    for slot in seen.iter_mut().take(b + 1).skip(a) {
                        *slot = Some(line.port);
                    }
                }
            }
            if let Some(slot) = (0..CLUSTER_SLOTS).find(|&s| seen[s] != owner[s]) {
                return Err(format!(
                    "node {port} thinks slot {slot} is served by {:?}, not {:?}",
                    seen[slot], owner[slot]
                ));
            }
        }
        // Replicas in sync.
        for (port, view) in &views {
            let me = myself(view, *port).map_err(|e| e.to_string())?;
            if me.has("master") {
                continue;
            }
            let info = redis_cli(*port, &["info", "replication"]).map_err(|e| e.to_string())?;
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                    .map(str::to_string)
            };
            let primary = field("master_port").and_then(|p| p.parse::<u16>().ok());
            let primary_running = primary.is_some_and(|p| running.contains(&p));
            if primary_running && field("master_link_status").as_deref() != Some("up") {
                return Err(format!(
                    "replica {port}'s link to its primary {primary:?} is not up"
                ));
            }
        }
        Ok(())
    }

    /// Moves `slots` hash slots (and their keys) from the primary on `from_port` to the primary on
    /// `to_port` with `redis-cli --cluster reshard`, and returns once it has finished successfully (at
    /// most 2 minutes).
    pub fn reshard(&self, from_port: u16, to_port: u16, slots: u32) -> io::Result<()> {
        let mut command = self.reshard_command(from_port, to_port, slots)?;
        let out = run_to_end(&mut command, Duration::from_secs(120))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || stdout.contains("[ERR]") {
            return Err(io::Error::other(format!(
                "redis-cli --cluster reshard of {slots} slots from {from_port} to {to_port} failed ({}): \
                 {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Like [`ClusterProcess::reshard`], in the background (e.g. while load runs): the running
    /// `redis-cli`, for the caller to wait on (its exit status says whether it succeeded). Its output
    /// goes to `reshard-<n>.log` in the cluster's directory ([`ClusterProcess::dir`]).
    pub fn reshard_spawn(&self, from_port: u16, to_port: u16, slots: u32) -> io::Result<Child> {
        let mut command = self.reshard_command(from_port, to_port, slots)?;
        let n = self.reshards.fetch_add(1, Ordering::Relaxed);
        let log = std::fs::File::create(self.dir.join(format!("reshard-{n}.log")))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
    }

    fn reshard_command(&self, from_port: u16, to_port: u16, slots: u32) -> io::Result<Command> {
        let id = |port: u16| -> io::Result<String> {
            let id = redis_cli(port, &["cluster", "myid"])?.trim().to_string();
            if id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(id)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("CLUSTER MYID on {port} answered {id:?}"),
                ))
            }
        };
        let (from, to) = (id(from_port)?, id(to_port)?);
        let mut command = Command::new("redis-cli");
        command
            .args(["--cluster", "reshard", &format!("127.0.0.1:{from_port}")])
            .args(["--cluster-from", &from, "--cluster-to", &to])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"]);
        Ok(command)
    }

    /// The directory holding each node's (`<port>/`: `nodes.conf`, `redis.log`) and the background
    /// reshards' logs; removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ClusterProcess {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                kill(&mut child);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` ports that were free a moment ago, all different.
fn distinct_free_ports(n: usize) -> io::Result<Vec<u16>> {
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n * 20 {
        if ports.len() == n {
            break;
        }
        let port = free_port()?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    if ports.len() == n {
        Ok(ports)
    } else {
        Err(io::Error::other(format!(
            "could not find {n} distinct free ports"
        )))
    }
}

/// Waits (at most 10 s) until the node accepts connections; an error, with the end of its log, if
/// it exits first (its port taken since it was found free, say).
fn wait_accepting(node: &mut ClusterNode, dir: &Path) -> io::Result<()> {
    let log = || {
        let text =
            std::fs::read_to_string(dir.join(node.port.to_string()).join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(child) = node.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                node.child = None;
                return Err(io::Error::other(format!(
                    "the cluster node on {} exited ({status}):\n{}",
                    node.port,
                    log()
                )));
            }
        }
        if TcpStream::connect(("127.0.0.1", node.port)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the cluster node on {} did not accept connections within 10 s:\n{}",
                    node.port,
                    log()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `redis-cli -p <port> <args...>`'s output; an error if it fails or the server answers with one.
fn redis_cli(port: u16, args: &[&str]) -> io::Result<String> {
    let out = run_to_end(
        Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args),
        CLI_TIMEOUT,
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let is_error = ["ERR", "CLUSTERDOWN", "MOVED", "ASK", "Could not connect"]
        .iter()
        .any(|e| stdout.starts_with(e));
    if !out.status.success() || is_error {
        return Err(io::Error::other(format!(
            "redis-cli -p {port} {} failed ({}): {stdout}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(stdout)
}

/// `CLUSTER NODES` as the node on `port` sees it.
fn cluster_nodes(port: u16) -> io::Result<Vec<NodeLine>> {
    redis_cli(port, &["cluster", "nodes"])?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            parse_node_line(line).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected CLUSTER NODES line from {port}: {line:?}"),
                )
            })
        })
        .collect()
}

/// `<id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot>...`
fn parse_node_line(line: &str) -> Option<NodeLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_id, addr, flags, _primary, _ping, _pong, _epoch, _link, slots @ ..] = fields.as_slice() else {
        return None;
    };
    let host_port = addr.split(['@', ',']).next()?;
    let port = host_port.rsplit_once(':')?.1.parse().ok()?;
    let slots = slots
        .iter()
        .filter(|s| !s.starts_with('['))
        .map(|s| {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect::<Option<Vec<(usize, usize)>>>()?;
    Some(NodeLine {
        port,
        flags: flags.split(',').map(str::to_string).collect(),
        slots,
    })
}

/// The `myself` line of a node's view.
fn myself(view: &[NodeLine], port: u16) -> io::Result<&NodeLine> {
    view.iter().find(|l| l.has("myself")).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("CLUSTER NODES from {port} has no `myself` line"),
        )
    })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::parse_node_line;

    #[test]
    fn cluster_nodes_lines_are_read_with_their_flags_and_slots() {
        let line = parse_node_line(
            "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,node-4 myself,master - 0 \
             1426238317239 4 connected 0-99 5461 [5462->-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca] \
             [5463-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]",
        )
        .unwrap();
        assert_eq!(line.port, 30004);
        assert!(line.has("myself") && line.has("master") && !line.is_failing());
        assert_eq!(line.slots, [(0, 99), (5461, 5461)]);

        let line = parse_node_line(
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 master,fail - 1426238316232 \
             1426238315000 1 disconnected",
        )
        .unwrap();
        assert_eq!(line.port, 30001);
        assert!(line.is_failing() && line.slots.is_empty());

        assert!(parse_node_line("not a line").is_none());
        assert!(parse_node_line(
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 master - 0 0 1 connected x-y"
        )
        .is_none());
    }
}
