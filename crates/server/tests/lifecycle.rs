//! Process lifecycle: restarts on the same data, the encryption secret (configured, wrong,
//! generated), the command-line tools and `.env` loading.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::MockUpstream;
use common::{Cred, Db, Gateway, Options, PgDatabase, run_cli};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// Options on a given data dir, with a given database (a fresh PostgreSQL one when asked).
fn options_on(db: Db, dir: &std::path::Path, pg: Option<&PgDatabase>) -> Options {
    let mut o = Options::new(db);
    o.data_dir = Some(dir.to_owned());
    o.database_url = pg.map(|p| p.url.clone());
    o
}

fn pg_for(db: Db) -> Option<PgDatabase> {
    (db == Db::Postgres).then(PgDatabase::create)
}

/// A chat completion through the gateway; returns the Authorization the mock received.
async fn upstream_auth_of_chat(
    gw: &Gateway,
    mock: &MockUpstream,
    key: &str,
    model: &str,
) -> String {
    let before = mock.hits();
    let (st, b) = gw
        .call_as(
            Cred::Bearer(key),
            Method::POST,
            "/v1/chat/completions",
            Some(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert!(mock.hits() > before, "the mock was called");
    mock.last()
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Everything survives a restart, and secrets stored before it still decrypt.
async fn restart_keeps_state(db: Db) {
    let mock = MockUpstream::start("life").await;
    let gw = Gateway::start(db).await;
    let up1 = "sk-life-upstream-key-one-1111";
    let up2 = "sk-life-upstream-key-two-2222";
    let (st, p) = gw
        .post("/providers", json!({"name": "life", "display_name": "Life ♥", "base_url": mock.base_url(), "description": "kept", "api_keys": [{"alias": "one", "key": up1}]}))
        .await;
    assert_eq!(st, 201, "{p}");
    let (st, k2) = gw
        .post(
            "/providers/life/keys",
            json!({"alias": "two", "key": up2, "enabled": false}),
        )
        .await;
    assert_eq!(st, 201, "{k2}");
    let (st, m) = gw
        .post("/providers/life/models", json!({"model_id": "life-model", "provider_model_id": "mock-model", "pricing_info": {"input": 1, "output": 2}, "custom_parameters": {"temperature": 0.1}}))
        .await;
    assert_eq!(st, 201, "{m}");
    let (st, u) = gw
        .post(
            "/admin/users",
            json!({"username": "keeper", "password": "keeper-password-1"}),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    let uid = s(&u["id"]);
    let (st, vk) = gw
        .post(
            &format!("/users/{uid}/api-keys"),
            json!({"name": "kept key", "rpm": 100}),
        )
        .await;
    assert_eq!(st, 201, "{vk}");
    let vkey = s(&vk["key"]);
    let (st, login) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/auth/login",
            Some(json!({"username": "keeper", "password": "keeper-password-1"})),
        )
        .await;
    assert_eq!(st, 200, "{login}");
    let token = s(&login["access_token"]);
    assert_eq!(
        upstream_auth_of_chat(&gw, &mock, &vkey, "life-model").await,
        format!("Bearer {up1}")
    );

    let (_, provider_before) = gw.get("/providers/life").await;
    let (_, models_before) = gw.get("/providers/life/models").await;
    let (_, users_before) = gw.get("/admin/users").await;
    let (_, vkeys_before) = gw.get("/admin/api-keys").await;
    let (_, stats_before) = gw.get("/admin/stats").await;

    let gw = gw.restart().await;
    assert!(
        gw.bootstrap_credentials().is_none(),
        "no second bootstrap after a restart"
    );
    let (st, provider_after) = gw.get("/providers/life").await;
    assert_eq!(st, 200);
    assert_eq!(provider_after, provider_before);
    assert_eq!(provider_after["api_keys"][0]["key_preview"], "sk-l…1111");
    assert_eq!(provider_after["api_keys"][1]["key_preview"], "sk-l…2222");
    assert_eq!(provider_after["display_name"], "Life ♥");
    assert_eq!(gw.get("/providers/life/models").await.1, models_before);
    assert_eq!(gw.get("/admin/users").await.1, users_before);
    assert_eq!(gw.get("/admin/api-keys").await.1, vkeys_before);
    let (_, stats_after) = gw.get("/admin/stats").await;
    for f in [
        "providers",
        "upstream_keys",
        "models",
        "users",
        "virtual_keys",
    ] {
        assert_eq!(stats_after[f], stats_before[f], "{f}");
    }
    // The virtual key minted before still authenticates; the upstream key still decrypts.
    assert_eq!(gw.models_status(&vkey).await, 200);
    let (_, list) = gw
        .call_as(Cred::Bearer(&vkey), Method::GET, "/v1/models", None)
        .await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "life-model"),
        "{list}"
    );
    assert_eq!(
        upstream_auth_of_chat(&gw, &mock, &vkey, "life-model").await,
        format!("Bearer {up1}")
    );
    // Switching to the second key (stored disabled before the restart) uses its secret.
    let k1 = s(&provider_after["api_keys"][0]["id"]);
    assert_eq!(
        gw.patch(
            &format!("/providers/life/keys/{k1}"),
            json!({"enabled": false})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        gw.patch(
            &format!("/providers/life/keys/{}", s(&k2["id"])),
            json!({"enabled": true})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        upstream_auth_of_chat(&gw, &mock, &vkey, "life-model").await,
        format!("Bearer {up2}")
    );
    // Sessions and passwords too.
    assert_eq!(
        gw.call_as(
            Cred::Bearer(&token),
            Method::GET,
            &format!("/users/{uid}/api-keys"),
            None
        )
        .await
        .0,
        200
    );
    let (st, _) = gw
        .call_as(
            Cred::None,
            Method::POST,
            "/auth/login",
            Some(json!({"username": "keeper", "password": "keeper-password-1"})),
        )
        .await;
    assert_eq!(st, 200);
    // And it keeps working after a second restart.
    let gw = gw.restart().await;
    assert_eq!(gw.models_status(&vkey).await, 200);
    assert_eq!(
        upstream_auth_of_chat(&gw, &mock, &vkey, "life-model").await,
        format!("Bearer {up2}")
    );
}

both_databases!(restart_keeps_everything, restart_keeps_state);

/// A different `MODELGATE_SECRET_KEY` on existing data refuses to start, clearly.
async fn wrong_secret(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let pg = pg_for(db);
    let opts = options_on(db, dir.path(), pg.as_ref());
    let mut gw = Gateway::start_with(opts.clone()).await;
    let (st, _) = gw.post("/providers", json!({"name": "sealed", "base_url": "https://s.example/v1", "api_keys": [{"key": "sk-sealed-secret-0000"}]})).await;
    assert_eq!(st, 201);
    gw.stop();

    let (status, log) = Gateway::expect_exit(
        opts.clone()
            .env("MODELGATE_SECRET_KEY", "a-completely-different-secret"),
        dir.path(),
    );
    assert!(!status.success(), "started with a wrong secret key:\n{log}");
    assert!(
        log.contains("MODELGATE_SECRET_KEY"),
        "the message names MODELGATE_SECRET_KEY:\n{log}"
    );
    assert!(!log.contains("modelgate listening"), "{log}");
    assert!(
        !log.contains(common::SECRET_KEY),
        "the log shows the secret:\n{log}"
    );
    // The generated-file fallback is no way around it either.
    let (status, log) =
        Gateway::expect_exit(opts.clone().env("MODELGATE_SECRET_KEY", ""), dir.path());
    assert!(
        !status.success(),
        "started with a generated secret on existing data:\n{log}"
    );
    assert!(log.contains("MODELGATE_SECRET_KEY"), "{log}");

    // The right key still works, and the data is intact.
    let gw = Gateway::start_with(opts).await;
    let (st, p) = gw.get("/providers/sealed").await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["api_keys"][0]["key_preview"], "sk-s…0000");
}

both_databases!(wrong_secret_key_refuses_to_start, wrong_secret);

/// Without `MODELGATE_SECRET_KEY`, a secret is generated into the data dir (0600) with a
/// warning, and reused on the next start.
async fn generated_secret(db: Db) {
    let mock = MockUpstream::start("gen").await;
    let dir = tempfile::tempdir().unwrap();
    let pg = pg_for(db);
    let opts = options_on(db, dir.path(), pg.as_ref()).env("MODELGATE_SECRET_KEY", "");
    let file = dir.path().join("secret.key");
    assert!(!file.exists());
    let gw = Gateway::start_with(opts.clone()).await;
    assert!(file.exists(), "secret.key was not generated");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret.key mode {mode:o}");
    }
    let secret = std::fs::read_to_string(&file).unwrap();
    assert!(secret.trim().len() >= 32, "{secret}");
    let warning = gw
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("MODELGATE_SECRET_KEY is not set"))
        })
        .unwrap_or_else(|| panic!("no warning about the generated secret:\n{}", gw.log_text()));
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert!(
        !gw.log_text().contains(secret.trim()),
        "the generated secret is logged"
    );

    let up = "sk-generated-secret-upstream-9999";
    let (st, _) = gw
        .post(
            "/providers",
            json!({"name": "g", "base_url": mock.base_url(), "api_keys": [{"key": up}]}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = gw
        .post(
            "/providers/g/models",
            json!({"model_id": "g-model", "provider_model_id": "mock-model"}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, vk) = gw.post("/admin/api-keys", json!({"name": "g"})).await;
    let vkey = s(&vk["key"]);
    assert_eq!(
        upstream_auth_of_chat(&gw, &mock, &vkey, "g-model").await,
        format!("Bearer {up}")
    );

    let gw = gw.restart().await;
    assert!(
        !gw.log_text().contains("MODELGATE_SECRET_KEY is not set"),
        "warned again on reuse:\n{}",
        gw.log_text()
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        secret,
        "the file was rewritten"
    );
    assert_eq!(gw.models_status(&vkey).await, 200);
    assert_eq!(
        upstream_auth_of_chat(&gw, &mock, &vkey, "g-model").await,
        format!("Bearer {up}")
    );
    drop(gw);

    // The generated secret is the one the data was written with: setting it explicitly works.
    let gw = Gateway::start_with(
        options_on(db, dir.path(), pg.as_ref()).env("MODELGATE_SECRET_KEY", secret.trim()),
    )
    .await;
    assert_eq!(
        upstream_auth_of_chat(&gw, &mock, &vkey, "g-model").await,
        format!("Bearer {up}")
    );
}

both_databases!(generated_secret_key_file, generated_secret);

/// `modelgate migrate`, `config check` and `keys create|list|revoke`.
async fn cli(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let pg = pg_for(db);
    let url = pg.as_ref().map(|p| p.url.as_str());

    let (st, out, err) = run_cli(dir.path(), url, &[], &["migrate"]);
    assert!(st.success(), "migrate: {out}{err}");
    assert!(out.contains("migrations applied"), "{out}");
    if db == Db::Sqlite {
        assert!(dir.path().join("modelgate.db").exists());
    }
    let (st, out, err) = run_cli(dir.path(), url, &[], &["migrate"]);
    assert!(st.success(), "migrate is idempotent: {out}{err}");

    let (st, out, err) = run_cli(
        dir.path(),
        url,
        &[("API_KEYS", "legacy-secret-1")],
        &["config", "check"],
    );
    assert!(st.success(), "config check: {out}{err}");
    assert!(out.contains("configuration ok"), "{out}");
    for secret in [common::SECRET_KEY, common::ADMIN_KEY, "legacy-secret-1"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "config check shows {secret}: {out}"
        );
    }
    let shown: Value =
        serde_json::from_str(out.trim_end().trim_end_matches("configuration ok").trim())
            .expect("config check prints JSON");
    assert_eq!(
        shown["data_dir"].as_str().map(std::path::PathBuf::from),
        Some(dir.path().to_owned())
    );
    // A database password is masked too.
    let (st, out, err) = run_cli(
        dir.path(),
        Some("postgres://mg:hunter2-db-password@db.example:5432/mg"),
        &[],
        &["config", "check"],
    );
    assert!(st.success(), "config check: {out}{err}");
    assert!(!out.contains("hunter2-db-password"), "{out}");
    assert!(out.contains("db.example"), "{out}");
    // A broken config file is reported, with a non-zero exit.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[providers]]\nname = \"x\"\nkind = \"skynet\"\n").unwrap();
    let (st, out, err) = run_cli(
        dir.path(),
        url,
        &[],
        &["config", "check", "--config", bad.to_str().unwrap()],
    );
    assert!(!st.success(), "a bad config passes: {out}");
    assert!(err.contains("skynet"), "{err}");
    let (st, _, err) = run_cli(
        dir.path(),
        url,
        &[],
        &[
            "config",
            "check",
            "--config",
            dir.path().join("missing.toml").to_str().unwrap(),
        ],
    );
    assert!(!st.success(), "a missing config passes");
    assert!(!err.is_empty());

    let (st, out, err) = run_cli(
        dir.path(),
        url,
        &[],
        &["keys", "create", "--name", "cli-key"],
    );
    assert!(st.success(), "keys create: {out}{err}");
    let field = |out: &str, name: &str| {
        out.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}: "))
                    .map(str::trim)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("no `{name}:` in {out}"))
    };
    let key = field(&out, "key");
    let id = field(&out, "id");
    assert!(key.starts_with("mg-"), "{out}");
    let (st, list, err) = run_cli(dir.path(), url, &[], &["keys", "list"]);
    assert!(st.success(), "keys list: {list}{err}");
    let prefix: String = key.chars().take(9).collect();
    let row = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {list}"));
    assert!(
        row.contains(&prefix) && row.contains("cli-key") && row.contains("true"),
        "{row}"
    );
    assert!(!list.contains(&key), "keys list shows the key: {list}");

    // The server on that data finds the key.
    let gw = Gateway::start_with(options_on(db, dir.path(), pg.as_ref())).await;
    assert_eq!(gw.models_status(&key).await, 200);
    let (_, listed) = gw.get("/admin/api-keys").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id.as_str()
                && k["name"] == "cli-key"
                && k["prefix"] == prefix.as_str()),
        "{listed}"
    );
    // A key created while it runs is picked up by the catalogue poll.
    let (st, out, _) = run_cli(
        dir.path(),
        url,
        &[],
        &[
            "keys",
            "create",
            "--name",
            "late",
            "--expires-in-days",
            "1",
            "--allowed-models",
            "a,b",
        ],
    );
    assert!(st.success());
    let late = field(&out, "key");
    let late_id = field(&out, "id");
    let t = Instant::now();
    while gw.models_status(&late).await != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "a key created by the CLI was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, late_rec) = gw.get(&format!("/admin/api-keys/{late_id}")).await;
    assert_eq!(late_rec["allowed_models"], json!(["a", "b"]));
    assert!(late_rec["expires_at"].is_string());

    // Revoking disables it within the poll interval.
    let (st, out, err) = run_cli(dir.path(), url, &[], &["keys", "revoke", &id]);
    assert!(st.success(), "keys revoke: {out}{err}");
    assert!(out.contains("revoked"), "{out}");
    let t = Instant::now();
    while gw.models_status(&key).await != 401 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "a revoked key still works after {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        gw.models_status(&late).await,
        200,
        "only the revoked key stops"
    );
    let (_, rec) = gw.get(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(rec["enabled"], false);
    let (st, list, _) = run_cli(dir.path(), url, &[], &["keys", "list"]);
    assert!(st.success());
    assert!(
        list.lines()
            .find(|l| l.starts_with(&id))
            .unwrap()
            .contains("false"),
        "{list}"
    );
    // By prefix too; unknown ids fail.
    let late_prefix: String = late.chars().take(9).collect();
    let (st, out, err) = run_cli(dir.path(), url, &[], &["keys", "revoke", &late_prefix]);
    assert!(st.success(), "revoke by prefix: {out}{err}");
    let (st, _, err) = run_cli(dir.path(), url, &[], &["keys", "revoke", "no-such-key"]);
    assert!(!st.success());
    assert!(err.contains("no-such-key"), "{err}");
    // Still 401 after a restart.
    let gw = gw.restart().await;
    assert_eq!(gw.models_status(&key).await, 401);
    assert_eq!(gw.models_status(&late).await, 401);
}

both_databases!(cli_commands, cli);

/// A `.env` in the working directory is read; the real environment wins over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotenv_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# legacy static keys\nAPI_KEYS=legacy-key-1,legacy-key-3\nMODELGATE_ADMIN_KEY=admin-from-dotenv-file\n",
    )
    .unwrap();
    let mut o = Options::new(Db::Sqlite);
    o.data_dir = Some(dir.path().to_owned());
    let gw = Gateway::start_with(o).await;
    for (key, want) in [
        ("legacy-key-1", 200),
        ("legacy-key-3", 200),
        ("legacy-key-2", 401),
    ] {
        let r = gw
            .raw(Method::GET, "/v1/models", Cred::XApiKey(key), None)
            .await;
        assert_eq!(r.status, want, "{key}: {}", r.text);
    }
    assert_eq!(gw.models_status("legacy-key-1").await, 200);
    assert_eq!(
        gw.raw(Method::GET, "/v1/models", Cred::None, None)
            .await
            .status,
        401
    );
    // MODELGATE_ADMIN_KEY is set in the real environment by the harness: it wins.
    assert_eq!(
        gw.raw(Method::GET, "/providers", Cred::Admin, None)
            .await
            .status,
        200
    );
    assert_eq!(
        gw.raw(
            Method::GET,
            "/providers",
            Cred::Bearer("admin-from-dotenv-file"),
            None
        )
        .await
        .status,
        401
    );
    // Without a .env file, the legacy key is unknown.
    let gw2 = Gateway::start(Db::Sqlite).await;
    assert_eq!(gw2.models_status("legacy-key-1").await, 401);
}
