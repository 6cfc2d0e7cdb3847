//! The request-log writer's append path on a SQLite file (`SqliteAppender`): batches larger
//! than one multi-row statement, plus a remainder, land whole and field for field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use modelgate_store::request_logs::RequestLogFilter;
use modelgate_store::{Database, Page, RequestLogRecord};

/// A record whose every column depends on `i`, NULLs included, so a value bound to the wrong
/// row or column shows.
fn record(i: i64) -> RequestLogRecord {
    let some = |s: String| (i % 3 != 0).then_some(s);
    RequestLogRecord {
        id: format!("01a25221-0000-7000-8000-{i:012}"),
        ts_ms: 1_796_119_200_000 + i,
        request_id: format!("req-{i}"),
        key_id: some(format!("key-{}", i % 4)),
        tenant_id: (i % 5 == 0).then(|| format!("tenant-{i}")),
        dialect: format!("dialect-{i}"),
        endpoint: format!("endpoint-{i}"),
        requested_model: some(format!("model-{i}")),
        provider: some(format!("provider-{i}")),
        provider_model: some(format!("upstream-{i}")),
        attempts: i % 7,
        status: 200 + i,
        stream: i % 2 == 0,
        latency_ms: i as f64 + 0.25,
        ttft_ms: (i % 2 == 0).then_some(i as f64 / 4.0),
        prompt_tokens: i * 10,
        completion_tokens: i * 11,
        cached_tokens: i * 12,
        reasoning_tokens: i * 13,
        total_tokens: i * 14,
        cost: some(format!("0.{i:06}")),
        error: (i % 4 == 1).then(|| format!("error {i}")),
        attempt_log: some(format!("[{{\"n\":{i}}}]")),
        request_body: (i % 6 == 0).then(|| format!("{{\"req\":{i}}}")),
        response_body: (i % 6 == 1).then(|| format!("{{\"resp\":{i}}}")),
        upstream_dialect: some(format!("up-{i}")),
        notes: (i % 8 == 0).then(|| format!("[\"note {i}\"]")),
        credit_used: (i % 9 == 0).then(|| format!("{i}.5")),
        balance_charged: (i % 10 == 0).then(|| format!("{i}.25")),
        usage_estimated: i % 3 == 1,
        cache: (i % 11 == 0).then(|| "hit".to_owned()),
    }
}

#[tokio::test]
async fn batches_of_any_size_are_appended_whole_and_field_for_field() {
    let dir = std::env::temp_dir().join(format!(
        "modelgate-append-{}-{}",
        std::process::id(),
        modelgate_store::new_id()
    ));
    let db = Database::connect(None, &dir).await.unwrap();
    db.migrate().await.unwrap();
    // 70 = two statements of 32 rows and 6 single rows; then 5 (single rows only) and 32
    // (exactly one multi-row statement).
    let mut all = Vec::new();
    let mut next = 0;
    for size in [70, 5, 32] {
        let batch: Vec<RequestLogRecord> = (next..next + size).map(record).collect();
        next += size;
        db.append_request_logs(Arc::new(batch.clone()))
            .await
            .unwrap();
        all.extend(batch);
    }
    let page = Page {
        skip: 0,
        limit: 1000,
    };
    let mut back = db
        .query_request_logs(&RequestLogFilter::default(), page)
        .await
        .unwrap();
    back.sort_by_key(|r| r.ts_ms);
    assert_eq!(back.len(), all.len());
    for (got, want) in back.iter().zip(&all) {
        assert_eq!(got, want);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
