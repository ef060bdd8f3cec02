//! Reading `/proc/<pid>`: pure parsers over the text of `stat` and `status`,
//! and (on Linux only) the reads that feed them.
//!
//! The parsers take strings so they can be tested on fixtures, and they
//! return `None` instead of failing loudly: a process can exit between two
//! reads, a kernel thread has no `VmRSS`, and a file can be truncated. None of
//! that is worth a panic or an error the caller must handle; the sampler
//! simply reports nothing for a figure it could not read.
//!
//! Field layouts: [`proc_pid_stat(5)`](https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html),
//! [`proc_pid_status(5)`](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html).

// Elsewhere `read` returns nothing, so only the tests use the parsers.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::time::Duration;

/// The figures of `/proc/<pid>/stat` the sampler uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Process state: `R`, `S`, `D`, `Z`, `X`, ...
    pub(crate) state: char,
    /// CPU time in user mode, in clock ticks.
    pub(crate) utime: u64,
    /// CPU time in kernel mode, in clock ticks.
    pub(crate) stime: u64,
    /// Threads in the process.
    pub(crate) num_threads: u64,
    /// When the process started, in clock ticks after boot: with the pid, it
    /// tells a process from a later one that reused its pid.
    pub(crate) start_time: u64,
}

impl Stat {
    /// Whether the process still runs: not a zombie (`Z`, exited but not
    /// waited for) and not dead (`X`, or `x` on old kernels).
    pub(crate) fn is_running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// CPU time in user mode.
    pub(crate) fn user(&self) -> Duration {
        ticks(self.utime)
    }

    /// CPU time in kernel mode.
    pub(crate) fn system(&self) -> Duration {
        ticks(self.stime)
    }
}

/// `n` clock ticks as a duration, at the system's tick rate.
fn ticks(n: u64) -> Duration {
    ticks_at(n, super::clock::clk_tck())
}

/// `n` ticks of `hz` a second as a duration (`hz` > 0).
fn ticks_at(n: u64, hz: u64) -> Duration {
    let hz = hz.max(1);
    let secs = n / hz;
    let rem = n % hz;
    // rem < hz, so the nanoseconds are below one second.
    let nanos = u128::from(rem) * 1_000_000_000 / u128::from(hz);
    Duration::new(secs, u32::try_from(nanos).unwrap_or(0))
}

/// Parses `/proc/<pid>/stat`.
///
/// The second field, `(comm)`, is the executable name in parentheses and may
/// itself contain spaces and parentheses (`(my (odd) name)`), so the fields
/// are counted from the last `)`, never by splitting the whole line.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    // The pid before the name: checking it rejects text that is not a stat line.
    text.get(..open)?.trim().parse::<u32>().ok()?;
    let mut fields = text.get(close + 1..)?.split_ascii_whitespace();
    // Fields are numbered from 1 in proc_pid_stat(5); `fields` starts at 3.
    let state = fields.next()?;
    let mut state_chars = state.chars();
    let state_char = state_chars.next()?;
    if state_chars.next().is_some() {
        return None;
    }
    let utime = fields.nth(10)?.parse().ok()?; // field 14
    let stime = fields.next()?.parse().ok()?; // 15
    let num_threads = fields.nth(4)?.parse().ok()?; // 20
    let start_time = fields.nth(1)?.parse().ok()?; // 22
    Some(Stat {
        state: state_char,
        utime,
        stime,
        num_threads,
        start_time,
    })
}

/// The figures of `/proc/<pid>/status` the sampler uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Status {
    /// Resident set size in bytes (`VmRSS`); absent for kernel threads and
    /// zombies.
    pub(crate) rss_bytes: Option<u64>,
    /// Threads in the process (`Threads`).
    pub(crate) threads: Option<u64>,
}

/// Parses `/proc/<pid>/status`; a line that does not parse leaves its figure
/// out.
///
/// Memory comes from `VmRSS` in kB, which needs no page size (reading the
/// page size needs `sysconf`, or `AT_PAGESZ` from the auxiliary vector as in `clock.rs`).
pub(crate) fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "VmRSS" => status.rss_bytes = parse_kib(value),
            "Threads" => status.threads = value.trim().parse().ok(),
            _ => {}
        }
    }
    status
}

/// `"  1234 kB"` as bytes.
fn parse_kib(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let amount: u64 = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (Some("kB"), None) => amount.checked_mul(1024),
        _ => None,
    }
}

/// One process as read from `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reading {
    /// From `stat`.
    pub(crate) stat: Stat,
    /// Resident memory in bytes, from `status`.
    pub(crate) rss_bytes: Option<u64>,
    /// Threads: `status`, else `stat`.
    pub(crate) threads: u64,
    /// Entries of `/proc/<pid>/fd`; `None` when the directory cannot be read
    /// (another user's process).
    pub(crate) open_fds: Option<u64>,
}

impl Reading {
    /// Combines the parts read for one process.
    pub(crate) fn new(stat: Stat, status: Status, open_fds: Option<u64>) -> Self {
        Reading {
            stat,
            rss_bytes: status.rss_bytes,
            threads: status.threads.unwrap_or(stat.num_threads),
            open_fds,
        }
    }
}

/// Reads process `pid`; `None` if it does not exist or its `stat` does not
/// parse. Blocks on procfs (see the sampler for where this runs).
#[cfg(target_os = "linux")]
pub(crate) fn read(pid: u32) -> Option<Reading> {
    let dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let stat = parse_stat(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
    let status = std::fs::read_to_string(dir.join("status"))
        .map(|text| parse_status(&text))
        .unwrap_or_default();
    let open_fds = std::fs::read_dir(dir.join("fd"))
        .ok()
        .map(|entries| entries.filter(Result::is_ok).count() as u64);
    Some(Reading::new(stat, status, open_fds))
}

/// Reads nothing: `/proc` is Linux-only.
#[cfg(not(target_os = "linux"))]
pub(crate) fn read(_pid: u32) -> Option<Reading> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line from a Linux 6.x `/proc/<pid>/stat` (52 fields).
    const STAT: &str = "4242 (vigil-worker) S 1 4242 4242 0 -1 4194560 2530 0 0 0 \
        1234 567 0 0 20 0 7 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 \
        4096 0 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    fn stat_with_comm(comm: &str) -> String {
        STAT.replace("(vigil-worker)", &format!("({comm})"))
    }

    #[test]
    fn parses_cpu_threads_and_start_time_from_stat() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(
            stat,
            Stat {
                state: 'S',
                utime: 1234,
                stime: 567,
                num_threads: 7,
                start_time: 98765,
            }
        );
        assert_eq!(stat.user(), Duration::from_millis(12_340));
        assert_eq!(stat.system(), Duration::from_millis(5_670));
        assert!(stat.is_running());
    }

    #[test]
    fn counts_stat_fields_from_the_last_parenthesis() {
        for comm in [
            "my worker",
            "a) S 1 2 3 (b",
            ")",
            "((",
            "x) R 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 (",
            "",
        ] {
            let stat = parse_stat(&stat_with_comm(comm));
            assert_eq!(
                stat.map(|s| (s.utime, s.stime, s.num_threads)),
                Some((1234, 567, 7)),
                "{comm:?}"
            );
        }
    }

    #[test]
    fn exited_processes_are_not_running() {
        for state in ["Z", "X", "x"] {
            let text = STAT.replace(") S ", &format!(") {state} "));
            assert!(!parse_stat(&text).unwrap().is_running(), "{state}");
        }
    }

    #[test]
    fn malformed_stat_is_none() {
        for bad in [
            "",
            "4242",
            "4242 (name",
            "4242 name) S 1",
            ") 4242 (name S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
            "pid (name) S 1 4242 4242 0 -1 4194560 2530 0 0 0 1234 567 0 0 20 0 7 0 98765",
            "4242 (name) S 1 4242 4242 0 -1 4194560 2530 0 0 0 1234",
            "4242 (name) SS 1 4242 4242 0 -1 4194560 2530 0 0 0 1234 567 0 0 20 0 7 0 98765",
            "4242 (name) S 1 4242 4242 0 -1 4194560 2530 0 0 0 -5 567 0 0 20 0 7 0 98765",
            "4242 (name) S 1 4242 4242 0 -1 4194560 2530 0 0 0 1234 567 0 0 20 0 seven 0 98765",
            "4242 (name) S 1 4242 4242 0 -1 4194560 2530 0 0 0 99999999999999999999999 1 0 0 20 0 7 0 1",
            "\u{0}\u{1}(\u{2})",
        ] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_rss_and_threads_from_status() {
        let text = "Name:\tvigil worker\nUmask:\t0022\nState:\tS (sleeping)\n\
            VmPeak:\t  20000 kB\nVmRSS:\t    5120 kB\nRssAnon:\t  1000 kB\nThreads:\t12\n";
        assert_eq!(
            parse_status(text),
            Status {
                rss_bytes: Some(5120 * 1024),
                threads: Some(12),
            }
        );
    }

    #[test]
    fn malformed_status_lines_leave_figures_out() {
        let cases = [
            ("", Status::default()),
            (
                "Name:\tkthreadd\nThreads:\t1\n",
                Status {
                    rss_bytes: None,
                    threads: Some(1),
                },
            ),
            ("VmRSS:\t12 MB\nThreads:\tmany\n", Status::default()),
            ("VmRSS:\tkB\nThreads:\t-1\n", Status::default()),
            ("VmRSS:\t99999999999999999999 kB\n", Status::default()),
            ("VmRSS:\t18446744073709551615 kB\n", Status::default()),
            ("VmRSS 5 kB\nThreads 3\n", Status::default()),
            ("VmRSS:\t5 kB extra\n", Status::default()),
        ];
        for (text, want) in cases {
            assert_eq!(parse_status(text), want, "{text:?}");
        }
    }

    #[test]
    fn threads_fall_back_to_stat() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(Reading::new(stat, Status::default(), None).threads, 7);
        let status = Status {
            rss_bytes: None,
            threads: Some(9),
        };
        assert_eq!(Reading::new(stat, status, Some(4)).threads, 9);
    }

    #[test]
    fn ticks_convert_exactly() {
        assert_eq!(ticks_at(0, 100), Duration::ZERO);
        assert_eq!(ticks_at(1, 100), Duration::from_millis(10));
        assert_eq!(ticks_at(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_at(u64::MAX, 100).as_secs(), u64::MAX / 100);
        assert_eq!(ticks_at(375, 250), Duration::from_millis(1500));
    }
}
