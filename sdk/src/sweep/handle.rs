//! The handle of a running sweeper: trigger a run, stop, or detach.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

// === impl Handle ===

/// How [`Handle::stop`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The loop ended; a run in flight finished and was recorded first.
    Finished,
    /// The run in flight outlasted the stop timeout and was dropped unrecorded.
    TimedOut,
}

/// A running sweeper. Dropping it stops the loop after the run in flight
/// (without waiting); [`Handle::detach`] lets it run for the life of the runtime.
#[must_use = "dropping the handle stops the sweeper; call detach() to keep it running"]
pub struct Handle {
    token: CancellationToken,
    task: Option<JoinHandle<()>>,
    trigger: Arc<Notify>,
    stop_timeout: Option<Duration>,
    detached: bool,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("stopping", &self.token.is_cancelled())
            .field("stop_timeout", &self.stop_timeout)
            .finish_non_exhaustive()
    }
}

impl Handle {
    pub(super) fn new(
        token: CancellationToken,
        task: JoinHandle<()>,
        trigger: Arc<Notify>,
        stop_timeout: Option<Duration>,
    ) -> Self {
        Handle {
            token,
            task: Some(task),
            trigger,
            stop_timeout,
            detached: false,
        }
    }

    /// Run as soon as the run in flight (if any) ends, then restart the
    /// interval from that run. Requests made while one is pending merge.
    pub fn run_now(&self) {
        self.trigger.notify_one();
    }

    /// Stop the loop and wait for the run in flight to finish and be
    /// recorded, up to the stop timeout if one was set.
    pub async fn stop(mut self) -> Stopped {
        self.token.cancel();
        let Some(mut task) = self.task.take() else {
            return Stopped::Finished;
        };
        match self.stop_timeout {
            // A JoinError means the runtime is shutting down: the loop is gone either way.
            None => {
                let _ = task.await;
                Stopped::Finished
            }
            Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                Ok(_) => Stopped::Finished,
                Err(_) => {
                    task.abort();
                    Stopped::TimedOut
                }
            },
        }
    }

    /// Let the sweeper run until the runtime shuts down (or the
    /// [`Builder::with_shutdown`](super::Builder::with_shutdown) token is cancelled).
    pub fn detach(mut self) {
        self.detached = true;
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.detached {
            self.token.cancel();
        }
    }
}
