//! Real peers for the end-to-end tests: the OpenTelemetry Collector, a client
//! written with the OpenTelemetry Go SDK, and a reader for what the
//! collector's `file` exporter writes.
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
//! `scripts/test` builds both peers and exports `VIGIL_OTELCOL` and
//! `VIGIL_GO_CLIENT`. When one is missing the helpers **panic** with a hint;
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

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsStr;
use std::fmt::{self, Debug};
use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

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

// === impl Otelcol ===

/// A running OpenTelemetry Collector, killed on drop.
///
/// Its configuration, log (stdout and stderr) and any files its config
/// writes under `${env:VIGIL_OTELCOL_DIR}` live in [`Otelcol::dir`]. Panics
/// raised by its methods quote the log's last lines, and so does dropping it
/// while the thread panics (a failed assertion in the test).
pub struct Otelcol {
    child: Child,
    dir: TempDir,
    log: PathBuf,
}

impl Otelcol {
    /// Writes `config_yaml` to `<dir>/config.yaml` and starts
    /// `otelcol --config <dir>/config.yaml` with `VIGIL_OTELCOL_DIR=<dir>`.
    /// Returns at once: call [`Otelcol::wait_ready`] before sending.
    ///
    /// Give the config `service: {telemetry: {metrics: {level: none}}}`, or
    /// the collector serves its own metrics on 127.0.0.1:8888 and two
    /// collectors clash ([`OtlpToFile::config`] does).
    ///
    /// # Panics
    /// If the binary is missing or cannot be spawned.
    pub fn start(config_yaml: &str) -> Otelcol {
        let bin = otelcol();
        let dir = TempDir::new("otelcol");
        let config = dir.path().join("config.yaml");
        fs::write(&config, config_yaml)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let log = dir.path().join("otelcol.log");
        let out = fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .env(OTELCOL_DIR_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {OTELCOL_HINT}", bin.display()));
        Otelcol { child, dir, log }
    }

    /// Waits (at most [`WAIT`]) until `addr` accepts TCP connections, which
    /// the collector's receivers do once the pipelines are built.
    ///
    /// # Panics
    /// If the collector exits first, or on time-out; with the log's tail.
    pub fn wait_ready(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "otelcol exited ({status}) before {addr} accepted connections\n{}",
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "otelcol: {addr} did not accept connections within {WAIT:?}\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The collector's scratch directory (`VIGIL_OTELCOL_DIR`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the collector printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of [`Otelcol::log`], headed by the log's path, for
    /// panic messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        format!(
            "--- last {} lines of {} ---\n{}\n---",
            tail.len(),
            self.log.display(),
            tail.join("\n")
        )
    }
}

impl Drop for Otelcol {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

impl Debug for Otelcol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otelcol")
            .field("pid", &self.child.id())
            .field("dir", &self.dir.path())
            .finish()
    }
}

// === impl OtlpToFile ===

/// The most common peer set-up: a collector whose `otlp` receiver (gRPC and
/// HTTP, on free loopback ports) sends metrics, traces and logs straight to
/// the `file` exporter, one OTLP/JSON export request per line.
#[derive(Debug)]
pub struct OtlpToFile {
    /// The collector; its log and config are in `otelcol.dir()`.
    pub otelcol: Otelcol,
    /// OTLP/gRPC receiver address.
    pub grpc: SocketAddr,
    /// OTLP/HTTP receiver address (`/v1/metrics`, `/v1/traces`, `/v1/logs`).
    pub http: SocketAddr,
    /// The file exporter's output.
    pub output: PathBuf,
}

impl OtlpToFile {
    /// The file exporter's output, relative to the collector's directory.
    pub const OUTPUT: &str = "export.jsonl";

    /// Starts the collector with [`OtlpToFile::config`] on free ports and
    /// waits until both receivers accept connections.
    pub fn start() -> OtlpToFile {
        let grpc = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let http = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        OtlpToFile::start_on(grpc, http)
    }

    /// Like [`OtlpToFile::start`], on the given addresses: for a test that
    /// points a sender at a port before anything listens there.
    pub fn start_on(grpc: SocketAddr, http: SocketAddr) -> OtlpToFile {
        let mut otelcol = Otelcol::start(&Self::config(grpc, http));
        otelcol.wait_ready(grpc);
        otelcol.wait_ready(http);
        let output = otelcol.dir().join(Self::OUTPUT);
        OtlpToFile {
            otelcol,
            grpc,
            http,
            output,
        }
    }

    /// The configuration [`OtlpToFile::start`] runs. No processors, so what
    /// arrives is written as it came; the file exporter flushes every 100 ms
    /// (its default is 1 s).
    pub fn config(grpc: SocketAddr, http: SocketAddr) -> String {
        format!(
            "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {grpc}
      http:
        endpoint: {http}
exporters:
  file:
    path: ${{env:{OTELCOL_DIR_ENV}}}/{output}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
    traces:
      receivers: [otlp]
      exporters: [file]
    logs:
      receivers: [otlp]
      exporters: [file]
",
            output = Self::OUTPUT
        )
    }

    /// What the file exporter has written so far.
    pub fn read(&self) -> FileExport {
        FileExport::read(&self.output)
    }

    /// Re-reads the output every 50 ms until `done` holds, for at most
    /// [`WAIT`]; returns the export that satisfied it.
    ///
    /// # Panics
    /// On time-out, naming `what` and quoting the collector's log.
    pub fn wait_for(&self, what: &str, done: impl Fn(&FileExport) -> bool) -> FileExport {
        let deadline = Instant::now() + WAIT;
        loop {
            let export = self.read();
            if done(&export) {
                return export;
            }
            if Instant::now() > deadline {
                panic!(
                    "otelcol's file exporter did not write {what} within {WAIT:?}; it wrote \
                     {} requests to {}\n{}",
                    export.requests.len(),
                    self.output.display(),
                    self.otelcol.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

// === impl GoClient ===

/// OTLP transport for [`GoClient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

impl Protocol {
    /// The `-protocol` flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }
}

/// One run of the Go SDK client (`tests/go-client`; its `main.go` documents
/// the exact data it sends). Plaintext transport.
#[derive(Clone, Debug)]
pub struct GoClient {
    protocol: Protocol,
    endpoint: String,
    service: String,
    signals: String,
    count: usize,
    timeout: Duration,
}

impl GoClient {
    /// A run against `endpoint` (`HOST:PORT`), sending all three signals as
    /// service `go-client`, 3 spans and 3 log records, 10 s export timeout.
    pub fn new(protocol: Protocol, endpoint: impl fmt::Display) -> GoClient {
        GoClient {
            protocol,
            endpoint: endpoint.to_string(),
            service: "go-client".to_owned(),
            signals: "metrics,traces,logs".to_owned(),
            count: 3,
            timeout: Duration::from_secs(10),
        }
    }

    /// Sets the `service.name` resource attribute.
    pub fn with_service(mut self, service: &str) -> GoClient {
        self.service = service.to_owned();
        self
    }

    /// Selects signals, comma-separated: `"metrics"`, `"traces,logs"`, ...
    pub fn with_signals(mut self, signals: &str) -> GoClient {
        self.signals = signals.to_owned();
        self
    }

    /// Sets how many spans and how many log records to send.
    pub fn with_count(mut self, count: usize) -> GoClient {
        self.count = count;
        self
    }

    /// Sets the per-export timeout, which is also the retry budget for
    /// transient failures (UNAVAILABLE, 503): how long a failing run takes.
    pub fn with_timeout(mut self, timeout: Duration) -> GoClient {
        self.timeout = timeout;
        self
    }

    /// Runs the client to completion and returns what it sent.
    ///
    /// # Panics
    /// If any export failed (with the client's stderr) or the client is
    /// missing.
    pub fn run(&self) -> GoSummary {
        self.try_run()
            .unwrap_or_else(|e| panic!("go-client {self:?} failed: {e}"))
    }

    /// Like [`GoClient::run`], but a failed export is `Err` with the exit
    /// status and stderr, for tests where the receiver is meant to refuse.
    ///
    /// # Panics
    /// If the client is missing, or prints a summary that does not parse.
    pub fn try_run(&self) -> Result<GoSummary, String> {
        let bin = go_client();
        let out = Command::new(&bin)
            .args(["-protocol", self.protocol.as_str()])
            .args(["-endpoint", &self.endpoint])
            .args(["-service", &self.service])
            .args(["-signals", &self.signals])
            .args(["-n", &self.count.to_string()])
            .args(["-timeout", &format!("{}ms", self.timeout.as_millis())])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| match e.kind() {
                ErrorKind::NotFound => panic!("{} not found: {GO_CLIENT_HINT}", bin.display()),
                _ => panic!("cannot run {}: {e}", bin.display()),
            });
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("{}: {}", out.status, stderr.trim()));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        Ok(GoSummary::parse(line))
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

// === what was sent and what arrived ===

/// Attributes as plain JSON values, sorted by key: an OTLP `stringValue`
/// becomes a JSON string, `intValue` an integer, `doubleValue` a float,
/// `boolValue` a bool, `arrayValue` an array, `kvlistValue` an object,
/// `bytesValue` its base64 string, an empty value `null`.
pub type Attributes = BTreeMap<String, Value>;

/// An instrumentation scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Scope name (the meter, tracer or logger name).
    pub name: String,
    /// Scope version; empty when unset.
    pub version: String,
}

/// The OTLP metric type of a point, with the fields that change its meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// `gauge`.
    Gauge,
    /// `sum`; `cumulative` is false for delta (and unspecified) temporality.
    Sum {
        /// `isMonotonic`.
        monotonic: bool,
        /// `aggregationTemporality` is cumulative.
        cumulative: bool,
    },
    /// `histogram` with explicit bounds.
    Histogram {
        /// `aggregationTemporality` is cumulative.
        cumulative: bool,
    },
    /// `exponentialHistogram`.
    ExponentialHistogram {
        /// `aggregationTemporality` is cumulative.
        cumulative: bool,
    },
    /// `summary`.
    Summary,
}

/// An explicit-bounds histogram point.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Number of measurements.
    pub count: u64,
    /// Sum of the measurements, when present.
    pub sum: Option<f64>,
    /// Smallest measurement, when present.
    pub min: Option<f64>,
    /// Largest measurement, when present.
    pub max: Option<f64>,
    /// Upper bounds, inclusive (`explicitBounds`).
    pub bounds: Vec<f64>,
    /// One count per bucket: `bounds.len() + 1` of them.
    pub bucket_counts: Vec<u64>,
}

/// The value of one data point.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    /// A gauge or sum point's `asInt`.
    Int(i64),
    /// A gauge or sum point's `asDouble`.
    Double(f64),
    /// A histogram point.
    Histogram(Histogram),
    /// Anything else (exponential histogram, summary, a number point with
    /// no value): the OTLP/JSON data point as written.
    Other(Value),
}

/// One metric data point with everything that identifies it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    /// Resource attributes (`service.name`, `telemetry.sdk.*`, ...).
    pub resource: Attributes,
    /// Instrumentation scope.
    pub scope: Scope,
    /// Metric name, as sent (dot-separated OTel name).
    pub metric: String,
    /// UCUM unit; empty when unset.
    pub unit: String,
    /// Metric type.
    pub kind: MetricKind,
    /// Data point attributes.
    pub attributes: Attributes,
    /// The value.
    pub value: PointValue,
}

/// One span. Timestamps and status are left out: they are not part of what
/// a test can know in advance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Resource attributes.
    pub resource: Attributes,
    /// Instrumentation scope.
    pub scope: Scope,
    /// Span name.
    pub name: String,
    /// OTLP `SpanKind` number (1 internal, 2 server, 3 client, ...).
    pub kind: i64,
    /// Trace id, lowercase hex.
    pub trace_id: String,
    /// Span id, lowercase hex.
    pub span_id: String,
    /// Parent span id, lowercase hex; empty for a root span.
    pub parent_span_id: String,
    /// Span attributes.
    pub attributes: Attributes,
}

/// One log record. Timestamps are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Resource attributes.
    pub resource: Attributes,
    /// Instrumentation scope.
    pub scope: Scope,
    /// The body: a string body as is, any other body as the JSON text of
    /// its plain value (see [`Attributes`]), no body as `""`.
    pub body: String,
    /// OTLP severity number (9 INFO, 13 WARN, ...); 0 when unset.
    pub severity_number: i64,
    /// Severity text; empty when unset.
    pub severity_text: String,
    /// Log record attributes.
    pub attributes: Attributes,
}

// === impl FileExport ===

/// What the collector's `file` exporter wrote: one OTLP/JSON export request
/// per line (`{"resourceMetrics":[..]}`, `{"resourceSpans":[..]}` or
/// `{"resourceLogs":[..]}`), camelCase field names, 64-bit integers as
/// strings, ids as hex, as the OTLP specification's JSON encoding says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileExport {
    /// The export requests, in the order written.
    pub requests: Vec<Value>,
}

impl FileExport {
    /// Reads the exporter's file. A missing file is an empty export (nothing
    /// was flushed yet), and so is a last line without its newline (a flush
    /// can stop mid-line; the rest comes with the next one).
    ///
    /// # Panics
    /// If the file cannot be read or a complete line is not JSON.
    pub fn read(path: &Path) -> FileExport {
        match fs::read_to_string(path) {
            Ok(text) => FileExport::parse(&text),
            Err(e) if e.kind() == ErrorKind::NotFound => FileExport::default(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        }
    }

    /// Parses the newline-terminated lines of `text` (see [`FileExport::read`]).
    ///
    /// # Panics
    /// If a complete line is not JSON.
    pub fn parse(text: &str) -> FileExport {
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let requests = complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("file exporter line is not JSON ({e}): {line}"))
            })
            .collect();
        FileExport { requests }
    }

    /// Only the resources whose `service.name` is `service`.
    pub fn for_service(&self, service: &str) -> FileExport {
        let wanted = Value::from(service);
        let requests = self
            .requests
            .iter()
            .filter_map(|request| {
                let mut request = request.clone();
                let obj = request.as_object_mut()?;
                for key in ["resourceMetrics", "resourceSpans", "resourceLogs"] {
                    if let Some(Value::Array(resources)) = obj.get_mut(key) {
                        resources.retain(|r| {
                            attributes(&r["resource"]["attributes"]).get("service.name")
                                == Some(&wanted)
                        });
                    }
                }
                let any = obj
                    .values()
                    .any(|v| v.as_array().is_some_and(|a| !a.is_empty()));
                any.then_some(request)
            })
            .collect();
        FileExport { requests }
    }

    /// Every metric data point, in file order.
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        let mut points = Vec::new();
        self.each(
            "resourceMetrics",
            "scopeMetrics",
            "metrics",
            |resource, scope, m| {
                let Some((kind, body)) = metric_kind(m) else {
                    return;
                };
                for p in body["dataPoints"].as_array().into_iter().flatten() {
                    points.push(MetricPoint {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        metric: string(&m["name"]),
                        unit: string(&m["unit"]),
                        kind,
                        attributes: attributes(&p["attributes"]),
                        value: point_value(kind, p),
                    });
                }
            },
        );
        points
    }

    /// Every span, in file order.
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = Vec::new();
        self.each(
            "resourceSpans",
            "scopeSpans",
            "spans",
            |resource, scope, s| {
                spans.push(Span {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    name: string(&s["name"]),
                    kind: int(&s["kind"]).unwrap_or(0),
                    trace_id: string(&s["traceId"]),
                    span_id: string(&s["spanId"]),
                    parent_span_id: string(&s["parentSpanId"]),
                    attributes: attributes(&s["attributes"]),
                });
            },
        );
        spans
    }

    /// Every log record, in file order.
    pub fn log_records(&self) -> Vec<LogRecord> {
        let mut logs = Vec::new();
        self.each(
            "resourceLogs",
            "scopeLogs",
            "logRecords",
            |resource, scope, l| {
                let body = match any_value(&l["body"]) {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                logs.push(LogRecord {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    body,
                    severity_number: int(&l["severityNumber"]).unwrap_or(0),
                    severity_text: string(&l["severityText"]),
                    attributes: attributes(&l["attributes"]),
                });
            },
        );
        logs
    }

    /// Calls `f` for every item under `resources[].scopes[].items[]`.
    fn each(
        &self,
        resources: &str,
        scopes: &str,
        items: &str,
        mut f: impl FnMut(&Attributes, &Scope, &Value),
    ) {
        for request in &self.requests {
            for r in request[resources].as_array().into_iter().flatten() {
                let resource = attributes(&r["resource"]["attributes"]);
                for s in r[scopes].as_array().into_iter().flatten() {
                    let scope = Scope {
                        name: string(&s["scope"]["name"]),
                        version: string(&s["scope"]["version"]),
                    };
                    for item in s[items].as_array().into_iter().flatten() {
                        f(&resource, &scope, item);
                    }
                }
            }
        }
    }
}

/// The metric's type and the object holding its `dataPoints`.
fn metric_kind(m: &Value) -> Option<(MetricKind, &Value)> {
    let cumulative = |body: &Value| int(&body["aggregationTemporality"]) == Some(2);
    if let Some(b) = m.get("gauge") {
        Some((MetricKind::Gauge, b))
    } else if let Some(b) = m.get("sum") {
        let monotonic = b["isMonotonic"].as_bool().unwrap_or(false);
        Some((
            MetricKind::Sum {
                monotonic,
                cumulative: cumulative(b),
            },
            b,
        ))
    } else if let Some(b) = m.get("histogram") {
        Some((
            MetricKind::Histogram {
                cumulative: cumulative(b),
            },
            b,
        ))
    } else if let Some(b) = m.get("exponentialHistogram") {
        Some((
            MetricKind::ExponentialHistogram {
                cumulative: cumulative(b),
            },
            b,
        ))
    } else {
        m.get("summary").map(|b| (MetricKind::Summary, b))
    }
}

fn point_value(kind: MetricKind, p: &Value) -> PointValue {
    match kind {
        MetricKind::Gauge | MetricKind::Sum { .. } => {
            if let Some(i) = int(&p["asInt"]) {
                PointValue::Int(i)
            } else if let Some(d) = float(&p["asDouble"]) {
                PointValue::Double(d)
            } else {
                PointValue::Other(p.clone())
            }
        }
        MetricKind::Histogram { .. } => PointValue::Histogram(Histogram {
            count: uint(&p["count"]).unwrap_or(0),
            sum: float(&p["sum"]),
            min: float(&p["min"]),
            max: float(&p["max"]),
            bounds: floats(&p["explicitBounds"]),
            bucket_counts: p["bucketCounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(uint)
                .collect(),
        }),
        MetricKind::ExponentialHistogram { .. } | MetricKind::Summary => {
            PointValue::Other(p.clone())
        }
    }
}

/// OTLP/JSON `[{"key":..,"value":{..}}]` → sorted plain values.
fn attributes(list: &Value) -> Attributes {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| (string(&kv["key"]), any_value(&kv["value"])))
        .collect()
}

/// An OTLP/JSON `AnyValue` as a plain JSON value (see [`Attributes`]).
fn any_value(v: &Value) -> Value {
    if let Some(s) = v.get("stringValue") {
        s.clone()
    } else if let Some(i) = v.get("intValue") {
        int(i).map_or(Value::Null, Value::from)
    } else if let Some(d) = v.get("doubleValue") {
        float(d).map_or(Value::Null, Value::from)
    } else if let Some(b) = v.get("boolValue") {
        b.clone()
    } else if let Some(b) = v.get("bytesValue") {
        b.clone()
    } else if let Some(a) = v.get("arrayValue") {
        Value::Array(
            a["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(any_value)
                .collect(),
        )
    } else if let Some(kv) = v.get("kvlistValue") {
        Value::Object(attributes(&kv["values"]).into_iter().collect::<Map<_, _>>())
    } else {
        Value::Null
    }
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A 64-bit integer, written as a JSON string (OTLP/JSON) or number.
fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

fn uint(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// A double: a JSON number, or the strings `NaN`, `Infinity`, `-Infinity`.
fn float(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(float)
        .collect()
}

// === impl GoSummary ===

/// What the Go client says it sent: its stdout JSON line, as the same types
/// [`FileExport`] produces, so the two compare with `==`.
#[derive(Clone, Debug, PartialEq)]
pub struct GoSummary {
    /// `-service`.
    pub service: String,
    /// `grpc` or `http`.
    pub protocol: String,
    /// `-endpoint`.
    pub endpoint: String,
    /// One per data point (metric × attribute set), final cumulative values.
    pub metrics: Vec<MetricPoint>,
    /// One per span.
    pub spans: Vec<Span>,
    /// One per log record.
    pub logs: Vec<LogRecord>,
    /// The line as printed.
    pub raw: Value,
}

impl GoSummary {
    /// Parses the client's summary line (format: `tests/go-client/main.go`).
    ///
    /// # Panics
    /// If the line is not a summary.
    pub fn parse(line: &str) -> GoSummary {
        let raw: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("go-client summary is not JSON ({e}): {line:?}"));
        let bad = |what: &str| -> ! { panic!("go-client summary: bad {what} in {line}") };
        let resource = plain_map(&raw["resource"]);
        let scope = Scope {
            name: string(&raw["scope"]["name"]),
            version: string(&raw["scope"]["version"]),
        };
        let list = |key: &str| raw[key].as_array().cloned().unwrap_or_else(|| bad(key));

        let metrics = list("metrics")
            .iter()
            .map(|m| {
                let cumulative = m["temporality"] == "cumulative";
                let kind = match m["kind"].as_str() {
                    Some("gauge") => MetricKind::Gauge,
                    Some("sum") => MetricKind::Sum {
                        monotonic: m["monotonic"].as_bool().unwrap_or(false),
                        cumulative,
                    },
                    Some("histogram") => MetricKind::Histogram { cumulative },
                    _ => bad("metric kind"),
                };
                let h = &m["histogram"];
                let value = if let Some(i) = m["as_int"].as_i64() {
                    PointValue::Int(i)
                } else if let Some(d) = m["as_double"].as_f64() {
                    PointValue::Double(d)
                } else if h.is_object() {
                    PointValue::Histogram(Histogram {
                        count: h["count"]
                            .as_u64()
                            .unwrap_or_else(|| bad("histogram count")),
                        sum: h["sum"].as_f64(),
                        min: h["min"].as_f64(),
                        max: h["max"].as_f64(),
                        bounds: floats(&h["bounds"]),
                        bucket_counts: h["bucket_counts"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_u64)
                            .collect(),
                    })
                } else {
                    bad("metric value")
                };
                MetricPoint {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    metric: string(&m["metric"]),
                    unit: string(&m["unit"]),
                    kind,
                    attributes: plain_map(&m["attributes"]),
                    value,
                }
            })
            .collect();
        let spans = list("spans")
            .iter()
            .map(|s| Span {
                resource: resource.clone(),
                scope: scope.clone(),
                name: string(&s["name"]),
                kind: s["kind"].as_i64().unwrap_or(0),
                trace_id: string(&s["trace_id"]),
                span_id: string(&s["span_id"]),
                parent_span_id: string(&s["parent_span_id"]),
                attributes: plain_map(&s["attributes"]),
            })
            .collect();
        let logs = list("logs")
            .iter()
            .map(|l| LogRecord {
                resource: resource.clone(),
                scope: scope.clone(),
                body: string(&l["body"]),
                severity_number: l["severity_number"].as_i64().unwrap_or(0),
                severity_text: string(&l["severity_text"]),
                attributes: plain_map(&l["attributes"]),
            })
            .collect();
        GoSummary {
            service: string(&raw["service"]),
            protocol: string(&raw["protocol"]),
            endpoint: string(&raw["endpoint"]),
            metrics,
            spans,
            logs,
            raw,
        }
    }
}

/// A JSON object as sorted [`Attributes`].
fn plain_map(v: &Value) -> Attributes {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
