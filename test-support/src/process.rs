//! What every child process here needs: a free port, a sibling binary, a run to its end, a
//! directory of its own, and a kill that waits.

use std::io::{self};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `command.spawn()`, retried while it fails with ETXTBSY ("Text file busy"). A program just written
/// (a test's script) can be briefly busy: another test thread forking at the moment it was open for
/// writing gives its child a copy of that descriptor until the child's exec closes it.
pub(crate) fn spawn_fresh(command: &mut Command) -> io::Result<Child> {
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

pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new empty directory under the system's temporary directory.
pub(crate) fn temp_dir(label: &str) -> io::Result<PathBuf> {
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

/// A TCP port on 127.0.0.1 that was free a moment ago, for a child process to listen on.
///
/// It is taken below the kernel's range of ephemeral ports (`ip_local_port_range`), never from it: a
/// port from that range can be given, between this check and the child's `bind`, to any outgoing
/// connection of any process as its local port, and the child then fails with "Address already in
/// use" (a Redis Cluster node's bus port did, once, in CI). Below the range only an explicit `bind`
/// takes a port, and the ports handed out by one test process never repeat (a counter walks the
/// range from an offset of the process id, so test binaries running at once start far apart).
pub fn free_port() -> io::Result<u16> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (low, high) = listening_range();
    let span = u64::from(high - low);
    let start = u64::from(std::process::id()).wrapping_mul(2_654_435_761) % span;
    let candidates = (0..span.min(2_000)).map(|_| {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // `(start + n) % span < span`, and `low + span == high` fits a u16.
        low + u16::try_from((start + n) % span).unwrap_or_default()
    });
    match first_bindable(candidates) {
        Some(port) => Ok(port),
        // The whole range busy: an ephemeral port, as before, rather than no port.
        None => Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()),
    }
}

/// The ports [`free_port`] hands out, `low..high`: from 20000 up to the first ephemeral port (32768
/// on Linux by default), or, where the ephemeral range starts too low to leave room below it, the
/// ports above it.
fn listening_range() -> (u16, u16) {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut numbers = text.split_whitespace().map(str::parse::<u16>);
            Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
        })
        .unwrap_or((32_768, 60_999));
    listening_range_beside(ephemeral)
}

fn listening_range_beside((first, last): (u16, u16)) -> (u16, u16) {
    const LOW: u16 = 20_000;
    const ROOM: u16 = 2_000;
    if first >= LOW.saturating_add(ROOM) {
        (LOW, first)
    } else if last <= u16::MAX - ROOM {
        (last + 1, u16::MAX)
    } else {
        // No room outside the range: the part above 20000 of it, taken in turn all the same.
        (LOW, u16::MAX)
    }
}

/// The first of `candidates` that 127.0.0.1 can bind now.
fn first_bindable(mut candidates: impl Iterator<Item = u16>) -> Option<u16> {
    candidates.find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let (low, high) = listening_range();
        let ports: Vec<u16> = (0..300).map(|_| free_port().unwrap()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            ports.len(),
            "a port was handed out twice: {ports:?}"
        );
        for &port in &ports {
            assert!((low..high).contains(&port), "{port} is outside {low}..{high}");
        }
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
        let ephemeral: Vec<u16> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        if let [first, last] = ephemeral[..] {
            // Unless the ephemeral range leaves no room outside it (then the ports come from it).
            let inside = |p: u16| (first..=last).contains(&p);
            if !inside(low) && !inside(high - 1) {
                assert!(ports.iter().all(|p| !inside(*p)), "{ports:?} vs {first}..={last}");
            }
        }
        TcpListener::bind(("127.0.0.1", ports[0])).unwrap();
    }

    #[test]
    fn a_port_something_listens_on_is_passed_over() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let spare = free_port().unwrap();
        assert_eq!(first_bindable([busy, spare].into_iter()), Some(spare));
        assert_eq!(first_bindable([busy].into_iter()), None);
    }

    #[test]
    fn the_range_lies_beside_the_ephemeral_one() {
        assert_eq!(listening_range_beside((32_768, 60_999)), (20_000, 32_768));
        assert_eq!(listening_range_beside((1_024, 40_000)), (40_001, u16::MAX));
        assert_eq!(listening_range_beside((1_024, 65_000)), (20_000, u16::MAX));
        assert_eq!(listening_range_beside((22_000, 60_999)), (20_000, 22_000));
    }
}
