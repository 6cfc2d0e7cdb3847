//! Model resolution: a requested model name → the ordered candidate upstreams.
//!
//! Order of sources: `provider/model` prefix, then model implementations sharing the name
//! (across providers), then providers whose discovered `/models` list has the name. Reads only
//! the in-memory catalogue.

use crate::catalogue::{Catalogue, ModelEntry, ProviderEntry};
use std::sync::Arc;

/// One place a request can be sent.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub provider: Arc<ProviderEntry>,
    /// The model name the upstream expects.
    pub upstream_model: String,
    /// The implementation (pricing, defaults), when the catalogue has one.
    pub model: Option<Arc<ModelEntry>>,
}

/// Whether a provider can take data-plane traffic now.
pub fn provider_usable(p: &ProviderEntry, passthrough: bool) -> bool {
    p.enabled && p.kind.is_served() && (passthrough || p.keys.iter().any(|k| k.enabled))
}

/// Candidates from the catalogue alone (no discovery). `passthrough` requests only go to
/// providers that opted into passthrough auth.
pub fn from_catalogue(cat: &Catalogue, model: &str, passthrough: bool) -> Vec<Candidate> {
    let usable =
        |p: &ProviderEntry| provider_usable(p, passthrough) && (!passthrough || p.passthrough_auth);
    // 1. `provider/model` prefix.
    if let Some((prefix, rest)) = model.split_once('/')
        && let Some(p) = cat.provider_by_name(prefix)
        && !rest.is_empty()
    {
        if !usable(p) {
            return vec![];
        }
        let m = cat
            .implementation(&p.id, rest)
            .filter(|m| m.is_available)
            .cloned();
        return vec![Candidate {
            provider: p.clone(),
            upstream_model: m
                .as_ref()
                .map_or_else(|| rest.to_owned(), |m| m.provider_model_id.clone()),
            model: m,
        }];
    }
    // 2. Implementations of the public name, heavier providers first.
    let mut out: Vec<Candidate> = cat
        .implementations(model)
        .iter()
        .filter(|m| m.is_available)
        .filter_map(|m| {
            let p = cat.provider(&m.provider_id)?;
            usable(p).then(|| Candidate {
                provider: p.clone(),
                upstream_model: m.provider_model_id.clone(),
                model: Some(m.clone()),
            })
        })
        .collect();
    out.sort_by(|a, b| b.provider.weight.total_cmp(&a.provider.weight));
    out
}
