//! Provider model lists: fetched from each provider's `/models`, cached with a TTL, used for
//! the aggregated `GET /v1/models` and for zero-config discovery of unknown model names.

use crate::catalogue::ProviderEntry;
use futures::FutureExt;
use modelgate_providers::Adapter;
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;

/// Cached model lists per provider id.
#[derive(Clone)]
pub struct ModelDirectory {
    cache: Cache<String, Arc<Vec<String>>>,
}

impl ModelDirectory {
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(1_000)
                .build(),
        }
    }

    /// The provider's model ids (empty when it cannot be listed; failures are cached briefly
    /// like successes so a dead provider is not asked on every request).
    pub async fn models_of(&self, p: &Arc<ProviderEntry>) -> Arc<Vec<String>> {
        let p2 = p.clone();
        self.cache
            .get_with(p.id.clone(), async move { Arc::new(fetch(&p2).await) })
            .await
    }

    /// The provider's cached model ids, without fetching.
    pub fn cached_models_of(&self, p: &Arc<ProviderEntry>) -> Option<Arc<Vec<String>>> {
        self.cache.get(&p.id).now_or_never().flatten()
    }

    /// Forgets every cached list (after catalogue changes).
    pub fn invalidate(&self) {
        self.cache.invalidate_all();
    }
}

/// Lists a provider's models with its first enabled key (bounded in time and size).
pub async fn fetch(p: &ProviderEntry) -> Vec<String> {
    let Some(key) = p.keys.iter().find(|k| k.enabled) else {
        return vec![];
    };
    match list(p, &key.secret).await {
        Ok(models) => models,
        Err(e) => {
            tracing::warn!(provider = %p.name, error = %e, "provider model list failed");
            vec![]
        }
    }
}

/// Calls a provider's model list with a key.
pub async fn list(p: &ProviderEntry, secret: &str) -> Result<Vec<String>, String> {
    let timeout = p.timeout.min(Duration::from_secs(10));
    let (status, body) = crate::clients::get_models(p, secret, timeout, 8 * 1024 * 1024).await?;
    if !(200..300).contains(&status) {
        return Err(format!("the provider answered {status}"));
    }
    Ok(p.api.parse_models(&body))
}
