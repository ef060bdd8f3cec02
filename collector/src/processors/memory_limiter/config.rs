//! The `memory_limiter` processor's keys, as the OpenTelemetry Collector spells them:
//! `check_interval` (required), and either `limit_mib` with `spike_limit_mib` (default 20% of
//! the limit) or `limit_percentage` with `spike_limit_percentage` (of the memory the process may
//! use: the cgroup's `memory.max` when set, else the machine's `MemTotal`).

use serde::Deserialize;

use crate::config::GoDuration;

/// The keys as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How often memory is measured (required, more than 0).
    #[serde(default)]
    pub check_interval: Option<GoDuration>,
    /// The hard limit, MiB.
    #[serde(default)]
    pub limit_mib: Option<u64>,
    /// Headroom below the hard limit; refusing starts at `limit - spike`. Default 20% of it.
    #[serde(default)]
    pub spike_limit_mib: Option<u64>,
    /// The hard limit as a percentage of the memory available.
    #[serde(default)]
    pub limit_percentage: Option<u64>,
    /// The headroom as a percentage of the memory available.
    #[serde(default)]
    pub spike_limit_percentage: Option<u64>,
}

/// Validated settings: the limits in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How often memory is measured.
    pub check_interval: std::time::Duration,
    /// Refusing starts above this (`limit - spike`).
    pub soft_limit: u64,
    /// The hard limit.
    pub hard_limit: u64,
}

const MIB: u64 = 1024 * 1024;

impl Config {
    /// Checks the keys; `total` is the memory percentages are taken of (bytes), read only when
    /// a percentage is used. Errors start with the key.
    pub fn validate(&self, total: impl FnOnce() -> Option<u64>) -> Result<Settings, String> {
        let interval = self
            .check_interval
            .as_ref()
            .ok_or("check_interval: required (e.g. 1s)")?;
        let check_interval = crate::config::parse_duration(&interval.0)
            .map_err(|e| format!("check_interval: {e}"))?;
        if check_interval.is_zero() {
            return Err("check_interval: must be more than 0".to_owned());
        }
        let (hard_limit, spike) = match (self.limit_mib, self.limit_percentage) {
            (Some(_), Some(_)) => {
                return Err("limit_mib: set together with limit_percentage; use one".to_owned());
            }
            (None, None) => {
                return Err("limit_mib: required (or limit_percentage)".to_owned());
            }
            (Some(0), None) => return Err("limit_mib: must be more than 0".to_owned()),
            (Some(limit), None) => {
                if self.spike_limit_percentage.is_some() {
                    return Err(
                        "spike_limit_percentage: goes with limit_percentage; with limit_mib use spike_limit_mib"
                            .to_owned(),
                    );
                }
                let limit = limit.saturating_mul(MIB);
                let spike = match self.spike_limit_mib {
                    Some(s) => s.saturating_mul(MIB),
                    None => limit / 5,
                };
                (limit, (spike, "spike_limit_mib"))
            }
            (None, Some(pct)) => {
                if !(1..=100).contains(&pct) {
                    return Err(format!("limit_percentage: {pct} is not between 1 and 100"));
                }
                if self.spike_limit_mib.is_some() {
                    return Err(
                        "spike_limit_mib: goes with limit_mib; with limit_percentage use spike_limit_percentage"
                            .to_owned(),
                    );
                }
                let total = total().ok_or(
                    "limit_percentage: the memory available is unknown here (no /proc/meminfo); use limit_mib",
                )?;
                let spike_pct = self.spike_limit_percentage.unwrap_or(pct / 5);
                (
                    total / 100 * pct,
                    (total / 100 * spike_pct, "spike_limit_percentage"),
                )
            }
        };
        let (spike, spike_key) = spike;
        if spike >= hard_limit {
            return Err(format!(
                "{spike_key}: must be below the limit (refusing starts at limit minus spike)"
            ));
        }
        Ok(Settings {
            check_interval,
            soft_limit: hard_limit - spike,
            hard_limit,
        })
    }
}
