//! A Redis Cluster of a test's own ([`ClusterProcess`]).

use crate::process::{free_port, kill, run_to_end, temp_dir};
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
        // `free_port` never hands out one port twice in a process.
        let ports = (0..2 * Self::NODES)
            .map(|_| free_port())
            .collect::<io::Result<Vec<u16>>>()?;
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
            .map_err(redis_server_missing)?;
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

/// The error of a `redis-server` that could not be started, saying how to get one.
pub(crate) fn redis_server_missing(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("redis-server must be installed (.ci/run installs it): {e}"),
    )
}

/// `redis-cli -p <port> <args...>`'s output; an error if it fails or the server answers with one.
pub(crate) fn redis_cli(port: u16, args: &[&str]) -> io::Result<String> {
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
