//! Provider catalogue over real HTTP, on SQLite and PostgreSQL: providers, their upstream
//! keys and model implementations, validation, cascades and hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Cred, Gateway, assert_error_shape, assert_invalid};
use reqwest::Method;
use serde_json::{Value, json};

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

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `GET /providers?skip=&limit=`: slices, ordering and bad values.
async fn provider_pagination(db: common::Db) {
    let gw = Gateway::start(db).await;
    let all: Vec<String> = (0..5).map(|i| format!("page-{i}")).collect();
    for n in &all {
        let (s, b) = gw
            .post(
                "/providers",
                json!({"name": n, "base_url": "https://p.example/v1"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, list) = gw.get("/providers").await;
    assert_eq!(s, 200);
    assert_eq!(names(&list), all, "creation order");
    for (q, want) in [
        ("skip=0&limit=2", &all[0..2]),
        ("skip=1&limit=2", &all[1..3]),
        ("skip=3&limit=100", &all[3..5]),
        ("skip=4", &all[4..5]),
        ("limit=1", &all[0..1]),
        ("skip=5&limit=10", &all[5..5]),
        ("skip=100", &all[5..5]),
        ("limit=1000", &all[..]),
    ] {
        let (s, list) = gw.get(&format!("/providers?{q}")).await;
        assert_eq!(s, 200, "{q}: {list}");
        assert_eq!(names(&list), want, "{q}");
    }
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("limit=1001", "limit"),
        ("limit=-3", "limit"),
        ("skip=-1", "skip"),
        ("skip=-1&limit=10", "skip"),
    ] {
        let (s, b) = gw.get(&format!("/providers?{q}")).await;
        assert_invalid(s, &b, field);
    }
    let (s, b) = gw.get("/providers?limit=abc").await;
    assert_eq!(s, 422, "{b}");
    assert_error_shape(&b);
    // The nested lists validate their pages the same way.
    for path in ["/providers/page-0/keys", "/providers/page-0/models"] {
        let (s, b) = gw.get(&format!("{path}?limit=0")).await;
        assert_invalid(s, &b, "limit");
        let (s, b) = gw.get(&format!("{path}?skip=-1")).await;
        assert_invalid(s, &b, "skip");
    }
}

both_databases!(provider_pagination_works, provider_pagination);

/// Create, read (by id and by name), replace, patch, delete.
async fn provider_lifecycle(db: common::Db) {
    let gw = Gateway::start(db).await;
    let secret = "sk-abcdefghijklmnopqrstuvwx9f2c";
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "main", "display_name": "Main provider", "kind": "openai_compatible",
                   "base_url": "https://api.example.com/v1/", "description": "first",
                   "weight": 2.5, "timeout_ms": 5000,
                   "api_keys": [{"alias": "a", "key": secret}, {"key": "sk-zyxwvutsrqponmlkjih1234"}]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["name"], "main");
    assert_eq!(p["display_name"], "Main provider");
    assert_eq!(p["kind"], "openai_compatible");
    assert_eq!(
        p["base_url"], "https://api.example.com/v1",
        "trailing slash trimmed"
    );
    assert_eq!(p["description"], "first");
    assert_eq!(p["weight"], 2.5);
    assert_eq!(p["timeout_ms"], 5000);
    assert_eq!(p["enabled"], true);
    assert_eq!(p["source"], "api");
    let keys = p["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["alias"], "a");
    assert_eq!(keys[0]["key_preview"], "sk-a…9f2c");
    assert_eq!(keys[1]["key_preview"], "sk-z…1234");
    assert_eq!(keys[1]["alias"], "key-2", "default alias");
    for k in keys {
        assert!(k.get("key").is_none() && k.get("secret").is_none(), "{k}");
    }
    assert!(!p.to_string().contains(secret));

    for path in [format!("/providers/{id}"), "/providers/main".to_owned()] {
        let (s, got) = gw.get(&path).await;
        assert_eq!(s, 200, "{path}: {got}");
        assert_eq!(got["id"], id.as_str());
        assert_eq!(got["name"], "main");
        assert_eq!(got["api_keys"].as_array().unwrap().len(), 2);
        assert_eq!(got["api_keys"][0]["key_preview"], "sk-a…9f2c");
        assert!(!got.to_string().contains(secret));
    }
    let (s, list) = gw.get("/providers").await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));

    // PATCH changes only what it names.
    let (s, b) = gw
        .patch(
            "/providers/main",
            json!({"description": "patched", "enabled": false}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["description"], "patched");
    assert_eq!(b["enabled"], false);
    assert_eq!(b["weight"], 2.5);
    assert_eq!(b["timeout_ms"], 5000);
    assert_eq!(b["base_url"], "https://api.example.com/v1");
    assert_eq!(b["display_name"], "Main provider");
    let (_, got) = gw.get(&format!("/providers/{id}")).await;
    assert_eq!(got["description"], "patched");
    assert_eq!(got["enabled"], false);
    assert_eq!(got["weight"], 2.5);

    // PATCH may rename; the new name resolves, the old one does not.
    let (s, b) = gw
        .patch(&format!("/providers/{id}"), json!({"name": "renamed"}))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(gw.get("/providers/renamed").await.0, 200);
    assert_eq!(gw.get("/providers/main").await.0, 404);
    let (s, b) = gw
        .patch(&format!("/providers/{id}"), json!({"name": "main"}))
        .await;
    assert_eq!(s, 200, "{b}");

    // PUT replaces: fields it does not name go back to their defaults.
    let (s, b) = gw
        .put(
            "/providers/main",
            json!({"base_url": "https://b.example/v1", "kind": "openai_compatible"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], id.as_str());
    assert_eq!(b["name"], "main", "the name is kept");
    assert_eq!(b["base_url"], "https://b.example/v1");
    assert_eq!(b["description"], "");
    assert_eq!(b["weight"], 1.0);
    assert_eq!(b["enabled"], true);
    assert_eq!(b["timeout_ms"], 120_000);
    assert_eq!(b["display_name"], "main");
    let (_, got) = gw.get("/providers/main").await;
    assert_eq!(got["description"], "");
    assert_eq!(got["base_url"], "https://b.example/v1");
    assert_eq!(
        got["api_keys"].as_array().unwrap().len(),
        2,
        "PUT keeps the keys"
    );
    // PUT without what a full provider needs → 422 naming it.
    let (s, b) = gw
        .put("/providers/main", json!({"description": "no url"}))
        .await;
    assert_invalid(s, &b, "base_url");
    let (s, b) = gw
        .put("/providers/main", json!({"base_url": "not a url"}))
        .await;
    assert_invalid(s, &b, "base_url");
    // PUT/PATCH refuse the create-only fields.
    let (s, b) = gw
        .put(
            "/providers/main",
            json!({"base_url": "https://b.example/v1", "api_keys": []}),
        )
        .await;
    assert_invalid(s, &b, "api_keys");
    let (s, b) = gw
        .patch("/providers/main", json!({"supported_models": ["x"]}))
        .await;
    assert_invalid(s, &b, "supported_models");
    // A kind with a well-known URL needs none.
    let (s, b) = gw.put("/providers/main", json!({"kind": "openai"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["base_url"], "https://api.openai.com/v1");

    // Renaming onto a taken name is a conflict.
    let (s, _) = gw
        .post(
            "/providers",
            json!({"name": "other", "base_url": "https://o.example/v1"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, b) = gw.patch("/providers/other", json!({"name": "main"})).await;
    assert_eq!(s, 409, "{b}");
    assert_error_shape(&b);

    let (s, b) = gw.delete("/providers/main").await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = gw.get("/providers/main").await;
    assert_eq!(s, 404);
    assert_error_shape(&b);
    assert_eq!(gw.get(&format!("/providers/{id}")).await.0, 404);
    assert_eq!(gw.delete("/providers/main").await.0, 404);
    assert_eq!(names(&gw.get("/providers").await.1), ["other"]);
}

both_databases!(provider_lifecycle_works, provider_lifecycle);

/// Every sub-route of an unknown provider is 404, before any body validation.
async fn unknown_provider(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (s, _) = gw
        .post(
            "/providers",
            json!({"name": "real", "base_url": "https://r.example/v1"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, k) = gw
        .post(
            "/providers/real/keys",
            json!({"key": "sk-real-key-0000000000"}),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let (s, m) = gw
        .post("/providers/real/models", json!({"model_id": "m1"}))
        .await;
    assert_eq!(s, 201, "{m}");
    let key_id = k["id"].as_str().unwrap();
    let model_id = m["id"].as_str().unwrap();
    let valid_provider = json!({"base_url": "https://x.example/v1"});
    let valid_key = json!({"key": "sk-some-key-0000000000"});
    let valid_model = json!({"model_id": "m2"});
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/providers/ghost".into(), None),
        (
            Method::PUT,
            "/providers/ghost".into(),
            Some(valid_provider.clone()),
        ),
        (
            Method::PATCH,
            "/providers/ghost".into(),
            Some(json!({"description": "x"})),
        ),
        (Method::DELETE, "/providers/ghost".into(), None),
        (Method::GET, "/providers/ghost/keys".into(), None),
        (
            Method::POST,
            "/providers/ghost/keys".into(),
            Some(valid_key.clone()),
        ),
        (Method::GET, format!("/providers/ghost/keys/{key_id}"), None),
        (
            Method::PUT,
            format!("/providers/ghost/keys/{key_id}"),
            Some(valid_key.clone()),
        ),
        (
            Method::PATCH,
            format!("/providers/ghost/keys/{key_id}"),
            Some(json!({"alias": "x"})),
        ),
        (
            Method::DELETE,
            format!("/providers/ghost/keys/{key_id}"),
            None,
        ),
        (Method::GET, "/providers/ghost/models".into(), None),
        (
            Method::POST,
            "/providers/ghost/models".into(),
            Some(valid_model.clone()),
        ),
        (
            Method::GET,
            format!("/providers/ghost/models/{model_id}"),
            None,
        ),
        (
            Method::PUT,
            format!("/providers/ghost/models/{model_id}"),
            Some(valid_model.clone()),
        ),
        (
            Method::PATCH,
            format!("/providers/ghost/models/{model_id}"),
            Some(json!({"version": "2"})),
        ),
        (
            Method::DELETE,
            format!("/providers/ghost/models/{model_id}"),
            None,
        ),
        // Known provider, unknown key or model.
        (Method::GET, "/providers/real/keys/ghost".into(), None),
        (
            Method::PUT,
            "/providers/real/keys/ghost".into(),
            Some(valid_key.clone()),
        ),
        (
            Method::PATCH,
            "/providers/real/keys/ghost".into(),
            Some(json!({"alias": "x"})),
        ),
        (Method::DELETE, "/providers/real/keys/ghost".into(), None),
        (Method::GET, "/providers/real/models/ghost".into(), None),
        (
            Method::PUT,
            "/providers/real/models/ghost".into(),
            Some(valid_model.clone()),
        ),
        (
            Method::PATCH,
            "/providers/real/models/ghost".into(),
            Some(json!({"version": "2"})),
        ),
        (Method::DELETE, "/providers/real/models/ghost".into(), None),
    ];
    for (method, path, body) in cases {
        let (s, b) = gw.call(method.clone(), &path, body).await;
        assert_eq!(s, 404, "{method} {path}: {b}");
        assert_error_shape(&b);
    }
    // Invalid bodies to an unknown provider: still 404 (the provider is looked up first).
    let invalid: Vec<(Method, String, Value)> = vec![
        (Method::POST, "/providers/ghost/keys".into(), json!({})),
        (
            Method::POST,
            "/providers/ghost/keys".into(),
            json!({"key": ""}),
        ),
        (
            Method::POST,
            "/providers/ghost/keys".into(),
            json!({"key": 5}),
        ),
        (
            Method::POST,
            "/providers/ghost/keys".into(),
            json!({"bogus": true}),
        ),
        (Method::POST, "/providers/ghost/models".into(), json!({})),
        (
            Method::POST,
            "/providers/ghost/models".into(),
            json!({"model_id": 7}),
        ),
        (
            Method::POST,
            "/providers/ghost/models".into(),
            json!({"model_id": "x", "pricing_info": {"input": -1}}),
        ),
        (
            Method::PUT,
            "/providers/ghost".into(),
            json!({"base_url": "nope"}),
        ),
        (
            Method::PUT,
            "/providers/ghost".into(),
            json!({"weight": "heavy"}),
        ),
        (
            Method::PATCH,
            "/providers/ghost".into(),
            json!({"kind": "bogus"}),
        ),
        (
            Method::PATCH,
            "/providers/ghost".into(),
            json!({"unknown_field": 1}),
        ),
        (
            Method::PUT,
            format!("/providers/ghost/keys/{key_id}"),
            json!({"weight": "x"}),
        ),
        (
            Method::PATCH,
            format!("/providers/ghost/models/{model_id}"),
            json!({"context_window": "big"}),
        ),
    ];
    for (method, path, body) in invalid {
        let (s, b) = gw.call(method.clone(), &path, Some(body.clone())).await;
        assert_eq!(s, 404, "{method} {path} {body}: {b}");
        assert_error_shape(&b);
    }
    // A malformed body to an unknown provider is also a 404.
    let r = gw
        .raw(
            Method::POST,
            "/providers/ghost/keys",
            Cred::Admin,
            Some(("application/json", "{not json".into())),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

both_databases!(unknown_provider_is_404, unknown_provider);

/// `api_base`, seed 003's `provider_id` + `supported_models`, kinds and their aliases.
async fn provider_compat(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "aliased", "api_base": "https://alias.example/v1"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["base_url"], "https://alias.example/v1");
    assert_eq!(p["kind"], "openai_compatible", "default kind");
    let (s, p) = gw
        .patch(
            "/providers/aliased",
            json!({"api_base": "https://alias2.example/v1"}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["base_url"], "https://alias2.example/v1");

    let (s, p) = gw
        .post(
            "/providers",
            json!({"provider_id": "openai", "name": "OpenAI", "api_base": "https://api.openai.com/v1",
                   "supported_models": ["gpt-3.5-turbo", "gpt-4"]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["name"], "openai");
    assert_eq!(p["display_name"], "OpenAI");
    assert_eq!(p["base_url"], "https://api.openai.com/v1");
    let (s, got) = gw.get("/providers/openai").await;
    assert_eq!(s, 200);
    assert_eq!(got["display_name"], "OpenAI");
    let (s, models) = gw.get("/providers/openai/models").await;
    assert_eq!(s, 200, "{models}");
    let mut ids: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["gpt-3.5-turbo", "gpt-4"]);
    for m in models.as_array().unwrap() {
        assert_eq!(m["provider_model_id"], m["model_id"]);
        assert_eq!(m["provider_id"], p["id"]);
    }
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["providers"], 2);
    assert_eq!(stats["models"], 2);

    // Kinds: canonical names and aliases are accepted and normalised; unknown ones are 422.
    for (kind, want) in [
        ("openai", "openai"),
        ("azure", "azure_openai"),
        ("claude", "anthropic"),
        ("gemini", "gemini"),
        ("deepseek", "deepseek"),
    ] {
        let name = format!("kind-{kind}");
        let (s, p) = gw
            .post(
                "/providers",
                json!({"name": name, "kind": kind, "base_url": "https://k.example/v1"}),
            )
            .await;
        assert_eq!(s, 201, "{kind}: {p}");
        assert_eq!(p["kind"], want);
    }
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "k-default-url", "kind": "anthropic"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["base_url"], "https://api.anthropic.com");
    let (s, b) = gw
        .post(
            "/providers",
            json!({"name": "bad-kind", "kind": "skynet", "base_url": "https://k.example/v1"}),
        )
        .await;
    assert_invalid(s, &b, "kind");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("skynet"),
        "{b}"
    );
    let (s, b) = gw
        .patch("/providers/aliased", json!({"kind": "skynet"}))
        .await;
    assert_invalid(s, &b, "kind");
    // openai_compatible has no well-known URL.
    let (s, b) = gw.post("/providers", json!({"name": "no-url"})).await;
    assert_invalid(s, &b, "base_url");
    let (s, b) = gw
        .post("/providers", json!({"base_url": "https://k.example/v1"}))
        .await;
    assert_invalid(s, &b, "name");
}

both_databases!(provider_compat_works, provider_compat);

/// Field validation on create: each failure is a 422 naming its field, OpenAI-shaped.
async fn provider_validation(db: common::Db) {
    let gw = Gateway::start(db).await;
    let ok = |extra: Value| {
        let mut b = json!({"name": "v", "base_url": "https://v.example/v1"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (ok(json!({"base_url": "not a url"})), "base_url"),
        (
            ok(json!({"base_url": "ftp://files.example/v1"})),
            "base_url",
        ),
        (ok(json!({"base_url": "/relative/v1"})), "base_url"),
        (ok(json!({"base_url": ""})), "base_url"),
        (
            ok(json!({"base_url": format!("https://x.example/{}", "a".repeat(3000))})),
            "base_url",
        ),
        (ok(json!({"name": "n".repeat(129)})), "name"),
        (ok(json!({"name": ""})), "name"),
        (ok(json!({"name": "   "})), "name"),
        (ok(json!({"name": "a/b"})), "name"),
        (ok(json!({"name": " padded "})), "name"),
        (ok(json!({"name": "tab\there"})), "name"),
        (ok(json!({"display_name": "d".repeat(257)})), "display_name"),
        (ok(json!({"display_name": ""})), "display_name"),
        (
            ok(json!({"description": "x".repeat(64 * 1024 + 1)})),
            "description",
        ),
        (ok(json!({"weight": -1})), "weight"),
        (ok(json!({"weight": "x"})), "weight"),
        (ok(json!({"enabled": "yes"})), "enabled"),
        (ok(json!({"timeout_ms": 0})), "timeout_ms"),
        (ok(json!({"timeout_ms": 1.5})), "timeout_ms"),
        (ok(json!({"connect_timeout_ms": -5})), "connect_timeout_ms"),
        (ok(json!({"provider_type": "weird"})), "provider_type"),
        (
            ok(json!({"retryable_statuses": [700]})),
            "retryable_statuses",
        ),
        (
            ok(json!({"extra_headers": {"bad header": "v"}})),
            "extra_headers",
        ),
        (ok(json!({"bogus_field": 1})), "bogus_field"),
        (ok(json!({"api_keys": [{"alias": "a"}]})), "api_keys[0].key"),
        (
            ok(json!({"api_keys": [{"key": "sk-xxxxxxxxxxxx", "weight": -2}]})),
            "api_keys[0].weight",
        ),
        (
            ok(json!({"api_keys": [{"key": "sk-1234567890", "nope": 1}]})),
            "api_keys[0].nope",
        ),
        (ok(json!({"supported_models": [""]})), "supported_models[0]"),
    ];
    for (body, field) in cases {
        let (s, b) = gw.post("/providers", body.clone()).await;
        let shown: String = body.to_string().chars().take(200).collect();
        assert_eq!(s, 422, "{shown}: {b}");
        assert_error_shape(&b);
        assert_eq!(b["error"]["param"], field, "{shown}: {b}");
        assert_eq!(b["error"]["type"], "invalid_request_error");
    }
    // Limits are inclusive.
    let (s, b) = gw
        .post(
            "/providers",
            json!({"name": "n".repeat(128), "display_name": "d".repeat(256), "description": "x".repeat(64 * 1024), "base_url": "https://v.example/v1"}),
        )
        .await;
    assert_eq!(
        s,
        201,
        "{}",
        b.to_string().chars().take(300).collect::<String>()
    );
    // Nothing was created by the rejected requests.
    let (_, list) = gw.get("/providers").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Malformed JSON → 400; wrong content type → 415; missing body → 415; OpenAI-shaped.
    for body in ["{", "{\"name\": \"x\",}", "[1, 2", "not json at all"] {
        let r = gw
            .raw(
                Method::POST,
                "/providers",
                Cred::Admin,
                Some(("application/json", body.into())),
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.content_type.starts_with("application/json"),
            "{}",
            r.content_type
        );
        assert_error_shape(&r.json());
    }
    let r = gw
        .raw(
            Method::POST,
            "/providers",
            Cred::Admin,
            Some((
                "text/plain",
                json!({"name": "t", "base_url": "https://t.example/v1"}).to_string(),
            )),
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert_error_shape(&r.json());
    let r = gw.raw(Method::POST, "/providers", Cred::Admin, None).await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert_error_shape(&r.json());
    let r = gw
        .raw(
            Method::PATCH,
            "/providers/v",
            Cred::Admin,
            Some(("text/plain", "{}".into())),
        )
        .await;
    assert!(r.status == 415 || r.status == 404, "{}", r.text);
    // A JSON body that is not an object.
    let r = gw
        .raw(
            Method::POST,
            "/providers",
            Cred::Admin,
            Some(("application/json", "[]".into())),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_error_shape(&r.json());
}

both_databases!(provider_validation_works, provider_validation);

/// `/providers/{p}/keys`: masked previews everywhere, write-only secrets.
async fn upstream_keys(db: common::Db) {
    let gw = Gateway::start(db).await;
    let first = "sk-first-secret-material-aaaa";
    let (s, p) = gw.post("/providers", json!({"name": "kp", "base_url": "https://k.example/v1", "api_keys": [{"alias": "one", "key": first}]})).await;
    assert_eq!(s, 201, "{p}");
    let pid = p["id"].as_str().unwrap().to_owned();
    let second = "sk-second-secret-material-bbbb";
    let (s, k) = gw
        .post(
            "/providers/kp/keys",
            json!({"alias": "two", "key": second, "weight": 3, "max_rpm": 60}),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let kid = k["id"].as_str().unwrap().to_owned();
    assert_eq!(k["key_preview"], "sk-s…bbbb");
    assert_eq!(k["alias"], "two");
    assert_eq!(k["provider_id"], pid.as_str());
    assert_eq!(k["weight"], 3.0);
    assert_eq!(k["max_rpm"], 60);
    assert_eq!(k["enabled"], true);
    assert!(k.get("key").is_none(), "{k}");
    // seed aliases `label` and `api_key`
    let third = "sk-third-secret-material-cccc";
    let (s, k3) = gw
        .post(
            &format!("/providers/{pid}/keys"),
            json!({"label": "three", "api_key": third}),
        )
        .await;
    assert_eq!(s, 201, "{k3}");
    assert_eq!(k3["alias"], "three");
    assert_eq!(k3["key_preview"], "sk-t…cccc");
    // A short secret shows less.
    let (s, k4) = gw
        .post("/providers/kp/keys", json!({"key": "abcdef"}))
        .await;
    assert_eq!(s, 201, "{k4}");
    assert_eq!(k4["key_preview"], "ab…");
    assert_eq!(k4["alias"], "key-4");

    let (s, list) = gw.get("/providers/kp/keys").await;
    assert_eq!(s, 200);
    let previews: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_preview"].as_str().unwrap())
        .collect();
    assert_eq!(previews, ["sk-f…aaaa", "sk-s…bbbb", "sk-t…cccc", "ab…"]);
    let (s, page) = gw.get("/providers/kp/keys?skip=1&limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(page[0]["key_preview"], "sk-s…bbbb");
    let (s, got) = gw.get(&format!("/providers/kp/keys/{kid}")).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["key_preview"], "sk-s…bbbb");
    assert_eq!(got["alias"], "two");
    let (s, got) = gw.get(&format!("/providers/{pid}/keys/{kid}")).await;
    assert_eq!(s, 200);
    assert_eq!(got["id"], kid.as_str());

    // PATCH without a key keeps the secret and the preview.
    let (s, b) = gw
        .patch(
            &format!("/providers/kp/keys/{kid}"),
            json!({"alias": "renamed", "enabled": false}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["alias"], "renamed");
    assert_eq!(b["enabled"], false);
    assert_eq!(b["weight"], 3.0);
    assert_eq!(b["max_rpm"], 60);
    assert_eq!(b["key_preview"], "sk-s…bbbb");
    // Changing the key changes the preview (PATCH and PUT).
    let rotated = "sk-rotated-secret-material-dddd";
    let (s, b) = gw
        .patch(
            &format!("/providers/kp/keys/{kid}"),
            json!({"key": rotated}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["key_preview"], "sk-r…dddd");
    assert_eq!(
        gw.get(&format!("/providers/kp/keys/{kid}")).await.1["key_preview"],
        "sk-r…dddd"
    );
    let replaced = "sk-replaced-secret-material-eeee";
    let (s, b) = gw
        .put(
            &format!("/providers/kp/keys/{kid}"),
            json!({"key": replaced}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["key_preview"], "sk-r…eeee");
    assert_eq!(b["weight"], 1.0, "PUT resets the weight");
    assert_eq!(b["max_rpm"], Value::Null, "PUT resets the limits");
    assert_eq!(b["enabled"], true, "PUT resets enabled");
    let (_, got) = gw.get("/providers/kp").await;
    let shown: Vec<&str> = got["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_preview"].as_str().unwrap())
        .collect();
    assert!(shown.contains(&"sk-r…eeee"), "{got}");

    // Validation.
    let (s, b) = gw
        .post("/providers/kp/keys", json!({"alias": "no secret"}))
        .await;
    assert_invalid(s, &b, "key");
    let (s, b) = gw.post("/providers/kp/keys", json!({"key": ""})).await;
    assert_invalid(s, &b, "key");
    let (s, b) = gw
        .post("/providers/kp/keys", json!({"key": "x".repeat(5000)}))
        .await;
    assert_invalid(s, &b, "key");
    let (s, b) = gw
        .post(
            "/providers/kp/keys",
            json!({"key": "sk-valid-0000000", "weight": "x"}),
        )
        .await;
    assert_invalid(s, &b, "weight");
    let (s, b) = gw
        .post(
            "/providers/kp/keys",
            json!({"key": "sk-valid-0000000", "max_qps": 0}),
        )
        .await;
    assert_invalid(s, &b, "max_qps");
    let (s, b) = gw
        .post(
            "/providers/kp/keys",
            json!({"key": "sk-valid-0000000", "secret": "x"}),
        )
        .await;
    assert_invalid(s, &b, "secret");
    let (s, b) = gw
        .patch(&format!("/providers/kp/keys/{kid}"), json!({"alias": ""}))
        .await;
    assert_invalid(s, &b, "alias");
    let (s, b) = gw
        .put(&format!("/providers/kp/keys/{kid}"), json!({"weight": -1}))
        .await;
    assert_invalid(s, &b, "weight");
    // A key id of another provider is not found under this one.
    let (s, _) = gw
        .post(
            "/providers",
            json!({"name": "kp2", "base_url": "https://k2.example/v1"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(gw.get(&format!("/providers/kp2/keys/{kid}")).await.0, 404);
    assert_eq!(
        gw.delete(&format!("/providers/kp2/keys/{kid}")).await.0,
        404
    );

    // No response ever carried a plaintext.
    let (_, all) = gw.get("/providers/kp/keys").await;
    let (_, prov) = gw.get("/providers/kp").await;
    for secret in [first, second, third, rotated, replaced] {
        assert!(!all.to_string().contains(secret));
        assert!(!prov.to_string().contains(secret));
    }

    let (s, _) = gw.delete(&format!("/providers/kp/keys/{kid}")).await;
    assert_eq!(s, 204);
    assert_eq!(gw.get(&format!("/providers/kp/keys/{kid}")).await.0, 404);
    assert_eq!(gw.delete(&format!("/providers/kp/keys/{kid}")).await.0, 404);
    let (_, list) = gw.get("/providers/kp/keys").await;
    assert_eq!(list.as_array().unwrap().len(), 3);
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["upstream_keys"], 3);
}

both_databases!(upstream_keys_work, upstream_keys);

/// `/providers/{p}/models`: CRUD by id or model_id, uniqueness per provider, JSON fields.
async fn models(db: common::Db) {
    let gw = Gateway::start(db).await;
    for n in ["ma", "mb"] {
        let (s, b) = gw
            .post(
                "/providers",
                json!({"name": n, "base_url": "https://m.example/v1"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let pricing = json!({"input": 2.5, "output": 10, "cached_input": "1.25", "currency": "USD"});
    let params = json!({"temperature": 0.2, "nested": {"list": [1, "two", null], "flag": true}});
    let (s, m) = gw
        .post(
            "/providers/ma/models",
            json!({"model_id": "gpt-4o", "provider_model_id": "gpt-4o-2024-08-06", "version": "2024-08-06",
                   "context_window": 128000, "pricing_info": pricing, "custom_parameters": params}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let mid = m["id"].as_str().unwrap().to_owned();
    assert_eq!(m["model_id"], "gpt-4o");
    assert_eq!(m["provider_model_id"], "gpt-4o-2024-08-06");
    assert_eq!(m["version"], "2024-08-06");
    assert_eq!(m["context_window"], 128000);
    assert_eq!(m["pricing_info"], pricing);
    assert_eq!(m["custom_parameters"], params);
    assert!(m["pricing_info"].is_object() && m["custom_parameters"].is_object());
    assert_eq!(m["is_available"], true);
    assert_eq!(m["dialect"], "openai_chat");

    // By id and by model_id, round-tripped from storage.
    for path in [
        format!("/providers/ma/models/{mid}"),
        "/providers/ma/models/gpt-4o".into(),
    ] {
        let (s, got) = gw.get(&path).await;
        assert_eq!(s, 200, "{path}: {got}");
        assert_eq!(got["id"], mid.as_str());
        assert_eq!(got["pricing_info"], pricing);
        assert_eq!(got["custom_parameters"], params);
    }
    // Unique per provider; the same model_id on another provider is fine.
    let (s, b) = gw
        .post("/providers/ma/models", json!({"model_id": "gpt-4o"}))
        .await;
    assert_eq!(s, 409, "{b}");
    assert_error_shape(&b);
    let (s, b) = gw
        .post("/providers/mb/models", json!({"model_id": "gpt-4o"}))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["provider_model_id"], "gpt-4o", "defaults to model_id");
    assert_eq!(b["pricing_info"], json!({}));
    assert_eq!(b["custom_parameters"], json!({}));
    let (s, b) = gw
        .post(
            "/providers/ma/models",
            json!({"model_id": "embed", "dialect": "openai_embeddings"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    // A dialect the provider cannot serve is refused, not stored and ignored.
    let (s, b) = gw
        .post(
            "/providers/ma/models",
            json!({"model_id": "msg", "endpoint": "anthropic_messages"}),
        )
        .await;
    assert_invalid(s, &b, "dialect");
    let (s, b) = gw
        .post(
            "/providers/ma/models",
            json!({"model_id": "msg", "endpoint": "openai_chat"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["dialect"], "openai_chat");

    let (s, list) = gw.get("/providers/ma/models").await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-4o", "embed", "msg"]);
    let (_, page) = gw.get("/providers/ma/models?skip=1&limit=1").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["model_id"], "embed");

    // PATCH changes only what it names.
    let (s, b) = gw
        .patch(
            "/providers/ma/models/gpt-4o",
            json!({"is_available": false, "pricing_info": {"input": "3"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["is_available"], false);
    assert_eq!(b["pricing_info"], json!({"input": "3"}));
    assert_eq!(b["custom_parameters"], params);
    assert_eq!(b["provider_model_id"], "gpt-4o-2024-08-06");
    // PATCH onto a taken model_id → 409.
    let (s, b) = gw
        .patch(
            &format!("/providers/ma/models/{mid}"),
            json!({"model_id": "embed"}),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    // PUT replaces; model_id is required.
    let (s, b) = gw
        .put(
            &format!("/providers/ma/models/{mid}"),
            json!({"provider_model_id": "x"}),
        )
        .await;
    assert_invalid(s, &b, "model_id");
    let (s, b) = gw
        .put(
            &format!("/providers/ma/models/{mid}"),
            json!({"model_id": "gpt-4o-new"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], mid.as_str());
    assert_eq!(b["model_id"], "gpt-4o-new");
    assert_eq!(b["provider_model_id"], "gpt-4o-new");
    assert_eq!(b["pricing_info"], json!({}));
    assert_eq!(b["custom_parameters"], json!({}));
    assert_eq!(b["context_window"], Value::Null);
    assert_eq!(b["is_available"], true);
    assert_eq!(gw.get("/providers/ma/models/gpt-4o").await.0, 404);
    assert_eq!(gw.get("/providers/ma/models/gpt-4o-new").await.0, 200);

    // Validation.
    for (body, field) in [
        (
            json!({"model_id": "p1", "pricing_info": {"input": -1}}),
            "pricing_info",
        ),
        (
            json!({"model_id": "p2", "pricing_info": {"output": "abc"}}),
            "pricing_info",
        ),
        (
            json!({"model_id": "p3", "pricing_info": {"input": [1]}}),
            "pricing_info",
        ),
        (
            json!({"model_id": "p4", "pricing_info": "cheap"}),
            "pricing_info",
        ),
        (
            json!({"model_id": "p5", "pricing_info": [1, 2]}),
            "pricing_info",
        ),
        (
            json!({"model_id": "p6", "custom_parameters": "x"}),
            "custom_parameters",
        ),
        (
            json!({"model_id": "p7", "custom_parameters": [1]}),
            "custom_parameters",
        ),
        (
            json!({"model_id": "p8", "dialect": "smoke_signals"}),
            "dialect",
        ),
        (
            json!({"model_id": "p9", "context_window": 0}),
            "context_window",
        ),
        (
            json!({"model_id": "p10", "context_window": "big"}),
            "context_window",
        ),
        (json!({"model_id": ""}), "model_id"),
        (json!({"model_id": "m".repeat(257)}), "model_id"),
        (json!({"provider_model_id": "no model id"}), "model_id"),
        (json!({"model_id": "p11", "temperature": 1}), "temperature"),
    ] {
        let (s, b) = gw.post("/providers/ma/models", body.clone()).await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["error"]["param"], field, "{body}: {b}");
        assert_error_shape(&b);
    }
    let (s, b) = gw
        .patch(
            "/providers/ma/models/embed",
            json!({"pricing_info": {"input": -0.5}}),
        )
        .await;
    assert_invalid(s, &b, "pricing_info");
    let (s, b) = gw
        .patch(
            "/providers/ma/models/embed",
            json!({"pricing_info": {"per_request": "free"}}),
        )
        .await;
    assert_invalid(s, &b, "pricing_info");

    // A model of another provider is not found under this one.
    let (_, mb) = gw.get("/providers/mb/models/gpt-4o").await;
    let mb_id = mb["id"].as_str().unwrap();
    assert_eq!(
        gw.get(&format!("/providers/ma/models/{mb_id}")).await.0,
        404
    );

    let (s, _) = gw.delete("/providers/ma/models/embed").await;
    assert_eq!(s, 204);
    assert_eq!(gw.get("/providers/ma/models/embed").await.0, 404);
    assert_eq!(gw.delete("/providers/ma/models/embed").await.0, 404);
    let (s, _) = gw.delete(&format!("/providers/ma/models/{mid}")).await;
    assert_eq!(s, 204);
    let (_, list) = gw.get("/providers/ma/models").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["models"], 2);
}

both_databases!(models_work, models);

/// Deleting a provider deletes its keys and models.
async fn cascade(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (s, _) = gw
        .post("/providers", json!({"name": "c1", "base_url": "https://c.example/v1", "api_keys": [{"key": "sk-c1-key-one-0000"}, {"key": "sk-c1-key-two-0000"}], "supported_models": ["a", "b", "c"]}))
        .await;
    assert_eq!(s, 201);
    let (s, _) = gw
        .post("/providers", json!({"name": "c2", "base_url": "https://c.example/v1", "api_keys": [{"key": "sk-c2-key-one-0000"}], "supported_models": ["a"]}))
        .await;
    assert_eq!(s, 201);
    let (_, keys) = gw.get("/providers/c1/keys").await;
    let key_ids: Vec<String> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    let (_, models) = gw.get("/providers/c1/models").await;
    let model_ids: Vec<String> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(
        (
            stats["providers"].as_i64(),
            stats["upstream_keys"].as_i64(),
            stats["models"].as_i64()
        ),
        (Some(2), Some(3), Some(4)),
        "{stats}"
    );
    let (s, _) = gw.delete("/providers/c1").await;
    assert_eq!(s, 204);
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(
        (
            stats["providers"].as_i64(),
            stats["upstream_keys"].as_i64(),
            stats["models"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(gw.get("/providers/c1/keys").await.0, 404);
    assert_eq!(gw.get("/providers/c1/models").await.0, 404);
    for k in &key_ids {
        assert_eq!(gw.get(&format!("/providers/c1/keys/{k}")).await.0, 404);
    }
    for m in &model_ids {
        assert_eq!(gw.get(&format!("/providers/c1/models/{m}")).await.0, 404);
    }
    // A new provider with the same name starts empty.
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "c1", "base_url": "https://c.example/v1"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["api_keys"], json!([]));
    assert_eq!(gw.get("/providers/c1/keys").await.1, json!([]));
    assert_eq!(gw.get("/providers/c1/models").await.1, json!([]));
    // The other provider is untouched.
    assert_eq!(
        gw.get("/providers/c2/keys")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(gw.get("/providers/c2/models/a").await.0, 200);
}

both_databases!(provider_delete_cascades, cascade);

/// Hostile strings are stored literally and come back intact.
async fn hostile_input(db: common::Db) {
    let gw = Gateway::start(db).await;
    let sql = "'; DROP TABLE providers; --";
    let quotes = r#"He said "hi" and 'bye' \ back\slash `tick`"#;
    let unicode = "🚀🔥 مرحبا بالعالم \u{202E}evil\u{202C} 你好世界 ｶﾀｶﾅ Ω≈ç√ \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
    let json_like = r#"{"injected": true, "list": [1, 2, {"x": null}], "s": "\"quoted\""}"#;
    let big: String = "0123456789abcdef🚀 "
        .chars()
        .cycle()
        .take(10 * 1024)
        .collect();
    let multiline =
        "line one\nline two\r\n\ttabbed <script>alert(1)</script> %s %n {{template}} ${env}";
    let descriptions = [sql, quotes, unicode, json_like, big.as_str(), multiline];
    let display_names = [
        sql,
        quotes,
        unicode,
        json_like,
        "<b>bold</b> & amp;",
        "NULL",
    ];
    for (i, (desc, disp)) in descriptions.iter().zip(display_names).enumerate() {
        let name = format!("hostile-{i}");
        let (s, p) = gw
            .post("/providers", json!({"name": name, "display_name": disp, "description": desc, "base_url": "https://h.example/v1", "api_keys": [{"alias": disp, "key": "sk-hostile-key-0000"}]}))
            .await;
        assert_eq!(s, 201, "{i}: {p}");
        assert_eq!(p["description"], *desc);
        assert_eq!(p["display_name"], disp);
        let (s, got) = gw.get(&format!("/providers/{name}")).await;
        assert_eq!(s, 200);
        assert_eq!(got["description"].as_str(), Some(*desc), "description {i}");
        assert_eq!(got["display_name"].as_str(), Some(disp), "display_name {i}");
        assert_eq!(
            got["api_keys"][0]["alias"].as_str(),
            Some(disp),
            "alias {i}"
        );
    }
    // Names with quotes and SQL are slugs too, addressed percent-encoded.
    let evil_name = r#"evil'"; DROP TABLE providers; --"#;
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": evil_name, "base_url": "https://h.example/v1"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let encoded = "evil%27%22%3B%20DROP%20TABLE%20providers%3B%20--";
    let (s, got) = gw.get(&format!("/providers/{encoded}")).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["name"], evil_name);
    let (s, got) = gw.get("/providers/%F0%9F%9A%80").await;
    assert_eq!(s, 404, "{got}");
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "🚀-你好", "base_url": "https://h.example/v1"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, got) = gw.get("/providers/%F0%9F%9A%80-%E4%BD%A0%E5%A5%BD").await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["name"], "🚀-你好");

    // Key aliases and model ids.
    let aliases = [sql, quotes, unicode, json_like];
    for a in aliases {
        let (s, k) = gw
            .post(
                "/providers/hostile-0/keys",
                json!({"alias": a, "key": "sk-alias-test-0000"}),
            )
            .await;
        assert_eq!(s, 201, "{k}");
        let (_, got) = gw
            .get(&format!(
                "/providers/hostile-0/keys/{}",
                k["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(got["alias"].as_str(), Some(a));
    }
    let model_ids = [sql, quotes, unicode, json_like, "org/model:tag@v1?x=1#frag"];
    for m in model_ids {
        let (s, b) = gw
            .post(
                "/providers/hostile-1/models",
                json!({"model_id": m, "provider_model_id": m, "custom_parameters": {"note": m}}),
            )
            .await;
        assert_eq!(s, 201, "{m}: {b}");
        let (_, got) = gw
            .get(&format!(
                "/providers/hostile-1/models/{}",
                b["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(got["model_id"].as_str(), Some(m));
        assert_eq!(got["provider_model_id"].as_str(), Some(m));
        assert_eq!(got["custom_parameters"]["note"].as_str(), Some(m));
    }
    let (_, list) = gw.get("/providers/hostile-1/models").await;
    let got: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, model_ids);
    // PATCH with hostile text, then the tables are all still there.
    let (s, b) = gw
        .patch(
            "/providers/hostile-2",
            json!({"description": sql, "display_name": sql}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(gw.get("/providers/hostile-2").await.1["description"], sql);
    let (s, stats) = gw.get("/admin/stats").await;
    assert_eq!(s, 200);
    assert_eq!(stats["providers"], 8, "{stats}");
    assert_eq!(stats["upstream_keys"], 6 + 4, "{stats}");
    assert_eq!(stats["models"], 5, "{stats}");
    let (_, list) = gw.get("/providers").await;
    assert_eq!(list.as_array().unwrap().len(), 8);
}

both_databases!(hostile_input_round_trips, hostile_input);

/// Concurrent writes: distinct names all succeed, one name succeeds once (the rest 409),
/// never a 500.
async fn concurrent_writes(db: common::Db) {
    let gw = Gateway::start(db).await;
    let distinct = futures::future::join_all((0..16).map(|i| {
        gw.post(
            "/providers",
            json!({"name": format!("race-{i}"), "base_url": "https://r.example/v1",
                   "api_keys": [{"key": "sk-race-key-000000"}], "supported_models": ["a", "b"]}),
        )
    }))
    .await;
    for (st, b) in &distinct {
        assert_eq!(
            *st,
            201,
            "{b}\n{}",
            gw.log_text()
                .lines()
                .filter(|l| l.contains("ERROR"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let same = futures::future::join_all((0..16).map(|_| {
        gw.post(
            "/providers",
            json!({"name": "contested", "base_url": "https://r.example/v1", "supported_models": ["a"]}),
        )
    }))
    .await;
    let statuses: Vec<u16> = same.iter().map(|(st, _)| *st).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}: {same:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}: {same:?}"
    );
    let models = futures::future::join_all((0..16).map(|i| {
        gw.post(
            "/providers/contested/models",
            json!({"model_id": if i % 2 == 0 { "dup".to_owned() } else { format!("m{i}") }}),
        )
    }))
    .await;
    let created = models.iter().filter(|(st, _)| *st == 201).count();
    assert!(
        models.iter().all(|(st, _)| *st == 201 || *st == 409),
        "{models:?}"
    );
    assert_eq!(created, 8 + 1, "{models:?}");
    let keys = futures::future::join_all((0..16).map(|i| {
        gw.post(
            "/providers/contested/keys",
            json!({"key": format!("sk-concurrent-{i:04}")}),
        )
    }))
    .await;
    assert!(keys.iter().all(|(st, _)| *st == 201), "{keys:?}");
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["providers"], 17, "{stats}");
    assert_eq!(stats["models"], 16 * 2 + 1 + 9, "{stats}");
    assert_eq!(stats["upstream_keys"], 16 + 16, "{stats}");
}

both_databases!(concurrent_writes_are_safe, concurrent_writes);

/// Writes racing a provider's deletion end in 201 or 404, never a 500.
async fn writes_racing_delete(db: common::Db) {
    let gw = Gateway::start(db).await;
    for round in 0..4 {
        let name = format!("doomed-{round}");
        let (st, _) = gw
            .post(
                "/providers",
                json!({"name": name, "base_url": "https://d.example/v1"}),
            )
            .await;
        assert_eq!(st, 201);
        let keys_path = format!("/providers/{name}/keys");
        let models_path = format!("/providers/{name}/models");
        let provider_path = format!("/providers/{name}");
        let writes = (0..12).map(|i| {
            let (path, body) = if i % 2 == 0 {
                (
                    keys_path.as_str(),
                    json!({"key": format!("sk-doomed-{i:04}")}),
                )
            } else {
                (models_path.as_str(), json!({"model_id": format!("m{i}")}))
            };
            gw.post(path, body)
        });
        let (results, (st, b)) = tokio::join!(futures::future::join_all(writes), async {
            tokio::time::sleep(std::time::Duration::from_millis(round * 3)).await;
            gw.delete(&provider_path).await
        });
        assert_eq!(st, 204, "{b}");
        for (st, b) in &results {
            assert!(*st == 201 || *st == 404, "{st} {b}");
        }
        let (_, stats) = gw.get("/admin/stats").await;
        assert_eq!(stats["providers"], 0, "{stats}");
        assert_eq!(stats["upstream_keys"], 0, "orphaned keys: {stats}");
        assert_eq!(stats["models"], 0, "orphaned models: {stats}");
    }
}

both_databases!(writes_racing_delete_are_clean, writes_racing_delete);
