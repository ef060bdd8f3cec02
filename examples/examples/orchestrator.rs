//! The Python orchestrator's JSON `/metrics`, on Vigil: task stages, a job
//! queue (counts by status, depth, retries, a circuit breaker's state, max
//! concurrency), agents as child processes with pid, runtime and CPU, and
//! token and cost accounting per run, all readable from the collector's JSON
//! snapshot without parsing Prometheus text.
//!
//! ```text
//! cargo run -p vigil-collector &     # OTLP on :4317; /metrics and the snapshot on :9464
//! cargo run -p examples --example orchestrator
//! ```
//!
//! It spawns three agents (`agent-1` a shell busy loop, `agent-2` and
//! `agent-3` a `sleep`), then runs rounds of six scripted tasks through
//! queued → planning → executing → reviewing → done, one stage per second,
//! on at most three agents at once. Two tasks time out together on their
//! first execution, which opens the breaker; after a cool-down a half-open
//! trial closes it again and both are retried; one result is rejected in
//! review. The collector's address comes from the standard OTel variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, default `http://localhost:4317`). Ctrl-C
//! stops it: the agents are killed and reaped, the last metrics flushed.
//!
//! Look at `http://127.0.0.1:9464/metrics` (families `orchestrator_*`,
//! `gen_ai_client_*`) and `http://127.0.0.1:9464/api/v1/snapshot?service=orchestrator`.
//!
//! With `VIGIL_EXAMPLE_DURATION=8s` (and `OTEL_METRIC_EXPORT_INTERVAL=500`)
//! it ticks every 100 ms, runs one round only (done after ~1.5 s), and exits
//! 0 after 8 s. From then on these values are certain:
//!
//! | OTel name (Prometheus family) | certain values |
//! |---|---|
//! | `orchestrator.task.lifecycle.transitions` (`orchestrator_task_lifecycle_transitions_total`) | `outcome="success"`: enqueue 6, dispatch 8, plan 8, execute 6, review 5; `outcome="failure"`: execute 2, review 1 (`origin="scheduler"`) |
//! | `orchestrator.task.lifecycle.count` (`orchestrator_task_lifecycle_count`) | `state`: done 5, failed 1, queued/planning/executing/reviewing 0 |
//! | `orchestrator.queue.jobs` (`orchestrator_queue_jobs`) | `status`: succeeded 5, failed 1, queued 0, running 0 |
//! | `orchestrator.queue.depth`, `.retries`, `.concurrency.max` | 0, 2 (`…_retries_total`), 3 |
//! | `orchestrator.queue.breaker.state` (`orchestrator_queue_breaker_state`) | `state`: closed 1, open 0, half_open 0 |
//! | `gen_ai.client.token.usage` (`gen_ai_client_token_usage`) | `gen_ai.token.type="input"`: count 8, sum 24500; `"output"`: count 6, sum 2500 |
//! | `orchestrator.gen_ai.client.cache.token.usage` | `cache_read`: count 2, sum 12000 |
//! | `gen_ai.client.operation.duration` (`…_seconds`) | no `error.type`: count 6, sum 27; `error.type="timeout"`: count 2, sum 60 |
//! | `orchestrator.gen_ai.client.cost.usd` (`orchestrator_gen_ai_client_cost_usd_total`) | 0.0786 in total over the three agents (float sum) |
//! | `orchestrator.agent.uptime` (`orchestrator_agent_uptime_seconds`) | one series per agent: `agent`, `process.pid` |
//! | `orchestrator.process.cpu.time`, `.cpu.utilization`, `.memory.usage`, `.thread.count`, `.unix.file_descriptor.count` | this process (no attribute) and each agent (`agent`, `process.pid`); `agent-1` burns CPU |
//!
//! Gen-AI series carry `gen_ai.operation.name="invoke_agent"`,
//! `gen_ai.provider.name="anthropic"`, `gen_ai.request.model="claude-sonnet-4"`
//! and `gen_ai.agent.name` (the agent slot).
//!
//! # Reading it from a sidecar
//!
//! ```text
//! curl -s 'http://127.0.0.1:9464/api/v1/snapshot?service=orchestrator' | jq '
//!   .services[].metrics[]
//!   | select(.name | test("^orchestrator\\.(queue|task|agent|process\\.cpu)|^gen_ai\\.|cost"))
//!   | {name, series: [.series[] | {attributes, value, count, sum}]}'
//! ```
//!
//! Pid, runtime and CPU per agent: `orchestrator.agent.uptime` and
//! `orchestrator.process.cpu.time` (`cpu.mode` user/system, seconds) series
//! whose attributes hold `agent` and `process.pid`. Tokens and cost per run:
//! `gen_ai.client.token.usage` (count = runs, sum = tokens),
//! `orchestrator.gen_ai.client.cost.usd`. Queue: `orchestrator.queue.*`.
//! Stages: `orchestrator.task.lifecycle.count`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use examples::children::Children;
use examples::orchestrator::{AGENTS, Agent, Scheduler};
use vigil::process::{Sampler, Workers};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orchestrator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let run_for = examples::run_for()?;
    let short = run_for.is_some();
    let guard = vigil::builder()
        .with_service_name("orchestrator")
        .with_service_version(env!("CARGO_PKG_VERSION"))
        .with_namespace("orchestrator")
        .build()?;

    // Dropped before the guard on every early return: the agents die first.
    let mut children = Children::new();
    let workers = Workers::new();
    let mut agents = Vec::new();
    for (i, name) in AGENTS.into_iter().enumerate() {
        let pid = if i == 0 {
            children.busy_loop(name)?
        } else {
            children.sleeper(name)?
        };
        workers.register(pid, name);
        agents.push(Agent {
            name,
            pid,
            started: Instant::now(),
        });
    }
    let sampler = Sampler::builder()
        .with_workers(workers.clone())
        .with_worker_attribute("agent")
        // Opt-in: the sidecar wants pids, and three agents bound the series.
        .with_worker_pid(true)
        .with_interval(if short {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(2)
        })
        .build()
        .start()?;
    let mut scheduler = Scheduler::new(agents.clone(), workers, !short);

    print_banner(&guard, &agents);
    let step = if short {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    };
    let mut ticks = tokio::time::interval(step);
    let stop = examples::stop_signal(run_for);
    tokio::pin!(stop);
    let mut round_reported = false;
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {
                scheduler.tick();
                let idle = scheduler.is_idle();
                if idle && !round_reported {
                    println!("round done: {}", scheduler.summary());
                }
                round_reported = idle;
            }
        }
    }

    sampler.stop();
    for problem in children.kill_all() {
        eprintln!("orchestrator: {problem}");
    }
    println!("stopping: {}; agents killed, flushing", scheduler.summary());
    if let Err(e) = guard.shutdown_async().await {
        eprintln!("orchestrator: could not send everything: {e}");
    }
    Ok(())
}

fn print_banner(guard: &vigil::Guard, agents: &[Agent]) {
    if guard.is_disabled() {
        println!("telemetry is disabled (OTEL_SDK_DISABLED): nothing will be exported");
    }
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://localhost:4317 (default)".to_string());
    println!("orchestrator: exporting to {endpoint}");
    for agent in agents {
        println!("  {} pid {}", agent.name, agent.pid);
    }
    println!(
        "look at the collector's /metrics (orchestrator_*, gen_ai_client_*) and \
         /api/v1/snapshot?service=orchestrator (http://127.0.0.1:9464 by default); Ctrl-C stops"
    );
}
