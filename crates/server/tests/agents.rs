//! Real agent CLIs run headless against modelgate and against mock upstreams.
//!
//! The clients are installed by `tests/agents/install.sh` (called from `scripts/test`):
//! Claude Code, Codex CLI and Gemini CLI from npm into `tests/agents/node_modules` (versions
//! pinned in `tests/agents/package.json` / `package-lock.json`), aider from PyPI into
//! `.venv-aider`. A missing client skips its tests (prints `SKIPPED`), except under
//! `CI=true`, where it fails them.
//!
//! Suites:
//! - `mocks::*` drive each mock upstream of `common/upstreams.rs` with reqwest, and with
//!   the official Python SDKs (`tests/agents/sdk_parse_mocks.py`, needs `MG_TEST_PYTHON`).
//! - `direct::*` (the harness self-test) point each CLI straight at a mock of its own
//!   dialect, with no gateway: proves install, headless invocation and the mocks' shapes;
//!   `*_runs_a_tool_call_from_the_mock` also has the CLI run the tool the mock asks for
//!   (Claude Code `Read` with `--allowedTools Read`, Codex `exec_command`, Gemini CLI
//!   `read_file`) and checks the tool result in its next request.
//! - `gateway::*` put modelgate between each CLI and a mock of ANOTHER dialect, through the
//!   gateway's inbound `/v1/messages`, `/v1beta/models/…`, `/v1/responses` and
//!   `/v1/chat/completions` endpoints and its conversions. Just them:
//!   `cargo nextest run -p modelgate-server --test agents -E 'test(gateway::)'`.
//!
//! Every CLI runs with a fresh temp `HOME` and work dir, `stdin` closed, a 120 s limit, and
//! the proxy variables pointing at a loopback trap that records and refuses any request
//! (`NO_PROXY` covers loopback): a client that tries to reach the internet through the
//! proxy fails its test. `GW` below is the gateway origin (`http://127.0.0.1:PORT`), `KEY`
//! a modelgate virtual key, `MODEL` a model id registered in modelgate.
//!
//! ## Claude Code 2.1.197 (`@anthropic-ai/claude-code`)
//! ```text
//! ANTHROPIC_BASE_URL=GW ANTHROPIC_API_KEY=KEY \
//! ANTHROPIC_DEFAULT_HAIKU_MODEL=MODEL ANTHROPIC_SMALL_FAST_MODEL=MODEL \
//! CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 \
//! DISABLE_ERROR_REPORTING=1 \
//!   claude -p "PROMPT" --model MODEL
//! ```
//! Sends `POST /v1/messages?beta=true` (stream) with `x-api-key: KEY`. Without
//! `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` it also resolves `api.anthropic.com` and sends
//! `HEAD /` to the base URL. `ANTHROPIC_AUTH_TOKEN=KEY` instead of `ANTHROPIC_API_KEY`
//! sends `Authorization: Bearer KEY` (and a `HEAD /` to the base URL first, even with
//! nonessential traffic off).
//!
//! ## Codex CLI 0.169.0 (`@openai/codex`)
//! `$CODEX_HOME/config.toml` (here `CODEX_HOME=$HOME/.codex`):
//! ```toml
//! model = "MODEL"
//! model_provider = "modelgate"
//! check_for_update_on_startup = false  # the interactive TUI's update check
//!
//! [analytics]
//! enabled = false                      # else: analytics to chatgpt.com
//!
//! [features]
//! plugins = false                      # else: curated plugin sync at start-up
//!
//! [model_providers.modelgate]
//! name = "modelgate"
//! base_url = "GW/v1"
//! env_key = "MODELGATE_API_KEY"
//! wire_api = "responses"
//! ```
//! ```text
//! CODEX_HOME=$HOME/.codex MODELGATE_API_KEY=KEY codex exec --skip-git-repo-check "PROMPT"
//! ```
//! Sends `POST /v1/responses` (stream) with `Authorization: Bearer KEY`. With plugins on
//! (the default) it syncs the curated plugin list from `api.github.com` and
//! `chatgpt.com/backend-api/plugins/…` at start-up; with analytics on it also contacts
//! `chatgpt.com`.
//!
//! ## Gemini CLI 0.61.0 (`@google/gemini-cli`)
//! `$HOME/.gemini/settings.json`:
//! ```json
//! {"general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
//!  "privacy": {"usageStatisticsEnabled": false},
//!  "telemetry": {"enabled": false},
//!  "security": {"auth": {"selectedType": "gemini-api-key"}}}
//! ```
//! ```text
//! GEMINI_API_KEY=KEY GOOGLE_GEMINI_BASE_URL=GW GEMINI_CLI_TRUST_WORKSPACE=true \
//!   gemini -p "PROMPT" -m MODEL
//! ```
//! Sends `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse` with
//! `x-goog-api-key: KEY`. `selectedType` is needed: with `GOOGLE_GEMINI_BASE_URL` set and no
//! setting, 0.61.0 picks its `gateway` auth type, which headless mode rejects ("Invalid auth
//! method selected"). Without `GEMINI_CLI_TRUST_WORKSPACE` (or `--skip-trust`) it refuses
//! an untrusted work dir.
//!
//! ## aider 0.86.2 (`aider-chat`)
//! ```text
//! OPENAI_API_BASE=GW/v1 OPENAI_API_KEY=KEY LITELLM_LOCAL_MODEL_COST_MAP=True \
//!   aider --message "PROMPT" --model openai/MODEL --yes-always --no-git --no-auto-commits \
//!     --no-check-update --analytics-disable --no-show-model-warnings --no-pretty \
//!     --no-show-release-notes --no-detect-urls
//! ```
//! with `LITELLM_LOCAL_MODEL_COST_MAP=True` and
//! `$HOME/.aider/caches/model_prices_and_context_window.json` holding an entry for
//! `openai/MODEL`: otherwise litellm (at import) and aider (at start) each download
//! litellm's price list from `raw.githubusercontent.com`. Sends `POST /v1/chat/completions` (stream)
//! with `Authorization: Bearer KEY`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::MockUpstream;
use common::upstreams::{DialectMock, Reply, parse_sse};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// How long one CLI run may take.
const CLI_LIMIT: Duration = Duration::from_secs(120);
/// The prompt every CLI gets; the word `pineapple` is looked for in what reaches upstream.
const PROMPT: &str = "Say hi and the word pineapple in one short sentence. Do not use any tools.";
/// The model id the CLIs ask for (in modelgate, or at a mock directly).
const MODEL: &str = "agent-test-model";
/// The model id the gateway sends upstream.
const UPSTREAM_MODEL: &str = "upstream-model";
const UPSTREAM_KEY: &str = "sk-upstream-agent-secret";
/// What the dialect mocks answer; the CLIs must print it.
const MOCK_TEXT: &str = "Mock upstream says: marmalade lighthouse.";

// ---------------------------------------------------------------------------------------
// Installed clients
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Cli {
    ClaudeCode,
    Codex,
    Gemini,
    Aider,
}

impl Cli {
    fn program(self) -> PathBuf {
        let root = Path::new(WORKSPACE);
        match self {
            Cli::ClaudeCode => root.join("tests/agents/node_modules/.bin/claude"),
            Cli::Codex => root.join("tests/agents/node_modules/.bin/codex"),
            Cli::Gemini => root.join("tests/agents/node_modules/.bin/gemini"),
            Cli::Aider => root.join(".venv-aider/bin/aider"),
        }
    }

    /// The program, or `None` (test skipped) when it is not installed; under `CI=true` a
    /// missing client fails the test.
    fn installed(self) -> Option<PathBuf> {
        let p = self.program();
        if p.exists() {
            return Some(p);
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{self:?} is not installed at {} (run tests/agents/install.sh); required under CI",
            p.display()
        );
        eprintln!(
            "SKIPPED: {self:?} is not installed at {} (run tests/agents/install.sh)",
            p.display()
        );
        None
    }
}

// ---------------------------------------------------------------------------------------
// A loopback trap for outbound traffic
// ---------------------------------------------------------------------------------------

/// A fake HTTP proxy on loopback: records the request line of every connection (e.g.
/// `CONNECT api.anthropic.com:443 HTTP/1.1`) and answers 403. The CLIs get it as
/// `HTTP(S)_PROXY`/`ALL_PROXY`, so any internet access they try through a proxy shows up here.
struct NetTrap {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl NetTrap {
    fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(vec![]));
        let s = seen.clone();
        std::thread::spawn(move || {
            for mut conn in l.incoming().map_while(Result::ok) {
                let mut line = String::new();
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = BufReader::new(&conn).read_line(&mut line);
                s.lock().unwrap().push(line.trim().to_owned());
                let _ = conn.write_all(
                    b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Self { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------
// Running a CLI
// ---------------------------------------------------------------------------------------

/// One headless CLI run: program, args, env and the files to lay into its temp `HOME`.
struct Invocation {
    cli: Cli,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    home_files: Vec<(String, String)>,
    /// The work dir to run in (a fresh temp dir when `None`).
    work_dir: Option<PathBuf>,
}

struct RunResult {
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    /// Requests the CLI sent to the proxy trap.
    proxied: Vec<String>,
    elapsed: Duration,
}

impl RunResult {
    fn describe(&self) -> String {
        format!(
            "exit {:?} (timed out: {}) after {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- proxy trap\n{:?}",
            self.code, self.timed_out, self.elapsed, self.stdout, self.stderr, self.proxied
        )
    }

    /// Exit 0, `text` in stdout, nothing sent through the proxy.
    fn assert_printed(&self, text: &str) {
        assert!(!self.timed_out, "timed out: {}", self.describe());
        assert_eq!(self.code, Some(0), "exit status: {}", self.describe());
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}: {}",
            self.describe()
        );
        assert!(
            self.proxied.is_empty(),
            "the CLI tried to reach the network: {}",
            self.describe()
        );
    }
}

impl Invocation {
    /// Runs in `dir` instead of a fresh temp dir.
    fn in_dir(mut self, dir: &Path) -> Self {
        self.work_dir = Some(dir.to_owned());
        self
    }

    /// Adds arguments after the CLI's own.
    fn with_args(mut self, extra: &[&str]) -> Self {
        self.args.extend(extra.iter().map(|a| a.to_string()));
        self
    }

    /// Runs to completion in a fresh `HOME` and work dir (killed after `CLI_LIMIT`).
    async fn run(self) -> RunResult {
        tokio::task::spawn_blocking(move || self.run_blocking())
            .await
            .unwrap()
    }

    fn run_blocking(self) -> RunResult {
        let home = tempfile::tempdir().unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let work = self
            .work_dir
            .clone()
            .unwrap_or_else(|| fresh.path().to_owned());
        for (rel, contents) in &self.home_files {
            let p = home.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, contents).unwrap();
        }
        std::fs::create_dir_all(home.path().join("tmp")).unwrap();
        let trap = NetTrap::start();
        let out = tempfile::NamedTempFile::new().unwrap();
        let err = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1")
            .env("TMPDIR", home.path().join("tmp"));
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env(var, trap.url());
        }
        for var in ["NO_PROXY", "no_proxy"] {
            cmd.env(var, "127.0.0.1,localhost,::1");
        }
        for (k, v) in &self.env {
            let v = v.replace("{HOME}", &home.path().to_string_lossy());
            cmd.env(k, v);
        }
        cmd.current_dir(&work)
            .stdin(Stdio::null())
            .stdout(out.reopen().unwrap())
            .stderr(err.reopen().unwrap());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{:?} starts: {e}", self.cli));
        let mut timed_out = false;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed() > CLI_LIMIT {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let elapsed = started.elapsed();
        RunResult {
            code: status.and_then(|s| s.code()),
            timed_out,
            stdout: std::fs::read_to_string(out.path()).unwrap_or_default(),
            stderr: std::fs::read_to_string(err.path()).unwrap_or_default(),
            proxied: trap.seen(),
            elapsed,
        }
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Claude Code on an Anthropic Messages endpoint at `origin` (no `/v1`).
fn claude_code(program: PathBuf, origin: &str, key: &str, model: &str) -> Invocation {
    Invocation {
        cli: Cli::ClaudeCode,
        program,
        args: vec!["-p".into(), PROMPT.into(), "--model".into(), model.into()],
        env: owned(&[
            ("ANTHROPIC_BASE_URL", origin),
            ("ANTHROPIC_API_KEY", key),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL", model),
            ("ANTHROPIC_SMALL_FAST_MODEL", model),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
        ]),
        home_files: vec![],
        work_dir: None,
    }
}

/// Codex CLI (`codex exec`) on an OpenAI Responses endpoint at `base_url` (with `/v1`).
fn codex(program: PathBuf, base_url: &str, key: &str, model: &str) -> Invocation {
    let config = format!(
        r#"model = "{model}"
model_provider = "modelgate"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false

[model_providers.modelgate]
name = "modelgate"
base_url = "{base_url}"
env_key = "MODELGATE_API_KEY"
wire_api = "responses"
"#
    );
    Invocation {
        cli: Cli::Codex,
        program,
        args: vec!["exec".into(), "--skip-git-repo-check".into(), PROMPT.into()],
        env: owned(&[("CODEX_HOME", "{HOME}/.codex"), ("MODELGATE_API_KEY", key)]),
        home_files: vec![(".codex/config.toml".into(), config)],
        work_dir: None,
    }
}

/// Gemini CLI (`gemini -p`) on a Gemini API endpoint at `origin` (no `/v1beta`).
fn gemini_cli(program: PathBuf, origin: &str, key: &str, model: &str) -> Invocation {
    let settings = json!({
        "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
        "security": {"auth": {"selectedType": "gemini-api-key"}}
    });
    Invocation {
        cli: Cli::Gemini,
        program,
        args: vec!["-p".into(), PROMPT.into(), "-m".into(), model.into()],
        env: owned(&[
            ("GEMINI_API_KEY", key),
            ("GOOGLE_GEMINI_BASE_URL", origin),
            ("GEMINI_CLI_TRUST_WORKSPACE", "true"),
        ]),
        home_files: vec![(".gemini/settings.json".into(), settings.to_string())],
        work_dir: None,
    }
}

/// aider on an OpenAI chat-completions endpoint at `base_url` (with `/v1`).
fn aider(program: PathBuf, base_url: &str, key: &str, model: &str) -> Invocation {
    let metadata = json!({format!("openai/{model}"): {
        "max_input_tokens": 128_000, "max_output_tokens": 4096, "input_cost_per_token": 0,
        "output_cost_per_token": 0, "litellm_provider": "openai", "mode": "chat"}});
    let mut args: Vec<String> = vec![
        "--message".into(),
        PROMPT.into(),
        "--model".into(),
        format!("openai/{model}"),
    ];
    for flag in [
        "--yes-always",
        "--no-git",
        "--no-auto-commits",
        "--no-check-update",
        "--analytics-disable",
        "--no-show-model-warnings",
        "--no-pretty",
        "--no-show-release-notes",
        "--no-detect-urls",
    ] {
        args.push(flag.into());
    }
    Invocation {
        cli: Cli::Aider,
        program,
        args,
        env: owned(&[
            ("OPENAI_API_BASE", base_url),
            ("OPENAI_API_KEY", key),
            ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
        ]),
        home_files: vec![(
            ".aider/caches/model_prices_and_context_window.json".into(),
            metadata.to_string(),
        )],
        work_dir: None,
    }
}

/// Whether the JSON body a mock received mentions the prompt's marker word.
fn carries_prompt(body: &Value) -> bool {
    body.to_string().contains("pineapple")
}

fn header(r: &common::mock::Recorded, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------
// The mocks on their own
// ---------------------------------------------------------------------------------------

mod mocks {
    use super::*;

    async fn post(url: &str, headers: &[(&str, &str)], body: Value) -> (u16, String) {
        let mut rb = reqwest::Client::new().post(url).json(&body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = rb.send().await.expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn anthropic_messages_stream_tools_errors_and_counts() {
        common::init();
        let up = DialectMock::anthropic()
            .reply(
                Reply::tool_call("get_weather", json!({"city": "Paris", "days": [1, 2]}))
                    .with_thinking("Let me think")
                    .with_text("Checking."),
            )
            .reply(Reply::text("plain answer"))
            .reply(Reply::error(529, "Overloaded"))
            .reply(Reply::text("cut short here please").break_after(4))
            .require_key("sk-a")
            .models(&["claude-mock"])
            .count_tokens(17)
            .start()
            .await;
        let url = format!("{}/v1/messages", up.base_url());
        let auth = [("x-api-key", "sk-a"), ("anthropic-version", "2023-06-01")];
        let req = json!({"model": "claude-mock", "max_tokens": 64, "stream": true,
                         "messages": [{"role": "user", "content": "hi"}]});

        let (s, body) = post(&url, &auth, req.clone()).await;
        assert_eq!(s, 200, "{body}");
        let events = parse_sse(&body);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        assert_eq!(names[..2], ["message_start", "ping"]);
        assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
        for (n, v) in &events {
            assert_eq!(v["type"], n.as_deref().unwrap(), "event name matches type");
        }
        assert_eq!(
            events[0].1["message"]["usage"]["cache_read_input_tokens"],
            5
        );
        // Blocks: thinking (0), text (1), tool_use (2); each opened and closed by index.
        let starts: Vec<(u64, String)> = events
            .iter()
            .filter(|(n, _)| n.as_deref() == Some("content_block_start"))
            .map(|(_, v)| {
                (
                    v["index"].as_u64().unwrap(),
                    v["content_block"]["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            starts,
            [
                (0, "thinking".to_owned()),
                (1, "text".to_owned()),
                (2, "tool_use".to_owned())
            ]
        );
        let sig: Vec<&Value> = events
            .iter()
            .filter(|(_, v)| v["delta"]["type"] == "signature_delta")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(sig.len(), 1);
        assert_eq!(sig[0]["index"], 0);
        let args: String = events
            .iter()
            .filter(|(_, v)| v["delta"]["type"] == "input_json_delta")
            .map(|(_, v)| v["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            events
                .iter()
                .filter(|(_, v)| v["delta"]["type"] == "input_json_delta")
                .count()
                > 1
        );
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap(),
            json!({"city": "Paris", "days": [1, 2]})
        );
        let delta = &events[events.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert_eq!(delta["usage"]["output_tokens"], 9);
        assert_eq!(delta["usage"]["cache_creation_input_tokens"], 3);

        let mut non_stream = req.clone();
        non_stream["stream"] = json!(false);
        let (s, body) = post(&url, &auth, non_stream).await;
        assert_eq!(s, 200, "{body}");
        let msg: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(msg["type"], "message");
        assert_eq!(
            msg["content"],
            json!([{"type": "text", "text": "plain answer"}])
        );
        assert_eq!(msg["stop_reason"], "end_turn");
        assert_eq!(msg["usage"]["input_tokens"], 21);

        let (s, body) = post(&url, &auth, req.clone()).await;
        assert_eq!(s, 529);
        let e: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["type"], "error");
        assert_eq!(e["error"]["type"], "overloaded_error");
        assert_eq!(e["error"]["message"], "Overloaded");

        // Broken stream: exactly 4 events, then the body fails.
        let resp = reqwest::Client::new()
            .post(&url)
            .headers(auth_map(&auth))
            .json(&req)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut got = String::new();
        let mut broke = false;
        let mut stream = resp.bytes_stream();
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => got.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => {
                    broke = true;
                    break;
                }
            }
        }
        assert!(broke, "the stream must fail, got {got}");
        assert_eq!(parse_sse(&got).len(), 4, "{got}");

        let (s, body) = post(&url, &[("x-api-key", "wrong")], req.clone()).await;
        assert_eq!(s, 401);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"]["type"],
            "authentication_error"
        );

        let (s, body) = post(
            &format!("{url}/count_tokens"),
            &auth,
            json!({"model": "claude-mock", "messages": []}),
        )
        .await;
        assert_eq!(
            (s, serde_json::from_str::<Value>(&body).unwrap()),
            (200, json!({"input_tokens": 17}))
        );
        let models: Value = reqwest::Client::new()
            .get(format!("{}/v1/models", up.base_url()))
            .header("x-api-key", "sk-a")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(models["data"][0]["id"], "claude-mock");
        assert_eq!(models["has_more"], false);
        assert_eq!(up.generation_requests().len(), 5);
        assert_eq!(up.requests().len(), 7);
    }

    /// The official Python SDKs (anthropic, openai, google-genai; the venv `scripts/test`
    /// builds for the SDK suites, in `MG_TEST_PYTHON`) read every mock's streams,
    /// non-stream answers, errors and token counts (`tests/agents/sdk_parse_mocks.py`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn official_sdks_read_every_mock() {
        let python = match std::env::var("MG_TEST_PYTHON") {
            Ok(p) if !p.trim().is_empty() => p,
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "MG_TEST_PYTHON must be set under CI"
                );
                eprintln!("SKIPPED: MG_TEST_PYTHON not set");
                return;
            }
        };
        let anthropic = DialectMock::anthropic()
            .reply(
                Reply::tool_call("get_weather", json!({"city": "Paris"}))
                    .with_thinking("Think first")
                    .with_text("Looking it up."),
            )
            .reply(Reply::text("plain"))
            .reply(Reply::error(529, "Overloaded"))
            .start()
            .await;
        let responses = DialectMock::responses()
            .reply(
                Reply::text("streamed text")
                    .with_thinking("a thought")
                    .with_tool_call("shell", json!({"cmd": "ls"})),
            )
            .reply(Reply::text("plain"))
            .start()
            .await;
        let gemini = DialectMock::gemini()
            .reply(Reply::text("streamed text").with_thinking("a thought"))
            .reply(Reply::tool_call("read_file", json!({"path": "a"})))
            .start()
            .await;
        let script = Path::new(WORKSPACE).join("tests/agents/sdk_parse_mocks.py");
        let env = [
            ("MG_KEY", "sk-sdk".to_owned()),
            ("MG_ANTHROPIC_URL", anthropic.base_url()),
            ("MG_RESPONSES_URL", responses.base_url()),
            ("MG_GEMINI_URL", gemini.base_url()),
        ];
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(python);
            cmd.arg(script)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("NO_PROXY", "127.0.0.1,localhost")
                .stdin(Stdio::null());
            for var in [
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_BASE_URL",
                "OPENAI_API_KEY",
                "OPENAI_BASE_URL",
                "GEMINI_API_KEY",
                "GOOGLE_API_KEY",
                "GOOGLE_GEMINI_BASE_URL",
            ] {
                cmd.env_remove(var);
            }
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.output().unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "sdk_parse_mocks.py failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(anthropic.generation_requests().len(), 3);
        assert_eq!(responses.generation_requests().len(), 2);
        assert_eq!(gemini.generation_requests().len(), 2);
    }

    /// `fail_after` ends each dialect's stream with its own error event (and fails a
    /// non-stream request with the overloaded status); `delayed` holds the answer back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mid_stream_errors_and_delays() {
        common::init();
        let words = "one two three four five";
        let anthropic = DialectMock::anthropic()
            .default_reply(Reply::text(words).fail_after(3, "Overloaded"))
            .start()
            .await;
        let gemini = DialectMock::gemini()
            .default_reply(Reply::text(words).fail_after(2, "The model is overloaded."))
            .start()
            .await;
        let responses = DialectMock::responses()
            .reply(Reply::text(words).fail_after(4, "boom"))
            .reply(Reply::text("late").delayed(Duration::from_millis(300)))
            .start()
            .await;

        let msg = json!({"model": "m", "max_tokens": 8, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let (s, body) = post(
            &format!("{}/v1/messages", anthropic.base_url()),
            &[],
            msg.clone(),
        )
        .await;
        assert_eq!(s, 200);
        let events = parse_sse(&body);
        assert_eq!(events.len(), 4, "{body}");
        assert_eq!(events[3].0.as_deref(), Some("error"));
        assert_eq!(events[3].1["error"]["type"], "overloaded_error");
        let mut ns = msg;
        ns["stream"] = json!(false);
        let (s, _) = post(&format!("{}/v1/messages", anthropic.base_url()), &[], ns).await;
        assert_eq!(s, 529);

        let g = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        let url = format!(
            "{}/v1beta/models/m:streamGenerateContent?alt=sse",
            gemini.base_url()
        );
        let (s, body) = post(&url, &[], g.clone()).await;
        assert_eq!(s, 200);
        let chunks = parse_sse(&body);
        assert_eq!(chunks.len(), 3, "{body}");
        assert_eq!(chunks[2].1["error"]["status"], "UNAVAILABLE");
        let (s, _) = post(
            &format!("{}/v1beta/models/m:generateContent", gemini.base_url()),
            &[],
            g,
        )
        .await;
        assert_eq!(s, 503);

        let r = json!({"model": "m", "input": "hi", "stream": true});
        let (s, body) = post(&format!("{}/responses", responses.base_url()), &[], r).await;
        assert_eq!(s, 200);
        let events = parse_sse(&body);
        assert_eq!(events.len(), 5, "{body}");
        let last = &events[4].1;
        assert_eq!(last["type"], "response.failed");
        assert_eq!(last["sequence_number"], 4);
        assert_eq!(last["response"]["status"], "failed");
        assert_eq!(last["response"]["error"]["message"], "boom");
        let started = std::time::Instant::now();
        let (s, _) = post(
            &format!("{}/responses", responses.base_url()),
            &[],
            json!({"model": "m", "input": "hi"}),
        )
        .await;
        assert_eq!(s, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    fn auth_map(pairs: &[(&str, &str)]) -> reqwest::header::HeaderMap {
        let mut m = reqwest::header::HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gemini_generate_stream_count_and_errors() {
        common::init();
        let up = DialectMock::gemini()
            .reply(Reply::text("streamed words here").with_thinking("pondering"))
            .reply(
                Reply::tool_call("read_file", json!({"path": "a.txt"}))
                    .with_thinking("need a file"),
            )
            .reply(Reply::error(429, "Resource has been exhausted"))
            .require_key("g-key")
            .models(&["gemini-mock"])
            .start()
            .await;
        let base = format!("{}/v1beta/models/gemini-mock", up.base_url());
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});

        let (s, body) = post(
            &format!("{base}:streamGenerateContent?alt=sse"),
            &[("x-goog-api-key", "g-key")],
            req.clone(),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        assert!(
            body.contains("\r\n\r\n"),
            "Gemini SSE ends events with CRLF CRLF"
        );
        let chunks: Vec<Value> = parse_sse(&body).into_iter().map(|(_, v)| v).collect();
        assert!(chunks.len() > 2);
        assert_eq!(
            chunks[0]["candidates"][0]["content"]["parts"][0]["thought"],
            true
        );
        let text: String = chunks
            .iter()
            .flat_map(|c| {
                c["candidates"][0]["content"]["parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|p| p.get("thought").is_none())
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(text, "streamed words here");
        assert!(body.contains("thoughtSignature"));
        let last = chunks.last().unwrap();
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        let u = &last["usageMetadata"];
        assert_eq!(
            (
                u["promptTokenCount"].as_u64(),
                u["cachedContentTokenCount"].as_u64(),
                u["thoughtsTokenCount"].as_u64(),
                u["candidatesTokenCount"].as_u64(),
                u["totalTokenCount"].as_u64()
            ),
            (Some(29), Some(5), Some(4), Some(5), Some(38))
        );

        // Non-stream, key in the query string.
        let (s, body) = post(
            &format!("{base}:generateContent?key=g-key"),
            &[],
            req.clone(),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let parts = &v["candidates"][0]["content"]["parts"];
        assert_eq!(parts[0]["thought"], true);
        assert_eq!(
            parts[1]["functionCall"],
            json!({"name": "read_file", "args": {"path": "a.txt"}})
        );
        assert!(parts[1]["thoughtSignature"].is_string());

        let (s, body) = post(
            &format!("{base}:generateContent"),
            &[("x-goog-api-key", "g-key")],
            req.clone(),
        )
        .await;
        assert_eq!(s, 429);
        let e: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(e["error"]["code"], 429);

        let (s, _) = post(
            &format!("{base}:generateContent"),
            &[("x-goog-api-key", "nope")],
            req.clone(),
        )
        .await;
        assert_eq!(s, 401);
        let (s, body) = post(
            &format!("{base}:countTokens"),
            &[("x-goog-api-key", "g-key")],
            req,
        )
        .await;
        assert_eq!(
            (s, serde_json::from_str::<Value>(&body).unwrap()),
            (200, json!({"totalTokens": 42}))
        );
        let list: Value = reqwest::Client::new()
            .get(format!("{}/v1beta/models", up.base_url()))
            .header("x-goog-api-key", "g-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["models"][0]["name"], "models/gemini-mock");
        assert_eq!(
            up.requests_to(":streamGenerateContent")[0].query.as_deref(),
            Some("alt=sse")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn responses_stream_sequence_function_calls_and_errors() {
        common::init();
        let up = DialectMock::responses()
            .reply(
                Reply::text("hello there")
                    .with_thinking("brief thought")
                    .with_tool_call("shell", json!({"cmd": ["ls", "-la"]})),
            )
            .reply(Reply::text("non-stream text"))
            .reply(Reply::error(401, "Incorrect API key provided"))
            .reply(Reply::text("one two three four").break_after(3))
            .start()
            .await;
        let url = format!("{}/responses", up.base_url());
        let auth = [("authorization", "Bearer sk-r")];
        let req = json!({"model": "gpt-mock", "input": "hi", "stream": true});

        let (s, body) = post(&url, &auth, req.clone()).await;
        assert_eq!(s, 200, "{body}");
        let events = parse_sse(&body);
        let types: Vec<String> = events
            .iter()
            .map(|(_, v)| v["type"].as_str().unwrap().to_owned())
            .collect();
        for (i, (n, v)) in events.iter().enumerate() {
            assert_eq!(v["sequence_number"], i, "sequence numbers count up");
            assert_eq!(n.as_deref(), v["type"].as_str());
        }
        let want = [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
        ];
        assert_eq!(types[..want.len()], want);
        assert!(
            types
                .iter()
                .filter(|t| *t == "response.function_call_arguments.delta")
                .count()
                > 1
        );
        assert_eq!(
            types[types.len() - 3..],
            [
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let done = &events.last().unwrap().1["response"];
        assert_eq!(done["id"], "resp_mock_0001");
        assert_eq!(done["status"], "completed");
        assert_eq!(done["usage"]["input_tokens"], 29);
        assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 5);
        assert_eq!(
            done["usage"]["output_tokens_details"]["reasoning_tokens"],
            4
        );
        let kinds: Vec<&str> = done["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["reasoning", "message", "function_call"]);
        assert_eq!(
            serde_json::from_str::<Value>(done["output"][2]["arguments"].as_str().unwrap())
                .unwrap(),
            json!({"cmd": ["ls", "-la"]})
        );

        let mut ns = req.clone();
        ns["stream"] = json!(false);
        let (s, body) = post(&url, &auth, ns).await;
        assert_eq!(s, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["object"], "response");
        assert_eq!(v["output"][0]["content"][0]["text"], "non-stream text");

        let (s, body) = post(&url, &auth, req.clone()).await;
        assert_eq!(s, 401);
        common::assert_error_shape(&serde_json::from_str(&body).unwrap());

        let resp = reqwest::Client::new()
            .post(&url)
            .json(&req)
            .send()
            .await
            .unwrap();
        let got = resp.text().await;
        assert!(got.is_err(), "a broken stream fails the body read: {got:?}");
        assert_eq!(header(&up.last(), "authorization"), None);
        assert_eq!(up.generation_requests().len(), 4);
    }
}

// ---------------------------------------------------------------------------------------
// Harness self-test: each CLI on a mock of its own dialect, no gateway
// ---------------------------------------------------------------------------------------

mod direct {
    use super::*;

    const KEY: &str = "sk-direct-agent-key";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claude_code_on_anthropic_mock() {
        let Some(program) = Cli::ClaudeCode.installed() else {
            return;
        };
        let up = DialectMock::anthropic()
            .default_reply(Reply::text(MOCK_TEXT).with_thinking("The user wants a greeting."))
            .require_key(KEY)
            .start()
            .await;
        let run = claude_code(program, &up.origin(), KEY, MODEL).run().await;
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(
            !gens.is_empty(),
            "no /v1/messages request: {:?}",
            up.requests()
        );
        let r = &gens[0];
        assert_eq!(r.query.as_deref(), Some("beta=true"));
        assert_eq!(header(r, "x-api-key").as_deref(), Some(KEY));
        assert_eq!(r.json()["model"], MODEL);
        assert_eq!(r.json()["stream"], true);
        assert!(carries_prompt(&r.json()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codex_on_responses_mock() {
        let Some(program) = Cli::Codex.installed() else {
            return;
        };
        let up = DialectMock::responses()
            .default_reply(Reply::text(MOCK_TEXT).with_thinking("A greeting is enough."))
            .require_key(KEY)
            .start()
            .await;
        let run = codex(program, &up.base_url(), KEY, MODEL).run().await;
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(
            !gens.is_empty(),
            "no /v1/responses request: {:?}",
            up.requests()
        );
        let r = &gens[0];
        assert_eq!(header(r, "authorization"), Some(format!("Bearer {KEY}")));
        assert_eq!(r.json()["model"], MODEL);
        assert_eq!(r.json()["stream"], true);
        assert!(carries_prompt(&r.json()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gemini_cli_on_gemini_mock() {
        let Some(program) = Cli::Gemini.installed() else {
            return;
        };
        let up = DialectMock::gemini()
            .default_reply(Reply::text(MOCK_TEXT).with_thinking("Greeting time."))
            .require_key(KEY)
            .start()
            .await;
        let run = gemini_cli(program, &up.origin(), KEY, MODEL).run().await;
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(
            !gens.is_empty(),
            "no generateContent request: {:?}",
            up.requests()
        );
        let r = &gens[0];
        assert_eq!(
            r.path,
            format!("/v1beta/models/{MODEL}:streamGenerateContent")
        );
        assert_eq!(r.query.as_deref(), Some("alt=sse"));
        assert_eq!(header(r, "x-goog-api-key").as_deref(), Some(KEY));
        assert!(carries_prompt(&r.json()));
    }

    /// A work dir holding `notes.txt` with `SECRET`.
    fn work_with_notes() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("notes.txt"), format!("{SECRET}\n")).unwrap();
        d
    }

    const SECRET: &str = "The secret word is zebra-forty-two.";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claude_code_runs_a_tool_call_from_the_mock() {
        let Some(program) = Cli::ClaudeCode.installed() else {
            return;
        };
        let work = work_with_notes();
        let path = work.path().join("notes.txt").to_string_lossy().into_owned();
        let up = DialectMock::anthropic()
            .reply(Reply::tool_call("Read", json!({"file_path": path})).with_thinking("Read it."))
            .default_reply(Reply::text(MOCK_TEXT))
            .start()
            .await;
        let run = claude_code(program, &up.origin(), KEY, MODEL)
            .with_args(&["--allowedTools", "Read"])
            .in_dir(work.path())
            .run()
            .await;
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(gens.len() >= 2, "no follow-up request: {}", run.describe());
        let follow = gens[1].json();
        let last = follow["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        let result = last["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_result")
            .cloned()
            .unwrap_or_else(|| panic!("no tool_result in {last}"));
        assert_eq!(result["tool_use_id"], "toolu_mock_0001");
        assert!(result.to_string().contains("zebra-forty-two"), "{result}");
        // The assistant turn is sent back with the thinking block and its signature.
        assert!(
            follow
                .to_string()
                .contains(common::upstreams::MOCK_SIGNATURE)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codex_runs_a_tool_call_from_the_mock() {
        let Some(program) = Cli::Codex.installed() else {
            return;
        };
        let work = work_with_notes();
        let up = DialectMock::responses()
            .reply(
                Reply::tool_call("exec_command", json!({"cmd": "cat notes.txt"}))
                    .with_thinking("Look at the notes."),
            )
            .default_reply(Reply::text(MOCK_TEXT))
            .start()
            .await;
        let run = codex(program, &up.base_url(), KEY, MODEL)
            .in_dir(work.path())
            .run()
            .await;
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(gens.len() >= 2, "no follow-up request: {}", run.describe());
        let follow = gens[1].json();
        let output = follow["input"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call_output")
            .cloned()
            .unwrap_or_else(|| panic!("no function_call_output in {follow}"));
        assert_eq!(output["call_id"], "call_mock_0001");
        assert!(output.to_string().contains("zebra-forty-two"), "{output}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gemini_cli_runs_a_tool_call_from_the_mock() {
        let Some(program) = Cli::Gemini.installed() else {
            return;
        };
        let work = work_with_notes();
        let up = DialectMock::gemini()
            .reply(
                Reply::tool_call("read_file", json!({"file_path": "notes.txt"}))
                    .with_thinking("Read the notes."),
            )
            .default_reply(Reply::text(MOCK_TEXT))
            .start()
            .await;
        let run = gemini_cli(program, &up.origin(), KEY, MODEL)
            .in_dir(work.path())
            .run()
            .await;
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(gens.len() >= 2, "no follow-up request: {}", run.describe());
        let follow = gens[1].json();
        let last = follow["contents"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        let response = last["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p.get("functionResponse").is_some())
            .cloned()
            .unwrap_or_else(|| panic!("no functionResponse in {last}"));
        assert_eq!(response["functionResponse"]["name"], "read_file");
        assert!(
            response.to_string().contains("zebra-forty-two"),
            "{response}"
        );
        // The model turn goes back with its thought signature.
        assert!(
            follow
                .to_string()
                .contains(common::upstreams::MOCK_SIGNATURE)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aider_on_openai_chat_mock() {
        let Some(program) = Cli::Aider.installed() else {
            return;
        };
        let up = MockUpstream::start("the mock").await;
        let run = aider(program, &up.base_url(), KEY, MODEL).run().await;
        run.assert_printed("Hello from the mock");
        let chats: Vec<_> = up
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .collect();
        assert!(!chats.is_empty(), "no chat request: {:?}", up.requests());
        assert_eq!(
            header(&chats[0], "authorization"),
            Some(format!("Bearer {KEY}"))
        );
        assert_eq!(chats[0].json()["model"], MODEL);
        assert!(carries_prompt(&chats[0].json()));
    }
}

// ---------------------------------------------------------------------------------------
// Each CLI through modelgate to an upstream of another dialect
// ---------------------------------------------------------------------------------------

mod gateway {
    use super::*;
    use common::{Db, Gateway};

    /// Registers provider `up` of `kind` at `base_url` with `MODEL` → `UPSTREAM_MODEL`, and
    /// mints a virtual key.
    async fn gateway_for(kind: &str, base_url: &str) -> (Gateway, String) {
        let gw = Gateway::start(Db::Sqlite).await;
        let (s, p) = gw
            .post(
                "/providers",
                json!({"name": "up", "kind": kind, "base_url": base_url,
                                       "api_keys": [{"alias": "k1", "key": UPSTREAM_KEY}]}),
            )
            .await;
        assert_eq!(s, 201, "{p}");
        let (s, m) = gw
            .post(
                "/providers/up/models",
                json!({"model_id": MODEL, "provider_model_id": UPSTREAM_MODEL}),
            )
            .await;
        assert_eq!(s, 201, "{m}");
        let (_, key) = gw.add_key(json!({})).await;
        (gw, key)
    }

    fn describe(run: &RunResult, gw: &Gateway) -> String {
        format!("{}\n--- gateway log\n{}", run.describe(), gw.log_text())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claude_code_through_gateway_to_openai_chat() {
        let Some(program) = Cli::ClaudeCode.installed() else {
            return;
        };
        let up = MockUpstream::start("the mock").await;
        let (gw, key) = gateway_for("openai_compatible", &up.base_url()).await;
        let run = claude_code(program, &gw.base, &key, MODEL).run().await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed("Hello from the mock");
        let chats: Vec<_> = up
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .collect();
        assert!(
            !chats.is_empty(),
            "upstream got no chat request: {:?}",
            up.requests()
        );
        let body = chats[0].json();
        assert_eq!(body["model"], UPSTREAM_MODEL);
        assert_eq!(
            header(&chats[0], "authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}"))
        );
        assert!(carries_prompt(&body), "{body}");
        assert!(body["messages"].is_array(), "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codex_through_gateway_to_anthropic() {
        let Some(program) = Cli::Codex.installed() else {
            return;
        };
        let up = DialectMock::anthropic()
            .default_reply(Reply::text(MOCK_TEXT))
            .require_key(UPSTREAM_KEY)
            .start()
            .await;
        let (gw, key) = gateway_for("anthropic", &up.base_url()).await;
        let run = codex(program, &gw.url("/v1"), &key, MODEL).run().await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(
            !gens.is_empty(),
            "upstream got no /v1/messages: {:?}",
            up.requests()
        );
        let body = gens[0].json();
        assert_eq!(body["model"], UPSTREAM_MODEL);
        assert!(
            body["max_tokens"].is_u64(),
            "Anthropic requires max_tokens: {body}"
        );
        assert!(carries_prompt(&body["messages"]), "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gemini_cli_through_gateway_to_openai_chat() {
        let Some(program) = Cli::Gemini.installed() else {
            return;
        };
        let up = MockUpstream::start("the mock").await;
        let (gw, key) = gateway_for("openai_compatible", &up.base_url()).await;
        let run = gemini_cli(program, &gw.base, &key, MODEL).run().await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed("Hello from the mock");
        let chats: Vec<_> = up
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .collect();
        assert!(
            !chats.is_empty(),
            "upstream got no chat request: {:?}",
            up.requests()
        );
        let body = chats[0].json();
        assert_eq!(body["model"], UPSTREAM_MODEL);
        assert!(carries_prompt(&body), "{body}");
    }

    /// A work dir holding `notes.txt` with `SECRET`.
    fn work_with_notes() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("notes.txt"), format!("{SECRET}\n")).unwrap();
        d
    }

    const SECRET: &str = "The secret word is zebra-forty-two.";

    /// The tool result in the follow-up request an upstream got, per upstream dialect:
    /// Anthropic `tool_result` (answering `toolu_mock_0001`), Gemini `functionResponse`.
    fn tool_result_in(up: &DialectMock, run: &RunResult, gw: &Gateway) -> Value {
        let gens = up.generation_requests();
        assert!(
            gens.len() >= 2,
            "upstream got no follow-up: {}",
            describe(run, gw)
        );
        let follow = gens[1].json();
        let found = match up.dialect() {
            common::upstreams::Dialect::Anthropic => follow["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
                .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == "toolu_mock_0001"),
            common::upstreams::Dialect::Gemini => follow["contents"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default())
                .find(|p| p.get("functionResponse").is_some()),
            common::upstreams::Dialect::Responses => follow["input"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["type"] == "function_call_output")
                .cloned(),
        };
        let found = found.unwrap_or_else(|| panic!("no tool result upstream in {follow}"));
        assert!(found.to_string().contains("zebra-forty-two"), "{found}");
        found
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claude_code_tool_call_through_gateway_to_gemini() {
        let Some(program) = Cli::ClaudeCode.installed() else {
            return;
        };
        let work = work_with_notes();
        let path = work.path().join("notes.txt").to_string_lossy().into_owned();
        let up = DialectMock::gemini()
            .reply(Reply::tool_call("Read", json!({"file_path": path})).with_thinking("Read it."))
            .default_reply(Reply::text(MOCK_TEXT))
            .require_key(UPSTREAM_KEY)
            .start()
            .await;
        let (gw, key) = gateway_for("gemini", &up.base_url()).await;
        let run = claude_code(program, &gw.base, &key, MODEL)
            .with_args(&["--allowedTools", "Read"])
            .in_dir(work.path())
            .run()
            .await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed(MOCK_TEXT);
        let r = tool_result_in(&up, &run, &gw);
        assert_eq!(r["functionResponse"]["name"], "Read");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codex_tool_call_through_gateway_to_anthropic() {
        let Some(program) = Cli::Codex.installed() else {
            return;
        };
        let work = work_with_notes();
        let up = DialectMock::anthropic()
            .reply(Reply::tool_call(
                "exec_command",
                json!({"cmd": "cat notes.txt"}),
            ))
            .default_reply(Reply::text(MOCK_TEXT))
            .require_key(UPSTREAM_KEY)
            .start()
            .await;
        let (gw, key) = gateway_for("anthropic", &up.base_url()).await;
        let run = codex(program, &gw.url("/v1"), &key, MODEL)
            .in_dir(work.path())
            .run()
            .await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed(MOCK_TEXT);
        tool_result_in(&up, &run, &gw);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gemini_cli_tool_call_through_gateway_to_anthropic() {
        let Some(program) = Cli::Gemini.installed() else {
            return;
        };
        let work = work_with_notes();
        let up = DialectMock::anthropic()
            .reply(Reply::tool_call(
                "read_file",
                json!({"file_path": "notes.txt"}),
            ))
            .default_reply(Reply::text(MOCK_TEXT))
            .require_key(UPSTREAM_KEY)
            .start()
            .await;
        let (gw, key) = gateway_for("anthropic", &up.base_url()).await;
        let run = gemini_cli(program, &gw.base, &key, MODEL)
            .in_dir(work.path())
            .run()
            .await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed(MOCK_TEXT);
        tool_result_in(&up, &run, &gw);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aider_through_gateway_to_anthropic() {
        let Some(program) = Cli::Aider.installed() else {
            return;
        };
        let up = DialectMock::anthropic()
            .default_reply(Reply::text(MOCK_TEXT))
            .require_key(UPSTREAM_KEY)
            .start()
            .await;
        let (gw, key) = gateway_for("anthropic", &up.base_url()).await;
        let run = aider(program, &gw.url("/v1"), &key, MODEL).run().await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(
            !gens.is_empty(),
            "upstream got no /v1/messages: {:?}",
            up.requests()
        );
        let body = gens[0].json();
        assert_eq!(body["model"], UPSTREAM_MODEL);
        assert!(carries_prompt(&body), "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aider_through_gateway_to_gemini() {
        let Some(program) = Cli::Aider.installed() else {
            return;
        };
        let up = DialectMock::gemini()
            .default_reply(Reply::text(MOCK_TEXT))
            .require_key(UPSTREAM_KEY)
            .start()
            .await;
        let (gw, key) = gateway_for("gemini", &up.base_url()).await;
        let run = aider(program, &gw.url("/v1"), &key, MODEL).run().await;
        assert_eq!(run.code, Some(0), "{}", describe(&run, &gw));
        run.assert_printed(MOCK_TEXT);
        let gens = up.generation_requests();
        assert!(
            !gens.is_empty(),
            "upstream got no generateContent: {:?}",
            up.requests()
        );
        assert!(
            gens[0]
                .path
                .starts_with(&format!("/v1beta/models/{UPSTREAM_MODEL}:")),
            "{}",
            gens[0].path
        );
        assert!(carries_prompt(&gens[0].json()));
    }
}
