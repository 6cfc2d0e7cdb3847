//! Balancing strategies: order a group of candidate upstreams for one request.
//!
//! - `weighted_random`: smooth weighted selection (nginx's algorithm) over the configured
//!   weights, starting from a random phase; over any window of N picks each upstream's share
//!   is within one pick of its weight, so traffic never clumps.
//! - `round_robin`: each upstream in turn, weights ignored.
//! - `least_connections`: fewest requests in flight; ties broken in rotation.
//! - `best_performance`: highest success rate ÷ EWMA latency (time to first token for
//!   streams); unmeasured upstreams count as the best so they get measured; 1 in 20 picks
//!   explores another upstream so a recovered one is noticed.
//! - `adaptive`: smooth weighted selection over an effective weight =
//!   weight × success_rate² × (fastest EWMA latency ÷ this EWMA latency) ÷ (1 + in flight).
//!   A healthy fast idle upstream keeps its configured share; one that slows down, fails or
//!   queues loses share in proportion, and gets it back as its numbers recover.
//! - `priority`: the lowest priority number first; within a tier, smooth weighted by weight.
//!
//! The first element is the pick; the rest is the failover order.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A balancing strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    WeightedRandom,
    RoundRobin,
    LeastConnections,
    BestPerformance,
    Adaptive,
    Priority,
    /// The lowest effective price for this caller first (a candidate whose provider still has
    /// free credit for the caller is free); ties by weight.
    Cheapest,
}

impl Strategy {
    pub const ALL: [&'static str; 7] = [
        "weighted_random",
        "round_robin",
        "least_connections",
        "best_performance",
        "adaptive",
        "priority",
        "cheapest",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::WeightedRandom => "weighted_random",
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastConnections => "least_connections",
            Strategy::BestPerformance => "best_performance",
            Strategy::Adaptive => "adaptive",
            Strategy::Priority => "priority",
            Strategy::Cheapest => "cheapest",
        }
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "weighted_random" | "weighted" | "random" => Ok(Strategy::WeightedRandom),
            "round_robin" => Ok(Strategy::RoundRobin),
            "least_connections" => Ok(Strategy::LeastConnections),
            "best_performance" => Ok(Strategy::BestPerformance),
            "adaptive" => Ok(Strategy::Adaptive),
            "priority" | "fallback" => Ok(Strategy::Priority),
            "cheapest" | "cost" => Ok(Strategy::Cheapest),
            _ => Err(format!(
                "unknown strategy '{s}'; expected one of: {}",
                Strategy::ALL.join(", ")
            )),
        }
    }
}

/// What a strategy knows about one candidate.
#[derive(Debug, Clone)]
pub struct Input {
    /// Stable id (provider + upstream model).
    pub id: String,
    pub weight: f64,
    pub priority: i64,
    pub in_flight: i64,
    pub ewma_latency_ms: Option<f64>,
    pub success_rate: f64,
    /// Effective price for this caller (per million input + output tokens; 0 when free);
    /// `None` when unknown (ordered last by `cheapest`).
    pub price: Option<f64>,
}

/// Mutable selection state of one group (a logical model or an ad-hoc group).
#[derive(Debug, Default)]
pub struct Selector {
    current: Mutex<crate::tracked::FastMap<String, f64>>,
    counter: AtomicU64,
}

impl Selector {
    /// Orders `inputs` (indices into it) and returns per-candidate scores.
    /// With `commit = false` the selector's state is not advanced (for `/routing/decide`).
    pub fn order(
        &self,
        strategy: Strategy,
        inputs: &[Input],
        commit: bool,
    ) -> (Vec<usize>, Vec<f64>) {
        let n = inputs.len();
        if n == 0 {
            return (vec![], vec![]);
        }
        let tick = if commit {
            self.counter.fetch_add(1, Ordering::Relaxed)
        } else {
            self.counter.load(Ordering::Relaxed)
        };
        match strategy {
            // One candidate (most models): nothing to choose, no state to keep.
            Strategy::WeightedRandom if n == 1 => (vec![0], vec![inputs[0].weight.max(0.0)]),
            Strategy::WeightedRandom => {
                let w: Vec<f64> = inputs.iter().map(|i| i.weight.max(0.0)).collect();
                self.smooth(inputs, &w, commit)
            }
            Strategy::RoundRobin => {
                let start = (tick % n as u64) as usize;
                ((0..n).map(|k| (start + k) % n).collect(), vec![1.0; n])
            }
            Strategy::LeastConnections => {
                let scores: Vec<f64> = inputs.iter().map(|i| -(i.in_flight as f64)).collect();
                let min = inputs.iter().map(|i| i.in_flight).min().unwrap_or(0);
                let tied: Vec<usize> = (0..n).filter(|&i| inputs[i].in_flight == min).collect();
                // Equal loads are served in turn; the rest follow by load.
                let first = tied[(tick % tied.len() as u64) as usize];
                let mut idx: Vec<usize> = (0..n).filter(|&i| i != first).collect();
                idx.sort_by_key(|&i| inputs[i].in_flight);
                idx.insert(0, first);
                (idx, scores)
            }
            Strategy::BestPerformance => {
                let best_latency = inputs
                    .iter()
                    .filter_map(|i| i.ewma_latency_ms)
                    .fold(f64::INFINITY, f64::min);
                let scores: Vec<f64> = inputs
                    .iter()
                    .map(|i| {
                        let lat = i
                            .ewma_latency_ms
                            .unwrap_or(if best_latency.is_finite() {
                                best_latency
                            } else {
                                1.0
                            })
                            .max(0.001);
                        i.success_rate.max(0.0) / lat
                    })
                    .collect();
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&a, &b| {
                    scores[b].total_cmp(&scores[a]).then(
                        inputs[a]
                            .ewma_latency_ms
                            .is_some()
                            .cmp(&inputs[b].ewma_latency_ms.is_some()),
                    )
                });
                if n > 1 && commit && tick % 20 == 19 {
                    let k = 1 + (tick / 20) as usize % (n - 1);
                    idx.swap(0, k);
                }
                (idx, scores)
            }
            Strategy::Adaptive => {
                let best_latency = inputs
                    .iter()
                    .filter_map(|i| i.ewma_latency_ms)
                    .fold(f64::INFINITY, f64::min);
                let w: Vec<f64> = inputs
                    .iter()
                    .map(|i| {
                        let speed = match (i.ewma_latency_ms, best_latency.is_finite()) {
                            (Some(l), true) => (best_latency.max(0.001) / l.max(0.001)).min(1.0),
                            _ => 1.0,
                        };
                        let health = i.success_rate.clamp(0.0, 1.0);
                        i.weight.max(0.0) * health * health * speed
                            / (1.0 + i.in_flight.max(0) as f64)
                    })
                    .collect();
                self.smooth(inputs, &w, commit)
            }
            Strategy::Priority => {
                let top = inputs.iter().map(|i| i.priority).min().unwrap_or(0);
                let tier: Vec<usize> = (0..n).filter(|&i| inputs[i].priority == top).collect();
                let tier_inputs: Vec<Input> = tier.iter().map(|&i| inputs[i].clone()).collect();
                let w: Vec<f64> = tier_inputs.iter().map(|i| i.weight.max(0.0)).collect();
                let (order_in_tier, _) = self.smooth(&tier_inputs, &w, commit);
                let mut idx: Vec<usize> = order_in_tier.into_iter().map(|k| tier[k]).collect();
                let mut rest: Vec<usize> = (0..n).filter(|i| !idx.contains(i)).collect();
                rest.sort_by(|&a, &b| {
                    inputs[a]
                        .priority
                        .cmp(&inputs[b].priority)
                        .then(inputs[b].weight.total_cmp(&inputs[a].weight))
                });
                idx.extend(rest);
                let scores = inputs.iter().map(|i| -(i.priority as f64)).collect();
                (idx, scores)
            }
            Strategy::Cheapest => {
                let price = |i: &Input| i.price.unwrap_or(f64::INFINITY);
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&a, &b| {
                    price(&inputs[a])
                        .total_cmp(&price(&inputs[b]))
                        .then(inputs[b].weight.total_cmp(&inputs[a].weight))
                });
                let scores = inputs.iter().map(|i| -price(i)).collect();
                (idx, scores)
            }
        }
    }

    /// Smooth weighted selection: every candidate gains its weight, the richest is picked and
    /// pays the total. The rest follow by weight.
    fn smooth(&self, inputs: &[Input], weights: &[f64], commit: bool) -> (Vec<usize>, Vec<f64>) {
        let n = inputs.len();
        let total: f64 = weights.iter().sum();
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]));
        if total <= 0.0 {
            return (idx, weights.to_vec());
        }
        let Ok(mut cur) = self.current.lock() else {
            return (idx, weights.to_vec());
        };
        let mut best = 0;
        let mut best_val = f64::NEG_INFINITY;
        let mut next: Vec<f64> = Vec::with_capacity(n);
        for (k, i) in inputs.iter().enumerate() {
            let start = match cur.get(&i.id) {
                Some(v) => *v,
                None => *cur
                    .entry(i.id.clone())
                    .or_insert_with(|| rand::random::<f64>() * weights[k]),
            };
            let v = start + weights[k];
            next.push(v);
            if v > best_val {
                best_val = v;
                best = k;
            }
        }
        if commit {
            for (k, i) in inputs.iter().enumerate() {
                let v = if k == best { next[k] - total } else { next[k] };
                match cur.get_mut(&i.id) {
                    Some(slot) => *slot = v,
                    None => {
                        cur.insert(i.id.clone(), v);
                    }
                }
            }
        }
        idx.retain(|&i| i != best);
        idx.insert(0, best);
        (idx, weights.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: &str, weight: f64) -> Input {
        Input {
            id: id.into(),
            weight,
            priority: 0,
            in_flight: 0,
            ewma_latency_ms: None,
            success_rate: 1.0,
            price: None,
        }
    }

    fn shares(strategy: Strategy, inputs: &[Input], n: usize) -> Vec<usize> {
        let s = Selector::default();
        let mut counts = vec![0; inputs.len()];
        for _ in 0..n {
            counts[s.order(strategy, inputs, true).0[0]] += 1;
        }
        counts
    }

    #[test]
    fn weighted_follows_weights_in_every_window() {
        let inputs = [input("a", 1.0), input("b", 3.0)];
        let s = Selector::default();
        let picks: Vec<usize> = (0..4000)
            .map(|_| s.order(Strategy::WeightedRandom, &inputs, true).0[0])
            .collect();
        let a = picks.iter().filter(|&&p| p == 0).count() as f64 / 4000.0;
        assert!((a - 0.25).abs() <= 0.03, "share of weight 1 of 1:3 was {a}");
        for window in picks.chunks(8) {
            let a = window.iter().filter(|&&p| p == 0).count();
            assert!((1..=3).contains(&a), "clumped window {window:?}");
        }
    }

    #[test]
    fn one_weighted_candidate_is_ordered_as_the_general_path_orders_it() {
        for w in [0.0, 1.0, 2.5, -1.0] {
            let one = [input("a", w)];
            let general = Selector::default().smooth(&one, &[w.max(0.0)], true);
            let s = Selector::default();
            for _ in 0..3 {
                assert_eq!(s.order(Strategy::WeightedRandom, &one, true), general);
            }
            // No selection state is kept for it.
            assert!(s.current.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn round_robin_is_even() {
        let inputs = [input("a", 1.0), input("b", 5.0), input("c", 1.0)];
        assert_eq!(
            shares(Strategy::RoundRobin, &inputs, 3000),
            vec![1000, 1000, 1000]
        );
    }

    #[test]
    fn least_connections_prefers_idle_and_rotates_ties() {
        let mut inputs = vec![input("a", 1.0), input("b", 1.0), input("c", 1.0)];
        inputs[0].in_flight = 5;
        let counts = shares(Strategy::LeastConnections, &inputs, 1000);
        assert_eq!(counts[0], 0);
        assert!((counts[1] as i64 - counts[2] as i64).abs() <= 1);
    }

    #[test]
    fn best_performance_picks_the_fast_one_and_still_explores() {
        let mut inputs = vec![input("slow", 1.0), input("fast", 1.0)];
        inputs[0].ewma_latency_ms = Some(500.0);
        inputs[1].ewma_latency_ms = Some(20.0);
        let counts = shares(Strategy::BestPerformance, &inputs, 1000);
        assert!(counts[1] >= 940 && counts[0] >= 40, "{counts:?}");
        // Unmeasured upstreams are tried first.
        let fresh = vec![inputs[1].clone(), input("new", 1.0)];
        assert_eq!(
            Selector::default()
                .order(Strategy::BestPerformance, &fresh, false)
                .0[0],
            1
        );
        // Failures outweigh speed.
        let mut failing = inputs.clone();
        failing[1].success_rate = 0.01;
        assert_eq!(
            Selector::default()
                .order(Strategy::BestPerformance, &failing, false)
                .0[0],
            0
        );
    }

    #[test]
    fn adaptive_shifts_share_away_from_slow_and_failing() {
        let mut inputs = vec![input("a", 1.0), input("b", 1.0)];
        let even = shares(Strategy::Adaptive, &inputs, 1000);
        assert!((even[0] as i64 - 500).abs() <= 2, "{even:?}");
        inputs[1].ewma_latency_ms = Some(400.0);
        inputs[0].ewma_latency_ms = Some(100.0);
        let c = shares(Strategy::Adaptive, &inputs, 1000);
        assert!(
            (c[1] as f64 / 1000.0 - 0.2).abs() < 0.03,
            "4x slower gets 1/5 of the traffic: {c:?}"
        );
        inputs[1].ewma_latency_ms = Some(100.0);
        inputs[1].success_rate = 0.5;
        let c = shares(Strategy::Adaptive, &inputs, 1000);
        assert!(
            (c[1] as f64 / 1000.0 - 0.2).abs() < 0.03,
            "50% success → weight 0.25 → 1/5: {c:?}"
        );
    }

    #[test]
    fn priority_uses_tiers_then_weights() {
        let mut inputs = vec![input("backup", 10.0), input("p1", 1.0), input("p2", 3.0)];
        inputs[0].priority = 1;
        let counts = shares(Strategy::Priority, &inputs, 4000);
        assert_eq!(counts[0], 0);
        assert!(
            (counts[1] as f64 / 4000.0 - 0.25).abs() < 0.03,
            "{counts:?}"
        );
        let order = Selector::default()
            .order(Strategy::Priority, &inputs, false)
            .0;
        assert_eq!(
            *order.last().unwrap(),
            0,
            "the backup tier is last in failover order"
        );
    }

    #[test]
    fn parses_names() {
        for s in Strategy::ALL {
            assert_eq!(s.parse::<Strategy>().unwrap().as_str(), s);
        }
        assert!("nope".parse::<Strategy>().is_err());
    }

    #[test]
    fn cheapest_orders_by_price_then_weight() {
        let priced = |id: &str, w: f64, p: Option<f64>| Input {
            price: p,
            ..input(id, w)
        };
        let inputs = vec![
            priced("a", 1.0, Some(3.0)),
            priced("b", 1.0, None),
            priced("c", 1.0, Some(0.0)),
            priced("d", 5.0, Some(3.0)),
        ];
        let (order, _) = Selector::default().order(Strategy::Cheapest, &inputs, true);
        assert_eq!(order, vec![2, 3, 0, 1]);
    }
}
