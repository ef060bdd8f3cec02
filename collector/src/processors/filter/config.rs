//! Configuration of the `filter` processor: the Collector's `metrics.include`/`metrics.exclude` by metric name.
//!
//! The shape is the OpenTelemetry Collector filter processor's match-properties configuration
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/processor/filterprocessor>),
//! which the Collector marks deprecated in favour of OTTL conditions but still accepts and runs
//! (checked against contrib v0.161.0 and v0.165.1: `config.go` keeps `metrics.include`,
//! `metrics.exclude` and `error_mode`). Vigil implements the name-matching part only:
//!
//! ```yaml
//! filter/drop-debug:
//!   metrics:
//!     include: { match_type: regexp, metric_names: ["^http\\.", "^rpc\\."] }
//!     exclude: { match_type: strict, metric_names: [http.server.debug] }
//! ```
//!
//! What it rejects, by name, so a file never means something different to Vigil than to the
//! Collector: OTTL (`metrics.metric`, `metrics.datapoint`, `metrics.resource`, the
//! `*_conditions` lists), the `expr` match type, `resource_attributes`, and every non-metrics
//! section (`traces`, `spans`, `logs`, `profiles`).
//!
//! Patterns are compiled by the `regex` crate, whose syntax is RE2's, as Go's `regexp` is. One
//! difference can show: `\d`, `\w`, `\s` and `\b` are Unicode-aware here and ASCII-only in Go,
//! which matters only for metric names outside ASCII.
//!
//! `error_mode` is accepted (`ignore`, `silent` or `propagate`, any case, as the Collector
//! parses it) and has no effect: in the Collector it only governs OTTL evaluation errors, and
//! matching a name against a list cannot fail.

use std::collections::HashSet;

use regex::{Regex, RegexSet};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// `processors.filter`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `ignore`, `silent` or `propagate`: accepted for compatibility, no effect (see the module
    /// documentation).
    #[serde(default)]
    pub error_mode: Option<String>,
    /// Which metrics to keep or drop, by name.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// Not supported: spans are never filtered; present only to say so by name.
    #[serde(default)]
    pub traces: Option<IgnoredAny>,
    /// Not supported (the Collector's legacy span match properties); present only to say so.
    #[serde(default)]
    pub spans: Option<IgnoredAny>,
    /// Not supported: logs are never filtered; present only to say so by name.
    #[serde(default)]
    pub logs: Option<IgnoredAny>,
    /// Not supported: profiles are not a signal Vigil carries; present only to say so by name.
    #[serde(default)]
    pub profiles: Option<IgnoredAny>,
    /// Not supported (OTTL); present only to say so by name.
    #[serde(default)]
    pub metric_conditions: Option<IgnoredAny>,
    /// Not supported (OTTL); present only to say so by name.
    #[serde(default)]
    pub trace_conditions: Option<IgnoredAny>,
    /// Not supported (OTTL); present only to say so by name.
    #[serde(default)]
    pub log_conditions: Option<IgnoredAny>,
    /// Not supported (OTTL); present only to say so by name.
    #[serde(default)]
    pub profile_conditions: Option<IgnoredAny>,
}

/// `processors.filter.metrics`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Keep only the metrics whose name matches; applied before `exclude`.
    #[serde(default)]
    pub include: Option<MatchConfig>,
    /// Drop the metrics whose name matches; applied after `include`.
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
    /// Not supported (OTTL resource conditions); present only to say so by name.
    #[serde(default)]
    pub resource: Option<IgnoredAny>,
    /// Not supported (OTTL metric conditions); present only to say so by name.
    #[serde(default)]
    pub metric: Option<IgnoredAny>,
    /// Not supported (OTTL data point conditions); present only to say so by name.
    #[serde(default)]
    pub datapoint: Option<IgnoredAny>,
}

/// `processors.filter.metrics.include` or `.exclude`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// `strict` (the name equals an entry) or `regexp` (an entry, an RE2 regular expression,
    /// matches anywhere in the name: unanchored like Go's `regexp.MatchString`, so write
    /// `^...$` to match whole names). Required when `metric_names` is not empty.
    #[serde(default)]
    pub match_type: Option<String>,
    /// The names or patterns; a metric matches when it matches any entry. Empty means this
    /// `include`/`exclude` does nothing, as in the Collector.
    #[serde(default)]
    pub metric_names: Vec<String>,
}

/// The validated `filter` configuration.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Keep only matching metrics; `None` keeps all.
    pub include: Option<NameMatcher>,
    /// Then drop matching metrics; `None` drops none.
    pub exclude: Option<NameMatcher>,
}

/// A set of metric names or patterns.
#[derive(Clone, Debug)]
pub enum NameMatcher {
    /// Exact names.
    Strict(HashSet<String>),
    /// Unanchored regular expressions; a name matches when any does.
    Regexp(RegexSet),
}

// === impl Config ===

impl Config {
    /// Check the configuration; errors start with the key path
    /// (`metrics.include.metric_names[1]: ...`).
    pub fn validate(&self) -> Result<Settings, String> {
        let mode = self.error_mode.as_deref().map(str::to_ascii_lowercase);
        if !matches!(
            mode.as_deref(),
            None | Some("ignore" | "silent" | "propagate")
        ) {
            return Err(format!(
                "error_mode: unknown mode {:?}; one of ignore, silent, propagate",
                self.error_mode.as_deref().unwrap_or_default()
            ));
        }
        let unsupported = [
            ("traces", self.traces.is_some()),
            ("spans", self.spans.is_some()),
            ("logs", self.logs.is_some()),
            ("profiles", self.profiles.is_some()),
            ("metric_conditions", self.metric_conditions.is_some()),
            ("trace_conditions", self.trace_conditions.is_some()),
            ("log_conditions", self.log_conditions.is_some()),
            ("profile_conditions", self.profile_conditions.is_some()),
        ];
        if let Some((key, _)) = unsupported.iter().find(|(_, present)| *present) {
            return Err(format!("{key}: {ONLY_METRIC_NAMES}"));
        }
        let Some(metrics) = &self.metrics else {
            return Ok(Settings::default());
        };
        let ottl = [
            ("metrics.resource", metrics.resource.is_some()),
            ("metrics.metric", metrics.metric.is_some()),
            ("metrics.datapoint", metrics.datapoint.is_some()),
        ];
        if let Some((key, _)) = ottl.iter().find(|(_, present)| *present) {
            return Err(format!(
                "{key}: OTTL conditions are not supported; {ONLY_METRIC_NAMES}"
            ));
        }
        Ok(Settings {
            include: validate_match(metrics.include.as_ref(), "metrics.include")?,
            exclude: validate_match(metrics.exclude.as_ref(), "metrics.exclude")?,
        })
    }
}

/// The message for every section Vigil's filter does not implement.
const ONLY_METRIC_NAMES: &str = "not supported: Vigil's filter processor only filters metrics by \
     name (metrics.include / metrics.exclude with match_type strict or regexp)";

/// The matcher of one `include`/`exclude`, or `None` when it has no names (a no-op).
fn validate_match(config: Option<&MatchConfig>, path: &str) -> Result<Option<NameMatcher>, String> {
    let Some(config) = config else {
        return Ok(None);
    };
    let match_type = config.match_type.as_deref().unwrap_or_default();
    if !matches!(match_type, "" | "strict" | "regexp") {
        let hint = if match_type == "expr" {
            " (the Collector's expr match type is not supported)"
        } else {
            ""
        };
        return Err(format!(
            "{path}.match_type: unknown match type {match_type:?}{hint}; one of strict, regexp"
        ));
    }
    if config.metric_names.is_empty() {
        return Ok(None);
    }
    match match_type {
        "strict" => Ok(Some(NameMatcher::Strict(
            config.metric_names.iter().cloned().collect(),
        ))),
        "regexp" => {
            // Compile each pattern alone first, so an error names the entry.
            for (index, pattern) in config.metric_names.iter().enumerate() {
                Regex::new(pattern).map_err(|e| {
                    format!(
                        "{path}.metric_names[{index}]: invalid regular expression {pattern:?}: {e}"
                    )
                })?;
            }
            let set = RegexSet::new(&config.metric_names)
                .map_err(|e| format!("{path}.metric_names: {e}"))?;
            Ok(Some(NameMatcher::Regexp(set)))
        }
        _ => Err(format!(
            "{path}.match_type: missing: one of strict, regexp is required with metric_names"
        )),
    }
}

// === impl NameMatcher ===

impl NameMatcher {
    /// Whether `name` matches any entry.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatcher::Strict(names) => names.contains(name),
            NameMatcher::Regexp(set) => set.is_match(name),
        }
    }
}
