//! CPU profiles of the whole process: sampled for a given time, then symbolized, encoded as
//! `profile.proto` and gzipped, as Go's `/debug/pprof/profile` answers.
//!
//! Sampling is the `pprof` crate's: a process-wide `ITIMER_PROF` timer sends `SIGPROF` every
//! 10 ms of CPU used by any thread (100 Hz, Go's rate), and the signal handler records the
//! interrupted thread's stack. A process has one such timer, so one profile runs at a time
//! ([`Claim`]); a second request is refused rather than queued. Samples that land inside libc,
//! libgcc, pthread or the vDSO are dropped (the crate's `blocklist`): unwinding from a signal
//! handler that interrupted the unwinder's own locks could deadlock, and the cost is that time
//! spent in those libraries is not attributed. Symbols are resolved after the timer has stopped,
//! so the profile does not sample its own symbolization.
//!
//! Memory: the crate keeps its sample table (4,096 × 4 slots of up to 128 frames) in a static
//! that it allocates on the first profile and re-allocates after each one, so the first profile
//! costs about 100 MB for the rest of the process's life. After each profile the heap's free
//! pages (the previous table, the symbolization's temporaries) are returned to the system
//! (`malloc_trim`). Measured on the release binary (Linux x86-64, glibc), `seconds=2`, idle
//! collector: resident 9 MB before, 116 MB after the first profile and still 116 MB after the
//! third (183 MB then 228 MB without the trim); the first answer takes 2.4 s (symbols loaded),
//! later ones 2.1 s. A memory_limiter set close to the collector's usual footprint will see that
//! jump; this is one reason the extension is off by default.
//!
//! Everything here blocks (it sleeps for the profile's duration and reads debug info): callers
//! run it on a blocking thread. Dropping the cancel sender ends the sampling early (a client that
//! went away should not hold the profiler for the rest of its `seconds`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use prost::Message;

use super::proto;

/// Samples per second of CPU time (Go's `runtime.SetCPUProfileRate` default).
pub const HZ: u32 = 100;

/// Libraries whose frames the signal handler does not unwind from (see the module comment).
const BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

static RUNNING: AtomicBool = AtomicBool::new(false);
/// When the running profile ends, in milliseconds since the Unix epoch (for `Retry-After`).
static ENDS_AT_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The right to run the process's one CPU profile; released when dropped.
#[derive(Debug)]
pub struct Claim(());

impl Claim {
    /// The claim for a profile of `duration`, or `None` while another profile runs.
    pub fn try_new(duration: Duration) -> Option<Claim> {
        RUNNING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let length = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        ENDS_AT_MS.store(now_ms().saturating_add(length), Ordering::Release);
        Some(Claim(()))
    }

    /// How long the running profile still samples (zero when none runs; symbolizing after the
    /// end takes a moment more).
    pub fn remaining() -> Duration {
        Duration::from_millis(ENDS_AT_MS.load(Ordering::Acquire).saturating_sub(now_ms()))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        ENDS_AT_MS.store(0, Ordering::Release);
        RUNNING.store(false, Ordering::Release);
    }
}

/// Why no profile came out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sampler could not start (the signal handler or timer could not be installed).
    #[error("the CPU profiler could not start: {0}")]
    Start(#[source] pprof::Error),
    /// The samples could not be read back.
    #[error("the CPU profile could not be read: {0}")]
    Report(#[source] pprof::Error),
    /// The requester went away before the end.
    #[error("the profile was cancelled")]
    Cancelled,
    /// Compressing the profile failed (out of memory).
    #[error("the profile could not be compressed: {0}")]
    Gzip(#[source] std::io::Error),
}

/// Samples the process for `duration` (unless `cancel`'s sender is dropped first) and answers
/// the gzipped `profile.proto`. Blocks for `duration`: call it on a blocking thread.
pub fn profile(_claim: Claim, duration: Duration, cancel: Receiver<()>) -> Result<Vec<u8>, Error> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(i32::try_from(HZ).unwrap_or(100))
        .blocklist(BLOCKLIST)
        .build()
        .map_err(Error::Start)?;
    match cancel.recv_timeout(duration) {
        Err(RecvTimeoutError::Timeout) => {}
        Ok(()) | Err(RecvTimeoutError::Disconnected) => return Err(Error::Cancelled),
    }
    let unresolved = guard.report().build_unresolved().map_err(Error::Report)?;
    // Stops the timer and removes the signal handler before symbolizing.
    drop(guard);
    let report = pprof::Report {
        data: unresolved
            .data
            .into_iter()
            .map(|(frames, count)| (pprof::Frames::from(frames), count))
            .fold(
                std::collections::HashMap::new(),
                |mut data, (frames, count)| {
                    *data.entry(frames).or_insert(0) += count;
                    data
                },
            ),
        timing: unresolved.timing,
    };
    let profile = gzip(&proto::from_report(&report, HZ).encode_to_vec());
    drop(report);
    // The previous sample table and the symbolization's temporaries are free now: return them.
    super::allocator::trim();
    profile
}

/// Gzip, as Go's `pprof` handlers send and every reader expects.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::default(),
    );
    encoder.write_all(bytes).map_err(Error::Gzip)?;
    encoder.finish().map_err(Error::Gzip)
}
