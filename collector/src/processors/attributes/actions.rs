//! The attribute action engine: `insert`, `update`, `upsert` and `delete` on one OTLP attribute list.
//!
//! Both the `attributes` processor (data point, span and log record attributes) and the
//! `resource` processor (resource attributes) run the same list of actions, as in the
//! OpenTelemetry Collector, where both share one implementation; so the engine lives here and
//! works on a bare `Vec<KeyValue>`, knowing nothing about signals. Actions are built only from
//! validated configuration (see `super::config::ActionConfig::validate`), so applying them
//! cannot fail.
//!
//! Semantics follow the Collector's attributes processor
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/processor/attributesprocessor>):
//! actions run in order, each one seeing the result of the previous; a `from_attribute` whose
//! source is missing makes its action do nothing. Deliberately not here: `hash`, `extract`,
//! `convert`, `from_context` and `default_value`.
//!
//! OTLP requires attribute keys to be unique; for a list that breaks that rule, `update` and
//! `upsert` change the first entry with the key (as the Collector's map lookup does) and
//! `delete` removes every entry with it.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use regex::Regex;

/// Where an inserted or updated value comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A value written in the configuration.
    Value(AnyValue),
    /// The current value of another attribute in the same list; when that attribute is absent
    /// the action does nothing.
    FromAttribute(String),
}

/// One validated action.
#[derive(Clone, Debug)]
pub enum Action {
    /// Add `key` only when it is absent.
    Insert {
        /// The attribute to add.
        key: String,
        /// Its value.
        source: Source,
    },
    /// Replace the value of `key` only when it is present.
    Update {
        /// The attribute to change.
        key: String,
        /// Its new value.
        source: Source,
    },
    /// Add `key` or replace its value.
    Upsert {
        /// The attribute to set.
        key: String,
        /// Its value.
        source: Source,
    },
    /// Remove `key` and every attribute whose key matches `pattern` (unanchored, as Go's
    /// `regexp.MatchString`). At least one of the two is set.
    Delete {
        /// The attribute to remove.
        key: Option<String>,
        /// Remove every attribute whose key this matches.
        pattern: Option<Regex>,
    },
}

/// An ordered list of actions, applied to one attribute list at a time.
#[derive(Clone, Debug, Default)]
pub struct Actions {
    actions: Vec<Action>,
}

// === impl Actions ===

impl Actions {
    /// The actions, to run in this order.
    pub fn new(actions: Vec<Action>) -> Self {
        Self { actions }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Run every action, in order, on `attributes`.
    pub fn apply(&self, attributes: &mut Vec<KeyValue>) {
        for action in &self.actions {
            action.apply(attributes);
        }
    }
}

// === impl Action ===

impl Action {
    /// Run this action on `attributes`.
    pub fn apply(&self, attributes: &mut Vec<KeyValue>) {
        match self {
            Action::Insert { key, source } => {
                if position(attributes, key).is_some() {
                    return;
                }
                if let Some(value) = source.resolve(attributes) {
                    attributes.push(entry(key, value));
                }
            }
            Action::Update { key, source } => {
                let Some(index) = position(attributes, key) else {
                    return;
                };
                if let Some(value) = source.resolve(attributes) {
                    attributes[index].value = value;
                }
            }
            Action::Upsert { key, source } => {
                let Some(value) = source.resolve(attributes) else {
                    return;
                };
                match position(attributes, key) {
                    Some(index) => attributes[index].value = value,
                    None => attributes.push(entry(key, value)),
                }
            }
            Action::Delete { key, pattern } => attributes.retain(|attribute| {
                let named = key.as_deref() == Some(attribute.key.as_str());
                let matched = pattern
                    .as_ref()
                    .is_some_and(|re| re.is_match(&attribute.key));
                !(named || matched)
            }),
        }
    }
}

// === impl Source ===

impl Source {
    /// The value to write, or `None` when the source attribute is absent (the action then does
    /// nothing). The inner `Option` is the OTLP value as stored: a present attribute with no
    /// value is copied as such.
    fn resolve(&self, attributes: &[KeyValue]) -> Option<Option<AnyValue>> {
        match self {
            Source::Value(value) => Some(Some(value.clone())),
            Source::FromAttribute(from) => {
                position(attributes, from).map(|index| attributes[index].value.clone())
            }
        }
    }
}

/// Index of the first attribute named `key`.
fn position(attributes: &[KeyValue], key: &str) -> Option<usize> {
    attributes.iter().position(|attribute| attribute.key == key)
}

fn entry(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        ..Default::default()
    }
}
