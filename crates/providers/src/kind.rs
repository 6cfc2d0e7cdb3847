//! The provider kinds modelgate knows.

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

/// How a kind is addressed and authenticated, as data.
pub struct KindSpec {
    pub name: &'static str,
    pub default_base_url: Option<&'static str>,
    /// Whether it speaks the OpenAI HTTP API (paths relative to a `/v1`-style base).
    pub openai_wire: bool,
}

const SPECS: [(ProviderKind, KindSpec); 6] = [
    (
        ProviderKind::Openai,
        KindSpec {
            name: "openai",
            default_base_url: Some("https://api.openai.com/v1"),
            openai_wire: true,
        },
    ),
    (
        ProviderKind::AzureOpenai,
        KindSpec {
            name: "azure_openai",
            default_base_url: None,
            openai_wire: true,
        },
    ),
    (
        ProviderKind::Anthropic,
        KindSpec {
            name: "anthropic",
            default_base_url: Some("https://api.anthropic.com/v1"),
            openai_wire: false,
        },
    ),
    (
        ProviderKind::Gemini,
        KindSpec {
            name: "gemini",
            default_base_url: Some("https://generativelanguage.googleapis.com/v1beta"),
            openai_wire: false,
        },
    ),
    (
        ProviderKind::Deepseek,
        KindSpec {
            name: "deepseek",
            default_base_url: Some("https://api.deepseek.com/v1"),
            openai_wire: true,
        },
    ),
    (
        ProviderKind::OpenaiCompatible,
        KindSpec {
            name: "openai_compatible",
            default_base_url: None,
            openai_wire: true,
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

    /// Whether the data plane can serve this kind yet (OpenAI wire).
    pub fn is_served(self) -> bool {
        self.spec().openai_wire
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
        }
        assert_eq!(
            "azure".parse::<ProviderKind>().unwrap(),
            ProviderKind::AzureOpenai
        );
        assert!("nope".parse::<ProviderKind>().is_err());
    }
}
