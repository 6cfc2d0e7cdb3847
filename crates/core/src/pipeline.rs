//! The request path, top to bottom (DESIGN §1): auth → decode → admit → route → dispatch →
//! respond → settle. This is the one place that calls the stages in order; each stage lives in
//! its own module and knows nothing of the others' internals.

use std::sync::Arc;

use crate::call::{Caller, Endpoint, Inbound};
use crate::gateway::Gateway;
use crate::reply::{self, Reply};
use crate::resolve::{Candidate, Group, Route, RouteSource};
use crate::settle::Settle;
use crate::strategy::Strategy;
use crate::{admit, auth, cache, conversation, count, decode, dispatch, respond, route};

/// Serves one data-plane request.
pub async fn handle(gw: &Arc<Gateway>, inbound: Inbound) -> Reply {
    let dialect = inbound.endpoint.reply_dialect();
    // 2. auth
    let caller = match auth::authenticate(gw, inbound.presented_key.as_deref()) {
        Ok(c) => c,
        Err(e) => return reply::error(dialect, &e),
    };
    // 3. decode
    let mut call = match decode::decode(inbound, caller) {
        Ok(c) => c,
        Err(e) => return reply::error(dialect, &e),
    };
    // A Responses `previous_response_id` brings its stored history into the input.
    if let Err(e) = conversation::expand(gw, &mut call).await {
        return reply::error(dialect, &e);
    }
    // settle opens here: from now on every outcome is recorded exactly once.
    let mut settle = Settle::begin(&gw.logger, &call, gw.settings.log_bodies);
    // 4. admit: the key's rules, and its limits reserved for the worst case
    match admit::admit(gw, &call, modelgate_store::now_ms()).await {
        Ok(Some(reservation)) => {
            let est = (call.raw.len() as u64).div_ceil(admit::BYTES_PER_TOKEN);
            settle.attach(&gw.ledger, reservation, est);
        }
        Ok(None) => {}
        Err(e) => {
            settle.finish(e.status(), None, Some(e.to_string()));
            return reply::error(dialect, &e);
        }
    }
    let limit_headers = settle.reply_headers();
    // 5. route
    let route = match route_of(gw, &call.model, &call.endpoint, &call.caller).await {
        Ok(r) => r,
        Err(e) => {
            settle.finish(e.status(), None, Some(e.to_string()));
            return reply::error(dialect, &e);
        }
    };
    // The response cache answers before any upstream is called.
    let cache_key = cache::key(gw, &call, &route.resolved);
    if let Some(k) = &cache_key {
        match cache::lookup(gw, &call, k, settle).await {
            Ok(mut hit) => {
                hit.headers.extend(limit_headers);
                return hit;
            }
            Err(s) => settle = s,
        }
    }
    let free = if route::needs_prices(&route) {
        route::free_providers(gw, &route, &call.caller).await
    } else {
        Default::default()
    };
    let plan = route::plan(gw, &route, call.session.as_deref(), true, &free);
    // Token counting with no upstream of the same dialect is answered locally.
    if call.endpoint.is_count_tokens()
        && !plan
            .iter()
            .any(|p| dispatch::can_count(&call, &p.candidate))
    {
        let r = match count::estimate(&call) {
            Ok(r) => r,
            Err(e) => reply::error(dialect, &e),
        };
        settle.note("token_estimate");
        settle.finish(r.status, None, None);
        return r;
    }
    // 6. dispatch, 7. respond (8. settle runs inside respond, when the reply is complete)
    let mut reply = match dispatch::dispatch(gw, &call, &plan, &mut settle).await {
        Ok(delivery) => respond::delivered(
            gw,
            &call,
            &route.resolved,
            delivery,
            settle,
            cache_key.as_deref(),
        ),
        Err(failure) => respond::failed(&call, failure, settle),
    };
    if cache_key.is_some() {
        reply.headers.push(("x-modelgate-cache", "miss".into()));
    }
    reply.headers.extend(limit_headers);
    reply
}

/// The route of a call: by model, or the default provider for passthrough calls naming none.
async fn route_of(
    gw: &Gateway,
    model: &str,
    endpoint: &Endpoint,
    caller: &Caller,
) -> Result<Route, crate::error::GatewayError> {
    if !model.is_empty() || !matches!(endpoint, Endpoint::Passthrough { .. }) {
        return route::route(gw, model, caller, true).await;
    }
    let provider = gw
        .default_provider(caller.is_passthrough())
        .filter(|p| crate::catalogue::provider_visible(p, caller.tenant_id()))
        .ok_or_else(|| {
            crate::error::GatewayError::bad_request(
                "No provider serves this request: name a `model`, or configure a default provider",
                Some("model"),
            )
        })?;
    Ok(Route {
        resolved: String::new(),
        source: RouteSource::Implementations,
        groups: vec![Group {
            label: format!("default:{}", provider.id),
            strategy: Strategy::Priority,
            selector: gw.selector("default"),
            candidates: vec![Candidate::new(provider, String::new(), None)],
        }],
    })
}

/// Whether a caller's key may be used at all now (for endpoints without a model).
pub fn caller_usable(gw: &Gateway, presented: Option<&str>) -> Result<Caller, Reply> {
    caller_usable_in(gw, presented, modelgate_formats::Dialect::OpenaiChat)
}

/// `caller_usable`, refusing in dialect `d`.
pub fn caller_usable_in(
    gw: &Gateway,
    presented: Option<&str>,
    d: modelgate_formats::Dialect,
) -> Result<Caller, Reply> {
    let caller = auth::authenticate(gw, presented).map_err(|e| reply::error(d, &e))?;
    admit::key_usable(&caller, modelgate_store::now_ms()).map_err(|e| reply::error(d, &e))?;
    Ok(caller)
}
