//! Assembling and running a server: storage, secrets, the gateway core, bootstrap, the
//! layered router, and graceful shutdown.
//!
//! Layers, outermost first: panic → 500 JSON; request id (set + propagate `x-request-id`);
//! CORS; body size limit. Authentication is per handler (extractors), routing and dispatch
//! live in the core.

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use modelgate_core::{Gateway, GatewaySettings};
use modelgate_store::{Database, SecretBox};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::config::{Overrides, Settings};
use crate::error::ApiError;
use crate::state::{AdminAuthConfig, AppState};
use crate::{admin, declared, routes};

const SECRET_FILE: &str = "secret.key";

/// The secret for encrypting upstream keys: configured, or stored in the data dir, or
/// generated there (mode 0600) with a warning.
pub async fn resolve_secret_key(settings: &Settings, db: &Database) -> anyhow::Result<String> {
    if let Some(k) = settings
        .secret_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
    {
        return Ok(k.to_owned());
    }
    let path = settings.data_dir.join(SECRET_FILE);
    if path.exists() {
        let k = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok(k.trim().to_owned());
    }
    if db
        .meta_get(modelgate_store::secrets::CHECK_META_KEY)
        .await?
        .is_some()
    {
        anyhow::bail!(
            "this database holds secrets encrypted with a key that is neither in MODELGATE_SECRET_KEY nor in {}; set MODELGATE_SECRET_KEY to that key",
            path.display()
        );
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let k = modelgate_store::secrets::generate_secret(32);
    write_private(&path, &k)?;
    tracing::warn!(path = %path.display(), "MODELGATE_SECRET_KEY is not set: generated one and stored it in the data dir; back it up, or set MODELGATE_SECRET_KEY");
    Ok(k)
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

/// Opens and migrates the database.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::connect(settings.database_url.as_deref(), &settings.data_dir)
        .await
        .context("cannot open the database")?;
    db.migrate().await.context("cannot migrate the database")?;
    Ok(db)
}

/// Builds the state: database, verified secrets, gateway core, declared providers, first admin.
pub async fn build_state(settings: Settings, overrides: Overrides) -> anyhow::Result<AppState> {
    let db = open_database(&settings).await?;
    let secret = resolve_secret_key(&settings, &db).await?;
    let secrets = SecretBox::new(&secret)?;
    secrets
        .verify_against(&db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let n = declared::sync_declared(&db, &secrets, &settings).await?;
    if n > 0 {
        db.bump_catalogue_version().await?;
    }
    let gateway = Gateway::start(
        db.clone(),
        secrets,
        GatewaySettings {
            log_bodies: settings.log_bodies,
            models_cache_ttl: Duration::from_secs(settings.models_cache_ttl.max(1)),
            max_attempts: settings.max_attempts.max(1),
            total_timeout: Duration::from_secs(settings.request_timeout_secs.max(1)),
            static_keys: settings.static_keys(),
            health: settings.health(),
            session_ttl: Duration::from_secs(settings.session_ttl_secs.max(1)),
            routing: settings.routing(),
            log_queue: 100_000,
            cache: modelgate_core::gateway::CacheSettings {
                enabled: settings.cache_enabled,
                ttl: Duration::from_secs(settings.cache_ttl.max(1)),
            },
        },
        modelgate_core::clock::system(),
        modelgate_core::ledger::Ledger::new(state_backend(&settings)?, settings.governance()?),
    )
    .await?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("modelgate_request_duration_seconds".into()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ],
        )
        .ok()
        .and_then(|b| b.install_recorder().ok());
    let state = AppState {
        gateway,
        db,
        auth: Arc::new(AdminAuthConfig::new(
            &secret,
            settings.admin_key.clone(),
            settings.jwt_ttl_secs,
        )),
        settings: Arc::new(settings),
        metrics,
        overrides: Arc::new(overrides),
    };
    admin::system::first_admin(&state).await?;
    Ok(state)
}

/// The state backend: Redis when `REDIS_URL` is set (shared by every instance; connected
/// lazily so that a Redis outage at start is survived like one later), else in-process.
fn state_backend(settings: &Settings) -> anyhow::Result<modelgate_store::StateBackend> {
    use modelgate_store::state::{RedisConfig, RedisState};
    let Some(url) = settings
        .redis_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(modelgate_store::StateBackend::memory());
    };
    let mut cfg = RedisConfig::new(url);
    cfg.prefix = settings.redis_prefix.clone();
    cfg.command_timeout = Duration::from_millis(settings.redis_timeout_ms.max(10));
    cfg.connect_timeout = Duration::from_millis(settings.redis_timeout_ms.max(10));
    let redis = RedisState::connect_lazy(cfg)
        .map_err(|e| anyhow::anyhow!("REDIS_URL is not usable: {e}"))?;
    tracing::info!(
        "shared state on Redis (limits, balances, credits, cache exact across instances)"
    );
    Ok(modelgate_store::StateBackend::Redis(redis))
}

async fn not_found() -> ApiError {
    ApiError::not_found("Unknown path").with_code("unknown_url")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "Method not allowed for this path",
    )
    .with_code("method_not_allowed")
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a request handler panicked");
    ApiError::internal("internal error").into_response()
}

/// Request ids for requests without one: time-ordered (UUID v7), like every other id.
#[derive(Clone, Copy)]
struct TimeOrderedId;

impl MakeRequestId for TimeOrderedId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        axum::http::HeaderValue::from_str(&modelgate_store::new_id())
            .ok()
            .map(RequestId::new)
    }
}

/// The complete router with its layers.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.settings.body_limit_bytes;
    routes::all()
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .config(utoipa_swagger_ui::Config::from("/openapi.json")),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CorsLayer::permissive())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, TimeOrderedId))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

async fn shutdown_signal(stop: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
        _ = stop.cancelled() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Runs the server until SIGINT/SIGTERM, then drains requests and flushes the request log.
pub async fn serve(settings: Settings, overrides: Overrides) -> anyhow::Result<()> {
    let addr = format!("{}:{}", settings.host, settings.port);
    let poll = Duration::from_millis(settings.catalogue_poll_ms.max(100));
    let probe_every = settings.health_probe_interval_secs;
    let workers = match settings.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let state = build_state(settings, overrides).await?;
    let listeners = bind_workers(&addr, workers)?;
    let local = listeners[0].local_addr()?;
    let stop = CancellationToken::new();
    let gateway = state.gateway.clone();
    #[allow(clippy::disallowed_methods)] // stopped by `stop`, awaited below
    let watcher = tokio::spawn(gateway.clone().watch_catalogue(poll, stop.clone()));
    let prober = (probe_every > 0).then(|| {
        #[allow(clippy::disallowed_methods)] // stopped by `stop`, awaited below
        tokio::spawn(probe_providers(
            state.clone(),
            Duration::from_secs(probe_every),
            stop.clone(),
        ))
    });
    #[allow(clippy::disallowed_methods)] // stopped by `stop`, awaited below
    let upkeep = tokio::spawn(metrics_upkeep(state.metrics.clone(), stop.clone()));
    tracing::info!(addr = %local, workers, database = ?state.db.backend(), "modelgate listening");
    // One single-threaded runtime per core, each accepting on its own SO_REUSEPORT socket: a
    // request, its upstream call and that connection's task stay on one thread.
    let mut threads = Vec::with_capacity(workers);
    for (i, listener) in listeners.into_iter().enumerate() {
        let router = router(state.clone());
        let state = state.clone();
        let stop = stop.clone();
        let t = std::thread::Builder::new()
            .name(format!("modelgate-worker-{i}"))
            .spawn(move || run_worker(listener, state, router, stop))?;
        threads.push(t);
    }
    shutdown_signal(stop.clone()).await;
    stop.cancel();
    let joined = tokio::task::spawn_blocking(move || {
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        }
    });
    let _ = joined.await;
    let _ = watcher.await;
    if let Some(p) = prober {
        let _ = p.await;
    }
    let _ = upkeep.await;
    gateway.logger.flush().await;
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Binds one listener per worker on the same address (the first picks the port when it is 0).
fn bind_workers(addr: &str, n: usize) -> anyhow::Result<Vec<std::net::TcpListener>> {
    let first: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("cannot resolve {addr}"))?;
    let mut out = Vec::with_capacity(n);
    let mut at = first;
    for _ in 0..n.max(1) {
        let socket = if at.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        #[cfg(unix)]
        socket.set_reuseport(true)?;
        socket.set_nodelay(true)?;
        socket
            .bind(at)
            .with_context(|| format!("cannot listen on {at}"))?;
        let l = socket.listen(4096)?;
        at = l.local_addr()?;
        out.push(l.into_std()?);
    }
    Ok(out)
}

/// One worker: a current-thread runtime serving its listener until `stop`.
fn run_worker(
    listener: std::net::TcpListener,
    state: AppState,
    router: Router,
    stop: CancellationToken,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a worker runtime");
            return;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot use a worker listener");
                return;
            }
        };
        let drain = state.gateway.settings.total_timeout;
        crate::ingress::serve(listener, state, router, stop, drain).await;
    });
}

/// Drains the Prometheus histograms regularly, so that samples never pile up when nobody
/// scrapes `/metrics`.
async fn metrics_upkeep(
    handle: Option<metrics_exporter_prometheus::PrometheusHandle>,
    stop: CancellationToken,
) {
    let Some(handle) = handle else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => handle.run_upkeep(),
        }
    }
}

/// Active health probes: every `every`, list each enabled provider's models (never a billed
/// completion). A failed probe counts as a failure of the provider's upstreams (so a dead
/// provider leaves rotation without client traffic); a good one lets open circuits try again.
async fn probe_providers(state: AppState, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let cat = state.gateway.catalogue();
        for p in cat.providers.iter().filter(|p| p.enabled) {
            let r = crate::admin::provider_health::probe(p, None).await;
            let health = &state.gateway.health;
            for (_, stats) in health.upstreams_of(&p.id) {
                if r.ok {
                    stats.probe_ok();
                } else {
                    stats.failure(
                        r.error.as_deref().unwrap_or("probe failed"),
                        Duration::ZERO,
                        &health.settings,
                    );
                }
            }
            health.set_probe(
                &p.id,
                modelgate_core::health::ProbeResult {
                    at_ms: modelgate_store::now_ms(),
                    ok: r.ok,
                    latency_ms: r.latency_ms,
                    error: r.error,
                },
            );
        }
    }
}
