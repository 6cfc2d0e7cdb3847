//! One behaviour suite for the state backend, run on Memory and on Redis.
//!
//! Redis: `MG_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). When it cannot be reached the
//! Redis variant prints SKIPPED and passes, unless `MG_TEST_REDIS=1`, where it fails. Each Redis
//! test uses its own random key prefix and deletes its keys at the end. The clock is always an
//! argument: nothing here sleeps to cross a boundary.

// Test tasks end with the test.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use modelgate_store::state::{
    Adjustment, Admission, Admitted, Charge, Counter, MAX_AMOUNT, RedisConfig, RedisState, Refused,
    StateBackend, StateError, Tier,
};

/// 2026-12-01T10:00:00.250Z: mid-bucket on purpose.
const T0: i64 = 1_796_119_200_250;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// One micro-dollar in nano-units.
const MICRO_USD: i64 = 1_000;

struct Ctx {
    backend: StateBackend,
    redis: Option<RedisConfig>,
}

impl Ctx {
    /// Another gateway instance on the same state: the same memory, or a new Redis connection
    /// with the same prefix.
    async fn other_instance(&self) -> StateBackend {
        match &self.redis {
            None => self.backend.clone(),
            Some(config) => StateBackend::redis(config.clone()).await.unwrap(),
        }
    }
}

fn redis_url() -> String {
    std::env::var("MG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn redis_ctx(test: &str) -> Option<Ctx> {
    let mut config = RedisConfig::new(redis_url());
    config.prefix = format!("mgtest:{}:{test}:", uuid::Uuid::now_v7());
    config.command_timeout = Duration::from_secs(2);
    match StateBackend::redis(config.clone()).await {
        Ok(backend) => Some(Ctx {
            backend,
            redis: Some(config),
        }),
        Err(e) if std::env::var("MG_TEST_REDIS").as_deref() == Ok("1") => {
            panic!(
                "MG_TEST_REDIS=1 but Redis at {} is unreachable: {e}",
                redis_url()
            )
        }
        Err(e) => {
            eprintln!("SKIPPED {test} on Redis: {e}");
            None
        }
    }
}

/// Runs `case` on a fresh backend, cleaning Redis keys also when the case fails.
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                let ctx = super::Ctx { backend: super::StateBackend::memory(), redis: None };
                super::$case(ctx).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                let Some(ctx) = super::redis_ctx(stringify!($case)).await else { return };
                let super::StateBackend::Redis(state) = ctx.backend.clone() else { unreachable!() };
                let outcome = tokio::spawn(super::$case(ctx)).await;
                let deleted = state.clear().await.unwrap();
                assert!(deleted > 0 || outcome.is_err(), "the test wrote no keys under {}", state.prefix());
                if let Err(e) = outcome {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    )*};
}

on_both!(
    window_boundary_is_exact,
    hour_window_with_minute_buckets,
    period_rolls_over_with_the_key,
    leases_limit_release_and_expire,
    lease_renewal_keeps_a_long_stream,
    session_pin_first_writer_wins,
    cascade_spills_grant_then_balance,
    refusal_leaves_every_counter_untouched,
    settlement_applies_deltas_once,
    window_settlement_follows_the_admission_bucket,
    concurrent_admissions_never_overshoot_a_balance,
    concurrent_cascade_admissions_split_exactly,
    cache_and_kv_expire_with_the_clock,
    versions_are_seen_by_other_instances,
    large_amounts_are_exact_and_too_large_refused,
);

fn admitted(a: Admission) -> Admitted {
    match a {
        Admission::Admitted(a) => a,
        Admission::Refused(r) => panic!("expected admission, got {r:?}"),
    }
}

fn refused(a: Admission) -> Refused {
    match a {
        Admission::Refused(r) => r,
        Admission::Admitted(a) => panic!("expected refusal, got {a:?}"),
    }
}

async fn window_boundary_is_exact(ctx: Ctx) {
    let s = &ctx.backend;
    let rpm = Counter::window("vk:1:rpm", MINUTE, 1_000);
    let one = [Charge::limit(rpm.clone(), 1, 5)];
    // 5 requests spread over 40 s: all pass, each seeing what the ones before it used.
    for (i, t) in [T0, T0 + 10_000, T0 + 20_000, T0 + 30_000, T0 + 40_000]
        .into_iter()
        .enumerate()
    {
        let a = admitted(s.admit(&one, t).await.unwrap());
        assert_eq!(a.used_before, vec![i as i64]);
    }
    // The 6th is refused; room comes back when the bucket of T0 leaves the window.
    let now = T0 + 45_000;
    let r = refused(s.admit(&one, now).await.unwrap());
    let first_bucket_leaves = (T0 / 1_000 + 60) * 1_000;
    assert_eq!(
        r,
        Refused {
            index: 0,
            retry_after_ms: Some(first_bucket_leaves - now),
            used: 5,
            limit: 5
        }
    );
    assert_eq!(r.retry_after_ms, Some(14_750));
    // One millisecond before: still refused. At the instant: admitted.
    let r = refused(s.admit(&one, first_bucket_leaves - 1).await.unwrap());
    assert_eq!(r.retry_after_ms, Some(1));
    admitted(s.admit(&one, first_bucket_leaves).await.unwrap());
    assert_eq!(
        s.usage(std::slice::from_ref(&rpm), first_bucket_leaves)
            .await
            .unwrap(),
        vec![5]
    );
    // Needing three units frees three buckets: the retry is when the third-oldest leaves.
    let three = [Charge::limit(rpm.clone(), 3, 5)];
    let r = refused(s.admit(&three, first_bucket_leaves).await.unwrap());
    assert_eq!(
        r.retry_after_ms,
        Some(((T0 + 30_000) / 1_000 + 60) * 1_000 - first_bucket_leaves)
    );
    // More than the limit itself can never fit.
    let r = refused(
        s.admit(&[Charge::limit(rpm.clone(), 6, 5)], T0)
            .await
            .unwrap(),
    );
    assert_eq!(r.retry_after_ms, None);
    // A minute after the last request the window is empty again.
    let later = T0 + 40_000 + MINUTE + 1_000;
    assert_eq!(s.usage(&[rpm], later).await.unwrap(), vec![1]);
}

async fn hour_window_with_minute_buckets(ctx: Ctx) {
    let s = &ctx.backend;
    let tph = Counter::window("vk:1:tph", HOUR, MINUTE);
    let charge = |n| [Charge::limit(tph.clone(), n, 1_000)];
    admitted(s.admit(&charge(600), T0).await.unwrap());
    admitted(s.admit(&charge(400), T0 + 30 * MINUTE).await.unwrap());
    let now = T0 + 50 * MINUTE;
    let r = refused(s.admit(&charge(1), now).await.unwrap());
    let first_leaves = (T0 / MINUTE + 60) * MINUTE;
    assert_eq!(r.retry_after_ms, Some(first_leaves - now));
    assert_eq!((r.used, r.limit), (1_000, 1_000));
    admitted(s.admit(&charge(600), first_leaves).await.unwrap());
    assert_eq!(s.usage(&[tph], first_leaves).await.unwrap(), vec![1_000]);
}

async fn period_rolls_over_with_the_key(ctx: Ctx) {
    let s = &ctx.backend;
    let day_end = |d: u32| {
        Utc.with_ymd_and_hms(2026, 12, d, 0, 0, 0)
            .unwrap()
            .timestamp_millis()
    };
    let dec1 = Counter::period("vk:1:requests:day:2026-12-01", day_end(2));
    let dec2 = Counter::period("vk:1:requests:day:2026-12-02", day_end(3));
    for i in 0..3 {
        admitted(
            s.admit(&[Charge::limit(dec1.clone(), 1, 3)], T0 + i)
                .await
                .unwrap(),
        );
    }
    let r = refused(
        s.admit(&[Charge::limit(dec1.clone(), 1, 3)], T0 + 5)
            .await
            .unwrap(),
    );
    assert_eq!(r.retry_after_ms, Some(day_end(2) - (T0 + 5)));
    assert_eq!((r.used, r.limit), (3, 3));
    // The next day is a new key: it starts at zero; the old day can still be read.
    let next_day = day_end(2) + 1;
    admitted(
        s.admit(&[Charge::limit(dec2.clone(), 1, 3)], next_day)
            .await
            .unwrap(),
    );
    assert_eq!(s.usage(&[dec1, dec2], next_day).await.unwrap(), vec![3, 1]);
}

async fn leases_limit_release_and_expire(ctx: Ctx) {
    let s = &ctx.backend;
    let lease = |id: &str| [Charge::limit(Counter::lease("vk:1:conc", id, 30_000), 1, 2)];
    admitted(s.admit(&lease("a"), T0).await.unwrap());
    admitted(s.admit(&lease("b"), T0 + 1_000).await.unwrap());
    let r = refused(s.admit(&lease("c"), T0 + 2_000).await.unwrap());
    assert_eq!(
        (r.index, r.retry_after_ms, r.used, r.limit),
        (0, None, 2, 2)
    );
    // Releasing a frees a slot.
    let release = [Adjustment::Release {
        key: "vk:1:conc".into(),
        lease_id: "a".into(),
    }];
    s.settle("req-a", &release, T0 + 3_000).await.unwrap();
    admitted(s.admit(&lease("c"), T0 + 3_000).await.unwrap());
    refused(s.admit(&lease("d"), T0 + 4_000).await.unwrap());
    let live = Counter::lease("vk:1:conc", "-", 1);
    assert_eq!(
        s.usage(std::slice::from_ref(&live), T0 + 4_000)
            .await
            .unwrap(),
        vec![2]
    );
    // b was never released (a crashed instance): it expires 30 s after its admission.
    refused(s.admit(&lease("d"), T0 + 30_999).await.unwrap());
    assert_eq!(
        s.usage(std::slice::from_ref(&live), T0 + 31_000)
            .await
            .unwrap(),
        vec![1]
    );
    admitted(s.admit(&lease("d"), T0 + 31_000).await.unwrap());
    assert_eq!(s.usage(&[live], T0 + 33_000).await.unwrap(), vec![1]);
}

async fn lease_renewal_keeps_a_long_stream(ctx: Ctx) {
    let s = &ctx.backend;
    let lease = |id: &str| [Charge::limit(Counter::lease("vk:2:conc", id, 30_000), 1, 1)];
    admitted(s.admit(&lease("stream"), T0).await.unwrap());
    // Renewed at 25 s, the lease now ends at 55 s: another request is still refused at 40 s.
    assert!(
        s.renew_lease("vk:2:conc", "stream", 30_000, T0 + 25_000)
            .await
            .unwrap()
    );
    refused(s.admit(&lease("other"), T0 + 40_000).await.unwrap());
    admitted(s.admit(&lease("other"), T0 + 55_000).await.unwrap());
    // An ended lease cannot be renewed (it would overshoot the limit).
    assert!(
        !s.renew_lease("vk:2:conc", "stream", 30_000, T0 + 56_000)
            .await
            .unwrap()
    );
    assert!(
        !s.renew_lease("vk:2:conc", "never", 30_000, T0 + 56_000)
            .await
            .unwrap()
    );
    let live = Counter::lease("vk:2:conc", "-", 1);
    assert_eq!(s.usage(&[live], T0 + 56_000).await.unwrap(), vec![1]);
}

/// Four instances race to pin one session to different upstreams: all agree on one winner.
async fn session_pin_first_writer_wins(ctx: Ctx) {
    let mut instances = vec![ctx.backend.clone()];
    for _ in 0..3 {
        instances.push(ctx.other_instance().await);
    }
    let mut tasks = Vec::new();
    for i in 0..20usize {
        let s = instances[i % instances.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mine = Bytes::from(format!("upstream-{i}"));
            match s
                .kv_set_if_absent("pin:s9", mine.clone(), 60_000, T0)
                .await
                .unwrap()
            {
                None => (true, mine),
                Some(winner) => (false, winner),
            }
        }));
    }
    let mut winners = std::collections::HashSet::new();
    let mut stored = 0;
    for t in tasks {
        let (won, value) = t.await.unwrap();
        stored += usize::from(won);
        winners.insert(value);
    }
    assert_eq!((stored, winners.len()), (1, 1));
    let winner = winners.into_iter().next();
    assert_eq!(ctx.backend.kv_get("pin:s9", T0 + 1).await.unwrap(), winner);
    // Once the pin expired, a new writer wins.
    let fresh = Bytes::from_static(b"upstream-new");
    let s = &ctx.backend;
    assert_eq!(
        s.kv_set_if_absent("pin:s9", fresh.clone(), 60_000, T0 + 60_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.kv_get("pin:s9", T0 + 60_001).await.unwrap(), Some(fresh));
}

fn credit_tiers(grant: i64, balance: i64) -> Vec<Tier> {
    vec![
        Tier {
            counter: Counter::total("vk:1:grant:openai"),
            limit: grant,
        },
        Tier {
            counter: Counter::total("vk:1:balance"),
            limit: balance,
        },
    ]
}

async fn cascade_spills_grant_then_balance(ctx: Ctx) {
    let s = &ctx.backend;
    let tiers = credit_tiers(100, 1_000);
    let cost = |n| [Charge::cascade(tiers.clone(), n)];
    assert_eq!(
        admitted(s.admit(&cost(70), T0).await.unwrap()).taken,
        vec![vec![70, 0]]
    );
    assert_eq!(
        admitted(s.admit(&cost(50), T0).await.unwrap()).taken,
        vec![vec![30, 20]]
    );
    let r = refused(s.admit(&cost(1_000), T0).await.unwrap());
    assert_eq!(
        r,
        Refused {
            index: 0,
            retry_after_ms: None,
            used: 120,
            limit: 1_100
        }
    );
    assert_eq!(
        admitted(s.admit(&cost(980), T0).await.unwrap()).taken,
        vec![vec![0, 980]]
    );
    refused(s.admit(&cost(1), T0).await.unwrap());
    // A zero-cost request still passes.
    assert_eq!(
        admitted(s.admit(&cost(0), T0).await.unwrap()).taken,
        vec![vec![0, 0]]
    );
    let counters: Vec<Counter> = tiers.iter().map(|t| t.counter.clone()).collect();
    assert_eq!(s.usage(&counters, T0).await.unwrap(), vec![100, 1_000]);
}

async fn refusal_leaves_every_counter_untouched(ctx: Ctx) {
    let s = &ctx.backend;
    let rpm = Counter::window("vk:1:rpm", MINUTE, 1_000);
    let conc = Counter::lease("vk:1:conc", "r1", 30_000);
    let day = Counter::period("vk:1:day:2026-12-01", T0 + HOUR);
    let budget = Counter::total("vk:1:budget");
    let charges = [
        Charge::limit(rpm.clone(), 1, 10),
        Charge::limit(conc.clone(), 1, 4),
        Charge::limit(day.clone(), 1, 100),
        Charge::cascade(credit_tiers(10, 50), 40),
        Charge::limit(budget.clone(), 500, 400),
    ];
    let r = refused(s.admit(&charges, T0).await.unwrap());
    assert_eq!((r.index, r.used, r.limit), (4, 0, 400));
    let mut all = vec![rpm, conc, day, budget];
    all.extend(credit_tiers(0, 0).into_iter().map(|t| t.counter));
    assert_eq!(s.usage(&all, T0).await.unwrap(), vec![0; 6]);
    // The same admission without the refusing charge applies everything.
    let a = admitted(s.admit(&charges[..4], T0).await.unwrap());
    assert_eq!(a.taken, vec![vec![1], vec![1], vec![1], vec![10, 30]]);
    assert_eq!(s.usage(&all, T0).await.unwrap(), vec![1, 1, 1, 0, 10, 30]);
}

async fn settlement_applies_deltas_once(ctx: Ctx) {
    let s = &ctx.backend;
    let tpm = Counter::window("vk:1:tpm", MINUTE, 1_000);
    let month = Counter::period("vk:1:tokens:month:2026-12", T0 + 30 * 24 * HOUR);
    let tiers = credit_tiers(100 * MICRO_USD, 10_000 * MICRO_USD);
    let conc = Counter::lease("vk:1:conc", "req-1", 30_000);
    let charges = [
        Charge::limit(tpm.clone(), 4_000, 10_000),
        Charge::limit(month.clone(), 4_000, 1_000_000),
        Charge::limit(conc.clone(), 1, 1),
        Charge::cascade(tiers.clone(), 500 * MICRO_USD),
    ];
    let a = admitted(s.admit(&charges, T0).await.unwrap());
    assert_eq!(a.taken[3], vec![100 * MICRO_USD, 400 * MICRO_USD]);
    // Real usage: 1 200 tokens, 130 µ$: the grant takes 100 µ$, the balance 30 µ$.
    let adjustments = a.settle_with(&charges, &[1_200, 1_200, 0, 130 * MICRO_USD]);
    let settled = s.settle("req-1", &adjustments, T0 + 5_000).await.unwrap();
    assert!(settled.first_time);
    assert_eq!(
        settled.amounts,
        vec![
            vec![-2_800],
            vec![-2_800],
            vec![],
            vec![100 * MICRO_USD, 30 * MICRO_USD]
        ]
    );
    let mut counters = vec![tpm.clone(), month.clone(), conc.clone()];
    counters.extend(tiers.iter().map(|t| t.counter.clone()));
    let expected = vec![1_200, 1_200, 0, 100 * MICRO_USD, 30 * MICRO_USD];
    assert_eq!(s.usage(&counters, T0 + 5_000).await.unwrap(), expected);
    // Settling the same id again (a retry) changes nothing and answers the same.
    let again = s.settle("req-1", &adjustments, T0 + 6_000).await.unwrap();
    assert!(!again.first_time);
    assert_eq!(again.amounts, settled.amounts);
    assert_eq!(s.usage(&counters, T0 + 6_000).await.unwrap(), expected);
    // The lease was released: another request may take it.
    admitted(
        s.admit(
            &[Charge::limit(
                Counter::lease("vk:1:conc", "req-2", 30_000),
                1,
                1,
            )],
            T0 + 6_000,
        )
        .await
        .unwrap(),
    );
    // A refund larger than what was used clamps at zero and reports what it did.
    let refund = [Adjustment::Add {
        counter: month.clone(),
        delta: -5_000,
        at_ms: T0,
    }];
    let r = s.settle("refund-1", &refund, T0 + 7_000).await.unwrap();
    assert_eq!(r.amounts, vec![vec![-1_200]]);
    assert_eq!(
        s.usage(std::slice::from_ref(&month), T0 + 7_000)
            .await
            .unwrap(),
        vec![0]
    );
    // Usage above the reservation is billed even beyond the limit of the last tier.
    let b = admitted(
        s.admit(
            &[Charge::cascade(tiers.clone(), 10 * MICRO_USD)],
            T0 + 8_000,
        )
        .await
        .unwrap(),
    );
    assert_eq!(b.taken, vec![vec![0, 10 * MICRO_USD]]);
    let over = b.settle_with(
        &[Charge::cascade(tiers.clone(), 10 * MICRO_USD)],
        &[20_000 * MICRO_USD],
    );
    let r = s.settle("req-3", &over, T0 + 9_000).await.unwrap();
    assert_eq!(r.amounts, vec![vec![0, 20_000 * MICRO_USD]]);
    let balance = tiers[1].counter.clone();
    assert_eq!(
        s.usage(&[balance], T0 + 9_000).await.unwrap(),
        vec![20_030 * MICRO_USD]
    );
    refused(
        s.admit(&[Charge::cascade(tiers, 1)], T0 + 9_000)
            .await
            .unwrap(),
    );
}

async fn window_settlement_follows_the_admission_bucket(ctx: Ctx) {
    let s = &ctx.backend;
    let tpm = Counter::window("vk:1:tpm", MINUTE, 1_000);
    let charges = [Charge::limit(tpm.clone(), 1_000, 1_000)];
    let a = admitted(s.admit(&charges, T0).await.unwrap());
    // Settled 30 s later with 400 real tokens: the refund goes to the admission's bucket, so
    // the 400 leave the window one minute after the admission, not after the settlement.
    s.settle("w-1", &a.settle_with(&charges, &[400]), T0 + 30_000)
        .await
        .unwrap();
    assert_eq!(
        s.usage(std::slice::from_ref(&tpm), T0 + 30_000)
            .await
            .unwrap(),
        vec![400]
    );
    let leaves = (T0 / 1_000 + 60) * 1_000;
    assert_eq!(
        s.usage(std::slice::from_ref(&tpm), leaves - 1)
            .await
            .unwrap(),
        vec![400]
    );
    assert_eq!(
        s.usage(std::slice::from_ref(&tpm), leaves).await.unwrap(),
        vec![0]
    );
    // Settled after its bucket left: a refund is dropped, extra usage lands in the current bucket.
    let b = admitted(s.admit(&charges, leaves).await.unwrap());
    let late = leaves + MINUTE + 5_000;
    let r = s
        .settle("w-2", &b.settle_with(&charges, &[200]), late)
        .await
        .unwrap();
    assert_eq!(r.amounts, vec![vec![0]]);
    let c = admitted(
        s.admit(&[Charge::limit(tpm.clone(), 100, 1_000)], late)
            .await
            .unwrap(),
    );
    let r = s
        .settle(
            "w-3",
            &c.settle_with(&[Charge::limit(tpm.clone(), 100, 1_000)], &[350]),
            late + MINUTE + 1_000,
        )
        .await
        .unwrap();
    assert_eq!(r.amounts, vec![vec![250]]);
    assert_eq!(
        s.usage(&[tpm], late + MINUTE + 1_000).await.unwrap(),
        vec![250]
    );
}

/// 200 requests race for a balance that covers 50 of them, from 4 instances.
async fn concurrent_admissions_never_overshoot_a_balance(ctx: Ctx) {
    let cost = 1_234 * MICRO_USD;
    let balance = Counter::total("vk:1:balance");
    let mut instances = vec![ctx.backend.clone()];
    for _ in 0..3 {
        instances.push(ctx.other_instance().await);
    }
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let s = instances[i % instances.len()].clone();
        let charges = [
            Charge::limit(Counter::window("vk:1:rpm", MINUTE, 1_000), 1, 1_000),
            Charge::limit(balance.clone(), cost, 50 * cost),
        ];
        tasks.push(tokio::spawn(async move {
            s.admit(&charges, T0 + i as i64).await.unwrap()
        }));
    }
    let mut admitted_count = 0;
    for t in tasks {
        if let Admission::Admitted(_) = t.await.unwrap() {
            admitted_count += 1;
        }
    }
    assert_eq!(admitted_count, 50);
    let used = ctx
        .backend
        .usage(
            &[balance, Counter::window("vk:1:rpm", MINUTE, 1_000)],
            T0 + 300,
        )
        .await
        .unwrap();
    assert_eq!(used, vec![50 * cost, 50]);
}

async fn concurrent_cascade_admissions_split_exactly(ctx: Ctx) {
    let cost = 7 * MICRO_USD;
    let tiers = credit_tiers(20 * cost, 30 * cost);
    let mut instances = vec![ctx.backend.clone()];
    for _ in 0..3 {
        instances.push(ctx.other_instance().await);
    }
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let s = instances[i % instances.len()].clone();
        let charges = [Charge::cascade(tiers.clone(), cost)];
        tasks.push(tokio::spawn(
            async move { s.admit(&charges, T0).await.unwrap() },
        ));
    }
    let (mut from_grant, mut from_balance, mut n) = (0, 0, 0);
    for t in tasks {
        if let Admission::Admitted(a) = t.await.unwrap() {
            n += 1;
            from_grant += a.taken[0][0];
            from_balance += a.taken[0][1];
        }
    }
    assert_eq!((n, from_grant, from_balance), (50, 20 * cost, 30 * cost));
    let counters: Vec<Counter> = tiers.iter().map(|t| t.counter.clone()).collect();
    assert_eq!(
        ctx.backend.usage(&counters, T0).await.unwrap(),
        vec![20 * cost, 30 * cost]
    );
}

async fn cache_and_kv_expire_with_the_clock(ctx: Ctx) {
    let s = &ctx.backend;
    let body = Bytes::from_static(b"{\"id\":\"chatcmpl-1\"}");
    s.cache_put("resp:abc", body.clone(), 10_000, T0)
        .await
        .unwrap();
    assert_eq!(
        s.cache_get("resp:abc", T0 + 9_999).await.unwrap(),
        Some(body.clone())
    );
    assert_eq!(s.cache_get("resp:abc", T0 + 10_000).await.unwrap(), None);
    assert_eq!(s.cache_get("resp:none", T0).await.unwrap(), None);

    let pin = Bytes::from_static(b"openai/gpt-4o@key-2");
    s.kv_set("session:s1", pin.clone(), 5_000, T0)
        .await
        .unwrap();
    let other = ctx.other_instance().await;
    assert_eq!(
        other.kv_get("session:s1", T0 + 4_999).await.unwrap(),
        Some(pin.clone())
    );
    assert_eq!(other.kv_get("session:s1", T0 + 5_000).await.unwrap(), None);
    // Overwrite renews; delete removes.
    s.kv_set("session:s1", pin.clone(), 5_000, T0 + 4_000)
        .await
        .unwrap();
    assert_eq!(s.kv_get("session:s1", T0 + 8_000).await.unwrap(), Some(pin));
    s.kv_delete("session:s1").await.unwrap();
    assert_eq!(s.kv_get("session:s1", T0 + 8_000).await.unwrap(), None);
    // Keep one key so the Redis variant can check it cleans up after itself.
    s.kv_set("session:s2", Bytes::from_static(b"x"), 60_000, T0)
        .await
        .unwrap();
}

async fn versions_are_seen_by_other_instances(ctx: Ctx) {
    let s = &ctx.backend;
    let other = ctx.other_instance().await;
    assert_eq!(s.version("catalogue").await.unwrap(), 0);
    assert_eq!(s.bump("catalogue").await.unwrap(), 1);
    assert_eq!(other.bump("catalogue").await.unwrap(), 2);
    assert_eq!(s.version("catalogue").await.unwrap(), 2);
    assert_eq!(other.version("keys").await.unwrap(), 0);
}

async fn large_amounts_are_exact_and_too_large_refused(ctx: Ctx) {
    let s = &ctx.backend;
    let balance = Counter::total("vk:big:balance");
    // 9 007 199.254740991 USD in nano-units: the largest limit accepted.
    let big = MAX_AMOUNT - 10;
    admitted(
        s.admit(&[Charge::limit(balance.clone(), big, MAX_AMOUNT)], T0)
            .await
            .unwrap(),
    );
    assert_eq!(
        s.usage(std::slice::from_ref(&balance), T0).await.unwrap(),
        vec![big]
    );
    admitted(
        s.admit(&[Charge::limit(balance.clone(), 10, MAX_AMOUNT)], T0)
            .await
            .unwrap(),
    );
    let r = refused(
        s.admit(&[Charge::limit(balance.clone(), 1, MAX_AMOUNT)], T0)
            .await
            .unwrap(),
    );
    assert_eq!((r.used, r.limit), (MAX_AMOUNT, MAX_AMOUNT));
    let adj = [Adjustment::Add {
        counter: balance.clone(),
        delta: -(MAX_AMOUNT - 3),
        at_ms: T0,
    }];
    s.settle("big-1", &adj, T0).await.unwrap();
    assert_eq!(
        s.usage(std::slice::from_ref(&balance), T0).await.unwrap(),
        vec![3]
    );
    let too_big = s
        .admit(
            &[Charge::limit(balance.clone(), MAX_AMOUNT + 1, MAX_AMOUNT)],
            T0,
        )
        .await;
    assert!(
        matches!(too_big, Err(StateError::OutOfRange(_))),
        "{too_big:?}"
    );
    let negative = s.admit(&[Charge::limit(balance.clone(), -1, 10)], T0).await;
    assert!(
        matches!(negative, Err(StateError::Invalid(_))),
        "{negative:?}"
    );
    let twice = s
        .admit(
            &[
                Charge::limit(balance.clone(), 1, 10),
                Charge::limit(balance, 1, 10),
            ],
            T0,
        )
        .await;
    assert!(matches!(twice, Err(StateError::Invalid(_))), "{twice:?}");
}

/// A Redis that is not there: connecting fails fast instead of hanging.
#[tokio::test]
async fn unreachable_redis_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = RedisConfig::new(format!("redis://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_millis(200);
    let started = Instant::now();
    let r = RedisState::connect(config).await;
    assert!(r.is_err());
    assert!(r.unwrap_err().is_unavailable());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A Redis that accepts connections but never answers: connecting fails within its timeout.
#[tokio::test]
async fn silent_redis_fails_to_connect_fast() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let mut config = RedisConfig::new(format!("redis://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_millis(200);
    config.command_timeout = Duration::from_millis(200);
    let started = Instant::now();
    let r = RedisState::connect(config).await;
    assert!(r.as_ref().is_err_and(StateError::is_unavailable), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

/// A Redis that answers the connection handshake and then stalls on scripts: every call errors
/// within the command timeout instead of hanging, and health reports it.
#[tokio::test]
async fn stalled_redis_calls_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    if chunk.windows(4).any(|w| w.eq_ignore_ascii_case(b"EVAL")) {
                        // Swallow scripts: never answer.
                        continue;
                    }
                    // Answer +OK to each command of the handshake (each starts with '*').
                    let commands = chunk
                        .iter()
                        .enumerate()
                        .filter(|(i, b)| **b == b'*' && (*i == 0 || chunk[i - 1] == b'\n'))
                        .count();
                    for _ in 0..commands {
                        if sock.write_all(b"+OK\r\n").await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let mut config = RedisConfig::new(format!("redis://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_millis(200);
    config.command_timeout = Duration::from_millis(200);
    let state = RedisState::connect(config).await.unwrap();
    assert!(state.health().healthy);
    let charges = [Charge::limit(Counter::total("t"), 1, 1)];
    for attempt in 1..=2u64 {
        let call = Instant::now();
        let r = state.admit(&charges, T0).await;
        assert!(r.as_ref().is_err_and(StateError::is_unavailable), "{r:?}");
        assert!(
            call.elapsed() < Duration::from_secs(1),
            "{:?}",
            call.elapsed()
        );
        let health = state.health();
        assert!(!health.healthy);
        assert_eq!(health.errors_total, attempt);
        assert!(health.last_error.is_some() && health.last_error_at_ms.is_some());
    }
    server.abort();
}

/// A gateway started while Redis is away: calls fail fast, then succeed once Redis is back
/// (here: a TCP relay to the test Redis opened on the port after the first failures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_redis_recovers_when_redis_comes_back() {
    let Some(ctx) = redis_ctx("lazy_recovery").await else {
        return;
    };
    let StateBackend::Redis(real) = &ctx.backend else {
        unreachable!()
    };
    let target = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = ctx.redis.clone().unwrap();
    config.url = format!("redis://127.0.0.1:{port}");
    config.connect_timeout = Duration::from_millis(200);
    config.command_timeout = Duration::from_millis(300);
    let lazy = StateBackend::Redis(RedisState::connect_lazy(config).unwrap());
    let charges = [Charge::limit(Counter::total("vk:lazy:balance"), 1, 10)];
    for _ in 0..2 {
        let started = Instant::now();
        let r = lazy.admit(&charges, T0).await;
        assert!(r.as_ref().is_err_and(StateError::is_unavailable), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    assert!(!lazy.health().healthy);
    // Redis "comes back" on that port.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let relay = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let mut recovered = false;
    for _ in 0..40 {
        if let Ok(a) = lazy.admit(&charges, T0).await {
            admitted(a);
            recovered = true;
            break;
        }
        // Real time for a real reconnect, not a window boundary.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "no recovery: {:?}", lazy.health());
    assert!(lazy.health().healthy);
    let balance = Counter::total("vk:lazy:balance");
    assert_eq!(ctx.backend.usage(&[balance], T0).await.unwrap(), vec![1]);
    relay.abort();
    real.clear().await.unwrap();
}

/// Latency of a five-charge admission plus its settlement, sequential, one connection.
/// `cargo test -p modelgate-store --test state_backend -- --ignored --nocapture admit_latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn admit_latency() {
    let mut backends = vec![("memory", StateBackend::memory(), None)];
    if let Some(ctx) = redis_ctx("latency").await {
        let StateBackend::Redis(r) = ctx.backend.clone() else {
            unreachable!()
        };
        backends.push(("redis", ctx.backend, Some(r)));
    }
    for (name, s, redis) in backends {
        let n = 2_000;
        let started = Instant::now();
        for i in 0..n {
            let now = T0 + i * 10;
            let charges = [
                Charge::limit(Counter::window("vk:l:rpm", MINUTE, 1_000), 1, 1_000_000),
                Charge::limit(
                    Counter::window("vk:l:tpm", MINUTE, 1_000),
                    500,
                    1_000_000_000,
                ),
                Charge::limit(Counter::lease("vk:l:conc", format!("r{i}"), 30_000), 1, 100),
                Charge::limit(Counter::period("vk:l:day", T0 + 24 * HOUR), 1, 1_000_000),
                Charge::cascade(credit_tiers(1_000, 1_000_000_000_000), 1_000_000),
            ];
            let a = admitted(s.admit(&charges, now).await.unwrap());
            let adj = a.settle_with(&charges, &[1, 300, 0, 1, 600_000]);
            s.settle(&format!("r{i}"), &adj, now + 5).await.unwrap();
        }
        let per = started.elapsed() / u32::try_from(n).unwrap();
        println!(
            "{name}: admit + settle of 5 charges: {per:?} per request (sequential, debug build)"
        );
        if let Some(r) = redis {
            r.clear().await.unwrap();
        }
    }
}
