//! Stage 5, route: the requested model → an ordered plan of candidates.
//!
//! Resolution with discovery and defaults (`route`), ordering candidates by their group's
//! strategy and health with a sticky session's pin first (`plan`), and the dry-run `decide`.
//! Reads only in-memory state (catalogue snapshot, health, cached model lists).

use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::call::Caller;
use crate::catalogue::{provider_usable, provider_visible};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::health::{Circuit, UpstreamStats};
use crate::resolve::{Candidate, Group, Resolver, Route, RouteSource};
use crate::strategy::{Input, Strategy};

/// A candidate in the order it will be tried.
#[derive(Debug, Clone)]
pub struct Planned {
    pub candidate: Candidate,
    /// The upstream's live stats (looked up once, while planning).
    pub stats: Arc<UpstreamStats>,
    pub group: String,
    pub strategy: Strategy,
    pub score: f64,
    pub circuit: Circuit,
    pub pinned: bool,
}

/// The answer of `POST /routing/decide`.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub model: String,
    pub resolved_model: String,
    pub source: RouteSource,
    pub chosen: Option<DecisionCandidate>,
    pub candidates: Vec<DecisionCandidate>,
    pub session: Option<crate::sessions::Pin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionCandidate {
    pub provider: String,
    pub provider_id: String,
    pub upstream_model: String,
    pub model_implementation_id: Option<String>,
    pub group: String,
    pub strategy: Strategy,
    pub weight: f64,
    pub priority: i64,
    pub score: f64,
    pub circuit: Circuit,
    pub in_flight: i64,
    pub ewma_latency_ms: Option<f64>,
    pub success_rate: f64,
    pub pinned: bool,
}

/// Follows aliases (the catalogue's first, then config's) from `model` to the name they end on.
fn alias_target(
    model: &str,
    aliases: &HashMap<String, String>,
    config: &HashMap<String, String>,
) -> String {
    let mut name = model.to_owned();
    for _ in 0..8 {
        match aliases.get(&name).or_else(|| config.get(&name)) {
            Some(t) if *t != name => name = t.clone(),
            _ => break,
        }
    }
    name
}

/// Resolves a model for a caller: catalogue, discovery, defaults. With `fetch = false`
/// discovery uses only already-cached model lists.
pub async fn route(
    gw: &Gateway,
    model: &str,
    caller: &Caller,
    fetch: bool,
) -> Result<Route, GatewayError> {
    let passthrough = caller.is_passthrough();
    let cat = gw.catalogue();
    let cfg = gw.routing.load_full();
    let resolved = {
        let selector_for = |label: &str| gw.selector(label);
        let resolver = Resolver {
            cat: &cat,
            config_aliases: &cfg.mappings,
            selector_for: &selector_for,
            passthrough,
        };
        resolver.resolve(model)
    };
    let tenant = caller.tenant_id();
    if let Some(mut r) = resolved {
        if r.groups.iter().all(|g| g.candidates.is_empty()) {
            return Err(GatewayError::Unavailable(format!(
                "No enabled upstream serves the model `{model}`"
            )));
        }
        // Another tenant's providers do not exist for this caller.
        for g in &mut r.groups {
            g.candidates
                .retain(|c| provider_visible(&c.provider, tenant));
        }
        if r.groups.iter().all(|g| g.candidates.is_empty()) {
            return Err(GatewayError::ModelNotFound(model.to_owned()));
        }
        return Ok(r);
    }
    // Not in the catalogue: an alias may still stand for a name that is available,
    // discovered or sent to the default provider (`MODEL_MAPPINGS='{"claude":"gpt-4"}'`).
    let requested = model;
    let target = alias_target(model, &cat.aliases, &cfg.mappings);
    let source = if target == model {
        RouteSource::Discovery
    } else {
        RouteSource::Alias
    };
    let model = target.as_str();
    let available = cfg
        .available_models
        .iter()
        .chain(cat.registered.iter())
        .any(|m| m == model);
    if cfg.validate_models && !available {
        return Err(GatewayError::ModelNotFound(requested.to_owned()));
    }
    // Zero-config discovery: providers whose model list has this name (lists fetched
    // concurrently when not cached yet).
    let usable: Vec<_> = cat
        .providers
        .iter()
        .filter(|p| provider_usable(p, passthrough) && provider_visible(p, tenant))
        .collect();
    let lists = futures::future::join_all(usable.iter().map(|p| async move {
        if fetch {
            Some(gw.models.models_of(p).await)
        } else {
            gw.models.cached_models_of(p)
        }
    }))
    .await;
    let candidates: Vec<Candidate> = usable
        .iter()
        .zip(lists)
        .filter(|(_, l)| l.as_ref().is_some_and(|l| l.iter().any(|m| m == model)))
        .map(|(p, _)| Candidate::new((*p).clone(), model.to_owned(), None))
        .collect();
    if !candidates.is_empty() {
        return Ok(Route {
            resolved: model.into(),
            source,
            groups: vec![Group {
                label: model.into(),
                strategy: Strategy::WeightedRandom,
                selector: gw.selector(model),
                candidates,
            }],
        });
    }
    if (available || cfg.allow_unknown_models)
        && let Some(p) = gw.default_provider(passthrough)
        && provider_visible(&p, tenant)
    {
        return Ok(Route {
            resolved: model.into(),
            source,
            groups: vec![Group {
                label: model.into(),
                strategy: Strategy::Priority,
                selector: gw.selector(model),
                candidates: vec![Candidate::new(p, model.to_owned(), None)],
            }],
        });
    }
    Err(GatewayError::ModelNotFound(requested.to_owned()))
}

/// Whether any group of a route is balanced by price (its candidates then need `free`).
pub fn needs_prices(route: &Route) -> bool {
    route
        .groups
        .iter()
        .any(|g| g.strategy == Strategy::Cheapest)
}

/// The providers whose free credit the caller has not used up, among a route's candidates
/// (one state read; only for routes balanced by price).
pub async fn free_providers(gw: &Gateway, route: &Route, caller: &Caller) -> HashSet<String> {
    let Caller::Key(key) = caller else {
        return HashSet::new();
    };
    let mut probes = Vec::new();
    for c in route.groups.iter().flat_map(|g| &g.candidates) {
        if let Some(grant) = c.provider.free_credit {
            let granted = match grant {
                crate::policy::FreeCredit::Money { amount } => {
                    modelgate_store::state::to_nanos(amount).unwrap_or(0)
                }
                crate::policy::FreeCredit::Tokens { tokens }
                | crate::policy::FreeCredit::ModelTokens { tokens } => {
                    i64::try_from(tokens).unwrap_or(i64::MAX)
                }
            };
            let k =
                crate::ledger::grant_key(&key.key_id, &c.provider, c.model.as_ref(), Some(grant));
            probes.push((c.provider.id.clone(), k, granted));
        }
    }
    if probes.is_empty() {
        return HashSet::new();
    }
    let counters: Vec<modelgate_store::state::Counter> = probes
        .iter()
        .map(|(_, k, _)| modelgate_store::state::Counter::total(k.clone()))
        .collect();
    let used = gw
        .ledger
        .read(&counters, modelgate_store::now_ms())
        .await
        .unwrap_or_default();
    probes
        .into_iter()
        .zip(used)
        .filter(|((_, _, granted), used)| used < granted)
        .map(|((p, _, _), _)| p)
        .collect()
}

/// A candidate of the group being planned, with its id and health.
struct PlanRow<'c> {
    candidate: &'c Candidate,
    id: String,
    stats: Arc<UpstreamStats>,
    circuit: Circuit,
}

/// Orders a route's candidates: each group by its strategy (open circuits last), groups
/// in order, duplicates dropped, a healthy session pin first. `free` names the providers whose
/// free credit makes them free for this caller (used by `cheapest`).
pub fn plan(
    gw: &Gateway,
    route: &Route,
    session: Option<&str>,
    commit: bool,
    free: &HashSet<String>,
) -> Vec<Planned> {
    let hs = &gw.health.settings;
    let mut out: Vec<Planned> =
        Vec::with_capacity(route.groups.iter().map(|g| g.candidates.len()).sum());
    // Ids planned by earlier groups: a candidate is planned once, in its first group. The last
    // group adds none (nothing comes after it).
    let mut seen: HashSet<String, foldhash::fast::RandomState> = HashSet::default();
    let last = route.groups.len().saturating_sub(1);
    for (gi, g) in route.groups.iter().enumerate() {
        // One row per candidate not planned by an earlier group (duplicates within a group
        // are all kept, as before).
        let mut rows: Vec<PlanRow<'_>> = g
            .candidates
            .iter()
            .filter_map(|c| {
                let id = c.id();
                if seen.contains(&id) {
                    return None;
                }
                let stats = gw.health.upstream(&id);
                let circuit = stats.circuit(hs);
                Some(PlanRow {
                    candidate: c,
                    id,
                    stats,
                    circuit,
                })
            })
            .collect();
        // Rows the selector orders: those whose circuit is not open (all of them, usually, and
        // then the input index is the row index).
        let all_healthy = rows.iter().all(|r| r.circuit != Circuit::Open);
        let healthy: Vec<usize> = if all_healthy {
            Vec::new()
        } else {
            (0..rows.len())
                .filter(|&i| rows[i].circuit != Circuit::Open)
                .collect()
        };
        let row_of = |k: usize| if all_healthy { k } else { healthy[k] };
        let n_healthy = if all_healthy {
            rows.len()
        } else {
            healthy.len()
        };
        let inputs: Vec<Input> = (0..n_healthy)
            .map(|k| {
                let r = &mut rows[row_of(k)];
                let (in_flight, ewma_latency_ms, success_rate) = r.stats.snapshot();
                Input {
                    // The last group's ids are not needed after this: moved, not copied.
                    id: if gi == last {
                        std::mem::take(&mut r.id)
                    } else {
                        r.id.clone()
                    },
                    weight: r.candidate.weight,
                    priority: r.candidate.priority,
                    in_flight,
                    ewma_latency_ms,
                    success_rate,
                    price: effective_price(r.candidate, free),
                }
            })
            .collect();
        let (order, scores) = g.selector.order(g.strategy, &inputs, commit);
        let mut push = |r: &PlanRow<'_>, score: f64| {
            if gi != last {
                seen.insert(r.id.clone());
            }
            out.push(Planned {
                candidate: r.candidate.clone(),
                stats: r.stats.clone(),
                group: g.label.clone(),
                strategy: g.strategy,
                score,
                circuit: r.circuit,
                pinned: false,
            });
        };
        // `order` lists input indexes; `scores` is in input order.
        for k in order {
            push(&rows[row_of(k)], scores.get(k).copied().unwrap_or(0.0));
        }
        for r in rows.iter().filter(|r| r.circuit == Circuit::Open) {
            push(r, 0.0);
        }
    }
    if let Some(pin) = session.and_then(|s| gw.sessions.pin(s))
        && let Some(pos) = out.iter().position(|p| {
            p.candidate.provider.id == pin.provider_id
                && p.candidate.upstream_model == pin.upstream_model
                && p.circuit != Circuit::Open
        })
    {
        let mut p = out.remove(pos);
        p.pinned = true;
        out.insert(0, p);
    }
    out
}

/// What would happen to a request for `model`, without calling any upstream.
pub async fn decide(
    gw: &Gateway,
    model: &str,
    session: Option<&str>,
) -> Result<Decision, GatewayError> {
    let caller = Caller::Key(Arc::new(crate::keyring::KeyContext::internal(
        "routing-decide",
    )));
    let route = route(gw, model, &caller, false).await?;
    let plan = plan(gw, &route, session, false, &HashSet::new());
    let hs = &gw.health.settings;
    let candidates: Vec<DecisionCandidate> = plan
        .iter()
        .map(|p| {
            let v = p.stats.view(hs);
            DecisionCandidate {
                provider: p.candidate.provider.name.clone(),
                provider_id: p.candidate.provider.id.clone(),
                upstream_model: p.candidate.upstream_model.clone(),
                model_implementation_id: p.candidate.model.as_ref().map(|m| m.id.clone()),
                group: p.group.clone(),
                strategy: p.strategy,
                weight: p.candidate.weight,
                priority: p.candidate.priority,
                score: p.score,
                circuit: p.circuit,
                in_flight: v.in_flight,
                ewma_latency_ms: v.ewma_latency_ms,
                success_rate: v.success_rate,
                pinned: p.pinned,
            }
        })
        .collect();
    Ok(Decision {
        model: model.into(),
        resolved_model: route.resolved.clone(),
        source: route.source,
        chosen: candidates
            .iter()
            .find(|c| c.circuit != Circuit::Open)
            .cloned(),
        candidates,
        session: session.and_then(|s| gw.sessions.pin(s)),
    })
}

/// The aggregated model list visible to a caller: `(id, owned_by)`, sorted, unique.
pub async fn list_models(gw: &Gateway, caller: &Caller) -> Vec<(String, String)> {
    let cat = gw.catalogue();
    let tenant = caller.tenant_id();
    let mut out: Vec<(String, String)> = cat
        .model_names(tenant)
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    out.extend(
        cat.logical
            .values()
            .filter(|l| l.enabled)
            .map(|l| (l.name.clone(), "modelgate".to_owned())),
    );
    {
        let cfg = gw.routing.load();
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
            .filter(|p| provider_usable(p, false) && provider_visible(p, tenant))
            .map(|p| async move { (p.name.clone(), gw.models.models_of(p).await) }),
    )
    .await;
    for (provider, models) in lists {
        out.extend(models.iter().map(|m| (m.clone(), provider.clone())));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out.retain(|(m, _)| caller.allows_model(m));
    out
}

/// A candidate's price per million input + output tokens, 0 when free credit covers it.
fn effective_price(c: &Candidate, free: &HashSet<String>) -> Option<f64> {
    if free.contains(&c.provider.id) {
        return Some(0.0);
    }
    let p = &c.model.as_ref()?.pricing;
    let f = |d: Option<rust_decimal::Decimal>| {
        d.map_or(0.0, |d| d.to_string().parse::<f64>().unwrap_or(0.0))
    };
    Some(f(p.input) + f(p.output))
}
