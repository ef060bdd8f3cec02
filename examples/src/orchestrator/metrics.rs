//! The orchestrator's typed labels and instruments; the process sampler adds
//! the agents' CPU and memory, [`GenAi`] the tokens and cost.
//!
//! Queue figures are synchronous gauges recorded on every tick: the
//! scheduler knows them exactly when they change, so there is nothing for an
//! observable callback to compute.

use opentelemetry::metrics::{Counter, Gauge};
use vigil::genai::GenAi;
use vigil::init::metric_name;
use vigil::lifecycle::Lifecycle;

vigil::label! {
    /// A task's stage: `state` on `orchestrator.task.lifecycle.count`.
    pub enum Stage = "state" {
        Queued = "queued",
        Planning = "planning",
        Executing = "executing",
        Reviewing = "reviewing",
        Done = "done",
        Failed = "failed",
    }
}

vigil::label! {
    /// What moved a task: `operation` on `orchestrator.task.lifecycle.transitions`.
    pub enum Op = "operation" {
        Enqueue = "enqueue",
        Dispatch = "dispatch",
        Plan = "plan",
        Execute = "execute",
        Review = "review",
    }
}

vigil::label! {
    /// A job's status in the queue: `status` on `orchestrator.queue.jobs`.
    pub enum JobStatus = "status" {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

vigil::label! {
    /// The circuit breaker's state: `state` on `orchestrator.queue.breaker.state` (one-hot).
    pub enum Breaker = "state" {
        Closed = "closed",
        Open = "open",
        HalfOpen = "half_open",
    }
}

/// The orchestrator's own instruments (the process sampler adds the agents' CPU and memory).
pub(crate) struct Instruments {
    pub(crate) tasks: Lifecycle<Op, Stage>,
    pub(crate) jobs: Gauge<i64>,
    pub(crate) depth: Gauge<i64>,
    pub(crate) retries: Counter<u64>,
    pub(crate) breaker: Gauge<i64>,
    pub(crate) max_concurrency: Gauge<i64>,
    pub(crate) uptime: Gauge<f64>,
    pub(crate) genai: GenAi,
}

impl Instruments {
    pub(crate) fn new() -> Self {
        let meter = vigil::init::meter();
        Instruments {
            tasks: Lifecycle::builder("task").build(),
            jobs: meter
                .i64_gauge(metric_name("queue.jobs"))
                .with_unit("{job}")
                .with_description("Jobs of the current round, by status.")
                .build(),
            depth: meter
                .i64_gauge(metric_name("queue.depth"))
                .with_unit("{job}")
                .with_description("Jobs waiting for an agent.")
                .build(),
            retries: meter
                .u64_counter(metric_name("queue.retries"))
                .with_unit("{retry}")
                .with_description("Jobs put back in the queue after a failed execution.")
                .build(),
            breaker: meter
                .i64_gauge(metric_name("queue.breaker.state"))
                .with_description(
                    "The dispatch circuit breaker: 1 for its current state, 0 for the others.",
                )
                .build(),
            max_concurrency: meter
                .i64_gauge(metric_name("queue.concurrency.max"))
                .with_unit("{job}")
                .with_description("Jobs allowed to run at once (one per agent).")
                .build(),
            uptime: meter
                .f64_gauge(metric_name("agent.uptime"))
                .with_unit("s")
                .with_description("Time since the agent process was spawned.")
                .build(),
            genai: GenAi::builder().build(),
        }
    }
}
