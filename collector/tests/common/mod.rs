//! The real binary as a child process, for the tests that measure it from outside: start it on
//! a config, wait for its ports, read its memory from `/proc/<pid>/status`, and kill it when the
//! value drops (so a failed assertion never leaves it running). Ports and temporary directories
//! come from `vigil_tests::peers` (`free_port`, `TempDir`), attributes from
//! `vigil_store::testing::kv`.

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
