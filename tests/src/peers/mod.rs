//! Real peers for the end-to-end tests: the OpenTelemetry Collector, a client
//! written with the OpenTelemetry Go SDK, a reader for what the collector's
//! `file` exporter writes, and time-series databases that receive
//! Prometheus remote write ([`Tsdb`]: Prometheus 2 and 3, VictoriaMetrics).
//!
//! Vigil claims to run otelcol configurations unchanged and to forward OTLP
//! to and from other collectors. Those claims are only worth something when
//! shown against the real thing, so these helpers start a real `otelcol`
//! (built by `scripts/peers/otelcol.sh` from `scripts/peers/otelcol-builder.yaml`)
//! from a YAML string, run the Go client (`tests/go-client`, built by
//! `scripts/peers/go-client.sh`) against any OTLP receiver, and turn both
//! sides into the same plain values ([`MetricPoint`], [`Span`],
//! [`LogRecord`]) so a test compares what was sent with what arrived using
//! `==` (or [`assert_same_items`], which ignores order).
//!
//! `scripts/test` builds or installs the peers and exports `VIGIL_OTELCOL`,
//! `VIGIL_GO_CLIENT`, `VIGIL_PROMETHEUS`, `VIGIL_PROMETHEUS3` and
//! `VIGIL_VICTORIA_METRICS`. When one is missing the helpers **panic** with a hint;
//! they never skip. They do not retry or wait beyond the bounded waits named
//! on each function, and they bind only loopback addresses.
//!
//! ```no_run
//! use vigil_tests::peers::{GoClient, OtlpToFile, Protocol, assert_same_items};
//!
//! let sink = OtlpToFile::start(); // otelcol: otlp receiver -> file exporter
//! let sent = GoClient::new(Protocol::Grpc, sink.grpc).with_service("svc").run();
//! let got = sink.wait_for("every point", |e| {
//!     e.for_service("svc").metric_points().len() >= sent.metrics.len()
//! });
//! assert_same_items("points", &sent.metrics, &got.for_service("svc").metric_points());
//! ```

use std::env;
use std::ffi::OsStr;
use std::fmt::Debug;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod go_client;
mod items;
mod otelcol;
mod tsdb;

pub use go_client::{GoClient, GoSummary, Protocol};
pub use items::{
    Attributes, FileExport, Histogram, LogRecord, MetricKind, MetricPoint, PointValue, Scope, Span,
};
pub use otelcol::{Otelcol, OtlpToFile};
pub use tsdb::{QuerySample, Tsdb, TsdbKind};

/// Environment variable that `Otelcol::start` sets for the collector: its
/// own scratch directory. Configs write files there with
/// `path: ${env:VIGIL_OTELCOL_DIR}/export.jsonl`.
pub const OTELCOL_DIR_ENV: &str = "VIGIL_OTELCOL_DIR";

/// How long [`Otelcol::wait_ready`] and [`OtlpToFile::wait_for`] wait.
pub const WAIT: Duration = Duration::from_secs(30);

const OTELCOL_HINT: &str =
    "run scripts/test (it builds the OpenTelemetry Collector peer), or set VIGIL_OTELCOL";
const GO_CLIENT_HINT: &str =
    "run scripts/test (it builds the Go SDK client peer tests/go-client), or set VIGIL_GO_CLIENT";

/// Lines of the collector's log quoted in panic messages.
const LOG_TAIL_LINES: usize = 40;

/// Path to the collector binary, from `$VIGIL_OTELCOL`.
///
/// # Panics
/// If the variable is unset or does not name an executable file.
pub fn otelcol() -> PathBuf {
    peer_from_env("VIGIL_OTELCOL", OTELCOL_HINT)
}

/// Path to the Go SDK client, from `$VIGIL_GO_CLIENT`.
///
/// # Panics
/// If the variable is unset or does not name an executable file.
pub fn go_client() -> PathBuf {
    peer_from_env("VIGIL_GO_CLIENT", GO_CLIENT_HINT)
}

fn peer_from_env(var: &str, hint: &str) -> PathBuf {
    let Some(val) = env::var_os(var).filter(|v| !v.is_empty()) else {
        panic!("{var} is not set: {hint}");
    };
    let path = PathBuf::from(val);
    assert!(
        crate::is_executable(&path),
        "{var}={} is not an executable file: {hint}",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago: bound on `127.0.0.1:0` and
/// released. Another process can take it before the caller binds it; the
/// collector then fails to start and its log says so.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// `otelcol validate --config FILE`: exit status 0 when the collector
/// accepts the configuration, 1 (with the reason on stderr) when not.
///
/// # Panics
/// If the collector cannot be run at all.
pub fn otelcol_validate(config_path: &Path) -> Output {
    otelcol_validate_with_env(config_path, std::iter::empty::<(&str, &str)>())
}

/// Like [`otelcol_validate`], with `vars` added to the collector's
/// environment, for configs that say `${env:NAME}` without a default.
///
/// # Panics
/// If the collector cannot be run at all.
pub fn otelcol_validate_with_env<K, V>(
    config_path: &Path,
    vars: impl IntoIterator<Item = (K, V)>,
) -> Output
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let bin = otelcol();
    Command::new(&bin)
        .arg("validate")
        .arg("--config")
        .arg(config_path)
        .envs(vars)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {OTELCOL_HINT}", bin.display()))
}

// === impl TempDir ===

/// A fresh directory under the system temp dir, removed on drop, except
/// when the thread is panicking: then it is kept and its path printed, so a
/// failed test leaves its configs, logs and outputs to look at.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/vigil-<prefix>-<pid>-<n>-<nanos>`.
    ///
    /// # Panics
    /// If the directory cannot be created.
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "vigil-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = env::temp_dir().join(name);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept for inspection: {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Asserts that `sent` and `received` hold the same items, in any order
/// (as multisets: a duplicate on one side only is a difference).
///
/// # Panics
/// Listing the items missing from `received` and the unexpected ones.
pub fn assert_same_items<T: PartialEq + Debug>(what: &str, sent: &[T], received: &[T]) {
    let mut unmatched: Vec<&T> = received.iter().collect();
    let mut missing = Vec::new();
    for item in sent {
        match unmatched.iter().position(|r| *r == item) {
            Some(i) => {
                unmatched.swap_remove(i);
            }
            None => missing.push(item),
        }
    }
    assert!(
        missing.is_empty() && unmatched.is_empty(),
        "{what}: sent {} and received {}, which differ\nmissing ({}): {missing:#?}\n\
         unexpected ({}): {unmatched:#?}",
        sent.len(),
        received.len(),
        missing.len(),
        unmatched.len()
    );
}
