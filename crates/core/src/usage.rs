//! The usage view of a key (`GET /admin/api-keys/{id}/usage`): requests, tokens and cost in
//! the current periods, balance and budget left, and what is left of each free-credit grant.
//!
//! Requests, tokens, cost and balance spent are summed from the request log (the record of what
//! was billed), so the view matches the log to the last decimal; grants are read from the state
//! backend (they include reservations of requests in flight). Off the hot path.

use chrono::{Datelike, Offset, TimeZone, Utc};
use modelgate_store::state::{Counter, from_nanos};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::keyring::KeyContext;
use crate::ledger::grant_key;
use crate::policy::{BudgetPeriod, FreeCredit, KeyLimits};

#[derive(Debug, Serialize)]
pub struct PeriodUsage {
    /// Start of the period (RFC 3339).
    pub since: String,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cost: String,
}

#[derive(Debug, Serialize)]
pub struct BudgetView {
    pub amount: String,
    pub period: &'static str,
    pub used: String,
    pub remaining: String,
}

#[derive(Debug, Serialize)]
pub struct CreditView {
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `money`, `tokens` or `model_tokens`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub granted: String,
    pub used: String,
    pub remaining: String,
}

#[derive(Debug, Serialize)]
pub struct UsageView {
    pub key_id: String,
    pub limits: KeyLimits,
    pub day: PeriodUsage,
    pub month: PeriodUsage,
    pub total: PeriodUsage,
    /// Prepaid keys: credited minus charged; absent for keys that are not prepaid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_credited: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetView>,
    pub credits: Vec<CreditView>,
}

fn period(t: modelgate_store::request_logs::UsageTotals, since_ms: i64) -> PeriodUsage {
    PeriodUsage {
        since: Utc
            .timestamp_millis_opt(since_ms)
            .single()
            .map(|d| d.to_rfc3339())
            .unwrap_or_default(),
        requests: t.requests,
        prompt_tokens: t.prompt_tokens,
        completion_tokens: t.completion_tokens,
        total_tokens: t.total_tokens,
        cost: t.cost.normalize().to_string(),
    }
}

/// The usage view of a key.
pub async fn usage_view(gw: &Gateway, key: &KeyContext) -> Result<UsageView, GatewayError> {
    let now = modelgate_store::now_ms();
    let offset = gw.ledger.settings.utc_offset_secs;
    let local = Utc
        .timestamp_millis_opt(now)
        .single()
        .unwrap_or_default()
        .with_timezone(&chrono::FixedOffset::east_opt(offset).unwrap_or(chrono::Utc.fix()));
    let start = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| local.offset().from_local_datetime(&t).single())
            .map_or(0, |t| t.timestamp_millis())
    };
    let today = local.date_naive();
    let day_start = start(today);
    let month_start = today.with_day(1).map_or(day_start, start);
    let week_start =
        start(today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday())));
    let db = |e: modelgate_store::StoreError| GatewayError::Internal(e.to_string());
    let id = &key.key_id;
    let day = gw.db.usage_totals(id, day_start).await.map_err(db)?;
    let week = gw.db.usage_totals(id, week_start).await.map_err(db)?;
    let month = gw.db.usage_totals(id, month_start).await.map_err(db)?;
    let total = gw.db.usage_totals(id, 0).await.map_err(db)?;
    let balance = key
        .credited
        .map(|c| (c - total.balance_charged).normalize().to_string());
    let budget = key.budget.map(|b| {
        let used = match b.period {
            BudgetPeriod::Daily => day.cost,
            BudgetPeriod::Weekly => week.cost,
            BudgetPeriod::Monthly => month.cost,
            BudgetPeriod::Total => total.cost,
        };
        BudgetView {
            amount: b.amount.normalize().to_string(),
            period: b.period.as_str(),
            used: used.normalize().to_string(),
            remaining: (b.amount - used).max(Decimal::ZERO).normalize().to_string(),
        }
    });
    let cat = gw.catalogue();
    let mut credits = Vec::new();
    for p in cat
        .providers
        .iter()
        .filter(|p| crate::catalogue::provider_visible(p, key.tenant_id.as_deref()))
    {
        let Some(grant) = p.free_credit else {
            continue;
        };
        let models: Vec<Option<std::sync::Arc<crate::catalogue::ModelEntry>>> = match grant {
            FreeCredit::ModelTokens { .. } => cat
                .models_of_provider(&p.id)
                .into_iter()
                .map(Some)
                .collect(),
            _ => vec![None],
        };
        for m in models {
            let counter = Counter::total(grant_key(id, p, m.as_ref(), Some(grant)));
            let used = gw
                .ledger
                .read(&[counter], now)
                .await?
                .first()
                .copied()
                .unwrap_or(0);
            let (kind, granted, used) = match grant {
                FreeCredit::Money { amount } => ("money", amount, from_nanos(used)),
                FreeCredit::Tokens { tokens } => {
                    ("tokens", Decimal::from(tokens), Decimal::from(used))
                }
                FreeCredit::ModelTokens { tokens } => {
                    ("model_tokens", Decimal::from(tokens), Decimal::from(used))
                }
            };
            credits.push(CreditView {
                provider: p.name.clone(),
                model: m.map(|m| m.model_id.clone()),
                kind,
                granted: granted.normalize().to_string(),
                used: used.min(granted).normalize().to_string(),
                remaining: (granted - used).max(Decimal::ZERO).normalize().to_string(),
            });
        }
    }
    Ok(UsageView {
        key_id: id.clone(),
        limits: key.limits,
        day: period(day, day_start),
        month: period(month, month_start),
        total: period(total, 0),
        balance,
        balance_credited: key.credited.map(|c| c.normalize().to_string()),
        budget,
        credits,
    })
}
