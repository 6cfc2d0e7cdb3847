//! The Redis state backend: counters shared by every gateway instance on one Redis.
//!
//! Owns the connection (one multiplexed [`ConnectionManager`] per [`RedisState`]), the encoding
//! of counters into Lua script arguments, the three scripts (`lua/admit.lua`, `lua/settle.lua`,
//! `lua/usage.lua`, each prefixed by `lua/common.lua`), plain commands for cache, KV and
//! versions, timeouts on every call, and the health record. The key layout and the scripts are
//! described in the parent module's documentation. Must not decide fail-open or fail-closed:
//! errors are returned quickly and the caller decides.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, FromRedisValue, Script, ScriptInvocation};
use bytes::Bytes;

use super::memory::bucket_of;
use super::model::{
    Adjustment, Admission, Admitted, Charge, Counter, CounterKind, Refused, Settled, StateError,
    StateHealth, check_adjustments, check_charges, check_counter, check_now, period_ttl_ms,
    window_shape,
};

static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/admit.lua")
    ))
});
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/settle.lua")
    ))
});
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/renew.lua")
    ))
});
static KV_SET_IF_ABSENT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/kv_set_if_absent.lua")));
static USAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/usage.lua")
    ))
});

/// Settings of the Redis backend.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://host:port/db` (from `REDIS_URL`).
    pub url: String,
    /// Prefix of every key this backend writes (default `modelgate:`).
    pub prefix: String,
    /// Bound on establishing a connection (also each reconnect attempt).
    pub connect_timeout: Duration,
    /// Bound on one call, script or command, including a reconnect it waits for.
    pub command_timeout: Duration,
    /// How long a settlement id is remembered (double settles within it are no-ops).
    pub settle_marker_ttl_ms: i64,
}

impl RedisConfig {
    /// Defaults for `url`: prefix `modelgate:`, 300 ms connect and command timeouts, settlement
    /// ids remembered for 10 minutes.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "modelgate:".into(),
            connect_timeout: Duration::from_millis(300),
            command_timeout: Duration::from_millis(300),
            settle_marker_ttl_ms: 10 * 60_000,
        }
    }
}

#[derive(Default)]
struct Health {
    failing: AtomicBool,
    errors: AtomicU64,
    last: Mutex<Option<(i64, String)>>,
}

/// The Redis backend. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
    prefix: Arc<str>,
    command_timeout: Duration,
    settle_marker_ttl_ms: i64,
    health: Arc<Health>,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn timeout_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Appends one counter spec (see `lua/common.lua`) and its key.
fn push_counter(
    inv: &mut ScriptInvocation<'_>,
    prefix: &str,
    counter: &Counter,
    now_ms: i64,
    at_ms: i64,
) -> Result<(), StateError> {
    inv.key(format!("{prefix}{}{}", counter.namespace(), counter.key));
    match &counter.kind {
        CounterKind::Window {
            window_ms,
            bucket_ms,
        } => {
            let (b, nb) = window_shape(*window_ms, *bucket_ms)?;
            inv.arg("w")
                .arg(now_ms.div_euclid(b))
                .arg(nb)
                .arg(b)
                .arg(bucket_of(counter, at_ms));
        }
        CounterKind::Period { ends_at_ms } => {
            inv.arg("p")
                .arg(period_ttl_ms(*ends_at_ms, now_ms))
                .arg(*ends_at_ms);
        }
        CounterKind::Total => {
            inv.arg("t");
        }
        CounterKind::Lease { lease_id, ttl_ms } => {
            inv.arg("l").arg(lease_id.as_str()).arg(*ttl_ms);
        }
    }
    Ok(())
}

fn int(v: Option<&i64>) -> Result<i64, StateError> {
    v.copied()
        .ok_or_else(|| StateError::Protocol("short reply from admit script".into()))
}

/// Parses the settle script's `"a,b;c;"` amounts.
fn parse_amounts(text: &str, groups: usize) -> Result<Vec<Vec<i64>>, StateError> {
    if groups == 0 {
        return Ok(Vec::new());
    }
    text.split(';')
        .map(|g| {
            g.split(',')
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| StateError::Protocol(format!("bad settle amount {v:?}")))
                })
                .collect()
        })
        .collect()
}

/// Glob-escapes a prefix for `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A stored KV or cache value: 8 bytes of logical expiry (big-endian unix ms), then the value.
fn encode_expiring(value: &[u8], expires_at_ms: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires_at_ms.to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn decode_expiring(stored: Option<Vec<u8>>, now_ms: i64) -> Option<Bytes> {
    let stored = stored?;
    let head: [u8; 8] = stored.get(..8)?.try_into().ok()?;
    if i64::from_be_bytes(head) <= now_ms {
        return None;
    }
    Some(Bytes::from(stored).slice(8..))
}

impl RedisState {
    /// Connects (bounded by `connect_timeout`); fails if Redis cannot be reached now.
    pub async fn connect(config: RedisConfig) -> Result<Self, StateError> {
        let (client, manager_config) = Self::client(&config)?;
        let bound = config.connect_timeout * 2 + config.command_timeout;
        let conn = tokio::time::timeout(
            bound,
            ConnectionManager::new_with_config(client, manager_config),
        )
        .await
        .map_err(|_| StateError::Timeout(timeout_ms(bound)))?
        .map_err(|e| StateError::Unavailable(e.to_string()))?;
        Ok(Self::with(conn, config))
    }

    /// Returns at once without connecting: the first call connects. While Redis is away calls
    /// fail within the command timeout, and they succeed again once it is back (the connection
    /// manager reconnects after every I/O error). For a gateway that must start without Redis.
    pub fn connect_lazy(config: RedisConfig) -> Result<Self, StateError> {
        let (client, manager_config) = Self::client(&config)?;
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| StateError::Invalid(format!("redis client: {e}")))?;
        Ok(Self::with(conn, config))
    }

    fn client(config: &RedisConfig) -> Result<(Client, ConnectionManagerConfig), StateError> {
        let client = Client::open(config.url.as_str())
            .map_err(|e| StateError::Invalid(format!("redis url: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_number_of_retries(1)
            .set_max_delay(config.connect_timeout);
        Ok((client, manager_config))
    }

    fn with(conn: ConnectionManager, config: RedisConfig) -> Self {
        Self {
            conn,
            prefix: config.prefix.into(),
            command_timeout: config.command_timeout,
            settle_marker_ttl_ms: config.settle_marker_ttl_ms,
            health: Arc::new(Health::default()),
        }
    }

    /// The key prefix of this backend.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn record<T>(&self, r: Result<T, StateError>) -> Result<T, StateError> {
        match &r {
            Ok(_) => {
                if self.health.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis state backend answers again");
                }
            }
            Err(e) => {
                let was_failing = self.health.failing.swap(true, Ordering::Relaxed);
                self.health.errors.fetch_add(1, Ordering::Relaxed);
                let mut last = self
                    .health
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                *last = Some((crate::now_ms(), e.to_string()));
                // One warning per outage, not one per request.
                if was_failing {
                    tracing::debug!(error = %e, "redis state backend call failed");
                } else {
                    tracing::warn!(error = %e, "redis state backend call failed");
                }
            }
        }
        r
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = ::redis::RedisResult<T>>,
    ) -> Result<T, StateError> {
        let r = match tokio::time::timeout(self.command_timeout, fut).await {
            Err(_) => Err(StateError::Timeout(timeout_ms(self.command_timeout))),
            Ok(Err(e)) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                Err(StateError::Unavailable(e.to_string()))
            }
            Ok(Err(e)) => Err(StateError::Protocol(e.to_string())),
            Ok(Ok(v)) => Ok(v),
        };
        self.record(r)
    }

    async fn run<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T, StateError> {
        let mut conn = self.conn.clone();
        self.bounded(inv.invoke_async(&mut conn)).await
    }

    async fn query<T: FromRedisValue>(&self, cmd: &::redis::Cmd) -> Result<T, StateError> {
        let mut conn = self.conn.clone();
        self.bounded(cmd.query_async(&mut conn)).await
    }

    fn key(&self, space: &str, key: &str) -> String {
        format!("{}{space}{key}", self.prefix)
    }

    /// See [`StateBackend::admit`](super::StateBackend::admit).
    pub async fn admit(&self, charges: &[Charge], now_ms: i64) -> Result<Admission, StateError> {
        check_charges(charges, now_ms)?;
        let mut inv = ADMIT.prepare_invoke();
        inv.arg(now_ms).arg(charges.len());
        for charge in charges {
            match charge {
                Charge::Limit {
                    counter,
                    amount,
                    limit,
                } => {
                    inv.arg("L").arg(*amount).arg(*limit);
                    push_counter(&mut inv, &self.prefix, counter, now_ms, now_ms)?;
                }
                Charge::Cascade { tiers, amount } => {
                    inv.arg("C").arg(*amount).arg(tiers.len());
                    for tier in tiers {
                        inv.arg(tier.limit);
                        push_counter(&mut inv, &self.prefix, &tier.counter, now_ms, now_ms)?;
                    }
                }
            }
        }
        let reply: Vec<i64> = self.run(&inv).await?;
        let mut it = reply.iter();
        if int(it.next())? == 0 {
            let index = int(it.next())? - 1;
            let retry = int(it.next())?;
            return Ok(Admission::Refused(Refused {
                index: usize::try_from(index)
                    .map_err(|_| StateError::Protocol(format!("charge index {index}")))?,
                retry_after_ms: (retry >= 0).then_some(retry),
                used: int(it.next())?,
                limit: int(it.next())?,
            }));
        }
        let mut taken = Vec::with_capacity(charges.len());
        for charge in charges {
            let n = match charge {
                Charge::Limit { .. } => 1,
                Charge::Cascade { tiers, .. } => tiers.len(),
            };
            taken.push((0..n).map(|_| int(it.next())).collect::<Result<_, _>>()?);
        }
        let used_before = (0..charges.len())
            .map(|_| int(it.next()))
            .collect::<Result<_, _>>()?;
        Ok(Admission::Admitted(Admitted {
            at_ms: now_ms,
            taken,
            used_before,
        }))
    }

    /// See [`StateBackend::settle`](super::StateBackend::settle).
    pub async fn settle(
        &self,
        settlement_id: &str,
        adjustments: &[Adjustment],
        now_ms: i64,
    ) -> Result<Settled, StateError> {
        check_adjustments(settlement_id, adjustments, now_ms)?;
        let mut inv = SETTLE.prepare_invoke();
        inv.key(self.key("s:", settlement_id))
            .arg(now_ms)
            .arg(self.settle_marker_ttl_ms)
            .arg(adjustments.len());
        for adjustment in adjustments {
            match adjustment {
                Adjustment::Add {
                    counter,
                    delta,
                    at_ms,
                } => {
                    inv.arg("A").arg(*delta);
                    push_counter(&mut inv, &self.prefix, counter, now_ms, *at_ms)?;
                }
                Adjustment::Release { key, lease_id } => {
                    inv.arg("R");
                    // The ttl is not used by a release.
                    let lease = Counter::lease(key.as_str(), lease_id.as_str(), 1);
                    push_counter(&mut inv, &self.prefix, &lease, now_ms, now_ms)?;
                }
                Adjustment::Respill {
                    tiers,
                    reserved,
                    actual,
                    at_ms,
                } => {
                    inv.arg("S").arg(*actual).arg(tiers.len());
                    for (tier, reserved) in tiers.iter().zip(reserved) {
                        inv.arg(tier.limit).arg(*reserved);
                        push_counter(&mut inv, &self.prefix, &tier.counter, now_ms, *at_ms)?;
                    }
                }
            }
        }
        let (first, text): (i64, String) = self.run(&inv).await?;
        Ok(Settled {
            first_time: first == 1,
            amounts: parse_amounts(&text, adjustments.len())?,
        })
    }

    /// See [`StateBackend::usage`](super::StateBackend::usage).
    pub async fn usage(&self, counters: &[Counter], now_ms: i64) -> Result<Vec<i64>, StateError> {
        check_now(now_ms)?;
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = USAGE.prepare_invoke();
        inv.arg(now_ms).arg(counters.len());
        for c in counters {
            check_counter(c)?;
            push_counter(&mut inv, &self.prefix, c, now_ms, now_ms)?;
        }
        self.run(&inv).await
    }

    /// See [`StateBackend::renew_lease`](super::StateBackend::renew_lease).
    pub async fn renew_lease(
        &self,
        key: &str,
        lease_id: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StateError> {
        check_counter(&Counter::lease(key, lease_id, ttl_ms))?;
        check_now(now_ms)?;
        let mut inv = RENEW.prepare_invoke();
        inv.key(self.key("l:", key))
            .arg(now_ms)
            .arg(lease_id)
            .arg(ttl_ms);
        let renewed: i64 = self.run(&inv).await?;
        Ok(renewed == 1)
    }

    /// See [`StateBackend::cache_get`](super::StateBackend::cache_get).
    pub async fn cache_get(&self, key: &str, now_ms: i64) -> Result<Option<Bytes>, StateError> {
        let stored: Option<Vec<u8>> = self
            .query(::redis::cmd("GET").arg(self.key("cache:", key)))
            .await?;
        Ok(decode_expiring(stored, now_ms))
    }

    /// See [`StateBackend::cache_put`](super::StateBackend::cache_put).
    pub async fn cache_put(
        &self,
        key: &str,
        value: &[u8],
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.set_expiring("cache:", key, value, ttl_ms, now_ms)
            .await
    }

    async fn set_expiring(
        &self,
        space: &str,
        key: &str,
        value: &[u8],
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let key = self.key(space, key);
        if ttl_ms <= 0 {
            return self.query(::redis::cmd("DEL").arg(key)).await;
        }
        self.query(
            ::redis::cmd("SET")
                .arg(key)
                .arg(encode_expiring(value, now_ms + ttl_ms))
                .arg("PX")
                .arg(ttl_ms),
        )
        .await
    }

    /// See [`StateBackend::kv_get`](super::StateBackend::kv_get).
    pub async fn kv_get(&self, key: &str, now_ms: i64) -> Result<Option<Bytes>, StateError> {
        let stored: Option<Vec<u8>> = self
            .query(::redis::cmd("GET").arg(self.key("kv:", key)))
            .await?;
        Ok(decode_expiring(stored, now_ms))
    }

    /// See [`StateBackend::kv_set`](super::StateBackend::kv_set).
    pub async fn kv_set(
        &self,
        key: &str,
        value: &[u8],
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.set_expiring("kv:", key, value, ttl_ms, now_ms).await
    }

    /// See [`StateBackend::kv_set_if_absent`](super::StateBackend::kv_set_if_absent).
    pub async fn kv_set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Bytes>, StateError> {
        check_now(now_ms)?;
        if ttl_ms <= 0 {
            return Err(StateError::Invalid(format!(
                "kv ttl_ms {ttl_ms} is not positive"
            )));
        }
        let mut inv = KV_SET_IF_ABSENT.prepare_invoke();
        inv.key(self.key("kv:", key))
            .arg(now_ms)
            .arg(encode_expiring(value, now_ms + ttl_ms))
            .arg(ttl_ms);
        let existing: Option<Vec<u8>> = self.run(&inv).await?;
        Ok(decode_expiring(existing, now_ms))
    }

    /// See [`StateBackend::kv_delete`](super::StateBackend::kv_delete).
    pub async fn kv_delete(&self, key: &str) -> Result<(), StateError> {
        self.query(::redis::cmd("DEL").arg(self.key("kv:", key)))
            .await
    }

    /// See [`StateBackend::bump`](super::StateBackend::bump).
    pub async fn bump(&self, topic: &str) -> Result<u64, StateError> {
        self.query(::redis::cmd("INCR").arg(self.key("v:", topic)))
            .await
    }

    /// See [`StateBackend::version`](super::StateBackend::version).
    pub async fn version(&self, topic: &str) -> Result<u64, StateError> {
        let v: Option<u64> = self
            .query(::redis::cmd("GET").arg(self.key("v:", topic)))
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Deletes every key under this backend's prefix (test isolation, resets). Returns how
    /// many keys were deleted. Uses `SCAN`, so it does not block Redis.
    pub async fn clear(&self) -> Result<u64, StateError> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .query(
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            if !keys.is_empty() {
                let n: u64 = self.query(::redis::cmd("DEL").arg(&keys)).await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Health for metrics: whether the last call succeeded, failures so far, the last one.
    pub fn health(&self) -> StateHealth {
        let last = self
            .health
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        StateHealth {
            backend: "redis",
            healthy: !self.health.failing.load(Ordering::Relaxed),
            errors_total: self.health.errors.load(Ordering::Relaxed),
            last_error_at_ms: last.as_ref().map(|(at, _)| *at),
            last_error: last.map(|(_, e)| e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_text_round_trips() {
        assert_eq!(
            parse_amounts("5;;10,20", 3).unwrap(),
            vec![vec![5], vec![], vec![10, 20]]
        );
        assert_eq!(parse_amounts("", 1).unwrap(), vec![Vec::<i64>::new()]);
        assert!(parse_amounts("x", 1).is_err());
    }

    #[test]
    fn expiring_values_carry_their_expiry() {
        let stored = encode_expiring(b"pin", 1_000);
        assert_eq!(
            decode_expiring(Some(stored.clone()), 999).as_deref(),
            Some(&b"pin"[..])
        );
        assert_eq!(decode_expiring(Some(stored), 1_000), None);
        assert_eq!(decode_expiring(Some(vec![1, 2]), 0), None);
    }

    #[test]
    fn prefixes_are_glob_escaped() {
        assert_eq!(glob_escape("mg:[t]*"), "mg:\\[t\\]\\*");
    }
}
