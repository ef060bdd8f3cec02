//! Reads what a process costs from Linux's `/proc`: CPU time from
//! `/proc/PID/stat` and resident memory from `/proc/PID/status`.
//!
//! Measuring from outside keeps the numbers honest across very different
//! targets (Rust, Go, with or without their own telemetry) and needs no
//! cooperation from them. Only the process itself is counted, not its
//! children. See proc(5) for the field layouts.

use std::fs;
use std::process::Command;

/// User + system CPU time of a process so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_stat_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU time of this process (the generator itself), in clock ticks.
pub fn own_cpu_ticks() -> Option<u64> {
    parse_stat_ticks(&fs::read_to_string("/proc/self/stat").ok()?)
}

/// `utime + stime` from the text of `/proc/PID/stat` (fields 14 and 15).
/// The command name (field 2) may hold spaces and parentheses, so fields
/// are counted from the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")" come field 3 (state) onward: utime is field 14, the 12th of these.
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` and `VmHWM` (peak resident set) of a process, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set now.
    pub rss_kib: u64,
    /// Highest resident set since the process started.
    pub hwm_kib: u64,
}

/// Reads `/proc/PID/status`; `None` once the process is gone.
pub fn memory(pid: u32) -> Option<Memory> {
    Some(parse_status(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
    ))
}

/// The `VmRSS:` and `VmHWM:` lines of `/proc/PID/status` (missing lines read as 0).
pub fn parse_status(status: &str) -> Memory {
    let mut m = Memory::default();
    for line in status.lines() {
        let kib = || {
            line.split_ascii_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if line.starts_with("VmRSS:") {
            m.rss_kib = kib();
        } else if line.starts_with("VmHWM:") {
            m.hwm_kib = kib();
        }
    }
    m
}

/// Clock ticks per second (`getconf CLK_TCK`; Linux exports 100 to user space on every
/// mainstream architecture, the fallback).
pub fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_even_when_the_name_has_spaces_and_parens() {
        let stat = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 200000 300 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(1234 + 567));
    }

    #[test]
    fn reads_our_own_stat() {
        assert!(own_cpu_ticks().is_some());
        assert!(cpu_ticks(std::process::id()).is_some());
    }

    #[test]
    fn reads_rss_and_high_water_mark() {
        let status = "Name:\tvigil\nVmPeak:\t  900 kB\nVmHWM:\t   5120 kB\nVmRSS:\t   4096 kB\n";
        assert_eq!(
            parse_status(status),
            Memory {
                rss_kib: 4096,
                hwm_kib: 5120
            }
        );
    }
}
