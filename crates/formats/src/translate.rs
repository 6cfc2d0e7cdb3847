//! Which upstream dialect serves which inbound dialect, as a table (DESIGN §2).
//!
//! For each inbound dialect an ordered list of upstream dialects; the first one a provider
//! speaks wins. The same dialect always comes first, so that same-dialect traffic passes
//! through unconverted.

use crate::dialect::Dialect;

/// The preference order of upstream dialects for requests arriving in `inbound`.
pub fn preference(inbound: Dialect) -> &'static [Dialect] {
    use Dialect::*;
    match inbound {
        OpenaiChat => &[OpenaiChat, Anthropic, Gemini, OpenaiResponses],
        OpenaiResponses => &[OpenaiResponses, OpenaiChat, Anthropic, Gemini],
        Anthropic => &[Anthropic, OpenaiChat, Gemini, OpenaiResponses],
        Gemini => &[Gemini, OpenaiChat, Anthropic, OpenaiResponses],
    }
}

/// The upstream dialect to use for `inbound` on a provider speaking `speaks` (in any order).
pub fn pick(inbound: Dialect, speaks: &[Dialect]) -> Option<Dialect> {
    preference(inbound)
        .iter()
        .copied()
        .find(|d| speaks.contains(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_dialect_first_then_the_table() {
        for d in Dialect::ALL {
            assert_eq!(preference(d)[0], d);
            assert_eq!(preference(d).len(), 4);
            assert_eq!(pick(d, &Dialect::ALL), Some(d));
        }
        assert_eq!(
            pick(Dialect::OpenaiResponses, &[Dialect::OpenaiChat]),
            Some(Dialect::OpenaiChat)
        );
        assert_eq!(
            pick(Dialect::Anthropic, &[Dialect::Gemini, Dialect::OpenaiChat]),
            Some(Dialect::OpenaiChat)
        );
        assert_eq!(pick(Dialect::Gemini, &[]), None);
    }
}
