//! The batch processor's engine: groups one pipeline's encoded batches of one signal and hands
//! each group downstream as one request (or a few, over `send_batch_max_size`).
//!
//! Merging never decodes: two encoded requests of one signal concatenated are one request
//! holding both. A [`Batcher`] keeps one open group. A batch joins it, and the group is sent:
//!
//! * at once, by the submitter whose batch brings it to `send_batch_size` items or more;
//! * `timeout` after its first batch joined, by a timer task started with the group;
//! * at [`Batcher::shutdown`].
//!
//! With `send_batch_size` or `timeout` 0, every batch is sent on its own at once (as in the
//! OpenTelemetry Collector), still cut at `send_batch_max_size`.
//!
//! # Acknowledgements
//!
//! [`Batcher::submit`] resolves only once the group holding the batch was handed downstream
//! and the downstream answered for every piece holding the batch's items: with `Ok` if all
//! were taken, else with the downstream's [`Refused`]. A receiver awaits `submit` before it
//! answers its client, so nothing acknowledged lives only in the batcher's memory, and a full
//! exporter queue reaches the client as "retry later". When a group is cut into pieces, a
//! submitter gets the refusal of a piece only if that piece holds some of its items; the pieces
//! that were taken stay taken, so a client that retries sends them again (delivery is at least
//! once, as everywhere in the pipeline).
//!
//! Sending runs in a task of its own, never in a submitter's future: a client that hangs up
//! (its `submit` future dropped) neither loses the group for the others nor stops it halfway.
//! If a send task dies (the downstream panicked), its submitters get a refusal, not a hang.
//!
//! # Memory
//!
//! The open group never holds more than `send_batch_size` items plus one batch: the batch that
//! reaches the threshold sends it. Groups being sent are held until the downstream answers,
//! each by its own waiting submitters, so their number is bounded by the receivers' concurrency
//! (every submitter waits), not by the batcher.

use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::{Batch, BoxFuture, Refused, Signal, Tenant};
use crate::processors::batch::{Settings, split};

/// How long a sender is asked to wait when a group could not be handed downstream.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Where a batcher sends its groups: the rest of the pipeline (admission into every exporter's
/// queue). It answers once the batch is taken, or refuses it.
pub type Downstream = Arc<dyn Fn(Batch) -> BoxFuture<'static, Result<(), Refused>> + Send + Sync>;

/// Groups batches of one signal for one pipeline; see the module documentation. Clones share
/// the same groups.
#[derive(Clone)]
pub struct Batcher {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    signal: Signal,
    downstream: Downstream,
    state: Mutex<State>,
    /// Groups taken out to be sent and not yet answered; [`Batcher::shutdown`] waits for 0.
    sending: watch::Sender<usize>,
}

#[derive(Default)]
struct State {
    open: Option<Group>,
    last_id: u64,
    /// After shutdown every batch is sent on its own at once.
    closed: bool,
}

/// Batches waiting to be sent together.
struct Group {
    id: u64,
    /// Whose batches these are: a batch of another tenant sends the group first.
    tenant: Tenant,
    batches: Vec<Batch>,
    items: u64,
    /// Tells the submitters what became of the group. Dropped unsent (its task died), it tells
    /// them that too.
    done: watch::Sender<Option<Arc<Outcome>>>,
    /// The timer that would send the group at `timeout`.
    timer: Option<AbortHandle>,
}

/// What the downstream made of a group: the refused pieces, as the batches (slots) they hold.
#[derive(Debug)]
struct Outcome {
    refused: Vec<(Range<usize>, Refused)>,
}

impl Batcher {
    /// A batcher sending groups of `signal` batches to `downstream`.
    pub fn new(settings: Settings, signal: Signal, downstream: Downstream) -> Batcher {
        let (sending, _) = watch::channel(0);
        let inner = Inner {
            settings,
            signal,
            downstream,
            state: Mutex::default(),
            sending,
        };
        Batcher {
            inner: Arc::new(inner),
        }
    }

    /// Adds `batch` to the open group; resolves once that group was sent and the downstream
    /// answered for the pieces holding its items. Must be called within a Tokio runtime.
    pub async fn submit(&self, batch: Batch) -> Result<(), Refused> {
        if batch.signal != self.inner.signal {
            let reason = format!(
                "a {} batch was handed to the {} batch processor",
                batch.signal, self.inner.signal
            );
            return Err(Refused::invalid(reason));
        }
        let (done, slot) = Inner::add(&self.inner, batch);
        wait(done, slot).await
    }

    /// Sends the open group and waits until every group taken out to be sent was answered
    /// (as long as the downstream takes: give it a deadline). Batches submitted afterwards are
    /// sent on their own at once.
    pub async fn shutdown(&self) {
        let group = {
            let mut state = self.inner.lock();
            state.closed = true;
            self.inner.take_open(&mut state, None)
        };
        if let Some(group) = group {
            Inner::spawn_send(&self.inner, group);
        }
        // The sender lives in `inner`, so this ends only at 0.
        let _ = self.inner.sending.subscribe().wait_for(|n| *n == 0).await;
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `batch` to the open group (opening one if needed) and sends the group if it is
    /// full. Returns what to wait on and the batch's slot in its group.
    fn add(this: &Arc<Inner>, batch: Batch) -> (watch::Receiver<Option<Arc<Outcome>>>, usize) {
        let settings = this.settings;
        let one_by_one = settings.send_batch_size == 0 || settings.timeout.is_zero();
        let mut guard = this.lock();
        let state = &mut *guard;
        let one_by_one = one_by_one || state.closed;
        // Two tenants' batches never share a group: the open one goes first.
        let other_tenant = state
            .open
            .as_ref()
            .is_some_and(|g| g.tenant != batch.tenant);
        let before = if other_tenant {
            this.take_open(state, None)
        } else {
            None
        };
        let tenant = batch.tenant.clone();
        let group = state.open.get_or_insert_with(|| {
            state.last_id = state.last_id.wrapping_add(1);
            let id = state.last_id;
            Group {
                id,
                tenant,
                batches: Vec::new(),
                items: 0,
                done: watch::channel(None).0,
                timer: (!one_by_one).then(|| Inner::start_timer(this, id)),
            }
        });
        let slot = group.batches.len();
        group.items = group.items.saturating_add(batch.items);
        group.batches.push(batch);
        let done = group.done.subscribe();
        let full = one_by_one || group.items >= settings.send_batch_size;
        let group = if full {
            this.take_open(state, None)
        } else {
            None
        };
        drop(guard);
        for group in before.into_iter().chain(group) {
            Inner::spawn_send(this, group);
        }
        (done, slot)
    }

    /// Takes the open group out to be sent (if it is group `id`, when given), counting it as
    /// being sent, and stops its timer unless the timer is the taker.
    fn take_open(&self, state: &mut State, id: Option<u64>) -> Option<Group> {
        if id.is_some_and(|id| state.open.as_ref().is_none_or(|g| g.id != id)) {
            return None;
        }
        let mut group = state.open.take()?;
        self.sending.send_modify(|n| *n += 1);
        if id.is_none()
            && let Some(timer) = group.timer.take()
        {
            timer.abort();
        }
        Some(group)
    }

    /// The task that sends group `id` at `timeout`, unless it was sent before.
    fn start_timer(this: &Arc<Inner>, id: u64) -> AbortHandle {
        let inner = Arc::clone(this);
        let task = tokio::spawn(async move {
            tokio::time::sleep(inner.settings.timeout).await;
            let group = {
                let mut state = inner.lock();
                inner.take_open(&mut state, Some(id))
            };
            if let Some(group) = group {
                inner.send(group).await;
            }
        });
        task.abort_handle()
    }

    fn spawn_send(this: &Arc<Inner>, group: Group) {
        let inner = Arc::clone(this);
        tokio::spawn(async move { inner.send(group).await });
    }

    /// Sends a group taken out by [`Inner::take_open`], piece by piece, and tells its
    /// submitters the outcome.
    async fn send(&self, group: Group) {
        // Counted out even if the downstream panics and unwinds this task.
        let _sending = Sending(&self.sending);
        let pieces = split::pieces(
            self.signal,
            &group.batches,
            self.settings.send_batch_max_size,
        );
        let mut refused = Vec::new();
        for piece in pieces {
            let batch = Batch {
                signal: self.signal,
                body: piece.body,
                items: piece.items,
                tenant: group.tenant.clone(),
            };
            if let Err(refusal) = (self.downstream)(batch).await {
                refused.push((piece.slots, refusal));
            }
        }
        group.done.send_replace(Some(Arc::new(Outcome { refused })));
    }
}

/// Counts a group out of [`Inner::sending`] when dropped.
struct Sending<'a>(&'a watch::Sender<usize>);

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Waits for the outcome of the group holding the batch in `slot`.
async fn wait(mut done: watch::Receiver<Option<Arc<Outcome>>>, slot: usize) -> Result<(), Refused> {
    let outcome = match done.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone(),
        Err(_) => None,
    };
    let Some(outcome) = outcome else {
        let reason = "the batch processor failed to send the batch downstream";
        return Err(Refused::unavailable(reason, RETRY_AFTER_FAILURE));
    };
    match outcome
        .refused
        .iter()
        .find(|(slots, _)| slots.contains(&slot))
    {
        Some((_, refusal)) => Err(refusal.clone()),
        None => Ok(()),
    }
}
