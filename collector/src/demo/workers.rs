//! The process family: [`vigil::process::Sampler`] reporting this process
//! (the collector the demo runs in) and two real child worker processes,
//! with their CPU and RSS, and the worker that stops getting work flagged as
//! a zombie once it has been idle past the reap TTL.
//!
//! "Zombie" is the SDK's meaning, the one of the worker dashboard it
//! replaces: a worker idle past its reap TTL whose process *still runs*, so
//! its supervisor should have reaped it and did not. A process that exited
//! and was not waited for (a kernel zombie, state `Z`) counts as exited for
//! the SDK, not as a zombie; so the idle worker stays alive, idle, until the
//! demo stops, and only then is it killed and waited for. No process, and no
//! kernel zombie, outlives the demo.
//!
//! Each worker is `sh` reading jobs from its stdin: a line holding a number
//! is a loop of that many shell iterations (a little real CPU). When the
//! demo's process dies without stopping (SIGKILL), the workers read end of
//! file and exit on their own rather than linger. Jobs go through a
//! two-slot channel to a thread per worker that writes them to its stdin, so
//! a worker that stops reading (stopped with SIGSTOP, say) fills that
//! channel, and the demo skips its jobs instead of blocking on the pipe.

use std::io::Write as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use opentelemetry::metrics::Meter;
use vigil::process::{Handle, Sampler, Workers};

use super::NAMESPACE;
use super::rng::{Rng, wave};

/// The worker that keeps getting work.
pub const BUSY: &str = "worker-1";
/// The worker that goes idle and becomes a zombie.
pub const IDLER: &str = "worker-2";
/// The worker's program: one shell loop per job line; exits at end of input.
const SCRIPT: &str = "while read n; do i=0; while [ \"$i\" -lt \"$n\" ]; do i=$((i+1)); done; done";
/// Workers with their own series (and room for the sampler's own).
const MAX_WORKERS: usize = 8;

/// Why the workers could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `sh` could not be spawned.
    #[error("spawning demo worker {name} (sh): {source}")]
    Spawn {
        /// The worker's name.
        name: &'static str,
        /// What spawning said.
        #[source]
        source: std::io::Error,
    },
    /// The thread handing a worker its jobs could not start.
    #[error("starting the job feed of demo worker {name}: {source}")]
    Feed {
        /// The worker's name.
        name: &'static str,
        /// What spawning the thread said.
        #[source]
        source: std::io::Error,
    },
    /// The sampler could not start.
    #[error(transparent)]
    Sampler(#[from] vigil::process::Error),
}

struct Worker {
    name: &'static str,
    child: Child,
    /// Job sizes for the worker's feed thread; `None` once it is gone.
    jobs: Option<SyncSender<u64>>,
}

/// Starts the thread that writes `name`'s jobs to its stdin. It ends when
/// the sender is dropped (closing the pipe: the worker reads end of file)
/// or when a write fails (the worker is gone).
fn feed_thread(name: &'static str, mut stdin: ChildStdin) -> Result<SyncSender<u64>, Error> {
    let (jobs, queue) = sync_channel::<u64>(2);
    std::thread::Builder::new()
        .name(format!("demo-{name}-jobs"))
        .spawn(move || {
            for size in queue {
                if writeln!(stdin, "{size}").is_err() {
                    break;
                }
            }
        })
        .map_err(|source| Error::Feed { name, source })?;
    Ok(jobs)
}

/// The child workers and the sampler watching them.
pub(super) struct Pool {
    workers: Vec<Worker>,
    registry: Workers,
    sampler: Option<Handle>,
    idle_after: Duration,
    rng: Rng,
}

impl Pool {
    /// Spawns the workers and starts sampling every `sample_every`; the idle
    /// worker gets work until `idle_after`, and is a zombie `reap_ttl` later.
    pub(super) fn start(
        meter: Meter,
        sample_every: Duration,
        reap_ttl: Duration,
        idle_after: Duration,
        seed: u64,
    ) -> Result<Self, Error> {
        let registry = Workers::new().with_reap_ttl(reap_ttl);
        let mut pool = Pool {
            workers: Vec::with_capacity(2),
            registry: registry.clone(),
            sampler: None,
            idle_after,
            rng: Rng::new(seed),
        };
        // On an error below, dropping `pool` kills and reaps what was spawned.
        for name in [BUSY, IDLER] {
            let mut child = Command::new("sh")
                .args(["-c", SCRIPT])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|source| Error::Spawn { name, source })?;
            let stdin = child.stdin.take();
            registry.register(child.id(), name);
            pool.workers.push(Worker {
                name,
                child,
                jobs: None,
            });
            if let (Some(stdin), Some(worker)) = (stdin, pool.workers.last_mut()) {
                worker.jobs = Some(feed_thread(name, stdin)?);
            }
        }
        pool.sampler = Some(
            Sampler::builder()
                .with_meter(meter)
                .with_namespace(NAMESPACE)
                .with_workers(registry)
                .with_interval(sample_every)
                .with_max_workers(MAX_WORKERS)
                .build()
                .start()?,
        );
        Ok(pool)
    }

    /// Hands each worker that still gets work a job, sized by the wave and
    /// by `every` (the time between jobs), so a worker's CPU share is the
    /// same at the tests' short tick as at the demo's: a few per cent of a
    /// core, more at the crest.
    pub(super) fn feed(&mut self, elapsed: Duration, tick: u64, every: Duration) {
        let per_second = 4_000.0 + 50_000.0 * wave(tick, 60) + self.rng.range(0, 5_000) as f64;
        let size = (per_second * every.as_secs_f64()) as u64;
        for worker in &mut self.workers {
            if worker.name == IDLER && elapsed >= self.idle_after {
                continue;
            }
            let Some(jobs) = worker.jobs.as_ref() else {
                continue;
            };
            match jobs.try_send(size) {
                // Queued, or skipped because earlier jobs still wait: either
                // way the worker has work, so it is active.
                Ok(()) | Err(TrySendError::Full(_)) => {
                    self.registry.mark_active(worker.child.id());
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::warn!(worker = worker.name, "demo worker stopped taking jobs");
                    worker.jobs = None;
                }
            }
        }
    }

    /// The workers' names and pids.
    pub(super) fn pids(&self) -> Vec<(&'static str, u32)> {
        self.workers
            .iter()
            .map(|w| (w.name, w.child.id()))
            .collect()
    }

    /// Stops sampling, then kills and waits for every worker; one message
    /// per worker that could not be reaped.
    pub(super) fn shut_down(mut self) -> Vec<String> {
        if let Some(sampler) = self.sampler.take() {
            sampler.stop();
        }
        self.reap()
    }

    fn reap(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for mut worker in self.workers.drain(..) {
            let pid = worker.child.id();
            drop(worker.jobs.take());
            // Killing an exited but unreaped child succeeds; only the wait matters.
            let _ = worker.child.kill();
            if let Err(e) = worker.child.wait() {
                problems.push(format!("waiting for {} (pid {pid}): {e}", worker.name));
            }
            self.registry.unregister(pid);
        }
        problems
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for problem in self.reap() {
            tracing::warn!("demo worker: {problem}");
        }
    }
}
