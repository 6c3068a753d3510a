//! Standard output for the log, as nginx's `access_log ... buffer= flush=`: the one line per request
//! (target [`ACCESS_TARGET`], written by [`crate::server`]) is gathered in memory and written in
//! batches, at most [`FLUSH_INTERVAL`] after it was logged or as soon as [`BATCH_BYTES`] have gathered.
//! Every other line (start-up, warnings, errors, the audit trail) is written at once, after what was
//! gathered before it, so the lines keep their order and an event that matters is never held back.
//!
//! Why: written one by one, each request's line cost a `write` to the pipe a log collector reads, and
//! the wake-up of that reader: about a quarter of what a `GET /health` costs the service (BENCHMARKS.md).
//! What it costs: a line of a request may reach the log up to [`FLUSH_INTERVAL`] after the response,
//! and a process killed outright (`SIGKILL`, an abort) loses the request lines of its last
//! [`FLUSH_INTERVAL`]; a clean stop writes them all (its last lines are not request lines).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;

/// The target of the per-request line: the only lines gathered.
pub const ACCESS_TARGET: &str = "http";
/// The longest a request's line waits before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Gathered lines are written as soon as they reach this size.
pub const BATCH_BYTES: usize = 32 * 1024;

/// A [`MakeWriter`] over one sink (standard output in the services), shared by every thread.
pub struct LogWriter<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
}

struct Shared<W> {
    state: Mutex<State<W>>,
    /// Signalled when the first line is gathered into an empty batch.
    gathered: Condvar,
}

struct State<W> {
    pending: Vec<u8>,
    sink: W,
}

impl<W: Write> State<W> {
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let written = self.sink.write_all(&self.pending);
        self.pending.clear();
        written.and_then(|()| self.sink.flush())
    }
}

impl LogWriter<io::Stdout> {
    /// Standard output, with its flushing thread started.
    pub fn stdout() -> Self {
        Self::new(io::stdout(), FLUSH_INTERVAL)
    }
}

impl<W: Write + Send + 'static> LogWriter<W> {
    /// A writer over `sink` whose gathered lines wait at most `interval`. The flushing thread ends
    /// once the writer is dropped.
    pub fn new(sink: W, interval: Duration) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::with_capacity(BATCH_BYTES),
                sink,
            }),
            gathered: Condvar::new(),
        });
        let weak = Arc::downgrade(&shared);
        // If the thread cannot start, lines are still written: at the latest with the next line
        // that is not a request's, or once a batch is full.
        let _ = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || flush_periodically(&weak, interval));
        Self { shared }
    }
}

fn lock<W>(shared: &Shared<W>) -> MutexGuard<'_, State<W>> {
    // A panic while holding the lock leaves bytes, not a broken invariant: keep logging.
    shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sleeps until a line is gathered, lets the batch grow for `interval`, writes it; until the writer
/// is gone.
fn flush_periodically<W: Write>(weak: &Weak<Shared<W>>, interval: Duration) {
    loop {
        {
            let Some(shared) = weak.upgrade() else { return };
            let state = lock(&shared);
            // Woken at least once a second while idle, to notice the writer is gone.
            let (state, _) = shared
                .gathered
                .wait_timeout_while(state, Duration::from_secs(1), |s| s.pending.is_empty())
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.pending.is_empty() {
                continue;
            }
        }
        std::thread::sleep(interval);
        let Some(shared) = weak.upgrade() else { return };
        let _ = lock(&shared).write_pending();
    }
}

/// One line's writer, as the formatter asks for it.
pub struct Line<'a, W: Write + Send + 'static> {
    shared: &'a Shared<W>,
    gather: bool,
}

impl<W: Write + Send + 'static> Write for Line<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = lock(self.shared);
        if self.gather {
            let was_empty = state.pending.is_empty();
            state.pending.extend_from_slice(buf);
            if state.pending.len() >= BATCH_BYTES {
                // A log that cannot be written is not the request's failure.
                let _ = state.write_pending();
            } else if was_empty {
                self.shared.gathered.notify_one();
            }
            return Ok(buf.len());
        }
        state.write_pending()?;
        state.sink.write_all(buf)?;
        state.sink.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        lock(self.shared).write_pending()
    }
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for LogWriter<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
            gather: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        Line {
            shared: &self.shared,
            gather: meta.target() == ACCESS_TARGET,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink that records each write it is given.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        fn writes(&self) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|w| String::from_utf8(w.clone()).unwrap())
                .collect()
        }
    }

    fn line(writer: &LogWriter<Recorder>, gather: bool, text: &str) {
        let mut line = Line {
            shared: &writer.shared,
            gather,
        };
        line.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn request_lines_are_written_together_once_the_interval_has_passed() {
        let sink = Recorder::default();
        let writer = LogWriter::new(sink.clone(), Duration::from_millis(50));
        let logged = Instant::now();
        for i in 0..3 {
            line(&writer, true, &format!("request {i}\n"));
        }
        assert!(sink.writes().is_empty(), "nothing is written at once");
        let deadline = logged + Duration::from_secs(5);
        while sink.writes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(logged.elapsed() >= Duration::from_millis(50));
        assert_eq!(sink.writes(), ["request 0\nrequest 1\nrequest 2\n"], "one write");
    }

    #[test]
    fn any_other_line_is_written_at_once_after_the_request_lines_before_it() {
        let sink = Recorder::default();
        let writer = LogWriter::new(sink.clone(), Duration::from_secs(3600));
        line(&writer, true, "request 0\n");
        line(&writer, false, "audit: user_disabled\n");
        line(&writer, true, "request 1\n");
        assert_eq!(sink.writes(), ["request 0\n", "audit: user_disabled\n"]);
        // An explicit flush writes what is gathered.
        writer.make_writer().flush().unwrap();
        assert_eq!(sink.writes().last().unwrap(), "request 1\n");
    }

    #[test]
    fn a_full_batch_is_written_without_waiting() {
        let sink = Recorder::default();
        let writer = LogWriter::new(sink.clone(), Duration::from_secs(3600));
        let text = format!("{}\n", "x".repeat(999));
        let lines = BATCH_BYTES / text.len() + 1;
        for _ in 0..lines {
            line(&writer, true, &text);
        }
        let writes = sink.writes();
        assert_eq!(writes.len(), 1, "one batch");
        assert_eq!(writes[0].len(), lines * text.len());
    }

    #[test]
    fn only_the_access_target_is_gathered() {
        use tracing_subscriber::layer::SubscriberExt;
        let sink = Recorder::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(LogWriter::new(sink.clone(), Duration::from_secs(3600)))
                .with_ansi(false),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: ACCESS_TARGET, status = 200, "request");
            assert!(sink.writes().is_empty());
            tracing::warn!("store unreachable");
        });
        let writes = sink.writes();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert!(writes[0].contains("status=200"), "{writes:?}");
        assert!(writes[1].contains("store unreachable"), "{writes:?}");
    }

    #[test]
    fn the_flushing_thread_ends_with_the_writer() {
        let sink = Recorder::default();
        let writer = LogWriter::new(sink.clone(), Duration::from_millis(10));
        let weak = Arc::downgrade(&writer.shared);
        drop(writer);
        // The thread holds the writer only while it waits (a second at most) or writes.
        let deadline = Instant::now() + Duration::from_secs(5);
        while weak.strong_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(weak.strong_count(), 0, "the thread let the writer go");
    }
}
