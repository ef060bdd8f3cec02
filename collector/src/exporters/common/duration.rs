//! A duration as written in a configuration file, before it is parsed with Go's syntax.
//!
//! YAML gives `timeout: 5s` as a string but `max_elapsed_time: 0` (the documented way to retry
//! forever) as an integer, so a plain `String` field would refuse a common, valid value. This
//! type takes either and keeps the text; [`GoDuration::parse`] applies
//! [`crate::config::parse_duration`], which refuses a bare number other than `0` because it has
//! no unit (the OpenTelemetry Collector would read `5` as five nanoseconds, never what was meant).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A duration as written (`"5s"`, `"1m30s"`, `0`), parsed by [`GoDuration::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoDuration(pub String);

impl GoDuration {
    /// The duration written as `text`.
    pub fn new(text: &str) -> GoDuration {
        GoDuration(text.to_owned())
    }

    /// Parses the text; the error starts with `key`.
    pub fn parse(&self, key: &str) -> Result<Duration, String> {
        crate::config::parse_duration(&self.0).map_err(|e| format!("{key}: {e}"))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<GoDuration, D::Error> {
        deserializer.deserialize_any(GoDurationVisitor)
    }
}

struct GoDurationVisitor;

impl Visitor<'_> for GoDurationVisitor {
    type Value = GoDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"5s\", \"200ms\" or \"1m30s\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
        Ok(GoDuration::new(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
        Ok(GoDuration(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
        Ok(GoDuration(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_strings_and_a_bare_zero() {
        let d: GoDuration = serde_yaml::from_str("1m30s").unwrap();
        assert_eq!(d.parse("k"), Ok(Duration::from_secs(90)));
        let d: GoDuration = serde_yaml::from_str("0").unwrap();
        assert_eq!(d.parse("k"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_a_number_without_unit_naming_the_key() {
        let d: GoDuration = serde_yaml::from_str("5").unwrap();
        let err = d.parse("timeout").unwrap_err();
        assert!(err.starts_with("timeout: "), "{err}");
        assert!(serde_yaml::from_str::<GoDuration>("[1]").is_err());
    }
}
