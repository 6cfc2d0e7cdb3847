//! The provider kinds modelgate knows, and what each speaks, as data.

use modelgate_formats::Dialect;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A provider's wire protocol family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    AzureOpenai,
    Anthropic,
    Gemini,
    Deepseek,
    OpenaiCompatible,
}

/// How a kind is addressed, as data.
pub struct KindSpec {
    pub name: &'static str,
    /// The base URL the provider's official SDK uses, when the kind has a well-known one.
    pub default_base_url: Option<&'static str>,
    /// The dialects it speaks natively, in preference order.
    pub dialects: &'static [Dialect],
    /// Whether it serves the OpenAI endpoints that are passed through (`/v1/images/…`) and
    /// `/v1/embeddings`.
    pub openai_endpoints: bool,
}

const SPECS: [(ProviderKind, KindSpec); 6] = [
    (
        ProviderKind::Openai,
        KindSpec {
            name: "openai",
            default_base_url: Some("https://api.openai.com/v1"),
            dialects: &[Dialect::OpenaiChat, Dialect::OpenaiResponses],
            openai_endpoints: true,
        },
    ),
    (
        ProviderKind::AzureOpenai,
        KindSpec {
            name: "azure_openai",
            default_base_url: None,
            dialects: &[Dialect::OpenaiChat, Dialect::OpenaiResponses],
            openai_endpoints: true,
        },
    ),
    (
        ProviderKind::Anthropic,
        KindSpec {
            name: "anthropic",
            default_base_url: Some("https://api.anthropic.com"),
            dialects: &[Dialect::Anthropic],
            openai_endpoints: false,
        },
    ),
    (
        ProviderKind::Gemini,
        KindSpec {
            name: "gemini",
            default_base_url: Some("https://generativelanguage.googleapis.com"),
            dialects: &[Dialect::Gemini],
            openai_endpoints: false,
        },
    ),
    (
        ProviderKind::Deepseek,
        KindSpec {
            name: "deepseek",
            default_base_url: Some("https://api.deepseek.com/v1"),
            dialects: &[Dialect::OpenaiChat],
            openai_endpoints: true,
        },
    ),
    (
        ProviderKind::OpenaiCompatible,
        KindSpec {
            name: "openai_compatible",
            default_base_url: None,
            dialects: &[Dialect::OpenaiChat],
            openai_endpoints: true,
        },
    ),
];

impl ProviderKind {
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Openai,
        ProviderKind::AzureOpenai,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::Deepseek,
        ProviderKind::OpenaiCompatible,
    ];

    pub fn spec(self) -> &'static KindSpec {
        // SPECS lists every variant once, in declaration order.
        &SPECS[self as usize].1
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Whether a provider of this kind can be told to also speak `d` (an OpenAI-compatible
    /// server that has `/v1/responses`).
    pub fn can_speak(self, d: Dialect) -> bool {
        self.spec().dialects.contains(&d)
            || (self == ProviderKind::OpenaiCompatible && d == Dialect::OpenaiResponses)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "azure" => "azure_openai",
            "claude" => "anthropic",
            "google" => "gemini",
            "openai-compatible" | "compatible" | "custom" => "openai_compatible",
            other => other,
        };
        SPECS
            .iter()
            .find(|(_, spec)| spec.name == alias)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                format!(
                    "unknown provider kind '{s}'; expected one of: {}",
                    SPECS
                        .iter()
                        .map(|(_, s)| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_in_order_and_round_trip() {
        for k in ProviderKind::ALL {
            assert_eq!(k.as_str().parse::<ProviderKind>().unwrap(), k);
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            assert!(!k.spec().dialects.is_empty());
        }
        assert_eq!(
            "azure".parse::<ProviderKind>().unwrap(),
            ProviderKind::AzureOpenai
        );
        assert!("nope".parse::<ProviderKind>().is_err());
        assert!(ProviderKind::OpenaiCompatible.can_speak(Dialect::OpenaiResponses));
        assert!(!ProviderKind::Deepseek.can_speak(Dialect::OpenaiResponses));
        assert!(!ProviderKind::Anthropic.can_speak(Dialect::OpenaiChat));
    }
}
