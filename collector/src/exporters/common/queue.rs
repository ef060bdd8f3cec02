//! The `sending_queue` keys (the OpenTelemetry Collector's `exporterhelper` queue), validated.
//!
//! Vigil's queues count batches (the Collector's `sizer: requests`), drop nothing they have
//! accepted and refuse new batches when full (so the receiver tells its sender to retry), and
//! never batch inside the queue (the `batch` processor does that). The keys that would ask for
//! something else (`sizer: items`, `block_on_overflow: true`, `batch`, ...) are refused, at the
//! key, instead of being silently ignored; the harmless spellings of the defaults that appear in
//! real configurations (`sizer: requests`, `blocking: false`, `block_on_overflow: false`,
//! `wait_for_result: false`) are accepted.

use std::fmt;

use serde::Deserialize;

/// The most consumers one exporter may run; more is almost certainly a typo.
pub const MAX_NUM_CONSUMERS: i64 = 10_000;
/// The most batches one queue may hold; more is almost certainly a typo.
pub const MAX_QUEUE_SIZE: i64 = 100_000_000;

/// The `sending_queue` keys as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Whether batches are queued and sent by consumers (default true); when false each batch
    /// is sent while the receiver waits.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// How many batches are sent concurrently (default 10).
    #[serde(default = "default_num_consumers")]
    pub num_consumers: i64,
    /// How many batches the queue holds (default 1000).
    #[serde(default = "default_queue_size")]
    pub queue_size: i64,
    /// A storage extension (`file_storage`, `file_storage/name`) to keep the queue on disk.
    #[serde(default)]
    pub storage: Option<String>,
    /// How the queue is measured; only `requests` (batches).
    #[serde(default)]
    pub sizer: Option<String>,
    /// The Collector's older name of `block_on_overflow`; only `false`.
    #[serde(default)]
    pub blocking: Option<bool>,
    /// Whether a full queue makes the caller wait; only `false` (a full queue refuses).
    #[serde(default)]
    pub block_on_overflow: Option<bool>,
    /// Whether the caller waits for the send; only `false`.
    #[serde(default)]
    pub wait_for_result: Option<bool>,
}

fn enabled() -> bool {
    true
}
fn default_num_consumers() -> i64 {
    10
}
fn default_queue_size() -> i64 {
    1000
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            enabled: enabled(),
            num_consumers: default_num_consumers(),
            queue_size: default_queue_size(),
            storage: None,
            sizer: None,
            blocking: None,
            block_on_overflow: None,
            wait_for_result: None,
        }
    }
}

/// Validated `sending_queue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Whether batches are queued; when false they are sent inline.
    pub enabled: bool,
    /// Concurrent senders, at least 1.
    pub num_consumers: usize,
    /// Capacity in batches, at least 1.
    pub queue_size: usize,
    /// The storage extension holding the queue on disk; `None`: in memory.
    pub storage: Option<ExtensionId>,
}

/// The id of an extension: its type and an optional name (`file_storage`, `file_storage/otc`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtensionId {
    /// `file_storage`.
    pub kind: String,
    /// `otc` in `file_storage/otc`.
    pub name: Option<String>,
}

impl ExtensionId {
    /// Parses `type[/name]` with the Collector's rules: the type is a letter followed by up to 62
    /// letters, digits or `_`; the name, if any, is non-empty without spaces, controls or `/`.
    pub fn parse(text: &str) -> Result<ExtensionId, String> {
        let (kind, name) = match text.split_once('/') {
            Some((k, n)) => (k, Some(n)),
            None => (text, None),
        };
        let mut chars = kind.chars();
        let kind_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && kind.len() <= 63;
        if !kind_ok {
            return Err(format!(
                "{text:?} is not an extension id (expected e.g. \"file_storage\" or \"file_storage/name\")"
            ));
        }
        let bad_name = |n: &str| {
            n.is_empty()
                || n.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        };
        if name.is_some_and(bad_name) {
            return Err(format!(
                "{text:?} is not an extension id: the name after '/' must be non-empty, without spaces or '/'"
            ));
        }
        Ok(ExtensionId {
            kind: kind.to_owned(),
            name: name.map(str::to_owned),
        })
    }
}

impl fmt::Display for ExtensionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{n}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

impl QueueConfig {
    /// Checks the keys (also when disabled: a typo should not wait for the day the queue is
    /// turned on). Errors start with `sending_queue.<key>`.
    pub fn validate(&self) -> Result<QueueSettings, String> {
        let num_consumers = bounded("num_consumers", self.num_consumers, MAX_NUM_CONSUMERS)?;
        let queue_size = bounded("queue_size", self.queue_size, MAX_QUEUE_SIZE)?;
        if let Some(sizer) = self.sizer.as_deref().filter(|s| *s != "requests") {
            return Err(format!(
                "sending_queue.sizer: {sizer:?} is not supported: Vigil's queues count batches (\"requests\")"
            ));
        }
        for (key, value) in [
            ("blocking", self.blocking),
            ("block_on_overflow", self.block_on_overflow),
        ] {
            if value == Some(true) {
                return Err(format!(
                    "sending_queue.{key}: true is not supported: a full queue refuses the batch and the sender retries"
                ));
            }
        }
        if self.wait_for_result == Some(true) {
            return Err(
                "sending_queue.wait_for_result: true is not supported (set sending_queue.enabled: false to send inline)"
                    .to_owned(),
            );
        }
        let storage = match self.storage.as_deref() {
            None | Some("") => None,
            Some(s) => {
                Some(ExtensionId::parse(s).map_err(|e| format!("sending_queue.storage: {e}"))?)
            }
        };
        Ok(QueueSettings {
            enabled: self.enabled,
            num_consumers,
            queue_size,
            storage,
        })
    }
}

fn bounded(key: &str, value: i64, max: i64) -> Result<usize, String> {
    if value < 1 || value > max {
        return Err(format!(
            "sending_queue.{key}: {value} is not between 1 and {max}"
        ));
    }
    usize::try_from(value).map_err(|_| format!("sending_queue.{key}: {value} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<QueueSettings, String> {
        serde_yaml::from_str::<QueueConfig>(yaml)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn defaults_are_the_collectors() {
        assert_eq!(
            parse("{}"),
            Ok(QueueSettings {
                enabled: true,
                num_consumers: 10,
                queue_size: 1000,
                storage: None
            })
        );
    }

    #[test]
    fn parses_every_key() {
        let s = parse(
            "enabled: false\nnum_consumers: 4\nqueue_size: 50\nstorage: file_storage/otc\nsizer: requests\nblocking: false\nblock_on_overflow: false\nwait_for_result: false",
        )
        .unwrap();
        assert!(!s.enabled);
        assert_eq!((s.num_consumers, s.queue_size), (4, 50));
        let id = s.storage.unwrap();
        assert_eq!(
            (id.kind.as_str(), id.name.as_deref()),
            ("file_storage", Some("otc"))
        );
        assert_eq!(id.to_string(), "file_storage/otc");
        assert_eq!(
            parse("storage: file_storage")
                .unwrap()
                .storage
                .unwrap()
                .name,
            None
        );
    }

    #[test]
    fn refuses_unsupported_values_naming_the_key() {
        for (yaml, key) in [
            ("num_consumers: 0", "sending_queue.num_consumers"),
            ("queue_size: -1", "sending_queue.queue_size"),
            ("sizer: items", "sending_queue.sizer"),
            ("blocking: true", "sending_queue.blocking"),
            ("block_on_overflow: true", "sending_queue.block_on_overflow"),
            ("wait_for_result: true", "sending_queue.wait_for_result"),
            ("storage: 9lives", "sending_queue.storage"),
            ("storage: file_storage/", "sending_queue.storage"),
        ] {
            let err = parse(yaml).unwrap_err();
            assert!(err.starts_with(key), "{yaml}: {err}");
        }
    }

    #[test]
    fn refuses_unknown_keys() {
        let err = parse("batch: {}").unwrap_err();
        assert!(err.contains("unknown field `batch`"), "{err}");
    }
}
