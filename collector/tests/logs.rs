//! The collector's log flags from outside: `--log-format json` writes one JSON object per line,
//! text has no colour codes when stderr is not a terminal, and a bad `--log-level` is an error.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}
exporters: {prometheus: {endpoint: 127.0.0.1:0}}
service:
  telemetry: {metrics: {address: 127.0.0.1:0}}
  pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}
";

/// Starts the collector with `args`, reads stderr until the start-up line, stops it, and
/// returns the lines read.
fn first_lines(args: &[&str]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("vigil-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make the temporary directory");
    let config = dir.join("config.yaml");
    std::fs::write(&config, CONFIG).expect("write the configuration");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vigil-collector");
    let stderr = child.stderr.take().expect("stderr is piped");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr is UTF-8 text");
        let done = line.contains("serving 1 pipeline(s)");
        lines.push(line);
        if done || Instant::now() > deadline {
            break;
        }
    }
    child.kill().expect("stop the collector");
    child.wait().expect("reap the collector");
    lines
}

#[test]
fn json_logs_are_one_object_per_line() {
    let lines = first_lines(&["--log-format", "json"]);
    let logs: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let serving = logs
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("vigil-collector serving 1 pipeline(s)"))
        })
        .unwrap_or_else(|| panic!("no start-up line in {lines:#?}"));
    assert_eq!(serving["level"], "INFO");
    // The banner lines for people stay plain text; every log line is JSON.
    for line in &lines {
        assert!(
            line.starts_with('{') || line.starts_with("vigil-collector: "),
            "{line}"
        );
    }
}

#[test]
fn text_logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let lines = first_lines(&[]);
    assert!(lines.iter().any(|l| l.contains(" INFO ")), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:#?}");
}

#[test]
fn an_invalid_log_level_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
        .args(["--log-level", "verbose"])
        .output()
        .expect("run vigil-collector");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "vigil-collector: invalid log level \"verbose\" in \"verbose\": use one of trace, debug, \
         info, warn, error, off, or TARGET=LEVEL directives separated by commas\n"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
        .args(["--log-format", "yaml"])
        .output()
        .expect("run vigil-collector");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid value 'yaml' for '--log-format"),
        "{out:?}"
    );
}
