//! `processors.batch`: the OpenTelemetry Collector's batch processor keys, validated.
//!
//! The keys and defaults are those of the Collector's
//! [batch processor](https://github.com/open-telemetry/opentelemetry-collector/tree/main/processor/batchprocessor).
//! `metadata_keys` and `metadata_cardinality_limit` (one batcher per value of client metadata)
//! are not supported and are refused as unknown keys, rather than accepted and ignored: a
//! configuration relying on them would silently merge what it meant to keep apart.

use std::time::Duration;

use serde::Deserialize;

use crate::config::GoDuration;

/// Default `send_batch_size`, as in the Collector.
pub const DEFAULT_SEND_BATCH_SIZE: u32 = 8192;
/// Default `timeout`, as in the Collector.
pub const DEFAULT_TIMEOUT: &str = "200ms";

/// `processors.batch` (or `batch/<name>`) as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Items (data points, spans, log records) at which a group is sent without waiting for
    /// `timeout`; 0 sends every batch on its own at once.
    #[serde(default = "default_send_batch_size")]
    pub send_batch_size: u32,
    /// Most items in one request sent on: larger groups are split. 0 (the default) means no
    /// limit; otherwise it must be at least `send_batch_size`.
    #[serde(default)]
    pub send_batch_max_size: u32,
    /// How long a group waits for more after its first batch, in Go duration syntax (`200ms`,
    /// `1s`); 0 sends every batch on its own at once.
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
}

/// The validated `batch` configuration; see [`Config`] for each value's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Items at which a group is sent at once; 0: every batch is sent on its own.
    pub send_batch_size: u64,
    /// Most items in one request sent on; `None`: no limit.
    pub send_batch_max_size: Option<u64>,
    /// How long a group waits after its first batch; zero: every batch is sent on its own.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            send_batch_size: default_send_batch_size(),
            send_batch_max_size: 0,
            timeout: default_timeout(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            send_batch_size: u64::from(DEFAULT_SEND_BATCH_SIZE),
            send_batch_max_size: None,
            timeout: Duration::from_millis(200),
        }
    }
}

impl Config {
    /// Checks the values; an error starts with the key it is about.
    pub fn validate(&self) -> Result<Settings, String> {
        let timeout = self.timeout.parse("timeout")?;
        let max = self.send_batch_max_size;
        if max != 0 && max < self.send_batch_size {
            return Err(format!(
                "send_batch_max_size: {max} is less than send_batch_size ({}); it must be 0 \
                 (no limit) or at least send_batch_size",
                self.send_batch_size
            ));
        }
        Ok(Settings {
            send_batch_size: u64::from(self.send_batch_size),
            send_batch_max_size: (max != 0).then_some(u64::from(max)),
            timeout,
        })
    }
}

fn default_send_batch_size() -> u32 {
    DEFAULT_SEND_BATCH_SIZE
}

fn default_timeout() -> GoDuration {
    GoDuration::new(DEFAULT_TIMEOUT)
}
