//! Model resolution: a requested model name → groups of candidate upstreams.
//!
//! Sources, in order: `provider/model` prefix, alias (admin API or `MODEL_MAPPINGS`), logical
//! model (its upstreams, then its fallback chain), model implementations sharing the name
//! across providers, and zero-config discovery (providers whose `/models` list has the name;
//! done by the gateway because it may need a cached list). Reads only in-memory state.

use crate::catalogue::{Catalogue, ModelEntry, ProviderEntry, provider_usable};
use crate::strategy::{Selector, Strategy};
use std::collections::HashMap;
use std::sync::Arc;

/// Model-name policy from config (seed 004), reloadable.
#[derive(Debug, Clone, Default)]
pub struct RoutingConfig {
    /// Aliases (`MODEL_MAPPINGS`).
    pub mappings: HashMap<String, String>,
    /// `AVAILABLE_MODELS`: names served by the default provider when nothing else serves them.
    pub available_models: Vec<String>,
    /// `VALIDATE_MODELS`: refuse names that are neither in the catalogue nor available.
    pub validate_models: bool,
    /// `ALLOW_UNKNOWN_MODELS`: send names nothing else serves to the default provider as is.
    pub allow_unknown_models: bool,
}

/// One place a request can be sent.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub provider: Arc<ProviderEntry>,
    /// The model name the upstream expects.
    pub upstream_model: String,
    /// The implementation (pricing, defaults), when the catalogue has one.
    pub model: Option<Arc<ModelEntry>>,
    pub weight: f64,
    pub priority: i64,
}

impl Candidate {
    pub fn new(
        provider: Arc<ProviderEntry>,
        upstream_model: String,
        model: Option<Arc<ModelEntry>>,
    ) -> Self {
        let weight = provider.weight;
        Self {
            provider,
            upstream_model,
            model,
            weight,
            priority: 0,
        }
    }

    /// Stable id for health and selection state.
    pub fn id(&self) -> String {
        crate::health::upstream_id(&self.provider.id, &self.upstream_model)
    }
}

/// How a name was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    Prefix,
    Alias,
    LogicalModel,
    Implementations,
    Discovery,
}

/// Candidates balanced together by one strategy.
#[derive(Debug, Clone)]
pub struct Group {
    /// The logical model or model name this group serves.
    pub label: String,
    pub strategy: Strategy,
    pub selector: Arc<Selector>,
    pub candidates: Vec<Candidate>,
}

/// The outcome of resolution.
#[derive(Debug, Clone)]
pub struct Route {
    /// The name after aliases.
    pub resolved: String,
    pub source: RouteSource,
    pub groups: Vec<Group>,
}

/// Resolution inputs besides the catalogue.
pub struct Resolver<'a> {
    pub cat: &'a Catalogue,
    /// Aliases from config (`MODEL_MAPPINGS`); the catalogue's own aliases win.
    pub config_aliases: &'a HashMap<String, String>,
    /// Selection state of groups that are not logical models.
    pub selector_for: &'a dyn Fn(&str) -> Arc<Selector>,
    pub passthrough: bool,
}

const MAX_DEPTH: usize = 8;

impl Resolver<'_> {
    /// Resolves from the catalogue alone; `None` means "try discovery".
    pub fn resolve(&self, model: &str) -> Option<Route> {
        self.resolve_at(model, 0)
    }

    fn alias_of(&self, model: &str) -> Option<&String> {
        self.cat
            .aliases
            .get(model)
            .or_else(|| self.config_aliases.get(model))
    }

    fn resolve_at(&self, model: &str, depth: usize) -> Option<Route> {
        if depth > MAX_DEPTH {
            return None;
        }
        // 1. `provider/model` prefix.
        if let Some((prefix, rest)) = model.split_once('/')
            && let Some(p) = self.cat.provider_by_name(prefix)
            && !rest.is_empty()
        {
            if !provider_usable(p, self.passthrough) {
                return Some(Route {
                    resolved: model.into(),
                    source: RouteSource::Prefix,
                    groups: vec![],
                });
            }
            let m = self
                .cat
                .implementation(&p.id, rest)
                .filter(|m| m.is_available)
                .cloned();
            let upstream = m
                .as_ref()
                .map_or_else(|| rest.to_owned(), |m| m.provider_model_id.clone());
            return Some(Route {
                resolved: model.into(),
                source: RouteSource::Prefix,
                groups: vec![Group {
                    label: model.into(),
                    strategy: Strategy::Priority,
                    selector: (self.selector_for)(model),
                    candidates: vec![Candidate::new(p.clone(), upstream, m)],
                }],
            });
        }
        // 2. Alias.
        if let Some(target) = self.alias_of(model)
            && target != model
        {
            let mut r = self.resolve_at(target, depth + 1)?;
            if depth == 0 {
                r.source = RouteSource::Alias;
            }
            return Some(r);
        }
        // 3. Logical model, then its fallback chain.
        if let Some(lm) = self.cat.logical.get(model).filter(|l| l.enabled) {
            let candidates: Vec<Candidate> = lm
                .upstreams
                .iter()
                .filter(|u| u.enabled && u.model.is_available)
                .filter_map(|u| {
                    let p = self.cat.provider(&u.model.provider_id)?;
                    provider_usable(p, self.passthrough).then(|| Candidate {
                        provider: p.clone(),
                        upstream_model: u.model.provider_model_id.clone(),
                        model: Some(u.model.clone()),
                        weight: u.weight,
                        priority: u.priority,
                    })
                })
                .collect();
            let mut groups = vec![Group {
                label: lm.name.clone(),
                strategy: lm.strategy,
                selector: (self.selector_for)(&format!("logical:{}", lm.id)),
                candidates,
            }];
            for fb in &lm.fallback {
                if fb != model
                    && let Some(r) = self.resolve_at(fb, depth + 1)
                {
                    groups.extend(r.groups);
                }
            }
            return Some(Route {
                resolved: model.into(),
                source: RouteSource::LogicalModel,
                groups,
            });
        }
        // 4. Implementations of the public name across providers.
        let candidates: Vec<Candidate> = self
            .cat
            .implementations(model)
            .iter()
            .filter(|m| m.is_available)
            .filter_map(|m| {
                let p = self.cat.provider(&m.provider_id)?;
                provider_usable(p, self.passthrough).then(|| {
                    Candidate::new(p.clone(), m.provider_model_id.clone(), Some(m.clone()))
                })
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(Route {
            resolved: model.into(),
            source: RouteSource::Implementations,
            groups: vec![Group {
                label: model.into(),
                strategy: Strategy::WeightedRandom,
                selector: (self.selector_for)(model),
                candidates,
            }],
        })
    }
}
