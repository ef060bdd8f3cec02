//! The real binary as a child process, for the tests that measure it from outside: start it on
//! a config, wait for its ports, read its memory from `/proc/<pid>/status`, and kill it when the
//! value drops (so a failed assertion never leaves it running).

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running collector; killed on drop.
pub(crate) struct Vigil(pub(crate) Child);

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on loopback right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Start `vigil-collector --config <config>` and wait until every port in `ports` takes
/// connections.
pub(crate) fn start(config: &Path, ports: &[u16]) -> Vigil {
    let child = Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
        .arg("--config")
        .arg(config)
        .args(["--log-level", "error"])
        .stderr(Stdio::null())
        .spawn()
        .expect("start vigil-collector");
    let vigil = Vigil(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    for port in ports {
        while TcpStream::connect(("127.0.0.1", *port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "vigil-collector did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    vigil
}

/// A memory figure of `pid` from `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub(crate) fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib << 10)
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Peak resident memory of `pid` so far (`VmHWM`), in bytes.
pub(crate) fn peak_rss(pid: u32) -> u64 {
    memory(pid, "VmHWM")
}

/// A temporary directory for one test's files, removed when the value drops.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    /// `$TMPDIR/<prefix>-<pid>`, empty.
    pub(crate) fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A string attribute.
pub(crate) fn string(key: &str, value: String) -> opentelemetry_proto::tonic::common::v1::KeyValue {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}
