//! Test harness: a real modelgate process on loopback, real mock upstreams, both databases.
//!
//! `Gateway::start` runs the compiled `modelgate` binary with a fresh data dir (and, for
//! PostgreSQL, a fresh database that is dropped afterwards), captures its log output and
//! waits until it listens. `mock::MockUpstream` (see `mock.rs`) speaks the OpenAI wire format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test servers are aborted with the test; nothing waits for them to shut down.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

pub mod mock;
pub mod upstreams;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
pub const SECRET_KEY: &str = "test-secret-key-for-modelgate";

static INIT: Once = Once::new();

/// Installs the TLS provider reqwest needs (once per test binary).
pub fn init() {
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Which database a test gateway uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("MG_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL tests should run. With `MG_TEST_POSTGRES=1` (set by the test command
/// when the server is up, and always under CI) a missing server fails the test instead.
pub fn postgres_enabled() -> bool {
    if std::env::var("MG_TEST_POSTGRES").as_deref() == Ok("1") {
        return true;
    }
    let ok = Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: PostgreSQL is not reachable on 127.0.0.1:5432; PostgreSQL variant not run"
        );
    }
    ok
}

/// A fresh PostgreSQL database, dropped on drop.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let name = format!("mg_test_{}", uuid::Uuid::now_v7().simple());
        psql(&format!("CREATE DATABASE {name}"));
        let admin = pg_admin_url();
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin);
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args([&pg_admin_url(), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Options of a test gateway.
#[derive(Clone)]
pub struct Options {
    pub db: Db,
    pub env: Vec<(String, String)>,
    pub data_dir: Option<std::path::PathBuf>,
    pub database_url: Option<String>,
    pub args: Vec<String>,
}

impl Options {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            env: vec![],
            data_dir: None,
            database_url: None,
            args: vec![],
        }
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
}

/// A running modelgate process.
pub struct Gateway {
    child: Option<Child>,
    pub base: String,
    pub log: Arc<Mutex<String>>,
    pub data_dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub pg: Option<Arc<PgDatabase>>,
    pub options: Options,
    pub client: reqwest::Client,
}

/// Clears the env vars the gateway reads from the outer environment (so a developer's
/// `OPENAI_API_KEY` or CI's settings never leak into a test) and sets the test defaults.
fn scrub_env(cmd: &mut Command, database_url: Option<&str>) {
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_VERSION",
        "DEEPSEEK_API_KEY",
        "DEEPSEEK_BASE_URL",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_VERSION",
        "DATABASE_URL",
        "REDIS_URL",
        "API_KEYS",
        "SECRET_KEY",
        "HOST",
        "PORT",
        "DATA_DIR",
        "LOG_LEVEL",
        "RUST_LOG",
        "LOG_BODIES",
        "LOG_FILE_PATH",
        "MODELS_CACHE_TTL",
        "MODEL_MAPPINGS",
        "AVAILABLE_MODELS",
        "VALIDATE_MODELS",
        "ALLOW_UNKNOWN_MODELS",
    ] {
        cmd.env_remove(var);
    }
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MODELGATE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("MODELGATE_ADMIN_KEY", ADMIN_KEY)
        .env("MODELGATE_SECRET_KEY", SECRET_KEY)
        .env("LOG_LEVEL", "info");
    if let Some(u) = database_url {
        cmd.env("DATABASE_URL", u);
    }
}

/// Runs the binary with options; returns the child and its captured output.
fn spawn(
    o: &Options,
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> (Child, Arc<Mutex<String>>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelgate"));
    cmd.args(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(&o.args);
    scrub_env(&mut cmd, database_url);
    for (k, v) in &o.env {
        cmd.env(k, v);
    }
    cmd.current_dir(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("modelgate starts");
    let log = Arc::new(Mutex::new(String::new()));
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
    }
    (child, log)
}

impl Gateway {
    pub async fn start(db: Db) -> Self {
        Self::start_with(Options::new(db)).await
    }

    pub async fn start_with(o: Options) -> Self {
        init();
        let (tmp, data_dir) = match &o.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        let pg = match (&o.database_url, o.db) {
            (Some(_), _) => None,
            (None, Db::Postgres) => Some(Arc::new(PgDatabase::create())),
            (None, Db::Sqlite) => None,
        };
        let url = o
            .database_url
            .clone()
            .or_else(|| pg.as_ref().map(|p| p.url.clone()));
        let (child, log) = spawn(&o, &data_dir, url.as_deref());
        let mut gw = Gateway {
            child: Some(child),
            base: String::new(),
            log,
            data_dir,
            _tmp: tmp,
            pg,
            options: o,
            client: reqwest::Client::new(),
        };
        gw.base = gw
            .wait_listening()
            .await
            .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", gw.log_text()));
        gw
    }

    /// Restarts the process on the same data dir and database.
    pub async fn restart(mut self) -> Self {
        self.stop();
        let url = self
            .options
            .database_url
            .clone()
            .or_else(|| self.pg.as_ref().map(|p| p.url.clone()));
        let (child, log) = spawn(&self.options, &self.data_dir, url.as_deref());
        self.child = Some(child);
        self.log = log;
        self.base = self
            .wait_listening()
            .await
            .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", self.log_text()));
        self
    }

    async fn wait_listening(&mut self) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(addr) = self
                .log_text()
                .lines()
                .find(|l| l.contains("modelgate listening"))
                .and_then(|l| {
                    serde_json::from_str::<Value>(l)
                        .ok()
                        .and_then(|v| v["addr"].as_str().map(str::to_owned))
                })
            {
                return Ok(format!("http://{addr}"));
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("modelgate exited early with {status}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err("modelgate did not start listening within 60 s".into())
    }

    /// Waits for the process to exit (when start-up must fail) and returns its log.
    pub fn expect_exit(
        o: Options,
        data_dir: &std::path::Path,
    ) -> (std::process::ExitStatus, String) {
        init();
        let (mut child, log) = spawn(&o, data_dir, o.database_url.as_deref());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return (status, log.lock().unwrap().clone());
            }
            assert!(Instant::now() < deadline, "modelgate did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_KEY)
    }

    /// An admin JSON call; returns (status, body as JSON or Null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.admin(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Creates an OpenAI-compatible provider pointing at `base_url` with one key, and a model.
    pub async fn add_provider(
        &self,
        name: &str,
        base_url: &str,
        upstream_key: &str,
        models: &[(&str, &str)],
    ) -> Value {
        let (s, p) = self
            .post("/providers", json!({"name": name, "kind": "openai_compatible", "base_url": base_url, "api_keys": [{"alias": "k1", "key": upstream_key}]}))
            .await;
        assert_eq!(s, 201, "{p}");
        for (model_id, upstream) in models {
            let (s, m) = self
                .post(
                    &format!("/providers/{name}/models"),
                    json!({"model_id": model_id, "provider_model_id": upstream}),
                )
                .await;
            assert_eq!(s, 201, "{m}");
        }
        p
    }

    /// Mints a virtual key with optional extra fields; returns (id, plaintext).
    pub async fn add_key(&self, extra: Value) -> (String, String) {
        let mut body = json!({"name": "test key"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (s, k) = self.post("/admin/api-keys", body).await;
        assert_eq!(s, 201, "{k}");
        (
            k["id"].as_str().unwrap().to_owned(),
            k["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Polls the request log until `n` records match the query, or panics after `secs`.
    pub async fn wait_logs(&self, query: &str, n: i64, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (s, page) = self.get(&format!("/admin/logs?{query}")).await;
            assert_eq!(s, 200, "{page}");
            if page["total"].as_i64() == Some(n) || Instant::now() > deadline {
                assert_eq!(
                    page["total"].as_i64(),
                    Some(n),
                    "request log count for `{query}`: {page}"
                );
                return page;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs an async test body once per database (PostgreSQL only when available).
#[macro_export]
macro_rules! both_databases {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(common::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if common::postgres_enabled() {
                    $body(common::Db::Postgres).await;
                }
            }
        }
    };
}

// ---- Additions for the admin API, catalogue and lifecycle suites ----------------------------

/// A response as received: status, content type and body text.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// How a raw request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Cred<'a> {
    None,
    Admin,
    Bearer(&'a str),
    XApiKey(&'a str),
}

impl Gateway {
    /// Any request: method, path, credentials, and an optional body with its content type.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        cred: Cred<'_>,
        body: Option<(&str, String)>,
    ) -> Raw {
        let mut rb = self.client.request(method, self.url(path));
        rb = match cred {
            Cred::None => rb,
            Cred::Admin => rb.bearer_auth(ADMIN_KEY),
            Cred::Bearer(t) => rb.bearer_auth(t),
            Cred::XApiKey(k) => rb.header("x-api-key", k),
        };
        if let Some((ct, b)) = body {
            rb = rb.header("content-type", ct).body(b);
        }
        let resp = rb.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.unwrap_or_default();
        Raw {
            status,
            content_type,
            text,
        }
    }

    /// A JSON call with the given credentials; returns (status, body as JSON or Null).
    pub async fn call_as(
        &self,
        cred: Cred<'_>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = self
            .raw(
                method,
                path,
                cred,
                body.map(|b| ("application/json", b.to_string())),
            )
            .await;
        (r.status, r.json())
    }

    /// The process id of the running gateway.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the gateway runs")
    }

    /// `GET /v1/models` with a virtual key; returns the status.
    pub async fn models_status(&self, key: &str) -> u16 {
        self.raw(reqwest::Method::GET, "/v1/models", Cred::Bearer(key), None)
            .await
            .status
    }

    /// The bootstrap admin's credentials from the first-start log line: (password, api_key).
    pub fn bootstrap_credentials(&self) -> Option<(String, String)> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| {
                let msg = v["message"]
                    .as_str()
                    .or_else(|| v["fields"]["message"].as_str())?;
                if !msg.starts_with("first start: created the admin user") {
                    return None;
                }
                let f = if v["password"].is_string() {
                    &v
                } else {
                    &v["fields"]
                };
                Some((
                    f["password"].as_str()?.to_owned(),
                    f["api_key"].as_str()?.to_owned(),
                ))
            })
    }
}

/// The text of a raw HTTP/1.1 request with a bearer key and a JSON body, for tests that
/// write to a socket themselves (the path exactly as given, the connection kept open unless
/// `close`).
pub fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    body: &str,
    close: bool,
) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{connection}\r\n{body}",
        body.len()
    )
}

/// Asserts the OpenAI error shape `{"error": {"message","type","param","code"}}`.
pub fn assert_error_shape(body: &Value) {
    let e = &body["error"];
    assert!(e.is_object(), "not an OpenAI-shaped error: {body}");
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message: {body}"
    );
    assert!(
        e["type"].as_str().is_some_and(|m| !m.is_empty()),
        "error.type: {body}"
    );
    let o = e.as_object().expect("object");
    assert!(o.contains_key("param"), "error.param missing: {body}");
    assert!(o.contains_key("code"), "error.code missing: {body}");
}

/// Asserts a 422 naming `field` in `error.param`.
pub fn assert_invalid(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "expected 422 for `{field}`: {body}");
    assert_error_shape(body);
    assert_eq!(body["error"]["param"], field, "param of {body}");
}

/// Runs the `modelgate` binary with a sub-command (not `serve`) on a data dir, with the
/// harness environment; returns (status, stdout, stderr).
pub fn run_cli(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
) -> (std::process::ExitStatus, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelgate"));
    cmd.args(args).arg("--data-dir").arg(data_dir);
    scrub_env(&mut cmd, database_url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.current_dir(data_dir).output().expect("modelgate runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
