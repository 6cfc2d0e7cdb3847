//! Tenants (seed 003) and tenant admins over real HTTP: a `tenant_admin` logged in with
//! `/auth/login` sees and changes only its tenant's providers, upstream keys, models, users,
//! virtual keys, balances and request logs; another tenant's objects answer 404, naming another
//! tenant is 403, global endpoints are 403; the global admin sees everything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Cred, Db, Gateway, assert_invalid};
use modelgate_store::{Database, RequestLogRecord};
use reqwest::Method;
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

async fn login(gw: &Gateway, username: &str, password: &str) -> String {
    let (st, b) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/auth/login",
            Some(json!({"username": username, "password": password})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    s(&b["access_token"])
}

/// Two tenants, each with a tenant admin, a provider (with a key and a model), a user, a
/// virtual key (prepaid) and a request-log record — all made by the global admin.
struct World {
    gw: Gateway,
    /// The tenant admin of `acme`.
    acme: String,
    /// Ids of `globex`'s objects.
    provider: String,
    upstream_key: String,
    model: String,
    user: String,
    vkey: String,
    /// Ids of `acme`'s own objects.
    own_provider: String,
    own_user: String,
    own_vkey: String,
}

async fn world(db: Db) -> World {
    let gw = Gateway::start(db).await;
    for (id, name) in [("acme", "Acme Corp"), ("globex", "Globex")] {
        let (st, t) = gw
            .post("/admin/tenants", json!({"id": id, "name": name}))
            .await;
        assert_eq!(st, 201, "{t}");
        assert_eq!(t["id"], id);
        let (st, u) = gw
            .post(
                "/admin/users",
                json!({"username": format!("{id}-admin"), "password": "tenant-admin-pw",
                       "role": "tenant_admin", "tenant_id": id}),
            )
            .await;
        assert_eq!(st, 201, "{u}");
        assert_eq!(u["tenant_id"], id);
        assert_eq!(u["role"], "tenant_admin");
    }
    let mut ids = vec![];
    for t in ["globex", "acme"] {
        let (st, p) = gw
            .post(
                "/providers",
                json!({"name": format!("{t}-llm"), "kind": "openai", "tenant_id": t,
                       "api_keys": [{"alias": "k1", "key": format!("sk-{t}-secret-0001")}]}),
            )
            .await;
        assert_eq!(st, 201, "{p}");
        let pid = s(&p["id"]);
        let (st, m) = gw
            .post(
                &format!("/providers/{pid}/models"),
                json!({"model_id": format!("{t}-model")}),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        let (st, u) = gw
            .post(
                "/admin/users",
                json!({"username": format!("{t}-user"), "tenant_id": t}),
            )
            .await;
        assert_eq!(st, 201, "{u}");
        let (st, k) = gw
            .post(
                "/admin/api-keys",
                json!({"name": format!("{t} key"), "tenant_id": t, "balance": "3"}),
            )
            .await;
        assert_eq!(st, 201, "{k}");
        ids.push((
            pid,
            s(&p["api_keys"][0]["id"]),
            s(&m["id"]),
            s(&u["id"]),
            s(&k["id"]),
        ));
    }
    // One request-log record per tenant (as the data plane writes them).
    let store = match &gw.pg {
        Some(pg) => Database::connect(Some(&pg.url), &gw.data_dir)
            .await
            .unwrap(),
        None => Database::connect(None, &gw.data_dir).await.unwrap(),
    };
    let now = modelgate_store::now_ms();
    let records: Vec<RequestLogRecord> = ids
        .iter()
        .zip(["globex", "acme"])
        .map(|(i, t)| RequestLogRecord {
            id: modelgate_store::new_id(),
            ts_ms: now,
            request_id: format!("req-{t}"),
            key_id: Some(i.4.clone()),
            tenant_id: Some(t.into()),
            dialect: "openai_chat".into(),
            endpoint: "/v1/chat/completions".into(),
            status: 200,
            ..Default::default()
        })
        .collect();
    store.insert_request_logs(&records).await.unwrap();
    let acme = login(&gw, "acme-admin", "tenant-admin-pw").await;
    let (g, a) = (ids[0].clone(), ids[1].clone());
    World {
        gw,
        acme,
        provider: g.0,
        upstream_key: g.1,
        model: g.2,
        user: g.3,
        vkey: g.4,
        own_provider: a.0,
        own_user: a.3,
        own_vkey: a.4,
    }
}

impl World {
    async fn as_acme(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.gw
            .call_as(Cred::Bearer(&self.acme), method, path, body)
            .await
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|x| s(&x["id"]))
        .collect()
}

/// Another tenant's providers, keys and models do not exist for a tenant admin; its own work.
async fn providers_keys_and_models_are_scoped(db: Db) {
    let w = world(db).await;
    let (p, k, m) = (&w.provider, &w.upstream_key, &w.model);

    let (st, list) = w.as_acme(Method::GET, "/providers", None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(ids(&list), vec![w.own_provider.clone()]);
    let (st, list) = w.gw.get("/providers").await;
    assert_eq!(st, 200);
    assert_eq!(ids(&list).len(), 2, "the global admin sees both");
    let (st, stats) = w.as_acme(Method::GET, "/providers/statistics", None).await;
    assert_eq!(st, 200, "{stats}");
    let names: Vec<&str> = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["provider"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme-llm"]);

    // Every provider path, by id and by name: 404 for another tenant's.
    for target in [p.as_str(), "globex-llm"] {
        for (method, path, body) in [
            (Method::GET, format!("/providers/{target}"), None),
            (
                Method::PATCH,
                format!("/providers/{target}"),
                Some(json!({"weight": 2})),
            ),
            (
                Method::PUT,
                format!("/providers/{target}"),
                Some(json!({"kind": "openai"})),
            ),
            (Method::GET, format!("/providers/{target}/health"), None),
            (Method::GET, format!("/providers/{target}/metrics"), None),
            (
                Method::POST,
                format!("/providers/{target}/test"),
                Some(json!({})),
            ),
            (Method::GET, format!("/providers/{target}/keys"), None),
            (
                Method::POST,
                format!("/providers/{target}/keys"),
                Some(json!({"key": "sk-x-123456789"})),
            ),
            (Method::GET, format!("/providers/{target}/keys/{k}"), None),
            (
                Method::PATCH,
                format!("/providers/{target}/keys/{k}"),
                Some(json!({"weight": 2})),
            ),
            (
                Method::PUT,
                format!("/providers/{target}/keys/{k}"),
                Some(json!({"key": "sk-x-123456789"})),
            ),
            (
                Method::DELETE,
                format!("/providers/{target}/keys/{k}"),
                None,
            ),
            (Method::GET, format!("/providers/{target}/models"), None),
            (
                Method::POST,
                format!("/providers/{target}/models"),
                Some(json!({"model_id": "stolen"})),
            ),
            (Method::GET, format!("/providers/{target}/models/{m}"), None),
            (
                Method::PATCH,
                format!("/providers/{target}/models/{m}"),
                Some(json!({"is_available": false})),
            ),
            (
                Method::PUT,
                format!("/providers/{target}/models/{m}"),
                Some(json!({"model_id": "x"})),
            ),
            (
                Method::DELETE,
                format!("/providers/{target}/models/{m}"),
                None,
            ),
            (Method::DELETE, format!("/providers/{target}"), None),
        ] {
            let (st, b) = w.as_acme(method.clone(), &path, body).await;
            assert_eq!(st, 404, "{method} {path} as another tenant's admin: {b}");
        }
    }
    // Nothing of globex's changed.
    let (st, gp) = w.gw.get(&format!("/providers/{p}")).await;
    assert_eq!(st, 200);
    assert_eq!(gp["weight"], 1.0);
    assert_eq!(gp["api_keys"].as_array().unwrap().len(), 1);
    let (_, gm) = w.gw.get(&format!("/providers/{p}/models")).await;
    assert_eq!(gm.as_array().unwrap().len(), 1);
    assert_eq!(gm[0]["is_available"], true);

    // Creating in another tenant is refused; without a tenant, it is the admin's own.
    let (st, b) = w
        .as_acme(
            Method::POST,
            "/providers",
            Some(json!({"name": "sneaky", "kind": "openai", "tenant_id": "globex"})),
        )
        .await;
    assert_eq!(st, 403, "{b}");
    let (st, np) = w
        .as_acme(
            Method::POST,
            "/providers",
            Some(json!({"name": "acme-two", "kind": "openai"})),
        )
        .await;
    assert_eq!(st, 201, "{np}");
    assert_eq!(np["tenant_id"], "acme");
    // Moving one's provider to another tenant is refused; PUT keeps it in the tenant.
    let (st, b) = w
        .as_acme(
            Method::PATCH,
            "/providers/acme-two",
            Some(json!({"tenant_id": "globex"})),
        )
        .await;
    assert_eq!(st, 403, "{b}");
    let (st, b) = w
        .as_acme(
            Method::PUT,
            "/providers/acme-two",
            Some(json!({"kind": "openai"})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["tenant_id"], "acme");

    // Its own provider, keys and models work end to end.
    let own = &w.own_provider;
    let (st, b) = w
        .as_acme(
            Method::PATCH,
            &format!("/providers/{own}"),
            Some(json!({"weight": 3})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["weight"], 3.0);
    let (st, key) = w
        .as_acme(
            Method::POST,
            &format!("/providers/{own}/keys"),
            Some(json!({"alias": "k2", "key": "sk-acme-secret-0002"})),
        )
        .await;
    assert_eq!(st, 201, "{key}");
    let kid = s(&key["id"]);
    let (st, b) = w
        .as_acme(
            Method::PATCH,
            &format!("/providers/{own}/keys/{kid}"),
            Some(json!({"weight": 5})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, keys) = w
        .as_acme(Method::GET, &format!("/providers/{own}/keys"), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let (st, _) = w
        .as_acme(
            Method::DELETE,
            &format!("/providers/{own}/keys/{kid}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, model) = w
        .as_acme(
            Method::POST,
            &format!("/providers/{own}/models"),
            Some(json!({"model_id": "acme-2"})),
        )
        .await;
    assert_eq!(st, 201, "{model}");
    let (st, _) = w
        .as_acme(
            Method::GET,
            &format!("/providers/{own}/models/acme-2"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = w
        .as_acme(
            Method::DELETE,
            &format!("/providers/{own}/models/acme-2"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = w
        .as_acme(Method::GET, &format!("/providers/{own}/health"), None)
        .await;
    assert_eq!(st, 200);
    let (st, _) = w.as_acme(Method::DELETE, "/providers/acme-two", None).await;
    assert_eq!(st, 204);
    // The global admin can still change globex's provider.
    let (st, _) =
        w.gw.patch(&format!("/providers/{p}"), json!({"weight": 2}))
            .await;
    assert_eq!(st, 200);
    let (st, _) = w.gw.delete(&format!("/providers/{p}")).await;
    assert_eq!(st, 204);
}
both_databases!(
    providers_keys_and_models_are_scoped_db,
    providers_keys_and_models_are_scoped
);

/// Virtual keys and their balances: another tenant's keys do not exist; new keys are the
/// admin's tenant's.
async fn virtual_keys_and_balances_are_scoped(db: Db) {
    let w = world(db).await;
    let (v, own) = (&w.vkey, &w.own_vkey);

    let (st, list) = w.as_acme(Method::GET, "/admin/api-keys", None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(ids(&list), vec![own.clone()]);
    assert_eq!(list[0]["balance_credited"], "3");
    let (_, all) = w.gw.get("/admin/api-keys").await;
    let all = ids(&all);
    assert!(
        all.contains(v) && all.contains(own),
        "the global admin sees both tenants' keys: {all:?}"
    );

    for (method, path, body) in [
        (Method::GET, format!("/admin/api-keys/{v}"), None),
        (
            Method::PATCH,
            format!("/admin/api-keys/{v}"),
            Some(json!({"rpm": 1})),
        ),
        (
            Method::POST,
            format!("/admin/api-keys/{v}/balance"),
            Some(json!({"add": "100"})),
        ),
        (
            Method::GET,
            format!("/admin/api-keys/{v}/balance-events"),
            None,
        ),
        (Method::DELETE, format!("/admin/api-keys/{v}"), None),
        (Method::GET, format!("/users/{}/api-keys", w.user), None),
        (
            Method::POST,
            format!("/users/{}/api-keys", w.user),
            Some(json!({"name": "x"})),
        ),
    ] {
        let (st, b) = w.as_acme(method.clone(), &path, body).await;
        assert_eq!(st, 404, "{method} {path} as another tenant's admin: {b}");
    }
    let (st, gk) = w.gw.get(&format!("/admin/api-keys/{v}")).await;
    assert_eq!(st, 200);
    assert_eq!(gk["rpm"], Value::Null, "globex's key unchanged");
    assert_eq!(gk["balance_credited"], "3", "no top-up went through");

    // Creating: another tenant is 403, another tenant's user does not exist, default is own.
    let (st, b) = w
        .as_acme(
            Method::POST,
            "/admin/api-keys",
            Some(json!({"tenant_id": "globex"})),
        )
        .await;
    assert_eq!(st, 403, "{b}");
    let (st, b) = w
        .as_acme(
            Method::POST,
            "/admin/api-keys",
            Some(json!({"user_id": w.user})),
        )
        .await;
    assert_invalid(st, &b, "user_id");
    let (st, k) = w
        .as_acme(
            Method::POST,
            "/admin/api-keys",
            Some(json!({"name": "mine", "balance": "1.5"})),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    assert_eq!(k["tenant_id"], "acme");
    assert!(s(&k["key"]).starts_with("mg-"));
    let (st, k) = w
        .as_acme(
            Method::POST,
            &format!("/users/{}/api-keys", w.own_user),
            Some(json!({"name": "for my user"})),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    assert_eq!(k["tenant_id"], "acme");
    assert_eq!(k["user_id"], w.own_user.as_str());
    // The global admin's key for a tenant's user lands in that tenant.
    let (st, k) =
        w.gw.post(&format!("/users/{}/api-keys", w.user), json!({}))
            .await;
    assert_eq!(st, 201, "{k}");
    assert_eq!(k["tenant_id"], "globex");

    // Its own keys: update, moving away refused, top up, events, delete.
    let (st, b) = w
        .as_acme(
            Method::PATCH,
            &format!("/admin/api-keys/{own}"),
            Some(json!({"rpm": 7})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["rpm"], 7);
    let (st, b) = w
        .as_acme(
            Method::PATCH,
            &format!("/admin/api-keys/{own}"),
            Some(json!({"tenant_id": "globex"})),
        )
        .await;
    assert_eq!(st, 403, "{b}");
    let (st, b) = w
        .as_acme(
            Method::POST,
            &format!("/admin/api-keys/{own}/balance"),
            Some(json!({"add": "2"})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["credited"], "5");
    let (st, ev) = w
        .as_acme(
            Method::GET,
            &format!("/admin/api-keys/{own}/balance-events"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(ev.as_array().unwrap().len(), 2);
    let (st, _) = w
        .as_acme(Method::DELETE, &format!("/admin/api-keys/{own}"), None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = w.gw.delete(&format!("/admin/api-keys/{v}")).await;
    assert_eq!(st, 204, "the global admin deletes any key");
}
both_databases!(
    virtual_keys_and_balances_are_scoped_db,
    virtual_keys_and_balances_are_scoped
);

/// Users, request logs, tenants and global endpoints.
async fn users_logs_tenants_and_global_endpoints(db: Db) {
    let w = world(db).await;
    let u = &w.user;

    let (st, list) = w.as_acme(Method::GET, "/admin/users", None).await;
    assert_eq!(st, 200, "{list}");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme-admin", "acme-user"]);
    for (method, path) in [
        (Method::GET, format!("/admin/users/{u}")),
        (Method::DELETE, format!("/admin/users/{u}")),
    ] {
        let (st, b) = w.as_acme(method.clone(), &path, None).await;
        assert_eq!(st, 404, "{method} {path}: {b}");
    }
    let (st, _) = w.gw.get(&format!("/admin/users/{u}")).await;
    assert_eq!(st, 200, "globex's user still exists");
    let (st, b) = w
        .as_acme(
            Method::POST,
            "/admin/users",
            Some(json!({"username": "spy", "tenant_id": "globex"})),
        )
        .await;
    assert_eq!(st, 403, "{b}");
    let (st, b) = w
        .as_acme(
            Method::POST,
            "/admin/users",
            Some(json!({"username": "boss", "role": "admin"})),
        )
        .await;
    assert_eq!(st, 403, "{b}");
    let (st, nu) = w
        .as_acme(
            Method::POST,
            "/admin/users",
            Some(json!({"username": "deputy", "role": "tenant_admin", "password": "deputy-password"})),
        )
        .await;
    assert_eq!(st, 201, "{nu}");
    assert_eq!(nu["tenant_id"], "acme");
    let (st, _) = w
        .as_acme(Method::GET, &format!("/admin/users/{}", w.own_user), None)
        .await;
    assert_eq!(st, 200);
    // The deputy is a tenant admin of acme too.
    let deputy = login(&w.gw, "deputy", "deputy-password").await;
    let (st, list) =
        w.gw.call_as(Cred::Bearer(&deputy), Method::GET, "/admin/api-keys", None)
            .await;
    assert_eq!(st, 200);
    assert_eq!(ids(&list), vec![w.own_vkey.clone()]);
    let (st, _) = w
        .as_acme(
            Method::DELETE,
            &format!("/admin/users/{}", s(&nu["id"])),
            None,
        )
        .await;
    assert_eq!(st, 204);

    // Request logs: only the tenant's records, whatever the filter.
    let (st, page) = w.as_acme(Method::GET, "/admin/logs", None).await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["request_id"], "req-acme");
    let (_, page) = w
        .as_acme(Method::GET, &format!("/admin/logs?key_id={}", w.vkey), None)
        .await;
    assert_eq!(page["total"], 0, "{page}");
    let (_, page) = w.gw.get("/admin/logs").await;
    assert_eq!(page["total"], 2);

    // Tenants: a tenant admin sees its own only and cannot create or delete.
    let (st, list) = w.as_acme(Method::GET, "/admin/tenants", None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(ids(&list), ["acme"]);
    let (st, _) = w.as_acme(Method::GET, "/admin/tenants/acme", None).await;
    assert_eq!(st, 200);
    let (st, _) = w.as_acme(Method::GET, "/admin/tenants/globex", None).await;
    assert_eq!(st, 404);
    let (st, _) = w
        .as_acme(
            Method::POST,
            "/admin/tenants",
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = w
        .as_acme(Method::DELETE, "/admin/tenants/globex", None)
        .await;
    assert_eq!(st, 403);
    let (st, _) = w.gw.get("/admin/tenants/globex").await;
    assert_eq!(st, 200, "globex still exists");

    // Endpoints over shared, global state are the global admin's.
    for (method, path, body) in [
        (Method::GET, "/admin/stats", None),
        (Method::GET, "/logical-models", None),
        (Method::POST, "/logical-models", Some(json!({"name": "lm"}))),
        (Method::GET, "/admin/model-mappings", None),
        (
            Method::POST,
            "/admin/model-mappings",
            Some(json!({"alias": "a", "target": "b"})),
        ),
        (Method::GET, "/admin/models", None),
        (Method::POST, "/admin/reload-config", None),
        (Method::POST, "/routing/decide", Some(json!({"model": "x"}))),
    ] {
        let (st, b) = w.as_acme(method.clone(), path, body).await;
        assert_eq!(st, 403, "{method} {path} as a tenant admin: {b}");
    }
    // Under /api/v1 too.
    let (st, list) = w.as_acme(Method::GET, "/api/v1/providers", None).await;
    assert_eq!(st, 200);
    assert_eq!(ids(&list), vec![w.own_provider.clone()]);
    let (st, _) = w
        .as_acme(
            Method::GET,
            &format!("/api/v1/providers/{}", w.provider),
            None,
        )
        .await;
    assert_eq!(st, 404);

    // A plain user of a tenant administers nothing.
    let (st, b) =
        w.gw.post(
            "/admin/users",
            json!({"username": "plain", "password": "plain-password", "tenant_id": "acme"}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let plain = login(&w.gw, "plain", "plain-password").await;
    let (st, _) =
        w.gw.call_as(Cred::Bearer(&plain), Method::GET, "/admin/api-keys", None)
            .await;
    assert_eq!(st, 403);
    let (st, k) =
        w.gw.call_as(
            Cred::Bearer(&plain),
            Method::POST,
            &format!("/users/{}/api-keys", s(&b["id"])),
            Some(json!({"name": "own"})),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    assert_eq!(k["tenant_id"], "acme", "a user's own keys are its tenant's");
    // The new control-plane routes need credentials, and more than a plain user's.
    let vkey_balance = format!("/admin/api-keys/{}/balance", w.own_vkey);
    let vkey_events = format!("/admin/api-keys/{}/balance-events", w.own_vkey);
    for (method, path, body) in [
        (Method::GET, "/admin/tenants", None),
        (Method::POST, "/admin/tenants", Some(json!({"name": "n"}))),
        (Method::GET, "/admin/tenants/acme", None),
        (Method::DELETE, "/admin/tenants/acme", None),
        (
            Method::POST,
            vkey_balance.as_str(),
            Some(json!({"add": "1"})),
        ),
        (Method::GET, vkey_events.as_str(), None),
    ] {
        let (st, _) =
            w.gw.call_as(Cred::None, method.clone(), path, body.clone())
                .await;
        assert_eq!(st, 401, "{method} {path} without credentials");
        let (st, _) =
            w.gw.call_as(Cred::Bearer(&plain), method.clone(), path, body)
                .await;
        assert_eq!(st, 403, "{method} {path} as a plain user");
    }

    // Tenant validation and deletion.
    for (body, field) in [
        (
            json!({"username": "x1", "role": "tenant_admin"}),
            "tenant_id",
        ),
        (json!({"username": "x2", "tenant_id": "nope"}), "tenant_id"),
        (json!({"username": "x3", "role": "owner"}), "role"),
    ] {
        let (st, b) = w.gw.post("/admin/users", body).await;
        assert_invalid(st, &b, field);
    }
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "id": "a/b"}), "id"),
        (json!({}), "name"),
    ] {
        let (st, b) = w.gw.post("/admin/tenants", body).await;
        assert_invalid(st, &b, field);
    }
    let (st, _) =
        w.gw.post("/admin/tenants", json!({"id": "acme", "name": "Other"}))
            .await;
    assert_eq!(st, 409);
    let (st, _) = w.gw.post("/admin/tenants", json!({"name": "Globex"})).await;
    assert_eq!(st, 409);
    let (st, b) = w.gw.delete("/admin/tenants/globex").await;
    assert_eq!(st, 409, "globex still owns objects: {b}");
    let (st, t) = w.gw.post("/admin/tenants", json!({"name": "Empty"})).await;
    assert_eq!(st, 201, "{t}");
    let (_, all) = w.gw.get("/admin/tenants").await;
    assert_eq!(ids(&all).len(), 3);
    let (st, _) =
        w.gw.delete(&format!("/admin/tenants/{}", s(&t["id"])))
            .await;
    assert_eq!(st, 204);
    let (st, _) =
        w.gw.delete(&format!("/admin/tenants/{}", s(&t["id"])))
            .await;
    assert_eq!(st, 404);
}
both_databases!(
    users_logs_tenants_and_global_endpoints_db,
    users_logs_tenants_and_global_endpoints
);
