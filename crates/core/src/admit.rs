//! Stage 4, admit: may this caller make this call now?
//!
//! Owns the per-key rules that do not depend on where the call goes: the key is enabled and
//! not expired, and the model is one it may use. Governance (rate limits, quotas, budgets,
//! balances, free credits) plugs in here: an `Admission` is what settle later corrects. Reads
//! only in-memory state; no I/O on the hot path.

use crate::call::{Call, Caller};
use crate::error::GatewayError;

/// What admission granted; handed to settle.
#[derive(Debug, Default)]
pub struct Admission {}

/// Admits a call or refuses it with the error the client should see.
pub fn admit(call: &Call, now_ms: i64) -> Result<Admission, GatewayError> {
    key_usable(&call.caller, now_ms)?;
    if !call.model.is_empty() && !call.caller.allows_model(&call.model) {
        return Err(GatewayError::Forbidden(format!(
            "This API key is not allowed to use the model `{}`",
            call.model
        )));
    }
    Ok(Admission::default())
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
