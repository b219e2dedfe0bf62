//! Background work and its end: every task the cache starts runs under one
//! cancellation token, so `destroy()` (or the environment going away) stops all of them
//! at once, dropping their Redis connection handles.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::outbox::Outbox;

pub struct Tasks {
    cancel: CancellationToken,
}

impl Tasks {
    pub fn new(cancel: CancellationToken) -> Self {
        Tasks { cancel }
    }

    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        napi::bindgen_prelude::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = work => {}
            }
        });
    }

    /// Asks the JS thread to drop expired hot entries every `every`; the hot tier lives on
    /// the JS thread, so the timer only wakes it.
    pub fn start_cleanup_timer(&self, outbox: Arc<Outbox>, every: Duration) {
        self.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                outbox.request_cleanup();
            }
        });
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
