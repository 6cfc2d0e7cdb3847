//! Bounded maps of live shared state (health of upstreams and keys, strategy selectors), read
//! on every request.
//!
//! The canonical store is a bounded LRU (`moka`, at most `capacity` entries, whatever names
//! clients send). In front of it each thread keeps the entries it used recently in a plain
//! map, so the common lookup is one hash of the name and no shared cache bookkeeping. When the
//! LRU evicts anything, a generation counter moves and every thread drops its front map, so a
//! thread never keeps using state the store no longer has (one name, one state). Each front
//! map is bounded too (`FRONT_CAPACITY` per thread and map).

use moka::sync::Cache;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The hasher of per-thread maps on the request path: foldhash, seeded per process. With
/// SipHash (std's default) these maps cost ~2,200 more instructions per request (callgrind).
/// The keys are names and numbers, and every map is bounded in size (a front map is cleared
/// at `FRONT_CAPACITY`), so no key set can make one slow for long.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Entries one thread keeps in front of one map.
const FRONT_CAPACITY: usize = 1024;

static NEXT_MAP: AtomicU64 = AtomicU64::new(1);

type Shared = Arc<dyn Any + Send + Sync>;

struct Front {
    generation: u64,
    entries: FastMap<String, Shared>,
}

thread_local! {
    static FRONTS: RefCell<FastMap<u64, Front>> = RefCell::new(FastMap::default());
}

/// A bounded map from names to shared state `V`, created on first use.
pub struct Tracked<V> {
    id: u64,
    store: Cache<String, Arc<V>>,
    generation: Arc<AtomicU64>,
}

impl<V> std::fmt::Debug for Tracked<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("entries", &self.store.entry_count())
            .finish()
    }
}

impl<V: Send + Sync + 'static> Tracked<V> {
    pub fn new(capacity: u64) -> Self {
        let generation = Arc::new(AtomicU64::new(0));
        let moved = generation.clone();
        let store = Cache::builder()
            .max_capacity(capacity)
            .eviction_listener(move |_, _, _| {
                moved.fetch_add(1, Ordering::Relaxed);
            })
            .build();
        Self {
            id: NEXT_MAP.fetch_add(1, Ordering::Relaxed),
            store,
            generation,
        }
    }

    /// The state of `name`, made with `make` if there is none.
    pub fn get_or(&self, name: &str, make: impl FnOnce() -> V) -> Arc<V> {
        let generation = self.generation.load(Ordering::Relaxed);
        let hit = FRONTS.with(|f| {
            let mut fronts = f.borrow_mut();
            let front = fronts.entry(self.id).or_insert_with(|| Front {
                generation,
                entries: FastMap::default(),
            });
            if front.generation != generation {
                front.entries.clear();
                front.generation = generation;
            }
            front.entries.get(name).cloned()
        });
        if let Some(v) = hit.and_then(|a| a.downcast::<V>().ok()) {
            return v;
        }
        let v = match self.store.get(name) {
            Some(v) => v,
            None => self
                .store
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(make()))
                .into_value(),
        };
        FRONTS.with(|f| {
            let mut fronts = f.borrow_mut();
            if let Some(front) = fronts.get_mut(&self.id) {
                if front.entries.len() >= FRONT_CAPACITY {
                    front.entries.clear();
                }
                front.entries.insert(name.to_owned(), v.clone() as Shared);
            }
        });
        v
    }

    /// The state of `name`, if it has any.
    pub fn get(&self, name: &str) -> Option<Arc<V>> {
        self.store.get(name)
    }

    /// Every entry (for admin views).
    pub fn iter(&self) -> impl Iterator<Item = (Arc<String>, Arc<V>)> + '_ {
        self.store.iter()
    }

    /// How many entries the store holds (after pending evictions).
    pub fn len(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets `name` (every thread's front too).
    pub fn remove(&self, name: &str) {
        self.store.invalidate(name);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_one_state_and_bounded() {
        let t: Tracked<AtomicU64> = Tracked::new(16);
        let a = t.get_or("a", || AtomicU64::new(0));
        a.fetch_add(1, Ordering::Relaxed);
        assert_eq!(
            t.get_or("a", || AtomicU64::new(0)).load(Ordering::Relaxed),
            1
        );
        assert!(Arc::ptr_eq(&a, &t.get_or("a", || AtomicU64::new(9))));
        for i in 0..1000 {
            t.get_or(&format!("n{i}"), || AtomicU64::new(0));
        }
        assert!(t.len() <= 16, "{}", t.len());
        // Whatever the store still holds is what every thread sees.
        for (name, v) in t.iter() {
            assert!(Arc::ptr_eq(&v, &t.get_or(&name, || AtomicU64::new(0))));
        }
    }

    #[test]
    fn removed_means_fresh_state_everywhere() {
        let t: Tracked<AtomicU64> = Tracked::new(16);
        t.get_or("a", || AtomicU64::new(5));
        t.remove("a");
        assert_eq!(
            t.get_or("a", || AtomicU64::new(7)).load(Ordering::Relaxed),
            7
        );
    }
}
