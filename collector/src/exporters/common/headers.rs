//! The `headers` key of the forwarding exporters: fixed headers sent with every request (HTTP
//! headers for otlphttp, gRPC metadata for otlp), typically an API key or a tenant id.
//!
//! Names and values are checked once at startup, so a typo fails the configuration instead of
//! every request.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};

/// Validates `headers` into a header map. The error names the offending header.
pub fn validate(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let key = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("headers.{name}: {name:?} is not a valid header name"))?;
        let val = HeaderValue::from_str(value).map_err(|_| {
            format!("headers.{name}: the value is not a valid header value (control characters or non-ASCII)")
        })?;
        if map.contains_key(&key) {
            return Err(format!(
                "headers.{name}: given twice (header names are case-insensitive)"
            ));
        }
        map.insert(key, val);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn accepts_names_and_values() {
        let h = validate(&map(&[("X-Api-Key", "s3cr3t"), ("x-tenant", "a b")])).unwrap();
        assert_eq!(h.get("x-api-key").unwrap(), "s3cr3t");
        assert_eq!(h.get("x-tenant").unwrap(), "a b");
    }

    #[test]
    fn refuses_bad_names_and_values_naming_the_header() {
        let err = validate(&map(&[("bad name", "v")])).unwrap_err();
        assert!(err.starts_with("headers.bad name: "), "{err}");
        let err = validate(&map(&[("x-ok", "line\nbreak")])).unwrap_err();
        assert!(err.starts_with("headers.x-ok: "), "{err}");
        let err = validate(&map(&[("X-A", "1"), ("x-a", "2")])).unwrap_err();
        assert!(err.contains("twice"), "{err}");
    }
}
