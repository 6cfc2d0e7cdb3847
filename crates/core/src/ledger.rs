//! Reservations and their settlement: how a key's limits, quotas, budget, prepaid balance and
//! free credits are charged on the `StateBackend` (memory or Redis), exactly.
//!
//! Two reservations per request, each one atomic call (see docs/governance.md):
//! - **request** (`reserve_request`, from `admit`, before routing): requests per minute/hour,
//!   tokens per minute, concurrency, daily/monthly request and token quotas. Tokens are the
//!   worst case: the estimated input plus `max_tokens` (or the configured output allowance).
//! - **candidate** (`reserve_candidate`, from `dispatch`, before the first attempt on a
//!   candidate, released if it fails): money at that candidate's prices. A money grant and the
//!   balance are one cascade (grant first); a token grant is reserved first (input tokens, then
//!   output) and only the uncovered worst case is priced against the balance. A budget caps the
//!   worst-case cost of the request.
//!
//! `settle` replaces both with the real usage (or releases them when nothing was served) once.
//! When the backend is unreachable, request-level admission follows `fail_open`: a local
//! in-process backend takes over (limits per instance) or the request is refused; money is
//! never admitted on the fallback (it would spend balances and grants again): a key with money
//! rules is refused with 503 until the backend answers. Both are logged and counted.

use chrono::{Datelike, Duration as ChronoDuration, Offset, TimeZone, Utc};
use modelgate_formats::canonical::Usage;
use modelgate_store::state::{
    Admission, Admitted, Charge, Counter, MAX_AMOUNT, Refused, StateBackend, StateError, Tier,
    from_nanos, to_nanos,
};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::catalogue::{ModelEntry, ProviderEntry};
use crate::error::GatewayError;
use crate::keyring::KeyContext;
use crate::policy::{BudgetPeriod, FreeCredit};
use crate::pricing::Pricing;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// A concurrency lease outlives a crashed instance by at most this long.
const LEASE_TTL_MS: i64 = 15 * MINUTE;

/// Governance settings.
#[derive(Debug, Clone)]
pub struct GovernanceSettings {
    /// When the backend is unreachable: admit on a local in-process backend (true) or refuse.
    pub fail_open: bool,
    /// Seed 002: `RATE_LIMIT_ENABLED` with `RATE_LIMIT_PER_MINUTE` / `_PER_HOUR`, the limits
    /// of keys that set none.
    pub default_rpm: Option<u64>,
    pub default_rph: Option<u64>,
    /// Output tokens assumed for the worst case when a request sets no `max_tokens`.
    pub default_output_tokens: u64,
    /// Offset of the calendar used for daily/monthly quotas and budgets, in seconds east of UTC.
    pub utc_offset_secs: i32,
}

impl Default for GovernanceSettings {
    fn default() -> Self {
        Self {
            fail_open: true,
            default_rpm: None,
            default_rph: None,
            default_output_tokens: 4096,
            utc_offset_secs: 0,
        }
    }
}

/// The backend with its local fallback.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub backend: StateBackend,
    fallback: StateBackend,
    pub settings: GovernanceSettings,
    fallbacks: Arc<AtomicU64>,
}

/// What the request itself was charged.
struct Reserved {
    backend: StateBackend,
    charges: Vec<Charge>,
    admitted: Admitted,
    /// Per charge: how its actual amount is derived.
    units: Vec<Unit>,
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Requests,
    Tokens,
    Lease,
    /// Money in nano-units (budget, or a cascade of grant and balance).
    Money,
    /// A token grant cascade (grant, overflow).
    GrantTokens,
}

/// What a candidate was charged.
pub struct CandidateReservation {
    pricing: Pricing,
    token_grant: Option<Reserved>,
    money: Option<Reserved>,
    /// Index of the grant-and-balance cascade in `money.charges`, when there is one.
    money_cascade: Option<usize>,
    grant_is_money: bool,
}

/// Everything reserved for one request; settled exactly once.
pub struct Reservation {
    id: String,
    request: Option<Reserved>,
    candidate: Option<CandidateReservation>,
    est_input: u64,
    max_output: u64,
    /// `x-ratelimit-*` headers for the reply.
    pub headers: Vec<(&'static str, String)>,
}

/// The money side of a settled request, for the request log.
#[derive(Debug, Default, Clone)]
pub struct Charged {
    pub cost: Option<Decimal>,
    /// Free credit used: money, or tokens for token grants.
    pub credit_used: Option<String>,
    pub balance_charged: Option<Decimal>,
}

fn nanos(d: Decimal) -> Result<i64, GatewayError> {
    to_nanos(d).map_err(|e| GatewayError::Internal(format!("amount out of range: {e}")))
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(MAX_AMOUNT).min(MAX_AMOUNT)
}

/// Whether calling `provider` costs `key` anything to reserve: a balance, a budget or the
/// provider's free credit.
pub fn needs_money(key: &KeyContext, provider: &ProviderEntry) -> bool {
    key.credited.is_some() || key.budget.is_some() || provider.free_credit.is_some()
}

impl Reservation {
    /// Nothing was reserved (no limits, no money rules): settling it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.request.is_none() && self.candidate.is_none()
    }
}

impl Ledger {
    pub fn new(backend: StateBackend, settings: GovernanceSettings) -> Self {
        Self {
            backend,
            fallback: StateBackend::memory(),
            settings,
            fallbacks: Arc::default(),
        }
    }

    /// Admissions answered by the local fallback because the backend was unreachable.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Admits money on the backend only: balances, budgets and grants live there, and a local
    /// fallback (which starts at zero) would spend them again. Unreachable → 503.
    async fn admit_money(
        &self,
        charges: &[Charge],
        now_ms: i64,
    ) -> Result<(StateBackend, Admission), GatewayError> {
        match self.backend.admit(charges, now_ms).await {
            Ok(a) => Ok((self.backend.clone(), a)),
            Err(e) if e.is_unavailable() => {
                metrics::counter!("modelgate_state_unavailable_total").increment(1);
                tracing::warn!(error = %e, "state backend unreachable: money cannot be checked, refusing");
                Err(GatewayError::Unavailable(
                    "balances cannot be checked right now; try again shortly".into(),
                ))
            }
            Err(e) => Err(state_error(e)),
        }
    }

    /// Admits request-level limits on the backend, or on the local fallback when it is
    /// unreachable (fail-open: limits then hold per instance).
    async fn admit(
        &self,
        charges: &[Charge],
        now_ms: i64,
    ) -> Result<(StateBackend, Admission), GatewayError> {
        match self.backend.admit(charges, now_ms).await {
            Ok(a) => Ok((self.backend.clone(), a)),
            Err(e) if e.is_unavailable() && self.settings.fail_open => {
                let n = self.fallbacks.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::counter!("modelgate_state_fallback_total").increment(1);
                if n.is_power_of_two() {
                    tracing::warn!(error = %e, fallbacks = n, "state backend unreachable: admitting on local limits (fail-open)");
                }
                let a = self
                    .fallback
                    .admit(charges, now_ms)
                    .await
                    .map_err(state_error)?;
                Ok((self.fallback.clone(), a))
            }
            Err(e) if e.is_unavailable() => {
                metrics::counter!("modelgate_state_unavailable_total").increment(1);
                tracing::warn!(error = %e, "state backend unreachable: refusing (fail-closed)");
                Err(GatewayError::Unavailable(
                    "limits cannot be checked right now; try again shortly".into(),
                ))
            }
            Err(e) => Err(state_error(e)),
        }
    }

    /// The request-level reservation (rate limits, concurrency, quotas).
    pub async fn reserve_request(
        &self,
        key: &KeyContext,
        request_id: &str,
        est_input: u64,
        max_tokens: Option<u64>,
        now_ms: i64,
    ) -> Result<Reservation, GatewayError> {
        let max_output = max_tokens.unwrap_or(self.settings.default_output_tokens);
        let tokens = clamp(est_input.saturating_add(max_output));
        let l = &key.limits;
        let id = &key.key_id;
        let mut charges = Vec::new();
        let mut units = Vec::new();
        let mut push = |c: Charge, u: Unit| {
            charges.push(c);
            units.push(u);
        };
        let rpm = l.rpm.or(self.settings.default_rpm);
        let rph = l.rph.or(self.settings.default_rph);
        if let Some(n) = rpm {
            push(
                Charge::limit(
                    Counter::window(format!("vk:{id}:rpm"), MINUTE, 1_000),
                    1,
                    clamp(n),
                ),
                Unit::Requests,
            );
        }
        if let Some(n) = rph {
            push(
                Charge::limit(
                    Counter::window(format!("vk:{id}:rph"), HOUR, MINUTE),
                    1,
                    clamp(n),
                ),
                Unit::Requests,
            );
        }
        if let Some(n) = l.tpm {
            push(
                Charge::limit(
                    Counter::window(format!("vk:{id}:tpm"), MINUTE, 1_000),
                    tokens,
                    clamp(n),
                ),
                Unit::Tokens,
            );
        }
        if let Some(n) = l.max_concurrency {
            push(
                Charge::limit(
                    Counter::lease(format!("vk:{id}:conc"), request_id, LEASE_TTL_MS),
                    1,
                    clamp(n),
                ),
                Unit::Lease,
            );
        }
        let cal = Calendar::new(now_ms, self.settings.utc_offset_secs);
        for (limit, period, unit, what) in [
            (l.daily_requests, Period::Day, Unit::Requests, "req"),
            (l.monthly_requests, Period::Month, Unit::Requests, "req"),
            (l.daily_tokens, Period::Day, Unit::Tokens, "tok"),
            (l.monthly_tokens, Period::Month, Unit::Tokens, "tok"),
        ] {
            if let Some(n) = limit {
                let (pid, ends) = cal.period(period);
                let amount = if matches!(unit, Unit::Tokens) {
                    tokens
                } else {
                    1
                };
                push(
                    Charge::limit(
                        Counter::period(format!("vk:{id}:{what}:{pid}"), ends),
                        amount,
                        clamp(n),
                    ),
                    unit,
                );
            }
        }
        let mut r = Reservation {
            id: request_id.to_owned(),
            request: None,
            candidate: None,
            est_input,
            max_output,
            headers: Vec::new(),
        };
        if charges.is_empty() {
            return Ok(r);
        }
        let (backend, admission) = self.admit(&charges, now_ms).await?;
        match admission {
            Admission::Refused(refused) => Err(refusal(&charges, &refused)),
            Admission::Admitted(admitted) => {
                r.headers = ratelimit_headers(&charges, &admitted);
                r.request = Some(Reserved {
                    backend,
                    charges,
                    admitted,
                    units,
                });
                Ok(r)
            }
        }
    }

    /// Reserves the money a candidate may cost (worst case at its prices). Refusal: 402 when
    /// the balance cannot cover it, 429 `budget_exceeded`-style when the budget cannot.
    pub async fn reserve_candidate(
        &self,
        r: &mut Reservation,
        key: &KeyContext,
        provider: &ProviderEntry,
        model: Option<&Arc<ModelEntry>>,
        now_ms: i64,
    ) -> Result<(), GatewayError> {
        self.release_candidate(r, now_ms).await;
        let pricing = model.map(|m| m.pricing.clone()).unwrap_or_default();
        let grant = provider.free_credit;
        if !needs_money(key, provider) {
            return Ok(());
        }
        let id = &key.key_id;
        let mut cand = CandidateReservation {
            pricing: pricing.clone(),
            token_grant: None,
            money: None,
            money_cascade: None,
            grant_is_money: matches!(grant, Some(FreeCredit::Money { .. })),
        };
        // Token grants: what of the worst case the grant covers (input first, then output).
        let (mut unc_in, mut unc_out) = (r.est_input, r.max_output);
        if let Some(FreeCredit::Tokens { tokens } | FreeCredit::ModelTokens { tokens }) = grant {
            let gk = grant_key(id, provider, model, grant);
            let worst = clamp(r.est_input.saturating_add(r.max_output));
            let charges = vec![Charge::cascade(
                vec![
                    Tier {
                        counter: Counter::total(gk),
                        limit: clamp(tokens),
                    },
                    Tier {
                        counter: Counter::total(format!("vk:{id}:grant_overflow")),
                        limit: MAX_AMOUNT,
                    },
                ],
                worst,
            )];
            let (backend, a) = self.admit_money(&charges, now_ms).await?;
            let Admission::Admitted(admitted) = a else {
                return Err(GatewayError::Internal(
                    "the token grant refused a cascade".into(),
                ));
            };
            let covered = admitted
                .taken
                .first()
                .and_then(|t| t.first())
                .copied()
                .map_or(0, |c| u64::try_from(c).unwrap_or(0));
            let ci = covered.min(unc_in);
            unc_in -= ci;
            unc_out = unc_out.saturating_sub(covered - ci);
            cand.token_grant = Some(Reserved {
                backend,
                charges,
                admitted,
                units: vec![Unit::GrantTokens],
            });
        }
        let worst_cost = nanos(pricing.cost(&Usage {
            input_tokens: r.est_input,
            output_tokens: r.max_output,
            ..Default::default()
        }))?;
        let uncovered_cost = nanos(pricing.cost(&Usage {
            input_tokens: unc_in,
            output_tokens: unc_out,
            ..Default::default()
        }))?;
        let mut charges = Vec::new();
        let mut units = Vec::new();
        if let Some(b) = key.budget {
            let counter = match b.period {
                BudgetPeriod::Total => Counter::total(format!("vk:{id}:spend:total")),
                p => {
                    let (pid, ends) =
                        Calendar::new(now_ms, self.settings.utc_offset_secs).period(match p {
                            BudgetPeriod::Daily => Period::Day,
                            BudgetPeriod::Weekly => Period::Week,
                            _ => Period::Month,
                        });
                    Counter::period(format!("vk:{id}:spend:{pid}"), ends)
                }
            };
            charges.push(Charge::limit(counter, worst_cost, nanos(b.amount)?));
            units.push(Unit::Money);
        }
        let mut tiers = Vec::new();
        if let Some(FreeCredit::Money { amount }) = grant {
            tiers.push(Tier {
                counter: Counter::total(grant_key(id, provider, model, grant)),
                limit: nanos(amount)?,
            });
        }
        if let Some(credited) = key.credited {
            tiers.push(Tier {
                counter: Counter::total(format!("vk:{id}:balance_spent")),
                limit: nanos(credited)?,
            });
        } else if !tiers.is_empty() {
            // Not prepaid: what the grant does not cover is billed without a cap.
            tiers.push(Tier {
                counter: Counter::total(format!("vk:{id}:postpaid")),
                limit: MAX_AMOUNT,
            });
        }
        if !tiers.is_empty() {
            cand.money_cascade = Some(charges.len());
            let amount = if cand.grant_is_money {
                worst_cost
            } else {
                uncovered_cost
            };
            charges.push(Charge::cascade(tiers, amount));
            units.push(Unit::Money);
        }
        if !charges.is_empty() {
            let result = self.admit_money(&charges, now_ms).await;
            match result {
                Ok((backend, Admission::Admitted(admitted))) => {
                    cand.money = Some(Reserved {
                        backend,
                        charges,
                        admitted,
                        units,
                    });
                }
                Ok((_, Admission::Refused(refused))) => {
                    undo(cand.token_grant.take(), &format!("{}:tg", r.id), now_ms).await;
                    let budget = key.budget.is_some() && refused.index == 0;
                    return Err(if budget {
                        GatewayError::PaymentRequired(format!(
                            "This API key's budget is used up (used {} of {})",
                            from_nanos(refused.used),
                            from_nanos(refused.limit)
                        ))
                    } else {
                        GatewayError::PaymentRequired(format!(
                            "This API key's balance is too low for this request (its worst case costs {}; left {})",
                            from_nanos(worst_cost),
                            from_nanos((refused.limit - refused.used).max(0))
                        ))
                    });
                }
                Err(e) => {
                    undo(cand.token_grant.take(), &format!("{}:tg", r.id), now_ms).await;
                    return Err(e);
                }
            }
        }
        r.candidate = Some(cand);
        Ok(())
    }

    /// Gives a candidate's reservation back (its attempt failed; another may be tried).
    pub async fn release_candidate(&self, r: &mut Reservation, now_ms: i64) {
        if let Some(c) = r.candidate.take() {
            let tag = format!("{}:rel:{now_ms}", r.id);
            undo(c.token_grant, &format!("{tag}:tg"), now_ms).await;
            undo(c.money, &format!("{tag}:m"), now_ms).await;
        }
    }

    /// Settles a reservation with the real usage (`None`: nothing was served, nothing billed).
    pub async fn settle(&self, r: Reservation, usage: Option<Usage>, now_ms: i64) -> Charged {
        let tokens = usage.map_or(0, |u| clamp(u.total()));
        let mut charged = Charged::default();
        if let Some(req) = r.request {
            let actual: Vec<i64> = req
                .units
                .iter()
                .map(|u| match u {
                    Unit::Tokens => tokens,
                    _ => 1,
                })
                .collect();
            let adj = req.admitted.settle_with(&req.charges, &actual);
            if let Err(e) = req
                .backend
                .settle(&format!("{}:req", r.id), &adj, now_ms)
                .await
            {
                tracing::warn!(error = %e, "settling the request reservation failed");
            }
        }
        let Some(c) = r.candidate else {
            return charged;
        };
        let Some(u) = usage else {
            undo(c.token_grant, &format!("{}:tg", r.id), now_ms).await;
            undo(c.money, &format!("{}:m", r.id), now_ms).await;
            return charged;
        };
        let cost = c.pricing.cost(&u);
        charged.cost = Some(cost);
        // Token grant: the real tokens, grant first (input, then output).
        let (mut bill_in, mut bill_out, mut bill_cached) =
            (u.input_tokens, u.output_tokens, u.cache_read_tokens);
        if let Some(tg) = c.token_grant {
            let adj = tg.admitted.settle_with(&tg.charges, &[tokens]);
            match tg
                .backend
                .settle(&format!("{}:tg", r.id), &adj, now_ms)
                .await
            {
                Ok(s) => {
                    let covered = s
                        .amounts
                        .first()
                        .and_then(|t| t.first())
                        .copied()
                        .map_or(0, |c| u64::try_from(c).unwrap_or(0));
                    charged.credit_used = Some(format!("{covered} tokens"));
                    let ci = covered.min(bill_in);
                    let uncached = bill_in - bill_cached.min(bill_in);
                    // Covered input tokens come off the uncached ones first, then the cached.
                    let from_uncached = ci.min(uncached);
                    bill_cached -= (ci - from_uncached).min(bill_cached);
                    bill_in -= ci;
                    bill_out = bill_out.saturating_sub(covered - ci);
                }
                Err(e) => tracing::warn!(error = %e, "settling the token grant failed"),
            }
        }
        let billed = c.pricing.cost(&Usage {
            input_tokens: bill_in,
            output_tokens: bill_out,
            cache_read_tokens: bill_cached.min(bill_in),
            ..Default::default()
        });
        if let Some(m) = c.money {
            let (Ok(cost_n), Ok(billed_n)) = (to_nanos(cost), to_nanos(billed)) else {
                return charged;
            };
            let actual: Vec<i64> = (0..m.charges.len())
                .map(|i| {
                    if Some(i) == c.money_cascade && !c.grant_is_money {
                        billed_n
                    } else {
                        cost_n
                    }
                })
                .collect();
            let adj = m.admitted.settle_with(&m.charges, &actual);
            match m.backend.settle(&format!("{}:m", r.id), &adj, now_ms).await {
                Ok(s) => {
                    if let Some(i) = c.money_cascade
                        && let Some(amounts) = s.amounts.get(i)
                    {
                        let tiers = amounts.len();
                        if c.grant_is_money && tiers >= 1 {
                            charged.credit_used =
                                Some(from_nanos(amounts[0]).normalize().to_string());
                        }
                        let prepaid = matches!(
                            &m.charges[i],
                            Charge::Cascade { tiers: t, .. } if t.last().is_some_and(|t| t.counter.key.ends_with(":balance_spent"))
                        );
                        if prepaid && let Some(last) = amounts.last() {
                            charged.balance_charged = Some(from_nanos(*last).normalize());
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "settling the money reservation failed"),
            }
        }
        charged
    }

    /// Spent so far: balance, budget and grants of a key (for the usage view).
    pub async fn read(&self, counters: &[Counter], now_ms: i64) -> Result<Vec<i64>, GatewayError> {
        self.backend
            .usage(counters, now_ms)
            .await
            .map_err(state_error)
    }
}

async fn undo(r: Option<Reserved>, id: &str, now_ms: i64) {
    if let Some(r) = r {
        let adj = r.admitted.undo(&r.charges);
        if let Err(e) = r.backend.settle(id, &adj, now_ms).await {
            tracing::warn!(error = %e, "releasing a reservation failed");
        }
    }
}

fn state_error(e: StateError) -> GatewayError {
    GatewayError::Internal(format!("state backend: {e}"))
}

/// The counter key of a free-credit grant: per key and provider, and per model for
/// `model_tokens` grants.
pub fn grant_key(
    key_id: &str,
    provider: &ProviderEntry,
    model: Option<&Arc<ModelEntry>>,
    grant: Option<FreeCredit>,
) -> String {
    match grant {
        Some(FreeCredit::ModelTokens { .. }) => format!(
            "vk:{key_id}:grant:{}:{}",
            provider.id,
            model.map_or("", |m| m.model_id.as_str())
        ),
        _ => format!("vk:{key_id}:grant:{}", provider.id),
    }
}

/// The 429/402 for a refused request-level charge.
fn refusal(charges: &[Charge], refused: &Refused) -> GatewayError {
    let key = match &charges[refused.index] {
        Charge::Limit { counter, .. } => counter.key.as_str(),
        Charge::Cascade { .. } => "",
    };
    let what = key.rsplit(':').next().unwrap_or("");
    let (code, message) = if key.contains(":req:") || key.contains(":tok:") {
        (
            "quota_exceeded",
            format!(
                "This API key's {} quota is used up ({} of {})",
                if key.contains(":tok:") {
                    "token"
                } else {
                    "request"
                },
                refused.used,
                refused.limit
            ),
        )
    } else {
        let kind = match what {
            "rpm" => "requests per minute",
            "rph" => "requests per hour",
            "tpm" => "tokens per minute",
            "conc" => "concurrent requests",
            _ => "requests",
        };
        (
            "rate_limit_exceeded",
            format!(
                "Rate limit reached for {kind}: limit {}, used {}",
                refused.limit, refused.used
            ),
        )
    };
    GatewayError::Limited {
        message,
        code,
        retry_after: refused
            .retry_after_ms
            .map(|ms| std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
    }
}

/// `x-ratelimit-limit/remaining/reset-requests` (per-minute limit, else per-hour) and
/// `-tokens` (per-minute) after an admission.
fn ratelimit_headers(charges: &[Charge], a: &Admitted) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let find = |suffix: &str| {
        charges.iter().position(
            |c| matches!(c, Charge::Limit { counter, .. } if counter.key.ends_with(suffix)),
        )
    };
    let req = find(":rpm")
        .map(|i| (i, "60s"))
        .or_else(|| find(":rph").map(|i| (i, "1h")));
    if let Some((i, reset)) = req
        && let Charge::Limit { limit, amount, .. } = &charges[i]
    {
        let used = a.used_before.get(i).copied().unwrap_or(0) + amount;
        out.push(("x-ratelimit-limit-requests", limit.to_string()));
        out.push((
            "x-ratelimit-remaining-requests",
            (limit - used).max(0).to_string(),
        ));
        out.push(("x-ratelimit-reset-requests", reset.to_owned()));
    }
    if let Some(i) = find(":tpm")
        && let Charge::Limit { limit, amount, .. } = &charges[i]
    {
        let used = a.used_before.get(i).copied().unwrap_or(0) + amount;
        out.push(("x-ratelimit-limit-tokens", limit.to_string()));
        out.push((
            "x-ratelimit-remaining-tokens",
            (limit - used).max(0).to_string(),
        ));
        out.push(("x-ratelimit-reset-tokens", "60s".to_owned()));
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Period {
    Day,
    Week,
    Month,
}

/// Calendar periods in the configured offset: their ids and when they end (unix ms).
struct Calendar {
    local: chrono::DateTime<chrono::FixedOffset>,
    offset: chrono::FixedOffset,
}

impl Calendar {
    fn new(now_ms: i64, offset_secs: i32) -> Self {
        let offset = chrono::FixedOffset::east_opt(offset_secs)
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).unwrap_or(Utc.fix()));
        let utc = Utc
            .timestamp_millis_opt(now_ms)
            .single()
            .unwrap_or_default();
        Self {
            local: utc.with_timezone(&offset),
            offset,
        }
    }

    fn period(&self, p: Period) -> (String, i64) {
        let d = self.local.date_naive();
        let (id, end) = match p {
            Period::Day => (d.format("day:%Y-%m-%d").to_string(), d.succ_opt()),
            Period::Week => {
                let monday =
                    d - ChronoDuration::days(i64::from(d.weekday().num_days_from_monday()));
                (
                    monday.format("week:%Y-%m-%d").to_string(),
                    Some(monday + ChronoDuration::days(7)),
                )
            }
            Period::Month => {
                let next = if d.month() == 12 {
                    chrono::NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
                } else {
                    chrono::NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
                };
                (d.format("month:%Y-%m").to_string(), next)
            }
        };
        let end_ms = end
            .and_then(|e| e.and_hms_opt(0, 0, 0))
            .and_then(|e| self.offset.from_local_datetime(&e).single())
            .map_or(i64::MAX / 4, |e| e.timestamp_millis());
        (id, end_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_periods() {
        // 2026-12-31 23:30 UTC.
        let now = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 30, 0)
            .unwrap()
            .timestamp_millis();
        let c = Calendar::new(now, 0);
        let (id, end) = c.period(Period::Day);
        assert_eq!(id, "day:2026-12-31");
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        let (id, end) = c.period(Period::Month);
        assert_eq!(id, "month:2026-12");
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        // At UTC+8 it is already 2027-01-01 07:30.
        let c = Calendar::new(now, 8 * 3600);
        assert_eq!(c.period(Period::Day).0, "day:2027-01-01");
        assert_eq!(c.period(Period::Month).0, "month:2027-01");
        let (id, end) = c.period(Period::Week);
        assert_eq!(id, "week:2026-12-28");
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2027, 1, 3, 16, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
    }
}
