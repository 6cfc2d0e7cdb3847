//! The request log writer: records are queued without blocking and appended in batches.
//!
//! A request's settle step hands its record to `RequestLogger::log` (a non-blocking send into
//! a bounded queue, so it is safe from `Drop` and memory stays bounded). One background task
//! takes what is queued every `FLUSH_EVERY` (it is not woken per record: a request never
//! wakes another thread) and inserts it in multi-row statements. A full queue (the database
//! far slower than traffic) sheds the new record: counted in
//! `modelgate_request_log_dropped_total` and logged, never silently. `flush` drains the queue,
//! so a graceful stop loses nothing. A failed insert is retried, then reported; it never
//! blocks a response.

use modelgate_store::{Database, RequestLogRecord};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Most records per transaction. At high rates a tick holds thousands; fewer, larger
/// transactions rewrite the partly filled last page of the table and of each index less
/// often.
const BATCH: usize = 2000;
const FLUSH_EVERY: Duration = Duration::from_millis(200);
const RETRIES: u32 = 5;

/// Queue handle for request-log records.
#[derive(Debug, Clone)]
pub struct RequestLogger {
    tx: mpsc::Sender<Msg>,
    /// Wakes the writer before its tick (flush requests only).
    wake: Arc<Notify>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Debug)]
enum Msg {
    Record(Box<RequestLogRecord>),
    Flush(oneshot::Sender<()>),
}

impl RequestLogger {
    /// Starts the writer task.
    pub fn start(db: Database, capacity: usize) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let wake = Arc::new(Notify::new());
        // The writer runs until every sender is gone; `flush` on shutdown drains it.
        #[allow(clippy::disallowed_methods)]
        let handle = tokio::spawn(writer(db, rx, wake.clone()));
        (
            Self {
                tx,
                wake,
                dropped: Default::default(),
            },
            handle,
        )
    }

    /// Queues a record; never blocks. A full queue sheds it, counted and logged.
    pub fn log(&self, record: impl Into<Box<RequestLogRecord>>) {
        use std::sync::atomic::Ordering;
        match self.tx.try_send(Msg::Record(record.into())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::counter!("modelgate_request_log_dropped_total").increment(1);
                if n.is_power_of_two() {
                    tracing::error!(
                        dropped_total = n,
                        "request log queue is full; a record was shed"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("request log writer is gone; a record was dropped");
            }
        }
    }

    /// Records shed because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every record queued before this call is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            self.wake.notify_one();
            let _ = rx.await;
        }
    }
}

/// Takes what is queued every tick (or when a flush asks), writes it in batches.
async fn writer(db: Database, mut rx: mpsc::Receiver<Msg>, wake: Arc<Notify>) {
    let mut batch: Vec<RequestLogRecord> = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => {}
        }
        loop {
            match rx.try_recv() {
                Ok(Msg::Record(r)) => {
                    batch.push(*r);
                    if batch.len() >= BATCH {
                        write_batch(&db, &mut batch).await;
                    }
                }
                Ok(Msg::Flush(waiter)) => {
                    write_batch(&db, &mut batch).await;
                    let _ = waiter.send(());
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    write_batch(&db, &mut batch).await;
                    return;
                }
            }
        }
        write_batch(&db, &mut batch).await;
    }
}

async fn write_batch(db: &Database, batch: &mut Vec<RequestLogRecord>) {
    if batch.is_empty() {
        return;
    }
    let records = std::sync::Arc::new(std::mem::take(batch));
    let mut delay = Duration::from_millis(50);
    for attempt in 0..=RETRIES {
        match db.append_request_logs(records.clone()).await {
            Ok(()) => {
                // The written batch's buffer is reused for the next one (no fresh allocation,
                // no page faults, per batch).
                if let Ok(mut v) = std::sync::Arc::try_unwrap(records) {
                    v.clear();
                    *batch = v;
                }
                return;
            }
            Err(e) if attempt < RETRIES => {
                tracing::warn!(error = %e, attempt, "request log insert failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "request log insert failed; records dropped");
            }
        }
    }
}
