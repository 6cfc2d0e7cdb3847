//! `Gateway`: the parts of the data plane, assembled and reloaded; it implements no stage.
//!
//! Holds the catalogue and key-ring snapshots (swapped atomically on reload), the health
//! registry, sessions, routing config and balancing state, the model directory and the request
//! logger. `reload` rebuilds the snapshots from the database; `watch_catalogue` polls the shared
//! catalogue version so that other instances' changes arrive within a second. The stages
//! (`auth` … `settle`, called in order by `pipeline`) read these parts.

use arc_swap::ArcSwap;
use modelgate_store::{Database, SecretBox, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::catalogue::{Catalogue, CatalogueError, ProviderEntry, provider_usable};
use crate::clock::SharedClock;
use crate::health::{HealthRegistry, HealthSettings, MAX_TRACKED};
use crate::keyring::KeyRing;
use crate::ledger::Ledger;
use crate::model_list::ModelDirectory;
use crate::request_log::RequestLogger;
use crate::resolve::RoutingConfig;
use crate::sessions::Sessions;
use crate::strategy::Selector;

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
    pub health: HealthSettings,
    /// Idle time after which a session's pin and context are forgotten.
    pub session_ttl: Duration,
    pub routing: RoutingConfig,
    /// Records the request-log queue holds before new ones are shed (and counted).
    pub log_queue: usize,
    pub cache: CacheSettings,
}

/// The response cache.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub enabled: bool,
    pub ttl: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            log_bodies: false,
            models_cache_ttl: Duration::from_secs(300),
            max_attempts: 4,
            total_timeout: Duration::from_secs(600),
            static_keys: vec![],
            health: HealthSettings::default(),
            session_ttl: Duration::from_secs(3600),
            routing: RoutingConfig::default(),
            log_queue: 100_000,
            cache: CacheSettings {
                enabled: false,
                ttl: Duration::from_secs(3600),
            },
        }
    }
}

/// The data plane's shared state.
pub struct Gateway {
    pub db: Database,
    pub secrets: SecretBox,
    pub settings: GatewaySettings,
    pub clock: SharedClock,
    pub logger: RequestLogger,
    pub models: ModelDirectory,
    pub health: Arc<HealthRegistry>,
    pub sessions: Sessions,
    pub routing: ArcSwap<RoutingConfig>,
    /// Limits, quotas and money on the state backend (memory or Redis).
    pub ledger: Arc<Ledger>,
    /// Balancing state per group, bounded like health state.
    selectors: crate::tracked::Tracked<Selector>,
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
}

impl Gateway {
    /// Loads the snapshots and starts the request-log writer.
    pub async fn start(
        db: Database,
        secrets: SecretBox,
        settings: GatewaySettings,
        clock: SharedClock,
        ledger: Ledger,
    ) -> Result<Arc<Self>, GatewayInitError> {
        let (logger, _writer) = RequestLogger::start(db.clone(), settings.log_queue);
        let version = db.catalogue_version().await?;
        let catalogue = Catalogue::load(&db, &secrets).await?;
        let keyring = KeyRing::load(&db, &settings.static_keys).await?;
        let gw = Arc::new(Self {
            models: ModelDirectory::new(settings.models_cache_ttl),
            health: Arc::new(HealthRegistry::new(settings.health.clone(), clock.clone())),
            sessions: Sessions::new(settings.session_ttl),
            routing: ArcSwap::from_pointee(settings.routing.clone()),
            selectors: crate::tracked::Tracked::new(MAX_TRACKED),
            clock,
            ledger: Arc::new(ledger),
            catalogue: ArcSwap::from_pointee(catalogue),
            keyring: ArcSwap::from_pointee(keyring),
            version: Default::default(),
            db,
            secrets,
            settings,
            logger,
        });
        gw.version.set(version);
        Ok(gw)
    }

    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.load_full()
    }

    pub fn keyring(&self) -> arc_swap::Guard<Arc<KeyRing>> {
        self.keyring.load()
    }

    /// The balancing state of a group (a logical model or a model name).
    pub fn selector(&self, label: &str) -> Arc<Selector> {
        self.selectors.get_or(label, Selector::default)
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

    /// The provider marked default, or the only usable provider.
    pub fn default_provider(&self, passthrough: bool) -> Option<Arc<ProviderEntry>> {
        let cat = self.catalogue.load_full();
        let usable: Vec<_> = cat
            .providers
            .iter()
            .filter(|p| provider_usable(p, passthrough))
            .collect();
        usable
            .iter()
            .find(|p| p.is_default)
            .or_else(|| (usable.len() == 1).then(|| &usable[0]))
            .map(|p| (*p).clone())
    }
}
