//! What a load run measures: latencies, the CPU of the loaded service, of Redis, of this loader and
//! of the whole machine, memory, and the machine itself.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::services::binary;
use futures::future::join_all;

/// `VmRSS` or `VmHWM` of a process, in MiB.
pub(crate) fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system, every thread) a process has used so far, from `/proc/<pid>/stat`.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` once (100 on Linux).
pub(crate) fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(100.0)
    })
}

/// What a load run measured.
#[derive(Default, Clone)]
pub(crate) struct Run {
    pub(crate) ok: usize,
    pub(crate) errors: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_us: Vec<u64>,
    /// CPU seconds the loaded service's process used during the run, when measured ([`load_on`]).
    pub(crate) cpu_s: Option<f64>,
    /// Where the rest of the machine's CPU went meanwhile, when measured ([`load_costed`]).
    pub(crate) others: Option<Others>,
}

/// The CPU seconds a run cost besides the loaded service's: what sets the throughput of a closed loop
/// when everything shares the same cores.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Others {
    /// Redis (`INFO cpu`: its main thread and its I/O threads, user + system).
    pub(crate) redis_s: f64,
    /// This process: the loader (HTTP client, JSON, the workers).
    pub(crate) loader_s: f64,
    /// Every core of the machine, busy (`/proc/stat`, all but idle and I/O wait).
    pub(crate) machine_s: f64,
}

impl Others {
    pub(crate) fn add(self, other: Others) -> Others {
        Others {
            redis_s: self.redis_s + other.redis_s,
            loader_s: self.loader_s + other.loader_s,
            machine_s: self.machine_s + other.machine_s,
        }
    }
}

impl Run {
    pub(crate) fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Adds another run of the same scenario (rounds of one measure).
    pub(crate) fn add(&mut self, run: Run) {
        self.ok += run.ok;
        self.errors += run.errors;
        self.elapsed += run.elapsed;
        self.latencies_us.extend(run.latencies_us);
        self.cpu_s = match (self.cpu_s, run.cpu_s) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.others = match (self.others, run.others) {
            (Some(a), Some(b)) => Some(a.add(b)),
            (a, b) => a.or(b),
        };
    }

    /// Microseconds of CPU per request served: the service, Redis, the loader, and the whole machine
    /// (the three and anything else running), when measured.
    pub(crate) fn budget_us(&self) -> Option<[f64; 4]> {
        let (service, others) = (self.cpu_s?, self.others?);
        let per = |s: f64| s * 1e6 / self.ok.max(1) as f64;
        Some([
            per(service),
            per(others.redis_s),
            per(others.loader_s),
            per(others.machine_s),
        ])
    }

    /// The service's CPU microseconds per request served, when measured.
    pub(crate) fn cpu_us_per_request(&self) -> Option<f64> {
        self.cpu_s.map(|s| s * 1e6 / self.ok.max(1) as f64)
    }

    /// The summary, then the service's CPU per request and its share of a core.
    pub(crate) fn summary_cpu(&self) -> String {
        match (self.cpu_us_per_request(), self.cpu_s) {
            (Some(per), Some(total)) => format!(
                "{}; service CPU **{per:.1} µs/request** ({:.0}% of a core)",
                self.summary(),
                100.0 * total / self.elapsed.as_secs_f64()
            ),
            _ => self.summary(),
        }
    }

    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index] as f64 / 1000.0
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms ({} ok, {} errors)",
            self.rps(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.ok,
            self.errors
        )
    }
}

/// One worker's request: given its state, sends one request and says whether it succeeded.
pub(crate) type Step = Box<dyn FnMut(&reqwest::Client) -> futures::future::BoxFuture<'static, bool> + Send>;

/// Runs `workers` closed-loop for `duration` (each worker its own connection), or until `stop` is set.
pub(crate) async fn load(workers: Vec<Step>, duration: Duration, stop: Option<Arc<AtomicBool>>) -> Run {
    let started = Instant::now();
    let tasks = workers.into_iter().map(|mut step| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut run = Run::default();
            while started.elapsed() < duration && !stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                let t = Instant::now();
                if step(&client).await {
                    run.ok += 1;
                    run.latencies_us.push(t.elapsed().as_micros() as u64);
                } else {
                    run.errors += 1;
                }
            }
            run
        })
    });
    let mut total = Run::default();
    for run in join_all(tasks).await {
        let run = run.unwrap();
        total.ok += run.ok;
        total.errors += run.errors;
        total.latencies_us.extend(run.latencies_us);
    }
    total.elapsed = started.elapsed();
    total
}

/// [`load`], also measuring the CPU the process `pid` (the loaded service) used meanwhile.
pub(crate) async fn load_on(pid: u32, workers: Vec<Step>, duration: Duration) -> Run {
    let before = cpu_seconds(pid);
    let mut run = load(workers, duration, None).await;
    run.cpu_s = Some(cpu_seconds(pid) - before);
    run
}

/// [`load_on`], also measuring the CPU that Redis at `redis_url`, this loader and the whole machine
/// used meanwhile ([`Others`]).
pub(crate) async fn load_costed(pid: u32, redis_url: &str, workers: Vec<Step>, duration: Duration) -> Run {
    let redis = redis_cpu_seconds(redis_url).await;
    let loader = cpu_seconds(std::process::id());
    let machine = machine_busy_seconds();
    let mut run = load_on(pid, workers, duration).await;
    run.others = Some(Others {
        redis_s: redis_cpu_seconds(redis_url).await - redis,
        loader_s: cpu_seconds(std::process::id()) - loader,
        machine_s: machine_busy_seconds() - machine,
    });
    run
}

/// The machine's cores, as this process may use them.
pub(crate) fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// One section of `INFO` from the Redis at `url`.
pub(crate) async fn redis_info(url: &str, section: &str) -> String {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// The CPU seconds Redis has used since it started, user + system (`INFO cpu`).
pub(crate) async fn redis_cpu_seconds(url: &str) -> f64 {
    redis_info(url, "cpu")
        .await
        .lines()
        .filter_map(|l| {
            l.strip_prefix("used_cpu_sys:")
                .or_else(|| l.strip_prefix("used_cpu_user:"))
        })
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

/// CPU seconds every core of the machine has been busy since boot: the first line of `/proc/stat`,
/// all but idle and I/O wait (guest time is already inside user time).
pub(crate) fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|t| t.parse().ok()).collect())
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    busy / clock_ticks_per_second()
}

/// The argon2 parameters the service hashes with, read from a hash its own `hash-password` makes (so
/// the bound below is measured with exactly what the service runs, without linking the service).
pub(crate) fn service_argon2_params() -> argon2::Params {
    use std::io::Write;
    let mut child = Command::new(binary("auth-service"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"benchmark\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let phc = String::from_utf8(out.stdout).unwrap();
    let hash = argon2::password_hash::PasswordHash::new(phc.trim()).unwrap();
    argon2::Params::try_from(&hash).unwrap()
}

/// argon2id computations per second on every core with the service's parameters (m=19456, t=2, p=1),
/// each thread reusing its memory as the service's hashing threads do: the ceiling for logins.
pub(crate) fn argon2_bound(duration: Duration) -> f64 {
    let service = service_argon2_params();
    let params = argon2::Params::new(service.m_cost(), service.t_cost(), service.p_cost(), Some(32)).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                let params = params.clone();
                scope.spawn(move || {
                    let argon2 =
                        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
                    let mut memory = vec![argon2::Block::default(); argon2.params().block_count()];
                    let mut out = [0u8; 32];
                    let mut n = 0;
                    while started.elapsed() < duration {
                        argon2
                            .hash_password_into_with_memory(
                                b"the bound",
                                b"sixteen byte salt",
                                &mut out,
                                &mut memory,
                            )
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    counts.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64()
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown CPU".to_string(), |s| s.trim().to_string());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB, Linux {}", kernel.trim())
}
