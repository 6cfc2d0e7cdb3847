//! Serde wire structs of the OpenAI Responses API (`/v1/responses`), checked against
//! `src/openai/types/responses` of openai/openai-python. Decode structs are flat (every field
//! optional, `type` as a string) so that items without `type` (easy input messages) and unknown
//! item types decode without failing; encode structs borrow and mirror the SDK types exactly.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reads `null` as the default (clients send `"tools": null` and the like).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `ResponseCreateParams`, as far as the codec reads it. Fields with no canonical home are read
/// as `IgnoredAny` only to name them in `dropped`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub input: Option<Input>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub tools: Vec<ToolWire>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub reasoning: Option<ReasoningWire>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    // Gateway concerns, read by `envelope`:
    #[serde(default)]
    pub store: Option<IgnoredAny>,
    #[serde(default)]
    pub include: Option<IgnoredAny>,
    // No canonical home: named in `dropped`.
    #[serde(default)]
    pub metadata: Option<IgnoredAny>,
    #[serde(default)]
    pub service_tier: Option<IgnoredAny>,
    #[serde(default)]
    pub client_metadata: Option<IgnoredAny>,
    #[serde(default)]
    pub safety_identifier: Option<IgnoredAny>,
    #[serde(default)]
    pub truncation: Option<IgnoredAny>,
    #[serde(default)]
    pub top_logprobs: Option<IgnoredAny>,
    #[serde(default)]
    pub background: Option<IgnoredAny>,
    #[serde(default)]
    pub conversation: Option<IgnoredAny>,
    #[serde(default)]
    pub prompt: Option<IgnoredAny>,
    #[serde(default)]
    pub max_tool_calls: Option<IgnoredAny>,
    #[serde(default)]
    pub stream_options: Option<IgnoredAny>,
    #[serde(default)]
    pub prompt_cache_retention: Option<IgnoredAny>,
}

/// `input`: a string, or a list of items.
#[derive(Debug)]
pub enum Input {
    Text(String),
    Items(Vec<Item>),
}

/// A string or a list, read in one pass (`#[serde(untagged)]` would buffer the whole value and
/// parse it twice).
struct TextOrList<T>(std::marker::PhantomData<T>);

enum TextOr<T> {
    Text(String),
    List(Vec<T>),
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for TextOrList<T> {
    type Value = TextOr<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or a list")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(TextOr::Text(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(TextOr::Text(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(TextOr::List(v))
    }
}

fn text_or_list<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<TextOr<T>, D::Error> {
    d.deserialize_any(TextOrList(std::marker::PhantomData))
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match text_or_list(d)? {
            TextOr::Text(t) => Input::Text(t),
            TextOr::List(v) => Input::Items(v),
        })
    }
}

/// Any input or output item, flat: `type` (absent for easy input messages) tells which fields
/// matter.
#[derive(Debug, Default, Deserialize)]
pub struct Item {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
    #[serde(default)]
    pub output: Option<MessageContent>,
    #[serde(default)]
    pub summary: Option<Vec<ContentPart>>,
    #[serde(default)]
    pub encrypted_content: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// Message `content` or `function_call_output.output`: a string or a list of parts.
#[derive(Debug)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match text_or_list(d)? {
            TextOr::Text(t) => MessageContent::Text(t),
            TextOr::List(v) => MessageContent::Parts(v),
        })
    }
}

/// A content part, flat (`input_text`, `output_text`, `input_image`, `input_file`, `refusal`,
/// `summary_text`, `reasoning_text`).
#[derive(Debug, Default, Deserialize)]
pub struct ContentPart {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ToolWire {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasoningWire {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    /// Deprecated alias of `summary`.
    #[serde(default)]
    pub generate_summary: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TextConfig {
    #[serde(default)]
    pub format: Option<FormatWire>,
    #[serde(default)]
    pub verbosity: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FormatWire {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// The fields of a Responses request the gateway itself acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `store` (the API default is `true` when absent).
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// `include`, e.g. `reasoning.encrypted_content`.
    #[serde(default, deserialize_with = "nullable")]
    pub include: Vec<String>,
}

/// A whole `Response` object, as decoded from an upstream.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseWire {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub output: Vec<Item>,
    #[serde(default)]
    pub usage: Option<UsageWire>,
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub error: Option<ResponseError>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct IncompleteDetails {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ResponseError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// `ResponseUsage`.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct UsageWire {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: TokensDetails,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub output_tokens_details: OutputTokensDetails,
    #[serde(default)]
    pub total_tokens: u64,
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct TokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

// ---- Encode side -------------------------------------------------------------------------

/// An output item as sent to clients (`ResponseOutputMessage`, `ResponseFunctionToolCall`,
/// `ResponseReasoningItem`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        status: &'static str,
        call_id: String,
        name: String,
        arguments: String,
    },
    Reasoning {
        id: String,
        summary: Vec<SummaryText>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

/// `ResponseOutputText`.
#[derive(Debug, Clone, Serialize)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: [(); 0],
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: [],
        }
    }
}

/// A reasoning `summary_text` part.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

impl SummaryText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "summary_text",
            text,
        }
    }
}

/// The `Response` object sent to clients (whole, and inside `response.*` stream events).
#[derive(Debug, Serialize)]
pub struct ResponseObject<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created_at: i64,
    pub status: &'a str,
    pub model: &'a str,
    pub output: &'a [OutputItem],
    pub parallel_tool_calls: bool,
    pub tool_choice: &'static str,
    pub tools: [(); 0],
    pub error: Option<&'a ResponseError>,
    pub incomplete_details: Option<&'a IncompleteDetails>,
    pub usage: Option<UsageWire>,
}
