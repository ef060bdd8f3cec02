//! The `file_storage` extension's configuration: the keys as written, and their validation into
//! [`Settings`].
//!
//! Vigil accepts the subset of the OpenTelemetry Collector's `file_storage` keys that mean
//! something for a sending queue: `directory`, `create_directory` and `fsync`. The others
//! (`timeout`, `compaction`, `directory_permissions`, `recreate`) belong to otelcol's bbolt
//! database, which Vigil does not use; they are refused by name rather than silently ignored.
//!
//! `fsync` defaults to `true` here, unlike otelcol (where it defaults to `false`): Vigil promises
//! that a batch it acknowledged survives power loss, not only a killed process. Group commit keeps
//! the cost down (one fsync covers every batch written since the previous one); see the parent
//! module for the figures and for what `fsync: false` gives up.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::GoDuration;

/// Where otelcol keeps `file_storage` data when no `directory` is given (on Linux).
pub const DEFAULT_DIRECTORY: &str = "/var/lib/otelcol/file_storage";

/// `extensions.file_storage[/name]`, as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The directory holding every queue of this extension, one subdirectory per exporter.
    /// Defaults to `/var/lib/otelcol/file_storage`, as in the OpenTelemetry Collector.
    #[serde(default = "default_directory")]
    pub directory: String,
    /// Create `directory` (and its parents) if it does not exist. When `false` (the default, as
    /// in otelcol) a missing directory is a configuration error, so a typo is not mistaken for
    /// an empty queue.
    #[serde(default)]
    pub create_directory: bool,
    /// Flush every written batch to stable storage before the batch's sender is answered, so a
    /// power loss loses nothing acknowledged. Batches written at the same moment share one flush
    /// (group commit). `false` survives a killed process but not a power loss. Default `true`.
    #[serde(default = "default_fsync")]
    pub fsync: bool,
    /// The OpenTelemetry Collector's time to wait for another process to release the
    /// directory's lock (Go duration). Vigil's queues lock within the process and never wait,
    /// so the value is checked and has nothing to bound; it is accepted so that configurations
    /// written for the OpenTelemetry Collector (its documentation's example sets `10s`) run.
    #[serde(default)]
    pub timeout: Option<GoDuration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            directory: default_directory(),
            create_directory: false,
            fsync: default_fsync(),
            timeout: None,
        }
    }
}

fn default_directory() -> String {
    DEFAULT_DIRECTORY.to_owned()
}

fn default_fsync() -> bool {
    true
}

/// A validated `file_storage` configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The extension's directory. It exists unless `create_directory` is set.
    pub directory: PathBuf,
    /// Create the directory when opening a queue if it is missing.
    pub create_directory: bool,
    /// Flush to stable storage before acknowledging a push.
    pub fsync: bool,
}

impl Config {
    /// Checks the keys and returns typed settings. The error names the key (`directory: ...`);
    /// the caller prefixes the component's path (`extensions.file_storage/queue.`).
    ///
    /// This looks at the filesystem (without changing it): a `directory` that does not exist is
    /// refused here unless `create_directory` is set, and one that is a file is always refused.
    pub fn validate(&self) -> Result<Settings, String> {
        if self.directory.trim().is_empty() {
            return Err("directory: must not be empty".to_owned());
        }
        if let Some(timeout) = &self.timeout {
            timeout.parse("timeout")?;
        }
        let directory = PathBuf::from(&self.directory);
        check_directory(&directory, self.create_directory)?;
        Ok(Settings {
            directory,
            create_directory: self.create_directory,
            fsync: self.fsync,
        })
    }
}

/// Whether `directory` can hold queues: it is a directory, or it is missing and may be created.
pub(super) fn check_directory(directory: &Path, create: bool) -> Result<(), String> {
    match std::fs::metadata(directory) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "directory: {} exists and is not a directory",
            directory.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if create {
                Ok(())
            } else {
                Err(format!(
                    "directory: {} does not exist (create it, or set create_directory: true)",
                    directory.display()
                ))
            }
        }
        Err(e) => Err(format!("directory: {}: {e}", directory.display())),
    }
}
