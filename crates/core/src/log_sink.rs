//! Where log lines go: one shared, bounded buffer per output (stdout, the optional log file),
//! filled by request threads and written by one background thread.
//!
//! A request thread only formats its line and copies it into the buffer under a short lock:
//! it never makes a syscall, never waits for stdout, and never wakes the writer per line (the
//! writer wakes every `TICK`, or once when a buffer passes `HIGH_WATER`). The access log (one
//! line per request, `access`) is formatted here by hand: a compact JSON object (or a text
//! line), without going through `tracing`'s formatter. Other log lines come from `tracing`,
//! whose layers write into the same buffers (`MakeWriter`), so lines from both never tear.
//!
//! Bounded: a buffer that the writer cannot drain (stdout blocked) stops growing at `CAP`;
//! lines beyond it are shed, counted in `modelgate_log_lines_dropped_total` and reported in
//! the log itself as soon as there is room again. Must not know about HTTP or the pipeline.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::digits;

/// The writer wakes at least this often when there is something to write.
const TICK: Duration = Duration::from_millis(100);
/// A buffer this full wakes the writer before its tick.
const HIGH_WATER: usize = 64 * 1024;
/// Most bytes waiting per output; lines beyond are shed (counted).
const CAP: usize = 8 * 1024 * 1024;

/// How an output's lines are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    Json,
    Text,
}

/// Where an output's bytes go.
pub type Target = Box<dyn Write + Send>;

struct Output {
    format: LineFormat,
    target: Target,
}

#[derive(Default)]
struct Pending {
    /// One buffer per output, in output order.
    bufs: Vec<Vec<u8>>,
    /// Lines shed per output since the last report.
    shed: Vec<u64>,
    /// The writer was already woken for the current fill.
    signaled: bool,
    /// Flush requests served so far / asked for.
    flushes_done: u64,
    flushes_asked: u64,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    done: Condvar,
    formats: Vec<LineFormat>,
    access_on: AtomicBool,
    dropped: AtomicU64,
}

/// The log sink: cheap to clone, shared by every thread.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// Stops (and flushes) the writer when dropped.
pub struct SinkGuard {
    sink: LogSink,
    thread: Option<std::thread::JoinHandle<()>>,
}

static GLOBAL: OnceLock<LogSink> = OnceLock::new();

impl LogSink {
    /// Starts the writer thread over `outputs`; `access_on` says whether request lines are
    /// written (the access log follows the log level: on at `info`).
    pub fn start(
        outputs: Vec<(LineFormat, Target)>,
        access_on: bool,
    ) -> std::io::Result<(Self, SinkGuard)> {
        let outputs: Vec<Output> = outputs
            .into_iter()
            .map(|(format, target)| Output { format, target })
            .collect();
        let n = outputs.len();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                bufs: vec![Vec::new(); n],
                shed: vec![0; n],
                ..Default::default()
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            formats: outputs.iter().map(|o| o.format).collect(),
            access_on: AtomicBool::new(access_on),
            dropped: AtomicU64::new(0),
        });
        let sink = LogSink { shared };
        let writer = sink.clone();
        let thread = std::thread::Builder::new()
            .name("modelgate-log".into())
            .spawn(move || writer.run(outputs))?;
        Ok((
            sink.clone(),
            SinkGuard {
                sink,
                thread: Some(thread),
            },
        ))
    }

    /// Makes this the process's sink (the first one installed stays).
    pub fn install(&self) {
        let _ = GLOBAL.set(self.clone());
    }

    /// The installed sink, if any.
    pub fn global() -> Option<&'static LogSink> {
        GLOBAL.get()
    }

    /// Whether request lines are written.
    pub fn access_on(&self) -> bool {
        self.shared.access_on.load(Ordering::Relaxed)
    }

    /// Turns request lines on or off.
    pub fn set_access(&self, on: bool) {
        self.shared.access_on.store(on, Ordering::Relaxed);
    }

    /// Lines shed because an output could not keep up, since start.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A poisoned lock only means a writer panicked mid-append; the bytes are still usable.
        self.shared
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends complete lines to output `i`, or sheds them (counted) when it is full.
    pub fn append(&self, i: usize, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        let mut p = self.lock();
        let Some(buf) = p.bufs.get_mut(i) else {
            return;
        };
        if buf.len() + line.len() > CAP {
            if let Some(s) = p.shed.get_mut(i) {
                *s += 1;
            }
            drop(p);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("modelgate_log_lines_dropped_total").increment(1);
            return;
        }
        buf.extend_from_slice(line);
        let wake = buf.len() >= HIGH_WATER && !p.signaled;
        if wake {
            p.signaled = true;
            drop(p);
            self.shared.wake.notify_one();
        }
    }

    /// Writes one request's access line to every output (nothing when the access log is off).
    pub fn access(&self, line: &AccessLine<'_>) {
        if !self.access_on() {
            return;
        }
        LINE.with(|cell| {
            let mut scratch = cell.borrow_mut();
            for (i, f) in self.shared.formats.iter().enumerate() {
                scratch.clear();
                line.write(*f, &mut scratch);
                self.append(i, &scratch);
            }
        });
    }

    /// Waits (at most 10 s: an output may be blocked) until everything appended before this
    /// call is written.
    pub fn flush(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut p = self.lock();
        p.flushes_asked += 1;
        let ticket = p.flushes_asked;
        self.shared.wake.notify_one();
        while p.flushes_done < ticket && !p.stop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            p = self
                .shared
                .done
                .wait_timeout(p, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The writer thread: takes the buffers every tick (or when woken) and writes them.
    fn run(self, mut outputs: Vec<Output>) {
        let mut spare: Vec<Vec<u8>> = vec![Vec::new(); outputs.len()];
        loop {
            let (stop, served, shed) = {
                let mut p = self.lock();
                let idle = p.bufs.iter().all(Vec::is_empty);
                if !p.stop && p.flushes_done == p.flushes_asked && (idle || !p.signaled) {
                    p = self
                        .shared
                        .wake
                        .wait_timeout(p, TICK)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                for (b, s) in p.bufs.iter_mut().zip(spare.iter_mut()) {
                    std::mem::swap(b, s);
                }
                p.signaled = false;
                let shed = std::mem::replace(&mut p.shed, vec![0; outputs.len()]);
                (p.stop, p.flushes_asked, shed)
            };
            for ((out, buf), shed) in outputs.iter_mut().zip(spare.iter_mut()).zip(shed) {
                if shed > 0 {
                    let note = shed_line(out.format, shed);
                    buf.extend_from_slice(&note);
                }
                if !buf.is_empty() {
                    // Nothing to report a failed log write to but stderr; the lines are lost.
                    if out
                        .target
                        .write_all(buf)
                        .and_then(|()| out.target.flush())
                        .is_err()
                    {
                        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    buf.clear();
                    if buf.capacity() > 4 * HIGH_WATER {
                        buf.shrink_to(HIGH_WATER);
                    }
                }
            }
            {
                let mut p = self.lock();
                p.flushes_done = p.flushes_done.max(served);
            }
            self.shared.done.notify_all();
            if stop {
                return;
            }
        }
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        self.sink.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn shed_line(format: LineFormat, n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    let ts = Timestamp::now();
    match format {
        LineFormat::Json => {
            v.extend_from_slice(b"{\"timestamp\":\"");
            ts.write(&mut v);
            v.extend_from_slice(b"\",\"level\":\"ERROR\",\"message\":\"log output could not keep up; lines were dropped\",\"dropped\":");
            let _ = write!(v, "{n}");
            v.extend_from_slice(b",\"target\":\"modelgate::log\"}\n");
        }
        LineFormat::Text => {
            ts.write(&mut v);
            let _ = writeln!(
                v,
                " ERROR modelgate::log: log output could not keep up; lines were dropped dropped={n}"
            );
        }
    }
    v
}

thread_local! {
    static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(512));
    static CLOCK: std::cell::RefCell<(i64, [u8; 19])> = const { std::cell::RefCell::new((i64::MIN, [0; 19])) };
}

/// A UTC timestamp with microseconds, formatted as `2026-12-05T09:24:00.123456Z`; the date and
/// time part is formatted once per second per thread.
struct Timestamp {
    secs: i64,
    micros: u32,
}

impl Timestamp {
    fn now() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            micros: now.subsec_micros(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        CLOCK.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != self.secs {
                let dt = chrono::DateTime::from_timestamp(self.secs, 0).unwrap_or_default();
                let s = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
                let mut b = [0u8; 19];
                let n = s.len().min(19);
                b[..n].copy_from_slice(&s.as_bytes()[..n]);
                *c = (self.secs, b);
            }
            out.extend_from_slice(&c.1);
        });
        out.push(b'.');
        digits::push_padded(out, u64::from(self.micros), 6);
        out.push(b'Z');
    }
}

/// One request's access-log line.
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub key_id: &'a str,
    pub endpoint: &'a str,
    pub model: &'a str,
    pub provider: &'a str,
    pub status: i64,
    pub attempts: i64,
    pub latency_ms: f64,
    pub total_tokens: i64,
    pub error: &'a str,
}

impl<'a> AccessLine<'a> {
    /// The string fields before the numbers, in line order.
    fn names(&self) -> [(&'static str, &'a str); 5] {
        [
            ("request_id", self.request_id),
            ("key_id", self.key_id),
            ("endpoint", self.endpoint),
            ("model", self.model),
            ("provider", self.provider),
        ]
    }

    /// The number fields in line order, each as `<before>name<between>value`.
    fn numbers(&self, out: &mut Vec<u8>, before: &[u8], between: &[u8]) {
        let field = |out: &mut Vec<u8>, name: &[u8]| {
            out.extend_from_slice(before);
            out.extend_from_slice(name);
            out.extend_from_slice(between);
        };
        field(out, b"status");
        digits::push_i64(out, self.status);
        field(out, b"attempts");
        digits::push_i64(out, self.attempts);
        field(out, b"latency_ms");
        digits::push_millis(out, micros_of_millis(self.latency_ms));
        field(out, b"total_tokens");
        digits::push_i64(out, self.total_tokens);
    }

    /// The line, newline included: the fields `tracing`'s JSON formatter would have written
    /// for the same event (`target` `modelgate::request`, message `request`), or a text line.
    pub fn write(&self, format: LineFormat, out: &mut Vec<u8>) {
        let ts = Timestamp::now();
        match format {
            LineFormat::Json => {
                out.extend_from_slice(b"{\"timestamp\":\"");
                ts.write(out);
                out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\"");
                for (name, v) in self.names() {
                    json_field(out, name, v);
                }
                self.numbers(out, b",\"", b"\":");
                json_field(out, "error", self.error);
                out.extend_from_slice(b",\"target\":\"modelgate::request\"}\n");
            }
            LineFormat::Text => {
                ts.write(out);
                out.extend_from_slice(b"  INFO modelgate::request: request");
                for (name, v) in self.names() {
                    text_field(out, name, v);
                }
                self.numbers(out, b" ", b"=");
                text_field(out, "error", self.error);
                out.push(b'\n');
            }
        }
    }
}

/// Whole microseconds of a latency in milliseconds, rounded (the text of `{:.3}` once written
/// by `digits::push_millis`); negative, NaN or absurd (over ~31 years) values give 0.
fn micros_of_millis(v: f64) -> u64 {
    if v.is_finite() && (0.0..1e12).contains(&v) {
        (v * 1000.0).round() as u64
    } else {
        0
    }
}

fn json_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    // Printable ASCII without quote or backslash (ids, names, most models) is written as it
    // is; anything else is escaped by serde_json (client-chosen model names). Writing a &str
    // into a Vec cannot fail.
    if value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

fn text_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if plain {
        out.extend_from_slice(value.as_bytes());
    } else {
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

/// A `tracing` writer for output `i`: the formatted event is kept until the writer is
/// dropped, then appended whole.
pub struct EventWriter {
    sink: LogSink,
    output: usize,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        self.sink.append(self.output, &self.buf);
    }
}

/// Makes `EventWriter`s for one output (a `tracing_subscriber` `MakeWriter`).
#[derive(Clone)]
pub struct OutputWriter {
    sink: LogSink,
    output: usize,
}

impl LogSink {
    /// The writer maker of output `i`.
    pub fn output(&self, i: usize) -> OutputWriter {
        OutputWriter {
            sink: self.clone(),
            output: i,
        }
    }
}

impl OutputWriter {
    /// A writer for one event.
    pub fn event_writer(&self) -> EventWriter {
        EventWriter {
            sink: self.sink.clone(),
            output: self.output,
            buf: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_are_written_as_serde_json_writes_them() {
        for v in [
            "",
            "abc",
            "gpt-4o mini",
            "01a2521d-76e8-71bd-903d-fbe88534ec3d",
            "~",
            "with \"quote\"",
            "back\\slash",
            "tab\there",
            "line\nbreak",
            "\u{1}ctrl",
            "\u{7f}del",
            "ünïcödé",
        ] {
            let mut out = Vec::new();
            json_field(&mut out, "f", v);
            let want = format!(",\"f\":{}", serde_json::to_string(v).unwrap_or_default());
            assert_eq!(String::from_utf8_lossy(&out), want, "value {v:?}");
        }
    }

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<u8>>>);
    impl Write for Collect {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn millis(v: f64) -> String {
        let mut out = Vec::new();
        digits::push_millis(&mut out, micros_of_millis(v));
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn millis_are_written_like_three_decimals() {
        for v in [
            0.0,
            0.0004,
            0.0006,
            1.5,
            12.3456,
            999.9995,
            1234.5678,
            86_400_000.25,
        ] {
            assert_eq!(millis(v), format!("{v:.3}"), "{v}");
        }
        for v in [f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(millis(v), "0.000", "{v}");
        }
    }

    fn line<'a>(model: &'a str) -> AccessLine<'a> {
        AccessLine {
            request_id: "r1",
            key_id: "k1",
            endpoint: "chat_completions",
            model,
            provider: "mock",
            status: 200,
            attempts: 1,
            latency_ms: 1.25,
            total_tokens: 15,
            error: "",
        }
    }

    #[test]
    fn access_lines_are_json_with_escaped_values() {
        let json = Collect::default();
        let text = Collect::default();
        let (sink, guard) = LogSink::start(
            vec![
                (LineFormat::Json, Box::new(json.clone())),
                (LineFormat::Text, Box::new(text.clone())),
            ],
            true,
        )
        .unwrap();
        sink.access(&line("we\"ird\nmodel"));
        sink.flush();
        let out = String::from_utf8(json.0.lock().unwrap().clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["model"], "we\"ird\nmodel");
        assert_eq!(v["status"], 200);
        assert_eq!(v["attempts"], 1);
        assert_eq!(v["latency_ms"], 1.25);
        assert_eq!(v["total_tokens"], 15);
        assert_eq!(v["target"], "modelgate::request");
        assert!(
            out.contains(
                r#","status":200,"attempts":1,"latency_ms":1.250,"total_tokens":15,"error":"""#
            ),
            "{out}"
        );
        // `2026-12-05T09:24:00.000123Z`: six digits of microseconds, zero-padded.
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), 27, "{ts}");
        assert_eq!(&ts[19..20], ".", "{ts}");
        assert!(ts[20..26].bytes().all(|b| b.is_ascii_digit()), "{ts}");
        assert!(ts.ends_with('Z'));
        let t = String::from_utf8(text.0.lock().unwrap().clone()).unwrap();
        assert!(
            t.contains(" INFO modelgate::request: request request_id=r1"),
            "{t}"
        );
        assert!(t.contains(r#"model="we\"ird\nmodel""#), "{t}");
        assert!(
            t.contains(" status=200 attempts=1 latency_ms=1.250 total_tokens=15 error=\"\"\n"),
            "{t}"
        );
        assert_eq!(t.lines().count(), 1);
        drop(guard);
    }

    #[test]
    fn off_means_no_lines_and_events_are_kept_whole() {
        let out = Collect::default();
        let (sink, guard) =
            LogSink::start(vec![(LineFormat::Json, Box::new(out.clone()))], false).unwrap();
        sink.access(&line("m"));
        {
            let mut w = sink.output(0).event_writer();
            w.write_all(b"{\"a\":").unwrap();
            w.write_all(b"1}\n").unwrap();
        }
        sink.flush();
        assert_eq!(&*out.0.lock().unwrap(), b"{\"a\":1}\n");
        drop(guard);
    }

    #[test]
    fn a_blocked_output_sheds_counted_lines_and_says_so() {
        // An output that blocks until released: the buffer fills to CAP, then lines are shed.
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        struct Blocked(Arc<(Mutex<bool>, Condvar)>, Collect);
        impl Write for Blocked {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                let (m, c) = &*self.0;
                let mut open = m.lock().unwrap();
                while !*open {
                    open = c.wait(open).unwrap();
                }
                self.1.write(b)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Collect::default();
        let (sink, guard) = LogSink::start(
            vec![(
                LineFormat::Json,
                Box::new(Blocked(gate.clone(), out.clone())),
            )],
            true,
        )
        .unwrap();
        let big = "x".repeat(1024);
        // The first fill is taken by the writer (which then blocks); the next fills the cap.
        for _ in 0..(3 * CAP / 1024) {
            sink.access(&line(&big));
        }
        assert!(sink.dropped() > 0);
        let dropped = sink.dropped();
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        sink.flush();
        sink.access(&line("after"));
        sink.flush();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        // Every shed line is reported, with its count, once there is room again.
        let reported: u64 = text
            .lines()
            .filter(|l| l.contains("lines were dropped"))
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["dropped"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(reported, dropped);
        assert!(
            text.trim_end()
                .ends_with("\"target\":\"modelgate::request\"}")
        );
        drop(guard);
    }
}
