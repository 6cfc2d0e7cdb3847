//! Stage 4, admit: may this caller make this call now?
//!
//! Owns the per-key rules: the key is enabled and not expired, the model is one it may use,
//! and its rate limits, concurrency and quotas have room for the request's worst case, which is
//! reserved (`ledger::reserve_request`) for settle to correct. Money is reserved per candidate
//! when dispatch gets to it (its price is the candidate's). The only I/O is the state backend
//! (in-process by default, Redis when shared).

use crate::call::{Call, CallBody, Caller};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::ledger::Reservation;

/// Input tokens are estimated as body bytes divided by this for the worst case (settle
/// corrects with the real count).
pub const BYTES_PER_TOKEN: u64 = 3;

/// Admits a call or refuses it with the error the client should see; returns what was
/// reserved (nothing for callers without limits).
pub async fn admit(
    gw: &Gateway,
    call: &Call,
    now_ms: i64,
) -> Result<Option<Reservation>, GatewayError> {
    key_usable(&call.caller, now_ms)?;
    if !call.model.is_empty() && !call.caller.allows_model(&call.model) {
        return Err(GatewayError::Forbidden(format!(
            "This API key is not allowed to use the model `{}`",
            call.model
        )));
    }
    let Caller::Key(key) = &call.caller else {
        return Ok(None);
    };
    let counted = matches!(call.body, CallBody::Json(_));
    let est_input = if counted {
        (call.raw.len() as u64).div_ceil(BYTES_PER_TOKEN)
    } else {
        0
    };
    let r = gw
        .ledger
        .reserve_request(key, &call.request_id, est_input, call.max_tokens, now_ms)
        .await?;
    Ok(Some(r))
}

/// The key is enabled and not expired.
pub fn key_usable(caller: &Caller, now_ms: i64) -> Result<(), GatewayError> {
    if let Caller::Key(k) = caller {
        if !k.enabled {
            return Err(GatewayError::Unauthorized(
                "This API key is disabled".into(),
            ));
        }
        if k.expires_at_ms.is_some_and(|e| e <= now_ms) {
            return Err(GatewayError::Unauthorized(
                "This API key has expired".into(),
            ));
        }
    }
    Ok(())
}
