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
pub struct Resource;

impl Resource {
    /// Build (placeholder).
    pub fn new(_settings: Settings) -> Resource {
        Resource
    }
}

impl crate::processors::Transform for Resource {
    fn process(&self, _request: &mut crate::processors::Request) -> u64 {
        0
    }
}
