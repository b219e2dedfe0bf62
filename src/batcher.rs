//! Coalesces the warm-tier commands of a burst of operations into one pipeline: with 64
//! operations in flight, one write, one read, one timer and one wake-up of the JS thread
//! serve them all, where a task per operation paid each 64 times.
//!
//! One pipeline (on a cluster: one burst of commands, each routed by its key) is in flight
//! at a time; what arrives meanwhile forms the next one. Each pipeline is bounded by the
//! deadline of its oldest command, so no operation waits longer than its own
//! `commandTimeout` behind a stalled server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Value;
use tokio::sync::Notify;

use crate::error::Result;
use crate::outbox::{lock, Outbox};
use crate::replies::Then;
use crate::tasks::Tasks;
use crate::warm::{Command, Warm};

pub struct Job {
    pub command: Command,
    pub deadline: Instant,
    /// What the operation makes of the replies (see `replies`).
    pub then: Then,
}

pub struct Batcher {
    queue: Mutex<Vec<Job>>,
    ready: Notify,
}

impl Batcher {
    /// Starts the loop that sends the queued commands; it ends with `tasks`.
    pub fn start(warm: Warm, outbox: Arc<Outbox>, tasks: &Tasks) -> Arc<Batcher> {
        let batcher = Arc::new(Batcher { queue: Mutex::new(Vec::new()), ready: Notify::new() });
        tasks.spawn(run(batcher.clone(), warm, outbox));
        batcher
    }

    /// Queues a job; it goes out at the next [`Batcher::flush`].
    pub fn submit(&self, job: Job) {
        lock(&self.queue).push(job);
    }

    /// Sends what is queued. JS calls this at the end of each loop turn that queued jobs
    /// (`setImmediate`), so a burst shares one pipeline instead of racing the loop job by job.
    pub fn flush(&self) {
        if !lock(&self.queue).is_empty() {
            self.ready.notify_one();
        }
    }
}

/// How often tracking is tried again, on its own, after a burst failed to enable it.
const TRACKING_RETRY: Duration = Duration::from_millis(250);

async fn run(batcher: Arc<Batcher>, warm: Warm, outbox: Arc<Outbox>) {
    loop {
        // Without this retry, entries taken while Redis was away would be served until the
        // next miss sends a burst, however long Redis has been back.
        if warm.tracking_retry_due() {
            if tokio::time::timeout(TRACKING_RETRY, batcher.ready.notified()).await.is_err() {
                let outgoing = warm.prepare(std::iter::empty());
                warm.send(outgoing, Instant::now() + TRACKING_RETRY).await;
                continue;
            }
        } else {
            batcher.ready.notified().await;
        }
        loop {
            let mut jobs = std::mem::take(&mut *lock(&batcher.queue));
            let Some(oldest) = jobs.first() else { break };
            let deadline = oldest.deadline;
            let outgoing = warm.prepare(jobs.iter_mut().map(|job| &mut job.command));
            let mut replies = warm.send(outgoing, deadline).await;
            if warm.take_resend() {
                let outgoing = warm.prepare(jobs.iter_mut().map(|job| &mut job.command));
                replies = warm.send(outgoing, deadline).await;
            }
            finish(jobs, replies, &warm, &outbox);
        }
    }
}

fn finish(jobs: Vec<Job>, replies: Vec<Result<Vec<Value>>>, warm: &Warm, outbox: &Outbox) {
    let mut metrics = Vec::new();
    let mut done: Vec<_> = jobs
        .into_iter()
        .zip(replies)
        .map(|(job, replies)| {
            job.then.finish(&job.command, replies, &|reply| warm.status(reply), &mut metrics)
        })
        .collect();
    outbox.complete_all(&mut done, &mut metrics);
}
