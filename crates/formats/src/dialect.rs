//! The four wire dialects modelgate speaks, in and out.
//!
//! Owns only the names and their string forms (`openai_chat`, `openai_responses`, `anthropic`,
//! `gemini`), used in settings, the request log and the conversion table. Must not hold any
//! conversion logic.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A wire dialect of an LLM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenaiChat,
    /// OpenAI Responses (`/v1/responses`).
    OpenaiResponses,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Google Gemini (`/v1beta/models/{model}:generateContent`).
    Gemini,
}

impl Dialect {
    pub const ALL: [Dialect; 4] = [
        Dialect::OpenaiChat,
        Dialect::OpenaiResponses,
        Dialect::Anthropic,
        Dialect::Gemini,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenaiChat => "openai_chat",
            Dialect::OpenaiResponses => "openai_responses",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "openai_chat" | "openai" | "chat" | "chat_completions" => Ok(Dialect::OpenaiChat),
            "openai_responses" | "responses" => Ok(Dialect::OpenaiResponses),
            "anthropic" | "anthropic_messages" | "messages" | "claude" => Ok(Dialect::Anthropic),
            "gemini" | "google" | "generate_content" => Ok(Dialect::Gemini),
            _ => Err(format!(
                "unknown dialect '{s}'; expected one of: openai_chat, openai_responses, anthropic, gemini"
            )),
        }
    }
}
