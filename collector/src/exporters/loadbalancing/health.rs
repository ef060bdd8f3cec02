//! Whether a back-end is up: the rule that takes a stopped back-end off the ring and puts it
//! back once it accepts connections again, and the TCP probe that rule relies on.
//!
//! The rule, per back-end:
//!
//! * **Up → down**: [`SEND_FAILURES`] sends in a row ended in a retryable failure (connection
//!   refused or reset, timeout, `UNAVAILABLE`, ...) *and* a TCP connect to its address then
//!   fails. The probe tells a back-end that is gone from one that is only busy or refusing
//!   batches (a full queue answers `UNAVAILABLE` but still accepts connections): a busy
//!   back-end keeps its keys and the data waits in its queue, because moving a service splits
//!   its cumulative state in two.
//! * **Down → up**: [`RISE`] probes in a row, [`PROBE_INTERVAL`] apart, connected; or a send
//!   succeeded (when every back-end is down they all stay on the ring, so sends go on).
//!
//! A back-end that accepts TCP connections but never answers (hung, not dead) is not marked
//! down: its sends time out and are retried in its queue. Telling that apart from a slow
//! back-end needs a gRPC health check, which Vigil's receivers do not serve yet.

use std::time::Duration;

use tokio::net::TcpStream;

/// Retryable send failures in a row after which the back-end is probed.
pub const SEND_FAILURES: u32 = 3;
/// Successful probes in a row that bring a down back-end back.
pub const RISE: u32 = 2;
/// How often a down back-end is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a probe waits for a connection (it also waits at most `protocol.otlp.timeout`).
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What an observation did to a back-end's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing that changes the ring.
    Same,
    /// It went down: take it off the ring.
    Down,
    /// It came back: put it on the ring.
    Up,
}

/// One back-end's health.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    down: bool,
    /// Retryable send failures in a row (while up).
    failures: u32,
    /// Successful probes in a row (while down).
    successes: u32,
}

impl Health {
    /// Whether it is up.
    pub fn is_up(&self) -> bool {
        !self.down
    }

    /// A send was delivered.
    pub fn sent(&mut self) -> Change {
        self.failures = 0;
        self.successes = 0;
        if self.down {
            self.down = false;
            return Change::Up;
        }
        Change::Same
    }

    /// A send failed in a way worth retrying; `true` when it is time to probe.
    pub fn failed(&mut self) -> bool {
        if self.down {
            return false;
        }
        self.failures = self.failures.saturating_add(1);
        self.failures >= SEND_FAILURES
    }

    /// A probe connected (`reachable`) or not.
    pub fn probed(&mut self, reachable: bool) -> Change {
        match (self.down, reachable) {
            (false, true) => {
                // It accepts connections: slow or refusing, not gone. Count afresh.
                self.failures = 0;
                Change::Same
            }
            (false, false) => {
                self.down = true;
                self.failures = 0;
                self.successes = 0;
                Change::Down
            }
            (true, true) => {
                self.successes = self.successes.saturating_add(1);
                if self.successes >= RISE {
                    self.down = false;
                    self.successes = 0;
                    return Change::Up;
                }
                Change::Same
            }
            (true, false) => {
                self.successes = 0;
                Change::Same
            }
        }
    }
}

/// Whether a TCP connection to `addr` (`host:port`) opens within `timeout`. The connection is
/// closed at once; the back-end's receiver sees a client that left without a request.
pub async fn probe(addr: &str, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[test]
    fn failures_ask_for_a_probe_only_after_enough_in_a_row() {
        let mut h = Health::default();
        assert!(!h.failed());
        assert!(!h.failed());
        assert_eq!(h.sent(), Change::Same, "a success resets the count");
        assert!(!h.failed());
        assert!(!h.failed());
        assert!(h.failed());
        assert!(h.is_up(), "failures alone never take it down");
    }

    #[test]
    fn a_busy_backend_that_accepts_connections_stays_up() {
        let mut h = Health::default();
        for _ in 0..SEND_FAILURES {
            h.failed();
        }
        assert_eq!(h.probed(true), Change::Same);
        assert!(h.is_up());
        assert!(!h.failed(), "the count started over");
    }

    #[test]
    fn a_down_backend_needs_rise_probes_in_a_row_or_one_send() {
        let mut h = Health::default();
        assert_eq!(h.probed(false), Change::Down);
        assert!(!h.is_up());
        assert!(!h.failed(), "failures while down ask for nothing");
        assert_eq!(h.probed(true), Change::Same);
        assert_eq!(h.probed(false), Change::Same, "a failed probe starts over");
        assert_eq!(h.probed(true), Change::Same);
        assert_eq!(h.probed(true), Change::Up);
        assert!(h.is_up());
        assert_eq!(h.probed(false), Change::Down);
        assert_eq!(h.sent(), Change::Up);
    }

    /// A real listener, closed and reopened on the same port.
    #[tokio::test]
    async fn marked_down_when_the_listener_closes_and_up_when_it_reopens() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut h = Health::default();

        for _ in 0..SEND_FAILURES - 1 {
            assert!(!h.failed());
        }
        assert!(h.failed());
        assert_eq!(h.probed(probe(&addr, TIMEOUT).await), Change::Same);
        assert!(h.is_up(), "it still accepts connections");

        drop(listener);
        for _ in 0..SEND_FAILURES - 1 {
            assert!(!h.failed());
        }
        assert!(h.failed());
        assert_eq!(h.probed(probe(&addr, TIMEOUT).await), Change::Down);
        assert_eq!(h.probed(probe(&addr, TIMEOUT).await), Change::Same);

        let _reopened = TcpListener::bind(&addr).await.unwrap();
        assert_eq!(h.probed(probe(&addr, TIMEOUT).await), Change::Same);
        assert_eq!(h.probed(probe(&addr, TIMEOUT).await), Change::Up);
        assert!(h.is_up());
    }
}
