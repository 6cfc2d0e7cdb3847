//! Carrying other dialects' signatures through Responses clients. A Responses client (Codex)
//! keeps reasoning items' `encrypted_content` and sends it back unchanged, so when the upstream
//! is Anthropic or Gemini the gateway puts that upstream's signature there, sealed as
//! `mg1:<dialect>:<value>` (real OpenAI encrypted content never starts with `mg1:`). Decoding
//! unseals it back into a `Signature` of that dialect; the Responses request encoder never sends
//! a sealed value to an OpenAI upstream (it is not that dialect's).

use crate::canonical::Signature;
use crate::dialect::Dialect;

const PREFIX: &str = "mg1:";

/// Whether a Responses request body may replay sealed foreign signatures (`"mg1:` anywhere in
/// it; a false positive only costs a conversion). Such a body must not pass through unconverted
/// to an OpenAI upstream, which would reject the sealed `encrypted_content`; decoding and
/// re-encoding drops them by the usual rule.
pub fn carries_sealed(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"\"mg1:").is_some()
}

/// A foreign signature as `encrypted_content`.
pub(crate) fn seal(sig: &Signature) -> String {
    format!("{PREFIX}{}:{}", sig.dialect.as_str(), sig.value)
}

/// What an `encrypted_content` value stands for.
pub(crate) enum Unsealed {
    /// Real Responses encrypted reasoning.
    Responses(Signature),
    /// A signature of another dialect that the gateway sealed.
    Foreign(Signature),
}

pub(crate) fn unseal(value: String) -> Unsealed {
    if let Some(rest) = value.strip_prefix(PREFIX)
        && let Some((d, v)) = rest.split_once(':')
        && let Ok(dialect) = d.parse::<Dialect>()
        && dialect != Dialect::OpenaiResponses
    {
        return Unsealed::Foreign(Signature {
            dialect,
            value: v.to_owned(),
        });
    }
    Unsealed::Responses(Signature {
        dialect: Dialect::OpenaiResponses,
        value,
    })
}

/// `(signature, encrypted)` of a reasoning part from an item's `encrypted_content`.
pub(crate) fn reasoning_fields(enc: Option<String>) -> (Option<Signature>, Option<Signature>) {
    match enc.map(unseal) {
        Some(Unsealed::Foreign(s)) => (Some(s), None),
        Some(Unsealed::Responses(s)) => (None, Some(s)),
        None => (None, None),
    }
}

/// The `encrypted_content` to show a Responses client for a reasoning part: Responses
/// encrypted content as is, else the sealed signature of the dialect that produced it.
pub(crate) fn client_encrypted(
    signature: Option<&Signature>,
    encrypted: Option<&Signature>,
) -> Option<String> {
    match (encrypted, signature) {
        (Some(e), _) if e.dialect == Dialect::OpenaiResponses => Some(e.value.clone()),
        (Some(e), _) => Some(seal(e)),
        (None, Some(s)) if s.dialect != Dialect::OpenaiResponses => Some(seal(s)),
        _ => None,
    }
}
