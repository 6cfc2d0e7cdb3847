//! The gateway's own request, response, stream-event and error types: a superset of the four
//! dialects, so that each dialect needs one decoder and one encoder instead of one converter
//! per pair (DESIGN §2 "Dialect conversion").
//!
//! Conventions every codec follows:
//! - **System prompt**: `Request::system` holds the leading system/developer instructions
//!   (Anthropic `system`, Gemini `systemInstruction`, Responses `instructions`, chat leading
//!   `system`/`developer` messages). A system message in the middle of a conversation stays a
//!   `Role::System` message; encoders whose dialect cannot express it merge it into the next user
//!   turn as text (documented rule, recorded in `Request::dropped` as `system_mid_conversation`).
//! - **Tool results** are `Part::ToolResult` parts of a `Role::User` message (Anthropic's model).
//!   Chat `role: "tool"` messages, Gemini `functionResponse` parts and Responses
//!   `function_call_output` items decode into that shape; encoders split them back out.
//! - **Tool-call arguments** are JSON text (`arguments`), exactly as received; encoders that need
//!   an object (Anthropic `input`, Gemini `args`) parse it, and an unparsable one becomes `{}` with a
//!   note in `dropped`.
//! - **Usage**: `input_tokens` counts every input token, cached ones included (OpenAI's
//!   convention); `cache_read_tokens` and `cache_creation_tokens` are parts of it.
//!   `output_tokens` counts every output token, reasoning included; `reasoning_tokens` is part of
//!   it. Anthropic's `input_tokens` (which excludes cache reads and writes) and Gemini's
//!   `candidatesTokenCount` (which excludes `thoughtsTokenCount`) are converted on the way in and out.
//! - **Opaque signatures** (Anthropic thinking `signature`, Gemini `thoughtSignature`, Responses
//!   `encrypted_content`) carry the dialect that produced them; an encoder emits a signature only
//!   to its own dialect and otherwise drops it (an Anthropic thinking block without a valid
//!   signature is dropped whole, because the API rejects it).
//! - **Dropped fields**: whatever a decoder or encoder cannot express is named in
//!   `Request::dropped` (e.g. `"anthropic.context_management"`), never forwarded in a form that
//!   would make the upstream answer 400. The gateway writes the list to the request log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dialect::Dialect;

pub mod error;
pub use error::{ConvertError, ErrorInfo, ErrorKind};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A system message in the middle of a conversation (leading ones live in `Request::system`).
    System,
    User,
    Assistant,
}

/// An opaque token that only the dialect that produced it understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub dialect: Dialect,
    pub value: String,
}

/// Where image bytes come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Part {
    Text {
        text: String,
        /// Anthropic `cache_control`, kept for Anthropic upstreams; other encoders ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
        /// Gemini may sign text parts too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Signature>,
    },
    Image {
        source: ImageSource,
        /// OpenAI `detail` (`low`, `high`, `auto`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The model asks for a tool (function) call.
    ToolCall {
        id: String,
        name: String,
        /// JSON text of the arguments, as produced.
        arguments: String,
        /// Gemini `thoughtSignature` on a `functionCall` part.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Signature>,
    },
    /// The answer to a tool call.
    ToolResult {
        call_id: String,
        /// The function's name, when known (Gemini's `functionResponse` needs it; decoders of
        /// dialects without it look it up in earlier tool calls of the conversation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Text and image parts.
        content: Vec<Part>,
        #[serde(default)]
        is_error: bool,
    },
    /// Model reasoning ("thinking").
    Reasoning {
        /// The visible reasoning text or summary (may be empty when only a signature came).
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Signature>,
        /// Anthropic `redacted_thinking` data, or Responses `encrypted_content` (with
        /// `signature.dialect` telling which), when the reasoning is not readable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted: Option<Signature>,
        /// The reasoning item's id (Responses `rs_…`), when the dialect has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

impl Part {
    pub fn text(t: impl Into<String>) -> Self {
        Part::Text {
            text: t.into(),
            cache_control: None,
            signature: None,
        }
    }
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (`{"type":"object",...}`).
    pub parameters: Value,
    /// OpenAI `strict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Anthropic `cache_control` on the tool definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// Which tool the model must use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called (OpenAI `required`, Anthropic `any`, Gemini mode `ANY`).
    Required,
    /// This tool must be called.
    Tool {
        name: String,
    },
}

/// Output format constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ResponseFormat {
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        name: String,
        schema: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// How hard the model should think.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
}

/// Reasoning settings. Conversion rules (documented in docs/dialects.md):
/// OpenAI `reasoning_effort` / Responses `reasoning.effort` ↔ `effort`; Anthropic
/// `thinking.budget_tokens` and Gemini `thinkingConfig.thinkingBudget` ↔ `budget_tokens`.
/// When only one is given the other is derived: minimal 1024 (Anthropic's minimum), low 2048,
/// medium 8192, high 24576 tokens; a budget maps to the nearest effort at or above it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// Reasoning switched off explicitly (Anthropic `thinking.type = disabled`, Gemini budget 0).
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u64>,
    /// Whether reasoning text/summaries should be returned (Gemini `includeThoughts`,
    /// Responses `reasoning.summary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

impl Effort {
    /// The thinking budget this effort stands for (see `Reasoning`): minimal 1024, low 2048,
    /// medium 8192, high 24576 tokens.
    pub fn budget_tokens(self) -> u64 {
        match self {
            Effort::Minimal => 1024,
            Effort::Low => 2048,
            Effort::Medium => 8192,
            Effort::High => 24576,
        }
    }

    /// The nearest effort whose budget is at or above `budget` (high for anything larger).
    pub fn from_budget(budget: u64) -> Effort {
        [Effort::Minimal, Effort::Low, Effort::Medium]
            .into_iter()
            .find(|e| budget <= e.budget_tokens())
            .unwrap_or(Effort::High)
    }
}

impl Reasoning {
    /// The effort, given or derived from the budget; `None` when disabled or unspecified.
    pub fn effort_or_derived(&self) -> Option<Effort> {
        if self.disabled {
            return None;
        }
        self.effort
            .or_else(|| self.budget_tokens.map(Effort::from_budget))
    }

    /// The budget, given or derived from the effort; `None` when disabled or unspecified.
    pub fn budget_or_derived(&self) -> Option<u64> {
        if self.disabled {
            return None;
        }
        self.budget_tokens
            .or_else(|| self.effort.map(Effort::budget_tokens))
    }
}

/// A request in canonical form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The model name as the client sent it (Gemini: taken from the URL by the caller).
    pub model: String,
    /// Leading system instructions, in order.
    #[serde(default)]
    pub system: Vec<Part>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// An end-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Responses/Chat `prompt_cache_key` (also the gateway's session id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    /// What could not be expressed, by decoder or encoder, as `dialect.field` names.
    #[serde(default)]
    pub dropped: Vec<String>,
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Natural end (chat `stop`, Anthropic `end_turn`, Gemini `STOP`, Responses `completed`).
    EndTurn,
    /// Hit `max_tokens` (chat `length`, Anthropic `max_tokens`, Gemini `MAX_TOKENS`,
    /// Responses `incomplete` with `max_output_tokens`).
    MaxTokens,
    /// A stop sequence matched (chat `stop`, Anthropic `stop_sequence`).
    StopSequence,
    /// The model called tools (chat `tool_calls`, Anthropic `tool_use`).
    ToolUse,
    /// Refused or filtered (chat `content_filter`, Anthropic `refusal`, Gemini `SAFETY`…).
    ContentFilter,
    /// Anything else, with the upstream's word for it.
    Other(String),
}

/// Token usage (see the module doc for what each number includes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_creation_tokens: u64,
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
    /// Takes every field the other reports (non-zero), keeping ours otherwise. Streams report
    /// usage in pieces (Anthropic: input in `message_start`, output in `message_delta`).
    pub fn merge(&mut self, other: &Usage) {
        let take = |mine: &mut u64, theirs: u64| {
            if theirs > 0 {
                *mine = theirs;
            }
        };
        take(&mut self.input_tokens, other.input_tokens);
        take(&mut self.output_tokens, other.output_tokens);
        take(&mut self.cache_read_tokens, other.cache_read_tokens);
        take(&mut self.cache_creation_tokens, other.cache_creation_tokens);
        take(&mut self.reasoning_tokens, other.reasoning_tokens);
    }
}

/// A whole (non-stream) response in canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The upstream's id for this response, if it gave one.
    pub id: String,
    pub model: String,
    /// The assistant's output: text, reasoning and tool calls, in order.
    pub content: Vec<Part>,
    pub stop_reason: StopReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// One event of a stream in canonical form. Decoders emit these from upstream events;
/// encoders turn them into the client's events, tracking block indices themselves.
///
/// Ordering contract for decoders: `Start` first (once); content events in the order produced;
/// then any `Usage`, then `Stop` (once), then nothing. Consecutive `TextDelta`s (or
/// `ReasoningDelta`s) belong to one block; a different kind of event closes it. Tool calls are
/// identified by `index`, the tool call's ordinal in this response (0, 1, …), so that encoders can
/// keep parallel calls apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    TextDelta {
        text: String,
    },
    /// A signature for the text block just streamed (Gemini).
    TextSignature {
        signature: Signature,
    },
    ReasoningDelta {
        text: String,
    },
    /// The end of a reasoning block: its signature and/or encrypted content.
    ReasoningEnd {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Signature>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted: Option<Signature>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Signature>,
    },
    ToolCallDelta {
        index: u32,
        /// A fragment of the arguments' JSON text.
        arguments: String,
    },
    ToolCallEnd {
        index: u32,
    },
    /// Usage so far (merged by the receiver with `Usage::merge`).
    Usage {
        usage: Usage,
    },
    Stop {
        reason: StopReason,
    },
    /// The upstream reported an error mid-stream.
    Error {
        error: ErrorInfo,
    },
}

/// Turns one dialect's upstream stream into canonical events. Implementations are state
/// machines fed one SSE event (or, for framings without SSE, one JSON value) at a time.
pub trait StreamDecoder: Send {
    /// Feeds one SSE event: its `event:` name (if any) and its `data:` payload.
    fn push(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ConvertError>;
    /// The upstream stream ended; emits what is still pending (e.g. a `Stop` never sent).
    fn finish(&mut self, out: &mut Vec<StreamEvent>);
}

/// Turns canonical events into one dialect's client stream bytes (SSE, or Gemini's JSON array
/// when the client did not ask for `alt=sse`).
pub trait StreamEncoder: Send {
    /// Encodes one event, appending complete wire bytes to `out`.
    fn push(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
    /// The stream ended (after `Stop` or abruptly): closes open blocks and writes the trailer
    /// (`[DONE]`, `message_stop`, `]`, `response.completed`…). Called exactly once.
    fn finish(&mut self, out: &mut Vec<u8>);
}

/// Options for encoding a request to an upstream.
#[derive(Debug, Clone, Default)]
pub struct EncodeOptions {
    /// The model name the upstream expects (replaces `Request::model`).
    pub model: String,
    pub stream: bool,
    /// `max_tokens` to send when the request has none and the dialect requires it (Anthropic):
    /// the model's configured default, else 4096.
    pub default_max_tokens: Option<u64>,
    /// Ask for usage in streams where the dialect makes it optional (chat `stream_options`).
    pub include_usage: bool,
}

/// Options for encoding a response (or stream) to a client.
#[derive(Debug, Clone, Default)]
pub struct ResponseOptions {
    /// The model name to show the client (the one it asked for).
    pub model: String,
    /// The response id to show (the gateway's, when the upstream's cannot be used).
    pub id: Option<String>,
    /// Unix seconds of creation (chat `created`, Responses `created_at`).
    pub created: i64,
    /// Gemini stream framing: `true` for `alt=sse`, `false` for the JSON array.
    pub sse: bool,
    /// Chat streams: whether the client asked for the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
}
