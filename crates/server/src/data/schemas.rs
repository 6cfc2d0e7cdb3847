//! OpenAPI schemas of the data plane's request, response and error bodies in the four
//! dialects. Documentation only: the gateway itself reads bodies with the codecs of
//! `modelgate_formats`, which accept every field listed here (and pass unknown ones through
//! when no conversion is needed). Fields are the commonly used subset of each provider's API.

#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;

// ---- OpenAI Chat Completions ---------------------------------------------------------------

/// One chat message. `content` is a string or an array of parts
/// (`{"type":"text","text":…}`, `{"type":"image_url","image_url":{"url":…}}`).
#[derive(ToSchema)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    role: String,
    content: Option<Value>,
    name: Option<String>,
    /// Assistant tool calls: `[{"id","type":"function","function":{"name","arguments"}}]`.
    tool_calls: Option<Vec<Value>>,
    /// For `role: tool`: the call this answers.
    tool_call_id: Option<String>,
    /// Reasoning text (DeepSeek-style), also returned by modelgate for converted reasoning.
    reasoning_content: Option<String>,
}

/// `POST /v1/chat/completions`.
#[derive(ToSchema)]
pub struct ChatCompletionRequest {
    model: String,
    messages: Vec<ChatMessage>,
    stream: Option<bool>,
    /// `{"include_usage": true}` to get the usage chunk at the end of a stream.
    stream_options: Option<Value>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    /// A string or up to four strings.
    stop: Option<Value>,
    /// `[{"type":"function","function":{"name","description","parameters"}}]`.
    tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required` or `{"type":"function","function":{"name"}}`.
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    /// `{"type":"text"|"json_object"}` or `{"type":"json_schema","json_schema":{"name","schema","strict"}}`.
    response_format: Option<Value>,
    /// `minimal`, `low`, `medium` or `high`.
    reasoning_effort: Option<String>,
    user: Option<String>,
    seed: Option<i64>,
    /// Sticky-session id (also `X-Session-Id`).
    prompt_cache_key: Option<String>,
}

#[derive(ToSchema)]
pub struct ChatChoice {
    index: u32,
    message: ChatMessage,
    /// `stop`, `length`, `tool_calls` or `content_filter`.
    finish_reason: Option<String>,
}

/// Token usage in the OpenAI shape.
#[derive(ToSchema)]
pub struct ChatUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    /// `{"cached_tokens": N}`.
    prompt_tokens_details: Option<Value>,
    /// `{"reasoning_tokens": N}`.
    completion_tokens_details: Option<Value>,
}

/// A chat completion (streams send `chat.completion.chunk` objects with `delta` instead of
/// `message`, then `data: [DONE]`).
#[derive(ToSchema)]
pub struct ChatCompletion {
    id: String,
    /// `chat.completion`.
    object: String,
    created: i64,
    model: String,
    choices: Vec<ChatChoice>,
    usage: Option<ChatUsage>,
}

/// `POST /v1/embeddings`.
#[derive(ToSchema)]
pub struct EmbeddingsRequest {
    model: String,
    /// A string, an array of strings, or token arrays.
    input: Value,
    encoding_format: Option<String>,
    dimensions: Option<u32>,
}

/// The OpenAI error shape (Chat, Responses, embeddings, and every admin endpoint).
#[derive(ToSchema)]
pub struct OpenAiError {
    /// `{"message","type","param","code"}`; e.g. code `rate_limit_exceeded`, `model_not_found`.
    error: Value,
}

// ---- OpenAI Responses ----------------------------------------------------------------------

/// `POST /v1/responses`.
#[derive(ToSchema)]
pub struct ResponsesRequest {
    model: String,
    /// A string or input items: `message` (`input_text`, `input_image`, `output_text` parts),
    /// `function_call`, `function_call_output`, `reasoning` (with `encrypted_content`).
    input: Value,
    instructions: Option<String>,
    stream: Option<bool>,
    /// Function tools: `[{"type":"function","name","description","parameters","strict"}]`.
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    max_output_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    /// `{"effort": "low"|"medium"|"high", "summary": "auto"}`.
    reasoning: Option<Value>,
    /// `{"format": {"type":"json_schema", …}}`.
    text: Option<Value>,
    /// Whether modelgate may keep the response for `previous_response_id` (default true).
    store: Option<bool>,
    /// e.g. `["reasoning.encrypted_content"]`.
    include: Option<Vec<String>>,
    previous_response_id: Option<String>,
    prompt_cache_key: Option<String>,
}

/// A response object (streams send `response.created`, `response.output_item.added`,
/// `response.content_part.added`, `response.output_text.delta`, …, `response.completed`).
#[derive(ToSchema)]
pub struct ResponseObject {
    id: String,
    /// `response`.
    object: String,
    created_at: i64,
    /// `completed`, `incomplete`, `failed`, `in_progress`.
    status: String,
    model: String,
    /// `message`, `function_call` and `reasoning` items.
    output: Vec<Value>,
    /// `{"input_tokens","input_tokens_details":{"cached_tokens"},"output_tokens","output_tokens_details":{"reasoning_tokens"},"total_tokens"}`.
    usage: Option<Value>,
}

// ---- Anthropic Messages --------------------------------------------------------------------

/// One message. `content` is a string or blocks: `text` (with `cache_control`), `image`,
/// `tool_use`, `tool_result` (with `is_error`), `thinking` (with `signature`), `redacted_thinking`.
#[derive(ToSchema)]
pub struct AnthropicMessage {
    /// `user` or `assistant`.
    role: String,
    content: Value,
}

/// `POST /v1/messages` (and `/v1/messages/count_tokens`, without `max_tokens`).
#[derive(ToSchema)]
pub struct MessagesRequest {
    model: String,
    messages: Vec<AnthropicMessage>,
    /// A string or text blocks.
    system: Option<Value>,
    max_tokens: Option<u64>,
    stream: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
    stop_sequences: Option<Vec<String>>,
    /// `[{"name","description","input_schema"}]`.
    tools: Option<Vec<Value>>,
    /// `{"type":"auto"|"any"|"tool"|"none", "name", "disable_parallel_tool_use"}`.
    tool_choice: Option<Value>,
    /// `{"type":"enabled","budget_tokens":N}` or `{"type":"disabled"}`.
    thinking: Option<Value>,
    /// `{"user_id": …}`.
    metadata: Option<Value>,
}

/// A message (streams send `message_start`, `content_block_start`, `content_block_delta`,
/// `content_block_stop`, `message_delta`, `message_stop`).
#[derive(ToSchema)]
pub struct Message {
    id: String,
    /// `message`.
    #[schema(rename = "type")]
    kind: String,
    role: String,
    model: String,
    /// `text`, `thinking` and `tool_use` blocks.
    content: Vec<Value>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `refusal`.
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    /// `{"input_tokens","output_tokens","cache_read_input_tokens","cache_creation_input_tokens"}`.
    usage: Value,
}

/// The Anthropic error shape.
#[derive(ToSchema)]
pub struct AnthropicError {
    /// `error`.
    #[schema(rename = "type")]
    kind: String,
    /// `{"type": "invalid_request_error"|"authentication_error"|"permission_error"|"not_found_error"|"rate_limit_error"|"api_error"|"overloaded_error", "message"}`.
    error: Value,
}

// ---- Gemini --------------------------------------------------------------------------------

/// `{"role": "user"|"model", "parts": [...]}`; parts carry `text`, `inlineData`, `fileData`,
/// `functionCall`, `functionResponse`, `thought` and `thoughtSignature`.
#[derive(ToSchema)]
pub struct GeminiContent {
    role: Option<String>,
    parts: Vec<Value>,
}

/// `POST /v1beta/models/{model}:generateContent` (and `:streamGenerateContent`, `:countTokens`).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    contents: Vec<GeminiContent>,
    system_instruction: Option<GeminiContent>,
    /// `[{"functionDeclarations":[{"name","description","parameters"|"parametersJsonSchema"}]}]`.
    tools: Option<Vec<Value>>,
    /// `{"functionCallingConfig":{"mode":"AUTO"|"ANY"|"NONE","allowedFunctionNames"}}`.
    tool_config: Option<Value>,
    /// `temperature`, `topP`, `topK`, `maxOutputTokens`, `stopSequences`, `responseMimeType`,
    /// `responseSchema`, `thinkingConfig` {`thinkingBudget`, `includeThoughts`}.
    generation_config: Option<Value>,
}

/// A GenerateContentResponse (streams send one per event or array element).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// `[{"content": GeminiContent, "finishReason": "STOP"|"MAX_TOKENS"|"SAFETY"|…, "index"}]`.
    candidates: Vec<Value>,
    /// `promptTokenCount`, `candidatesTokenCount`, `thoughtsTokenCount`,
    /// `cachedContentTokenCount`, `totalTokenCount`.
    usage_metadata: Option<Value>,
    model_version: Option<String>,
    response_id: Option<String>,
}

/// The Gemini error shape.
#[derive(ToSchema)]
pub struct GeminiError {
    /// `{"code": 400, "message", "status": "INVALID_ARGUMENT"|"UNAUTHENTICATED"|"PERMISSION_DENIED"|"NOT_FOUND"|"RESOURCE_EXHAUSTED"|"INTERNAL"|"UNAVAILABLE"}`.
    error: Value,
}
