//! Carrying other dialects' signatures through Anthropic clients. Claude Code keeps thinking
//! blocks (with their `signature`) and sends them back unchanged, so when the upstream is Gemini
//! or OpenAI Responses the gateway puts that upstream's signature (a Gemini `thoughtSignature`,
//! Responses `encrypted_content`) in the thinking block's `signature`, sealed as
//! `mg1:<dialect>:<value>` — the same form the Responses codec uses; real Anthropic signatures
//! are base64 and never contain `:`. A Gemini function call's signature rides on an empty
//! thinking block placed just before its `tool_use`. Decoding unseals it back into that
//! dialect's `Signature`; the request encoder never sends a sealed value to Anthropic (it is not
//! Anthropic's signature, so the block is dropped by the usual rule).

use crate::canonical::{Part, Signature};
use crate::dialect::Dialect;

const PREFIX: &str = "mg1:";

/// A foreign signature as a thinking `signature`.
pub(crate) fn seal(sig: &Signature) -> String {
    format!("{PREFIX}{}:{}", sig.dialect.as_str(), sig.value)
}

/// The signature to show an Anthropic client for a reasoning part that is not Anthropic's:
/// its foreign signature, else its foreign encrypted content, sealed.
pub(crate) fn foreign_of(
    signature: &Option<Signature>,
    encrypted: &Option<Signature>,
) -> Option<String> {
    signature
        .as_ref()
        .or(encrypted.as_ref())
        .filter(|s| s.dialect != Dialect::Anthropic)
        .map(seal)
}

/// A thinking block's `(signature, encrypted)`: Anthropic's own, or an unsealed foreign one
/// (Responses content goes to `encrypted`, other dialects' to `signature`).
pub(crate) fn thinking_fields(value: String) -> (Option<Signature>, Option<Signature>) {
    if let Some(rest) = value.strip_prefix(PREFIX)
        && let Some((d, v)) = rest.split_once(':')
        && let Ok(dialect) = d.parse::<Dialect>()
        && dialect != Dialect::Anthropic
    {
        let sig = Signature {
            dialect,
            value: v.to_owned(),
        };
        return if dialect == Dialect::OpenaiResponses {
            (None, Some(sig))
        } else {
            (Some(sig), None)
        };
    }
    (
        Some(Signature {
            dialect: Dialect::Anthropic,
            value,
        }),
        None,
    )
}

/// Moves a Gemini signature carried by an empty reasoning part onto the tool call that follows
/// it (where Gemini wants it back), removing the carrier.
pub(crate) fn reattach_tool_signatures(parts: &mut Vec<Part>) {
    let mut i = 0;
    while i + 1 < parts.len() {
        let carrier = match (&parts[i], &parts[i + 1]) {
            (
                Part::Reasoning {
                    text,
                    signature: Some(s),
                    encrypted: None,
                    ..
                },
                Part::ToolCall {
                    signature: None, ..
                },
            ) if text.is_empty() && s.dialect == Dialect::Gemini => Some(s.clone()),
            _ => None,
        };
        if let Some(s) = carrier {
            if let Some(Part::ToolCall { signature, .. }) = parts.get_mut(i + 1) {
                *signature = Some(s);
            }
            parts.remove(i);
        } else {
            i += 1;
        }
    }
}
