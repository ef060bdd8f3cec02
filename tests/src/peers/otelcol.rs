//! The OpenTelemetry Collector as a peer: a process started from a YAML string, and the
//! common shape `OtlpToFile` (otlp receiver → file exporter).

use std::fmt::{self, Debug};
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

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
        // Vigil's own collectors in the same test run hold 127.0.0.1:8888 (the default
        // self-telemetry address of both): an otelcol config without this clashes at random.
        assert!(
            config_yaml.contains("level: none"),
            "give the otelcol config service.telemetry.metrics.level: none:\n{config_yaml}"
        );
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
