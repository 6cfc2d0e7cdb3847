//! Serde wire structs of the Gemini v1beta `generateContent` API (request, response, error),
//! checked against `google/genai/types.py` of googleapis/python-genai. The same structs serve both
//! directions: strings are `Cow`, owned when decoded and borrowed from the canonical value when
//! encoded. Small config objects keep unknown fields in a flattened `rest` map (to name them in
//! `dropped`); the large ones (the body, parts, declarations) name the fields they drop instead,
//! because `flatten` would buffer their whole content.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Reads `null` as the default (clients send `"tools": null` and the like).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string that decoders own and encoders borrow (no copies when encoding).
pub type Str<'a> = Cow<'a, str>;

/// `GenerateContentRequest` (the body; model and stream come from the URL).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest<'a> {
    #[serde(default, deserialize_with = "nullable")]
    pub contents: Vec<Content<'a>>,
    #[serde(
        alias = "system_instruction",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_instruction: Option<Content<'a>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tools: Vec<Tool<'a>>,
    #[serde(
        alias = "tool_config",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_config: Option<ToolConfig>,
    #[serde(
        alias = "generation_config",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generation_config: Option<GenerationConfig<'a>>,
    #[serde(alias = "safety_settings", default, skip_serializing)]
    pub safety_settings: Option<IgnoredAny>,
    #[serde(alias = "cached_content", default, skip_serializing)]
    pub cached_content: Option<IgnoredAny>,
    /// Vertex AI request labels.
    #[serde(default, skip_serializing)]
    pub labels: Option<IgnoredAny>,
    /// Some clients repeat the URL's model in the body; the URL wins.
    #[serde(default, skip_serializing)]
    pub model: Option<IgnoredAny>,
}

/// One turn (`role` is `user` or `model`; absent means `user`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Content<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Str<'a>>,
    #[serde(default, deserialize_with = "nullable")]
    pub parts: Vec<WirePart<'a>>,
}

/// A `Part`: exactly one of the data fields is set; `thought` and `thoughtSignature` may
/// accompany any of them.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePart<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Str<'a>>,
    #[serde(
        alias = "inline_data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inline_data: Option<Blob<'a>>,
    #[serde(alias = "file_data", default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData<'a>>,
    #[serde(
        alias = "function_call",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub function_call: Option<FunctionCall<'a>>,
    #[serde(
        alias = "function_response",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub function_response: Option<FunctionResponse<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(
        alias = "thought_signature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thought_signature: Option<Str<'a>>,
    #[serde(alias = "executable_code", default, skip_serializing)]
    pub executable_code: Option<IgnoredAny>,
    #[serde(alias = "code_execution_result", default, skip_serializing)]
    pub code_execution_result: Option<IgnoredAny>,
    #[serde(alias = "video_metadata", default, skip_serializing)]
    pub video_metadata: Option<IgnoredAny>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob<'a> {
    #[serde(alias = "mime_type", default)]
    pub mime_type: Str<'a>,
    #[serde(default)]
    pub data: Str<'a>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData<'a> {
    #[serde(alias = "mime_type", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<Str<'a>>,
    #[serde(alias = "file_uri", default)]
    pub file_uri: Str<'a>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FunctionCall<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Str<'a>>,
    #[serde(default)]
    pub name: Str<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FunctionResponse<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Str<'a>>,
    #[serde(default)]
    pub name: Str<'a>,
    #[serde(default)]
    pub response: Value,
}

/// A `Tool`: function declarations, or one of the built-in tools (named only to drop them).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool<'a> {
    #[serde(
        alias = "function_declarations",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub function_declarations: Option<Vec<FunctionDeclaration<'a>>>,
    #[serde(alias = "google_search", default, skip_serializing)]
    pub google_search: Option<IgnoredAny>,
    #[serde(alias = "google_search_retrieval", default, skip_serializing)]
    pub google_search_retrieval: Option<IgnoredAny>,
    #[serde(alias = "code_execution", default, skip_serializing)]
    pub code_execution: Option<IgnoredAny>,
    #[serde(alias = "url_context", default, skip_serializing)]
    pub url_context: Option<IgnoredAny>,
    #[serde(alias = "computer_use", default, skip_serializing)]
    pub computer_use: Option<IgnoredAny>,
    #[serde(alias = "file_search", default, skip_serializing)]
    pub file_search: Option<IgnoredAny>,
    #[serde(alias = "google_maps", default, skip_serializing)]
    pub google_maps: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub retrieval: Option<IgnoredAny>,
    #[serde(alias = "enterprise_web_search", default, skip_serializing)]
    pub enterprise_web_search: Option<IgnoredAny>,
}

impl Tool<'_> {
    /// The built-in tools this entry declares (`googleSearch`, …).
    pub fn builtins(&self) -> impl Iterator<Item = &'static str> {
        [
            ("googleSearch", self.google_search.is_some()),
            (
                "googleSearchRetrieval",
                self.google_search_retrieval.is_some(),
            ),
            ("codeExecution", self.code_execution.is_some()),
            ("urlContext", self.url_context.is_some()),
            ("computerUse", self.computer_use.is_some()),
            ("fileSearch", self.file_search.is_some()),
            ("googleMaps", self.google_maps.is_some()),
            ("retrieval", self.retrieval.is_some()),
            ("enterpriseWebSearch", self.enterprise_web_search.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration<'a> {
    #[serde(default)]
    pub name: Str<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Str<'a>>,
    /// The OpenAPI-subset `Schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Plain JSON Schema (mutually exclusive with `parameters`).
    #[serde(
        alias = "parameters_json_schema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters_json_schema: Option<Cow<'a, Value>>,
    #[serde(default, skip_serializing)]
    pub response: Option<IgnoredAny>,
    #[serde(alias = "response_json_schema", default, skip_serializing)]
    pub response_json_schema: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub behavior: Option<IgnoredAny>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(
        alias = "function_calling_config",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub function_calling_config: Option<FunctionCallingConfig>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(
        alias = "allowed_function_names",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_function_names: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(alias = "top_p", default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// An integer on the wire (python-genai types it as a float in places, so any number is read).
    #[serde(alias = "top_k", default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<serde_json::Number>,
    #[serde(
        alias = "max_output_tokens",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_output_tokens: Option<u64>,
    #[serde(
        alias = "stop_sequences",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(
        alias = "candidate_count",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub candidate_count: Option<u64>,
    #[serde(
        alias = "response_mime_type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_mime_type: Option<String>,
    #[serde(
        alias = "response_schema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_schema: Option<Value>,
    #[serde(
        alias = "response_json_schema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_json_schema: Option<Cow<'a, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(
        alias = "presence_penalty",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub presence_penalty: Option<f64>,
    #[serde(
        alias = "frequency_penalty",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency_penalty: Option<f64>,
    #[serde(
        alias = "thinking_config",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_config: Option<ThinkingConfig>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(
        alias = "include_thoughts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub include_thoughts: Option<bool>,
    /// `0` switches thinking off, `-1` lets the model decide.
    #[serde(
        alias = "thinking_budget",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_budget: Option<i64>,
    /// `MINIMAL`, `LOW`, `MEDIUM`, `HIGH` (Gemini 3).
    #[serde(
        alias = "thinking_level",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_level: Option<String>,
}

/// `GenerateContentResponse` (also each chunk of a stream).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse<'a> {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub candidates: Vec<Candidate<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<Str<'a>>,
    /// A mid-stream error chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
    #[serde(default)]
    pub total_token_count: u64,
}

/// `{"error":{"code":400,"message":"…","status":"INVALID_ARGUMENT"}}`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}
