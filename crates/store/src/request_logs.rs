//! The request log: append-only batched inserts and filtered queries.

use std::sync::Arc;

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::RequestLogRecord;
use crate::{Page, with_pool};

use crate::records::REQUEST_LOG_COLS as COLS;

/// Rows per INSERT statement (31 columns each keeps well under every bind limit). Batches
/// are cut into statements of 64, 32, 16, 8, 4, 2 and 1 rows, so only seven distinct SQL
/// texts exist and each is prepared once per connection (sqlx's statement cache).
const ROWS_PER_STATEMENT: usize = 64;

/// Cuts `n` rows into statement sizes: as many full statements as fit, then powers of two.
fn statement_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n >= ROWS_PER_STATEMENT {
        sizes.push(ROWS_PER_STATEMENT);
        n -= ROWS_PER_STATEMENT;
    }
    let mut size = ROWS_PER_STATEMENT / 2;
    while n > 0 {
        if n >= size {
            sizes.push(size);
            n -= size;
        }
        size /= 2;
    }
    sizes
}

/// Filters of a request-log query; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct RequestLogFilter {
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub status: Option<i64>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only this tenant's records (a tenant admin's view).
    pub tenant_id: Option<String>,
    /// `hit` or `miss`: the response-cache outcome.
    pub cache: Option<String>,
}

const WHERE: &str = "WHERE ($1 IS NULL OR key_id = $1) AND ($2 IS NULL OR requested_model = $2) \
    AND ($3 IS NULL OR provider = $3) AND ($4 IS NULL OR status = $4) \
    AND ($5 IS NULL OR ts_ms >= $5) AND ($6 IS NULL OR ts_ms < $6) \
    AND ($7 IS NULL OR tenant_id = $7) AND ($8 IS NULL OR cache = $8)";

/// Replaces NUL in every text field: client-supplied text (a model name, a body) may contain
/// it, PostgreSQL text cannot hold it, and one such record would fail its whole batch.
fn scrub(r: &mut RequestLogRecord) {
    let fix = |s: &mut String| {
        if s.contains('\0') {
            *s = s.replace('\0', "\u{FFFD}");
        }
    };
    for s in [
        &mut r.id,
        &mut r.request_id,
        &mut r.dialect,
        &mut r.endpoint,
    ] {
        fix(s);
    }
    for s in [
        &mut r.key_id,
        &mut r.tenant_id,
        &mut r.requested_model,
        &mut r.provider,
        &mut r.provider_model,
        &mut r.cost,
        &mut r.error,
        &mut r.attempt_log,
        &mut r.request_body,
        &mut r.response_body,
        &mut r.upstream_dialect,
        &mut r.notes,
        &mut r.credit_used,
        &mut r.balance_charged,
        &mut r.cache,
    ]
    .into_iter()
    .flatten()
    {
        fix(s);
    }
}

fn has_nul(r: &RequestLogRecord) -> bool {
    let nul = |s: &str| memchr::memchr(0, s.as_bytes()).is_some();
    [&r.id, &r.request_id, &r.dialect, &r.endpoint]
        .into_iter()
        .any(|s| nul(s))
        || [
            &r.key_id,
            &r.tenant_id,
            &r.requested_model,
            &r.provider,
            &r.provider_model,
            &r.cost,
            &r.error,
            &r.attempt_log,
            &r.request_body,
            &r.response_body,
            &r.upstream_dialect,
            &r.notes,
            &r.credit_used,
            &r.balance_charged,
            &r.cache,
        ]
        .into_iter()
        .flatten()
        .any(|s| nul(s))
}

impl RequestLogFilter {
    /// Whether no stored record can match (a NUL in a text filter).
    fn unmatchable(&self) -> bool {
        [
            &self.key_id,
            &self.model,
            &self.provider,
            &self.tenant_id,
            &self.cache,
        ]
        .iter()
        .flat_map(|o| o.as_deref())
        .any(crate::db::unmatchable)
    }
}

impl Database {
    /// Appends a batch of records (the request-log writer's path): on a SQLite file through the
    /// appender, on a blocking thread; otherwise as `insert_request_logs`. The batch is shared,
    /// not copied, so a failed append can be retried with the same records.
    pub async fn append_request_logs(&self, records: Arc<Vec<RequestLogRecord>>) -> Result<()> {
        let Database::Sqlite(_, Some(appender)) = self else {
            return self.insert_request_logs(&records).await;
        };
        if records.is_empty() {
            return Ok(());
        }
        let appender = appender.clone();
        tokio::task::spawn_blocking(move || {
            if records.iter().any(has_nul) {
                let mut v = records.to_vec();
                v.iter_mut().for_each(scrub);
                appender.append(&v)
            } else {
                appender.append(&records)
            }
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
    }
}

impl Database {
    /// Appends records in one transaction, up to 64 rows per statement.
    pub async fn insert_request_logs(&self, records: &[RequestLogRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let scrubbed: Option<Vec<RequestLogRecord>> = records.iter().any(has_nul).then(|| {
            let mut v = records.to_vec();
            v.iter_mut().for_each(scrub);
            v
        });
        let records = scrubbed.as_deref().unwrap_or(records);
        with_pool!(self, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            let mut rest = records;
            for size in statement_sizes(records.len()) {
                let (chunk, tail) = rest.split_at(size);
                rest = tail;
                let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO request_logs ({COLS}) "));
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(&r.id).push_bind(r.ts_ms).push_bind(&r.request_id).push_bind(&r.key_id)
                        .push_bind(&r.tenant_id).push_bind(&r.dialect).push_bind(&r.endpoint)
                        .push_bind(&r.requested_model).push_bind(&r.provider).push_bind(&r.provider_model)
                        .push_bind(r.attempts).push_bind(r.status).push_bind(r.stream).push_bind(r.latency_ms)
                        .push_bind(r.ttft_ms).push_bind(r.prompt_tokens).push_bind(r.completion_tokens)
                        .push_bind(r.cached_tokens).push_bind(r.reasoning_tokens).push_bind(r.total_tokens)
                        .push_bind(&r.cost).push_bind(&r.error).push_bind(&r.attempt_log)
                        .push_bind(&r.request_body).push_bind(&r.response_body)
                        .push_bind(&r.upstream_dialect).push_bind(&r.notes)
                        .push_bind(&r.credit_used).push_bind(&r.balance_charged)
                        .push_bind(r.usage_estimated).push_bind(&r.cache);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records matching `filter`, newest first.
    pub async fn query_request_logs(
        &self,
        filter: &RequestLogFilter,
        page: Page,
    ) -> Result<Vec<RequestLogRecord>> {
        if filter.unmatchable() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {COLS} FROM request_logs {WHERE} ORDER BY ts_ms DESC, id DESC LIMIT $9 OFFSET $10"
        );
        let f = filter;
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.key_id).bind(&f.model).bind(&f.provider).bind(f.status).bind(f.since_ms).bind(f.until_ms)
            .bind(&f.tenant_id).bind(&f.cache)
            .bind(page.limit).bind(page.skip)
            .fetch_all(p).await?),
        )
    }

    pub async fn count_request_logs(&self, filter: &RequestLogFilter) -> Result<i64> {
        if filter.unmatchable() {
            return Ok(0);
        }
        let sql = format!("SELECT COUNT(*) FROM request_logs {WHERE}");
        let f = filter;
        let (n,): (i64,) = with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.key_id).bind(&f.model).bind(&f.provider).bind(f.status).bind(f.since_ms).bind(f.until_ms)
            .bind(&f.tenant_id).bind(&f.cache)
            .fetch_one(p).await?);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_scrubbed_from_every_text_field() {
        let clean = RequestLogRecord {
            id: "a".into(),
            requested_model: Some("gpt".into()),
            ..Default::default()
        };
        assert!(!has_nul(&clean));
        let mut dirty = RequestLogRecord {
            requested_model: Some("gpt\0x".into()),
            error: Some("model `\0` unknown".into()),
            endpoint: "/v1/\0".into(),
            ..clean.clone()
        };
        assert!(has_nul(&dirty));
        scrub(&mut dirty);
        assert!(!has_nul(&dirty));
        assert_eq!(dirty.requested_model.as_deref(), Some("gpt\u{FFFD}x"));
        assert_eq!(dirty.endpoint, "/v1/\u{FFFD}");
        assert_eq!(dirty.id, "a");
    }
}

/// What a key used since a time, summed from its request-log records (exact decimals, summed
/// here rather than in SQL so that SQLite and PostgreSQL agree to the last digit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageTotals {
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cost: rust_decimal::Decimal,
    pub balance_charged: rust_decimal::Decimal,
}

impl Database {
    /// Sums a key's records with `ts_ms >= since_ms`.
    pub async fn usage_totals(&self, key_id: &str, since_ms: i64) -> Result<UsageTotals> {
        type Row = (i64, i64, i64, Option<String>, Option<String>);
        let sql = "SELECT prompt_tokens, completion_tokens, total_tokens, cost, balance_charged \
                   FROM request_logs WHERE key_id = $1 AND ts_ms >= $2";
        let rows: Vec<Row> = with_pool!(self, p => sqlx::query_as(sql).bind(key_id).bind(since_ms).fetch_all(p).await?);
        let mut t = UsageTotals::default();
        let dec = |s: &Option<String>| {
            s.as_deref()
                .and_then(|v| v.parse::<rust_decimal::Decimal>().ok())
                .unwrap_or_default()
        };
        for (p, c, tot, cost, bal) in &rows {
            t.requests += 1;
            t.prompt_tokens += p;
            t.completion_tokens += c;
            t.total_tokens += tot;
            t.cost += dec(cost);
            t.balance_charged += dec(bal);
        }
        Ok(t)
    }
}
