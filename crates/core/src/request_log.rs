//! The request log writer: records are queued without blocking and appended in batches.
//!
//! A request's settle step hands its record to `RequestLogger::log` (a non-blocking channel
//! send, so it is safe from `Drop`); one background task groups records (up to `BATCH` or
//! `FLUSH_EVERY`) and inserts them in one transaction. `shutdown` drains the queue, so a
//! graceful stop loses nothing. A failed insert is retried, then reported; it never blocks a
//! response.

use modelgate_store::{Database, RequestLogRecord};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const BATCH: usize = 500;
const FLUSH_EVERY: Duration = Duration::from_millis(200);
const RETRIES: u32 = 5;

/// Queue handle for request-log records.
#[derive(Debug, Clone)]
pub struct RequestLogger {
    tx: mpsc::UnboundedSender<Msg>,
}

#[derive(Debug)]
enum Msg {
    Record(Box<RequestLogRecord>),
    Flush(oneshot::Sender<()>),
}

impl RequestLogger {
    /// Starts the writer task.
    pub fn start(db: Database) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        #[allow(clippy::disallowed_methods)]
        let handle = tokio::spawn(writer(db, rx));
        (Self { tx }, handle)
    }

    /// Queues a record (never blocks, never fails while the writer runs).
    pub fn log(&self, record: RequestLogRecord) {
        if self.tx.send(Msg::Record(Box::new(record))).is_err() {
            tracing::error!("request log writer is gone; a record was dropped");
        }
    }

    /// Waits until every record queued before this call is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn writer(db: Database, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut batch: Vec<RequestLogRecord> = Vec::with_capacity(BATCH);
    let mut deadline = tokio::time::Instant::now();
    loop {
        let msg = if batch.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    write_batch(&db, &mut batch).await;
                    continue;
                }
            }
        };
        match msg {
            None => break,
            Some(Msg::Record(r)) => {
                if batch.is_empty() {
                    deadline = tokio::time::Instant::now() + FLUSH_EVERY;
                }
                batch.push(*r);
                if batch.len() >= BATCH {
                    write_batch(&db, &mut batch).await;
                }
            }
            Some(Msg::Flush(waiter)) => {
                write_batch(&db, &mut batch).await;
                let _ = waiter.send(());
            }
        }
    }
    write_batch(&db, &mut batch).await;
}

async fn write_batch(db: &Database, batch: &mut Vec<RequestLogRecord>) {
    if batch.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(50);
    for attempt in 0..=RETRIES {
        match db.insert_request_logs(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(e) if attempt < RETRIES => {
                tracing::warn!(error = %e, attempt, "request log insert failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "request log insert failed; records dropped");
                batch.clear();
            }
        }
    }
}
