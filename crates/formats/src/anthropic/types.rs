//! Serde wire structs of the Anthropic Messages API that the decoders read (checked against
//! anthropic-sdk-python `types/`: `message_create_params`, `message_param`, content block
//! params, `message`, `usage`, `message_delta_usage`, `raw_*_event`). Content blocks are one
//! flat struct keyed by `type` so that unknown block types are named, not rejected.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::canonical::Usage;
use crate::openai_chat::types::{TextOr, lenient_string};

/// `POST /v1/messages` body.
#[derive(Debug, Deserialize)]
pub(crate) struct AnthRequest {
    #[serde(default)]
    pub model: String,
    pub max_tokens: Option<u64>,
    pub messages: Vec<AnthMessage>,
    pub system: Option<TextOr<AnthBlock>>,
    pub tools: Option<Vec<AnthTool>>,
    pub tool_choice: Option<AnthToolChoice>,
    pub thinking: Option<AnthThinking>,
    pub output_config: Option<AnthOutputConfig>,
    pub metadata: Option<AnthMetadata>,
    pub stop_sequences: Option<Vec<String>>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stream: Option<bool>,
    // Understood, but with no canonical equivalent: named in `dropped` when present.
    pub context_management: Option<IgnoredAny>,
    pub service_tier: Option<IgnoredAny>,
    pub container: Option<IgnoredAny>,
    pub mcp_servers: Option<IgnoredAny>,
    pub inference_geo: Option<IgnoredAny>,
    pub cache_control: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthMessage {
    pub role: String,
    pub content: TextOr<AnthBlock>,
}

/// Any content block (request, response or `content_block_start`).
#[derive(Debug, Deserialize)]
pub(crate) struct AnthBlock {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub text: Option<String>,
    pub cache_control: Option<Value>,
    pub source: Option<AnthSource>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub input: Option<Box<RawValue>>,
    pub tool_use_id: Option<String>,
    pub content: Option<TextOr<AnthBlock>>,
    pub is_error: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub thinking: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub signature: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub data: Option<String>,
}

/// Image source: `base64` (`media_type`, `data`), `url` (`url`) or `file` (`file_id`).
#[derive(Debug, Deserialize)]
pub(crate) struct AnthSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub media_type: Option<String>,
    pub data: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthTool {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
    pub cache_control: Option<Value>,
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthThinking {
    #[serde(rename = "type")]
    pub kind: String,
    pub budget_tokens: Option<u64>,
    pub display: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthOutputConfig {
    pub effort: Option<String>,
    pub format: Option<AnthFormat>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthFormat {
    #[serde(rename = "type")]
    pub kind: String,
    pub schema: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthMetadata {
    #[serde(default, deserialize_with = "lenient_string")]
    pub user_id: Option<String>,
}

/// A whole `message` response.
#[derive(Debug, Deserialize)]
pub(crate) struct AnthResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<AnthBlock>,
    pub stop_reason: Option<String>,
    pub usage: Option<AnthUsage>,
}

/// `usage` of a message, of `message_start` and (cumulative, all optional but
/// `output_tokens`) of `message_delta`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct AnthUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    pub output_tokens_details: Option<AnthOutputDetails>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct AnthOutputDetails {
    pub thinking_tokens: Option<u64>,
}

impl AnthUsage {
    /// Later reports replace earlier ones field by field (`message_delta` is cumulative).
    pub fn merge(&mut self, o: &AnthUsage) {
        fn take(mine: &mut Option<u64>, theirs: Option<u64>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        take(&mut self.input_tokens, o.input_tokens);
        take(&mut self.output_tokens, o.output_tokens);
        take(
            &mut self.cache_creation_input_tokens,
            o.cache_creation_input_tokens,
        );
        take(&mut self.cache_read_input_tokens, o.cache_read_input_tokens);
        if o.output_tokens_details.is_some() {
            self.output_tokens_details = o.output_tokens_details;
        }
    }

    /// Canonical usage: input includes cache reads and writes (Anthropic's excludes them). When
    /// `input_tokens` is absent (a `message_delta` without it) the input stays 0 so that a merge
    /// keeps the earlier figure.
    pub fn canonical(self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let created = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self.input_tokens.map_or(0, |i| i + read + created),
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_read_tokens: read,
            cache_creation_tokens: created,
            reasoning_tokens: self
                .output_tokens_details
                .and_then(|d| d.thinking_tokens)
                .unwrap_or(0),
        }
    }
}

/// One stream event's `data`.
#[derive(Debug, Deserialize)]
pub(crate) struct AnthEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: Option<AnthStreamMessage>,
    pub index: Option<u32>,
    pub content_block: Option<AnthBlock>,
    pub delta: Option<AnthDelta>,
    pub usage: Option<AnthUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnthStreamMessage {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    pub usage: Option<AnthUsage>,
}

/// `content_block_delta.delta` or `message_delta.delta`.
#[derive(Debug, Deserialize)]
pub(crate) struct AnthDelta {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub thinking: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub signature: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub partial_json: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub stop_reason: Option<String>,
}
