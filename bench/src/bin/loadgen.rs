//! HTTP/1.1 load generator for chat-completions style endpoints (loopback only).
//!
//! Closed loop (`--concurrency N`): N workers each send requests back to back.
//! Open loop (`--rate R`): requests are sent on a fixed timetable (R per second); latency is
//! measured from each request's *scheduled* send time, so a slow server cannot hide its
//! queueing delay (no coordinated omission). In-flight requests are capped by
//! `--max-inflight`; when the cap is hit the schedule falls behind, which shows up as latency.
//!
//! Latency is the time until the whole response body has been read. With `--stream` the time
//! to the first body byte (TTFB) is reported as well. Only successful (2xx) responses
//! contribute latency samples; everything else is counted as an error by kind.
//!
//! With `--cpu LABEL=PID[,PID...]` the CPU time (utime + stime from `/proc/<pid>/stat`, which
//! covers every thread of the process) of those processes is sampled when the measured window
//! opens and again once every measured request has completed, and reported per successful
//! request. The warm-up is therefore excluded from the CPU figures as it is from latency.

// A benchmark tool, not the gateway: its tasks end with the process.
#![allow(clippy::disallowed_methods)]
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

const DEFAULT_BODY: &str =
    r#"{"model":"bench-model","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}"#;

/// Load generator for OpenAI-style endpoints on loopback.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version)]
struct Args {
    /// Full URL of the endpoint, e.g. http://127.0.0.1:8080/v1/chat/completions.
    /// Only 127.0.0.1, localhost and [::1] are accepted.
    #[arg(long)]
    url: String,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// JSON request body (default: a small chat request for model "bench-model").
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the JSON request body from this file instead.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Ask for a streamed answer (sets "stream": true in the body) and report TTFB.
    #[arg(long)]
    stream: bool,
    /// Closed loop: number of workers sending back to back.
    #[arg(long, conflicts_with = "rate")]
    concurrency: Option<usize>,
    /// Open loop: requests per second on a fixed timetable.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before measuring (requests started then are not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Open loop: maximum requests in flight.
    #[arg(long, default_value_t = 1024)]
    max_inflight: usize,
    /// Per-request timeout in seconds (whole response, body included).
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Tokio worker threads for the generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object with the results instead of text.
    #[arg(long)]
    json: bool,
    /// Measure the CPU time of processes over the measured window: `LABEL=PID[,PID...]`
    /// (repeatable). Each PID's utime + stime covers all of its threads.
    #[arg(long = "cpu")]
    cpu: Vec<String>,
    /// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u32,
}

/// A named group of processes whose CPU time is summed.
#[derive(Debug, Clone, PartialEq)]
struct CpuProbe {
    label: String,
    pids: Vec<u32>,
}

fn parse_cpu_probe(raw: &str) -> anyhow::Result<CpuProbe> {
    let (label, pids) = raw
        .split_once('=')
        .with_context(|| format!("--cpu {raw:?} is not LABEL=PID[,PID...]"))?;
    let label = label.trim();
    anyhow::ensure!(!label.is_empty(), "--cpu {raw:?} has an empty label");
    let pids = pids
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<u32>()
                .with_context(|| format!("--cpu {raw:?}: {p:?} is not a pid"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(CpuProbe {
        label: label.to_owned(),
        pids,
    })
}

/// utime + stime (in clock ticks) from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may itself contain spaces or `)`, so
/// the fields are counted from the last `)`.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt(13) utime(14) stime(15).
    let mut fields = rest.split_ascii_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn pid_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}: has process {pid} exited?"))?;
    stat_ticks(&text).with_context(|| format!("unexpected format of {path}"))
}

/// Current CPU ticks of every probe (sum over its pids), plus the generator's own.
fn sample_cpu(probes: &[CpuProbe]) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut out = Vec::with_capacity(probes.len());
    for p in probes {
        let mut sum = 0;
        for &pid in &p.pids {
            sum += pid_ticks(pid).with_context(|| format!("--cpu {}", p.label))?;
        }
        out.push(sum);
    }
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| stat_ticks(&s))
        .unwrap_or(0);
    Ok((out, own))
}

/// Samples the probes at `at` on a plain OS thread (the runtime threads are busy).
fn sample_cpu_at(
    probes: Vec<CpuProbe>,
    at: Instant,
) -> std::thread::JoinHandle<anyhow::Result<(Vec<u64>, u64)>> {
    std::thread::spawn(move || {
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        sample_cpu(&probes)
    })
}

/// Per-worker results.
#[derive(Default)]
struct Stats {
    lat_us: Vec<u32>,
    ttfb_us: Vec<u32>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    /// Requests sent, warm-up included.
    sent: u64,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.lat_us.extend(other.lat_us);
        self.ttfb_us.extend(other.ttfb_us);
        self.ok += other.ok;
        self.sent += other.sent;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok { total, ttfb } => {
                self.ok += 1;
                self.lat_us.push(micros(total));
                if let Some(t) = ttfb {
                    self.ttfb_us.push(micros(t));
                }
            }
            Outcome::Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

enum Outcome {
    Ok {
        total: Duration,
        ttfb: Option<Duration>,
    },
    Err(String),
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Everything needed to send one request; cheap to share.
struct Target {
    client: HttpClient,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
}

impl Target {
    /// Send one request and read the whole body. `start` is the instant latency is measured
    /// from (the scheduled time in open-loop mode).
    async fn send(&self, start: Instant) -> Outcome {
        match tokio::time::timeout(self.timeout, self.send_inner(start)).await {
            Ok(o) => o,
            Err(_) => Outcome::Err("timeout".into()),
        }
    }

    async fn send_inner(&self, start: Instant) -> Outcome {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        let resp = match self.client.request(req).await {
            Ok(r) => r,
            Err(e) => return Outcome::Err(transport_kind(&e)),
        };
        let status = resp.status();
        let mut body = resp.into_body();
        let mut ttfb = None;
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if ttfb.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
                        ttfb = Some(start.elapsed());
                    }
                }
                Some(Err(_)) => return Outcome::Err("body_error".into()),
                None => break,
            }
        }
        let total = start.elapsed();
        if status.is_success() {
            Outcome::Ok { total, ttfb }
        } else {
            Outcome::Err(format!("status_{}", status.as_u16()))
        }
    }
}

fn transport_kind(e: &hyper_util::client::legacy::Error) -> String {
    if e.is_connect() {
        "connect_error".into()
    } else {
        "transport_error".into()
    }
}

/// Refuse anything that is not plain HTTP to a loopback host.
fn parse_loopback_url(url: &str) -> anyhow::Result<Uri> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("invalid --url {url:?}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => bail!("only http:// URLs are supported, got {other}://"),
        None => bail!("--url must be absolute (http://127.0.0.1:PORT/...)"),
    }
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        bail!(
            "refusing non-loopback host {host:?}: only 127.0.0.1, localhost or [::1] are allowed"
        );
    }
    Ok(uri)
}

fn parse_headers(raw: &[String]) -> anyhow::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for h in raw {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} is not `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("invalid header name in {h:?}"))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("invalid header value in {h:?}"))?;
        map.append(name, value);
    }
    if !map.contains_key(CONTENT_TYPE) {
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(map)
}

fn read_body(args: &Args) -> anyhow::Result<Option<String>> {
    match (&args.body, &args.body_file) {
        (Some(b), _) => Ok(Some(b.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(Some)
            .with_context(|| format!("reading --body-file {}", path.display())),
        (None, None) => Ok(None),
    }
}

fn build_body(body: Option<&str>, stream: bool) -> anyhow::Result<Bytes> {
    let text = body.unwrap_or(DEFAULT_BODY);
    if !stream {
        return Ok(Bytes::from(text.to_owned()));
    }
    let mut v: serde_json::Value =
        serde_json::from_str(text).context("--body is not valid JSON (needed for --stream)")?;
    let obj = v
        .as_object_mut()
        .context("--body must be a JSON object to add \"stream\": true")?;
    obj.insert("stream".into(), serde_json::Value::Bool(true));
    Ok(Bytes::from(serde_json::to_vec(&v)?))
}

fn secs(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("invalid {what}: {s}"))
}

/// Closed loop: `n` workers, each sending back to back until `end`.
async fn closed_loop(
    target: Arc<Target>,
    n: usize,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Stats> {
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Arc::clone(&target);
        handles.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                let outcome = t.send(start).await;
                stats.sent += 1;
                if start >= measure_from {
                    stats.record(outcome);
                } else if let Outcome::Err(_) = outcome {
                    // Avoid a hot loop against a dead target during warm-up.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            stats
        }));
    }
    let mut all = Stats::default();
    for h in handles {
        all.merge(h.await.context("worker task failed")?);
    }
    Ok(all)
}

/// Open loop: request `i` is scheduled at `begin + i / rate`.
///
/// The timetable is driven from the calling (plain, non-runtime) thread with
/// `std::thread::sleep`, which on Linux wakes within tens of microseconds; tokio's timer has
/// millisecond granularity and would add up to ~1 ms of generator-side lateness to every
/// sample, since latency is measured from the scheduled time.
fn open_loop(
    rt: &Handle,
    target: Arc<Target>,
    rate: f64,
    max_inflight: usize,
    begin: Instant,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<(Stats, u64)> {
    const SHARDS: usize = 16;
    let shards: Arc<Vec<Mutex<Stats>>> =
        Arc::new((0..SHARDS).map(|_| Mutex::new(Stats::default())).collect());
    let permits = u32::try_from(max_inflight).context("--max-inflight too large")?;
    let sem = Arc::new(Semaphore::new(max_inflight));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut cap_waits = 0u64;
    let mut i: u64 = 0;
    loop {
        let scheduled = begin + interval.mul_f64(i as f64);
        if scheduled >= end {
            break;
        }
        let now = Instant::now();
        if scheduled > now {
            std::thread::sleep(scheduled - now);
        }
        let permit = match Arc::clone(&sem).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Cap reached: the schedule falls behind; the delay is counted in latency.
                cap_waits += 1;
                rt.block_on(Arc::clone(&sem).acquire_owned())
                    .context("semaphore closed")?
            }
        };
        let t = Arc::clone(&target);
        let shards = Arc::clone(&shards);
        let shard = (i as usize) % SHARDS;
        rt.spawn(async move {
            let outcome = t.send(scheduled).await;
            if scheduled >= measure_from {
                let mut s = shards[shard].lock().unwrap_or_else(|e| e.into_inner());
                s.record(outcome);
            }
            drop(permit);
        });
        i += 1;
    }
    // Wait for everything in flight (bounded by the per-request timeout).
    let _all = rt
        .block_on(sem.acquire_many(permits))
        .context("semaphore closed")?;
    let mut all = Stats::default();
    for s in shards.iter() {
        let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
        all.merge(std::mem::take(&mut *s));
    }
    all.sent = i;
    Ok((all, cap_waits))
}

/// Nearest-rank percentile of sorted samples, in milliseconds.
fn pct_ms(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    Some(f64::from(sorted[idx]) / 1000.0)
}

fn summary(sorted: &[u32]) -> serde_json::Value {
    if sorted.is_empty() {
        return serde_json::Value::Null;
    }
    let mean = sorted.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / sorted.len() as f64;
    json!({
        "p50": pct_ms(sorted, 50.0),
        "p90": pct_ms(sorted, 90.0),
        "p99": pct_ms(sorted, 99.0),
        "max": pct_ms(sorted, 100.0),
        "mean": mean.round() / 1000.0,
    })
}

fn fmt_ms(v: &serde_json::Value, key: &str) -> String {
    v.get(key)
        .and_then(serde_json::Value::as_f64)
        .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let uri = parse_loopback_url(&args.url)?;
    let headers = parse_headers(&args.headers)?;
    let body = build_body(read_body(&args)?.as_deref(), args.stream)?;
    let probes = args
        .cpu
        .iter()
        .map(|c| parse_cpu_probe(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(args.clk_tck >= 1, "--clk-tck must be at least 1");
    // Fail before sending anything if a probed process is not there.
    sample_cpu(&probes)?;
    let duration = secs(args.duration, "--duration")?;
    let warmup = secs(args.warmup, "--warmup")?;
    let timeout = secs(args.timeout, "--timeout")?;
    anyhow::ensure!(!duration.is_zero(), "--duration must be > 0");
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    let mode = match (args.concurrency, args.rate) {
        (Some(n), None) => {
            anyhow::ensure!(n >= 1, "--concurrency must be at least 1");
            Mode::Closed(n)
        }
        (None, Some(r)) => {
            anyhow::ensure!(r.is_finite() && r > 0.0, "--rate must be > 0");
            anyhow::ensure!(args.max_inflight >= 1, "--max-inflight must be at least 1");
            Mode::Open(r)
        }
        (None, None) => bail!("give either --concurrency N or --rate R"),
        (Some(_), Some(_)) => bail!("--concurrency and --rate are mutually exclusive"),
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("building tokio runtime")?;

    let target = {
        let _guard = rt.enter();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        Arc::new(Target {
            client,
            uri,
            headers,
            body,
            timeout,
        })
    };
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let end = measure_from + duration;
    let cpu_before = sample_cpu_at(probes.clone(), measure_from);
    let (stats, cap_waits) = match mode {
        Mode::Closed(n) => rt
            .block_on(closed_loop(target, n, measure_from, end))
            .map(|s| (s, 0))?,
        Mode::Open(r) => open_loop(
            rt.handle(),
            target,
            r,
            args.max_inflight,
            begin,
            measure_from,
            end,
        )?,
    };
    // Every measured request has completed here (closed loop: workers stop after their last
    // request; open loop: everything in flight was awaited).
    let cpu_after = sample_cpu(&probes)?;
    let cpu_before = cpu_before
        .join()
        .map_err(|_| anyhow::anyhow!("CPU sampler thread panicked"))??;
    rt.shutdown_timeout(Duration::from_millis(100));

    let Stats {
        mut lat_us,
        mut ttfb_us,
        ok,
        errors,
        sent,
    } = stats;
    lat_us.sort_unstable();
    ttfb_us.sort_unstable();
    let err_total: u64 = errors.values().sum();
    let secs_measured = duration.as_secs_f64();
    let rps = ok as f64 / secs_measured;
    let latency = summary(&lat_us);
    let ttfb = if args.stream {
        summary(&ttfb_us)
    } else {
        serde_json::Value::Null
    };
    let (mode_name, concurrency, rate) = match mode {
        Mode::Closed(n) => ("closed", Some(n), None),
        Mode::Open(r) => ("open", None, Some(r)),
    };
    let result = json!({
        "url": args.url,
        "mode": mode_name,
        "concurrency": concurrency,
        "rate": rate,
        "stream": args.stream,
        "duration_s": secs_measured,
        "warmup_s": warmup.as_secs_f64(),
        "requests": ok + err_total,
        "ok": ok,
        "errors": err_total,
        "errors_by_kind": errors,
        "rps": (rps * 10.0).round() / 10.0,
        "latency_ms": latency,
        "ttfb_ms": ttfb,
        "inflight_cap_waits": cap_waits,
        "sent_total": sent,
        "cpu": cpu_report(&probes, &cpu_before, &cpu_after, args.clk_tck, ok),
    });
    if args.json {
        println!("{result}");
    } else {
        println!("url:          {}", args.url);
        match mode {
            Mode::Closed(n) => println!("mode:         closed loop, concurrency {n}"),
            Mode::Open(r) => println!(
                "mode:         open loop, {r} req/s (in-flight cap {}, cap hit {cap_waits}x)",
                args.max_inflight
            ),
        }
        println!(
            "measured:     {secs_measured:.1} s after {:.1} s warm-up",
            warmup.as_secs_f64()
        );
        println!(
            "requests:     {} ({} ok, {} errors)",
            ok + err_total,
            ok,
            err_total
        );
        for (k, v) in &errors {
            println!("  {k}: {v}");
        }
        println!("req/s (ok):   {rps:.1}");
        println!(
            "latency ms:   p50 {}  p90 {}  p99 {}  max {}",
            fmt_ms(&latency, "p50"),
            fmt_ms(&latency, "p90"),
            fmt_ms(&latency, "p99"),
            fmt_ms(&latency, "max")
        );
        if args.stream {
            println!(
                "ttfb ms:      p50 {}  p90 {}  p99 {}  max {}",
                fmt_ms(&ttfb, "p50"),
                fmt_ms(&ttfb, "p90"),
                fmt_ms(&ttfb, "p99"),
                fmt_ms(&ttfb, "max")
            );
        }
        if let Some(map) = result["cpu"].as_object() {
            for (label, v) in map {
                println!(
                    "cpu {label}: {} s, {} us/request",
                    fmt_ms(v, "cpu_s"),
                    fmt_ms(v, "us_per_req")
                );
            }
        }
    }
    Ok(())
}

/// `{label: {pids, ticks, cpu_s, us_per_req}}` for every probe and for the generator itself.
fn cpu_report(
    probes: &[CpuProbe],
    before: &(Vec<u64>, u64),
    after: &(Vec<u64>, u64),
    clk_tck: u32,
    ok: u64,
) -> serde_json::Value {
    let entry = |pids: Vec<u32>, ticks: u64| {
        let cpu_s = ticks as f64 / f64::from(clk_tck);
        let per_req = if ok == 0 {
            serde_json::Value::Null
        } else {
            json!((cpu_s * 1e6 / ok as f64 * 100.0).round() / 100.0)
        };
        json!({ "pids": pids, "ticks": ticks, "cpu_s": cpu_s, "us_per_req": per_req })
    };
    let mut map = serde_json::Map::new();
    for (i, p) in probes.iter().enumerate() {
        let ticks = after.0[i].saturating_sub(before.0[i]);
        map.insert(p.label.clone(), entry(p.pids.clone(), ticks));
    }
    map.insert(
        "loadgen".into(),
        entry(vec![std::process::id()], after.1.saturating_sub(before.1)),
    );
    serde_json::Value::Object(map)
}

#[derive(Clone, Copy)]
enum Mode {
    Closed(usize),
    Open(f64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert!(parse_loopback_url("http://127.0.0.1:8080/v1/chat/completions").is_ok());
        assert!(parse_loopback_url("http://localhost:1/x").is_ok());
        assert!(parse_loopback_url("http://[::1]:1/x").is_ok());
        assert!(parse_loopback_url("http://10.0.0.1:1/x").is_err());
        assert!(parse_loopback_url("http://example.com/x").is_err());
        assert!(parse_loopback_url("https://127.0.0.1/x").is_err());
        assert!(parse_loopback_url("http://127.0.0.1.example.com/x").is_err());
        assert!(parse_loopback_url("/v1/chat").is_err());
    }

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(pct_ms(&v, 50.0), Some(50.0));
        assert_eq!(pct_ms(&v, 99.0), Some(99.0));
        assert_eq!(pct_ms(&v, 100.0), Some(100.0));
        assert_eq!(pct_ms(&[], 50.0), None);
    }

    #[test]
    fn stat_fields() {
        let line =
            "4242 (tokio (w) 1) S 1 4242 4242 0 -1 4194560 1000 0 3 0 250 75 0 0 20 0 9 0 123 0 0";
        assert_eq!(stat_ticks(line), Some(325));
        assert_eq!(stat_ticks("4242 (x) S 1 2"), None);
        assert_eq!(stat_ticks("no parenthesis"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(stat_ticks(&own).is_some());
    }

    #[test]
    fn cpu_probe_args() {
        assert_eq!(
            parse_cpu_probe("proxy=10, 11,12").unwrap(),
            CpuProbe {
                label: "proxy".into(),
                pids: vec![10, 11, 12]
            }
        );
        assert!(parse_cpu_probe("proxy").is_err());
        assert!(parse_cpu_probe("=1").is_err());
        assert!(parse_cpu_probe("mock=abc").is_err());
    }

    #[test]
    fn stream_body() {
        let b = build_body(None, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["model"], "bench-model");
    }
}
