//! The `compression` key of the forwarding exporters: how request bodies are compressed.
//!
//! The OpenTelemetry Collector compresses with gzip unless told otherwise, for gRPC and HTTP
//! alike, and so does Vigil. zstd and snappy are refused with a clear error rather than silently
//! sent uncompressed: each would add a C library to the build for a small gain over gzip.

/// How a request body is compressed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// Sent as is.
    None,
    /// gzip (`grpc-encoding: gzip` / `Content-Encoding: gzip`); the default.
    #[default]
    Gzip,
}

impl Compression {
    /// Parses the `compression` key: absent or `gzip` → gzip, `none` or `""` → none.
    pub fn parse(value: Option<&str>) -> Result<Compression, String> {
        match value.map(str::trim) {
            None => Ok(Compression::Gzip),
            Some(v) if v.eq_ignore_ascii_case("gzip") => Ok(Compression::Gzip),
            Some(v) if v.is_empty() || v.eq_ignore_ascii_case("none") => Ok(Compression::None),
            Some(v @ ("zstd" | "snappy" | "deflate" | "zlib" | "lz4" | "x-snappy-framed")) => Err(
                format!("compression: {v:?} is not supported by Vigil (use \"gzip\" or \"none\")"),
            ),
            Some(v) => Err(format!(
                "compression: {v:?} is not a compression (expected \"gzip\" or \"none\")"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_collectors_values() {
        for (text, want) in [
            (None, Compression::Gzip),
            (Some("gzip"), Compression::Gzip),
            (Some("none"), Compression::None),
            (Some(""), Compression::None),
        ] {
            assert_eq!(Compression::parse(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn refuses_other_values_naming_the_key() {
        for text in ["zstd", "brotli"] {
            let err = Compression::parse(Some(text)).unwrap_err();
            assert!(err.starts_with("compression: "), "{err}");
            assert!(err.contains(text), "{err}");
        }
    }
}
