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


/// Processor (placeholder).
pub struct Filter;

impl Filter {
    /// Build (placeholder).
    pub fn new(_settings: Settings) -> Filter {
        Filter
    }
}

impl crate::processors::Transform for Filter {
    fn process(&self, _request: &mut crate::processors::Request) -> u64 {
        0
    }
}
