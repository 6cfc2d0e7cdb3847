//! Local token counting with a real tokenizer (`cl100k_base`, compiled in, no network): token
//! estimates for `count_tokens` on upstreams that have no counting endpoint, and for billing a
//! stream that ended before the upstream reported usage.

use std::sync::LazyLock;

static BPE: LazyLock<Option<tiktoken_rs::CoreBPE>> =
    LazyLock::new(|| tiktoken_rs::cl100k_base().ok());

/// Tokens of a text (a byte-based estimate if the tokenizer could not be built).
pub fn count(text: &str) -> u64 {
    match BPE.as_ref() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => (text.len() as u64).div_ceil(4),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_real_tokens() {
        assert_eq!(super::count(""), 0);
        let n = super::count("Hello, world! This is a test of the tokenizer.");
        assert!((8..=14).contains(&n), "{n}");
    }
}
