//! The OpenAI Chat Completions codec (`/v1/chat/completions`): requests, responses, streams and
//! errors of this dialect ↔ the canonical model. Owns only this dialect's wire shapes; the
//! hot path's usage views stay in `crate::openai`.
//!
//! Conversion rules (assembled into docs/dialects.md):
//! - **System**: leading `system`/`developer` messages → `Request::system`; later ones →
//!   `Role::System` messages. Encoding: `Request::system` → one leading `system` message,
//!   mid-conversation system messages stay `system` messages; both take text only (other parts
//!   dropped, `openai_chat.system.non_text`) and an empty one is left out.
//! - **Content**: a string or parts. `text` and `refusal` → text; `image_url` with a
//!   `data:<type>;base64,` URL → a base64 image, any other URL → `ImageSource::Url` (`detail`
//!   kept); `input_audio` and `file` → dropped (`openai_chat.input_audio`, `openai_chat.file`).
//!   Encoding: text-only content → a string (parts joined), otherwise parts; base64 images →
//!   data URLs. `cache_control` is ignored.
//! - **Tools**: `tools` of type `function` (custom tools dropped, `openai_chat.tools.custom`);
//!   legacy `functions`/`function_call` are read as tools/tool choice. `tool_choice` `auto`/`none`/
//!   `required`/named ↔ canonical; `allowed_tools` is dropped. Assistant `tool_calls` ↔
//!   `Part::ToolCall`; `role: "tool"` messages (and legacy `function` ones, which answer the latest
//!   legacy call) → `Part::ToolResult` in a user message (consecutive ones share it), with the name
//!   looked up in earlier calls. Encoding splits tool results back into `tool` messages placed
//!   before the rest of the user turn; chat cannot say `is_error` or carry images in tool results
//!   (`openai_chat.tool_result.is_error`, `openai_chat.tool_result.image`). `tool_choice` and
//!   `parallel_tool_calls` are not sent without tools.
//! - **Reasoning**: `reasoning_effort` `minimal`/`low`/`medium`/`high` ↔ effort (`xhigh`/`max` →
//!   high; `none` → disabled). Encoding sends the effort (derived from a budget when only a budget
//!   is given; nothing when disabled) and then uses `max_completion_tokens` (reasoning models
//!   reject `max_tokens`); without reasoning `max_tokens` is sent (widest support).
//!   `reasoning_content` (DeepSeek; `reasoning` from vLLM/OpenRouter) in responses and stream
//!   deltas ↔ `Part::Reasoning` / `ReasoningDelta`. Reasoning in request history is dropped when
//!   encoding (`openai_chat.reasoning`): chat has no input field for it and DeepSeek rejects it.
//!   Signatures and encrypted reasoning cannot be expressed in chat and are not sent.
//! - **Sampling**: `max_completion_tokens` (else `max_tokens`), `temperature`, `top_p`, `top_k`
//!   (compatible servers), `stop` (string or array), `seed`, penalties, `response_format`
//!   (`text`/`json_object`/`json_schema`), `user` (else `safety_identifier`), `prompt_cache_key`.
//!   Encoding drops `top_k` (`openai_chat.top_k`: OpenAI rejects it) and stop sequences beyond
//!   the fourth (`openai_chat.stop`: OpenAI takes at most four) and a `user` longer than 64
//!   characters (`openai_chat.user`: OpenAI rejects it; Claude Code's `metadata.user_id` is a
//!   ~150-character JSON text).
//! - **Refused**: `n` > 1 → `ConvertError::Unsupported`. Dropped with a note when decoding:
//!   `logprobs` (when true), `top_logprobs`, `logit_bias`, `modalities`, `audio`, `prediction`,
//!   `service_tier`, `store`, `metadata`, `web_search_options`, `verbosity`,
//!   `prompt_cache_retention`. `stream_options` is re-derived from `EncodeOptions::include_usage`.
//! - **Stop reasons**: `stop` ↔ end turn (and stop sequence when encoding), `length` ↔ max tokens,
//!   `tool_calls` (and legacy `function_call`) ↔ tool use, `content_filter` ↔ content filter;
//!   unknown reasons decode to `Other` and `Other` encodes as `stop`. A `stop` (or missing)
//!   finish reason after tool calls decodes to tool use (some compatible servers say `stop`).
//! - **Usage**: `prompt_tokens` (cached included) ↔ input, `completion_tokens` (reasoning
//!   included) ↔ output, `prompt_tokens_details.cached_tokens` (else DeepSeek's
//!   `prompt_cache_hit_tokens`) ↔ cache reads, `completion_tokens_details.reasoning_tokens` ↔
//!   reasoning. Chat has no cache-write count.
//! - **Responses**: the first choice is read. Encoded responses put reasoning text in
//!   `message.reasoning_content`.
//! - **Gemini function-call signatures through chat clients** (`seal`): a tool call signed by
//!   another dialect (Gemini 3 `thoughtSignature`) is shown to the client with the id
//!   `<id>|mg1:<dialect>:<signature>`; decoding a request splits it back (on the call and on its
//!   tool results), so tool loops through chat clients keep working with Gemini 3 upstreams. Only
//!   the plain id is ever sent upstream.
//! - **Errors**: `{"error":{"message","type","param","code"}}`; types `invalid_request_error`,
//!   `authentication_error`, `insufficient_quota` (402), `permission_error`, `not_found_error`,
//!   `rate_limit_error` (code `rate_limit_exceeded`), `server_error` (5xx). Decoding also takes
//!   `{"error":"text"}`, `{"message":…}` and `{"detail":…}` when the status is an error; the kind
//!   comes from `type`, else the status, else `code`.
//! - **Streams**: see `stream`.

mod error;
mod request;
mod response;
mod seal;
mod stream;
pub(crate) mod types;

pub use error::{decode_error, encode_error, kind_from_name, kind_to_type};
pub use request::{decode_request, encode_request};
pub use response::{
    decode_response, encode_response, sniff_usage, stop_from_wire, stop_to_wire, usage_of_response,
};
pub use stream::{Decoder, Encoder};
