//! Provider model lists: fetched from each provider's `/models`, cached with a TTL, used for
//! the aggregated `GET /v1/models` and for zero-config discovery of unknown model names.

use crate::catalogue::ProviderEntry;
use futures::FutureExt;
use moka::future::Cache;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Cached model lists per provider id.
#[derive(Clone)]
pub struct ModelDirectory {
    cache: Cache<String, Arc<Vec<String>>>,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct ModelsPage {
    data: Vec<ModelItem>,
}

#[derive(Deserialize)]
struct ModelItem {
    id: String,
}

impl ModelDirectory {
    pub fn new(client: reqwest::Client, ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(1_000)
                .build(),
            client,
        }
    }

    /// The provider's model ids (empty when it cannot be listed; failures are cached briefly
    /// like successes so a dead provider is not asked on every request).
    pub async fn models_of(&self, p: &Arc<ProviderEntry>) -> Arc<Vec<String>> {
        let p2 = p.clone();
        let client = self.client.clone();
        self.cache
            .get_with(
                p.id.clone(),
                async move { Arc::new(fetch(&client, &p2).await) },
            )
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

async fn fetch(client: &reqwest::Client, p: &ProviderEntry) -> Vec<String> {
    let Some(key) = p.keys.iter().find(|k| k.enabled) else {
        return vec![];
    };
    let url = p.target.url("models", None);
    let req = p
        .target
        .authorize(client.get(&url), &key.secret)
        .timeout(p.timeout.min(Duration::from_secs(10)));
    match req.send().await {
        Ok(resp) if resp.status().is_success() => match resp.json::<ModelsPage>().await {
            Ok(page) => page.data.into_iter().map(|m| m.id).collect(),
            Err(e) => {
                tracing::warn!(provider = %p.name, error = %e, "provider model list is not OpenAI-shaped");
                vec![]
            }
        },
        Ok(resp) => {
            tracing::warn!(provider = %p.name, status = resp.status().as_u16(), "provider model list failed");
            vec![]
        }
        Err(e) => {
            tracing::warn!(provider = %p.name, error = %e, "provider model list unreachable");
            vec![]
        }
    }
}
