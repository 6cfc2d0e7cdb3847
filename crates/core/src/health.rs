//! Live health of upstreams and upstream keys, fed by traffic (passive) and by probes
//! (active).
//!
//! Per upstream (provider + upstream model): in-flight count, EWMA latency (time to first
//! token for streams), EWMA success rate, counters, a latency sample ring for percentiles,
//! and a circuit breaker. Per key: cooldown after a 429 (honouring `Retry-After`), an invalid
//! mark after a 401/403, and QPS/RPM windows. Everything is in memory and lock-light; no
//! request waits on I/O here.

use moka::sync::Cache;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::SharedClock;
use crate::tracked::Tracked;

/// Most upstreams and keys whose live state is kept. The catalogue's own are far fewer; the
/// bound only matters when clients make up names (discovery, `ALLOW_UNKNOWN_MODELS`): the
/// least recently used state is then forgotten instead of growing without end.
pub const MAX_TRACKED: u64 = 4096;

/// Breaker and scoring parameters.
#[derive(Debug, Clone)]
pub struct HealthSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// Error rate over `window` that opens the circuit (with at least `min_requests`).
    pub error_rate_threshold: f64,
    pub window: Duration,
    pub min_requests: u32,
    /// How long an open circuit waits before a half-open trial.
    pub open_for: Duration,
    /// Cooldown of a key after a 429 without `Retry-After`.
    pub default_cooldown: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            error_rate_threshold: 0.5,
            window: Duration::from_secs(30),
            min_requests: 10,
            open_for: Duration::from_secs(10),
            default_cooldown: Duration::from_secs(10),
        }
    }
}

/// Circuit state of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
struct Breaker {
    state: Circuit,
    opened_at: Option<Instant>,
    consecutive_failures: u32,
    /// (time, ok) of recent outcomes within the window.
    recent: VecDeque<(Instant, bool)>,
    trial_in_flight: bool,
    /// When the current half-open trial was admitted. A trial whose request vanished (the
    /// client went away and the request was dropped) must not block the circuit forever:
    /// after `open_for` another trial is admitted.
    trial_at: Option<Instant>,
    last_error: Option<String>,
    last_change: Instant,
}

const SAMPLES: usize = 512;
const ALPHA: f64 = 0.3;

/// Live statistics of one upstream.
#[derive(Debug)]
pub struct UpstreamStats {
    clock: SharedClock,
    pub in_flight: AtomicI64,
    pub requests: AtomicU64,
    pub successes: AtomicU64,
    pub failures: AtomicU64,
    inner: Mutex<StatsInner>,
    breaker: Mutex<Breaker>,
}

#[derive(Debug)]
struct StatsInner {
    ewma_latency_ms: Option<f64>,
    ewma_success: f64,
    samples: VecDeque<f64>,
}

/// A snapshot for APIs and scoring.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatsView {
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    pub in_flight: i64,
    pub ewma_latency_ms: Option<f64>,
    pub success_rate: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub circuit: Circuit,
    pub consecutive_failures: u32,
    pub error_rate: f64,
    pub last_error: Option<String>,
}

impl UpstreamStats {
    fn new(clock: SharedClock) -> Self {
        let now = clock.now();
        Self {
            clock,
            in_flight: AtomicI64::new(0),
            requests: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            inner: Mutex::new(StatsInner {
                ewma_latency_ms: None,
                ewma_success: 1.0,
                samples: VecDeque::with_capacity(SAMPLES),
            }),
            breaker: Mutex::new(Breaker {
                state: Circuit::Closed,
                opened_at: None,
                consecutive_failures: 0,
                recent: VecDeque::new(),
                trial_in_flight: false,
                trial_at: None,
                last_error: None,
                last_change: now,
            }),
        }
    }

    /// Marks an attempt as started; the guard decrements in-flight when dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Whether the circuit lets a request through now; moves Open → HalfOpen after the
    /// cooldown and admits a single trial.
    pub fn admits(&self, s: &HealthSettings) -> bool {
        let now = self.clock.now();
        let Ok(mut b) = self.breaker.lock() else {
            return true;
        };
        match b.state {
            Circuit::Closed => true,
            Circuit::Open => {
                if b.opened_at
                    .is_some_and(|t| now.saturating_duration_since(t) >= s.open_for)
                {
                    b.state = Circuit::HalfOpen;
                    b.trial_in_flight = true;
                    b.trial_at = Some(now);
                    b.last_change = now;
                    true
                } else {
                    false
                }
            }
            Circuit::HalfOpen => {
                let stale = b
                    .trial_at
                    .is_none_or(|t| now.saturating_duration_since(t) >= s.open_for);
                if b.trial_in_flight && !stale {
                    false
                } else {
                    b.trial_in_flight = true;
                    b.trial_at = Some(now);
                    true
                }
            }
        }
    }

    /// The circuit state without side effects (an expired Open reads as HalfOpen).
    pub fn circuit(&self, s: &HealthSettings) -> Circuit {
        let now = self.clock.now();
        match self.breaker.lock() {
            Ok(b)
                if b.state == Circuit::Open
                    && b.opened_at
                        .is_some_and(|t| now.saturating_duration_since(t) >= s.open_for) =>
            {
                Circuit::HalfOpen
            }
            Ok(b) => b.state,
            Err(_) => Circuit::Closed,
        }
    }

    /// Records a successful attempt with its latency (time to first token for streams).
    pub fn success(&self, latency: Duration) {
        let now = self.clock.now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.successes.fetch_add(1, Ordering::Relaxed);
        let ms = latency.as_secs_f64() * 1000.0;
        if let Ok(mut i) = self.inner.lock() {
            i.ewma_latency_ms = Some(i.ewma_latency_ms.map_or(ms, |e| e + ALPHA * (ms - e)));
            i.ewma_success += ALPHA * (1.0 - i.ewma_success);
            if i.samples.len() == SAMPLES {
                i.samples.pop_front();
            }
            i.samples.push_back(ms);
        }
        if let Ok(mut b) = self.breaker.lock() {
            b.consecutive_failures = 0;
            push_recent(&mut b.recent, true, now);
            if b.state != Circuit::Closed {
                b.state = Circuit::Closed;
                b.opened_at = None;
                b.last_change = now;
            }
            b.trial_in_flight = false;
        }
    }

    /// Records a failed attempt (connect error, timeout, 5xx, broken stream). Returns true
    /// when this failure opened the circuit.
    pub fn failure(&self, error: &str, latency: Duration, s: &HealthSettings) -> bool {
        let now = self.clock.now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut i) = self.inner.lock() {
            i.ewma_success += ALPHA * (0.0 - i.ewma_success);
            // A failure costs at least what it took (timeouts make an upstream look slow).
            let ms = latency.as_secs_f64() * 1000.0;
            i.ewma_latency_ms = Some(
                i.ewma_latency_ms
                    .map_or(ms, |e| e + ALPHA * (ms.max(e) - e)),
            );
        }
        let Ok(mut b) = self.breaker.lock() else {
            return false;
        };
        b.consecutive_failures += 1;
        b.last_error = Some(error.chars().take(300).collect());
        push_recent(&mut b.recent, false, now);
        prune(&mut b.recent, s.window, now);
        let total = b.recent.len() as u32;
        let errors = b.recent.iter().filter(|(_, ok)| !ok).count() as f64;
        let rate_trip =
            total >= s.min_requests && errors / f64::from(total.max(1)) >= s.error_rate_threshold;
        let trip = b.state == Circuit::HalfOpen
            || b.consecutive_failures >= s.failure_threshold
            || rate_trip;
        b.trial_in_flight = false;
        if trip && b.state != Circuit::Open {
            b.state = Circuit::Open;
            b.opened_at = Some(now);
            b.last_change = now;
            return true;
        }
        if trip {
            b.opened_at = Some(now);
        }
        false
    }

    /// A good active probe: an open circuit may try again at once.
    pub fn probe_ok(&self) {
        let now = self.clock.now();
        if let Ok(mut b) = self.breaker.lock()
            && b.state == Circuit::Open
        {
            b.state = Circuit::HalfOpen;
            b.trial_in_flight = false;
            b.last_change = now;
        }
    }

    /// Releases a half-open trial that was not used (no key could be tried).
    pub fn release_trial(&self) {
        if let Ok(mut b) = self.breaker.lock() {
            b.trial_in_flight = false;
        }
    }

    /// Releases a half-open trial that ended without a verdict (e.g. a client error).
    pub fn neutral(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut b) = self.breaker.lock() {
            b.trial_in_flight = false;
        }
    }

    /// What strategies need, cheaply: (in flight, EWMA latency, success rate).
    pub fn snapshot(&self) -> (i64, Option<f64>, f64) {
        let (ewma, success) = match self.inner.lock() {
            Ok(i) => (i.ewma_latency_ms, i.ewma_success),
            Err(_) => (None, 1.0),
        };
        (self.in_flight.load(Ordering::Relaxed), ewma, success)
    }

    pub fn view(&self, s: &HealthSettings) -> StatsView {
        let now = self.clock.now();
        let (ewma, success_rate, mut samples) = match self.inner.lock() {
            Ok(i) => (
                i.ewma_latency_ms,
                i.ewma_success,
                i.samples.iter().copied().collect::<Vec<_>>(),
            ),
            Err(_) => (None, 1.0, vec![]),
        };
        samples.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            (!samples.is_empty())
                .then(|| samples[((samples.len() - 1) as f64 * p).round() as usize])
        };
        let (consecutive_failures, error_rate, last_error) = match self.breaker.lock() {
            Ok(mut b) => {
                prune(&mut b.recent, s.window, now);
                let total = b.recent.len().max(1) as f64;
                let errs = b.recent.iter().filter(|(_, ok)| !ok).count() as f64;
                (
                    b.consecutive_failures,
                    if b.recent.is_empty() {
                        0.0
                    } else {
                        errs / total
                    },
                    b.last_error.clone(),
                )
            }
            Err(_) => (0, 0.0, None),
        };
        StatsView {
            requests: self.requests.load(Ordering::Relaxed),
            successes: self.successes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            ewma_latency_ms: ewma,
            success_rate,
            latency_p50_ms: pct(0.5),
            latency_p90_ms: pct(0.9),
            latency_p99_ms: pct(0.99),
            circuit: self.circuit(s),
            consecutive_failures,
            error_rate,
            last_error,
        }
    }
}

fn push_recent(q: &mut VecDeque<(Instant, bool)>, ok: bool, now: Instant) {
    if q.len() >= 1024 {
        q.pop_front();
    }
    q.push_back((now, ok));
}

fn prune(q: &mut VecDeque<(Instant, bool)>, window: Duration, now: Instant) {
    while q
        .front()
        .is_some_and(|(t, _)| now.saturating_duration_since(*t) > window)
    {
        q.pop_front();
    }
}

/// Releases a half-open trial when dropped, so a request that is cancelled (client gone)
/// between admission and verdict never leaves the circuit waiting for it. Harmless after a
/// verdict: success and failure have already cleared the trial.
pub struct TrialRelease(pub Arc<UpstreamStats>);

impl Drop for TrialRelease {
    fn drop(&mut self) {
        self.0.release_trial();
    }
}

/// Decrements the in-flight count of an upstream when dropped.
pub struct InFlight(Arc<UpstreamStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// State of one upstream key.
#[derive(Debug)]
pub struct KeyState {
    clock: SharedClock,
    cooldown_until: Mutex<Option<Instant>>,
    /// Set after a 401/403 from the upstream, with the reason; cleared when the key changes.
    invalid: Mutex<Option<String>>,
    /// Send times within the last minute (for max QPS / max RPM).
    sent: Mutex<VecDeque<Instant>>,
}

/// A key's state for the health API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyView {
    /// `ok`, `cooldown` or `invalid`.
    pub state: &'static str,
    pub cooldown_remaining_ms: Option<u64>,
    pub invalid_reason: Option<String>,
    pub requests_last_minute: usize,
}

impl KeyState {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            cooldown_until: Mutex::new(None),
            invalid: Mutex::new(None),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether the key may be used now under its QPS/RPM limits; if so, counts the use.
    pub fn try_acquire(&self, max_qps: Option<i64>, max_rpm: Option<i64>) -> bool {
        let now = self.clock.now();
        if self.invalid.lock().map(|g| g.is_some()).unwrap_or(false) {
            return false;
        }
        if let Ok(mut c) = self.cooldown_until.lock() {
            match *c {
                Some(t) if now < t => return false,
                Some(_) => *c = None,
                None => {}
            }
        }
        let Ok(mut sent) = self.sent.lock() else {
            return true;
        };
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > Duration::from_secs(60))
        {
            sent.pop_front();
        }
        if let Some(rpm) = max_rpm
            && sent.len() as i64 >= rpm
        {
            return false;
        }
        if let Some(qps) = max_qps {
            let last_second = sent
                .iter()
                .rev()
                .take_while(|t| now.saturating_duration_since(**t) < Duration::from_secs(1))
                .count() as i64;
            if last_second >= qps {
                return false;
            }
        }
        if max_qps.is_some() || max_rpm.is_some() {
            sent.push_back(now);
        }
        true
    }

    pub fn cool_down(&self, d: Duration) {
        let now = self.clock.now();
        if let Ok(mut c) = self.cooldown_until.lock() {
            *c = Some(now + d);
        }
    }

    pub fn mark_invalid(&self, reason: String) {
        if let Ok(mut i) = self.invalid.lock() {
            *i = Some(reason);
        }
    }

    pub fn view(&self) -> KeyView {
        let now = self.clock.now();
        let invalid = self.invalid.lock().ok().and_then(|g| g.clone());
        let remaining = self
            .cooldown_until
            .lock()
            .ok()
            .and_then(|g| *g)
            .and_then(|t| t.checked_duration_since(now))
            .map(|d| d.as_millis() as u64);
        let recent = self
            .sent
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|t| now.saturating_duration_since(**t) < Duration::from_secs(60))
                    .count()
            })
            .unwrap_or(0);
        KeyView {
            state: if invalid.is_some() {
                "invalid"
            } else if remaining.is_some() {
                "cooldown"
            } else {
                "ok"
            },
            cooldown_remaining_ms: remaining,
            invalid_reason: invalid,
            requests_last_minute: recent,
        }
    }
}

/// Result of the last active probe of a provider.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeResult {
    pub at_ms: i64,
    pub ok: bool,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// All live health state, keyed by stable ids (survives catalogue reloads), bounded to
/// `MAX_TRACKED` entries per map.
#[derive(Debug)]
pub struct HealthRegistry {
    pub settings: HealthSettings,
    clock: SharedClock,
    upstreams: Tracked<UpstreamStats>,
    /// Keyed by key id + a hash of the secret, so a changed secret starts fresh.
    keys: Tracked<KeyState>,
    probes: Cache<String, ProbeResult>,
}

/// The stats key of an upstream.
pub fn upstream_id(provider_id: &str, upstream_model: &str) -> String {
    let mut id = String::with_capacity(provider_id.len() + 1 + upstream_model.len());
    id.push_str(provider_id);
    id.push('\u{1f}');
    id.push_str(upstream_model);
    id
}

impl HealthRegistry {
    pub fn new(settings: HealthSettings, clock: SharedClock) -> Self {
        Self {
            settings,
            clock,
            upstreams: Tracked::new(MAX_TRACKED),
            keys: Tracked::new(MAX_TRACKED),
            probes: Cache::new(MAX_TRACKED),
        }
    }

    pub fn upstream(&self, id: &str) -> Arc<UpstreamStats> {
        self.upstreams
            .get_or(id, || UpstreamStats::new(self.clock.clone()))
    }

    /// Stats of every upstream of a provider, with their upstream model names.
    pub fn upstreams_of(&self, provider_id: &str) -> Vec<(String, Arc<UpstreamStats>)> {
        let prefix = format!("{provider_id}\u{1f}");
        let mut v: Vec<_> = self
            .upstreams
            .iter()
            .filter_map(|(k, s)| k.strip_prefix(&prefix).map(|model| (model.to_owned(), s)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn key(&self, key_id: &str, secret: &str) -> Arc<KeyState> {
        // `<key id>:<hash of the secret, 16 hex digits>`, written without `format!`: this runs
        // on every attempt.
        let mut id = String::with_capacity(key_id.len() + 17);
        id.push_str(key_id);
        id.push(':');
        let h = fxhash(secret);
        for shift in (0..16).rev() {
            let nibble = ((h >> (shift * 4)) & 0xf) as u32;
            id.push(char::from_digit(nibble, 16).unwrap_or('0'));
        }
        self.keys.get_or(&id, || KeyState::new(self.clock.clone()))
    }

    pub fn set_probe(&self, provider_id: &str, r: ProbeResult) {
        self.probes.insert(provider_id.to_owned(), r);
    }

    pub fn probe(&self, provider_id: &str) -> Option<ProbeResult> {
        self.probes.get(provider_id)
    }

    /// How many upstreams and keys have live state (for tests and metrics).
    pub fn tracked(&self) -> (u64, u64) {
        (self.upstreams.len(), self.keys.len())
    }
}

/// A small non-cryptographic hash (FNV-1a) to tell secrets apart without keeping them.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn stats(c: &Arc<ManualClock>) -> UpstreamStats {
        UpstreamStats::new(c.clone())
    }

    fn fast() -> HealthSettings {
        HealthSettings {
            failure_threshold: 3,
            open_for: Duration::from_millis(50),
            ..Default::default()
        }
    }

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let s = fast();
        let c = ManualClock::new();
        let u = stats(&c);
        assert!(u.admits(&s));
        assert!(!u.failure("x", Duration::from_millis(5), &s));
        assert!(!u.failure("x", Duration::from_millis(5), &s));
        assert!(
            u.failure("x", Duration::from_millis(5), &s),
            "third consecutive failure opens"
        );
        assert!(!u.admits(&s));
        c.advance(Duration::from_millis(60));
        assert!(u.admits(&s), "half-open trial after cooldown");
        assert!(!u.admits(&s), "only one trial at a time");
        u.success(Duration::from_millis(5));
        assert_eq!(u.circuit(&s), Circuit::Closed);
        assert!(u.admits(&s));
    }

    #[test]
    fn a_single_error_disables_nothing() {
        let s = HealthSettings::default();
        let c = ManualClock::new();
        let u = stats(&c);
        u.success(Duration::from_millis(1));
        u.failure("x", Duration::from_millis(1), &s);
        assert!(u.admits(&s));
        assert_eq!(u.circuit(&s), Circuit::Closed);
    }

    #[test]
    fn an_abandoned_trial_expires() {
        let s = fast();
        let c = ManualClock::new();
        let u = stats(&c);
        for _ in 0..3 {
            u.failure("x", Duration::from_millis(1), &s);
        }
        c.advance(Duration::from_millis(60));
        assert!(u.admits(&s), "trial admitted");
        assert!(!u.admits(&s), "one trial at a time");
        // The trial's request is dropped: no success, failure or release ever comes.
        c.advance(Duration::from_millis(60));
        assert!(u.admits(&s), "a new trial after open_for");
        u.success(Duration::from_millis(1));
        assert_eq!(u.circuit(&s), Circuit::Closed);
    }

    #[test]
    fn failed_trial_reopens() {
        let s = fast();
        let c = ManualClock::new();
        let u = stats(&c);
        for _ in 0..3 {
            u.failure("x", Duration::from_millis(1), &s);
        }
        c.advance(Duration::from_millis(60));
        assert!(u.admits(&s));
        u.failure("x", Duration::from_millis(1), &s);
        assert_eq!(u.circuit(&s), Circuit::Open);
    }

    #[test]
    fn key_limits_and_cooldown() {
        let c = ManualClock::new();
        let k = KeyState::new(c.clone());
        assert!(k.try_acquire(Some(2), None));
        assert!(k.try_acquire(Some(2), None));
        assert!(
            !k.try_acquire(Some(2), None),
            "third in the same second exceeds max_qps"
        );
        let k = KeyState::new(c.clone());
        k.cool_down(Duration::from_millis(30));
        assert!(!k.try_acquire(None, None));
        c.advance(Duration::from_millis(40));
        assert!(k.try_acquire(None, None));
        k.mark_invalid("401".into());
        assert!(!k.try_acquire(None, None));
        assert_eq!(k.view().state, "invalid");
    }

    #[test]
    fn qps_window_moves_with_the_clock() {
        let c = ManualClock::new();
        let k = KeyState::new(c.clone());
        assert!(k.try_acquire(Some(1), Some(2)));
        assert!(
            !k.try_acquire(Some(1), Some(2)),
            "second in the same second"
        );
        c.advance(Duration::from_millis(1001));
        assert!(k.try_acquire(Some(1), Some(2)));
        c.advance(Duration::from_millis(1001));
        assert!(
            !k.try_acquire(Some(1), Some(2)),
            "max_rpm 2 reached within the minute"
        );
        c.advance(Duration::from_secs(60));
        assert!(k.try_acquire(Some(1), Some(2)));
    }

    #[test]
    fn registry_is_bounded() {
        let r = HealthRegistry::new(HealthSettings::default(), ManualClock::new());
        for i in 0..(MAX_TRACKED * 3) {
            r.upstream(&upstream_id("p", &format!("m{i}")));
        }
        let (ups, _) = r.tracked();
        assert!(ups <= MAX_TRACKED + MAX_TRACKED / 10, "{ups}");
    }
}
