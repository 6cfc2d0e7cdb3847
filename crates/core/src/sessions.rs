//! Sticky sessions and session context (seed 001).
//!
//! A session id (`X-Session-Id`, Claude Code's `X-Claude-Code-Session-Id`, or the request's
//! `prompt_cache_key`) pins the first upstream chosen for it; later requests go there while it
//! is healthy, and a failover re-pins. The messages of a session (requests and answers) are
//! kept for `GET /context/{session_id}`. Both expire after the session TTL of inactivity.
//! In memory (per instance).
//!
//! Memory is bounded in bytes whatever clients send: a stored message is at most
//! `MAX_MESSAGE_BYTES` of JSON (larger ones become a note), one key's context under one
//! session at most `MAX_CONTEXT_MESSAGES` messages and `MAX_CONTEXT_BYTES`, all contexts
//! together at most `SessionLimits::context_bytes` and all pins `SessionLimits::pin_bytes`
//! (least recently used sessions are evicted first). Contents are kept as the JSON text they
//! serialize to, so the bytes counted are the bytes held.

use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages kept per session and key.
pub const MAX_CONTEXT_MESSAGES: usize = 100;
/// Largest message kept (bytes of its JSON); larger ones are replaced by a note.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Bytes kept per session and key; the oldest messages are dropped beyond it.
pub const MAX_CONTEXT_BYTES: usize = 1024 * 1024;
/// Default bound of all session contexts together.
pub const DEFAULT_CONTEXT_BYTES: u64 = 32 * 1024 * 1024;
/// Default bound of all session pins together.
pub const DEFAULT_PIN_BYTES: u64 = 32 * 1024 * 1024;
/// Bookkeeping counted per stored message and per pin, on top of its text.
const ENTRY_OVERHEAD: usize = 96;

/// Byte bounds of the session store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// All contexts together (message text plus bookkeeping).
    pub context_bytes: u64,
    /// All pins together.
    pub pin_bytes: u64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            context_bytes: DEFAULT_CONTEXT_BYTES,
            pin_bytes: DEFAULT_PIN_BYTES,
        }
    }
}

/// Where a session is pinned.
#[derive(Debug, Clone, Serialize)]
pub struct Pin {
    pub session_id: String,
    pub model: String,
    pub provider_id: String,
    pub provider: String,
    pub upstream_model: String,
    pub pinned_at_ms: i64,
    pub last_used_ms: i64,
    pub requests: u64,
}

impl Pin {
    fn weight(&self) -> usize {
        self.session_id.len()
            + self.model.len()
            + self.provider_id.len()
            + self.provider.len()
            + self.upstream_model.len()
    }
}

/// One stored message of a session; `content` is the JSON the client or upstream sent.
#[derive(Debug, Clone, Serialize)]
pub struct ContextMessage {
    pub role: String,
    pub content: Box<RawValue>,
    pub at_ms: i64,
}

impl ContextMessage {
    fn weight(&self) -> usize {
        self.role.len() + self.content.get().len() + ENTRY_OVERHEAD
    }
}

/// One key's messages under one session, with their weight.
#[derive(Debug, Default)]
struct Context {
    messages: VecDeque<ContextMessage>,
    bytes: usize,
}

/// The contexts kept under one session id, by owning key.
type Contexts = HashMap<String, Context>;

/// Session pins and contexts.
pub struct Sessions {
    pins: Cache<String, Arc<Mutex<Pin>>>,
    /// session → owner (the virtual key) → messages: a key only ever sees its own context.
    contexts: Cache<String, Arc<Mutex<Contexts>>>,
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Sessions {
    /// A store with the default byte bounds.
    pub fn new(ttl: Duration) -> Self {
        Self::with_limits(ttl, SessionLimits::default())
    }

    /// A store bounded by `limits`.
    pub fn with_limits(ttl: Duration, limits: SessionLimits) -> Self {
        Self {
            pins: Cache::builder()
                .time_to_idle(ttl)
                .eviction_policy(EvictionPolicy::lru())
                .weigher(|k: &String, p: &Arc<Mutex<Pin>>| {
                    let w = p.lock().map_or(0, |g| g.weight());
                    clamp(k.len() + w + ENTRY_OVERHEAD)
                })
                .max_capacity(limits.pin_bytes)
                .build(),
            contexts: Cache::builder()
                .time_to_idle(ttl)
                .eviction_policy(EvictionPolicy::lru())
                .weigher(|k: &String, c: &Arc<Mutex<Contexts>>| {
                    let w = c.lock().map_or(0, |m| {
                        m.iter()
                            .map(|(owner, ctx)| owner.len() + ctx.bytes + ENTRY_OVERHEAD)
                            .sum()
                    });
                    clamp(k.len() + w)
                })
                .max_capacity(limits.context_bytes)
                .build(),
        }
    }

    pub fn pin(&self, session: &str) -> Option<Pin> {
        self.pins
            .get(session)
            .and_then(|p| p.lock().ok().map(|g| g.clone()))
    }

    /// Records that `session` was served by this upstream (pins or re-pins).
    pub fn served(
        &self,
        session: &str,
        model: &str,
        provider_id: &str,
        provider: &str,
        upstream_model: &str,
    ) {
        let now = modelgate_store::now_ms();
        if let Some(p) = self.pins.get(session) {
            let repinned = match p.lock() {
                Ok(mut g) => {
                    let repin = g.provider_id != provider_id
                        || g.upstream_model != upstream_model
                        || g.model != model;
                    if repin {
                        g.provider_id = provider_id.into();
                        g.provider = provider.into();
                        g.upstream_model = upstream_model.into();
                        g.model = model.into();
                        g.pinned_at_ms = now;
                    }
                    g.last_used_ms = now;
                    g.requests += 1;
                    repin
                }
                Err(_) => return,
            };
            if repinned {
                // Weighed again: the names it holds changed.
                self.pins.insert(session.to_owned(), p);
            }
            return;
        }
        self.pins.insert(
            session.to_owned(),
            Arc::new(Mutex::new(Pin {
                session_id: session.into(),
                model: model.into(),
                provider_id: provider_id.into(),
                provider: provider.into(),
                upstream_model: upstream_model.into(),
                pinned_at_ms: now,
                last_used_ms: now,
                requests: 1,
            })),
        );
    }

    /// Forgets a session's pin and context; true if it existed.
    pub fn remove(&self, session: &str) -> bool {
        let had = self.pins.contains_key(session) || self.contexts.contains_key(session);
        self.pins.invalidate(session);
        self.contexts.invalidate(session);
        had
    }

    /// Appends messages to the context `owner` keeps under `session` (oldest dropped beyond
    /// the bounds).
    pub fn append(&self, session: &str, owner: &str, messages: Vec<(String, serde_json::Value)>) {
        if messages.is_empty() {
            return;
        }
        let ctx = self
            .contexts
            .get_with(session.to_owned(), || Arc::new(Mutex::new(HashMap::new())));
        {
            let Ok(mut by_owner) = ctx.lock() else { return };
            let c = by_owner.entry(owner.to_owned()).or_default();
            let now = modelgate_store::now_ms();
            for (role, content) in messages {
                let content = stored(&content);
                let m = ContextMessage {
                    role: role.chars().take(64).collect(),
                    content,
                    at_ms: now,
                };
                c.bytes += m.weight();
                c.messages.push_back(m);
                while c.messages.len() > MAX_CONTEXT_MESSAGES || c.bytes > MAX_CONTEXT_BYTES {
                    match c.messages.pop_front() {
                        Some(old) => c.bytes = c.bytes.saturating_sub(old.weight()),
                        None => break,
                    }
                }
            }
        }
        // Weighed again with what it holds now.
        self.contexts.insert(session.to_owned(), ctx);
    }

    /// Whether `owner` keeps a non-empty context under `session` (without copying it).
    pub fn has_context(&self, session: &str, owner: &str) -> bool {
        self.contexts.get(session).is_some_and(|c| {
            c.lock()
                .is_ok_and(|m| m.get(owner).is_some_and(|ctx| !ctx.messages.is_empty()))
        })
    }

    /// The context `owner` keeps under `session`.
    pub fn context(&self, session: &str, owner: &str) -> Option<Vec<ContextMessage>> {
        self.contexts.get(session).and_then(|c| {
            c.lock().ok().and_then(|m| {
                m.get(owner)
                    .map(|ctx| ctx.messages.iter().cloned().collect())
            })
        })
    }

    /// Bytes the contexts hold now, as weighed (after pending evictions ran).
    pub fn context_bytes(&self) -> u64 {
        self.contexts.run_pending_tasks();
        self.contexts.weighted_size()
    }
}

/// The `(role, content)` of the messages of a request worth remembering: the last one when
/// the session already has context, otherwise the last `MAX_CONTEXT_MESSAGES`. Only those are
/// decoded; the rest of the array is skimmed as raw JSON, so a body with a million messages
/// costs one linear pass. `None` when `messages` is not an array.
pub fn messages_to_remember(
    messages: &RawValue,
    had_context: bool,
) -> Option<Vec<(String, serde_json::Value)>> {
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(default)]
        role: Option<String>,
        #[serde(default, borrow)]
        content: Option<&'a RawValue>,
    }
    let keep = if had_context { 1 } else { MAX_CONTEXT_MESSAGES };
    let mut de = serde_json::Deserializer::from_str(messages.get());
    let last = serde::de::DeserializeSeed::deserialize(LastItems(keep), &mut de).ok()?;
    de.end().ok()?;
    Some(
        last.iter()
            .filter_map(|m| {
                // A message too large to be kept is never decoded: its role is read from
                // its first bytes (where clients put it), its content becomes a note.
                if m.get().len() > MAX_MESSAGE_BYTES + 1024 {
                    let role = leading_role(m.get()).unwrap_or_else(|| "user".into());
                    return Some((role, too_large_note()));
                }
                let m = serde_json::from_str::<Message<'_>>(m.get()).ok()?;
                let content = match m.content {
                    None => serde_json::Value::Null,
                    Some(c) => serde_json::from_str(c.get()).unwrap_or_default(),
                };
                Some((m.role.unwrap_or_else(|| "user".into()), content))
            })
            .collect(),
    )
}

/// Reads a JSON array keeping only its last `.0` items, as raw JSON borrowed from the input.
struct LastItems(usize);

impl<'de> serde::de::DeserializeSeed<'de> for LastItems {
    type Value = VecDeque<&'de RawValue>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for LastItems {
    type Value = VecDeque<&'de RawValue>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut last = VecDeque::with_capacity(self.0.min(128));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if last.len() == self.0 {
                last.pop_front();
            }
            if self.0 > 0 {
                last.push_back(item);
            }
        }
        Ok(last)
    }
}

/// The `role` of a message object when it is its first member (`{"role":"user",…`).
fn leading_role(raw: &str) -> Option<String> {
    let rest = raw.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest.strip_prefix("\"role\"")?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    let role = &rest[..end];
    (end <= 64 && !role.contains('\\')).then(|| role.to_owned())
}

fn too_large_note() -> serde_json::Value {
    serde_json::Value::String(format!(
        "[message of more than {MAX_MESSAGE_BYTES} bytes not stored]"
    ))
}

/// The JSON text a message is kept as: itself, or a note when it is too large.
fn stored(content: &serde_json::Value) -> Box<RawValue> {
    let note = || serde_json::value::to_raw_value(&too_large_note());
    let raw = match serde_json::value::to_raw_value(content) {
        Ok(r) if r.get().len() <= MAX_MESSAGE_BYTES => Ok(r),
        _ => note(),
    };
    raw.unwrap_or_else(|_| RawValue::NULL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_repins_and_bounds_context() {
        let s = Sessions::new(Duration::from_secs(60));
        s.served("s1", "m", "p1", "one", "u1");
        s.served("s1", "m", "p1", "one", "u1");
        assert_eq!(s.pin("s1").unwrap().requests, 2);
        s.served("s1", "m", "p2", "two", "u2");
        let p = s.pin("s1").unwrap();
        assert_eq!((p.provider.as_str(), p.requests), ("two", 3));
        for i in 0..150 {
            s.append(
                "s1",
                "key-a",
                vec![("user".into(), serde_json::json!(format!("m{i}")))],
            );
        }
        let c = s.context("s1", "key-a").unwrap();
        assert!(
            s.context("s1", "key-b").is_none(),
            "another key sees nothing"
        );
        assert_eq!(c.len(), MAX_CONTEXT_MESSAGES);
        assert_eq!(c[0].content.get(), "\"m50\"");
        assert!(s.remove("s1"));
        assert!(s.pin("s1").is_none() && s.context("s1", "key-a").is_none());
    }

    #[test]
    fn large_messages_become_a_note_and_a_context_is_bounded_in_bytes() {
        let s = Sessions::new(Duration::from_secs(60));
        let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        s.append("s", "k", vec![("user".into(), serde_json::json!(big))]);
        let c = s.context("s", "k").unwrap();
        assert!(c[0].content.get().contains("not stored"), "{:?}", c[0]);
        let msg = "y".repeat(MAX_MESSAGE_BYTES - 100);
        for _ in 0..60 {
            s.append("s", "k", vec![("user".into(), serde_json::json!(msg))]);
        }
        let c = s.context("s", "k").unwrap();
        let bytes: usize = c.iter().map(ContextMessage::weight).sum();
        assert!(bytes <= MAX_CONTEXT_BYTES, "{bytes}");
        assert!(
            c.len() >= MAX_CONTEXT_BYTES / MAX_MESSAGE_BYTES - 1,
            "{}",
            c.len()
        );
    }

    #[test]
    fn only_the_last_messages_are_decoded() {
        let mut body = String::from("[");
        for i in 0..1000 {
            body.push_str(&format!(r#"{{"role":"user","content":"m{i}"}},"#));
        }
        body.push_str(r#"{"role":"assistant","content":[{"type":"text","text":"last"}]}]"#);
        let raw = RawValue::from_string(body).unwrap();
        let first = messages_to_remember(&raw, false).unwrap();
        assert_eq!(first.len(), MAX_CONTEXT_MESSAGES);
        assert_eq!(first[0].1, "m901");
        let later = messages_to_remember(&raw, true).unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].0, "assistant");
        assert_eq!(later[0].1[0]["text"], "last");
        let huge = format!(
            r#"[{{ "role" : "tool", "content": "{}" }}]"#,
            "h".repeat(MAX_MESSAGE_BYTES * 2)
        );
        let huge = messages_to_remember(&RawValue::from_string(huge).unwrap(), false).unwrap();
        assert_eq!(huge[0].0, "tool");
        assert!(huge[0].1.as_str().unwrap().contains("not stored"));
        let not_array = RawValue::from_string("{}".into()).unwrap();
        assert!(messages_to_remember(&not_array, false).is_none());
        let s = Sessions::new(Duration::from_secs(60));
        assert!(!s.has_context("x", "k"));
        s.append("x", "k", later);
        assert!(s.has_context("x", "k") && !s.has_context("x", "other"));
    }

    #[test]
    fn all_contexts_together_stay_under_the_bound() {
        let limit = 4 * 1024 * 1024;
        let s = Sessions::with_limits(
            Duration::from_secs(60),
            SessionLimits {
                context_bytes: limit,
                pin_bytes: 1024 * 1024,
            },
        );
        let msg = serde_json::json!("z".repeat(30_000));
        for i in 0..2_000 {
            s.append(&format!("s{i}"), "k", vec![("user".into(), msg.clone())]);
            s.served(&format!("s{i}"), &"m".repeat(1000), "p", "p", "u");
        }
        assert!(s.context_bytes() <= limit, "{}", s.context_bytes());
        assert!(s.context_bytes() > limit / 2, "{}", s.context_bytes());
        // The newest sessions are the ones kept.
        assert!(s.context("s1999", "k").is_some());
        assert!(s.context("s0", "k").is_none());
        s.pins.run_pending_tasks();
        assert!(s.pins.weighted_size() <= 1024 * 1024);
        assert!(s.pin("s1999").is_some());
    }
}
