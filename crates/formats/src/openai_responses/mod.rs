//! The OpenAI Responses (`/v1/responses`) codec: request, response, stream and error
//! decode/encode against the canonical model, plus `envelope` (the request fields the gateway
//! acts on itself). Wire shapes follow `src/openai/types/responses` of openai/openai-python.
//! Owns only this dialect's conversion; knows nothing about HTTP, routing or storage.
//!
//! Conversion rules:
//! - **System**: `instructions` and the `system`/`developer` messages before the first other
//!   item ↔ `Request::system`; later ones ↔ `Role::System` messages (sent back as `system`
//!   messages, which Responses accepts anywhere). Encoding joins the system texts with a blank
//!   line into `instructions`.
//! - **Input**: a string is one user message. Items: `message` (with or without `type`;
//!   `input_text`/`output_text`/`refusal` → text, `input_image` with `image_url` → image (a
//!   `data:` URL becomes a base64 image), `input_image` with only `file_id` and `input_file` are
//!   dropped: the gateway cannot fetch OpenAI files for another upstream); `function_call`
//!   {call_id, name, arguments} ↔ `ToolCall` (id = `call_id`); `function_call_output` {call_id,
//!   output string or content list} ↔ `ToolResult` (name looked up from the earlier call);
//!   `reasoning` {id, summary[], encrypted_content} ↔ `Reasoning` (text = summaries joined with
//!   a blank line, `encrypted` with dialect OpenaiResponses, `id`). Consecutive assistant-side
//!   items (reasoning, message, function calls) form one assistant message; consecutive outputs
//!   one user message. Other item types (`item_reference`, built-in tool calls…) are dropped
//!   (`openai_responses.input.<type>`).
//! - **Encoding items**: assistant text → `message` with `output_text`; user text/images →
//!   `input_text`/`input_image` (`detail` defaults to `auto`; base64 becomes a `data:` URL, so
//!   every image source can be sent); tool results → `function_call_output` (a string when all
//!   text; `is_error` has no field and is noted); reasoning → a `reasoning` item only when it
//!   carries Responses `encrypted_content` and its item id (others are dropped: Responses cannot
//!   take foreign reasoning back, and requires the id). Requests are stateless: `store: false`, with
//!   `include: ["reasoning.encrypted_content"]` when reasoning is on or replayed.
//! - **Tools**: function tools (top-level name/description/parameters/strict) ↔ `Tool`.
//!   Built-in tools (`web_search`, `file_search`, `local_shell`, `custom`, `namespace`, …) are
//!   dropped (`openai_responses.tools.<type>`). Encoding sends `strict: false` when the
//!   canonical tool does not say, because Responses would otherwise make the tool strict and
//!   reject schemas written for other dialects.
//! - **tool_choice** `auto`/`none`/`required`/`{type: function, name}` ↔ canonical; other forms
//!   (allowed_tools, hosted tools) are dropped. `parallel_tool_calls`, `max_output_tokens`,
//!   `temperature`, `top_p`, `user`, `prompt_cache_key` map one to one. `top_k`, `stop`, `seed`
//!   and the penalties have no Responses field (dropped when encoding); `max_output_tokens` below
//!   16 (the API minimum) is raised to 16, noted.
//! - **Reasoning**: `reasoning.effort` minimal/low/medium/high ↔ `effort` (`xhigh` → high,
//!   noted; `none` ↔ `disabled`); `reasoning.summary` (any value) ↔ `include_thoughts: true`
//!   (encoded as `auto`). Encoding a budget uses the canonical effort table; `disabled` is not
//!   sent (older reasoning models reject `none`) and is noted; `include_thoughts` without any
//!   effort or budget is not sent either (non-reasoning models reject every `reasoning`
//!   parameter), noted as `openai_responses.reasoning.summary(no effort)`.
//! - **Foreign signatures through Responses clients** (`seal`): Codex keeps reasoning items'
//!   `encrypted_content` and replays it, so an Anthropic thinking signature or a Gemini thought
//!   signature is shown to the client as `encrypted_content: "mg1:<dialect>:<value>"` — on the
//!   reasoning item it belongs to, or, for a Gemini function call's signature, on an empty
//!   reasoning item placed just before the `function_call`. Decoding turns it back into that
//!   dialect's `Signature` (on the reasoning part, or on the following tool call), so multi-turn
//!   tool use through Codex keeps working with Anthropic thinking and Gemini 3 upstreams. Sealed
//!   values are never sent to an OpenAI upstream: the encoder drops them, and `carries_sealed`
//!   tells the gateway that a body must be converted rather than passed through unchanged.
//! - **JSON**: `text.format` json_schema {name, schema, strict} (without a schema: json object) /
//!   json_object / text ↔
//!   `response_format`; `text.verbosity` is dropped.
//! - **Gateway concerns**: `store`, `include` and `previous_response_id` have no canonical
//!   field; read them with `envelope`. `previous_response_id` is also noted in `dropped`
//!   (converting to another dialect loses the stored context). `metadata`, `service_tier`,
//!   `client_metadata` (sent by Codex), `safety_identifier`, `truncation`, `background`,
//!   `prompt`, `conversation`, `max_tool_calls`, `stream_options`, `top_logprobs`,
//!   `prompt_cache_retention` are dropped with a note.
//! - **Responses**: `output` items → content parts; `status` completed → end turn (tool use when
//!   there are function calls), incomplete + `max_output_tokens` → max tokens, + `content_filter`
//!   → content filter, failed/cancelled → `Other`. `usage` input_tokens (cached ones included) /
//!   `input_tokens_details.cached_tokens` / output_tokens (reasoning included) /
//!   `output_tokens_details.reasoning_tokens` map one to one. Encoding builds `resp_…` ids (the
//!   gateway's id, else the upstream's, prefixed when needed) and item ids
//!   `msg_/fc_/rs_<response id>_<output index>`; reasoning items carry `encrypted_content` only
//!   when it came from a Responses upstream.
//! - **Stream encoder** (what Codex CLI needs): `response.created`, `response.in_progress`
//!   (status in_progress, empty output); per message `output_item.added`,
//!   `content_part.added`, `output_text.delta`…, `output_text.done`, `content_part.done`,
//!   `output_item.done`; per function call `output_item.added` (arguments ""),
//!   `function_call_arguments.delta`…, `.done`, `output_item.done`; per reasoning item
//!   `output_item.added`, `reasoning_summary_part.added`, `reasoning_summary_text.delta`…,
//!   `reasoning_summary_text.done`, `reasoning_summary_part.done`, `output_item.done`; then
//!   `response.completed` (or `response.incomplete` with `incomplete_details`, or
//!   `response.failed` with `error` for a mid-stream error) with id, output and usage. Every
//!   event has `type` and `sequence_number` from 0, plus `output_index`/`item_id`/
//!   `content_index`/`summary_index` as the SDK types require; framing `event: <type>` +
//!   `data: {…}`.
//! - **Stream decoder**: the same events back to canonical; arguments or text that arrive only
//!   in `output_item.done` are emitted from it; a reasoning item's `done` gives `ReasoningEnd`
//!   with its encrypted content and id; several summary parts are joined with a blank line.
//! - **Errors**: the OpenAI error shape, shared with `openai_chat`.

mod error;
mod request;
mod response;
mod seal;
mod stream;
pub mod types;

pub use error::{decode_error, encode_error};
pub use request::{decode_request, encode_request, envelope};
pub use response::{decode_response, encode_response, sniff_usage, usage_of_response};
pub use seal::carries_sealed;
pub use stream::{Decoder, Encoder};
pub use types::Envelope;
