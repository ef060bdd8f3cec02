//! [`FlakyStore`]: the fast liveness store, failing on purpose.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use vigil::liveness::{InMemoryStore, LivenessStore, StoreError};

// === impl FlakyStore ===

/// An [`InMemoryStore`] whose every `fail_every`-th batch lookup fails, as
/// Redis does on a bad day. Heartbeats always succeed.
#[derive(Debug)]
pub struct FlakyStore {
    inner: InMemoryStore,
    fail_every: u64,
    lookups: AtomicU64,
}

impl FlakyStore {
    /// Fails lookups number `fail_every`, `2 * fail_every`, ... (0 never fails).
    pub fn new(fail_every: u64) -> Self {
        FlakyStore {
            inner: InMemoryStore::new(),
            fail_every,
            lookups: AtomicU64::new(0),
        }
    }

    /// Forget `id` (a deleted runtime).
    pub fn forget(&self, id: &str) {
        self.inner.forget(id);
    }
}

impl LivenessStore for FlakyStore {
    async fn last_seen(&self, id: &str) -> Result<Option<SystemTime>, StoreError> {
        self.inner.last_seen(id).await
    }

    async fn heartbeat(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.inner.heartbeat(id, at).await
    }

    async fn last_seen_many(&self, ids: &[&str]) -> Result<Vec<Option<SystemTime>>, StoreError> {
        let n = self.lookups.fetch_add(1, Ordering::Relaxed) + 1;
        if n.checked_rem(self.fail_every) == Some(0) {
            return Err(StoreError::new(format!("simulated outage on lookup {n}")));
        }
        self.inner.last_seen_many(ids).await
    }
}
