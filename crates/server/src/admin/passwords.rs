//! Password hashing and checking off the async workers.
//!
//! One argon2id run takes tens of milliseconds of CPU and 19 MiB of memory. Run on a worker it
//! would stall every request that worker serves, so each run gets its own short-lived thread,
//! at most half the cores' worth at a time (at least one): a flood of logins queues here
//! instead of taking the whole machine, or the memory of a thousand hashes.
//!
//! The thread stays `LINGER` past the run before it exits. mimalloc (the binary's allocator,
//! `main.rs`) returns freed memory to the system only after its purge delay (10 ms there),
//! and a thread's exit collects what is due; exiting sooner would leave the 19 MiB resident
//! until some later allocation happens to trigger a purge. The caller has its answer before
//! the linger starts.

use modelgate_store::password::{hash_password, verify_password};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// How long a hashing thread stays after its run (past the allocator's purge delay).
const LINGER: Duration = Duration::from_millis(50);

/// Most argon2 runs at once: half the cores, at least one.
static PERMITS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Arc::new(Semaphore::new((cores / 2).max(1)))
});

/// A hash of a password nobody has, checked against for unknown users so that they cost as
/// much time as known ones.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not-a-real-password").unwrap_or_default());

/// Runs `work` on its own thread, at most `PERMITS` at a time. The thread holds its permit
/// until it exits: a caller that goes away (a client that hangs up mid-login) frees no
/// permit while its run goes on, so hanging up cannot start more runs than the bound.
async fn off_worker<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    run_bounded(&PERMITS, work).await
}

/// `off_worker` with the permits given.
async fn run_bounded<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let unavailable = || ApiError::internal("password hashing is unavailable");
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| unavailable())?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mg-argon2".into())
        .spawn(move || {
            let _ = tx.send(work());
            std::thread::sleep(LINGER);
            drop(permit);
        })
        .map_err(|e| ApiError::internal(format!("cannot start a password thread: {e}")))?;
    rx.await.map_err(|_| unavailable())
}

/// The PHC string of `password`.
pub async fn hash(password: String) -> ApiResult<String> {
    off_worker(move || hash_password(&password))
        .await?
        .map_err(ApiError::from)
}

/// Whether `password` matches `phc`; with no hash (an unknown user) it is checked against a
/// dummy hash, in the same time, and is a mismatch.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    off_worker(move || match phc {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = verify_password(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Callers that give up (their future dropped) do not let more runs start than the bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_that_hang_up_do_not_lift_the_bound() {
        let permits = Arc::new(tokio::sync::Semaphore::new(1));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..6 {
            let (running, most, started) = (running.clone(), most.clone(), started.clone());
            let call = super::run_bounded(&permits, move || {
                started.fetch_add(1, Ordering::SeqCst);
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
            });
            // The caller hangs up long before the run ends.
            let _ = tokio::time::timeout(Duration::from_millis(5), call).await;
        }
        // Once the permit is back, every run that started has ended.
        let _all = permits.acquire().await.unwrap();
        assert!(started.load(Ordering::SeqCst) >= 1);
        assert_eq!(most.load(Ordering::SeqCst), 1, "runs overlapped");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn hashes_and_checks_off_the_calling_thread() {
        let caller = std::thread::current().id();
        let on = super::off_worker(|| std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(on, caller);
        let h = super::hash("correct horse".into()).await.unwrap();
        assert!(super::verify("correct horse".into(), Some(h.clone())).await);
        assert!(!super::verify("wrong horse".into(), Some(h)).await);
        assert!(!super::verify("correct horse".into(), None).await);
    }
}
