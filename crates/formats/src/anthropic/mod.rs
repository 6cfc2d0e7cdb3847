//! The Anthropic Messages codec (`/v1/messages`): requests, responses, streams and errors of
//! this dialect ↔ the canonical model. Owns only this dialect's wire shapes.
//!
//! Conversion rules (assembled into docs/dialects.md):
//! - **System**: `system` (a string or text blocks, `cache_control` kept) → `Request::system`;
//!   `{"role":"system"}` messages in `messages` (Claude Code sends them) → `Role::System`
//!   messages. Encoding: `Request::system` → a string when it is one plain text, else text blocks
//!   (images in a system prompt are dropped, `anthropic.system.image`); `Role::System` messages
//!   are sent as `system`-role messages (the Messages API's `MessageParam` has that role).
//! - **Content**: `text` (with `cache_control`), `image` with a `base64` or `url` source (a
//!   `file` source is dropped), `tool_use` (its `input` kept as the exact JSON text of the
//!   arguments), `tool_result` (string or block content, `is_error`; the tool name is looked up
//!   in earlier `tool_use` blocks), `thinking` with its `signature` and `redacted_thinking` (its
//!   `data` as `encrypted`) → `Part::Reasoning` signed by Anthropic. `document`,
//!   `search_result`, server-tool blocks and other types are dropped (`anthropic.<type>`).
//! - **Encoding messages**: consecutive same-role turns are merged (Anthropic requires
//!   alternation) and tool results come first in a user turn; empty text blocks are left out and
//!   a turn left empty is skipped. Reasoning is sent only with an Anthropic signature (`thinking`)
//!   or Anthropic encrypted data (`redacted_thinking`); other reasoning is dropped whole
//!   (`anthropic.reasoning_without_signature`), because the API rejects unsigned thinking.
//!   Tool-call arguments that are not a JSON object become `{}` (`anthropic.tool_call.arguments`);
//!   tool ids outside `[A-Za-z0-9_-]` get `_` for the odd characters (on both sides of a pair).
//! - **Tools**: custom tools (`input_schema`, `cache_control`, `strict`) ↔ `Tool`; server tools
//!   (`web_search_20250305`, `bash_…`, any `type` other than `custom`) are dropped
//!   (`anthropic.tools.<type>`). `tool_choice` `auto`/`any`/`tool`/`none` ↔ auto/required/tool/
//!   none; `disable_parallel_tool_use` ↔ `parallel_tool_calls = !disable` (encoding sends
//!   `{"type":"auto","disable_parallel_tool_use":true}` when only parallelism is restricted).
//!   No `tool_choice` is sent without tools.
//! - **Reasoning**: `thinking` `enabled` + `budget_tokens` ↔ budget; `disabled` ↔ disabled;
//!   `adaptive` → effort (from `output_config.effort`, else high; `display: omitted` →
//!   `include_thoughts = false`). `output_config.effort` `low`/`medium`/`high` (`xhigh`/`max` →
//!   high) → effort. Encoding always uses `enabled` with `budget_tokens` = the budget (derived
//!   from the effort when only an effort is given) raised to at least 1024, then makes
//!   `max_tokens` > budget (by adding the budget when it is not: the client's limit was meant for
//!   the answer). With thinking on, `temperature` and `top_k` are dropped, `top_p` below 0.95 is
//!   dropped, and a forcing `tool_choice` (`any`/`tool`) is dropped (the API rejects each of these
//!   with thinking); an ongoing tool loop whose last assistant turn has no signed thinking block
//!   gets thinking switched off (`anthropic.thinking`), because the API demands one there.
//! - **Output format**: `output_config.format` (`json_schema`) ↔ `ResponseFormat::JsonSchema`
//!   (named `output`); JSON-object mode has no Anthropic form (`anthropic.response_format.json_object`).
//! - **Other fields**: `metadata.user_id` ↔ `user`; `stop_sequences` ↔ `stop`; `temperature`,
//!   `top_p`, `top_k`, `stream`. `max_tokens` is required when encoding: the request's, else
//!   `EncodeOptions::default_max_tokens`, else 4096. Dropped when decoding:
//!   `context_management`, `service_tier`, `container`, `mcp_servers`, `inference_geo`,
//!   top-level `cache_control`. Dropped when encoding: `seed`, `frequency_penalty`,
//!   `presence_penalty`, `prompt_cache_key`.
//! - **Stop reasons**: `end_turn`, `max_tokens` (and `model_context_window_exceeded`),
//!   `stop_sequence`, `tool_use`, `refusal` (↔ content filter); `pause_turn` and unknown ones are
//!   `Other` (encoded as themselves when Anthropic's, else `end_turn`).
//! - **Usage**: canonical input = `input_tokens` + `cache_read_input_tokens` +
//!   `cache_creation_input_tokens` (Anthropic's `input_tokens` excludes both) and back;
//!   `output_tokens_details.thinking_tokens` ↔ reasoning tokens.
//! - **Responses**: reasoning without an Anthropic signature is shown as a `thinking` block with
//!   an empty signature; server-tool blocks are skipped when decoding.
//! - **Foreign signatures through Anthropic clients** (`seal`): Claude Code replays thinking
//!   blocks unchanged, so a Gemini thought signature or Responses `encrypted_content` is shown
//!   to the client as a thinking `signature` of `mg1:<dialect>:<value>` (the Responses codec's
//!   form), a Gemini function call's signature on an empty thinking block just before its
//!   `tool_use`. Decoding a request unseals them (back onto the tool call for Gemini), so tool
//!   loops through Claude Code keep working with Gemini 3 and Responses upstreams; the encoder
//!   never sends them to Anthropic (not its signatures: dropped by the rule above).
//! - **Errors**: `{"type":"error","error":{"type","message"}}` with `invalid_request_error`,
//!   `authentication_error`, `billing_error` (402), `permission_error`, `not_found_error`,
//!   `request_too_large`, `rate_limit_error`, `timeout_error`, `api_error`, `overloaded_error`.
//!   An overloaded error is 529 on the Anthropic wire (`wire_status`); decoding maps 529 to the
//!   canonical 503.
//! - **Streams**: see `stream`.

mod error;
mod request;
mod response;
mod seal;
mod stream;
pub(crate) mod types;

pub use error::{decode_error, encode_error, kind_from_type, kind_to_type, wire_status};
pub use request::{DEFAULT_MAX_TOKENS, MIN_THINKING_BUDGET, decode_request, encode_request};
pub use response::{
    decode_response, encode_response, sniff_usage, stop_from_wire, stop_to_wire, usage_of_response,
};
pub use stream::{Decoder, Encoder};
