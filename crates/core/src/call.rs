//! What a data-plane request is, as the stages pass it along: the raw `Inbound` request the
//! HTTP layer hands over, the authenticated `Caller`, and the decoded `Call`.
//!
//! Owns only data types; the stages that fill them live in `auth`, `decode` and `admit`.

use bytes::Bytes;
use modelgate_formats::Dialect;
use modelgate_formats::raw::RawObject;
use modelgate_providers::ClientHints;
use std::sync::Arc;
use std::time::Instant;

use crate::keyring::KeyContext;

/// A Gemini method on `/v1beta/models/{model}:{method}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiMethod {
    Generate,
    StreamGenerate,
    CountTokens,
}

/// Which endpoint a request came in on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions` (and the seeds' aliases).
    ChatCompletions,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`.
    MessagesCountTokens,
    /// `POST /v1beta/models/{model}:{method}`; `sse` for `alt=sse`.
    Gemini {
        model: String,
        method: GeminiMethod,
        sse: bool,
    },
    /// `POST /v1/embeddings`.
    Embeddings,
    /// Any other `/v1/{path}`, forwarded unchanged.
    Passthrough {
        method: http::Method,
        path: String,
        query: Option<String>,
    },
}

impl Endpoint {
    /// A closed set of names for logs and metric labels (never a client-chosen path).
    pub fn label(&self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Responses => "responses",
            Endpoint::Messages => "messages",
            Endpoint::MessagesCountTokens => "messages_count_tokens",
            Endpoint::Gemini {
                method: GeminiMethod::CountTokens,
                ..
            } => "gemini_count_tokens",
            Endpoint::Gemini { .. } => "gemini_generate_content",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Passthrough { .. } => "passthrough",
        }
    }

    /// `messages/count_tokens` or `:countTokens`.
    pub fn is_count_tokens(&self) -> bool {
        matches!(
            self,
            Endpoint::MessagesCountTokens
                | Endpoint::Gemini {
                    method: GeminiMethod::CountTokens,
                    ..
                }
        )
    }

    /// The dialect the client reads replies (and errors) in.
    pub fn reply_dialect(&self) -> Dialect {
        match self {
            Endpoint::Responses => Dialect::OpenaiResponses,
            Endpoint::Messages | Endpoint::MessagesCountTokens => Dialect::Anthropic,
            Endpoint::Gemini { .. } => Dialect::Gemini,
            _ => Dialect::OpenaiChat,
        }
    }
}

/// A request as the HTTP layer received it.
pub struct Inbound {
    pub request_id: String,
    pub endpoint: Endpoint,
    /// The credential presented (bearer token, `x-api-key`, `x-goog-api-key` or `?key=`).
    pub presented_key: Option<String>,
    /// `Accept: text/event-stream`.
    pub accepts_sse: bool,
    /// `X-Session-Id` / `X-Claude-Code-Session-Id`.
    pub session_header: Option<String>,
    /// Headers some upstreams take over from the client.
    pub hints: ClientHints,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// The client's `Cache-Control` (for the response cache).
    pub cache_control: ClientCacheControl,
    pub body: Bytes,
    pub started: Instant,
}

/// What the client allows (`Cache-Control`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCacheControl {
    pub no_cache: bool,
    pub no_store: bool,
}

impl ClientCacheControl {
    pub fn parse(header: Option<&str>) -> Self {
        let h = header.unwrap_or("").to_ascii_lowercase();
        Self {
            no_cache: h.contains("no-cache") || h.contains("no-store"),
            no_store: h.contains("no-store"),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A modelgate virtual key.
    Key(Arc<KeyContext>),
    /// A key modelgate does not know, forwarded to providers that opted into passthrough auth.
    Passthrough(String),
}

impl Caller {
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Caller::Key(k) => Some(&k.key_id),
            Caller::Passthrough(_) => None,
        }
    }

    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Caller::Key(k) => k.tenant_id.as_deref(),
            Caller::Passthrough(_) => None,
        }
    }

    pub fn is_passthrough(&self) -> bool {
        matches!(self, Caller::Passthrough(_))
    }

    /// Who owns per-caller state such as session context: the key id, or a hash of a
    /// passthrough caller's own key.
    pub fn owner(&self) -> String {
        match self {
            Caller::Key(k) => k.key_id.clone(),
            Caller::Passthrough(t) => format!("passthrough:{}", &crate::keyring::hash_key(t)[..16]),
        }
    }

    pub fn allows_model(&self, model: &str) -> bool {
        match self {
            Caller::Key(k) => {
                k.allows_model(model)
                    || model
                        .split_once('/')
                        .is_some_and(|(_, rest)| k.allows_model(rest))
            }
            Caller::Passthrough(_) => true,
        }
    }
}

/// The body of a decoded call.
#[derive(Debug)]
pub enum CallBody {
    /// A JSON object in `request_dialect`, kept as raw top-level members so that it passes
    /// through unconverted when the upstream speaks the same dialect.
    Json(RawObject),
    /// Bytes forwarded as they are (passthrough endpoints: multipart uploads and the like).
    Opaque,
}

/// A decoded data-plane request: what routing and admission need, read eagerly; the rest raw.
pub struct Call {
    pub request_id: String,
    pub endpoint: Endpoint,
    /// The dialect of the request body (differs from the reply dialect when a Claude- or
    /// Gemini-style body was posted to `/v1/chat/completions`).
    pub request_dialect: Dialect,
    /// The dialect the client reads.
    pub reply_dialect: Dialect,
    pub body: CallBody,
    /// The body as received.
    pub raw: Bytes,
    /// The requested model (empty for passthrough calls that name none).
    pub model: String,
    pub stream: bool,
    /// `stream: true` must be added (streaming asked for by `Accept` only).
    pub force_stream_field: bool,
    /// The client asked for the usage chunk of a chat stream itself.
    pub client_wants_usage: bool,
    /// `max_tokens` (or the dialect's name for it), if the client set one.
    pub max_tokens: Option<u64>,
    /// Sticky-session id.
    pub session: Option<String>,
    pub caller: Caller,
    pub hints: ClientHints,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub cache_control: ClientCacheControl,
    /// The id shown to the client for a reply the gateway builds (Responses `resp_…`): made
    /// on first use (`reply_id()`), as most replies are passed through and need none.
    pub reply_id: std::sync::OnceLock<String>,
    pub started: Instant,
}

impl Call {
    /// The id of a reply the gateway builds, the same every time it is asked for.
    pub fn reply_id(&self) -> &str {
        self.reply_id
            .get_or_init(|| format!("resp_{}", uuid::Uuid::now_v7().simple()))
    }
}
