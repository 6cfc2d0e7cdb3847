//! Sticky sessions and session context (seed 001).
//!
//! A session id (`X-Session-Id`, Claude Code's `X-Claude-Code-Session-Id`, or the request's
//! `prompt_cache_key`) pins the first upstream chosen for it; later requests go there while it
//! is healthy, and a failover re-pins. The messages of a session (requests and answers) are
//! kept, bounded in count and size, for `GET /context/{session_id}`. Both expire after the
//! session TTL of inactivity. In memory (per instance).

use moka::sync::Cache;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages kept per session.
pub const MAX_CONTEXT_MESSAGES: usize = 100;
/// Largest message kept (bytes of its JSON); larger ones are truncated to a note.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

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

/// One stored message of a session.
#[derive(Debug, Clone, Serialize)]
pub struct ContextMessage {
    pub role: String,
    pub content: serde_json::Value,
    pub at_ms: i64,
}

/// The contexts kept under one session id, by owning key.
type Contexts = HashMap<String, VecDeque<ContextMessage>>;

/// Session pins and contexts.
pub struct Sessions {
    pins: Cache<String, Arc<Mutex<Pin>>>,
    /// session → owner (the virtual key) → messages: a key only ever sees its own context.
    contexts: Cache<String, Arc<Mutex<Contexts>>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            pins: Cache::builder()
                .time_to_idle(ttl)
                .max_capacity(200_000)
                .build(),
            contexts: Cache::builder()
                .time_to_idle(ttl)
                .max_capacity(20_000)
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
        if let Some(p) = self.pins.get(session)
            && let Ok(mut g) = p.lock()
        {
            if g.provider_id != provider_id
                || g.upstream_model != upstream_model
                || g.model != model
            {
                g.provider_id = provider_id.into();
                g.provider = provider.into();
                g.upstream_model = upstream_model.into();
                g.model = model.into();
                g.pinned_at_ms = now;
            }
            g.last_used_ms = now;
            g.requests += 1;
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
    /// the bound).
    pub fn append(&self, session: &str, owner: &str, messages: Vec<(String, serde_json::Value)>) {
        if messages.is_empty() {
            return;
        }
        let ctx = self
            .contexts
            .get_with(session.to_owned(), || Arc::new(Mutex::new(HashMap::new())));
        let Ok(mut by_owner) = ctx.lock() else { return };
        let q = by_owner.entry(owner.to_owned()).or_default();
        let now = modelgate_store::now_ms();
        for (role, content) in messages {
            let content = if content.to_string().len() > MAX_MESSAGE_BYTES {
                serde_json::Value::String(format!(
                    "[message of more than {MAX_MESSAGE_BYTES} bytes not stored]"
                ))
            } else {
                content
            };
            if q.len() == MAX_CONTEXT_MESSAGES {
                q.pop_front();
            }
            q.push_back(ContextMessage {
                role,
                content,
                at_ms: now,
            });
        }
    }

    /// The context `owner` keeps under `session`.
    pub fn context(&self, session: &str, owner: &str) -> Option<Vec<ContextMessage>> {
        self.contexts.get(session).and_then(|c| {
            c.lock()
                .ok()
                .and_then(|m| m.get(owner).map(|q| q.iter().cloned().collect()))
        })
    }
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
        assert_eq!(c[0].content, "m50");
        assert!(s.remove("s1"));
        assert!(s.pin("s1").is_none() && s.context("s1", "key-a").is_none());
    }
}
