//! The catalogue snapshot: providers, their upstream keys (decrypted) and model
//! implementations, indexed for the hot path.
//!
//! Built from the database off the hot path and swapped atomically (see `Gateway::reload`);
//! requests only read it. Nothing here performs I/O after `load`.

use modelgate_formats::Dialect;
use modelgate_providers::failure::DEFAULT_RETRYABLE_STATUSES;
use modelgate_providers::{Adapter, Provider, ProviderConfig, ProviderKind};
use modelgate_store::{
    Database, ModelRecord, ProviderRecord, SecretBox, StoreError, UpstreamKeyRecord,
};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::policy::FreeCredit;
use crate::pricing::Pricing;
use crate::strategy::Strategy;

/// One upstream of a logical model.
#[derive(Debug)]
pub struct LogicalUpstream {
    pub model: Arc<ModelEntry>,
    pub weight: f64,
    pub priority: i64,
    pub enabled: bool,
}

/// A logical model: a public name over several upstreams, balanced by a strategy.
#[derive(Debug)]
pub struct LogicalEntry {
    pub id: String,
    pub name: String,
    pub strategy: Strategy,
    /// Logical model (or any model) names tried after this one's upstreams.
    pub fallback: Vec<String>,
    pub enabled: bool,
    pub upstreams: Vec<LogicalUpstream>,
}

/// One upstream key, ready to use.
#[derive(Debug)]
pub struct UpstreamKey {
    pub id: String,
    pub alias: String,
    pub secret: String,
    pub weight: f64,
    pub enabled: bool,
    pub max_qps: Option<i64>,
    pub max_rpm: Option<i64>,
}

/// One provider, ready to call.
#[derive(Debug)]
pub struct ProviderEntry {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    /// How calls to it are addressed and authenticated.
    pub api: Provider,
    pub enabled: bool,
    pub weight: f64,
    pub keys: Vec<UpstreamKey>,
    pub retryable_statuses: Vec<u16>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub passthrough_auth: bool,
    /// The tenant owning this provider; `None` means shared by all tenants.
    pub tenant_id: Option<String>,
    pub is_default: bool,
    /// The provider's free credit for each key (seed 000), if it grants one.
    pub free_credit: Option<FreeCredit>,
    /// Rotation counter for choosing among keys.
    key_cursor: AtomicU64,
}

impl ProviderEntry {
    /// The dialects it speaks natively.
    pub fn dialects(&self) -> &[Dialect] {
        self.api.dialects()
    }

    /// Usable keys in the order to try them: a weighted rotation starting point, then the rest.
    pub fn keys_in_order(&self) -> Vec<&UpstreamKey> {
        let usable: Vec<&UpstreamKey> = self.keys.iter().filter(|k| k.enabled).collect();
        if usable.len() <= 1 {
            return usable;
        }
        // Weighted rotation: expand by integer weight (at least 1), pick by a shared counter.
        let weights: Vec<u64> = usable
            .iter()
            .map(|k| k.weight.max(0.0).round().max(1.0) as u64)
            .collect();
        let total: u64 = weights.iter().sum();
        let mut slot = self.key_cursor.fetch_add(1, Ordering::Relaxed) % total.max(1);
        let mut first = 0;
        for (i, w) in weights.iter().enumerate() {
            if slot < *w {
                first = i;
                break;
            }
            slot -= w;
        }
        let mut ordered = Vec::with_capacity(usable.len());
        ordered.push(usable[first]);
        ordered.extend(
            usable
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != first)
                .map(|(_, k)| *k),
        );
        ordered
    }
}

/// A model implementation, ready to route to.
#[derive(Debug)]
pub struct ModelEntry {
    pub id: String,
    pub provider_id: String,
    pub model_id: String,
    pub provider_model_id: String,
    pub pricing: Pricing,
    /// Request defaults, merged under the client's own fields.
    pub custom_parameters: Vec<(String, Box<RawValue>)>,
    pub is_available: bool,
    pub dialect: String,
}

/// The immutable catalogue every request reads.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub providers: Vec<Arc<ProviderEntry>>,
    by_id: HashMap<String, Arc<ProviderEntry>>,
    by_name: HashMap<String, Arc<ProviderEntry>>,
    /// model_id → implementations, in provider creation order.
    models: HashMap<String, Vec<Arc<ModelEntry>>>,
    /// (provider_id, model_id) → implementation.
    by_provider_model: HashMap<(String, String), Arc<ModelEntry>>,
    by_model_impl_id: HashMap<String, Arc<ModelEntry>>,
    pub logical: HashMap<String, Arc<LogicalEntry>>,
    /// Aliases stored through the admin API (config aliases live in the routing config).
    pub aliases: HashMap<String, String>,
    /// Model names registered as available (seed 004's `/admin/models`).
    pub registered: Vec<String>,
}

/// Errors of building a catalogue.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Catalogue {
    /// Reads every provider, key and model and decrypts the keys.
    pub async fn load(db: &Database, secrets: &SecretBox) -> Result<Self, CatalogueError> {
        let providers = db.all_providers().await?;
        let keys = db.all_upstream_keys().await?;
        let models = db.all_models().await?;
        let mut cat = Self::build(providers, keys, models, secrets);
        let logical = db.all_logical_models().await?;
        let ups = db.all_logical_upstreams().await?;
        cat.add_routing(logical, ups);
        cat.aliases = db
            .all_aliases()
            .await?
            .into_iter()
            .map(|a| (a.alias, a.target))
            .collect();
        cat.registered = db
            .all_registered_models()
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect();
        Ok(cat)
    }

    /// Adds logical models, resolving their upstreams to model implementations.
    pub fn add_routing(
        &mut self,
        logical: Vec<modelgate_store::LogicalModelRecord>,
        ups: Vec<modelgate_store::LogicalUpstreamRecord>,
    ) {
        let mut by_lm: HashMap<String, Vec<LogicalUpstream>> = HashMap::new();
        for u in ups {
            if let Some(m) = self.by_model_impl_id.get(&u.model_implementation_id) {
                by_lm
                    .entry(u.logical_model_id.clone())
                    .or_default()
                    .push(LogicalUpstream {
                        model: m.clone(),
                        weight: u.weight,
                        priority: u.priority,
                        enabled: u.enabled,
                    });
            }
        }
        for lm in logical {
            let strategy = lm.strategy.parse().unwrap_or(Strategy::WeightedRandom);
            let entry = LogicalEntry {
                upstreams: by_lm.remove(&lm.id).unwrap_or_default(),
                fallback: serde_json::from_str(&lm.fallback).unwrap_or_default(),
                id: lm.id,
                name: lm.name.clone(),
                strategy,
                enabled: lm.enabled,
            };
            self.logical.insert(lm.name, Arc::new(entry));
        }
    }

    /// Builds the indexes. Keys that cannot be decrypted and providers of unknown kinds are
    /// skipped with a warning (they cannot serve traffic).
    pub fn build(
        providers: Vec<ProviderRecord>,
        keys: Vec<UpstreamKeyRecord>,
        models: Vec<ModelRecord>,
        secrets: &SecretBox,
    ) -> Self {
        let mut keys_by_provider: HashMap<String, Vec<UpstreamKey>> = HashMap::new();
        for k in keys {
            match secrets.decrypt(&k.secret_enc) {
                Ok(secret) => keys_by_provider
                    .entry(k.provider_id.clone())
                    .or_default()
                    .push(UpstreamKey {
                        id: k.id,
                        alias: k.alias,
                        secret,
                        weight: k.weight,
                        enabled: k.enabled,
                        max_qps: k.max_qps,
                        max_rpm: k.max_rpm,
                    }),
                Err(e) => {
                    tracing::warn!(key_id = %k.id, error = %e, "skipping an upstream key that cannot be decrypted")
                }
            }
        }
        let mut cat = Catalogue::default();
        for p in providers {
            let kind: ProviderKind = match p.kind.parse() {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(provider = %p.name, error = %e, "skipping provider");
                    continue;
                }
            };
            let headers: Vec<(String, String)> =
                serde_json::from_str::<HashMap<String, String>>(&p.extra_headers)
                    .map(|m| m.into_iter().collect())
                    .unwrap_or_default();
            let retryable: Vec<u16> = serde_json::from_str::<Vec<u16>>(&p.retryable_statuses)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_RETRYABLE_STATUSES.to_vec());
            let api = match Provider::new(&ProviderConfig {
                kind,
                base_url: p.base_url.clone(),
                api_version: p.api_version.clone(),
                extra_headers: headers,
                extra_dialects: serde_json::from_str::<Vec<String>>(&p.dialects)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|d| d.parse().ok())
                    .collect(),
            }) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(provider = %p.name, error = %e, "skipping provider");
                    continue;
                }
            };
            let free_credit = parse_free_credit(&p.name, p.free_credit.as_deref());
            let entry = Arc::new(ProviderEntry {
                api,
                keys: keys_by_provider.remove(&p.id).unwrap_or_default(),
                id: p.id,
                name: p.name,
                kind,
                enabled: p.enabled,
                weight: p.weight,
                retryable_statuses: retryable,
                timeout: Duration::from_millis(p.timeout_ms.max(1) as u64),
                connect_timeout: Duration::from_millis(p.connect_timeout_ms.max(1) as u64),
                passthrough_auth: p.passthrough_auth,
                tenant_id: p.tenant_id.clone(),
                is_default: p.is_default,
                free_credit,
                key_cursor: AtomicU64::new(0),
            });
            cat.by_id.insert(entry.id.clone(), entry.clone());
            cat.by_name.insert(entry.name.clone(), entry.clone());
            cat.providers.push(entry);
        }
        for m in models {
            if !cat.by_id.contains_key(&m.provider_id) {
                continue;
            }
            let pricing = Pricing::parse(&m.pricing_info).unwrap_or_else(|e| {
                tracing::warn!(model = %m.model_id, error = %e, "ignoring invalid pricing_info");
                Pricing::default()
            });
            let custom_parameters =
                serde_json::from_str::<modelgate_formats::raw::RawObject>(&m.custom_parameters)
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
            let entry = Arc::new(ModelEntry {
                id: m.id,
                provider_id: m.provider_id,
                model_id: m.model_id,
                provider_model_id: m.provider_model_id,
                pricing,
                custom_parameters,
                is_available: m.is_available,
                dialect: m.dialect,
            });
            cat.models
                .entry(entry.model_id.clone())
                .or_default()
                .push(entry.clone());
            cat.by_model_impl_id.insert(entry.id.clone(), entry.clone());
            cat.by_provider_model
                .insert((entry.provider_id.clone(), entry.model_id.clone()), entry);
        }
        cat
    }

    /// A model implementation by its id.
    pub fn model_impl(&self, id: &str) -> Option<&Arc<ModelEntry>> {
        self.by_model_impl_id.get(id)
    }

    pub fn provider(&self, id: &str) -> Option<&Arc<ProviderEntry>> {
        self.by_id.get(id)
    }

    pub fn provider_by_name(&self, name: &str) -> Option<&Arc<ProviderEntry>> {
        self.by_name.get(name)
    }

    /// Every implementation of a public model name.
    pub fn implementations(&self, model_id: &str) -> &[Arc<ModelEntry>] {
        self.models.get(model_id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every model implementation of a provider.
    pub fn models_of_provider(&self, provider_id: &str) -> Vec<Arc<ModelEntry>> {
        let mut v: Vec<Arc<ModelEntry>> = self
            .by_model_impl_id
            .values()
            .filter(|m| m.provider_id == provider_id)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.model_id.cmp(&b.model_id));
        v
    }

    /// A provider's implementation of a public model name.
    pub fn implementation(&self, provider_id: &str, model_id: &str) -> Option<&Arc<ModelEntry>> {
        self.by_provider_model
            .get(&(provider_id.to_owned(), model_id.to_owned()))
    }

    /// Every public model name with at least one available implementation on an enabled provider.
    /// Public model names served to a caller of `tenant`, with a provider serving each.
    pub fn model_names<'a>(
        &'a self,
        tenant: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.models.iter().filter_map(move |(name, impls)| {
            impls
                .iter()
                .filter(|m| m.is_available)
                .find_map(|m| {
                    self.by_id
                        .get(&m.provider_id)
                        .filter(|p| p.enabled && provider_visible(p, tenant))
                })
                .map(|p| (name.as_str(), p.name.as_str()))
        })
    }
}

/// Whether a provider can take data-plane traffic now (`passthrough`: for callers presenting
/// their own upstream key).
pub fn provider_usable(p: &ProviderEntry, passthrough: bool) -> bool {
    p.enabled
        && (passthrough || p.keys.iter().any(|k| k.enabled))
        && (!passthrough || p.passthrough_auth)
}

/// Whether a caller of `tenant` may use a provider: shared providers serve everyone, a
/// tenant's own providers serve only that tenant.
pub fn provider_visible(p: &ProviderEntry, tenant: Option<&str>) -> bool {
    match &p.tenant_id {
        None => true,
        Some(t) => tenant == Some(t.as_str()),
    }
}

/// A provider's stored free-credit policy (JSON of `FreeCredit`). One that cannot be read
/// grants nothing, with a warning: the admin API only stores valid policies.
fn parse_free_credit(provider: &str, stored: Option<&str>) -> Option<FreeCredit> {
    let text = stored?.trim();
    if text.is_empty() || text == "null" {
        return None;
    }
    match serde_json::from_str::<FreeCredit>(text) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(provider = %provider, error = %e, "ignoring an invalid free_credit policy");
            None
        }
    }
}

#[cfg(test)]
mod free_credit_tests {
    use super::*;

    #[test]
    fn stored_free_credit_policies_parse() {
        assert_eq!(
            parse_free_credit("p", Some(r#"{"type":"money","amount":"5.00"}"#)),
            Some(FreeCredit::Money {
                amount: "5.00".parse().unwrap()
            })
        );
        assert_eq!(
            parse_free_credit("p", Some(r#"{"type":"tokens","tokens":1000}"#)),
            Some(FreeCredit::Tokens { tokens: 1000 })
        );
        assert_eq!(
            parse_free_credit("p", Some(r#"{"type":"model_tokens","tokens":7}"#)),
            Some(FreeCredit::ModelTokens { tokens: 7 })
        );
        assert_eq!(parse_free_credit("p", None), None);
        assert_eq!(parse_free_credit("p", Some("null")), None);
        assert_eq!(parse_free_credit("p", Some(r#"{"type":"gold"}"#)), None);
    }
}
