//! Governance policy as the snapshot holds it: a virtual key's limits, quotas, budget and
//! prepaid balance, and a provider's free-credit grant. Data only; `admit` and `settle` enforce
//! it (see docs/governance.md).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Rate limits and quotas of a key; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLimits {
    /// Requests per minute (sliding window).
    pub rpm: Option<u64>,
    /// Requests per hour (sliding window).
    pub rph: Option<u64>,
    /// Tokens per minute (sliding window; input + output).
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrency: Option<u64>,
    /// Requests per calendar day / month (UTC unless configured).
    pub daily_requests: Option<u64>,
    pub monthly_requests: Option<u64>,
    /// Tokens per calendar day / month.
    pub daily_tokens: Option<u64>,
    pub monthly_tokens: Option<u64>,
}

impl KeyLimits {
    pub fn is_empty(&self) -> bool {
        *self == KeyLimits::default()
    }
}

/// The period a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Daily,
    Weekly,
    Monthly,
    Total,
}

impl BudgetPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Daily => "daily",
            BudgetPeriod::Weekly => "weekly",
            BudgetPeriod::Monthly => "monthly",
            BudgetPeriod::Total => "total",
        }
    }
}

impl std::str::FromStr for BudgetPeriod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "daily" => Ok(BudgetPeriod::Daily),
            "weekly" => Ok(BudgetPeriod::Weekly),
            "monthly" => Ok(BudgetPeriod::Monthly),
            "total" => Ok(BudgetPeriod::Total),
            _ => Err(format!(
                "unknown budget period '{s}'; expected daily, weekly, monthly or total"
            )),
        }
    }
}

/// A cap on the cost of a key's usage per period (whoever pays: free credit or balance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub period: BudgetPeriod,
}

/// A provider's free credit for each user (virtual key), exactly one type (seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FreeCredit {
    /// A money grant per key, spent on any of the provider's models.
    Money {
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// A token grant per key shared by all the provider's models.
    Tokens { tokens: u64 },
    /// A token grant per key for each of the provider's models.
    ModelTokens { tokens: u64 },
}
