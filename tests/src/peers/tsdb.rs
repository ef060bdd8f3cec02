//! Time-series databases as remote-write peers: Prometheus 2 (Debian 2.42),
//! Prometheus 3 (3.16, built by `scripts/peers/prometheus3.sh`) and
//! VictoriaMetrics (Debian 1.79), each a process on a free loopback port with
//! its own data directory, read back through the Prometheus HTTP query API.
//!
//! The `prometheusremotewrite` exporter's tests must prove what a real
//! receiver stored, not what a mock decoded: [`Tsdb`] starts one, hands out
//! its [`Tsdb::remote_write_url`], and answers PromQL with exact values
//! ([`Tsdb::query`]). [`Tsdb::stop`] and [`Tsdb::restart`] (same port, same
//! data) make outages. It builds no requests itself (`tests/tsdb_peers.rs`
//! hand-builds some to prove the peers) and never retries a failed query:
//! only [`Tsdb::wait_for_query`] polls, for a bounded time.
//!
//! Spec: <https://prometheus.io/docs/specs/prw/remote_write_spec/> (1.0) and
//! <https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/> (2.0).
//!
//! # How each peer answers `POST /api/v1/write` (measured, asserted in tsdb_peers.rs)
//!
//! Prometheus 2.42 (P2), 3.16 (P3), VictoriaMetrics 1.79 (VM). None sends
//! a body on success. For the exporter's fallback and error handling:
//!
//! * **Valid 1.0**: `204`, no `X-Prometheus-Remote-Write-*` headers, all three.
//! * **Valid 2.0 on P3**: `204` with `X-Prometheus-Remote-Write-Samples-Written`,
//!   `-Histograms-Written`, `-Exemplars-Written` (counts).
//! * **2.0 to P2 or VM** (2.0 Content-Type and version header): `204`, no
//!   headers, **nothing stored**: both ignore the Content-Type and read the
//!   body as an empty 1.0 request (2.0 uses fields 4 and 5 only). Only the
//!   missing `-Samples-Written` header tells a 1.0 receiver; never a 415.
//!   P3 reads what the Content-Type says: a 1.0 body sent as 2.0 is `204`
//!   with the three headers at `0`; an unknown `proto=` is `415`.
//! * **Out of order / duplicate timestamp with another value**: P2 and P3
//!   `400` (`out of order sample`; P2 `duplicate sample for timestamp`, P3
//!   `duplicate sample for timestamp <ms>; overrides not allowed: existing 1,
//!   new value 99`), and over 1.0 the *whole request* is dropped, its valid
//!   series too. P3 over 2.0: `400` (the same texts + ` for series {...}`)
//!   but the other series *are* stored, and the headers count them. The same
//!   value again is a `204`. VM: `204`, stores the older sample, and keeps
//!   both duplicates (instant queries showed the last written).
//! * **Malformed body**: `400` everywhere. Not snappy: P2 `snappy: corrupt
//!   input`, P3 `s2: corrupt input`, VM `remoteAddr: "127.0.0.1:<port>";
//!   requestURI: /api/v1/write; cannot decompress request with length 18:
//!   snappy: corrupt input`. Snappy but no protobuf: `unexpected EOF` (VM:
//!   `... cannot unmarshal prompb.WriteRequest with size 4 bytes: unexpected EOF`).
//! * **Native histogram over 1.0** (`TimeSeries.histograms`): P2 `500 native
//!   histograms are disabled` (retrying never helps), P3 `204` and stored,
//!   VM `204` and silently dropped.
//! * **SIGKILL**: P2 and P3 keep every acknowledged sample (WAL); VM loses
//!   those of the last 5-10 s, even after `/internal/force_flush`.

mod api;

use std::fmt::{self, Debug};
use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub use api::QuerySample;

use super::{LOG_TAIL_LINES, TempDir, WAIT, free_port, peer_from_env};

const PROMETHEUS3_HINT: &str = "run scripts/test (it builds Prometheus 3 with \
     scripts/peers/prometheus3.sh), or set VIGIL_PROMETHEUS3";
const VICTORIA_METRICS_HINT: &str = "victoria-metrics not found: run scripts/test (it installs \
     the Debian package `victoria-metrics`), or set VIGIL_VICTORIA_METRICS";

/// How long [`Tsdb::stop`] waits for a graceful exit before it kills.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Which database a [`Tsdb`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsdbKind {
    /// Prometheus 2.42 (Debian bookworm): remote-write 1.0 only.
    Prometheus2,
    /// Prometheus 3.16: remote-write 1.0 and 2.0, native histograms.
    Prometheus3,
    /// VictoriaMetrics 1.79 (Debian bookworm): remote-write 1.0.
    VictoriaMetrics,
}

// === impl Tsdb ===

/// A running time-series database, killed on drop.
///
/// Its data directory, configuration and log (stdout and stderr, appended
/// across restarts) live in one temporary directory. Panics raised by its
/// methods quote the log's last lines, and so does dropping it while the
/// thread panics.
pub struct Tsdb {
    kind: TsdbKind,
    bin: PathBuf,
    args: Vec<String>,
    addr: SocketAddr,
    dir: TempDir,
    log: PathBuf,
    child: Option<Child>,
    http: reqwest::blocking::Client,
}

impl Tsdb {
    /// Prometheus 2.42 from `$VIGIL_PROMETHEUS` (else `prometheus` on
    /// `PATH`), with `--web.enable-remote-write-receiver` and an empty
    /// configuration (no scrape jobs: every series is one that was written).
    /// Started and ready.
    ///
    /// # Panics
    /// If the binary is missing, or the server does not become ready within
    /// [`WAIT`].
    pub fn prometheus2() -> Tsdb {
        Tsdb::start_prometheus(TsdbKind::Prometheus2, crate::prometheus(), &[], None)
    }

    /// Prometheus 2.42 as [`Tsdb::prometheus2`], also scraping `target`'s `/metrics` every
    /// second as job `job`, with `honor_labels: true`.
    pub fn prometheus2_scraping(target: SocketAddr, job: &str) -> Tsdb {
        let config = format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: {job}\n    honor_labels: true\n    \
             static_configs: [{{targets: ['{target}']}}]\n"
        );
        Tsdb::start_prometheus(
            TsdbKind::Prometheus2,
            crate::prometheus(),
            &[],
            Some(config),
        )
    }

    /// Prometheus 3.16 from `$VIGIL_PROMETHEUS3`, accepting both
    /// `prometheus.WriteRequest` (1.0) and `io.prometheus.write.v2.Request`
    /// (2.0). Native histograms need no flag in 3.16. Started and ready.
    ///
    /// # Panics
    /// If `VIGIL_PROMETHEUS3` is unset or wrong, or the server does not
    /// become ready within [`WAIT`].
    pub fn prometheus3() -> Tsdb {
        let bin = peer_from_env("VIGIL_PROMETHEUS3", PROMETHEUS3_HINT);
        let extra = [
            "--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
            "--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request",
        ];
        Tsdb::start_prometheus(TsdbKind::Prometheus3, bin, &extra, None)
    }

    /// VictoriaMetrics 1.79 from `$VIGIL_VICTORIA_METRICS` (else
    /// `victoria-metrics` on `PATH`), with `-search.latencyOffset=0s` and
    /// `-search.disableCache`, so a query sees samples as soon as they are
    /// searchable (VictoriaMetrics buffers new samples for up to a second:
    /// [`Tsdb::flush`] or [`Tsdb::wait_for_query`]). Started and ready.
    ///
    /// # Panics
    /// If the binary is missing, or the server does not become ready within
    /// [`WAIT`].
    pub fn victoria_metrics() -> Tsdb {
        let bin = crate::tool_from_env_or_path(
            "VIGIL_VICTORIA_METRICS",
            "victoria-metrics",
            VICTORIA_METRICS_HINT,
        );
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let dir = TempDir::new("victoria-metrics");
        let args = vec![
            format!("-httpListenAddr={addr}"),
            format!("-storageDataPath={}", dir.path().join("data").display()),
            "-search.latencyOffset=0s".to_owned(),
            "-search.disableCache".to_owned(),
        ];
        Tsdb::spawn(TsdbKind::VictoriaMetrics, bin, args, addr, dir)
    }

    fn start_prometheus(
        kind: TsdbKind,
        bin: PathBuf,
        extra: &[&str],
        config_text: Option<String>,
    ) -> Tsdb {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let dir = TempDir::new(match kind {
            TsdbKind::Prometheus2 => "prometheus2",
            _ => "prometheus3",
        });
        let config = dir.path().join("prometheus.yml");
        let text = config_text
            .unwrap_or_else(|| "# Empty: no scrape jobs, only remote-written series.\n".into());
        fs::write(&config, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let mut args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
            "--web.enable-remote-write-receiver".to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        Tsdb::spawn(kind, bin, args, addr, dir)
    }

    fn spawn(
        kind: TsdbKind,
        bin: PathBuf,
        args: Vec<String>,
        addr: SocketAddr,
        dir: TempDir,
    ) -> Tsdb {
        let log = dir.path().join("tsdb.log");
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the HTTP client");
        let mut tsdb = Tsdb {
            kind,
            bin,
            args,
            addr,
            dir,
            log,
            child: None,
            http,
        };
        tsdb.restart();
        tsdb
    }

    /// Which database this is.
    pub fn kind(&self) -> TsdbKind {
        self.kind
    }

    /// The address it listens on (`127.0.0.1:<port>`), kept across restarts.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where remote-write requests go: `/api/v1/write` on all three.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// The data directory (`--storage.tsdb.path` / `-storageDataPath`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The scratch directory: data, configuration, log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Instant query at the server's "now" (`/api/v1/query`).
    ///
    /// # Panics
    /// If the server answers with an error (quoting its body), the result
    /// is a string or a native histogram (query `histogram_count(...)` /
    /// `histogram_sum(...)` instead), or the server is unreachable.
    pub fn query(&self, promql: &str) -> Vec<QuerySample> {
        self.instant_query(promql, None)
    }

    /// Instant query evaluated at `unix_secs` (seconds since the epoch, as
    /// `time=` takes it). See [`Tsdb::query`].
    pub fn query_at(&self, promql: &str, unix_secs: f64) -> Vec<QuerySample> {
        self.instant_query(promql, Some(unix_secs))
    }

    /// Runs [`Tsdb::query`] every 100 ms until `done` holds for its result,
    /// for at most `timeout`; returns that result.
    ///
    /// # Panics
    /// On time-out (with the last result and the log's tail), or when a
    /// query fails (a failing query is a bug, not a delay).
    pub fn wait_for_query(
        &self,
        promql: &str,
        done: impl Fn(&[QuerySample]) -> bool,
        timeout: Duration,
    ) -> Vec<QuerySample> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.query(promql);
            if done(&got) {
                return got;
            }
            if Instant::now() > deadline {
                panic!(
                    "{:?}: `{promql}` did not give the expected result within {timeout:?}; \
                     last result: {got:?}\n{}",
                    self.kind,
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The values of label `name` across all series
    /// (`/api/v1/label/<name>/values`), sorted.
    ///
    /// # Panics
    /// As [`Tsdb::query`].
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let url = format!("{}/api/v1/label/{name}/values", self.base_url());
        let body = self.get(&url, &[]);
        let mut values = api::parse_label_values(&body)
            .unwrap_or_else(|e| panic!("{:?}: GET {url}: {e}\n{body}", self.kind));
        values.sort();
        values
    }

    /// The metric names stored (`label_values("__name__")`), sorted.
    pub fn series_names(&self) -> Vec<String> {
        self.label_values("__name__")
    }

    /// Makes samples written so far searchable at once: VictoriaMetrics'
    /// `/internal/force_flush`. A no-op for Prometheus, which can query a
    /// sample as soon as the write that carried it returned.
    pub fn flush(&self) {
        if self.kind == TsdbKind::VictoriaMetrics {
            self.get(&format!("{}/internal/force_flush", self.base_url()), &[]);
        }
    }

    /// Stops the server gracefully (SIGTERM; SIGKILL after 15 s), keeping
    /// its data: the outage half of an outage test. A no-op when stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the server (SIGKILL, no shutdown), keeping its data: a crash.
    /// Prometheus keeps what it acknowledged (WAL); VictoriaMetrics loses
    /// the last 5-10 s of it, so outage tests against it use [`Tsdb::stop`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is running (it may not be ready yet).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts the server again on the same port with the same data (after
    /// [`Tsdb::stop`] or [`Tsdb::kill`]; stops it first if it runs), and
    /// waits until it is ready.
    ///
    /// # Panics
    /// If it cannot be spawned, exits, or is not ready within [`WAIT`].
    pub fn restart(&mut self) {
        self.stop();
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new(&self.bin)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Polls the readiness endpoint (`/-/ready`, VictoriaMetrics `/health`).
    fn wait_ready(&mut self) {
        let path = match self.kind {
            TsdbKind::VictoriaMetrics => "/health",
            _ => "/-/ready",
        };
        let url = format!("{}{path}", self.base_url());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "{:?} exited ({status}) before it was ready\n{}",
                    self.kind,
                    self.log_tail()
                );
            }
            let ready = self
                .http
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{:?}: {url} not ready within {WAIT:?}\n{}",
                    self.kind,
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn instant_query(&self, promql: &str, at: Option<f64>) -> Vec<QuerySample> {
        let url = format!("{}/api/v1/query", self.base_url());
        let time = at.map(|t| format!("{t:.3}"));
        let mut params = vec![("query", promql)];
        if let Some(t) = &time {
            params.push(("time", t));
        }
        let body = self.get(&url, &params);
        api::parse_query(&body)
            .unwrap_or_else(|e| panic!("{:?}: query `{promql}`: {e}\n{body}", self.kind))
    }

    /// GET with query parameters; the body of a 2xx answer.
    fn get(&self, url: &str, params: &[(&str, &str)]) -> String {
        let url = reqwest::Url::parse_with_params(url, params)
            .unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let resp = self
            .http
            .get(url.clone())
            .send()
            .unwrap_or_else(|e| panic!("{:?}: GET {url}: {e}\n{}", self.kind, self.log_tail()));
        let status = resp.status();
        let body = resp
            .text()
            .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
        assert!(
            status.is_success(),
            "{:?}: GET {url}: {status}\n{body}",
            self.kind
        );
        body
    }

    /// Everything the server printed so far (across restarts).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of [`Tsdb::log`], headed by its path, for panics.
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

impl Drop for Tsdb {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

impl Debug for Tsdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tsdb")
            .field("kind", &self.kind)
            .field("addr", &self.addr)
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("dir", &self.dir.path())
            .finish()
    }
}
