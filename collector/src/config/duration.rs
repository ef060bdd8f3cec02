//! Durations as the OpenTelemetry Collector writes them: Go's `time.ParseDuration` syntax.
//!
//! A configuration copied from the OpenTelemetry Collector says `timeout: 5s`,
//! `initial_interval: 500ms`, `max_elapsed_time: 1m30s` or `1.5h`; all must mean the same here.
//! The syntax is a sequence of decimal numbers, each with a unit (`ns`, `us`, `µs`, `ms`, `s`,
//! `m`, `h`), or a bare `0`. Negative durations are refused (no key here wants one). Values are
//! exact to the nanosecond and anything past ~584 years is refused rather than wrapped.
//!
//! [`GoDuration`] is a configuration field holding such a duration as written: YAML gives
//! `timeout: 5s` as a string but `max_elapsed_time: 0` (the documented way to retry forever) as
//! an integer, so a plain `String` field would refuse a common, valid value. A bare number other
//! than `0` is refused when parsed, for want of a unit (the OpenTelemetry Collector would read `5`
//! as five nanoseconds, never what was meant).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Parses a Go duration (`300ms`, `1m30s`, `1.5h`, `0`). The error says what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration (write e.g. \"5s\" or \"200ms\")".into());
    }
    if s.starts_with('-') {
        return Err(format!("{text:?} is negative"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(format!(
                "{text:?} is not a duration: expected a number at {rest:?} (e.g. \"5s\", \"1m30s\")"
            ));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "{text:?} has a number without a unit (ns, us, ms, s, m, h)"
                ));
            }
            other => {
                return Err(format!(
                    "{text:?} has an unknown unit {other:?} (use ns, us, ms, s, m or h)"
                ));
            }
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if frac.contains('.') {
            return Err(format!(
                "{text:?} is not a duration: {num:?} is not a number"
            ));
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse()
                .map_err(|_| format!("{text:?} is too long to be a duration"))?
        };
        let mut value = int
            .checked_mul(nanos_per)
            .ok_or_else(|| format!("{text:?} is too long to be a duration"))?;
        // Fraction digits, truncated to nanosecond precision as Go does.
        let mut scale = nanos_per;
        for digit in frac.bytes().take(30) {
            scale /= 10;
            value += u128::from(digit - b'0') * scale;
        }
        total = total
            .checked_add(value)
            .ok_or_else(|| format!("{text:?} is too long to be a duration"))?;
        rest = next;
    }
    if total > u128::from(u64::MAX) {
        return Err(format!("{text:?} is too long to be a duration"));
    }
    Ok(Duration::from_nanos(total as u64))
}

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
        parse_duration(&self.0).map_err(|e| format!("{key}: {e}"))
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

    #[test]
    fn parses_what_the_opentelemetry_collector_writes() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5s", ms(5_000)),
            ("200ms", ms(200)),
            ("1m30s", ms(90_000)),
            ("1.5h", ms(5_400_000)),
            ("2h45m", ms(9_900_000)),
            ("1.5s", ms(1_500)),
            (".5s", ms(500)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            (" 5m ", ms(300_000)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_and_negative_values() {
        for (text, why) in [
            ("", "empty"),
            ("5", "without a unit"),
            ("5 s", "unknown unit"),
            ("5d", "unknown unit"),
            ("s", "expected a number"),
            ("-5s", "negative"),
            ("1..5s", "not a number"),
            ("99999999999999999999999h", "too long"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
