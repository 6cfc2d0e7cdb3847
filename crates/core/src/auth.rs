//! Stage 2, auth: the presented credential → a `Caller`, from the in-memory key ring.
//!
//! Only who is calling is decided here; whether the key may do this (expiry, allowed models,
//! limits) is `admit`'s job. No I/O.

use crate::call::Caller;
use crate::error::GatewayError;
use crate::gateway::Gateway;

/// Authenticates a presented data-plane key.
pub fn authenticate(gw: &Gateway, presented: Option<&str>) -> Result<Caller, GatewayError> {
    let Some(token) = presented.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(GatewayError::Unauthorized(
            "Missing API key: send `Authorization: Bearer <key>`, `x-api-key: <key>` or `x-goog-api-key: <key>`".into(),
        ));
    };
    if let Some(k) = gw.keyring().get(token) {
        return Ok(Caller::Key(k.clone()));
    }
    if gw
        .catalogue()
        .providers
        .iter()
        .any(|p| p.passthrough_auth && p.enabled)
    {
        return Ok(Caller::Passthrough(token.to_owned()));
    }
    Err(GatewayError::Unauthorized(
        "Incorrect API key provided".into(),
    ))
}
