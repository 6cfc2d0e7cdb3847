//! Model pricing and the cost of a request, in exact decimal arithmetic.

use modelgate_formats::canonical::Usage;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Prices of a model implementation. Token prices are per million tokens.
///
/// Accepted JSON keys (aliases in brackets): `input` [`prompt`, `input_per_million`],
/// `output` [`completion`, `output_per_million`], `cached_input` [`cached`,
/// `cached_input_per_million`], `per_request`, `currency` (default `USD`). Numbers may be
/// JSON numbers or decimal strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    #[serde(
        default,
        alias = "prompt",
        alias = "input_per_million",
        with = "opt_decimal"
    )]
    pub input: Option<Decimal>,
    #[serde(
        default,
        alias = "completion",
        alias = "output_per_million",
        with = "opt_decimal"
    )]
    pub output: Option<Decimal>,
    #[serde(
        default,
        alias = "cached",
        alias = "cached_input_per_million",
        with = "opt_decimal"
    )]
    pub cached_input: Option<Decimal>,
    #[serde(default, with = "opt_decimal")]
    pub per_request: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
}

impl Pricing {
    /// Parses a stored `pricing_info` JSON; unknown keys are ignored, bad values are an error.
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(json)
    }

    pub fn is_free(&self) -> bool {
        self.input.is_none()
            && self.output.is_none()
            && self.cached_input.is_none()
            && self.per_request.is_none()
    }

    /// The cost of one request with this usage. Cached prompt tokens are charged at the cached
    /// price when one is set, otherwise at the input price.
    pub fn cost(&self, usage: &Usage) -> Decimal {
        let million = Decimal::from(1_000_000u32);
        let cached = usage.cache_read_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        let input = self.input.unwrap_or_default();
        let cached_price = self.cached_input.unwrap_or(input);
        let mut cost = Decimal::from(uncached) * input
            + Decimal::from(cached) * cached_price
            + Decimal::from(usage.output_tokens) * self.output.unwrap_or_default();
        cost /= million;
        cost += self.per_request.unwrap_or_default();
        cost.normalize()
    }
}

mod opt_decimal {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::str::FromStr;

    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&d.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            S(String),
            F(serde_json::Number),
        }
        let v: Option<Num> = Option::deserialize(d)?;
        let parsed = match v {
            None => return Ok(None),
            Some(Num::S(s)) => Decimal::from_str(s.trim()),
            Some(Num::F(n)) => Decimal::from_str(&n.to_string())
                .or_else(|_| Decimal::from_scientific(&n.to_string())),
        };
        match parsed {
            Ok(d) if d.is_sign_negative() => {
                Err(serde::de::Error::custom("prices must not be negative"))
            }
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(serde::de::Error::custom(format!(
                "not a decimal price: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn exact_cost() {
        let p = Pricing::parse(r#"{"input": 2.5, "output": "10", "cached_input": 1.25}"#).unwrap();
        let u = Usage {
            input_tokens: 1000,
            output_tokens: 500,
            cache_read_tokens: 200,
            ..Default::default()
        };
        // 800*2.5 + 200*1.25 + 500*10 = 2000 + 250 + 5000 = 7250 / 1e6
        assert_eq!(p.cost(&u), Decimal::from_str("0.00725").unwrap());
    }

    #[test]
    fn aliases_and_validation() {
        let p = Pricing::parse(
            r#"{"prompt": 0.1, "completion": 0.2, "per_request": "0.001", "currency":"USD"}"#,
        )
        .unwrap();
        assert_eq!(p.input, Some(Decimal::from_str("0.1").unwrap()));
        assert!(Pricing::parse(r#"{"input": -1}"#).is_err());
        assert!(Pricing::parse(r#"{"input": "abc"}"#).is_err());
        assert!(Pricing::parse("{}").unwrap().is_free());
    }
}
