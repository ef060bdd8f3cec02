//! Child processes an example spawns as stand-in workers or agents, killed
//! and reaped on every exit path.
//!
//! Examples that watch real processes (`orchestrator`, `worker_dashboard`)
//! spawn `sleep` and shell busy loops. A [`Children`] owns them: dropping it
//! (a `?` on an error path, a panic unwinding) kills and waits for each one,
//! so no example leaves a busy loop spinning behind it. It cannot help when
//! the example itself is killed with SIGKILL; Ctrl-C in a terminal signals
//! the children too.
//!
//! It uses `std::process` rather than `tokio::process` on purpose: killing
//! and *waiting* must happen inside `Drop`, synchronously, and waiting for a
//! process that was just sent SIGKILL takes microseconds.

use std::process::{Child, Command, Stdio};

use anyhow::Context as _;

/// The shell loop that keeps one CPU core busy.
const BUSY_LOOP: &str = "while :; do :; done";

/// Spawned child processes, by name; killed and reaped on drop.
#[derive(Debug, Default)]
pub struct Children {
    running: Vec<(String, Child)>,
}

impl Children {
    /// No children yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `program args…` with no stdin/stdout (stderr inherited) under
    /// `name`, and returns its pid.
    pub fn spawn(&mut self, name: &str, program: &str, args: &[&str]) -> anyhow::Result<u32> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {name} ({program} {})", args.join(" ")))?;
        let pid = child.id();
        self.running.push((name.to_string(), child));
        Ok(pid)
    }

    /// Spawns a shell busy loop (one core of CPU) under `name`.
    pub fn busy_loop(&mut self, name: &str) -> anyhow::Result<u32> {
        self.spawn(name, "sh", &["-c", BUSY_LOOP])
    }

    /// Spawns an idle `sleep` (a day; it is killed long before) under `name`.
    pub fn sleeper(&mut self, name: &str) -> anyhow::Result<u32> {
        self.spawn(name, "sleep", &["86400"])
    }

    /// The running children's names and pids, in spawn order.
    pub fn pids(&self) -> impl Iterator<Item = (&str, u32)> {
        self.running.iter().map(|(name, c)| (name.as_str(), c.id()))
    }

    /// Kills and reaps every child; returns one message per child that could
    /// not be killed or waited for (an already exited child is not an error).
    pub fn kill_all(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, mut child) in self.running.drain(..) {
            let pid = child.id();
            // Killing an exited-but-unreaped child succeeds; only the wait matters.
            if let Err(e) = child.kill() {
                problems.push(format!("killing {name} (pid {pid}): {e}"));
            }
            if let Err(e) = child.wait() {
                problems.push(format!("waiting for {name} (pid {pid}): {e}"));
            }
        }
        problems
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for problem in self.kill_all() {
            eprintln!("{problem}");
        }
    }
}
