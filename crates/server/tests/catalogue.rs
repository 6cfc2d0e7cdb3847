//! Provider catalogue over real HTTP, on SQLite and PostgreSQL.

mod common;

use serde_json::json;

async fn provider_crud(db: common::Db) {
    let gw = common::Gateway::start(db).await;
    let (s, p) = gw
        .post("/providers", json!({"name": "openai-main", "kind": "openai", "base_url": "https://api.openai.com/v1", "api_keys": [{"alias": "a", "key": "sk-abcdefghijklmnop9f2c"}]}))
        .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["api_keys"][0]["key_preview"], "sk-a…9f2c");
    assert!(!p.to_string().contains("abcdefghijklmnop"));
    let (s, _) = gw
        .post(
            "/providers",
            json!({"name": "openai-main", "base_url": "https://x.example/v1"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, got) = gw.get("/providers/openai-main").await;
    assert_eq!(s, 200);
    assert_eq!(got["id"], p["id"]);
    let (s, _) = gw.get("/providers/nope").await;
    assert_eq!(s, 404);
}

both_databases!(provider_crud_works, provider_crud);
