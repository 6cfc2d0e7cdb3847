//! The vocabulary of the state backend: counters, charges, admissions, adjustments, errors.
//!
//! Owns the types both implementations share and the checks every call passes before it reaches
//! a backend (amount range, window shape, duplicate counters), so that Memory and Redis refuse
//! the same malformed input with the same error. Must not touch storage.

use std::collections::HashSet;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Largest absolute amount, limit, delta or clock value accepted (2^53 − 1).
///
/// Redis runs the admission arithmetic in Lua, whose numbers are IEEE doubles: integers are
/// exact only up to 2^53. Money is passed in nano-units (1e-9), so one amount or limit can be
/// at most about 9 007 199 USD; anything larger is refused with [`StateError::OutOfRange`].
pub const MAX_AMOUNT: i64 = (1 << 53) - 1;

/// Nano-units in one unit of money: counters hold money as integer multiples of 1e-9.
pub const NANOS_PER_UNIT: i64 = 1_000_000_000;

/// Money (e.g. USD as `rust_decimal`) to nano-units, rounded toward +∞ to the next nano, so a
/// reservation or a charge never counts less than the exact amount. Refused beyond
/// ±[`MAX_AMOUNT`] nano-units.
pub fn to_nanos(money: Decimal) -> Result<i64, StateError> {
    let out_of_range =
        || StateError::Invalid(format!("money {money} exceeds ±(2^53−1) nano-units"));
    let nanos = money
        .checked_mul(Decimal::from(NANOS_PER_UNIT))
        .ok_or_else(out_of_range)?
        .ceil()
        .to_i64()
        .ok_or_else(out_of_range)?;
    check_range(nanos).map_err(|_| out_of_range())
}

/// Nano-units back to money, exactly.
pub fn from_nanos(nanos: i64) -> Decimal {
    Decimal::new(nanos, 9).normalize()
}

/// Most sub-buckets one sliding window may have (bounds the work of one admission).
pub const MAX_WINDOW_BUCKETS: i64 = 3_600;

/// How long a period counter is kept after its period ended (so a usage view of the period
/// that just ended can still be read), in milliseconds.
pub const PERIOD_RETENTION_MS: i64 = 48 * 3_600_000;

/// One stored counter: where it lives (`key`) and how it counts (`kind`).
///
/// Keys are chosen by the caller (for example `vk:7f3a:rpm`, `vk:7f3a:tokens:day:2026-12-01`)
/// and are namespaced per kind, so a window and a total may share a key without clashing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Counter {
    pub key: String,
    pub kind: CounterKind,
}

/// How a counter counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CounterKind {
    /// A sliding window of `window_ms` made of sub-buckets of `bucket_ms` (which must divide
    /// `window_ms`). An amount goes into the bucket of the admission time; the used amount is the
    /// sum of the buckets still inside the window.
    Window { window_ms: i64, bucket_ms: i64 },
    /// A calendar period (day, month, budget period): the period id is part of the key, the
    /// counter resets by the caller moving to the next key. `ends_at_ms` is when the period ends:
    /// it gives the retry-after of a refusal, and the counter is deleted
    /// [`PERIOD_RETENTION_MS`] later.
    Period { ends_at_ms: i64 },
    /// A running total that never expires: spend against a balance, use of a free-credit grant.
    /// The limit (credited balance, grant size) is supplied by the caller on each charge.
    Total,
    /// A concurrency lease set: admission adds `lease_id` (amount must be 1) when fewer than
    /// `limit` live leases exist; a lease ends when released or `ttl_ms` after its admission.
    Lease { lease_id: String, ttl_ms: i64 },
}

impl Counter {
    /// A sliding window counter.
    pub fn window(key: impl Into<String>, window_ms: i64, bucket_ms: i64) -> Self {
        Self {
            key: key.into(),
            kind: CounterKind::Window {
                window_ms,
                bucket_ms,
            },
        }
    }

    /// A calendar period counter ending at `ends_at_ms`.
    pub fn period(key: impl Into<String>, ends_at_ms: i64) -> Self {
        Self {
            key: key.into(),
            kind: CounterKind::Period { ends_at_ms },
        }
    }

    /// A running total (money or tokens) with a caller-supplied limit.
    pub fn total(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            kind: CounterKind::Total,
        }
    }

    /// One concurrency lease `lease_id` in the lease set `key`.
    pub fn lease(key: impl Into<String>, lease_id: impl Into<String>, ttl_ms: i64) -> Self {
        Self {
            key: key.into(),
            kind: CounterKind::Lease {
                lease_id: lease_id.into(),
                ttl_ms,
            },
        }
    }

    /// The namespace of this counter's kind (part of its storage key).
    pub(crate) fn namespace(&self) -> &'static str {
        match self.kind {
            CounterKind::Window { .. } => "w:",
            CounterKind::Period { .. } | CounterKind::Total => "c:",
            CounterKind::Lease { .. } => "l:",
        }
    }
}

/// One tier of a cascade: a counter and what it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub counter: Counter,
    pub limit: i64,
}

/// One thing an admission must fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Add `amount` to `counter` if the used amount plus `amount` stays at or below `limit`.
    Limit {
        counter: Counter,
        amount: i64,
        limit: i64,
    },
    /// Spill `amount` over `tiers` in order: each takes up to what it has left
    /// (`limit − used`), the remainder goes to the next; refused if the tiers together cannot
    /// take it all. All tiers must share one unit (e.g. nano-USD: free-credit grant, then
    /// balance). Lease counters cannot be tiers.
    Cascade { tiers: Vec<Tier>, amount: i64 },
}

impl Charge {
    /// A plain limit charge.
    pub fn limit(counter: Counter, amount: i64, limit: i64) -> Self {
        Self::Limit {
            counter,
            amount,
            limit,
        }
    }

    /// A cascade charge.
    pub fn cascade(tiers: Vec<Tier>, amount: i64) -> Self {
        Self::Cascade { tiers, amount }
    }

    fn counters(&self) -> Vec<&Counter> {
        match self {
            Charge::Limit { counter, .. } => vec![counter],
            Charge::Cascade { tiers, .. } => tiers.iter().map(|t| &t.counter).collect(),
        }
    }
}

/// The answer of [`admit`](super::StateBackend::admit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admitted(Admitted),
    Refused(Refused),
}

/// Every charge was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The `now_ms` of the admission (settle needs it to find the window buckets).
    pub at_ms: i64,
    /// `taken[i][j]`: what the j-th counter of charge i took (one entry for a `Limit` charge,
    /// one per tier for a `Cascade`).
    pub taken: Vec<Vec<i64>>,
    /// `used_before[i]`: what charge i's counter held before this admission (a cascade: the sum
    /// of its tiers), so callers can report what is left (`x-ratelimit-remaining-*`).
    pub used_before: Vec<i64>,
}

/// Nothing was applied: charge `index` does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Index of the first refusing charge in the slice given to `admit`.
    pub index: usize,
    /// When the charge would fit again if nothing else changed: windows (oldest buckets
    /// expiring) and periods (period end). `None` for totals, leases, cascades, and amounts
    /// larger than the limit itself.
    pub retry_after_ms: Option<i64>,
    /// Used amount of the refusing counter (for a cascade: summed over its tiers).
    pub used: i64,
    /// Its limit (for a cascade: summed over its tiers).
    pub limit: i64,
}

/// One correction applied by [`settle`](super::StateBackend::settle). Never refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adjustment {
    /// Add `delta` (may be negative) to a window, period or total counter. For a window the
    /// delta goes to the bucket of `at_ms` (the admission time) while that bucket is still in
    /// the window; after that a positive delta goes to the current bucket and a negative one is
    /// dropped (the reservation already left the window). A counter never goes below zero.
    Add {
        counter: Counter,
        delta: i64,
        at_ms: i64,
    },
    /// Replace a cascade reservation (`reserved[j]` taken by tier j at admission) by the actual
    /// amount, spilled anew in tier order against the tiers' current use; the last tier takes
    /// whatever is left even beyond its limit (real usage above the reservation is billed).
    Respill {
        tiers: Vec<Tier>,
        reserved: Vec<i64>,
        actual: i64,
        at_ms: i64,
    },
    /// End a concurrency lease.
    Release { key: String, lease_id: String },
}

/// The answer of [`settle`](super::StateBackend::settle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// False when this settlement id had already been applied: nothing changed this time and
    /// `amounts` are those of the first application.
    pub first_time: bool,
    /// Per adjustment: `Add` → `[delta actually applied]` (less than asked if the counter was
    /// clamped at zero or the delta dropped), `Respill` → the final amount of each tier,
    /// `Release` → `[]`.
    pub amounts: Vec<Vec<i64>>,
}

/// Health of a backend, for metrics and `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateHealth {
    /// `"memory"` or `"redis"`.
    pub backend: &'static str,
    /// Whether the last call succeeded.
    pub healthy: bool,
    /// Calls that failed (connection, timeout, unexpected reply) since start.
    pub errors_total: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the last failure happened (unix ms, wall clock).
    pub last_error_at_ms: Option<i64>,
}

/// What can go wrong in the state backend.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("value {0} is outside ±(2^53−1)")]
    OutOfRange(i64),
    #[error("invalid request to the state backend: {0}")]
    Invalid(String),
    #[error("state backend unavailable: {0}")]
    Unavailable(String),
    #[error("state backend did not answer within {0} ms")]
    Timeout(u64),
    #[error("unexpected reply from the state backend: {0}")]
    Protocol(String),
}

impl StateError {
    /// Whether the error says the backend could not be reached in time (the caller's fail-open
    /// or fail-closed decision applies), as opposed to a malformed request.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StateError::Unavailable(_) | StateError::Timeout(_) | StateError::Protocol(_)
        )
    }
}

pub(crate) fn check_range(v: i64) -> Result<i64, StateError> {
    if (-MAX_AMOUNT..=MAX_AMOUNT).contains(&v) {
        Ok(v)
    } else {
        Err(StateError::OutOfRange(v))
    }
}

fn check_non_negative(v: i64, what: &str) -> Result<(), StateError> {
    check_range(v)?;
    if v < 0 {
        return Err(StateError::Invalid(format!("{what} {v} is negative")));
    }
    Ok(())
}

/// The bucket geometry of a window counter: bucket size and how many buckets form the window.
pub(crate) fn window_shape(window_ms: i64, bucket_ms: i64) -> Result<(i64, i64), StateError> {
    if bucket_ms <= 0 || window_ms <= 0 || window_ms % bucket_ms != 0 {
        return Err(StateError::Invalid(format!(
            "window of {window_ms} ms cannot be split into buckets of {bucket_ms} ms"
        )));
    }
    check_range(window_ms)?;
    let buckets = window_ms / bucket_ms;
    if buckets > MAX_WINDOW_BUCKETS {
        return Err(StateError::Invalid(format!(
            "window of {buckets} buckets exceeds {MAX_WINDOW_BUCKETS}"
        )));
    }
    Ok((bucket_ms, buckets))
}

/// Time to live of a period counter written at `now_ms`.
pub(crate) fn period_ttl_ms(ends_at_ms: i64, now_ms: i64) -> i64 {
    (ends_at_ms - now_ms).max(0) + PERIOD_RETENTION_MS
}

pub(crate) fn check_now(now_ms: i64) -> Result<(), StateError> {
    check_non_negative(now_ms, "now_ms")
}

pub(crate) fn check_counter(counter: &Counter) -> Result<(), StateError> {
    match &counter.kind {
        CounterKind::Window {
            window_ms,
            bucket_ms,
        } => {
            window_shape(*window_ms, *bucket_ms)?;
        }
        CounterKind::Period { ends_at_ms } => check_non_negative(*ends_at_ms, "ends_at_ms")?,
        CounterKind::Total => {}
        CounterKind::Lease { lease_id, ttl_ms } => {
            if lease_id.is_empty() {
                return Err(StateError::Invalid("empty lease id".into()));
            }
            check_non_negative(*ttl_ms, "lease ttl_ms")?;
            if *ttl_ms == 0 {
                return Err(StateError::Invalid("lease ttl_ms is zero".into()));
            }
        }
    }
    Ok(())
}

fn check_tiers(tiers: &[Tier]) -> Result<(), StateError> {
    if tiers.is_empty() {
        return Err(StateError::Invalid("cascade without tiers".into()));
    }
    for tier in tiers {
        check_counter(&tier.counter)?;
        check_non_negative(tier.limit, "limit")?;
        if matches!(tier.counter.kind, CounterKind::Lease { .. }) {
            return Err(StateError::Invalid(
                "a lease counter cannot be a cascade tier".into(),
            ));
        }
    }
    Ok(())
}

/// Checks a whole admission: ranges, shapes, and that no counter appears twice.
pub(crate) fn check_charges(charges: &[Charge], now_ms: i64) -> Result<(), StateError> {
    check_now(now_ms)?;
    let mut seen = HashSet::new();
    for charge in charges {
        match charge {
            Charge::Limit {
                counter,
                amount,
                limit,
            } => {
                check_counter(counter)?;
                check_non_negative(*amount, "amount")?;
                check_non_negative(*limit, "limit")?;
                if matches!(counter.kind, CounterKind::Lease { .. }) && *amount != 1 {
                    return Err(StateError::Invalid(format!(
                        "a lease charge takes amount 1, not {amount}"
                    )));
                }
            }
            Charge::Cascade { tiers, amount } => {
                check_tiers(tiers)?;
                check_non_negative(*amount, "amount")?;
            }
        }
        for counter in charge.counters() {
            if !seen.insert((counter.namespace(), counter.key.as_str())) {
                return Err(StateError::Invalid(format!(
                    "counter {} appears twice in one admission",
                    counter.key
                )));
            }
        }
    }
    Ok(())
}

/// Checks a settlement.
pub(crate) fn check_adjustments(
    settlement_id: &str,
    adjustments: &[Adjustment],
    now_ms: i64,
) -> Result<(), StateError> {
    check_now(now_ms)?;
    if settlement_id.is_empty() {
        return Err(StateError::Invalid("empty settlement id".into()));
    }
    for adjustment in adjustments {
        match adjustment {
            Adjustment::Add {
                counter,
                delta,
                at_ms,
            } => {
                check_counter(counter)?;
                check_range(*delta)?;
                check_now(*at_ms)?;
                if matches!(counter.kind, CounterKind::Lease { .. }) {
                    return Err(StateError::Invalid(
                        "a lease is ended with Adjustment::Release".into(),
                    ));
                }
            }
            Adjustment::Respill {
                tiers,
                reserved,
                actual,
                at_ms,
            } => {
                check_tiers(tiers)?;
                check_non_negative(*actual, "actual")?;
                check_now(*at_ms)?;
                if reserved.len() != tiers.len() {
                    return Err(StateError::Invalid(format!(
                        "respill of {} tiers with {} reserved amounts",
                        tiers.len(),
                        reserved.len()
                    )));
                }
                for r in reserved {
                    check_non_negative(*r, "reserved")?;
                }
            }
            Adjustment::Release { lease_id, .. } => {
                if lease_id.is_empty() {
                    return Err(StateError::Invalid("empty lease id".into()));
                }
            }
        }
    }
    Ok(())
}

impl Admitted {
    /// The adjustments that settle this admission with the actual amounts: `actual[i]` replaces
    /// what charge i reserved (ignored for lease charges, which are released). Pass the charges
    /// given to `admit`, in the same order.
    pub fn settle_with(&self, charges: &[Charge], actual: &[i64]) -> Vec<Adjustment> {
        let mut out = Vec::with_capacity(charges.len());
        for (i, charge) in charges.iter().enumerate() {
            let taken = self.taken.get(i).cloned().unwrap_or_default();
            let actual = actual.get(i).copied();
            match charge {
                Charge::Limit { counter, .. } => match &counter.kind {
                    CounterKind::Lease { lease_id, .. } => out.push(Adjustment::Release {
                        key: counter.key.clone(),
                        lease_id: lease_id.clone(),
                    }),
                    _ => {
                        let reserved = taken.first().copied().unwrap_or(0);
                        let delta = actual.map_or(0, |a| a - reserved);
                        if delta != 0 {
                            out.push(Adjustment::Add {
                                counter: counter.clone(),
                                delta,
                                at_ms: self.at_ms,
                            });
                        }
                    }
                },
                Charge::Cascade { tiers, .. } => {
                    let reserved_total: i64 = taken.iter().sum();
                    out.push(Adjustment::Respill {
                        tiers: tiers.clone(),
                        reserved: taken,
                        actual: actual.unwrap_or(reserved_total),
                        at_ms: self.at_ms,
                    });
                }
            }
        }
        out
    }

    /// The adjustments that undo this admission entirely (the request never reached an
    /// upstream): every reservation back to zero, every lease released.
    pub fn undo(&self, charges: &[Charge]) -> Vec<Adjustment> {
        self.settle_with(charges, &vec![0; charges.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_amounts_are_refused() {
        let c = Charge::limit(Counter::total("t"), MAX_AMOUNT + 1, 10);
        assert!(matches!(
            check_charges(&[c], 0),
            Err(StateError::OutOfRange(_))
        ));
        let ok = Charge::limit(Counter::total("t"), MAX_AMOUNT, MAX_AMOUNT);
        assert!(check_charges(&[ok], 0).is_ok());
    }

    #[test]
    fn money_converts_to_nanos_exactly_and_rounds_up() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(to_nanos(d("0.000000001")).unwrap(), 1);
        assert_eq!(to_nanos(d("12.345678901")).unwrap(), 12_345_678_901);
        // A cost below one nano still costs one nano; negative amounts round toward +∞.
        assert_eq!(to_nanos(d("0.0000000001")).unwrap(), 1);
        assert_eq!(to_nanos(d("-0.0000000015")).unwrap(), -1);
        assert_eq!(to_nanos(d("9007199.254740991")).unwrap(), MAX_AMOUNT);
        assert!(to_nanos(d("9007199.254740992")).is_err());
        assert!(to_nanos(Decimal::MAX).is_err());
        assert_eq!(from_nanos(12_345_678_901), d("12.345678901"));
        assert_eq!(from_nanos(1_500_000_000).to_string(), "1.5");
    }

    #[test]
    fn window_must_divide_into_buckets() {
        assert!(window_shape(60_000, 1_000).is_ok());
        assert!(window_shape(60_000, 7_000).is_err());
        assert!(window_shape(60_000, 0).is_err());
        assert!(window_shape(3_600_000, 100).is_err());
    }

    #[test]
    fn duplicate_counters_are_refused() {
        let a = Charge::limit(Counter::total("x"), 1, 10);
        let b = Charge::cascade(
            vec![Tier {
                counter: Counter::total("x"),
                limit: 5,
            }],
            1,
        );
        assert!(matches!(
            check_charges(&[a.clone(), b], 0),
            Err(StateError::Invalid(_))
        ));
        // Same key, different kind: separate namespaces.
        let w = Charge::limit(Counter::window("x", 60_000, 1_000), 1, 10);
        assert!(check_charges(&[a, w], 0).is_ok());
    }

    #[test]
    fn settle_with_builds_deltas_respills_and_releases() {
        let charges = vec![
            Charge::limit(Counter::window("tpm", 60_000, 1_000), 100, 1_000),
            Charge::limit(Counter::lease("conc", "req-1", 30_000), 1, 4),
            Charge::cascade(
                vec![
                    Tier {
                        counter: Counter::total("grant"),
                        limit: 10,
                    },
                    Tier {
                        counter: Counter::total("balance"),
                        limit: 100,
                    },
                ],
                30,
            ),
        ];
        let admitted = Admitted {
            at_ms: 5,
            used_before: vec![0, 0, 0],
            taken: vec![vec![100], vec![1], vec![10, 20]],
        };
        let adj = admitted.settle_with(&charges, &[40, 0, 25]);
        assert_eq!(
            adj,
            vec![
                Adjustment::Add {
                    counter: Counter::window("tpm", 60_000, 1_000),
                    delta: -60,
                    at_ms: 5
                },
                Adjustment::Release {
                    key: "conc".into(),
                    lease_id: "req-1".into()
                },
                Adjustment::Respill {
                    tiers: match &charges[2] {
                        Charge::Cascade { tiers, .. } => tiers.clone(),
                        Charge::Limit { .. } => unreachable!(),
                    },
                    reserved: vec![10, 20],
                    actual: 25,
                    at_ms: 5
                },
            ]
        );
        let undo = admitted.undo(&charges);
        assert!(matches!(undo[0], Adjustment::Add { delta: -100, .. }));
        assert!(matches!(undo[2], Adjustment::Respill { actual: 0, .. }));
    }
}
