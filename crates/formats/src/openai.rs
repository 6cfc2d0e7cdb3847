//! Typed views of the OpenAI wire format that the gateway reads.
//!
//! Only what the gateway needs: token usage (with cached and reasoning details) and a check
//! for the error shape. Bodies are otherwise passed through untouched.

use serde::{Deserialize, Serialize};

/// Token usage as OpenAI reports it (chat, completions, embeddings, responses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, alias = "input_tokens")]
    pub prompt_tokens: u64,
    #[serde(default, alias = "output_tokens")]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(
        default,
        alias = "input_tokens_details",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(
        default,
        alias = "output_tokens_details",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// The same numbers in canonical form.
    pub fn to_canonical(&self) -> crate::canonical::Usage {
        crate::canonical::Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cache_read_tokens: self.cached_tokens(),
            cache_creation_tokens: 0,
            reasoning_tokens: self.reasoning_tokens(),
        }
    }

    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details.map_or(0, |d| d.cached_tokens)
    }
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .map_or(0, |d| d.reasoning_tokens)
    }
    pub fn total(&self) -> u64 {
        if self.total_tokens > 0 {
            self.total_tokens
        } else {
            self.prompt_tokens.saturating_add(self.completion_tokens)
        }
    }
}

/// Reads `usage` from a whole (non-stream) response body without decoding the rest.
pub fn usage_of_body(body: &[u8]) -> Option<Usage> {
    let raw = crate::scan::member(body, b"usage")?;
    serde_json::from_slice::<Option<Usage>>(raw).ok()?
}

/// What a stream chunk says about usage.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChunkUsage {
    pub usage: Option<Usage>,
    /// Whether the chunk carried at least one choice (so it is not a usage-only chunk).
    pub has_choices: bool,
}

/// Reads the usage of a chat stream chunk. Cheap for chunks without usage: they are only
/// scanned for the `"usage"` key.
pub fn usage_of_chunk(data: &[u8]) -> Option<ChunkUsage> {
    if !crate::scan::mentions_usage(data) {
        return None;
    }
    #[derive(Deserialize)]
    struct ChunkView {
        #[serde(default)]
        usage: Option<Usage>,
        #[serde(default)]
        choices: Vec<serde::de::IgnoredAny>,
    }
    let v: ChunkView = serde_json::from_slice(data).ok()?;
    Some(ChunkUsage {
        usage: v.usage,
        has_choices: !v.choices.is_empty(),
    })
}

/// Whether a body already has the OpenAI error shape (so it can be passed through as is).
pub fn is_openai_error(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        error: ProbeDetail,
    }
    #[derive(Deserialize)]
    struct ProbeDetail {
        #[allow(dead_code)]
        message: String,
    }
    serde_json::from_slice::<Probe>(body).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_with_details() {
        let u = usage_of_body(br#"{"id":"x","usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#).unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.cached_tokens(),
                u.reasoning_tokens()
            ),
            (10, 5, 4, 2)
        );
    }

    #[test]
    fn chunk_usage() {
        assert_eq!(
            usage_of_chunk(br#"{"choices":[{"delta":{"content":"hi"}}]}"#),
            None
        );
        let c = usage_of_chunk(
            br#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        )
        .unwrap();
        assert!(!c.has_choices);
        assert_eq!(c.usage.unwrap().total(), 3);
        let c = usage_of_chunk(
            br#"{"choices":[{"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
        )
        .unwrap();
        assert!(c.has_choices);
        assert_eq!(c.usage.unwrap().total(), 3);
        let c = usage_of_chunk(br#"{"choices":[{"delta":{"content":"x"}}],"usage":null}"#).unwrap();
        assert_eq!(c.usage, None);
    }

    #[test]
    fn error_shape() {
        assert!(is_openai_error(br#"{"error":{"message":"m","type":"t"}}"#));
        assert!(!is_openai_error(b"oops"));
    }
}
