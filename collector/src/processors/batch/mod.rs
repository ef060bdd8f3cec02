//! Placeholder until the component lands: accepts only an empty configuration.

use serde::Deserialize;

/// Configuration (placeholder).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// Validated settings (placeholder).
#[derive(Debug, Clone)]
pub struct Settings {}

impl Config {
    /// Validate.
    pub fn validate(&self) -> Result<Settings, String> {
        Err("not implemented yet".into())
    }
}

