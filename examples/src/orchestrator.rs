//! The simulated scheduler behind `examples/orchestrator.rs`: a fixed script
//! of agent tasks run through a job queue with a concurrency limit, retries
//! and a circuit breaker, recorded with Vigil's instruments.
//!
//! Everything advances on [`Scheduler::tick`], never on timers of its own,
//! so a round ends in the same state with the same counts on every run: the
//! figures the example's header lists and the end-to-end tests assert. The
//! durations recorded are the script's simulated ones, not measured ones.
//! The agents are real child processes (for pid, CPU and memory), but the
//! work "they" do is this script; nothing is sent to them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use vigil::genai::{Operation, Provider, Run, Usage};
use vigil::labels::{Label, LabelSet as _};
use vigil::lifecycle::Outcome;
use vigil::process::Workers;

mod metrics;

use metrics::Instruments;
pub use metrics::{Breaker, JobStatus, Op, Stage};

/// The agent slots: one child process each, and the maximum concurrency.
pub const AGENTS: [&str; 3] = ["agent-1", "agent-2", "agent-3"];
/// Failed executions in a row that open the breaker.
const BREAKER_THRESHOLD: u32 = 2;
/// Ticks the breaker stays open before letting one trial job through.
const BREAKER_COOLDOWN_TICKS: u32 = 4;
/// Idle ticks between rounds, when rounds repeat.
const ROUND_PAUSE_TICKS: u32 = 10;
/// The `origin` of every task transition.
const ORIGIN: &str = "scheduler";
const MODEL: &str = "claude-sonnet-4";
/// Simulated time of the stages the script does not time per task.
const PLAN: Duration = Duration::from_millis(800);
const REVIEW: Duration = Duration::from_millis(300);
/// What a timed-out execution used: the prompt went out, nothing came back.
const TIMED_OUT: Attempt = attempt(usage(1000, 0, 0), 0.003, 30);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Succeed,
    /// The first execution times out; the retry succeeds.
    TimeOutOnce,
    /// Execution succeeds; review rejects the result.
    Rejected,
}

/// One execution by an agent: a gen-AI run.
struct Attempt {
    usage: Usage,
    cost_usd: f64,
    took: Duration,
}

const fn usage(input: u64, output: u64, cache_read: u64) -> Usage {
    Usage {
        input,
        output,
        cache_read,
        cache_creation: 0,
    }
}

const fn attempt(usage: Usage, cost_usd: f64, secs: u64) -> Attempt {
    Attempt {
        usage,
        cost_usd,
        took: Duration::from_secs(secs),
    }
}

/// The round: what happens to each task, and its successful execution.
/// Tasks 2 and 3 time out in the same tick, which opens the breaker.
const SCRIPT: [(Fate, Attempt); 6] = [
    (Fate::Succeed, attempt(usage(2000, 400, 0), 0.012, 4)),
    (
        Fate::TimeOutOnce,
        attempt(usage(1000, 200, 4000), 0.0072, 3),
    ),
    (Fate::TimeOutOnce, attempt(usage(3000, 600, 0), 0.018, 6)),
    (Fate::Succeed, attempt(usage(1500, 500, 0), 0.012, 5)),
    (Fate::Rejected, attempt(usage(2500, 700, 0), 0.018, 7)),
    (Fate::Succeed, attempt(usage(500, 100, 8000), 0.0054, 2)),
];

/// The stage a task leaves and the one it enters on a transition.
const fn moves(op: Op, outcome: Outcome) -> (Option<Stage>, Option<Stage>) {
    let ok = matches!(outcome, Outcome::Success);
    match op {
        Op::Enqueue => (None, Some(Stage::Queued)),
        Op::Dispatch => (Some(Stage::Queued), Some(Stage::Planning)),
        Op::Plan => (Some(Stage::Planning), Some(Stage::Executing)),
        Op::Execute if ok => (Some(Stage::Executing), Some(Stage::Reviewing)),
        Op::Execute => (Some(Stage::Executing), Some(Stage::Queued)),
        Op::Review if ok => (Some(Stage::Reviewing), Some(Stage::Done)),
        Op::Review => (Some(Stage::Reviewing), Some(Stage::Failed)),
    }
}

/// An agent process.
#[derive(Clone, Debug)]
pub struct Agent {
    /// Its slot name: the `agent` attribute.
    pub name: &'static str,
    /// Its pid: the `process.pid` attribute.
    pub pid: u32,
    /// When it was spawned.
    pub started: Instant,
}

struct Task {
    /// Index into [`SCRIPT`].
    spec: usize,
    attempts: u32,
}

struct Running {
    task: Task,
    stage: Stage,
}

/// The job queue and its agents; see the module docs.
pub struct Scheduler {
    m: Instruments,
    agents: Vec<Agent>,
    workers: Workers,
    queue: VecDeque<Task>,
    /// One per agent, by index.
    slots: Vec<Option<Running>>,
    repeat: bool,
    idle_ticks: u32,
    succeeded: u64,
    failed: u64,
    retries: u64,
    breaker: Breaker,
    failures_in_a_row: u32,
    open_ticks: u32,
    /// Whether the half-open breaker has let its one trial job through.
    trial: bool,
}

impl Scheduler {
    /// Creates the instruments and enqueues the first round. With `repeat`,
    /// a new round starts a few ticks after one ends; otherwise the
    /// scheduler stays idle after the first.
    pub fn new(agents: Vec<Agent>, workers: Workers, repeat: bool) -> Self {
        let m = Instruments::new();
        // Every state and status exports from the start, at 0 until used.
        for stage in Stage::VALUES {
            m.tasks.set_count(*stage, (), 0);
        }
        m.retries.add(0, &[]);
        let mut s = Scheduler {
            m,
            slots: agents.iter().map(|_| None).collect(),
            agents,
            workers,
            queue: VecDeque::new(),
            repeat,
            idle_ticks: 0,
            succeeded: 0,
            failed: 0,
            retries: 0,
            breaker: Breaker::Closed,
            failures_in_a_row: 0,
            open_ticks: 0,
            trial: false,
        };
        s.start_round();
        s.publish();
        s
    }

    /// One step: running jobs move one stage, the breaker cools down, free
    /// agents take queued jobs, and the gauges are recorded.
    pub fn tick(&mut self) {
        for slot in 0..self.slots.len() {
            self.advance(slot);
        }
        if self.breaker == Breaker::Open {
            self.open_ticks += 1;
            if self.open_ticks >= BREAKER_COOLDOWN_TICKS {
                self.set_breaker(Breaker::HalfOpen);
            }
        }
        self.dispatch();
        if self.repeat && self.is_idle() {
            self.idle_ticks += 1;
            if self.idle_ticks >= ROUND_PAUSE_TICKS {
                self.start_round();
            }
        }
        self.publish();
    }

    /// Whether the round is over: nothing queued or running.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.slots.iter().all(Option::is_none)
    }

    /// One line on the current round.
    pub fn summary(&self) -> String {
        format!(
            "{} succeeded, {} failed, {} queued, {} retries, breaker {}",
            self.succeeded,
            self.failed,
            self.queue.len(),
            self.retries,
            self.breaker.as_str()
        )
    }

    fn start_round(&mut self) {
        // The previous round's finished tasks leave the stage counts.
        for (stage, n) in [(Stage::Done, self.succeeded), (Stage::Failed, self.failed)] {
            for _ in 0..n {
                self.m.tasks.move_state(Some(stage), None, ());
            }
        }
        self.succeeded = 0;
        self.failed = 0;
        self.idle_ticks = 0;
        for spec in 0..SCRIPT.len() {
            self.transition(Op::Enqueue, Outcome::Success, None);
            self.queue.push_back(Task { spec, attempts: 0 });
        }
    }

    fn advance(&mut self, slot: usize) {
        let Some(mut job) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let (fate, run) = &SCRIPT[job.task.spec];
        let next = match job.stage {
            Stage::Planning => self.transition(Op::Plan, Outcome::Success, Some(PLAN)),
            Stage::Executing => {
                job.task.attempts += 1;
                if *fate == Fate::TimeOutOnce && job.task.attempts == 1 {
                    self.agent_run(slot, &TIMED_OUT, Some("timeout"));
                    self.transition(Op::Execute, Outcome::Failure, Some(TIMED_OUT.took));
                    self.m.retries.add(1, &[]);
                    self.retries += 1;
                    self.failures_in_a_row += 1;
                    if self.breaker == Breaker::HalfOpen
                        || self.failures_in_a_row >= BREAKER_THRESHOLD
                    {
                        self.set_breaker(Breaker::Open);
                    }
                    self.queue.push_back(job.task);
                    return;
                }
                self.agent_run(slot, run, None);
                self.failures_in_a_row = 0;
                if self.breaker == Breaker::HalfOpen {
                    self.set_breaker(Breaker::Closed);
                }
                self.transition(Op::Execute, Outcome::Success, Some(run.took))
            }
            Stage::Reviewing => {
                let outcome = if *fate == Fate::Rejected {
                    self.failed += 1;
                    Outcome::Failure
                } else {
                    self.succeeded += 1;
                    Outcome::Success
                };
                self.transition(Op::Review, outcome, Some(REVIEW))
            }
            // Queued, done and failed tasks are never in a slot.
            other => Some(other),
        };
        // A task stays in its slot until it is done or failed.
        if let (Some(stage @ (Stage::Executing | Stage::Reviewing)), Some(free)) =
            (next, self.slots.get_mut(slot))
        {
            job.stage = stage;
            *free = Some(job);
        }
    }

    fn dispatch(&mut self) {
        for slot in 0..self.slots.len() {
            let allowed = match self.breaker {
                Breaker::Closed => true,
                Breaker::HalfOpen => !self.trial,
                Breaker::Open => false,
            };
            if !allowed || self.slots.get(slot).is_none_or(Option::is_some) {
                continue;
            }
            let Some(task) = self.queue.pop_front() else {
                return;
            };
            self.trial = self.breaker == Breaker::HalfOpen;
            self.transition(Op::Dispatch, Outcome::Success, None);
            if let Some(agent) = self.agents.get(slot) {
                self.workers.mark_active(agent.pid);
            }
            if let Some(free) = self.slots.get_mut(slot) {
                *free = Some(Running {
                    task,
                    stage: Stage::Planning,
                });
            }
        }
    }

    fn set_breaker(&mut self, state: Breaker) {
        self.breaker = state;
        self.open_ticks = 0;
        self.trial = false;
    }

    /// Counts a transition, moves the task between stage counts, and
    /// returns the stage it entered.
    fn transition(&self, op: Op, outcome: Outcome, took: Option<Duration>) -> Option<Stage> {
        let (from, to) = moves(op, outcome);
        self.m.tasks.record(op, outcome, ORIGIN, (), took);
        self.m.tasks.move_state(from, to, ());
        to
    }

    /// Records the gen-AI run an agent did for an execution.
    fn agent_run(&self, slot: usize, run: &Attempt, error: Option<&str>) {
        self.m.genai.record_run(&Run {
            operation: Operation::InvokeAgent,
            provider: Provider::ANTHROPIC,
            model: MODEL.into(),
            agent: self.agents.get(slot).map(|a| a.name.into()),
            usage: run.usage,
            cost_usd: run.cost_usd,
            duration: run.took,
            error: error.map(Into::into),
        });
    }

    fn publish(&self) {
        let queued = self.queue.len() as i64;
        let running = self.slots.iter().filter(|s| s.is_some()).count() as i64;
        for (status, n) in [
            (JobStatus::Queued, queued),
            (JobStatus::Running, running),
            (JobStatus::Succeeded, self.succeeded as i64),
            (JobStatus::Failed, self.failed as i64),
        ] {
            self.m.jobs.record(n, &status.attributes());
        }
        self.m.depth.record(queued, &[]);
        for state in Breaker::VALUES {
            self.m
                .breaker
                .record(i64::from(*state == self.breaker), &state.attributes());
        }
        self.m.max_concurrency.record(self.slots.len() as i64, &[]);
        for agent in &self.agents {
            self.m.uptime.record(
                agent.started.elapsed().as_secs_f64(),
                &[
                    KeyValue::new("agent", agent.name),
                    KeyValue::new("process.pid", i64::from(agent.pid)),
                ],
            );
        }
    }
}
