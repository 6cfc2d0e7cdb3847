//! The virtual-key ring: every data-plane key, by hash, in memory.
//!
//! Keys are stored as SHA-256 hashes (they are long random strings, so a fast hash is safe);
//! a request's key is hashed once and looked up here. The ring is rebuilt from the database
//! whenever keys change, so a disabled or deleted key stops working at once on this instance
//! and within the poll interval on others.

use modelgate_store::{Database, StoreError, VirtualKeyRecord};
use rust_decimal::Decimal;

use crate::policy::{Budget, KeyLimits};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Prefix of every key modelgate mints.
pub const KEY_PREFIX: &str = "mg-";

/// What a request is allowed to do, from its virtual key.
#[derive(Debug, Clone)]
pub struct KeyContext {
    /// The key's id (`static:<n>` for keys from `API_KEYS`).
    pub key_id: String,
    pub name: String,
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Empty means every model.
    pub allowed_models: Vec<String>,
    pub expires_at_ms: Option<i64>,
    pub enabled: bool,
    pub limits: KeyLimits,
    pub budget: Option<Budget>,
    /// For prepaid keys: the total ever credited (sum of balance events); what is left is this
    /// minus what the state backend has counted as spent. `None`: not prepaid.
    pub credited: Option<Decimal>,
}

impl KeyContext {
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model)
    }

    /// A key context for gateway-internal calls (dry runs): no limits.
    pub fn internal(name: &str) -> Self {
        Self {
            key_id: name.into(),
            name: name.into(),
            user_id: None,
            tenant_id: None,
            allowed_models: vec![],
            expires_at_ms: None,
            enabled: true,
            limits: KeyLimits::default(),
            budget: None,
            credited: None,
        }
    }

    pub fn from_record(r: &VirtualKeyRecord) -> Self {
        Self {
            key_id: r.id.clone(),
            name: r.name.clone(),
            user_id: r.user_id.clone(),
            tenant_id: r.tenant_id.clone(),
            allowed_models: serde_json::from_str(&r.allowed_models).unwrap_or_default(),
            expires_at_ms: r.expires_at,
            enabled: r.enabled,
            limits: KeyLimits {
                rpm: r.rpm.and_then(|v| u64::try_from(v).ok()),
                rph: r.rph.and_then(|v| u64::try_from(v).ok()),
                tpm: r.tpm.and_then(|v| u64::try_from(v).ok()),
                max_concurrency: r.max_concurrency.and_then(|v| u64::try_from(v).ok()),
                daily_requests: r.daily_requests.and_then(|v| u64::try_from(v).ok()),
                monthly_requests: r.monthly_requests.and_then(|v| u64::try_from(v).ok()),
                daily_tokens: r.daily_tokens.and_then(|v| u64::try_from(v).ok()),
                monthly_tokens: r.monthly_tokens.and_then(|v| u64::try_from(v).ok()),
            },
            budget: match (&r.budget, &r.budget_period) {
                (Some(a), p) => a.parse::<Decimal>().ok().map(|amount| Budget {
                    amount,
                    period: p
                        .as_deref()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(crate::policy::BudgetPeriod::Total),
                }),
                _ => None,
            },
            credited: r.prepaid.then_some(Decimal::ZERO),
        }
    }
}

/// SHA-256 hex of a key's plaintext.
pub fn hash_key(plaintext: &str) -> String {
    hex::encode(digest(plaintext))
}

/// Mints a new key: returns (plaintext, hash, display prefix).
pub fn mint_key() -> (String, String, String) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let body: String = (0..40)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let plaintext = format!("{KEY_PREFIX}{body}");
    let prefix: String = plaintext.chars().take(KEY_PREFIX.len() + 6).collect();
    let hash = hash_key(&plaintext);
    (plaintext, hash, prefix)
}

/// A key's SHA-256 digest, the ring's lookup key (no hex string per request).
type Digest32 = [u8; 32];

fn digest(plaintext: &str) -> Digest32 {
    Sha256::digest(plaintext.as_bytes()).into()
}

/// The digest a stored hex hash stands for; `None` for a malformed one (no key matches it).
fn digest_of_hex(hash: &str) -> Option<Digest32> {
    let mut d = [0u8; 32];
    hex::decode_to_slice(hash, &mut d).ok()?;
    Some(d)
}

/// All keys, by hash (of the key: SHA-256, so foldhash over it is as good as SipHash and
/// cheaper; the map is looked up on every request).
#[derive(Debug, Default)]
pub struct KeyRing {
    by_hash: crate::tracked::FastMap<Digest32, Arc<KeyContext>>,
}

impl KeyRing {
    /// Loads the stored keys with the credited sums of prepaid keys (two queries whatever
    /// the number of keys) and adds the static keys (from `API_KEYS`).
    pub async fn load(db: &Database, static_keys: &[String]) -> Result<Self, StoreError> {
        let records = db.all_virtual_keys().await?;
        let credits = db.all_balance_credits().await?;
        Ok(Self::build_with_credits(&records, &credits, static_keys))
    }

    /// A ring from records alone: prepaid keys count as credited with nothing.
    pub fn build(records: &[VirtualKeyRecord], static_keys: &[String]) -> Self {
        Self::build_with_credits(records, &HashMap::new(), static_keys)
    }

    /// A ring from records and the sums of their balance events (by key id): a prepaid key's
    /// `credited` is its sum (zero without events); other keys have none.
    pub fn build_with_credits(
        records: &[VirtualKeyRecord],
        credits: &HashMap<String, Decimal>,
        static_keys: &[String],
    ) -> Self {
        let mut by_hash = crate::tracked::FastMap::with_capacity_and_hasher(
            records.len() + static_keys.len(),
            Default::default(),
        );
        for r in records {
            let mut ctx = KeyContext::from_record(r);
            if r.prepaid {
                ctx.credited = Some(credits.get(&r.id).copied().unwrap_or(Decimal::ZERO));
            }
            match digest_of_hex(&r.key_hash) {
                Some(d) => {
                    by_hash.insert(d, Arc::new(ctx));
                }
                None => {
                    tracing::warn!(key_id = %r.id, "virtual key with a malformed stored hash; it cannot be used")
                }
            }
        }
        for (i, k) in static_keys.iter().enumerate() {
            by_hash.insert(
                digest(k),
                Arc::new(KeyContext {
                    key_id: format!("static:{i}"),
                    name: format!("API_KEYS[{i}]"),
                    ..KeyContext::internal("static")
                }),
            );
        }
        Self { by_hash }
    }

    /// A key by its id (admin paths; a scan).
    pub fn by_id(&self, id: &str) -> Option<&Arc<KeyContext>> {
        self.by_hash.values().find(|k| k.key_id == id)
    }

    /// Looks up a presented key.
    pub fn get(&self, plaintext: &str) -> Option<&Arc<KeyContext>> {
        self.by_hash.get(&digest(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_look_up_by_hash() {
        let (plain, hash, prefix) = mint_key();
        assert!(plain.starts_with("mg-") && plain.len() == 43);
        assert!(plain.starts_with(&prefix) && prefix.len() == 9);
        assert_eq!(hash_key(&plain), hash);
        let (other, _, _) = mint_key();
        assert_ne!(plain, other);
        let ring = KeyRing::build(&[], &["legacy-key".to_string()]);
        assert_eq!(ring.get("legacy-key").unwrap().key_id, "static:0");
        assert!(ring.get("nope").is_none());
    }

    #[test]
    fn stored_hex_hashes_match_presented_keys() {
        let (plain, hash, _) = mint_key();
        let upper = VirtualKeyRecord::new(hash.to_uppercase(), "mg-u".into(), "u".into(), None);
        let ring = KeyRing::build(&[upper], &[]);
        assert_eq!(ring.get(&plain).unwrap().name, "u");
        let bad = VirtualKeyRecord::new("not-hex".into(), "mg-x".into(), "x".into(), None);
        let ring = KeyRing::build(&[bad], &[]);
        assert!(ring.by_hash.is_empty());
        assert!(ring.get("not-hex").is_none());
    }

    #[test]
    fn prepaid_keys_carry_their_credited_sum() {
        let mut prepaid = VirtualKeyRecord::new(hash_key("a"), "mg-a".into(), "a".into(), None);
        prepaid.prepaid = true;
        let mut empty = VirtualKeyRecord::new(hash_key("b"), "mg-b".into(), "b".into(), None);
        empty.prepaid = true;
        let plain = VirtualKeyRecord::new(hash_key("c"), "mg-c".into(), "c".into(), None);
        let credits = HashMap::from([
            (prepaid.id.clone(), "12.50".parse::<Decimal>().unwrap()),
            // Events of a key that is not prepaid do not make it prepaid.
            (plain.id.clone(), Decimal::ONE),
        ]);
        let ring = KeyRing::build_with_credits(&[prepaid, empty, plain], &credits, &[]);
        assert_eq!(
            ring.get("a").unwrap().credited,
            Some("12.5".parse().unwrap())
        );
        assert_eq!(ring.get("b").unwrap().credited, Some(Decimal::ZERO));
        assert_eq!(ring.get("c").unwrap().credited, None);
    }
}
