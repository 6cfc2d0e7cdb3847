//! Queries on `balance_events`: the append-only top-ups and corrections of prepaid keys.
//!
//! Rows are only ever inserted (a correction is a negative event), never updated. Amounts are
//! decimal strings summed in Rust with `rust_decimal`, never as SQL floats. What a key spent is
//! not here: the state backend counts it.

use rust_decimal::Decimal;
use std::collections::HashMap;

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::BalanceEventRecord;
use crate::{Page, with_pool};

const COLS: &str = "id, key_id, amount, note, created_at";

fn parse_amount(e_id: &str, amount: &str) -> Result<Decimal> {
    amount
        .parse::<Decimal>()
        .map_err(|_| StoreError::Corrupt(format!("balance event {e_id}: amount '{amount}'")))
}

impl Database {
    /// Appends a balance event and marks its key prepaid, in one transaction. An unknown key
    /// is `NotFound`.
    pub async fn append_balance_event(&self, e: &BalanceEventRecord) -> Result<()> {
        let sql = format!("INSERT INTO balance_events ({COLS}) VALUES ($1,$2,$3,$4,$5)");
        with_pool!(self, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            let done = sqlx::query("UPDATE virtual_keys SET prepaid = TRUE WHERE id = $1")
                .bind(&e.key_id).execute(&mut *tx).await?.rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&e.id).bind(&e.key_id).bind(&e.amount).bind(&e.note).bind(e.created_at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Inserts a new prepaid key with its initial balance event, in one transaction.
    pub async fn insert_virtual_key_with_balance(
        &self,
        k: &crate::records::VirtualKeyRecord,
        e: &BalanceEventRecord,
    ) -> Result<()> {
        let key_sql = format!(
            "INSERT INTO virtual_keys ({}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)",
            crate::virtual_keys::COLS
        );
        let event_sql = format!("INSERT INTO balance_events ({COLS}) VALUES ($1,$2,$3,$4,$5)");
        with_pool!(self, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            sqlx::query(sqlx::AssertSqlSafe(key_sql))
                .bind(&k.id).bind(&k.key_hash).bind(&k.prefix).bind(&k.name).bind(&k.user_id)
                .bind(&k.tenant_id).bind(k.expires_at).bind(&k.allowed_models).bind(k.rpm).bind(k.rph)
                .bind(k.tpm).bind(k.daily_requests).bind(k.monthly_requests).bind(k.daily_tokens)
                .bind(k.monthly_tokens).bind(&k.budget).bind(k.enabled).bind(k.created_at).bind(k.updated_at)
                .bind(k.max_concurrency).bind(&k.budget_period).bind(k.prepaid)
                .execute(&mut *tx).await?;
            sqlx::query(sqlx::AssertSqlSafe(event_sql))
                .bind(&e.id).bind(&e.key_id).bind(&e.amount).bind(&e.note).bind(e.created_at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The events of one key, oldest first.
    pub async fn list_balance_events(
        &self,
        key_id: &str,
        page: Page,
    ) -> Result<Vec<BalanceEventRecord>> {
        if crate::db::unmatchable(key_id) {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {COLS} FROM balance_events WHERE key_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(key_id).bind(page.limit).bind(page.skip).fetch_all(p).await?),
        )
    }

    /// The sum of one key's events (zero when it has none).
    pub async fn balance_credited(&self, key_id: &str) -> Result<Decimal> {
        if crate::db::unmatchable(key_id) {
            return Ok(Decimal::ZERO);
        }
        let rows: Vec<(String, String)> = with_pool!(self, p => sqlx::query_as(
            "SELECT id, amount FROM balance_events WHERE key_id = $1")
            .bind(key_id).fetch_all(p).await?);
        rows.iter().try_fold(Decimal::ZERO, |acc, (id, a)| {
            Ok(acc.saturating_add(parse_amount(id, a)?))
        })
    }

    /// The sums of the events of these keys (those with none are absent), in one query.
    pub async fn balance_credits_of(&self, key_ids: &[&str]) -> Result<HashMap<String, Decimal>> {
        let ids: Vec<&str> = key_ids
            .iter()
            .copied()
            .filter(|k| !crate::db::unmatchable(k))
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sums: HashMap<String, Decimal> = HashMap::new();
        // Chunks keep every statement well under the backends' bind limits.
        for chunk in ids.chunks(500) {
            let rows: Vec<(String, String, String)> = with_pool!(self, p => {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT id, key_id, amount FROM balance_events WHERE key_id IN (",
                );
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(p).await?
            });
            for (id, key, amount) in rows {
                let a = parse_amount(&id, &amount)?;
                let slot = sums.entry(key).or_insert(Decimal::ZERO);
                *slot = slot.saturating_add(a);
            }
        }
        Ok(sums)
    }

    /// The sum of the events of every key that has any, in one query. An unreadable amount
    /// is `Corrupt` (a wrong balance must not be served silently).
    pub async fn all_balance_credits(&self) -> Result<HashMap<String, Decimal>> {
        let rows: Vec<(String, String, String)> = with_pool!(self, p => sqlx::query_as(
            "SELECT id, key_id, amount FROM balance_events")
            .fetch_all(p).await?);
        let mut sums: HashMap<String, Decimal> = HashMap::new();
        for (id, key, amount) in rows {
            let a = parse_amount(&id, &amount)?;
            let slot = sums.entry(key).or_insert(Decimal::ZERO);
            *slot = slot.saturating_add(a);
        }
        Ok(sums)
    }
}
