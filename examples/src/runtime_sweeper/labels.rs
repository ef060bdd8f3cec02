//! The typed labels of the daemon: operations and states of runtimes and
//! tasks, the `reason` of each transition, and what a sweep did to each item.
//! Call sites pass these, never strings, so no label value can be invented.

vigil::label! {
    /// Runtime transitions.
    pub enum RuntimeOp = "operation" {
        /// First heartbeat: the runtime comes online.
        Register = "register",
        /// Heartbeat stale: the sweeper takes it offline.
        MarkOffline = "mark_offline",
        /// Offline past the retention: deleted.
        Gc = "gc",
    }
}

vigil::label! {
    /// Runtime states.
    pub enum RuntimeState = "state" { Online = "online", Offline = "offline" }
}

vigil::label! {
    /// Task transitions the sweeper makes.
    pub enum TaskOp = "operation" {
        /// A dispatched or running task past its timeout is failed.
        FailTask = "fail_task",
        /// A queued task past its TTL is expired.
        ExpireTask = "expire_task",
    }
}

vigil::label! {
    /// States of tasks still in flight (failed and expired tasks leave the count).
    pub enum TaskState = "state" { Queued = "queued", Dispatched = "dispatched", Running = "running" }
}

vigil::label! {
    /// Why a transition happened: the `reason` label of both lifecycles.
    pub enum Reason = "reason" {
        /// A runtime's first heartbeat.
        FirstHeartbeat = "first_heartbeat",
        /// No heartbeat within the stale threshold.
        StaleHeartbeat = "stale_heartbeat",
        /// Offline for longer than the retention.
        OfflineRetention = "offline_retention",
        /// Dispatched for longer than the dispatch timeout.
        DispatchTimeout = "dispatch_timeout",
        /// Running for longer than the run timeout.
        RunTimeout = "run_timeout",
        /// Queued for longer than the queue TTL.
        QueueTtl = "queue_ttl",
    }
}

vigil::label! {
    /// What a sweep did to each item (the sweeper's `outcome` label).
    pub enum Swept = "outcome" {
        /// A runtime marked offline.
        MarkedOffline = "marked_offline",
        /// A stuck task failed.
        Failed = "failed",
        /// A queued task expired.
        Expired = "expired",
        /// An offline runtime deleted.
        Collected = "collected",
    }
}
