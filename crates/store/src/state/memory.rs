//! The in-process state backend: one instance, no other service.
//!
//! Owns the memory tables behind [`MemoryState`]: counters, leases and settlement markers in one
//! mutex-guarded set of maps (an admission over several counters holds the one lock, which is
//! what makes it all-or-nothing), the response cache in a byte-bounded moka cache, session KV and
//! change versions. It follows the Redis Lua scripts rule for rule (same clamping, same
//! retry-after, same expiry judged against the caller's `now_ms`); the shared test suite holds
//! the two to the same behaviour. Must not do I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::model::{
    Adjustment, Admission, Admitted, Charge, Counter, CounterKind, Refused, Settled, StateError,
    StateHealth, Tier, check_adjustments, check_charges, check_counter, check_now, period_ttl_ms,
    window_shape,
};

/// How often (in caller time) expired entries are swept out of the tables.
const SWEEP_EVERY_MS: i64 = 60_000;

/// Settings of the in-process backend.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Bound of the response cache, in bytes of keys plus values.
    pub cache_max_bytes: u64,
    /// How long a settlement id is remembered (double settles within it are no-ops).
    pub settle_marker_ttl_ms: i64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            cache_max_bytes: 256 * 1024 * 1024,
            settle_marker_ttl_ms: 10 * 60_000,
        }
    }
}

/// The in-process backend. Cloning shares the same tables.
#[derive(Clone)]
pub struct MemoryState {
    tables: Arc<Mutex<Tables>>,
    cache: moka::sync::Cache<String, Expiring>,
    settle_marker_ttl_ms: i64,
}

impl std::fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryState")
            .field("cache_entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

/// A value with its logical expiry (caller clock) and relative TTL (for moka's own eviction).
#[derive(Clone)]
struct Expiring {
    bytes: Bytes,
    expires_at_ms: i64,
    ttl: Duration,
}

struct CacheExpiry;

impl moka::Expiry<String, Expiring> for CacheExpiry {
    fn expire_after_create(&self, _: &String, value: &Expiring, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Expiring,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Most settlement markers kept (each a few hundred bytes).
const MAX_SETTLE_MARKERS: usize = 65_536;

#[derive(Default)]
struct Tables {
    windows: HashMap<String, WindowData>,
    counts: HashMap<String, Count>,
    leases: HashMap<String, HashMap<String, i64>>,
    markers: HashMap<String, Marker>,
    /// Settlement ids in insertion order (= expiry order: one TTL for all), to drop the oldest
    /// marker when `MAX_SETTLE_MARKERS` are kept.
    marker_order: VecDeque<String>,
    kv: HashMap<String, Expiring>,
    versions: HashMap<String, u64>,
    last_sweep_ms: i64,
}

struct WindowData {
    /// bucket index → amount
    buckets: BTreeMap<i64, i64>,
    expires_at_ms: i64,
}

struct Count {
    used: i64,
    expires_at_ms: Option<i64>,
}

struct Marker {
    expires_at_ms: i64,
    amounts: Vec<Vec<i64>>,
}

/// A counter resolved for one call: its kind with the window geometry computed.
enum Resolved<'a> {
    Window {
        key: &'a str,
        cur: i64,
        nb: i64,
        b: i64,
    },
    Count {
        key: &'a str,
        ttl_ms: Option<i64>,
        ends_at_ms: Option<i64>,
    },
    Lease {
        key: &'a str,
        id: &'a str,
        ttl_ms: i64,
    },
}

fn resolve(counter: &Counter, now_ms: i64) -> Result<Resolved<'_>, StateError> {
    Ok(match &counter.kind {
        CounterKind::Window {
            window_ms,
            bucket_ms,
        } => {
            let (b, nb) = window_shape(*window_ms, *bucket_ms)?;
            Resolved::Window {
                key: &counter.key,
                cur: now_ms.div_euclid(b),
                nb,
                b,
            }
        }
        CounterKind::Period { ends_at_ms } => Resolved::Count {
            key: &counter.key,
            ttl_ms: Some(period_ttl_ms(*ends_at_ms, now_ms)),
            ends_at_ms: Some(*ends_at_ms),
        },
        CounterKind::Total => Resolved::Count {
            key: &counter.key,
            ttl_ms: None,
            ends_at_ms: None,
        },
        CounterKind::Lease { lease_id, ttl_ms } => Resolved::Lease {
            key: &counter.key,
            id: lease_id,
            ttl_ms: *ttl_ms,
        },
    })
}

impl Tables {
    /// The used amount of a counter at `now`, dropping what has expired.
    fn used(&mut self, c: &Resolved<'_>, now: i64) -> i64 {
        match *c {
            Resolved::Window { key, cur, nb, .. } => {
                let Some(w) = self.windows.get_mut(key) else {
                    return 0;
                };
                if w.expires_at_ms <= now {
                    self.windows.remove(key);
                    return 0;
                }
                w.buckets = w.buckets.split_off(&(cur - nb + 1));
                w.buckets.values().fold(0i64, |s, v| s.saturating_add(*v))
            }
            Resolved::Count { key, .. } => match self.counts.get(key) {
                Some(count) if count.expires_at_ms.is_none_or(|e| e > now) => count.used,
                Some(_) => {
                    self.counts.remove(key);
                    0
                }
                None => 0,
            },
            Resolved::Lease { key, .. } => {
                let Some(set) = self.leases.get_mut(key) else {
                    return 0;
                };
                set.retain(|_, expires| *expires > now);
                let n = set.len() as i64;
                if n == 0 {
                    self.leases.remove(key);
                }
                n
            }
        }
    }

    /// When `amount` more would fit under `limit`, given `used` now (see the admit script).
    fn retry_after(
        &self,
        c: &Resolved<'_>,
        used: i64,
        amount: i64,
        limit: i64,
        now: i64,
    ) -> Option<i64> {
        if amount > limit {
            return None;
        }
        match *c {
            Resolved::Window { key, nb, b, .. } => {
                let need = used.saturating_add(amount) - limit;
                let mut freed = 0i64;
                for (idx, v) in &self.windows.get(key)?.buckets {
                    freed = freed.saturating_add(*v);
                    if freed >= need {
                        return Some((idx + nb) * b - now);
                    }
                }
                None
            }
            Resolved::Count {
                ends_at_ms: Some(ends),
                ..
            } => Some((ends - now).max(0)),
            Resolved::Count { .. } | Resolved::Lease { .. } => None,
        }
    }

    /// Adds `delta` at bucket `at_idx` (windows) or to the counter, clamping at zero; returns
    /// the change actually made.
    fn add(&mut self, c: &Resolved<'_>, delta: i64, at_idx: i64, now: i64) -> i64 {
        if delta == 0 {
            return 0;
        }
        match *c {
            Resolved::Window { key, cur, nb, b } => {
                let field = if at_idx > cur - nb {
                    at_idx
                } else if delta > 0 {
                    cur
                } else {
                    return 0;
                };
                let w = self.windows.entry(key.to_owned()).or_insert(WindowData {
                    buckets: BTreeMap::new(),
                    expires_at_ms: 0,
                });
                if w.expires_at_ms <= now {
                    w.buckets.clear();
                }
                w.expires_at_ms = now + (nb + 1) * b;
                let v = w.buckets.entry(field).or_insert(0);
                let before = *v;
                *v = (before + delta).max(0);
                *v - before
            }
            Resolved::Count { key, ttl_ms, .. } => {
                let count = self.counts.entry(key.to_owned()).or_insert(Count {
                    used: 0,
                    expires_at_ms: None,
                });
                if count.expires_at_ms.is_some_and(|e| e <= now) {
                    count.used = 0;
                }
                if let Some(ttl) = ttl_ms {
                    count.expires_at_ms = Some(now + ttl);
                }
                let before = count.used;
                count.used = (before + delta).max(0);
                count.used - before
            }
            Resolved::Lease { key, id, ttl_ms } => {
                self.leases
                    .entry(key.to_owned())
                    .or_default()
                    .insert(id.to_owned(), now + ttl_ms);
                1
            }
        }
    }

    fn sweep(&mut self, now: i64) {
        // Callers race to the lock with slightly different clocks: only a clock that moved a
        // full period past the last sweep triggers one.
        if now - self.last_sweep_ms < SWEEP_EVERY_MS {
            return;
        }
        self.last_sweep_ms = now;
        self.windows.retain(|_, w| w.expires_at_ms > now);
        self.counts
            .retain(|_, c| c.expires_at_ms.is_none_or(|e| e > now));
        self.leases.retain(|_, set| {
            set.retain(|_, e| *e > now);
            !set.is_empty()
        });
        self.markers.retain(|_, m| m.expires_at_ms > now);
        while let Some(id) = self.marker_order.front()
            && !self.markers.contains_key(id)
        {
            self.marker_order.pop_front();
        }
        self.kv.retain(|_, v| v.expires_at_ms > now);
    }

    /// The cascade split of `amount` over tiers whose used amounts are `used`; `None` when it
    /// does not fit.
    fn spill(tiers: &[Tier], used: &[i64], amount: i64) -> Option<Vec<i64>> {
        let mut rem = amount;
        let mut takes = Vec::with_capacity(tiers.len());
        for (tier, used) in tiers.iter().zip(used) {
            let take = (tier.limit - used).max(0).min(rem);
            rem -= take;
            takes.push(take);
        }
        (rem == 0).then_some(takes)
    }
}

impl MemoryState {
    /// A fresh, empty backend.
    pub fn new(config: MemoryConfig) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(config.cache_max_bytes)
            .weigher(|k: &String, v: &Expiring| {
                u32::try_from(k.len() + v.bytes.len()).unwrap_or(u32::MAX)
            })
            .expire_after(CacheExpiry)
            .build();
        Self {
            tables: Arc::new(Mutex::new(Tables::default())),
            cache,
            settle_marker_ttl_ms: config.settle_marker_ttl_ms,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave a half-applied admission visible in a
        // way the maps cannot represent; keep serving.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// See [`StateBackend::admit`](super::StateBackend::admit).
    pub fn admit(&self, charges: &[Charge], now_ms: i64) -> Result<Admission, StateError> {
        check_charges(charges, now_ms)?;
        let mut t = self.lock();
        t.sweep(now_ms);
        // Check everything first.
        let mut plan: Vec<Vec<(Resolved<'_>, i64)>> = Vec::with_capacity(charges.len());
        let mut used_before = Vec::with_capacity(charges.len());
        for (index, charge) in charges.iter().enumerate() {
            match charge {
                Charge::Limit {
                    counter,
                    amount,
                    limit,
                } => {
                    let c = resolve(counter, now_ms)?;
                    let used = t.used(&c, now_ms);
                    if used.saturating_add(*amount) > *limit {
                        return Ok(Admission::Refused(Refused {
                            index,
                            retry_after_ms: t.retry_after(&c, used, *amount, *limit, now_ms),
                            used,
                            limit: *limit,
                        }));
                    }
                    plan.push(vec![(c, *amount)]);
                    used_before.push(used);
                }
                Charge::Cascade { tiers, amount } => {
                    let mut resolved = Vec::with_capacity(tiers.len());
                    let mut used = Vec::with_capacity(tiers.len());
                    for tier in tiers {
                        let c = resolve(&tier.counter, now_ms)?;
                        used.push(t.used(&c, now_ms));
                        resolved.push(c);
                    }
                    let Some(takes) = Tables::spill(tiers, &used, *amount) else {
                        return Ok(Admission::Refused(Refused {
                            index,
                            retry_after_ms: None,
                            used: used.iter().sum(),
                            limit: tiers.iter().map(|t| t.limit).sum(),
                        }));
                    };
                    used_before.push(used.iter().sum());
                    plan.push(resolved.into_iter().zip(takes).collect());
                }
            }
        }
        // Then apply everything.
        let mut taken = Vec::with_capacity(plan.len());
        for counters in plan {
            let mut row = Vec::with_capacity(counters.len());
            for (c, amount) in counters {
                let at_idx = match c {
                    Resolved::Window { cur, .. } => cur,
                    _ => 0,
                };
                t.add(&c, amount, at_idx, now_ms);
                row.push(amount);
            }
            taken.push(row);
        }
        Ok(Admission::Admitted(Admitted {
            at_ms: now_ms,
            taken,
            used_before,
        }))
    }

    /// See [`StateBackend::settle`](super::StateBackend::settle).
    pub fn settle(
        &self,
        settlement_id: &str,
        adjustments: &[Adjustment],
        now_ms: i64,
    ) -> Result<Settled, StateError> {
        check_adjustments(settlement_id, adjustments, now_ms)?;
        let mut t = self.lock();
        t.sweep(now_ms);
        if let Some(m) = t.markers.get(settlement_id)
            && m.expires_at_ms > now_ms
        {
            return Ok(Settled {
                first_time: false,
                amounts: m.amounts.clone(),
            });
        }
        let mut amounts = Vec::with_capacity(adjustments.len());
        for adjustment in adjustments {
            match adjustment {
                Adjustment::Add {
                    counter,
                    delta,
                    at_ms,
                } => {
                    let c = resolve(counter, now_ms)?;
                    let at_idx = bucket_of(counter, *at_ms);
                    t.used(&c, now_ms);
                    amounts.push(vec![t.add(&c, *delta, at_idx, now_ms)]);
                }
                Adjustment::Respill {
                    tiers,
                    reserved,
                    actual,
                    at_ms,
                } => {
                    let mut rem = *actual;
                    let mut row = Vec::with_capacity(tiers.len());
                    for (j, (tier, reserved)) in tiers.iter().zip(reserved).enumerate() {
                        let c = resolve(&tier.counter, now_ms)?;
                        let at_idx = bucket_of(&tier.counter, *at_ms);
                        let used = (t.used(&c, now_ms) - reserved).max(0);
                        let take = if j + 1 == tiers.len() {
                            rem
                        } else {
                            (tier.limit - used).max(0).min(rem)
                        };
                        rem -= take;
                        t.add(&c, take - reserved, at_idx, now_ms);
                        row.push(take);
                    }
                    amounts.push(row);
                }
                Adjustment::Release { key, lease_id } => {
                    if let Some(set) = t.leases.get_mut(key) {
                        set.remove(lease_id);
                        if set.is_empty() {
                            t.leases.remove(key);
                        }
                    }
                    amounts.push(Vec::new());
                }
            }
        }
        // Markers are bounded in number as well as in time: at thousands of settlements per
        // second a 10-minute TTL alone would keep millions. The oldest goes first; a repeat
        // of a settlement that old is no longer recognised (retries come within seconds).
        while t.markers.len() >= MAX_SETTLE_MARKERS {
            match t.marker_order.pop_front() {
                Some(old) => {
                    t.markers.remove(&old);
                }
                None => break,
            }
        }
        t.markers.insert(
            settlement_id.to_owned(),
            Marker {
                expires_at_ms: now_ms + self.settle_marker_ttl_ms,
                amounts: amounts.clone(),
            },
        );
        t.marker_order.push_back(settlement_id.to_owned());
        Ok(Settled {
            first_time: true,
            amounts,
        })
    }

    /// See [`StateBackend::usage`](super::StateBackend::usage).
    pub fn usage(&self, counters: &[Counter], now_ms: i64) -> Result<Vec<i64>, StateError> {
        check_now(now_ms)?;
        for c in counters {
            check_counter(c)?;
        }
        let mut t = self.lock();
        counters
            .iter()
            .map(|c| Ok(t.used(&resolve(c, now_ms)?, now_ms)))
            .collect()
    }

    /// See [`StateBackend::renew_lease`](super::StateBackend::renew_lease).
    pub fn renew_lease(
        &self,
        key: &str,
        lease_id: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StateError> {
        check_counter(&Counter::lease(key, lease_id, ttl_ms))?;
        check_now(now_ms)?;
        let mut t = self.lock();
        match t.leases.get_mut(key).and_then(|set| set.get_mut(lease_id)) {
            Some(expires) if *expires > now_ms => {
                *expires = now_ms + ttl_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// See [`StateBackend::cache_get`](super::StateBackend::cache_get).
    pub fn cache_get(&self, key: &str, now_ms: i64) -> Option<Bytes> {
        let e = self.cache.get(key)?;
        if e.expires_at_ms > now_ms {
            Some(e.bytes)
        } else {
            self.cache.invalidate(key);
            None
        }
    }

    /// See [`StateBackend::cache_put`](super::StateBackend::cache_put).
    pub fn cache_put(&self, key: &str, value: Bytes, ttl_ms: i64, now_ms: i64) {
        if ttl_ms <= 0 {
            return;
        }
        self.cache.insert(
            key.to_owned(),
            Expiring {
                bytes: value,
                expires_at_ms: now_ms + ttl_ms,
                ttl: Duration::from_millis(ttl_ms.unsigned_abs()),
            },
        );
    }

    /// See [`StateBackend::kv_get`](super::StateBackend::kv_get).
    pub fn kv_get(&self, key: &str, now_ms: i64) -> Option<Bytes> {
        let mut t = self.lock();
        match t.kv.get(key) {
            Some(e) if e.expires_at_ms > now_ms => Some(e.bytes.clone()),
            Some(_) => {
                t.kv.remove(key);
                None
            }
            None => None,
        }
    }

    /// See [`StateBackend::kv_set`](super::StateBackend::kv_set).
    pub fn kv_set(&self, key: &str, value: Bytes, ttl_ms: i64, now_ms: i64) {
        let mut t = self.lock();
        t.sweep(now_ms);
        if ttl_ms <= 0 {
            t.kv.remove(key);
            return;
        }
        t.kv.insert(
            key.to_owned(),
            Expiring {
                bytes: value,
                expires_at_ms: now_ms + ttl_ms,
                ttl: Duration::from_millis(ttl_ms.unsigned_abs()),
            },
        );
    }

    /// See [`StateBackend::kv_set_if_absent`](super::StateBackend::kv_set_if_absent).
    pub fn kv_set_if_absent(
        &self,
        key: &str,
        value: Bytes,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Bytes>, StateError> {
        check_now(now_ms)?;
        if ttl_ms <= 0 {
            return Err(StateError::Invalid(format!(
                "kv ttl_ms {ttl_ms} is not positive"
            )));
        }
        let mut t = self.lock();
        t.sweep(now_ms);
        if let Some(e) = t.kv.get(key)
            && e.expires_at_ms > now_ms
        {
            return Ok(Some(e.bytes.clone()));
        }
        t.kv.insert(
            key.to_owned(),
            Expiring {
                bytes: value,
                expires_at_ms: now_ms + ttl_ms,
                ttl: Duration::from_millis(ttl_ms.unsigned_abs()),
            },
        );
        Ok(None)
    }

    /// See [`StateBackend::kv_delete`](super::StateBackend::kv_delete).
    pub fn kv_delete(&self, key: &str) {
        self.lock().kv.remove(key);
    }

    /// See [`StateBackend::bump`](super::StateBackend::bump).
    pub fn bump(&self, topic: &str) -> u64 {
        let mut t = self.lock();
        let v = t.versions.entry(topic.to_owned()).or_insert(0);
        *v += 1;
        *v
    }

    /// See [`StateBackend::version`](super::StateBackend::version).
    pub fn version(&self, topic: &str) -> u64 {
        self.lock().versions.get(topic).copied().unwrap_or(0)
    }

    /// Always healthy: nothing here can fail to answer.
    pub fn health(&self) -> StateHealth {
        StateHealth {
            backend: "memory",
            healthy: true,
            errors_total: 0,
            last_error: None,
            last_error_at_ms: None,
        }
    }
}

/// The window bucket holding `at_ms` (0 for other kinds).
pub(crate) fn bucket_of(counter: &Counter, at_ms: i64) -> i64 {
    match counter.kind {
        CounterKind::Window { bucket_ms, .. } if bucket_ms > 0 => at_ms.div_euclid(bucket_ms),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_swept_so_memory_stays_bounded() {
        let m = MemoryState::new(MemoryConfig::default());
        let t0 = 1_000_000_000;
        for i in 0..100 {
            let charges = [
                Charge::limit(Counter::window(format!("w{i}"), 60_000, 1_000), 1, 10),
                Charge::limit(Counter::period(format!("p{i}"), t0 + 1_000), 1, 10),
                Charge::limit(Counter::lease(format!("l{i}"), "id", 5_000), 1, 10),
                Charge::limit(Counter::total(format!("t{i}")), 1, 10),
            ];
            assert!(matches!(m.admit(&charges, t0), Ok(Admission::Admitted(_))));
            m.settle(&format!("s{i}"), &[], t0).ok();
            m.kv_set(&format!("k{i}"), Bytes::from_static(b"v"), 1_000, t0);
        }
        {
            let t = m.lock();
            assert_eq!(
                (
                    t.windows.len(),
                    t.counts.len(),
                    t.leases.len(),
                    t.markers.len(),
                    t.kv.len()
                ),
                (100, 200, 100, 100, 100)
            );
        }
        // Past every expiry (the periods' retention included): one call sweeps them all; the
        // never-expiring totals stay.
        let later = t0 + 1_000 + super::super::model::PERIOD_RETENTION_MS + 1;
        m.kv_set("trigger", Bytes::from_static(b"v"), 1, later);
        let t = m.lock();
        assert_eq!(
            (
                t.windows.len(),
                t.counts.len(),
                t.leases.len(),
                t.markers.len(),
                t.kv.len()
            ),
            (0, 100, 0, 0, 1)
        );
        assert!(
            t.marker_order.is_empty(),
            "the order of swept markers goes too"
        );
    }

    #[test]
    fn settlement_markers_are_bounded_in_number_oldest_first() {
        let m = MemoryState::new(MemoryConfig::default());
        let t0 = 1_000_000_000;
        let n = MAX_SETTLE_MARKERS + 10;
        for i in 0..n {
            assert!(m.settle(&format!("s{i}"), &[], t0).unwrap().first_time);
        }
        {
            let t = m.lock();
            assert_eq!(t.markers.len(), MAX_SETTLE_MARKERS);
            assert_eq!(t.marker_order.len(), MAX_SETTLE_MARKERS);
            assert!(!t.markers.contains_key("s0"));
            assert!(t.markers.contains_key(&format!("s{}", n - 1)));
        }
        // A recent settlement is still recognised as a repeat.
        let again = m.settle(&format!("s{}", n - 1), &[], t0).unwrap();
        assert!(!again.first_time);
    }

    #[test]
    fn sweeps_do_not_run_on_every_call() {
        let m = MemoryState::new(MemoryConfig::default());
        let lease = [Charge::limit(Counter::lease("l", "a", 10), 1, 10)];
        assert!(m.admit(&lease, SWEEP_EVERY_MS).is_ok());
        // 20 ms later the lease has expired but no sweep is due: the entry is still there until
        // that counter is read again.
        m.kv_set("k", Bytes::from_static(b"v"), 1_000, SWEEP_EVERY_MS + 20);
        assert_eq!(m.lock().leases.len(), 1);
        assert_eq!(
            m.usage(&[Counter::lease("l", "-", 1)], SWEEP_EVERY_MS + 20)
                .ok(),
            Some(vec![0])
        );
        assert_eq!(m.lock().leases.len(), 0);
    }
}
