//! The governance data model through the admin API, on SQLite and PostgreSQL: virtual-key
//! limits, quotas and budgets (validation naming each field, `null` clearing), prepaid
//! balances (append-only events, exact decimal sums), providers' free-credit policies, and the
//! request log's cost split and cache outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, Gateway, assert_invalid};
use modelgate_store::{Database, RequestLogRecord};
use serde_json::{Value, json};

/// The database the gateway under test writes to, opened from the test (to seed records the
/// data plane would write).
async fn database_of(gw: &Gateway) -> Database {
    match &gw.pg {
        Some(pg) => Database::connect(Some(&pg.url), &gw.data_dir)
            .await
            .unwrap(),
        None => Database::connect(None, &gw.data_dir).await.unwrap(),
    }
}

async fn virtual_key_limits_quotas_and_budgets(db: Db) {
    let gw = Gateway::start(db).await;
    let (st, k) = gw
        .post(
            "/admin/api-keys",
            json!({"name": "governed", "rpm": 60, "rph": 1000, "tpm": 50000, "max_concurrency": 4,
                   "daily_requests": 500, "monthly_requests": 10000, "daily_tokens": 200000,
                   "monthly_tokens": 5000000, "budget": {"amount": "12.50", "period": "daily"}}),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    let id = k["id"].as_str().unwrap().to_owned();
    for (field, v) in [
        ("rpm", 60),
        ("rph", 1000),
        ("tpm", 50000),
        ("max_concurrency", 4),
        ("daily_requests", 500),
        ("monthly_requests", 10000),
        ("daily_tokens", 200000),
        ("monthly_tokens", 5000000),
    ] {
        assert_eq!(k[field], v, "{field} in {k}");
    }
    assert_eq!(k["budget"], "12.5");
    assert_eq!(k["budget_period"], "daily");
    assert_eq!(k["prepaid"], false);
    assert_eq!(k["balance_credited"], Value::Null);

    // Reads show the same.
    let (st, r) = gw.get(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["max_concurrency"], 4);
    assert_eq!(r["monthly_tokens"], 5000000);
    assert_eq!(r["budget_period"], "daily");

    // PATCH: null clears a limit, absent keeps it; the budget as an amount keeps its period.
    let (st, r) = gw
        .patch(
            &format!("/admin/api-keys/{id}"),
            json!({"rpm": null, "tpm": 10, "budget": 7}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["rpm"], Value::Null);
    assert_eq!(r["rph"], 1000);
    assert_eq!(r["tpm"], 10);
    assert_eq!(r["budget"], "7");
    assert_eq!(r["budget_period"], "daily");
    let (st, r) = gw
        .patch(
            &format!("/admin/api-keys/{id}"),
            json!({"budget_period": "weekly"}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["budget_period"], "weekly");
    assert_eq!(r["budget"], "7");
    let (st, r) = gw
        .patch(
            &format!("/admin/api-keys/{id}"),
            json!({"budget": {"amount": "0.10", "period": "total"}}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["budget"], "0.1");
    assert_eq!(r["budget_period"], "total");
    let (st, r) = gw
        .patch(
            &format!("/admin/api-keys/{id}"),
            json!({"budget": null, "max_concurrency": null}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["budget"], Value::Null);
    assert_eq!(r["budget_period"], Value::Null);
    assert_eq!(r["max_concurrency"], Value::Null);
    // The change is stored, not only echoed.
    let (_, r) = gw.get(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(r["budget"], Value::Null);
    assert_eq!(r["rpm"], Value::Null);
    assert_eq!(r["tpm"], 10);

    // An amount without a period is a total budget.
    let (st, k2) = gw.post("/admin/api-keys", json!({"budget": "3"})).await;
    assert_eq!(st, 201, "{k2}");
    assert_eq!(k2["budget_period"], "total");

    for (body, field) in [
        (json!({"rpm": 0}), "rpm"),
        (json!({"rph": -1}), "rph"),
        (json!({"tpm": "many"}), "tpm"),
        (json!({"max_concurrency": 0}), "max_concurrency"),
        (json!({"daily_requests": 1.5}), "daily_requests"),
        (json!({"monthly_requests": -3}), "monthly_requests"),
        (json!({"daily_tokens": 0}), "daily_tokens"),
        (json!({"monthly_tokens": true}), "monthly_tokens"),
        (json!({"budget": "lots"}), "budget"),
        (json!({"budget": [1]}), "budget"),
        (
            json!({"budget": {"amount": "-1", "period": "daily"}}),
            "budget.amount",
        ),
        (json!({"budget": {"period": "daily"}}), "budget.amount"),
        (
            json!({"budget": {"amount": "1", "period": "yearly"}}),
            "budget.period",
        ),
        (
            json!({"budget": {"amount": "1", "period": 3}}),
            "budget.period",
        ),
        (json!({"budget": {"amount": "1", "cap": 2}}), "budget.cap"),
        (
            json!({"budget": "1", "budget_period": "hourly"}),
            "budget_period",
        ),
        (json!({"budget_period": "daily"}), "budget_period"),
        (json!({"balance": "-5"}), "balance"),
        (json!({"balance": "ten"}), "balance"),
    ] {
        let (st, b) = gw.post("/admin/api-keys", body.clone()).await;
        assert_invalid(st, &b, field);
    }
    // The same rules on PATCH, and `balance` is create-only.
    for (body, field) in [
        (json!({"rpm": 0}), "rpm"),
        (json!({"budget": {"amount": "x"}}), "budget.amount"),
        (json!({"balance": "5"}), "balance"),
    ] {
        let (st, b) = gw
            .patch(&format!("/admin/api-keys/{id}"), body.clone())
            .await;
        assert_invalid(st, &b, field);
    }
    // A refused change changed nothing.
    let (_, r) = gw.get(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(r["tpm"], 10);
    assert_eq!(r["prepaid"], false);
}
both_databases!(
    virtual_key_limits_quotas_and_budgets_db,
    virtual_key_limits_quotas_and_budgets
);

async fn prepaid_balances_are_append_only_events(db: Db) {
    let gw = Gateway::start(db).await;
    let (st, k) = gw
        .post(
            "/admin/api-keys",
            json!({"name": "prepaid", "balance": "10.00"}),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    let id = k["id"].as_str().unwrap().to_owned();
    assert_eq!(k["prepaid"], true);
    assert_eq!(k["balance_credited"], "10");
    let (_, events) = gw
        .get(&format!("/admin/api-keys/{id}/balance-events"))
        .await;
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["amount"], "10");

    // Top-ups and corrections; decimal sums are exact (0.1 three times is 0.3).
    let (st, b) = gw
        .post(
            &format!("/admin/api-keys/{id}/balance"),
            json!({"add": "5.25", "note": "invoice 42"}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["key_id"], id.as_str());
    assert_eq!(b["credited"], "15.25");
    assert_eq!(b["event"]["amount"], "5.25");
    assert_eq!(b["event"]["note"], "invoice 42");
    assert!(b["event"]["id"].is_string() && b["event"]["created_at"].is_string());
    let (st, b) = gw
        .post(
            &format!("/admin/api-keys/{id}/balance"),
            json!({"add": -0.25, "note": "correction"}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["credited"], "15");
    for _ in 0..3 {
        let (st, b) = gw
            .post(
                &format!("/admin/api-keys/{id}/balance"),
                json!({"add": "0.1"}),
            )
            .await;
        assert_eq!(st, 201, "{b}");
    }
    let (_, r) = gw.get(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(r["balance_credited"], "15.3");
    let (_, events) = gw
        .get(&format!("/admin/api-keys/{id}/balance-events"))
        .await;
    let amounts: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["10", "5.25", "-0.25", "0.1", "0.1", "0.1"]);
    assert_eq!(events[1]["note"], "invoice 42");
    assert_eq!(events[2]["note"], "correction");
    let (_, page) = gw
        .get(&format!(
            "/admin/api-keys/{id}/balance-events?skip=4&limit=10"
        ))
        .await;
    assert_eq!(page.as_array().unwrap().len(), 2, "{page}");

    // A key without a balance is not prepaid until its first top-up.
    let (st, plain) = gw.post("/admin/api-keys", json!({"name": "plain"})).await;
    assert_eq!(st, 201);
    let pid = plain["id"].as_str().unwrap().to_owned();
    assert_eq!(plain["prepaid"], false);
    assert_eq!(plain["balance_credited"], Value::Null);
    let (_, events) = gw
        .get(&format!("/admin/api-keys/{pid}/balance-events"))
        .await;
    assert_eq!(events, json!([]));
    let (st, b) = gw
        .post(&format!("/admin/api-keys/{pid}/balance"), json!({"add": 2}))
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["credited"], "2");
    let (_, r) = gw.get(&format!("/admin/api-keys/{pid}")).await;
    assert_eq!(r["prepaid"], true);
    assert_eq!(r["balance_credited"], "2");
    // A zero initial balance is prepaid with nothing to spend.
    let (st, z) = gw.post("/admin/api-keys", json!({"balance": 0})).await;
    assert_eq!(st, 201, "{z}");
    assert_eq!(z["prepaid"], true);
    assert_eq!(z["balance_credited"], "0");

    // The list shows every key's credited sum.
    let (_, list) = gw.get("/admin/api-keys").await;
    let by_id = |k: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id(&id)["balance_credited"], "15.3");
    assert_eq!(by_id(&pid)["balance_credited"], "2");

    for (body, field) in [
        (json!({"add": "0"}), "add"),
        (json!({"add": "a lot"}), "add"),
        (json!({"add": null}), "add"),
        (json!({}), "add"),
        (json!({"add": "1", "note": ""}), "note"),
        (json!({"add": "1", "extra": 1}), "extra"),
    ] {
        let (st, b) = gw
            .post(&format!("/admin/api-keys/{id}/balance"), body.clone())
            .await;
        assert_invalid(st, &b, field);
    }
    let (st, _) = gw
        .post("/admin/api-keys/no-such-key/balance", json!({"add": "1"}))
        .await;
    assert_eq!(st, 404);
    let (st, _) = gw.get("/admin/api-keys/no-such-key/balance-events").await;
    assert_eq!(st, 404);
    // Refused top-ups appended nothing.
    let (_, r) = gw.get(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(r["balance_credited"], "15.3");

    // Deleting a key takes its events with it.
    let (st, _) = gw.delete(&format!("/admin/api-keys/{pid}")).await;
    assert_eq!(st, 204);
    let store = database_of(&gw).await;
    assert!(
        !store
            .all_balance_credits()
            .await
            .unwrap()
            .contains_key(&pid)
    );
    assert_eq!(
        store
            .balance_credited(&id)
            .await
            .unwrap()
            .normalize()
            .to_string(),
        "15.3"
    );
}
both_databases!(
    prepaid_balances_are_append_only_events_db,
    prepaid_balances_are_append_only_events
);

async fn providers_free_credit_policies(db: Db) {
    let gw = Gateway::start(db).await;
    let (st, p) = gw
        .post(
            "/providers",
            json!({"name": "gifted", "kind": "openai", "free_credit": {"type": "money", "amount": "5.00"}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["free_credit"], json!({"type": "money", "amount": "5"}));
    let (_, r) = gw.get("/providers/gifted").await;
    assert_eq!(r["free_credit"], json!({"type": "money", "amount": "5"}));

    let (st, r) = gw
        .patch(
            "/providers/gifted",
            json!({"free_credit": {"type": "tokens", "tokens": 100000}}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        r["free_credit"],
        json!({"type": "tokens", "tokens": 100000})
    );
    // A PATCH without the field keeps it.
    let (st, r) = gw
        .patch("/providers/gifted", json!({"description": "x"}))
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        r["free_credit"],
        json!({"type": "tokens", "tokens": 100000})
    );
    let (st, r) = gw
        .patch(
            "/providers/gifted",
            json!({"free_credit": {"type": "model_tokens", "tokens": 2000}}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let (_, r) = gw.get("/providers/gifted").await;
    assert_eq!(
        r["free_credit"],
        json!({"type": "model_tokens", "tokens": 2000})
    );
    let (st, r) = gw
        .patch("/providers/gifted", json!({"free_credit": null}))
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["free_credit"], Value::Null);
    let (_, r) = gw.get("/providers/gifted").await;
    assert_eq!(r["free_credit"], Value::Null);
    // A provider without a policy shows null.
    let (st, q) = gw
        .post("/providers", json!({"name": "plain", "kind": "openai"}))
        .await;
    assert_eq!(st, 201, "{q}");
    assert_eq!(q["free_credit"], Value::Null);
    // PUT replaces everything: a policy not restated is gone.
    gw.patch(
        "/providers/gifted",
        json!({"free_credit": {"type": "tokens", "tokens": 5}}),
    )
    .await;
    let (st, r) = gw.put("/providers/gifted", json!({"kind": "openai"})).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["free_credit"], Value::Null);

    for (fc, field) in [
        (json!("money"), "free_credit"),
        (json!(5), "free_credit"),
        (json!({"amount": "5"}), "free_credit"),
        (json!({"type": "gold", "amount": "5"}), "free_credit.type"),
        (json!({"type": "money"}), "free_credit"),
        (
            json!({"type": "money", "amount": "-1"}),
            "free_credit.amount",
        ),
        (
            json!({"type": "money", "amount": "zero"}),
            "free_credit.amount",
        ),
        (json!({"type": "tokens", "tokens": 0}), "free_credit.tokens"),
        (
            json!({"type": "tokens", "tokens": -5}),
            "free_credit.tokens",
        ),
        (
            json!({"type": "model_tokens", "tokens": "5"}),
            "free_credit.tokens",
        ),
        (
            json!({"type": "tokens", "tokens": 5, "amount": "1"}),
            "free_credit.amount",
        ),
        (
            json!({"type": "money", "amount": "1", "tokens": 5}),
            "free_credit.tokens",
        ),
    ] {
        let (st, b) = gw
            .post(
                "/providers",
                json!({"name": "bad", "kind": "openai", "free_credit": fc.clone()}),
            )
            .await;
        assert_invalid(st, &b, field);
        let (st, b) = gw
            .patch("/providers/plain", json!({"free_credit": fc}))
            .await;
        assert_invalid(st, &b, field);
    }
    let (st, _) = gw.get("/providers/bad").await;
    assert_eq!(st, 404, "a refused provider was not created");
}
both_databases!(
    providers_free_credit_policies_db,
    providers_free_credit_policies
);

async fn request_log_shows_the_cost_split_and_cache(db: Db) {
    let gw = Gateway::start(db).await;
    let store = database_of(&gw).await;
    let now = modelgate_store::now_ms();
    let rec = |n: i64| RequestLogRecord {
        id: modelgate_store::new_id(),
        ts_ms: now - n,
        request_id: format!("req-{n}"),
        key_id: Some("k1".into()),
        dialect: "anthropic_messages".into(),
        endpoint: "/v1/messages".into(),
        requested_model: Some("claude".into()),
        status: 200,
        ..Default::default()
    };
    let hit = RequestLogRecord {
        upstream_dialect: None,
        cache: Some("hit".into()),
        cost: Some("0".into()),
        ..rec(1)
    };
    let paid = RequestLogRecord {
        upstream_dialect: Some("openai_chat".into()),
        notes: Some(r#"["dropped:top_k"]"#.into()),
        cost: Some("0.0125".into()),
        credit_used: Some("0.01".into()),
        balance_charged: Some("0.0025".into()),
        usage_estimated: true,
        cache: Some("miss".into()),
        ..rec(2)
    };
    let plain = rec(3);
    store
        .insert_request_logs(&[hit, paid, plain])
        .await
        .unwrap();

    let (st, page) = gw.get("/admin/logs").await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(page["total"], 3);
    let items = page["items"].as_array().unwrap();
    let by_req = |r: &str| items.iter().find(|i| i["request_id"] == r).unwrap();
    let p = by_req("req-2");
    assert_eq!(p["dialect"], "anthropic_messages");
    assert_eq!(p["upstream_dialect"], "openai_chat");
    assert_eq!(p["notes"], json!(["dropped:top_k"]));
    assert_eq!(p["cost"], "0.0125");
    assert_eq!(p["credit_used"], "0.01");
    assert_eq!(p["balance_charged"], "0.0025");
    assert_eq!(p["usage_estimated"], true);
    assert_eq!(p["cache"], "miss");
    let h = by_req("req-1");
    assert_eq!(h["cache"], "hit");
    assert_eq!(h["upstream_dialect"], Value::Null);
    let n = by_req("req-3");
    assert_eq!(n["notes"], json!([]));
    assert_eq!(n["credit_used"], Value::Null);
    assert_eq!(n["usage_estimated"], false);
    assert_eq!(n["cache"], Value::Null);

    let (_, page) = gw.get("/admin/logs?cache=hit").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["request_id"], "req-1");
    let (_, page) = gw.get("/admin/logs?cache=miss&model=claude").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["request_id"], "req-2");
    let (_, page) = gw.get("/admin/logs?cache=hit&key_id=other").await;
    assert_eq!(page["total"], 0, "{page}");
    let (st, b) = gw.get("/admin/logs?cache=sometimes").await;
    assert_invalid(st, &b, "cache");
}
both_databases!(
    request_log_shows_the_cost_split_and_cache_db,
    request_log_shows_the_cost_split_and_cache
);
