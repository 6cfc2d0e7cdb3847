//! The Gemini (v1beta `generateContent` / `streamGenerateContent`) codec: request, response,
//! stream and error decode/encode against the canonical model. Wire shapes follow
//! `google/genai/types.py` (googleapis/python-genai). Owns only this dialect's conversion; knows
//! nothing about HTTP, routing or providers.
//!
//! Conversion rules:
//! - **Model and stream** are in the URL, not the body: `decode_request` leaves `model` empty and
//!   `stream` false (the caller sets them); `encode_request` writes neither.
//! - **System**: `systemInstruction.parts` ↔ `Request::system`. A mid-conversation
//!   `Role::System` message is merged as text into the next user turn (`system_mid_conversation`).
//! - **Roles**: `user` (and the legacy `function`) ↔ `Role::User`, `model` ↔ `Role::Assistant`.
//! - **Parts**: `text` ↔ `Text`; `thought: true` text ↔ `Reasoning`; `thoughtSignature` on any
//!   part ↔ that part's `Signature` with dialect Gemini, passed back unchanged (a part carrying
//!   only a signature decodes to an empty `Reasoning`). Reasoning without a Gemini signature is
//!   dropped when encoding a request (`gemini.reasoning(unsigned)`): Gemini cannot take foreign
//!   thoughts back.
//! - **Images**: `inlineData` (image MIME types) ↔ base64 images; `fileData` ↔ URL images.
//!   Encoding: a `data:` URL becomes `inlineData`; any other URL becomes `fileData` with a MIME
//!   type guessed from the extension (png, gif, webp, heic, heif; otherwise `image/jpeg`).
//!   Non-image `inlineData`/`fileData` is dropped (`gemini.inlineData(<mime>)`).
//! - **Tool calls**: `functionCall {id?, name, args}` ↔ `ToolCall` (args object ↔ JSON text;
//!   unparsable or non-object arguments become `{}` with a note). Gemini usually gives no id: the
//!   decoder assigns `call_<n>` (n = the call's ordinal in the body) and a `functionResponse`
//!   without id takes the id of the earliest unanswered call of the same name. Ids are not sent
//!   to a Gemini upstream (it pairs by order and name), but are shown to Gemini clients.
//! - **Tool results**: `functionResponse {name, response}` ↔ `ToolResult`: `{"output": x}` ↔
//!   text `x`, `{"error": x}` ↔ `is_error`, any other object ↔ its JSON text. The name Gemini
//!   requires is taken from the canonical `name`, else from the earlier `ToolCall` with the same
//!   id (else `unknown`, noted). Images inside tool results are dropped.
//! - **Tools**: `functionDeclarations` with `parametersJsonSchema` (JSON Schema, kept as is) or
//!   `parameters` (Gemini's OpenAPI subset, converted to JSON Schema: type names lower-cased,
//!   `nullable` → a `"null"` type, `propertyOrdering` removed). Encoding always uses
//!   `parametersJsonSchema`, which takes full JSON Schema (`additionalProperties`, `$ref`/`$defs`,
//!   `anyOf`…), so nothing has to be stripped but `$schema`. Built-in tools (`googleSearch`,
//!   `codeExecution`, …) are dropped (`gemini.tools.<name>`).
//! - **Tool choice**: `functionCallingConfig.mode` AUTO ↔ auto, NONE ↔ none, ANY ↔ required,
//!   ANY with one `allowedFunctionNames` ↔ that tool (several names: `required`, noted);
//!   VALIDATED → auto (noted). `parallel_tool_calls` has no Gemini field (dropped).
//! - **generationConfig**: temperature, topP, topK, maxOutputTokens, stopSequences, seed,
//!   presencePenalty, frequencyPenalty map one to one; `candidateCount > 1` is `Unsupported`.
//!   `responseMimeType: application/json` with `responseJsonSchema` (or `responseSchema`,
//!   converted as above) ↔ `JsonSchema` named `response`; without a schema ↔ `JsonObject`.
//!   Encoding uses `responseJsonSchema`.
//! - **Reasoning**: `thinkingConfig.thinkingBudget` 0 ↔ `disabled`, > 0 ↔ `budget_tokens` (effort
//!   as given), -1 (dynamic) ↔ reasoning on with neither;
//!   `thinkingLevel` ↔ `effort`; `includeThoughts` ↔ `include_thoughts`. Encoding sends
//!   `thinkingBudget` only (understood by Gemini 2.5 and 3), from `budget_tokens` or the effort's
//!   budget, because `thinkingLevel` is rejected by 2.5 models and the two may not be combined.
//! - **Dropped** to other dialects: `safetySettings`, `cachedContent`, unknown top-level and
//!   `generationConfig` fields (named in `dropped`).
//! - **Responses**: the first candidate's parts; `finishReason` STOP → end turn (tool use when it
//!   called functions), MAX_TOKENS → max tokens, SAFETY/RECITATION/BLOCKLIST/PROHIBITED_CONTENT/
//!   SPII/IMAGE_* → content filter, others kept as `Other`; a prompt blocked by `promptFeedback`
//!   → content filter. `usageMetadata`: input = promptTokenCount (+ toolUsePromptTokenCount),
//!   cache reads = cachedContentTokenCount (part of the input), output = candidatesTokenCount +
//!   thoughtsTokenCount, reasoning = thoughtsTokenCount. `responseId` and `modelVersion` ↔ id and
//!   model.
//! - **Streams**: each upstream chunk is a `GenerateContentResponse`; text and thoughts become
//!   deltas, a function call (always whole) becomes start + one delta + end; usage (last wins)
//!   and the finish reason are emitted when the stream ends; a JSON array of chunks fed as one
//!   value (the framing without `alt=sse`) is read chunk by chunk. The encoder writes SSE
//!   (`data: {…}\r\n\r\n`, as Gemini does) when `ResponseOptions::sse`, else the JSON array
//!   Gemini sends without `alt=sse`: `[` + first chunk, `\n,` + each next chunk, `\n]` at the end.
//!   Tool calls are written whole when they end; the last chunk carries `finishReason` and
//!   `usageMetadata`.
//! - **Errors**: `{"error":{"code","message","status"}}`; statuses INVALID_ARGUMENT (400/413),
//!   UNAUTHENTICATED (401), PERMISSION_DENIED (403), NOT_FOUND (404), RESOURCE_EXHAUSTED (429),
//!   INTERNAL (500/502), UNAVAILABLE (503), DEADLINE_EXCEEDED (504), and FAILED_PRECONDITION for
//!   billing (payment required is sent as a 400, as Gemini does).

mod error;
mod request;
mod response;
mod stream;
pub mod types;

pub use error::{decode_error, encode_error};
pub use request::{decode_request, encode_request};
pub use response::{decode_response, encode_response, sniff_usage, usage_of_response};
pub use stream::{Decoder, Encoder};
