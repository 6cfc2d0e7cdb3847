//! Serde wire structs of OpenAI Chat Completions (checked against openai-python
//! `types/chat/*`): what the decoders read, plus the small `TextOr` helper (a string or a list,
//! decoded without buffering) that the Anthropic codec reuses. Encoders write their own borrowed
//! structs next to the code that fills them.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// A JSON value that is either a string or an array of `T` (chat `content`, Anthropic
/// `system`/`content`), decoded straight from the input without an intermediate buffer.
#[derive(Debug)]
pub(crate) enum TextOr<T> {
    Text(String),
    Items(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = TextOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextOr::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(64));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TextOr::Items(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A field that should be a string but that some servers send as something else: kept when a
/// string, ignored otherwise.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// `stop`: a string or a list of strings.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<TextOr<String>>::deserialize(d)? {
        None => Vec::new(),
        Some(TextOr::Text(s)) => vec![s],
        Some(TextOr::Items(v)) => v,
    })
}

/// `POST /v1/chat/completions` body (`CompletionCreateParams`).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    #[serde(default)]
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Not OpenAI's, but accepted by many compatible servers (vLLM, Ollama…).
    pub top_k: Option<u64>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub stream: Option<bool>,
    pub response_format: Option<ChatResponseFormat>,
    pub reasoning_effort: Option<String>,
    pub tools: Option<Vec<ChatTool>>,
    pub tool_choice: Option<ChatToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    /// Legacy `functions` / `function_call`.
    pub functions: Option<Vec<ChatFunctionDef>>,
    pub function_call: Option<ChatToolChoice>,
    pub user: Option<String>,
    pub safety_identifier: Option<String>,
    pub prompt_cache_key: Option<String>,
    pub n: Option<u64>,
    pub logprobs: Option<bool>,
    // Understood, but with no canonical equivalent: named in `dropped` when present.
    pub top_logprobs: Option<IgnoredAny>,
    pub logit_bias: Option<IgnoredAny>,
    pub modalities: Option<IgnoredAny>,
    pub audio: Option<IgnoredAny>,
    pub prediction: Option<IgnoredAny>,
    pub service_tier: Option<IgnoredAny>,
    pub store: Option<IgnoredAny>,
    pub metadata: Option<IgnoredAny>,
    pub web_search_options: Option<IgnoredAny>,
    pub verbosity: Option<IgnoredAny>,
    pub prompt_cache_retention: Option<IgnoredAny>,
    pub stream_options: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<TextOr<ChatContentPart>>,
    pub tool_calls: Option<Vec<ChatToolCall>>,
    pub tool_call_id: Option<String>,
    pub function_call: Option<ChatFunctionCall>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub reasoning_content: Option<String>,
}

/// One content part (`text`, `image_url`, `input_audio`, `file`, `refusal`).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub refusal: Option<String>,
    pub image_url: Option<ChatImageUrl>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatImageUrl {
    pub url: String,
    pub detail: Option<String>,
}

/// A tool call in a message, a response or a stream delta (where every field may be missing).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatToolCall {
    pub index: Option<u32>,
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub function: Option<ChatFunctionCall>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatFunctionCall {
    pub name: Option<String>,
    pub arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: Option<ChatFunctionDef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatFunctionDef {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
}

/// `tool_choice`: `"auto" | "none" | "required"` or `{"type":"function","function":{"name"}}`
/// (legacy `function_call`: `"auto" | "none"` or `{"name"}`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ChatToolChoice {
    Mode(String),
    Named(ChatNamedChoice),
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatNamedChoice {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub function: Option<ChatChoiceName>,
    /// Legacy `function_call: {"name": …}`.
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatChoiceName {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    pub json_schema: Option<ChatJsonSchema>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatJsonSchema {
    #[serde(default)]
    pub name: String,
    pub schema: Option<Value>,
    pub strict: Option<bool>,
}

/// A whole `chat.completion` response.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChatChoice>,
    pub usage: Option<ChatUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatChoice {
    #[serde(default)]
    pub index: u32,
    pub message: Option<ChatResponseMessage>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub finish_reason: Option<String>,
}

/// A response `message` or a stream `delta`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChatResponseMessage {
    #[serde(default, deserialize_with = "lenient_string")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub refusal: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub reasoning_content: Option<String>,
    /// vLLM and OpenRouter name it `reasoning`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub reasoning: Option<String>,
    pub tool_calls: Option<Vec<ChatToolCall>>,
    pub function_call: Option<ChatFunctionCall>,
}

/// One `chat.completion.chunk` (or a mid-stream `{"error":…}`).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChatChunkChoice>,
    pub usage: Option<ChatUsage>,
    pub error: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Option<ChatResponseMessage>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub finish_reason: Option<String>,
}

/// Chat `usage` (`CompletionUsage`), with DeepSeek's `prompt_cache_hit_tokens` as a fallback
/// for `prompt_tokens_details.cached_tokens`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChatUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    pub prompt_tokens_details: Option<ChatPromptDetails>,
    pub completion_tokens_details: Option<ChatCompletionDetails>,
    #[serde(default)]
    pub prompt_cache_hit_tokens: u64,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChatPromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChatCompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl ChatUsage {
    pub fn to_canonical(&self) -> crate::canonical::Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(self.prompt_cache_hit_tokens);
        crate::canonical::Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cache_read_tokens: cached,
            cache_creation_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}
