//! Background tasks and their end: every task a cache starts runs under one cancellation
//! token, so `destroy()` (or the environment going away) stops all of them at once,
//! dropping their Redis connection handles.

use std::future::Future;
use tokio_util::sync::CancellationToken;

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
}

/// Dropping the tasks (with the cache, or at `destroy()`) ends them.
impl Drop for Tasks {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
