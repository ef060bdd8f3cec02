//! Configuration of the `attributes` processor, and of one attribute action (shared with `resource`).
//!
//! The keys mirror the OpenTelemetry Collector's attributes processor
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/processor/attributesprocessor>)
//! so one file configures both collectors, and validation follows its rules: `key` is
//! required (`delete` may use `pattern` instead), `insert`/`update`/`upsert` take exactly one of
//! `value` and `from_attribute`, `delete` takes neither. Only those four actions exist here; the
//! Collector's `hash`, `extract` and `convert`, its `from_context` and `default_value` keys, and
//! its `include`/`exclude` match properties are rejected by name rather than ignored, so a file
//! never means something different to Vigil than to the Collector.
//!
//! A `value` becomes an OTLP `AnyValue` the way the Collector's YAML decoding and
//! `pcommon.Value.FromRaw` type it: a string stays a string (quoted `"1"` included), an integer
//! becomes `int_value`, a number with a fraction or exponent (or `.inf`/`.nan`) `double_value`,
//! `true`/`false` `bool_value` (YAML 1.2: `yes`/`on` are strings), a sequence an array and a
//! mapping a key-value list. `null` means "no value", as in the Collector. One divergence: an
//! integer outside the signed 64-bit range is an error here, where the Collector would wrap a
//! value up to 2^64-1 into a negative `int_value` and read a larger one as a double.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use regex::Regex;
use serde::Deserialize;

use super::actions::{Action, Actions, Source};

/// The action names this collector implements, in the order error messages list them.
const SUPPORTED: &str = "insert, update, upsert, delete";

/// `processors.attributes`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The actions, run in order on the attributes of every data point (all metric types), span
    /// and log record. Required and non-empty, as in the Collector.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
}

/// The validated `attributes` configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The actions, in order.
    pub actions: Actions,
}

impl Config {
    /// Check every action; errors start with the key path (`actions[2].value: ...`).
    pub fn validate(&self) -> Result<Settings, String> {
        Ok(Settings {
            actions: validate_actions(&self.actions, "actions")?,
        })
    }
}

/// One entry of `actions` (attributes processor) or `attributes` (resource processor).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute to act on. Required, except for a `delete` that sets `pattern`.
    #[serde(default)]
    pub key: String,
    /// `insert` (only if `key` is absent), `update` (only if present), `upsert` (either) or
    /// `delete`; any letter case, as in the Collector.
    #[serde(default)]
    pub action: String,
    /// The value to write, typed as the YAML types it (see the module documentation).
    #[serde(default)]
    pub value: Option<serde_yaml::Value>,
    /// Copy the value of this other attribute instead; when it is absent the action does nothing.
    #[serde(default)]
    pub from_attribute: Option<String>,
    /// `delete` only: also remove every attribute whose key matches this regular expression
    /// (RE2 syntax, unanchored like Go's `regexp.MatchString`: write `^...$` to match whole keys).
    #[serde(default)]
    pub pattern: Option<String>,
}

/// Validate a list of actions found at `path` (`actions` or `attributes`); the list must not be
/// empty, as the Collector requires.
pub fn validate_actions(list: &[ActionConfig], path: &str) -> Result<Actions, String> {
    if list.is_empty() {
        return Err(format!(
            "{path}: missing: at least one action ({SUPPORTED}) is required"
        ));
    }
    let actions = list
        .iter()
        .enumerate()
        .map(|(index, action)| action.validate(&format!("{path}[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Actions::new(actions))
}

// === impl ActionConfig ===

impl ActionConfig {
    /// The action this entry describes; errors start with `path` (`actions[2]`) and the key.
    pub fn validate(&self, path: &str) -> Result<Action, String> {
        let name = self.action.to_ascii_lowercase();
        let from_attribute = self
            .from_attribute
            .as_deref()
            .filter(|from| !from.is_empty());
        match name.as_str() {
            "insert" | "update" | "upsert" => {
                let key = self.required_key(path)?;
                if self.pattern.is_some() {
                    return Err(format!(
                        "{path}.pattern: only the \"delete\" action uses \"pattern\", not \"{name}\""
                    ));
                }
                let source = match (&self.value, from_attribute) {
                    (Some(value), None) => {
                        Source::Value(any_value(value, &format!("{path}.value"))?)
                    }
                    (None, Some(from)) => Source::FromAttribute(from.to_owned()),
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "{path}: \"{name}\" takes one of \"value\" and \"from_attribute\", not both"
                        ));
                    }
                    (None, None) => {
                        return Err(format!(
                            "{path}: \"{name}\" needs one of \"value\" or \"from_attribute\""
                        ));
                    }
                };
                Ok(match name.as_str() {
                    "insert" => Action::Insert { key, source },
                    "update" => Action::Update { key, source },
                    _ => Action::Upsert { key, source },
                })
            }
            "delete" => {
                if self.value.is_some() {
                    return Err(format!("{path}.value: \"delete\" takes no value"));
                }
                if from_attribute.is_some() {
                    return Err(format!(
                        "{path}.from_attribute: \"delete\" takes no \"from_attribute\""
                    ));
                }
                let pattern = match &self.pattern {
                    Some(pattern) => Some(Regex::new(pattern).map_err(|e| {
                        format!("{path}.pattern: invalid regular expression {pattern:?}: {e}")
                    })?),
                    None => None,
                };
                let key = (!self.key.is_empty()).then(|| self.key.clone());
                if key.is_none() && pattern.is_none() {
                    return Err(format!(
                        "{path}.key: missing: \"delete\" needs \"key\", \"pattern\" or both"
                    ));
                }
                Ok(Action::Delete { key, pattern })
            }
            "" => Err(format!(
                "{path}.action: missing: one of {SUPPORTED} is required"
            )),
            _ => Err(format!(
                "{path}.action: unsupported action {:?}; supported actions: {SUPPORTED}",
                self.action
            )),
        }
    }

    fn required_key(&self, path: &str) -> Result<String, String> {
        if self.key.is_empty() {
            return Err(format!("{path}.key: missing: every action needs a key"));
        }
        Ok(self.key.clone())
    }
}

/// The `AnyValue` the Collector makes of a YAML `value` (see the module documentation).
pub fn any_value(yaml: &serde_yaml::Value, path: &str) -> Result<AnyValue, String> {
    use serde_yaml::Value as Yaml;
    let value = match yaml {
        Yaml::Null => None,
        Yaml::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Yaml::Number(n) => Some(if let Some(i) = n.as_i64() {
            any_value::Value::IntValue(i)
        } else if n.is_u64() {
            // The Collector would wrap it into a negative int64; refusing is kinder.
            return Err(format!(
                "{path}: integer {n} is out of range: OTLP integers are signed 64-bit"
            ));
        } else {
            // Neither i64 nor u64: serde_yaml parsed it as a float.
            any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN))
        }),
        Yaml::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Yaml::Sequence(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items
                .iter()
                .enumerate()
                .map(|(i, item)| any_value(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        })),
        Yaml::Mapping(entries) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: entries
                .iter()
                .map(|(key, item)| {
                    let Yaml::String(key) = key else {
                        return Err(format!("{path}: map keys must be strings, found {key:?}"));
                    };
                    Ok(KeyValue {
                        key: key.clone(),
                        value: Some(any_value(item, &format!("{path}.{key}"))?),
                        ..Default::default()
                    })
                })
                .collect::<Result<_, _>>()?,
        })),
        Yaml::Tagged(tagged) => {
            return Err(format!(
                "{path}: YAML tags such as {} are not supported; write the value untagged",
                tagged.tag
            ));
        }
    };
    Ok(AnyValue { value })
}
