//! `Gateway`: the shared state of the data plane and the entry points the HTTP layer calls.
//!
//! Holds the catalogue and key-ring snapshots (swapped atomically on reload), the pooled
//! client, the model directory and the request logger. `reload` rebuilds the snapshots from
//! the database; `watch_catalogue` polls the shared catalogue version so that other instances'
//! changes arrive within a second.

use arc_swap::ArcSwap;
use bytes::Bytes;
use modelgate_formats::raw::RawObject;
use modelgate_store::{Database, RequestLogRecord, SecretBox, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::catalogue::{Catalogue, CatalogueError};
use crate::dispatch::{BODY_LOG_LIMIT, Reply, ReplyBody, Settle, failure_reply, truncate_utf8};
use crate::error::GatewayError;
use crate::health::{HealthRegistry, HealthSettings};
use crate::keyring::{KeyContext, KeyRing};
use crate::model_list::ModelDirectory;
use crate::relay;
use crate::request_log::RequestLogger;
use crate::resolve::{self, Candidate};
use crate::routing::RoutingConfig;
use crate::sessions::Sessions;
use crate::strategy::Selector;
use std::collections::HashMap;
use std::sync::RwLock;

/// Tunables of the data plane.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Keep request and response bodies in the request log.
    pub log_bodies: bool,
    pub models_cache_ttl: Duration,
    /// Attempts per request across keys and upstreams.
    pub max_attempts: usize,
    /// Time budget of a request across all attempts (until the first byte for streams).
    pub total_timeout: Duration,
    /// Legacy static keys (`API_KEYS`).
    pub static_keys: Vec<String>,
    pub connect_timeout: Duration,
    pub health: HealthSettings,
    /// Idle time after which a session's pin and context are forgotten.
    pub session_ttl: Duration,
    pub routing: RoutingConfig,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            log_bodies: false,
            models_cache_ttl: Duration::from_secs(300),
            max_attempts: 4,
            total_timeout: Duration::from_secs(600),
            static_keys: vec![],
            connect_timeout: Duration::from_secs(10),
            health: HealthSettings::default(),
            session_ttl: Duration::from_secs(3600),
            routing: RoutingConfig::default(),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A modelgate virtual key.
    Key(Arc<KeyContext>),
    /// A key modelgate does not know, forwarded to providers that opted into passthrough auth.
    Passthrough(String),
}

impl Auth {
    pub fn key_id(&self) -> Option<String> {
        match self {
            Auth::Key(k) => Some(k.key_id.clone()),
            Auth::Passthrough(_) => None,
        }
    }
    pub fn tenant_id(&self) -> Option<String> {
        match self {
            Auth::Key(k) => k.tenant_id.clone(),
            Auth::Passthrough(_) => None,
        }
    }
    /// Who owns per-caller state such as session context: the key id, or a hash of a
    /// passthrough caller's own key.
    pub fn owner(&self) -> String {
        match self {
            Auth::Key(k) => k.key_id.clone(),
            Auth::Passthrough(t) => format!("passthrough:{}", &crate::keyring::hash_key(t)[..16]),
        }
    }

    pub fn allows_model(&self, model: &str) -> bool {
        match self {
            Auth::Key(k) => {
                k.allows_model(model)
                    || model
                        .split_once('/')
                        .is_some_and(|(_, rest)| k.allows_model(rest))
            }
            Auth::Passthrough(_) => true,
        }
    }
}

/// The data plane's shared state.
pub struct Gateway {
    pub db: Database,
    pub secrets: SecretBox,
    pub settings: GatewaySettings,
    pub client: reqwest::Client,
    pub logger: RequestLogger,
    pub models: ModelDirectory,
    pub health: Arc<HealthRegistry>,
    pub sessions: Sessions,
    pub routing: ArcSwap<RoutingConfig>,
    pub(crate) selectors: RwLock<HashMap<String, Arc<Selector>>>,
    catalogue: ArcSwap<Catalogue>,
    keyring: ArcSwap<KeyRing>,
    version: loaded_version::Version,
}

mod loaded_version {
    use std::sync::Mutex;
    /// The last catalogue version this instance loaded.
    #[derive(Default)]
    pub struct Version(Mutex<Option<String>>);
    impl Version {
        pub fn get(&self) -> Option<String> {
            self.0.lock().map(|g| g.clone()).unwrap_or(None)
        }
        pub fn set(&self, v: Option<String>) {
            if let Ok(mut g) = self.0.lock() {
                *g = v;
            }
        }
    }
}

/// Errors of building the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayInitError {
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl Gateway {
    /// Loads the snapshots and starts the request-log writer.
    pub async fn start(
        db: Database,
        secrets: SecretBox,
        settings: GatewaySettings,
    ) -> Result<Arc<Self>, GatewayInitError> {
        let client = modelgate_providers::build_client(settings.connect_timeout)?;
        let (logger, _writer) = RequestLogger::start(db.clone());
        let version = db.catalogue_version().await?;
        let catalogue = Catalogue::load(&db, &secrets).await?;
        let keyring = KeyRing::load(&db, &settings.static_keys).await?;
        let gw = Arc::new(Self {
            models: ModelDirectory::new(client.clone(), settings.models_cache_ttl),
            health: Arc::new(HealthRegistry::new(settings.health.clone())),
            sessions: Sessions::new(settings.session_ttl),
            routing: ArcSwap::from_pointee(settings.routing.clone()),
            selectors: RwLock::new(HashMap::new()),
            catalogue: ArcSwap::from_pointee(catalogue),
            keyring: ArcSwap::from_pointee(keyring),
            version: Default::default(),
            db,
            secrets,
            settings,
            client,
            logger,
        });
        gw.version.set(version);
        Ok(gw)
    }

    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.load_full()
    }

    /// Rebuilds both snapshots from the database and swaps them in.
    pub async fn reload(&self) -> Result<(), GatewayInitError> {
        let version = self.db.catalogue_version().await?;
        let catalogue = Catalogue::load(&self.db, &self.secrets).await?;
        let keyring = KeyRing::load(&self.db, &self.settings.static_keys).await?;
        self.catalogue.store(Arc::new(catalogue));
        self.keyring.store(Arc::new(keyring));
        self.models.invalidate();
        self.version.set(version);
        Ok(())
    }

    /// Marks the catalogue changed for every instance and reloads this one.
    pub async fn changed(&self) -> Result<(), GatewayInitError> {
        self.db.bump_catalogue_version().await?;
        self.reload().await
    }

    /// Polls the shared catalogue version every `every` and reloads when another instance
    /// changed it. Runs until `stop` is cancelled.
    pub async fn watch_catalogue(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match self.db.catalogue_version().await {
                Ok(v) if v != self.version.get() => {
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "catalogue reload failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "catalogue version check failed"),
            }
        }
    }

    /// Authenticates a presented data-plane key.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Auth, GatewayError> {
        let Some(token) = presented.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(GatewayError::Unauthorized(
                "Missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`".into(),
            ));
        };
        let ring = self.keyring.load();
        match ring.get(token) {
            Some(k) if !k.enabled => Err(GatewayError::Unauthorized(
                "This API key is disabled".into(),
            )),
            Some(k)
                if k.expires_at_ms
                    .is_some_and(|e| e <= modelgate_store::now_ms()) =>
            {
                Err(GatewayError::Unauthorized(
                    "This API key has expired".into(),
                ))
            }
            Some(k) => Ok(Auth::Key(k.clone())),
            None if self
                .catalogue
                .load()
                .providers
                .iter()
                .any(|p| p.passthrough_auth && p.enabled) =>
            {
                Ok(Auth::Passthrough(token.to_owned()))
            }
            None => Err(GatewayError::Unauthorized(
                "Incorrect API key provided".into(),
            )),
        }
    }

    /// The aggregated model list visible to a caller: `(id, owned_by)`, sorted, unique.
    pub async fn list_models(&self, auth: &Auth) -> Vec<(String, String)> {
        let cat = self.catalogue.load_full();
        let tenant = auth.tenant_id();
        let mut out: Vec<(String, String)> = cat
            .model_names(tenant.as_deref())
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        out.extend(
            cat.logical
                .values()
                .filter(|l| l.enabled)
                .map(|l| (l.name.clone(), "modelgate".to_owned())),
        );
        {
            let cfg = self.routing.load();
            out.extend(
                cfg.mappings
                    .keys()
                    .chain(cat.aliases.keys())
                    .map(|a| (a.clone(), "modelgate".to_owned())),
            );
            out.extend(
                cfg.available_models
                    .iter()
                    .chain(cat.registered.iter())
                    .map(|m| (m.clone(), "modelgate".to_owned())),
            );
        }
        let lists = futures::future::join_all(
            cat.providers
                .iter()
                .filter(|p| {
                    resolve::provider_usable(p, false)
                        && resolve::provider_visible(p, tenant.as_deref())
                })
                .map(|p| async move { (p.name.clone(), self.models.models_of(p).await) }),
        )
        .await;
        for (provider, models) in lists {
            out.extend(models.iter().map(|m| (m.clone(), provider.clone())));
        }
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        out.retain(|(m, _)| auth.allows_model(m));
        out
    }

    /// Forwards any other OpenAI endpoint unchanged to the provider serving the named model,
    /// or to the default provider when the body names none.
    pub async fn passthrough(self: &Arc<Self>, req: PassRequest) -> Reply {
        let record = RequestLogRecord {
            id: modelgate_store::new_id(),
            ts_ms: modelgate_store::now_ms(),
            request_id: req.request_id.clone(),
            key_id: req.auth.key_id(),
            tenant_id: req.auth.tenant_id(),
            dialect: "passthrough".into(),
            endpoint: format!("/v1/{}", req.path),
            requested_model: req.model.clone(),
            request_body: (self.settings.log_bodies
                && req
                    .content_type
                    .as_deref()
                    .is_some_and(|c| c.contains("json")))
            .then(|| truncate_utf8(&req.body, BODY_LOG_LIMIT)),
            ..Default::default()
        };
        let settle = Settle::new(self.logger.clone(), record, req.started, false);
        let cand = match &req.model {
            Some(m) => match self.route(m, &req.auth, true).await {
                Ok(r) => self
                    .plan(&r, None, true)
                    .into_iter()
                    .next()
                    .map(|p| p.candidate),
                Err(e) => {
                    settle.finish(e.status(), None, Some(e.to_string()), None);
                    return Reply::error(&e);
                }
            },
            None => self
                .default_candidate(matches!(req.auth, Auth::Passthrough(_)))
                .filter(|c| {
                    resolve::provider_visible(&c.provider, req.auth.tenant_id().as_deref())
                }),
        };
        let Some(cand) = cand else {
            let e = GatewayError::bad_request(
                "No provider serves this request: name a `model`, or configure a default provider",
                Some("model"),
            );
            settle.finish(400, None, Some(e.to_string()), None);
            return Reply::error(&e);
        };
        let secret = match &req.auth {
            Auth::Passthrough(k) => Some(k.clone()),
            Auth::Key(_) => cand
                .provider
                .keys_in_order()
                .first()
                .map(|k| k.secret.clone()),
        };
        let Some(secret) = secret else {
            let e = GatewayError::Upstream(modelgate_providers::UpstreamFailure::Connect(
                "the provider has no usable key".into(),
            ));
            settle.finish(502, None, Some(e.to_string()), None);
            return Reply::error(&e);
        };
        // Rewrite the model name in JSON bodies when the upstream calls it differently.
        let mut body = req.body.clone();
        if req
            .model
            .as_deref()
            .is_some_and(|m| m != cand.upstream_model)
            && req
                .content_type
                .as_deref()
                .is_some_and(|c| c.contains("json"))
            && let Ok(obj) = RawObject::parse(&req.body)
            && let Ok(model) = serde_json::value::to_raw_value(&cand.upstream_model)
            && let Ok(v) = obj.to_vec_with(&[("model", &model)], &[])
        {
            body = Bytes::from(v);
        }
        let p = &cand.provider;
        let mut url = p.target.url(&req.path, Some(&cand.upstream_model));
        if let Some(q) = req.query.as_deref().filter(|q| !q.is_empty()) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(q);
        }
        let mut rb = self.client.request(req.method.clone(), url).body(body);
        if let Some(ct) = &req.content_type {
            rb = rb.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(acc) = &req.accept {
            rb = rb.header(reqwest::header::ACCEPT, acc);
        }
        let rb = p.target.authorize(rb, &secret);
        let t0 = Instant::now();
        let resp = match tokio::time::timeout(p.timeout, rb.send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let f = modelgate_providers::UpstreamFailure::from_reqwest(&e, p.timeout);
                settle.finish(f.client_status(), None, Some(f.to_string()), None);
                return failure_reply(&f);
            }
            Err(_) => {
                let f = modelgate_providers::UpstreamFailure::Timeout(p.timeout);
                settle.finish(504, None, Some(f.to_string()), None);
                return failure_reply(&f);
            }
        };
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let mut headers = vec![
            ("x-modelgate-provider", p.name.clone()),
            ("x-modelgate-attempts", "1".to_owned()),
            (
                "x-modelgate-overhead-ms",
                format!(
                    "{:.3}",
                    crate::dispatch::ms(req.started.elapsed().saturating_sub(t0.elapsed()))
                ),
            ),
        ];
        if let Some(cd) = resp
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
        {
            headers.push(("content-disposition", cd.to_owned()));
        }
        let stream = relay::bytes_stream(resp, settle);
        Reply {
            status,
            content_type,
            headers,
            body: ReplyBody::Stream(stream),
        }
    }

    fn default_candidate(&self, passthrough: bool) -> Option<Candidate> {
        self.default_provider(passthrough)
            .map(|p| Candidate::new(p, String::new(), None))
    }

    /// The provider marked default, or the only usable provider.
    pub fn default_provider(
        &self,
        passthrough: bool,
    ) -> Option<Arc<crate::catalogue::ProviderEntry>> {
        let cat = self.catalogue.load_full();
        let usable: Vec<_> = cat
            .providers
            .iter()
            .filter(|p| resolve::provider_usable(p, passthrough))
            .collect();
        usable
            .iter()
            .find(|p| p.is_default)
            .or_else(|| (usable.len() == 1).then(|| &usable[0]))
            .map(|p| (*p).clone())
    }
}

/// A request to an endpoint the gateway passes through.
pub struct PassRequest {
    pub request_id: String,
    pub method: reqwest::Method,
    /// Path below `/v1/`, e.g. `images/generations`.
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub body: Bytes,
    pub model: Option<String>,
    pub auth: Auth,
    pub started: Instant,
}
