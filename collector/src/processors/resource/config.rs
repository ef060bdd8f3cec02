//! Configuration of the `resource` processor: the Collector's `attributes:` list of actions.
//!
//! The key and each action's shape are the OpenTelemetry Collector's resource processor
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/processor/resourceprocessor>),
//! which shares its action list with the attributes processor; so does Vigil: each entry is an
//! [`ActionConfig`], validated by the same rules (see `processors::attributes::config`).

use serde::Deserialize;

use crate::processors::attributes::actions::Actions;
use crate::processors::attributes::config::{ActionConfig, validate_actions};

/// `processors.resource`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The actions, run in order on the resource attributes of every resource in a request.
    /// Required and non-empty, as in the Collector.
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
}

/// The validated `resource` configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The actions, in order.
    pub attributes: Actions,
}

impl Config {
    /// Check every action; errors start with the key path (`attributes[1].key: ...`).
    pub fn validate(&self) -> Result<Settings, String> {
        Ok(Settings {
            attributes: validate_actions(&self.attributes, "attributes")?,
        })
    }
}
