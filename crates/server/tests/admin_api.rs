//! The control plane over real HTTP: users, virtual keys, admin authentication (admin key,
//! JWT sessions, roles), system endpoints, `/api/v1` mounting, health and OpenAPI, and that
//! secrets never leak into responses or logs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::{Behavior, MockUpstream};
use common::{Cred, Gateway, Options, assert_error_shape, assert_invalid};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Every control-plane route as (method, path) with placeholder ids.
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/providers"),
    ("POST", "/providers"),
    ("GET", "/providers/p"),
    ("PUT", "/providers/p"),
    ("PATCH", "/providers/p"),
    ("DELETE", "/providers/p"),
    ("GET", "/providers/p/keys"),
    ("POST", "/providers/p/keys"),
    ("GET", "/providers/p/keys/k"),
    ("PUT", "/providers/p/keys/k"),
    ("PATCH", "/providers/p/keys/k"),
    ("DELETE", "/providers/p/keys/k"),
    ("GET", "/providers/p/models"),
    ("POST", "/providers/p/models"),
    ("GET", "/providers/p/models/m"),
    ("PUT", "/providers/p/models/m"),
    ("PATCH", "/providers/p/models/m"),
    ("DELETE", "/providers/p/models/m"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users/u"),
    ("DELETE", "/admin/users/u"),
    ("GET", "/admin/api-keys"),
    ("POST", "/admin/api-keys"),
    ("GET", "/admin/api-keys/k"),
    ("PATCH", "/admin/api-keys/k"),
    ("DELETE", "/admin/api-keys/k"),
    ("GET", "/users/u/api-keys"),
    ("POST", "/users/u/api-keys"),
    ("GET", "/admin/stats"),
    ("GET", "/admin/logs"),
    ("POST", "/admin/api-keys/k/balance"),
    ("GET", "/admin/api-keys/k/balance-events"),
    ("GET", "/admin/api-keys/k/usage"),
    ("GET", "/admin/tenants"),
    ("POST", "/admin/tenants"),
    ("GET", "/admin/tenants/t"),
    ("DELETE", "/admin/tenants/t"),
];

/// The documented paths of the control plane (OpenAPI spelling).
const ADMIN_PATHS: &[&str] = &[
    "/auth/login",
    "/system/secret-key/generate",
    "/system/admin/init",
    "/providers",
    "/providers/{provider}",
    "/providers/{provider}/keys",
    "/providers/{provider}/keys/{key_id}",
    "/providers/{provider}/models",
    "/providers/{provider}/models/{id}",
    "/admin/users",
    "/admin/users/{id}",
    "/admin/api-keys",
    "/admin/api-keys/{id}",
    "/users/{user_id}/api-keys",
    "/admin/stats",
    "/admin/logs",
    "/admin/api-keys/{id}/balance",
    "/admin/api-keys/{id}/balance-events",
    "/admin/api-keys/{id}/usage",
    "/admin/tenants",
    "/admin/tenants/{id}",
];

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

fn body_for(m: &str) -> Option<(&'static str, String)> {
    (m != "GET" && m != "DELETE").then(|| ("application/json", "{}".to_owned()))
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

async fn login(gw: &Gateway, username: &str, password: &str) -> (u16, Value) {
    gw.call_as(
        Cred::None,
        Method::POST,
        "/auth/login",
        Some(json!({"username": username, "password": password})),
    )
    .await
}

/// `/admin/users`: create, list, get, delete, duplicates, validation.
async fn users(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (s0, list) = gw.get("/admin/users").await;
    assert_eq!(s0, 200);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the bootstrap admin: {list}"
    );
    assert_eq!(list[0]["username"], "admin");
    assert_eq!(list[0]["role"], "admin");

    let (st, u) = gw
        .post("/admin/users", json!({"username": "alice", "email": "alice@example.com", "display_name": "Alice A.", "password": "correct horse battery", "role": "user"}))
        .await;
    assert_eq!(st, 201, "{u}");
    assert_eq!(u["username"], "alice");
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["display_name"], "Alice A.");
    assert_eq!(u["role"], "user");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["has_password"], true);
    assert!(
        u.get("password").is_none() && u.get("password_hash").is_none(),
        "{u}"
    );
    assert!(!u.to_string().contains("correct horse"));
    let uid = s(&u["id"]);
    let (st, b) = gw.post("/admin/users", json!({"username": "bob"})).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["role"], "user", "default role");
    assert_eq!(b["has_password"], false);

    let (st, b) = gw.post("/admin/users", json!({"username": "alice"})).await;
    assert_eq!(st, 409, "{b}");
    assert_error_shape(&b);
    for (body, field) in [
        (json!({"username": ""}), "username"),
        (json!({"username": "a/b"}), "username"),
        (json!({"username": "u".repeat(129)}), "username"),
        (
            json!({"username": "carol", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"username": "carol", "password": "short"}),
            "password",
        ),
        (json!({"username": "carol", "role": "superuser"}), "role"),
        (json!({"username": "carol", "is_admin": true}), "is_admin"),
        (json!({"email": "x@y.z"}), "username"),
        (json!({"username": 5}), "username"),
    ] {
        let (st, b) = gw.post("/admin/users", body.clone()).await;
        assert_invalid(st, &b, field);
    }

    let (st, got) = gw.get(&format!("/admin/users/{uid}")).await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(got["username"], "alice");
    assert!(got.get("password_hash").is_none());
    let (st, b) = gw.get("/admin/users/nobody").await;
    assert_eq!(st, 404);
    assert_error_shape(&b);
    let (_, list) = gw.get("/admin/users").await;
    let names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(&u["username"]))
        .collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    let (_, page) = gw.get("/admin/users?skip=1&limit=1").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["username"], "alice");
    let (st, b) = gw.get("/admin/users?limit=0").await;
    assert_invalid(st, &b, "limit");
    assert!(
        !list.to_string().contains("argon") && !list.to_string().contains("$2"),
        "{list}"
    );

    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["users"], 3);
    assert_eq!(gw.delete(&format!("/admin/users/{uid}")).await.0, 204);
    assert_eq!(gw.get(&format!("/admin/users/{uid}")).await.0, 404);
    assert_eq!(gw.delete(&format!("/admin/users/{uid}")).await.0, 404);
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["users"], 2);
    // The name is free again.
    assert_eq!(
        gw.post("/admin/users", json!({"username": "alice"}))
            .await
            .0,
        201
    );
}

both_databases!(users_work, users);

/// `/admin/api-keys` and `/users/{id}/api-keys`: plaintext once, prefixes in lists, limits,
/// disabling, deleting, and keys going with their user.
async fn virtual_keys(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["virtual_keys"], 1, "the bootstrap key: {stats}");

    let (st, k) = gw.post("/admin/api-keys", json!({"name": "service"})).await;
    assert_eq!(st, 201, "{k}");
    let plain = s(&k["key"]);
    let kid = s(&k["id"]);
    assert!(plain.starts_with("mg-"), "{plain}");
    assert!(plain.len() >= 32, "{plain}");
    assert_eq!(k["api_key"], plain.as_str());
    assert_eq!(k["name"], "service");
    assert_eq!(k["enabled"], true);
    let prefix = s(&k["prefix"]);
    assert!(
        prefix.starts_with("mg-") && plain.starts_with(&prefix) && prefix.len() < plain.len(),
        "{prefix} / {plain}"
    );
    assert_eq!(gw.models_status(&plain).await, 200);
    let r = gw
        .raw(Method::GET, "/v1/models", Cred::XApiKey(&plain), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Never shown again.
    let (st, list) = gw.get("/admin/api-keys").await;
    assert_eq!(st, 200);
    let text = list.to_string();
    assert!(!text.contains(&plain), "{text}");
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == kid.as_str())
        .expect("listed");
    assert_eq!(row["prefix"], prefix.as_str());
    assert!(
        row.get("key").is_none() && row.get("api_key").is_none() && row.get("key_hash").is_none(),
        "{row}"
    );
    let (st, got) = gw.get(&format!("/admin/api-keys/{kid}")).await;
    assert_eq!(st, 200);
    assert!(!got.to_string().contains(&plain));
    assert!(got.get("key").is_none() && got.get("api_key").is_none());
    assert_eq!(got["prefix"], prefix.as_str());

    // seed 002: `key_name`; seed 001: `expiry: "MONTH"`.
    let (st, k2) = gw
        .post("/admin/api-keys", json!({"key_name": "legacy"}))
        .await;
    assert_eq!(st, 201, "{k2}");
    assert_eq!(k2["name"], "legacy");
    assert_eq!(k2["expires_at"], Value::Null);
    let (st, k3) = gw
        .post(
            "/admin/api-keys",
            json!({"name": "monthly", "expiry": "MONTH"}),
        )
        .await;
    assert_eq!(st, 201, "{k3}");
    let exp = chrono::DateTime::parse_from_rfc3339(k3["expires_at"].as_str().unwrap()).unwrap();
    let days = (exp.timestamp() - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
    assert!(
        (29.9..=30.1).contains(&days),
        "MONTH expires in {days} days"
    );
    assert_eq!(gw.models_status(&s(&k3["key"])).await, 200);
    let (st, k4) = gw
        .post(
            "/admin/api-keys",
            json!({"name": "dated", "expiry": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(st, 201, "{k4}");
    assert!(k4["expires_at"].as_str().unwrap().starts_with("2999-01-01"));
    let (st, k5) = gw
        .post(
            "/admin/api-keys",
            json!({"name": "expired", "expiry": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(st, 201, "{k5}");
    assert_eq!(
        gw.models_status(&s(&k5["key"])).await,
        401,
        "an expired key"
    );
    let (st, k6) = gw
        .post("/admin/api-keys", json!({"name": "limited", "rpm": 10, "tpm": 1000, "budget": "12.50", "allowed_models": ["gpt-4o"], "tenant_id": "t1"}))
        .await;
    assert_eq!(st, 201, "{k6}");
    assert_eq!(k6["rpm"], 10);
    assert_eq!(k6["tpm"], 1000);
    assert_eq!(k6["budget"], "12.5");
    assert_eq!(k6["allowed_models"], json!(["gpt-4o"]));
    assert_eq!(k6["tenant_id"], "t1");
    // Distinct keys every time.
    assert_ne!(k2["key"], k3["key"]);
    assert_ne!(k2["prefix"], k3["prefix"]);

    for (body, field) in [
        (json!({"expiry": "next tuesday"}), "expiry"),
        (json!({"name": ""}), "name"),
        (json!({"rpm": -1}), "rpm"),
        (json!({"rpm": "fast"}), "rpm"),
        (json!({"budget": "lots"}), "budget"),
        (json!({"budget": -5}), "budget"),
        (json!({"user_id": "no-such-user"}), "user_id"),
        (json!({"allowed_models": [""]}), "allowed_models[0]"),
        (json!({"key": "mg-chosen"}), "key"),
    ] {
        let (st, b) = gw.post("/admin/api-keys", body.clone()).await;
        assert_invalid(st, &b, field);
    }

    // PATCH: limits, name, disable → 401, enable → 200.
    let (st, b) = gw
        .patch(
            &format!("/admin/api-keys/{kid}"),
            json!({"name": "renamed", "rpm": 5}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["name"], "renamed");
    assert_eq!(b["rpm"], 5);
    assert_eq!(b["prefix"], prefix.as_str());
    assert!(b.get("key").is_none());
    let (st, b) = gw
        .patch(&format!("/admin/api-keys/{kid}"), json!({"enabled": false}))
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(gw.models_status(&plain).await, 401);
    let (st, _) = gw
        .patch(&format!("/admin/api-keys/{kid}"), json!({"enabled": true}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(gw.models_status(&plain).await, 200);
    let (st, b) = gw
        .patch(&format!("/admin/api-keys/{kid}"), json!({"rpm": "x"}))
        .await;
    assert_invalid(st, &b, "rpm");
    assert_eq!(
        gw.patch("/admin/api-keys/nope", json!({"name": "x"}))
            .await
            .0,
        404
    );
    assert_eq!(gw.get("/admin/api-keys/nope").await.0, 404);

    // Per user.
    let (st, u) = gw.post("/admin/users", json!({"username": "dave"})).await;
    assert_eq!(st, 201);
    let uid = s(&u["id"]);
    let (st, uk) = gw
        .post(&format!("/users/{uid}/api-keys"), json!({"name": "dave's"}))
        .await;
    assert_eq!(st, 201, "{uk}");
    assert_eq!(uk["user_id"], uid.as_str());
    let uplain = s(&uk["key"]);
    assert_eq!(uk["api_key"], uplain.as_str());
    let (st, uk2) = gw
        .post(
            "/admin/api-keys",
            json!({"name": "dave's second", "user_id": uid}),
        )
        .await;
    assert_eq!(st, 201, "{uk2}");
    let (st, ulist) = gw.get(&format!("/users/{uid}/api-keys")).await;
    assert_eq!(st, 200, "{ulist}");
    let ids: Vec<String> = ulist
        .as_array()
        .unwrap()
        .iter()
        .map(|k| s(&k["id"]))
        .collect();
    assert_eq!(ids, [s(&uk["id"]), s(&uk2["id"])]);
    assert!(!ulist.to_string().contains(&uplain));
    assert!(
        ulist
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["prefix"].as_str().is_some_and(|p| p.starts_with("mg-")))
    );
    let (st, b) = gw
        .post(
            &format!("/users/{uid}/api-keys"),
            json!({"user_id": "someone-else"}),
        )
        .await;
    assert_invalid(st, &b, "user_id");
    assert_eq!(gw.get("/users/nobody/api-keys").await.0, 404);
    assert_eq!(gw.post("/users/nobody/api-keys", json!({})).await.0, 404);
    assert_eq!(gw.models_status(&uplain).await, 200);

    let (_, stats) = gw.get("/admin/stats").await;
    let before = stats["virtual_keys"].as_i64().unwrap();
    assert_eq!(before, 1 + 6 + 2, "{stats}");
    assert_eq!(gw.delete(&format!("/admin/users/{uid}")).await.0, 204);
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(
        stats["virtual_keys"].as_i64().unwrap(),
        before - 2,
        "the user's keys went with them"
    );
    assert_eq!(
        gw.get(&format!("/admin/api-keys/{}", s(&uk["id"]))).await.0,
        404
    );
    assert_eq!(gw.models_status(&uplain).await, 401);

    // DELETE a key.
    assert_eq!(gw.delete(&format!("/admin/api-keys/{kid}")).await.0, 204);
    assert_eq!(gw.get(&format!("/admin/api-keys/{kid}")).await.0, 404);
    assert_eq!(gw.delete(&format!("/admin/api-keys/{kid}")).await.0, 404);
    assert_eq!(gw.models_status(&plain).await, 401);
    let (_, list) = gw.get("/admin/api-keys?limit=2").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (st, b) = gw.get("/admin/api-keys?skip=-1").await;
    assert_invalid(st, &b, "skip");
}

both_databases!(virtual_keys_work, virtual_keys);

/// `GET /admin/stats` counts each kind of record.
async fn stats(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (st, b) = gw.get("/admin/stats").await;
    assert_eq!(st, 200);
    for f in [
        "providers",
        "upstream_keys",
        "models",
        "users",
        "virtual_keys",
        "requests",
    ] {
        assert!(b[f].is_i64(), "{f}: {b}");
    }
    assert_eq!(
        (
            b["providers"].as_i64(),
            b["upstream_keys"].as_i64(),
            b["models"].as_i64(),
            b["users"].as_i64(),
            b["virtual_keys"].as_i64()
        ),
        (Some(0), Some(0), Some(0), Some(1), Some(1)),
        "{b}"
    );
    gw.post("/providers", json!({"name": "a", "base_url": "https://a.example/v1", "api_keys": [{"key": "sk-aaaaaaaaaaaa"}, {"key": "sk-bbbbbbbbbbbb"}], "supported_models": ["x", "y", "z"]}))
        .await;
    gw.post("/providers", json!({"name": "b", "base_url": "https://b.example/v1", "api_keys": [{"key": "sk-cccccccccccc"}]})).await;
    gw.post("/providers/b/models", json!({"model_id": "x"}))
        .await;
    gw.post("/admin/users", json!({"username": "u1"})).await;
    gw.post("/admin/users", json!({"username": "u2"})).await;
    gw.post("/admin/api-keys", json!({})).await;
    let (_, b) = gw.get("/admin/stats").await;
    assert_eq!(
        (
            b["providers"].as_i64(),
            b["upstream_keys"].as_i64(),
            b["models"].as_i64(),
            b["users"].as_i64(),
            b["virtual_keys"].as_i64()
        ),
        (Some(2), Some(3), Some(4), Some(3), Some(2)),
        "{b}"
    );
}

both_databases!(stats_count, stats);

/// Admin endpoints refuse missing and wrong credentials with OpenAI-shaped 401s.
async fn admin_auth(db: common::Db) {
    let gw = Gateway::start(db).await;
    // Every documented operation except the public ones needs credentials, including
    // routes added after this list was written.
    let doc = gw
        .raw(Method::GET, "/openapi.json", Cred::None, None)
        .await
        .json();
    let public = [
        "/health",
        "/auth/login",
        "/system/secret-key/generate",
        "/system/admin/init",
    ];
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        if public.contains(&path.as_str()) {
            continue;
        }
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for m in ops.as_object().unwrap().keys() {
            let m = m.to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                continue;
            }
            let r = gw
                .raw(method(&m), &concrete, Cred::None, body_for(&m))
                .await;
            assert_eq!(
                r.status, 401,
                "{m} {concrete} without credentials: {}",
                r.text
            );
            // Data-plane paths answer in their client's dialect; the rest in the OpenAI shape.
            if concrete.starts_with("/v1/messages") {
                assert_eq!(r.json()["type"], "error", "{concrete}: {}", r.text);
                assert_eq!(
                    r.json()["error"]["type"],
                    "authentication_error",
                    "{}",
                    r.text
                );
            } else if concrete.starts_with("/v1beta/") {
                assert_eq!(r.json()["error"]["code"], 401, "{concrete}: {}", r.text);
                assert_eq!(r.json()["error"]["status"], "UNAUTHENTICATED", "{}", r.text);
            } else {
                assert_error_shape(&r.json());
            }
            checked += 1;
        }
    }
    assert!(
        checked >= ADMIN_ROUTES.len(),
        "only {checked} documented operations"
    );
    for (m, path) in ADMIN_ROUTES {
        for prefix in ["", "/api/v1"] {
            let full = format!("{prefix}{path}");
            for cred in [
                Cred::None,
                Cred::Bearer("wrong-admin-key"),
                Cred::Bearer(""),
                Cred::XApiKey("nope"),
            ] {
                let r = gw.raw(method(m), &full, cred, body_for(m)).await;
                assert_eq!(r.status, 401, "{m} {full} with {cred:?}: {}", r.text);
                assert_error_shape(&r.json());
                assert_eq!(r.json()["error"]["type"], "authentication_error");
            }
        }
    }
    // A data-plane virtual key is not an admin credential.
    let (_, k) = gw.post("/admin/api-keys", json!({"name": "data"})).await;
    let r = gw
        .raw(
            Method::GET,
            "/providers",
            Cred::Bearer(k["key"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // A forged token signed with another secret.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "x", "username": "admin", "role": "admin", "iat": 0, "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(b"not the secret"),
    )
    .unwrap();
    let r = gw
        .raw(Method::GET, "/providers", Cred::Bearer(&forged), None)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // The admin key works as bearer and as X-API-Key.
    assert_eq!(
        gw.raw(Method::GET, "/providers", Cred::Admin, None)
            .await
            .status,
        200
    );
    assert_eq!(
        gw.raw(
            Method::GET,
            "/admin/stats",
            Cred::XApiKey(common::ADMIN_KEY),
            None
        )
        .await
        .status,
        200
    );
    // A different admin key configured → the old one stops working.
    let gw2 =
        Gateway::start_with(Options::new(db).env("MODELGATE_ADMIN_KEY", "another-admin-key-42"))
            .await;
    assert_eq!(
        gw2.raw(Method::GET, "/providers", Cred::Admin, None)
            .await
            .status,
        401
    );
    assert_eq!(
        gw2.raw(
            Method::GET,
            "/providers",
            Cred::Bearer("another-admin-key-42"),
            None
        )
        .await
        .status,
        200
    );
}

both_databases!(admin_auth_required, admin_auth);

/// Sessions: bootstrap admin login → JWT; roles; own keys only; init and secret generation.
async fn sessions(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (password, first_key) = gw
        .bootstrap_credentials()
        .unwrap_or_else(|| panic!("no bootstrap line in log:\n{}", gw.log_text()));
    assert!(first_key.starts_with("mg-"));
    assert_eq!(
        gw.models_status(&first_key).await,
        200,
        "the first key works"
    );

    let (st, b) = login(&gw, "admin", &password).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["token_type"], "bearer");
    assert_eq!(b["role"], "admin");
    assert!(b["expires_in"].as_u64().unwrap() > 0);
    let token = s(&b["access_token"]);
    let admin_id = s(&b["user_id"]);
    for path in [
        "/providers",
        "/admin/users",
        "/admin/api-keys",
        "/admin/stats",
        "/api/v1/providers",
    ] {
        let (st, b) = gw
            .call_as(Cred::Bearer(&token), Method::GET, path, None)
            .await;
        assert_eq!(st, 200, "{path}: {b}");
    }
    let (st, b) = gw
        .call_as(
            Cred::Bearer(&token),
            Method::POST,
            "/providers",
            Some(json!({"name": "via-jwt", "base_url": "https://j.example/v1"})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, b) = gw
        .call_as(
            Cred::Bearer(&token),
            Method::GET,
            &format!("/users/{admin_id}/api-keys"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        b.as_array().unwrap().len(),
        1,
        "the first key belongs to the admin: {b}"
    );

    // Wrong password / unknown user / malformed → 401 or 422, OpenAI-shaped.
    for (u, p) in [
        ("admin", "wrong-password"),
        ("admin", ""),
        ("ghost", "whatever-password"),
    ] {
        let (st, b) = login(&gw, u, p).await;
        assert_eq!(st, 401, "{u}/{p}: {b}");
        assert_error_shape(&b);
    }
    let (st, b) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/auth/login",
            Some(json!({"username": "admin"})),
        )
        .await;
    assert_invalid(st, &b, "password");
    // A tampered token fails.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        gw.call_as(Cred::Bearer(&tampered), Method::GET, "/providers", None)
            .await
            .0,
        401
    );

    // A plain user: 403 on admin routes, own keys only.
    let (st, u) = gw
        .post(
            "/admin/users",
            json!({"username": "erin", "password": "erin-password-1", "role": "user"}),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    let erin = s(&u["id"]);
    let (st, other) = gw
        .post(
            "/admin/users",
            json!({"username": "frank", "password": "frank-password-1"}),
        )
        .await;
    assert_eq!(st, 201);
    let frank = s(&other["id"]);
    let (st, b) = login(&gw, "erin", "erin-password-1").await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["role"], "user");
    assert_eq!(b["user_id"], erin.as_str());
    let user_token = s(&b["access_token"]);
    for (m, path) in ADMIN_ROUTES
        .iter()
        .filter(|(_, p)| !p.starts_with("/users/"))
    {
        let r = gw
            .raw(method(m), path, Cred::Bearer(&user_token), body_for(m))
            .await;
        assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
        assert_error_shape(&r.json());
        assert_eq!(r.json()["error"]["type"], "permission_error");
    }
    let (st, b) = gw
        .call_as(
            Cred::Bearer(&user_token),
            Method::POST,
            &format!("/users/{erin}/api-keys"),
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["user_id"], erin.as_str());
    let erin_key = s(&b["key"]);
    assert_eq!(gw.models_status(&erin_key).await, 200);
    let (st, b) = gw
        .call_as(
            Cred::Bearer(&user_token),
            Method::GET,
            &format!("/api/v1/users/{erin}/api-keys"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 1);
    assert!(!b.to_string().contains(&erin_key));
    for (m, path) in [
        ("GET", format!("/users/{frank}/api-keys")),
        ("POST", format!("/users/{frank}/api-keys")),
        ("GET", format!("/users/{admin_id}/api-keys")),
    ] {
        let r = gw
            .raw(method(m), &path, Cred::Bearer(&user_token), body_for(m))
            .await;
        assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
        assert_error_shape(&r.json());
    }
    let (_, fk) = gw.get(&format!("/users/{frank}/api-keys")).await;
    assert_eq!(fk, json!([]), "erin could not create a key for frank");
    // A deleted user's token stops working.
    assert_eq!(gw.delete(&format!("/admin/users/{erin}")).await.0, 204);
    assert_eq!(
        gw.call_as(
            Cred::Bearer(&user_token),
            Method::GET,
            &format!("/users/{erin}/api-keys"),
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(gw.models_status(&erin_key).await, 401);

    // Init is refused once users exist; secret generation is random.
    let (st, b) = gw
        .call_as(Cred::None, Method::POST, "/system/admin/init", None)
        .await;
    assert_eq!(st, 409, "{b}");
    assert_error_shape(&b);
    let (st, b) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/system/admin/init",
            Some(json!({"username": "root"})),
        )
        .await;
    assert_eq!(st, 409, "{b}");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let r = gw
            .raw(
                Method::POST,
                "/system/secret-key/generate",
                Cred::None,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let k = s(&r.json()["secret_key"]);
        assert!(k.len() >= 64, "{k}");
        assert!(seen.insert(k), "secret keys repeat");
    }
    let (st, b) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/system/secret-key/generate",
            Some(json!({"length": 16})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert!(s(&b["secret_key"]).len() >= 16);
    assert!(seen.insert(s(&b["secret_key"])));
    let (st, b) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/system/secret-key/generate",
            Some(json!({"length": 4})),
        )
        .await;
    assert_invalid(st, &b, "length");
    let (st, b) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/api/v1/system/secret-key/generate",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
}

both_databases!(sessions_work, sessions);

/// With bootstrap off, `POST /system/admin/init` creates the first admin once.
async fn admin_init(db: common::Db) {
    let gw = Gateway::start_with(Options::new(db).env("MODELGATE_BOOTSTRAP", "false")).await;
    assert!(
        gw.bootstrap_credentials().is_none(),
        "no bootstrap with MODELGATE_BOOTSTRAP=false"
    );
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["users"], 0, "{stats}");
    // Login is impossible before init.
    assert_eq!(login(&gw, "admin", "anything-at-all").await.0, 401);
    let (st, b) = gw
        .call_as(Cred::None, Method::POST, "/system/admin/init", None)
        .await;
    assert_eq!(st, 201, "{b}");
    let password = s(&b["password"]);
    let key = s(&b["api_key"]);
    assert!(password.len() >= 16, "{password}");
    assert!(key.starts_with("mg-"));
    assert_eq!(b["user"]["username"], "admin");
    assert_eq!(b["user"]["role"], "admin");
    assert!(b["user"].get("password_hash").is_none());
    let (st, b2) = gw
        .call_as(Cred::None, Method::POST, "/system/admin/init", None)
        .await;
    assert_eq!(st, 409, "{b2}");
    assert_error_shape(&b2);
    let (st, l) = login(&gw, "admin", &password).await;
    assert_eq!(st, 200, "{l}");
    let (st, _) = gw
        .call_as(
            Cred::Bearer(&s(&l["access_token"])),
            Method::GET,
            "/admin/users",
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(gw.models_status(&key).await, 200);
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(
        (stats["users"].as_i64(), stats["virtual_keys"].as_i64()),
        (Some(1), Some(1))
    );

    // With a chosen name and password, on another fresh server, under /api/v1.
    let gw2 = Gateway::start_with(Options::new(db).env("MODELGATE_BOOTSTRAP", "false")).await;
    let (st, b) = gw2
        .call_as(Cred::None, Method::POST, "/api/v1/system/admin/init", Some(json!({"username": "root", "password": "root-password-123", "email": "root@example.com"})))
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["password"], "root-password-123");
    assert_eq!(b["user"]["username"], "root");
    assert_eq!(login(&gw2, "root", "root-password-123").await.0, 200);
    assert_eq!(
        gw2.call_as(Cred::None, Method::POST, "/api/v1/system/admin/init", None)
            .await
            .0,
        409
    );
    // Bad init bodies.
    let gw3 = Gateway::start_with(Options::new(db).env("MODELGATE_BOOTSTRAP", "false")).await;
    let r = gw3
        .raw(
            Method::POST,
            "/system/admin/init",
            Cred::None,
            Some(("application/json", "{oops".into())),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_error_shape(&r.json());
    let (st, b) = gw3
        .call_as(
            Cred::None,
            Method::POST,
            "/system/admin/init",
            Some(json!({"password": "short"})),
        )
        .await;
    assert_invalid(st, &b, "password");
    let (_, stats) = gw3.get("/admin/stats").await;
    assert_eq!(stats["users"], 0, "a failed init creates nothing: {stats}");
}

both_databases!(admin_init_once, admin_init);

/// Every admin route is also served under `/api/v1`.
async fn api_v1_prefix(db: common::Db) {
    let gw = Gateway::start(db).await;
    let (st, p) = gw.post("/api/v1/providers", json!({"name": "v1p", "base_url": "https://v.example/v1", "api_keys": [{"key": "sk-api-v1-key-0000"}]})).await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(gw.get("/providers/v1p").await.0, 200, "same catalogue");
    let (st, list) = gw.get("/api/v1/providers?limit=10").await;
    assert_eq!(st, 200);
    assert_eq!(list[0]["name"], "v1p");
    let (st, b) = gw.get("/api/v1/providers?limit=0").await;
    assert_invalid(st, &b, "limit");
    let (st, k) = gw
        .post(
            "/api/v1/providers/v1p/keys",
            json!({"key": "sk-second-v1-key-1111"}),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    assert_eq!(k["key_preview"], "sk-s…1111");
    let (st, b) = gw
        .patch(
            &format!("/api/v1/providers/v1p/keys/{}", s(&k["id"])),
            json!({"alias": "renamed"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, m) = gw
        .post("/api/v1/providers/v1p/models", json!({"model_id": "m1"}))
        .await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(gw.get("/api/v1/providers/v1p/models/m1").await.0, 200);
    let (st, b) = gw
        .put(
            "/api/v1/providers/v1p/models/m1",
            json!({"model_id": "m1", "context_window": 1000}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, u) = gw
        .post(
            "/api/v1/admin/users",
            json!({"username": "v1user", "password": "v1-password-123"}),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    assert_eq!(
        gw.get(&format!("/api/v1/admin/users/{}", s(&u["id"])))
            .await
            .0,
        200
    );
    assert_eq!(
        gw.get("/api/v1/admin/users")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (st, vk) = gw
        .post("/api/v1/admin/api-keys", json!({"key_name": "v1key"}))
        .await;
    assert_eq!(st, 201, "{vk}");
    assert_eq!(gw.models_status(&s(&vk["key"])).await, 200);
    assert_eq!(
        gw.get(&format!("/api/v1/admin/api-keys/{}", s(&vk["id"])))
            .await
            .0,
        200
    );
    let (st, b) = gw
        .post(
            &format!("/api/v1/users/{}/api-keys", s(&u["id"])),
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(
        gw.get(&format!("/api/v1/users/{}/api-keys", s(&u["id"])))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (st, stats) = gw.get("/api/v1/admin/stats").await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            stats["providers"].as_i64(),
            stats["upstream_keys"].as_i64(),
            stats["models"].as_i64()
        ),
        (Some(1), Some(2), Some(1))
    );
    assert_eq!(gw.get("/api/v1/admin/logs").await.0, 200);
    let (st, b) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"username": "v1user", "password": "v1-password-123"})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        gw.delete(&format!("/api/v1/admin/api-keys/{}", s(&vk["id"])))
            .await
            .0,
        204
    );
    assert_eq!(
        gw.delete(&format!("/api/v1/admin/users/{}", s(&u["id"])))
            .await
            .0,
        204
    );
    assert_eq!(gw.delete("/api/v1/providers/v1p/models/m1").await.0, 204);
    assert_eq!(gw.delete("/api/v1/providers/v1p").await.0, 204);
    assert_eq!(gw.get("/api/v1/providers/v1p").await.0, 404);
    let r = gw
        .raw(
            Method::POST,
            "/api/v1/providers",
            Cred::Admin,
            Some(("text/plain", "{}".into())),
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
}

both_databases!(api_v1_prefix_serves_admin, api_v1_prefix);

/// `/health`, `/openapi.json` and `/docs/`.
async fn health_and_docs(db: common::Db) {
    let gw = Gateway::start(db).await;
    let r = gw.raw(Method::GET, "/health", Cred::None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let h = r.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(
        h["database"],
        if db == common::Db::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    assert!(h["version"].is_string());

    let r = gw.raw(Method::GET, "/openapi.json", Cred::None, None).await;
    assert_eq!(r.status, 200);
    let doc: Value = serde_json::from_str(&r.text).expect("openapi.json is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in ADMIN_PATHS {
        assert!(
            paths.contains_key(*p),
            "openapi.json lacks {p}; has {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    for p in ["/health", "/v1/chat/completions", "/v1/models"] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    // Each documented admin method is one the server routes.
    for (m, path) in ADMIN_ROUTES {
        let spelled = ADMIN_PATHS
            .iter()
            .find(|p| {
                let a: Vec<&str> = p.split('/').collect();
                let b: Vec<&str> = path.split('/').collect();
                a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || x.starts_with('{'))
            })
            .unwrap_or_else(|| panic!("{path} is not in ADMIN_PATHS"));
        assert!(
            paths[*spelled].get(m.to_ascii_lowercase()).is_some(),
            "openapi.json lacks {m} {spelled}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let r = gw.raw(Method::GET, "/docs/", Cred::None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    assert!(
        r.text.to_ascii_lowercase().contains("swagger"),
        "{}",
        r.text
    );
    let r = gw
        .raw(
            Method::GET,
            "/docs/swagger-initializer.js",
            Cred::None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("/openapi.json"), "{}", r.text);

    // Unknown paths and methods are OpenAI-shaped too.
    let r = gw
        .raw(Method::GET, "/no/such/path", Cred::Admin, None)
        .await;
    assert_eq!(r.status, 404);
    assert_error_shape(&r.json());
    let r = gw
        .raw(Method::PUT, "/admin/users", Cred::Admin, body_for("PUT"))
        .await;
    assert_eq!(r.status, 405);
    assert_error_shape(&r.json());
}

both_databases!(health_and_docs_work, health_and_docs);

/// Upstream keys and API-created virtual keys never appear in responses (except the one
/// creation response of a virtual key) or in the log.
async fn secrets_never_leak(db: common::Db) {
    let mock = MockUpstream::start("leak").await;
    let gw = Gateway::start_with(Options::new(db).env("LOG_LEVEL", "debug")).await;
    let (boot_password, boot_key) = gw.bootstrap_credentials().expect("bootstrap line");
    let upstream: Vec<String> = (0..6)
        .map(|i| format!("sk-UPSTREAM-{i}-{}", uuid::Uuid::now_v7().simple()))
        .collect();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut virtual_keys: Vec<String> = Vec::new();

    macro_rules! req {
        ($method:expr, $path:expr, $cred:expr, $body:expr) => {{
            let body: Option<Value> = $body;
            let r = gw
                .raw(
                    $method,
                    &$path,
                    $cred,
                    body.map(|b| ("application/json", b.to_string())),
                )
                .await;
            seen.push((format!("{} {}", $method, $path), r.text.clone()));
            (r.status, r.json())
        }};
    }

    // Providers with keys: one at the mock, one at a closed port, one that answers 401.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (st, _) = req!(
        Method::POST,
        "/providers",
        Cred::Admin,
        Some(
            json!({"name": "good", "base_url": mock.base_url(), "api_keys": [{"key": upstream[0]}]})
        )
    );
    assert_eq!(st, 201);
    let (st, _) = req!(
        Method::POST,
        "/providers",
        Cred::Admin,
        Some(
            json!({"name": "dead", "base_url": format!("http://{dead}/v1"), "api_keys": [{"key": upstream[1]}]})
        )
    );
    assert_eq!(st, 201);
    let (st, k) = req!(
        Method::POST,
        "/providers/good/keys",
        Cred::Admin,
        Some(json!({"key": upstream[2]}))
    );
    assert_eq!(st, 201);
    let kid = s(&k["id"]);
    let (st, _) = req!(
        Method::PUT,
        format!("/providers/good/keys/{kid}"),
        Cred::Admin,
        Some(json!({"key": upstream[3]}))
    );
    assert_eq!(st, 200);
    let (st, _) = req!(
        Method::PATCH,
        format!("/providers/good/keys/{kid}"),
        Cred::Admin,
        Some(json!({"key": upstream[4], "enabled": false}))
    );
    assert_eq!(st, 200);
    for (p, m) in [("good", "ok-model"), ("dead", "dead-model")] {
        let (st, _) = req!(
            Method::POST,
            format!("/providers/{p}/models"),
            Cred::Admin,
            Some(json!({"model_id": m, "provider_model_id": "mock-model"}))
        );
        assert_eq!(st, 201);
    }
    // Failing requests carrying a secret.
    let (st, _) = req!(
        Method::POST,
        "/providers",
        Cred::Admin,
        Some(json!({"name": "bad-url", "base_url": "nope", "api_keys": [{"key": upstream[5]}]}))
    );
    assert_eq!(st, 422);
    let (st, _) = req!(
        Method::POST,
        "/providers",
        Cred::Admin,
        Some(
            json!({"name": "bad-type", "base_url": "https://x.example/v1", "api_keys": upstream[5]})
        )
    );
    assert_eq!(st, 422);
    let (st, _) = req!(
        Method::POST,
        "/providers",
        Cred::Admin,
        Some(
            json!({"name": "bad-key-type", "base_url": "https://x.example/v1", "api_keys": [upstream[5]]})
        )
    );
    assert_eq!(st, 422);
    let (st, _) = req!(
        Method::POST,
        "/providers/good/keys",
        Cred::Admin,
        Some(json!({"key": upstream[5], "weight": "heavy"}))
    );
    assert_eq!(st, 422);
    let (st, _) = req!(
        Method::POST,
        "/providers/ghost/keys",
        Cred::Admin,
        Some(json!({"key": upstream[5]}))
    );
    assert_eq!(st, 404);
    let (st, _) = req!(
        Method::POST,
        "/providers/good/keys",
        Cred::Admin,
        Some(json!({"key": upstream[5], "max_qps": 0}))
    );
    assert_eq!(st, 422);
    let (st, _) = req!(
        Method::POST,
        "/providers/good/keys",
        Cred::Bearer("wrong"),
        Some(json!({"key": upstream[5]}))
    );
    assert_eq!(st, 401);

    // Virtual keys, through every creation route.
    let (st, u) = req!(
        Method::POST,
        "/admin/users",
        Cred::Admin,
        Some(json!({"username": "leaky", "password": "leaky-password-1"}))
    );
    assert_eq!(st, 201);
    let uid = s(&u["id"]);
    let mut created_bodies = Vec::new();
    for (path, body) in [
        ("/admin/api-keys".to_owned(), json!({"name": "a"})),
        (
            "/api/v1/admin/api-keys".to_owned(),
            json!({"key_name": "b", "expiry": "MONTH"}),
        ),
        (
            format!("/users/{uid}/api-keys"),
            json!({"name": "c", "allowed_models": ["ok-model"]}),
        ),
    ] {
        let r = gw
            .raw(
                Method::POST,
                &path,
                Cred::Admin,
                Some(("application/json", body.to_string())),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let v = r.json();
        virtual_keys.push(s(&v["key"]));
        created_bodies.push(r.text);
    }
    let (st, l) = req!(
        Method::POST,
        "/auth/login",
        Cred::None,
        Some(json!({"username": "leaky", "password": "leaky-password-1"}))
    );
    assert_eq!(st, 200);
    let token = s(&l["access_token"]);
    let r = gw
        .raw(
            Method::POST,
            &format!("/users/{uid}/api-keys"),
            Cred::Bearer(&token),
            Some(("application/json", "{}".into())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    virtual_keys.push(s(&r.json()["key"]));
    created_bodies.push(r.text);
    let vk = virtual_keys[0].clone();

    // Data-plane traffic: success, upstream down, upstream 401, upstream 500, bad keys.
    let chat = |m: &str| json!({"model": m, "messages": [{"role": "user", "content": "hello"}]});
    let (st, b) = req!(
        Method::POST,
        "/v1/chat/completions",
        Cred::Bearer(&vk),
        Some(chat("ok-model"))
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        mock.last().headers.get("authorization").unwrap(),
        &format!("Bearer {}", upstream[0]),
        "the upstream got the decrypted key"
    );
    let (st, b) = req!(
        Method::POST,
        "/v1/chat/completions",
        Cred::Bearer(&vk),
        Some(chat("dead-model"))
    );
    assert!(st >= 500, "{st} {b}");
    mock.set(Behavior::Status(401, json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}), None));
    let (st, b) = req!(
        Method::POST,
        "/v1/chat/completions",
        Cred::Bearer(&vk),
        Some(chat("ok-model"))
    );
    assert!(st >= 400, "{st} {b}");
    mock.set(Behavior::Status(
        500,
        json!({"error": {"message": "boom"}}),
        None,
    ));
    let (st, b) = req!(
        Method::POST,
        "/v1/chat/completions",
        Cred::Bearer(&vk),
        Some(chat("good/ok-model"))
    );
    assert!(st >= 500, "{st} {b}");
    mock.set(Behavior::Ok);
    let (st, _) = req!(
        Method::POST,
        "/v1/chat/completions",
        Cred::Bearer(&virtual_keys[2]),
        Some(chat("dead-model"))
    );
    assert!(st >= 400);
    // The key with its last character changed (to another one: a key ending in `x` would
    // otherwise stay itself, 1 run in 62).
    let last = if vk.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &vk[..vk.len() - 1]);
    let (st, _) = req!(
        Method::POST,
        "/v1/chat/completions",
        Cred::Bearer(&wrong),
        Some(chat("ok-model"))
    );
    assert_eq!(st, 401);
    let (st, _) = req!(Method::GET, "/v1/models", Cred::Bearer(&vk), None);
    assert_eq!(st, 200);
    let (st, _) = req!(
        Method::POST,
        "/v1/embeddings",
        Cred::Bearer(&vk),
        Some(json!({"model": "dead-model", "input": "x"}))
    );
    assert!(st >= 400);

    // Every read of the control plane.
    // Let the request log flush what it records.
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.get("/admin/logs?limit=100").await.1["total"]
        .as_i64()
        .unwrap_or(0)
        < 4
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for path in [
        "/providers".to_owned(),
        "/providers/good".into(),
        "/providers/dead".into(),
        "/providers/good/keys".into(),
        format!("/providers/good/keys/{kid}"),
        "/providers/good/models".into(),
        "/admin/users".into(),
        "/admin/api-keys".into(),
        format!("/users/{uid}/api-keys"),
        "/admin/stats".into(),
        "/admin/logs?limit=100".into(),
        "/openapi.json".into(),
    ] {
        let (st, _) = req!(Method::GET, path, Cred::Admin, None);
        assert_eq!(st, 200);
    }
    for id in gw
        .get("/admin/api-keys")
        .await
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|k| s(&k["id"]))
    {
        let (st, _) = req!(
            Method::GET,
            format!("/admin/api-keys/{id}"),
            Cred::Admin,
            None
        );
        assert_eq!(st, 200);
    }
    let r = gw.raw(Method::GET, "/metrics", Cred::None, None).await;
    seen.push(("GET /metrics".into(), r.text));

    // Scan.
    let log = gw.log_text();
    assert!(
        log.contains(&boot_password) && log.contains(&boot_key),
        "the bootstrap line is printed once by design"
    );
    for secret in upstream.iter().chain(&virtual_keys) {
        for (what, text) in &seen {
            assert!(
                !text.contains(secret.as_str()),
                "{what} leaked {secret}: {text}"
            );
        }
        assert!(
            !log.contains(secret.as_str()),
            "the log leaked {secret}:\n{log}"
        );
    }
    for secret in &upstream {
        for text in &created_bodies {
            assert!(!text.contains(secret.as_str()));
        }
    }
    // At rest: upstream keys are encrypted and virtual keys hashed, in the database files
    // (SQLite, with its WAL) or in a dump (PostgreSQL).
    let stored: Vec<u8> = match &gw.pg {
        None => std::fs::read_dir(&gw.data_dir)
            .unwrap()
            .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap_or_default())
            .collect(),
        Some(pg) => {
            let out = std::process::Command::new("pg_dump")
                .arg(&pg.url)
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    };
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.contains("sk-U…"), "the dump holds the previews");
    for secret in upstream.iter().chain(&virtual_keys) {
        assert!(
            !stored.contains(secret.as_str()),
            "{secret} is stored in plaintext"
        );
    }
    // Each creation body shows only its own key.
    for (i, text) in created_bodies.iter().enumerate() {
        for (j, k) in virtual_keys.iter().enumerate() {
            assert_eq!(
                text.contains(k.as_str()),
                i == j,
                "creation body {i} and key {j}"
            );
        }
    }
    // The bootstrap secrets appear exactly once in the log.
    assert_eq!(log.matches(&boot_password).count(), 1, "{log}");
    assert_eq!(log.matches(&boot_key).count(), 1, "{log}");
    for (what, text) in &seen {
        assert!(
            !text.contains(&boot_password),
            "{what} shows the admin password"
        );
    }
}

both_databases!(secrets_never_leak_anywhere, secrets_never_leak);

/// NUL characters (which PostgreSQL text cannot hold) anywhere a client controls text: in
/// paths → 404, in credentials → 401, in stored fields → 422, in data-plane requests → the
/// request log still records them (and everything batched with them).
async fn nul_characters(db: common::Db) {
    let mock = MockUpstream::start("nul").await;
    let gw = Gateway::start(db).await;
    gw.add_provider(
        "p",
        &mock.base_url(),
        "sk-nul-upstream-0000",
        &[("m1", "mock-model")],
    )
    .await;
    let (st, u) = gw
        .post("/admin/users", json!({"username": "nul-user"}))
        .await;
    assert_eq!(st, 201);
    let uid = s(&u["id"]);
    for path in [
        "/providers/a%00b".to_owned(),
        "/providers/p/keys/a%00b".into(),
        "/providers/p/models/a%00b".into(),
        "/providers/a%00b/keys".into(),
        "/admin/users/a%00b".into(),
        "/admin/api-keys/a%00b".into(),
        "/users/a%00b/api-keys".into(),
        format!("/users/{uid}%00/api-keys"),
    ] {
        let (st, b) = gw.get(&path).await;
        assert_eq!(st, 404, "GET {path}: {b}");
        assert_error_shape(&b);
    }
    for path in [
        "/providers/a%00b",
        "/admin/users/a%00b",
        "/admin/api-keys/a%00b",
    ] {
        assert_eq!(gw.delete(path).await.0, 404, "DELETE {path}");
    }
    assert_eq!(
        gw.patch("/admin/api-keys/a%00b", json!({"name": "x"}))
            .await
            .0,
        404
    );
    let (st, b) = login(&gw, "a\u{0}b", "some-password").await;
    assert_eq!(st, 401, "{b}");
    for (path, body, field) in [
        (
            "/providers",
            json!({"name": "n", "base_url": "https://n.example/v1", "description": "a\u{0}b"}),
            "description",
        ),
        (
            "/providers",
            json!({"name": "n\u{0}", "base_url": "https://n.example/v1"}),
            "name",
        ),
        (
            "/providers/p/models",
            json!({"model_id": "m2", "version": "v\u{0}"}),
            "version",
        ),
        (
            "/providers/p/keys",
            json!({"alias": "a\u{0}", "key": "sk-x-0000000000"}),
            "alias",
        ),
        ("/admin/users", json!({"username": "u\u{0}"}), "username"),
        ("/admin/api-keys", json!({"name": "k\u{0}"}), "name"),
    ] {
        let (st, b) = gw.post(path, body).await;
        assert_invalid(st, &b, field);
    }
    // JSON fields are stored as JSON text, where NUL is escaped: accepted and intact.
    let (st, m) = gw
        .post(
            "/providers/p/models",
            json!({"model_id": "m3", "custom_parameters": {"stop": "\u{0}"}}),
        )
        .await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(
        gw.get("/providers/p/models/m3").await.1["custom_parameters"]["stop"],
        "\u{0}"
    );

    let (_, key) = gw.add_key(json!({})).await;
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi\u{0}"}]});
    let (st, _) = gw
        .call_as(
            Cred::Bearer(&key),
            Method::POST,
            "/v1/chat/completions",
            Some(chat("m1\u{0}")),
        )
        .await;
    assert_eq!(st, 404);
    let (st, b) = gw
        .call_as(
            Cred::Bearer(&key),
            Method::POST,
            "/v1/chat/completions",
            Some(chat("m1")),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let page = gw.wait_logs("limit=10", 2, 10).await;
    let models: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["requested_model"].as_str())
        .collect();
    assert!(models.contains(&"m1"), "{page}");
    assert!(
        models.iter().any(|m| m.starts_with("m1") && *m != "m1"),
        "{page}"
    );
    let (st, b) = gw.get("/admin/logs?model=m1%00").await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["total"], 0);
    assert!(
        !gw.log_text().contains("request log insert failed"),
        "{}",
        gw.log_text()
    );
}

both_databases!(nul_characters_are_handled, nul_characters);

/// Concurrent `POST /system/admin/init` calls create exactly one admin.
async fn admin_init_race(db: common::Db) {
    let gw = Gateway::start_with(Options::new(db).env("MODELGATE_BOOTSTRAP", "false")).await;
    let results = futures::future::join_all((0..8).map(|i| {
        gw.call_as(
            Cred::None,
            Method::POST,
            "/system/admin/init",
            Some(json!({"username": format!("root{i}")})),
        )
    }))
    .await;
    let statuses: Vec<u16> = results.iter().map(|(st, _)| *st).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{results:?}"
    );
    let (_, stats) = gw.get("/admin/stats").await;
    assert_eq!(stats["users"], 1, "{stats}");
    assert_eq!(stats["virtual_keys"], 1, "{stats}");
}

both_databases!(admin_init_is_atomic, admin_init_race);

/// Password checks run on their own `mg-argon2` threads, not on the data-plane workers: while a
/// burst of logins is being checked, data requests keep being answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_do_not_stall_the_data_plane() {
    let gw = Gateway::start(common::Db::Sqlite).await;
    let (_, key) = gw.bootstrap_credentials().expect("bootstrap line");
    assert_eq!(gw.models_status(&key).await, 200);
    let tasks = format!("/proc/{}/task", gw.pid());
    let hashing_threads = || {
        std::fs::read_dir(&tasks)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                    .filter(|c| c.trim() == "mg-argon2")
                    .count()
            })
            .unwrap_or(0)
    };
    let started = Instant::now();
    let storm = futures::future::join_all((0..8).map(|i| {
        let gw = &gw;
        async move {
            let (st, b) = login(gw, "admin", &format!("wrong-password-{i}")).await;
            (st, b, started.elapsed())
        }
    }));
    let probe = async {
        let mut seen_thread = false;
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            seen_thread |= hashing_threads() > 0;
            let t = Instant::now();
            assert_eq!(gw.models_status(&key).await, 200);
            slowest = slowest.max(t.elapsed());
        }
        (seen_thread, slowest)
    };
    let (logins, (seen_thread, slowest)) = tokio::join!(storm, probe);
    for (st, b, _) in &logins {
        assert_eq!(*st, 401, "{b}");
        assert_error_shape(b);
    }
    let storm_took = logins.iter().map(|l| l.2).max().unwrap();
    assert!(seen_thread, "no mg-argon2 thread while logins were checked");
    // Eight argon2 runs queue behind half the cores' worth of permits; a data request never
    // waits for them. Had they run on the workers, a request would wait for those queued on
    // its worker, a large part of the whole burst.
    assert!(
        slowest * 4 < storm_took,
        "a data request took {slowest:?} during a {storm_took:?} login burst"
    );
    let (password, _) = gw.bootstrap_credentials().unwrap();
    assert_eq!(login(&gw, "admin", &password).await.0, 200);
}
