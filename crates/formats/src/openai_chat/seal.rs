//! Carrying a Gemini function call's `thoughtSignature` through chat clients. Gemini 3 rejects
//! a conversation whose earlier function calls come back without their signatures, and chat has
//! no field for them, but clients send tool-call ids back unchanged: the id shown to a chat
//! client is `<id>|mg1:<dialect>:<signature>` (the `mg1:` form of the other codecs), and decoding
//! a request splits it back into the id and the signature — on the tool call and on the tool
//! results that answer it. Request encoders send only the plain id upstream.

use std::borrow::Cow;

use crate::canonical::Signature;
use crate::dialect::Dialect;

const SEP: &str = "|mg1:";

/// The id to show a chat client for a tool call with this signature.
pub(crate) fn seal_id<'a>(id: &'a str, signature: &Option<Signature>) -> Cow<'a, str> {
    match signature {
        Some(s) => Cow::Owned(format!("{id}{SEP}{}:{}", s.dialect.as_str(), s.value)),
        None => Cow::Borrowed(id),
    }
}

/// A client's tool-call id → the plain id and the signature sealed in it, if any.
pub(crate) fn unseal_id(id: String) -> (String, Option<Signature>) {
    if let Some(pos) = id.find(SEP)
        && let Some((d, v)) = id.get(pos + SEP.len()..).and_then(|r| r.split_once(':'))
        && let Ok(dialect) = d.parse::<Dialect>()
    {
        let sig = Signature {
            dialect,
            value: v.to_owned(),
        };
        let mut plain = id;
        plain.truncate(pos);
        return (plain, Some(sig));
    }
    (id, None)
}
