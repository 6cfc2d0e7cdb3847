//! `StateBackend`: the one interface for state that must be exact across gateway instances.
//!
//! Owns rate-limit windows, calendar-period quotas, concurrency leases, money and credit
//! counters (balance, free-credit grants, budgets), reservations and their settlement, the
//! response cache, session KV and change notifications. Two implementations with the same
//! semantics: [`MemoryState`] (in-process, one instance) and [`RedisState`] (every instance
//! sharing one Redis). Must not know pricing or which limits a key has: the caller (the gateway's
//! `admit` and `settle` stages) turns policy into [`Charge`]s and [`Adjustment`]s.
//!
//! # Model
//!
//! * Every call takes the time as `now_ms` (unix ms) from the caller; every expiry is judged
//!   against it, so tests move a clock instead of sleeping. Redis TTLs (`PEXPIRE`, `SET PX`) are
//!   set *relative* to the caller's `now_ms` and only collect garbage.
//! * Amounts are `i64` integer units: requests, tokens, or money in nano-units (1e-9 USD; the
//!   caller converts its exact decimals with [`to_nanos`] / [`from_nanos`]). Every amount,
//!   limit, delta and `now_ms` must be within ±[`MAX_AMOUNT`] = 2^53 − 1 (Lua numbers are
//!   doubles); larger values are refused with [`StateError::OutOfRange`] before anything is
//!   sent. In money that bounds one amount or limit to about 9 million USD.
//! * [`StateBackend::admit`] takes a slice of [`Charge`]s and applies all of them or none, in one
//!   atomic step (one mutex section in memory, one Lua script call in Redis). A refusal names the
//!   first charge that does not fit, its used amount and limit, and a retry-after when time alone
//!   will make room. The result says what each counter took.
//! * [`StateBackend::settle`] applies signed [`Adjustment`]s once per settlement id: the reserved
//!   amount is replaced by the actual one (`Add` a delta, `Respill` a cascade, `Release` a lease).
//!   It never refuses. A repeated id is a no-op that returns the first result.
//! * A reservation that is never settled (the process died between admit and settle) stays
//!   charged: windows and periods forget it when they roll over, leases when their TTL passes,
//!   totals (balance, grants) keep it. Limits are never overshot; a crash can only over-charge.
//!
//! # Counter kinds
//!
//! * **Window** `{window_ms, bucket_ms}`: sliding window of `window_ms / bucket_ms` sub-buckets
//!   (at most 3600). Bucket index `i = floor(t / bucket_ms)`; at time `now` the buckets with
//!   `i > floor(now / bucket_ms) − n` are inside the window. An admission adds to the current
//!   bucket; used = sum of the buckets inside. Limit N admits exactly N units; when refused,
//!   retry-after is when enough of the oldest buckets leave: bucket `i` leaves at
//!   `(i + n) · bucket_ms`.
//! * **Period** `{ends_at_ms}`: the period id is in the key (`…:day:2026-12-01`); retry-after of
//!   a refusal is `ends_at_ms − now`; the counter is deleted [`PERIOD_RETENTION_MS`] after the
//!   period ends.
//! * **Total**: a stored used amount, never expiring; the limit (credited balance, grant size,
//!   budget) comes from the caller with each charge.
//! * **Lease** `{lease_id, ttl_ms}`: a set of live leases; admission adds `lease_id` if fewer
//!   than `limit` leases are live; a lease ends when released or at admission time + `ttl_ms`.
//! * **Cascade** (a charge, not a counter): tiers charged in order, each taking up to what it has
//!   left, the rest spilling to the next (free-credit grant, then balance); refused if the rest
//!   does not fit in the last tier.
//!
//! # Redis data layout
//!
//! All keys start with the configured prefix `P` (default `modelgate:`). Counter keys are
//! namespaced per kind so one caller key may serve several kinds:
//!
//! | key | type | content | expiry |
//! |---|---|---|---|
//! | `P w:<key>` | hash | bucket index → amount | `(n + 1) · bucket_ms` after the last write |
//! | `P c:<key>` | string | used amount (period and total counters) | period: `ends_at − now + 48 h`; total: none |
//! | `P l:<key>` | sorted set | lease id, score = expiry (unix ms) | the longest lease TTL |
//! | `P s:<settlement id>` | string | the settle result `"a,b;c;…"` | `settle_marker_ttl_ms` (10 min) |
//! | `P cache:<key>` | string | 8-byte big-endian expiry (unix ms) + value bytes | `SET PX ttl` |
//! | `P kv:<key>` | string | same encoding as cache | `SET PX ttl` |
//! | `P v:<topic>` | string | version counter (`INCR`) | none |
//!
//! (There is no space after `P`; the table shows it for legibility: `modelgate:w:vk:7f3a:rpm`.)
//!
//! # Lua scripts
//!
//! Each script is `lua/common.lua` (argument reader, `used_of`, `add`) followed by its body, and
//! is sent with `EVALSHA` (loaded on `NOSCRIPT`) by the `redis` crate's `Script`. Arguments are a
//! stream: each counter is a kind letter plus parameters (`w cur n bucket_ms at`, `p ttl ends`,
//! `t`, `l id ttl`), its key the next entry of `KEYS`. Bucket indices are computed in Rust; Lua
//! only adds, compares and multiplies integers below 2^53, and writes numbers with
//! `string.format('%.0f')` so large values are not rounded to 14 digits.
//!
//! * **admit** (`lua/admit.lua`): first pass, for every charge, reads each counter's used amount
//!   (`HGETALL` and drop buckets that left the window; `ZREMRANGEBYSCORE -inf now` then `ZCARD`
//!   for leases; `GET` otherwise) and checks the charge; on the first charge that does not fit it
//!   returns `{0, index, retry_after or -1, used, limit}` having written nothing but the removal
//!   of expired data. Second pass, only when all fit: `HINCRBY` the current bucket + `PEXPIRE`,
//!   `INCRBY` (+ `PEXPIRE` for periods), `ZADD` the lease with score `now + ttl`; returns
//!   `{1, take…}`.
//! * **settle** (`lua/settle.lua`): if the marker `P s:<id>` exists, returns `{0, stored}`;
//!   otherwise applies each adjustment (`Add`: `HINCRBY`/`INCRBY`, clamped at zero, to the
//!   admission's bucket while it is inside the window; `Release`: `ZREM`; `Respill`: reread the
//!   tiers, take the reservation out, spill the actual amount again in order, the last tier taking
//!   the rest), stores the result in the marker with `PX` and returns `{1, result}`.
//! * **usage** (`lua/usage.lua`): read-only sums of the same counters (`HGETALL` filtered by
//!   bucket index, `GET`, `ZCOUNT (now +inf`).
//! * **renew** (`lua/renew.lua`): `ZSCORE` the lease; if still live, `ZADD XX` a new expiry.
//! * **kv_set_if_absent** (`lua/kv_set_if_absent.lua`, no prelude): `GET`, decode the stored
//!   expiry, return the value if live, else `SET … PX`.
//!
//! Cache, KV and versions are single commands (`GET`, `SET … PX`, `DEL`, `INCR`). Every call is
//! bounded by the command timeout and fails with [`StateError::Timeout`] or
//! [`StateError::Unavailable`] when Redis is slow or away; [`StateBackend::health`] reports the
//! failures for metrics. Counters must not be evicted: run this Redis with
//! `maxmemory-policy noeviction` (an evicting policy would silently reset limits, since counters
//! carry TTLs too); the response cache then lives within Redis memory like everything else, so
//! keep cache TTLs short. Redis Cluster is not supported (keys of one admission may hash to
//! different slots); use a single primary (with replicas or Sentinel).
//!
//! # How the gateway uses it
//!
//! ```text
//! admit (one call per request, before dispatch):
//!   charges = [
//!     Limit(window  "vk:<id>:rpm" 60 s / 1 s,     amount 1,           limit rpm),
//!     Limit(window  "vk:<id>:tpm" 60 s / 1 s,     amount est_tokens,  limit tpm),
//!     Limit(lease   "vk:<id>:conc" id=request_id, amount 1,           limit max_concurrency),
//!     Limit(period  "vk:<id>:req:day:2026-12-01", amount 1,           limit daily_requests),
//!     Cascade([grant "user:<id>:grant:<provider>" limit grant_size,
//!              total "vk:<id>:balance"            limit credited_total], amount worst_cost),
//!   ]
//!   match admit(&charges, now) {
//!     Refused { index, retry_after_ms, .. } => 429 + Retry-After (windows, leases, periods)
//!                                              or 402 (cascade/balance), chosen by charges[index]
//!     Admitted(a) => keep (charges, a) with the request
//!   }
//! settle (exactly once per request, also on client disconnect; retry-safe):
//!   adjustments = a.settle_with(&charges, &[1, real_tokens, 0, 1, real_cost])
//!   settle(request_id, &adjustments, now)   // amounts[4] = what grant and balance finally paid
//! refused later in the pipeline, no upstream called:
//!   settle(request_id, &a.undo(&charges), now)
//! ```

mod memory;
mod model;
mod redis;

pub use memory::{MemoryConfig, MemoryState};
pub use model::{
    Adjustment, Admission, Admitted, Charge, Counter, CounterKind, MAX_AMOUNT, MAX_WINDOW_BUCKETS,
    NANOS_PER_UNIT, PERIOD_RETENTION_MS, Refused, Settled, StateError, StateHealth, Tier,
    from_nanos, to_nanos,
};
pub use redis::{RedisConfig, RedisState};

use bytes::Bytes;

/// The state backend the gateway holds: in-process or Redis, same semantics. Cloning is cheap
/// and shares the state.
#[derive(Debug, Clone)]
pub enum StateBackend {
    Memory(MemoryState),
    Redis(RedisState),
}

impl StateBackend {
    /// A fresh in-process backend with default settings.
    pub fn memory() -> Self {
        Self::Memory(MemoryState::new(MemoryConfig::default()))
    }

    /// Connects to Redis (fails fast if it cannot be reached within the connect timeout).
    pub async fn redis(config: RedisConfig) -> Result<Self, StateError> {
        Ok(Self::Redis(RedisState::connect(config).await?))
    }

    /// Applies every charge or none, atomically across instances.
    pub async fn admit(&self, charges: &[Charge], now_ms: i64) -> Result<Admission, StateError> {
        match self {
            Self::Memory(m) => m.admit(charges, now_ms),
            Self::Redis(r) => r.admit(charges, now_ms).await,
        }
    }

    /// Applies the adjustments of settlement `settlement_id` once (a repeat is a no-op that
    /// returns the first result). Never refuses.
    pub async fn settle(
        &self,
        settlement_id: &str,
        adjustments: &[Adjustment],
        now_ms: i64,
    ) -> Result<Settled, StateError> {
        match self {
            Self::Memory(m) => m.settle(settlement_id, adjustments, now_ms),
            Self::Redis(r) => r.settle(settlement_id, adjustments, now_ms).await,
        }
    }

    /// The used amount of each counter at `now_ms` (window sums, period and total counters,
    /// live leases), for usage views.
    pub async fn usage(&self, counters: &[Counter], now_ms: i64) -> Result<Vec<i64>, StateError> {
        match self {
            Self::Memory(m) => m.usage(counters, now_ms),
            Self::Redis(r) => r.usage(counters, now_ms).await,
        }
    }

    /// Extends a live lease to end at `now_ms + ttl_ms` (a long stream keeps its slot); false if
    /// the lease had already ended (released or expired), in which case nothing changes.
    pub async fn renew_lease(
        &self,
        key: &str,
        lease_id: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StateError> {
        match self {
            Self::Memory(m) => m.renew_lease(key, lease_id, ttl_ms, now_ms),
            Self::Redis(r) => r.renew_lease(key, lease_id, ttl_ms, now_ms).await,
        }
    }

    /// A cached response, if present and not expired at `now_ms`.
    pub async fn cache_get(&self, key: &str, now_ms: i64) -> Result<Option<Bytes>, StateError> {
        match self {
            Self::Memory(m) => Ok(m.cache_get(key, now_ms)),
            Self::Redis(r) => r.cache_get(key, now_ms).await,
        }
    }

    /// Caches `value` for `ttl_ms` (a non-positive TTL removes the entry). The memory cache is
    /// bounded in bytes and may evict early.
    pub async fn cache_put(
        &self,
        key: &str,
        value: Bytes,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        match self {
            Self::Memory(m) => {
                m.cache_put(key, value, ttl_ms, now_ms);
                Ok(())
            }
            Self::Redis(r) => r.cache_put(key, &value, ttl_ms, now_ms).await,
        }
    }

    /// A small value (session pin), if present and not expired at `now_ms`.
    pub async fn kv_get(&self, key: &str, now_ms: i64) -> Result<Option<Bytes>, StateError> {
        match self {
            Self::Memory(m) => Ok(m.kv_get(key, now_ms)),
            Self::Redis(r) => r.kv_get(key, now_ms).await,
        }
    }

    /// Stores a small value for `ttl_ms` (a non-positive TTL deletes it).
    pub async fn kv_set(
        &self,
        key: &str,
        value: Bytes,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        match self {
            Self::Memory(m) => {
                m.kv_set(key, value, ttl_ms, now_ms);
                Ok(())
            }
            Self::Redis(r) => r.kv_set(key, &value, ttl_ms, now_ms).await,
        }
    }

    /// Stores a small value only if none is live (first writer wins, across instances: two
    /// instances pinning one session agree). Returns the live value that won, or `None` when
    /// this one was stored.
    pub async fn kv_set_if_absent(
        &self,
        key: &str,
        value: Bytes,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Bytes>, StateError> {
        match self {
            Self::Memory(m) => m.kv_set_if_absent(key, value, ttl_ms, now_ms),
            Self::Redis(r) => r.kv_set_if_absent(key, &value, ttl_ms, now_ms).await,
        }
    }

    /// Deletes a small value.
    pub async fn kv_delete(&self, key: &str) -> Result<(), StateError> {
        match self {
            Self::Memory(m) => {
                m.kv_delete(key);
                Ok(())
            }
            Self::Redis(r) => r.kv_delete(key).await,
        }
    }

    /// Announces a change of `topic` (catalogue, keys, …); returns the new version.
    pub async fn bump(&self, topic: &str) -> Result<u64, StateError> {
        match self {
            Self::Memory(m) => Ok(m.bump(topic)),
            Self::Redis(r) => r.bump(topic).await,
        }
    }

    /// The current version of `topic` (0 if never bumped); poll it to notice other instances'
    /// changes.
    pub async fn version(&self, topic: &str) -> Result<u64, StateError> {
        match self {
            Self::Memory(m) => Ok(m.version(topic)),
            Self::Redis(r) => r.version(topic).await,
        }
    }

    /// Health for metrics and `/health`.
    pub fn health(&self) -> StateHealth {
        match self {
            Self::Memory(m) => m.health(),
            Self::Redis(r) => r.health(),
        }
    }
}
