//! The supported components and their keys, read from the configuration code itself.
//!
//! The list is not written by hand: each component's serde struct is asked for its keys by
//! parsing a configuration with an unknown key at the right place and reading the keys serde
//! names in its "unknown field" error. `vigil-collector components` prints it, and a test keeps
//! the README's copy equal to it, so documentation and code cannot drift apart.

use super::Config;

/// Where to look, per component: the section, the type, and the nested keys that are
/// themselves maps of keys (`[]` stands for "each element of this list").
const COMPONENTS: &[(&str, &str, &[&str])] = &[
    (
        "receivers",
        "otlp",
        &[
            "protocols",
            "protocols.grpc",
            "protocols.grpc.keepalive",
            "protocols.grpc.keepalive.server_parameters",
            "protocols.grpc.tls",
            "protocols.grpc.auth",
            "protocols.http",
            "protocols.http.tls",
            "protocols.http.auth",
        ],
    ),
    ("processors", "batch", &[]),
    ("processors", "resource", &["attributes.[]"]),
    ("processors", "attributes", &["actions.[]"]),
    ("processors", "filter", &["metrics", "metrics.include"]),
    ("processors", "memory_limiter", &[]),
    ("exporters", "prometheus", &["tls", "auth"]),
    (
        "exporters",
        "otlp",
        &["tls", "retry_on_failure", "sending_queue"],
    ),
    (
        "exporters",
        "otlphttp",
        &["tls", "retry_on_failure", "sending_queue"],
    ),
    (
        "exporters",
        "prometheusremotewrite",
        &[
            "resource_to_telemetry_conversion",
            "target_info",
            "export_created_metric",
            "remote_write_queue",
            "wal",
            "tls",
            "retry_on_failure",
        ],
    ),
    (
        "exporters",
        "loadbalancing",
        &[
            "protocol",
            "protocol.otlp",
            "protocol.otlp.tls",
            "protocol.otlp.retry_on_failure",
            "protocol.otlp.sending_queue",
            "resolver",
            "resolver.static",
            "resolver.dns",
        ],
    ),
    ("extensions", "file_storage", &[]),
    ("extensions", "bearertokenauth", &[]),
    ("extensions", "basicauth", &["htpasswd"]),
    ("extensions", "pprof", &["auth"]),
];

/// Keys a struct names only to refuse them with a better message than "unknown field" (the
/// filter processor's trace, log and OTTL sections). They are left out of the list; a test
/// checks that each one is refused.
const REFUSED: &[(&str, &str, &str, &[&str])] = &[
    (
        "processors",
        "filter",
        "",
        &[
            "traces",
            "spans",
            "logs",
            "profiles",
            "metric_conditions",
            "trace_conditions",
            "log_conditions",
            "profile_conditions",
        ],
    ),
    (
        "processors",
        "filter",
        "metrics",
        &["resource", "metric", "datapoint"],
    ),
    // Each back-end's endpoint comes from the resolver.
    ("exporters", "loadbalancing", "protocol.otlp", &["endpoint"]),
    // The Go runtime's profiler settings, and a whole-life profile (see extensions::pprof).
    (
        "extensions",
        "pprof",
        "",
        &[
            "block_profile_fraction",
            "mutex_profile_fraction",
            "save_to_file",
        ],
    ),
];

const PROBE: &str = "__vigil_probe__";

/// The keys at `path` that configure something (not refused ones).
fn supported(section: &str, ty: &str, path: &str) -> Vec<String> {
    let refused: Vec<&str> = REFUSED
        .iter()
        .filter(|(s, t, p, _)| *s == section && *t == ty && *p == path)
        .flat_map(|(_, _, _, keys)| keys.iter().copied())
        .collect();
    keys(section, ty, path)
        .into_iter()
        .filter(|k| !refused.contains(&k.as_str()))
        .collect()
}

/// The keys a configuration struct accepts at `path` (dot-separated, `[]` for list elements)
/// under `section.ty`, as serde lists them.
fn keys(section: &str, ty: &str, path: &str) -> Vec<String> {
    let mut yaml = format!("{section}:\n  {ty}:\n");
    let mut indent = 4;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        if part == "[]" {
            yaml.push_str(&format!("{}-\n", " ".repeat(indent)));
            indent += 2;
        } else {
            yaml.push_str(&format!("{}{part}:\n", " ".repeat(indent)));
            indent += 2;
        }
    }
    yaml.push_str(&format!("{}{PROBE}: 1\n", " ".repeat(indent)));
    let message = match Config::from_yaml_str_with_env(&yaml, "probe", &|_| None) {
        Ok(_) => return Vec::new(),
        Err(e) => format!("{e:#}"),
    };
    let Some(expected) = message
        .split_once(&format!("unknown field `{PROBE}`"))
        .and_then(|(_, rest)| rest.split_once("expected"))
        .map(|(_, rest)| rest)
    else {
        return Vec::new();
    };
    let expected = expected.split(" at line").next().unwrap_or(expected);
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The Markdown list of supported components and keys.
pub fn markdown() -> String {
    let mut out = String::new();
    for (section, ty, nested) in COMPONENTS {
        let top = supported(section, ty, "");
        out.push_str(&format!("- `{section}.{ty}`: {}\n", quote(&top)));
        for path in *nested {
            let shown = path.replace(".[]", "[]");
            out.push_str(&format!(
                "  - `{shown}`: {}\n",
                quote(&supported(section, ty, path))
            ));
        }
    }
    out.push_str(
        "- `service`: `extensions`, `pipelines` (`metrics`, `traces`, `logs`, each optionally \
         `/name`: `receivers`, `processors`, `exporters`), `telemetry` (`logs.level`, \
         `logs.encoding`, `metrics.level`, `metrics.address`)\n",
    );
    out
}

fn quote(keys: &[String]) -> String {
    if keys.is_empty() {
        return "(no keys)".into();
    }
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_finds_a_structs_keys() {
        assert_eq!(
            keys("exporters", "prometheus", ""),
            [
                "endpoint",
                "metric_expiration",
                "max_future_skew",
                "tls",
                "auth",
                "max_series_per_metric",
                "max_series",
                "max_tenants"
            ]
        );
        assert_eq!(
            keys("receivers", "otlp", "protocols.grpc"),
            [
                "endpoint",
                "max_recv_msg_size_mib",
                "max_concurrent_streams",
                "max_connections",
                "keepalive",
                "read_timeout",
                "tls",
                "auth"
            ]
        );
    }

    #[test]
    fn keys_left_out_of_the_list_are_refused() {
        for (section, ty, path, keys) in REFUSED {
            for key in *keys {
                // `a.b` nests as `a:` then `b:` one level deeper.
                let mut nested = String::new();
                let mut indent = 4;
                for part in path.split('.').filter(|p| !p.is_empty()) {
                    nested.push_str(&format!("{}{part}:\n", " ".repeat(indent)));
                    indent += 2;
                }
                nested.push_str(&format!("{}{key}: x\n", " ".repeat(indent)));
                let yaml = format!("{section}:\n  {ty}:\n{nested}");
                let err = match Config::from_yaml_str_with_env(&yaml, "t", &|_| None) {
                    Ok(_) => panic!("{yaml} was accepted"),
                    Err(e) => format!("{e:#}"),
                };
                assert!(err.contains("not supported"), "{yaml}: {err}");
            }
        }
    }

    /// The README's list between its markers is exactly what the code accepts. Run with
    /// `VIGIL_BLESS=1` to rewrite it after changing a component's keys.
    #[test]
    fn the_readme_lists_exactly_the_supported_keys() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let (start, end) = ("<!-- components:start -->\n", "<!-- components:end -->");
        let (before, rest) = readme
            .split_once(start)
            .expect("README has the start marker");
        let (_, after) = rest.split_once(end).expect("README has the end marker");
        let want = format!("{before}{start}{}{end}{after}", markdown());
        if std::env::var_os("VIGIL_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        assert!(
            readme == want,
            "README.md's component list differs from the code; run \
             `VIGIL_BLESS=1 cargo test -p vigil-collector the_readme_lists` and review:\n{}",
            markdown()
        );
    }
}
