//! Test support for Vigil's integration tests: external validators for the
//! Prometheus exposition Vigil produces. End-to-end tests live in e2e.rs.
//!
//! The external tools are installed by `scripts/test` (the one command that
//! sets up and runs the whole suite), which exports:
//!
//! * `VIGIL_PROMTOOL`: promtool from the Debian package `prometheus` (2.42)
//! * `VIGIL_PROMETHEUS`: the prometheus server binary from the same package
//! * `VIGIL_PYTHON`: `.venv/bin/python`, with the pins of
//!   `scripts/requirements-test.txt` (prometheus_client, OTel Python SDK)
//!
//! When a tool is missing these helpers **panic** with a hint; they never skip
//! a check silently.
//!
//! # Which validator for what
//!
//! * [`promtool_check_metrics`]: the Prometheus server's own Go parser
//!   (`expfmt`) plus promtool's linter, for **text format 0.0.4**. It is the
//!   strict one for 0.0.4 (prometheus_client's text parser accepts e.g. extra
//!   trailing fields after a value). promtool 2.42 cannot parse OpenMetrics
//!   (exemplars, `# EOF` semantics), so do not feed it OpenMetrics text.
//! * [`prometheus_client_parse`]: Python's prometheus_client, an independent
//!   second parser; for text 0.0.4 and, when the text ends in `# EOF`, for
//!   **OpenMetrics 1.0**, where it is strict (the OpenMetrics parser checks
//!   `# EOF`, suffixes, label syntax, ...).
//!
//! Neither detects duplicate series (`foo 1` twice): test that separately.
//!
//! # The promtool lint decision
//!
//! promtool 2.42 (Debian bookworm) has no `--lint` flag: `promtool check
//! metrics` always parses *and* lints, and reports through its exit status:
//! `0` clean, `1` the text does not parse (`error while linting: text format
//! parsing error ...`), `3` it parses but has lint problems (`counter metrics
//! should have "_total" suffix`, `no help text`, `use base unit "seconds"
//! ...`, camelCase names, ...).
//!
//! [`promtool_check_metrics`] is **strict**: parse errors *and* lint problems
//! are failures, which is what newer promtool does by default
//! (`--lint=all`). Vigil's own output must satisfy these best practices
//! (counters get `_total`, every family gets `# HELP`). For input whose names
//! the test does not control (a user's instrument named in `ms`, camelCase,
//! ...), use [`promtool_check_metrics_lenient`], which fails only on parse
//! errors and returns the lint problems for the test to assert on.

pub mod peers;

use std::env;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;

/// Panic message when promtool cannot be found.
const PROMTOOL_HINT: &str = "promtool not found: run scripts/test (it installs the Debian package \
     `prometheus`), or set VIGIL_PROMTOOL";

/// Panic message when the test venv cannot be found.
const PYTHON_HINT: &str =
    "run scripts/test, which creates .venv with scripts/requirements-test.txt";

/// promtool's exit status for "parsed, but lint problems found" (2.x).
const PROMTOOL_LINT_EXIT: i32 = 3;
/// promtool's exit status for a failure, here: the text does not parse.
const PROMTOOL_FAILURE_EXIT: i32 = 1;
/// parse_exposition.py's exit status for "the exposition is invalid".
const PARSER_INVALID_EXIT: i32 = 1;

/// The repository root (the workspace that contains this crate).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Path to promtool: `$VIGIL_PROMTOOL`, else `promtool` on `PATH`.
///
/// # Panics
/// If neither exists (with a hint to run `scripts/test`), or if
/// `VIGIL_PROMTOOL` is set but is not an executable file.
pub fn promtool() -> PathBuf {
    tool_from_env_or_path("VIGIL_PROMTOOL", "promtool", PROMTOOL_HINT)
}

/// Path to the prometheus server binary: `$VIGIL_PROMETHEUS`, else
/// `prometheus` on `PATH`.
///
/// # Panics
/// If neither exists, with a hint to run `scripts/test`.
pub fn prometheus() -> PathBuf {
    tool_from_env_or_path(
        "VIGIL_PROMETHEUS",
        "prometheus",
        "prometheus not found: run scripts/test (it installs the Debian package \
         `prometheus`), or set VIGIL_PROMETHEUS",
    )
}

/// Python of the test venv: `$VIGIL_PYTHON`, else `<repo>/.venv/bin/python`.
///
/// # Panics
/// If neither exists (hint: run scripts/test, which creates .venv with
/// scripts/requirements-test.txt).
pub fn python() -> PathBuf {
    if let Some(val) = env::var_os("VIGIL_PYTHON").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&val);
        assert!(
            is_executable(&path),
            "VIGIL_PYTHON={} is not an executable file: {PYTHON_HINT}",
            path.display()
        );
        return path;
    }
    let venv = repo_root().join(".venv").join("bin").join("python");
    assert!(
        is_executable(&venv),
        "test venv python {} not found: {PYTHON_HINT}",
        venv.display()
    );
    venv
}

/// Validate Prometheus text format 0.0.4 with `promtool check metrics`,
/// strictly: parse errors and lint problems are both `Err` (see the crate
/// docs for why). The `Err` holds promtool's output.
///
/// # Panics
/// If promtool is missing or cannot be run.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    match run_promtool(exposition)? {
        lints if lints.is_empty() => Ok(()),
        lints => Err(format!(
            "promtool check metrics: lint problems (the text parses; use \
             promtool_check_metrics_lenient if the names are not Vigil's choice):\n{}",
            lints.join("\n")
        )),
    }
}

/// Like [`promtool_check_metrics`], but only a parse error is `Err`. Lint
/// problems are returned as `Ok(problems)`, one line each, as promtool prints
/// them (`foo counter metrics should have "_total" suffix`).
///
/// # Panics
/// If promtool is missing or cannot be run.
pub fn promtool_check_metrics_lenient(exposition: &str) -> Result<Vec<String>, String> {
    run_promtool(exposition)
}

/// Parse with Python's prometheus_client (in the test venv) via
/// `scripts/parse_exposition.py`: OpenMetrics 1.0 when the text's last line
/// is `# EOF`, text format 0.0.4 otherwise. Returns the number of metric
/// families; `Err` holds the parser's error message.
///
/// # Panics
/// If the venv is missing or broken (prometheus_client not importable), so
/// a broken environment can never pass as "invalid exposition".
pub fn prometheus_client_parse(exposition: &str) -> Result<usize, String> {
    let script = repo_root().join("scripts").join("parse_exposition.py");
    assert!(script.is_file(), "{} is missing", script.display());
    let python = python();
    let mut cmd = Command::new(&python);
    // -I: isolated mode, ignores PYTHONPATH / user site-packages.
    cmd.arg("-I").arg(&script);
    let out = run_with_stdin(cmd, exposition)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {PYTHON_HINT}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => stdout.trim().parse::<usize>().map_err(|e| {
            format!("parse_exposition.py printed {stdout:?}, not a family count: {e}")
        }),
        Some(PARSER_INVALID_EXIT) => Err(stderr.trim().to_owned()),
        _ => panic!(
            "parse_exposition.py failed with {} (environment problem, not a parse \
             result): {}\n{PYTHON_HINT}",
            out.status,
            stderr.trim()
        ),
    }
}

/// Runs `promtool check metrics`; Ok(lint problems) or Err(parse error).
fn run_promtool(exposition: &str) -> Result<Vec<String>, String> {
    let promtool = promtool();
    let mut cmd = Command::new(&promtool);
    cmd.args(["check", "metrics"]);
    let out = run_with_stdin(cmd, exposition)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {PROMTOOL_HINT}", promtool.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = || {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    match out.status.code() {
        Some(0) => Ok(Vec::new()),
        Some(PROMTOOL_LINT_EXIT) => Ok(lines()),
        Some(PROMTOOL_FAILURE_EXIT) => Err(format!(
            "promtool check metrics: the exposition does not parse:\n{}",
            text.trim()
        )),
        _ => Err(format!(
            "promtool check metrics exited with {}:\n{}",
            out.status,
            text.trim()
        )),
    }
}

/// Spawns `cmd`, writes `input` to its stdin from a separate thread (so a
/// large input cannot deadlock against a full stdout pipe), collects output.
fn run_with_stdin(mut cmd: Command, input: &str) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("child has no stdin"))?;
    let input = input.to_owned();
    // A child that exits early (before reading everything) makes the write
    // fail with EPIPE; its exit status and output tell the real story.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    Ok(out)
}

fn tool_from_env_or_path(var: &str, name: &str, hint: &str) -> PathBuf {
    if let Some(val) = env::var_os(var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&val);
        assert!(
            is_executable(&path),
            "{var}={} is not an executable file: {hint}",
            path.display()
        );
        return path;
    }
    find_on_path(name, env::var_os("PATH")).unwrap_or_else(|| panic!("{hint}"))
}

fn find_on_path(name: &str, path: Option<OsString>) -> Option<PathBuf> {
    env::split_paths(&path?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Check a pair of pages from one collector: the text page with promtool
/// (text format 0.0.4, the only one `promtool check metrics` reads:
/// OpenMetrics' `info` type and exemplars are parse errors to it), both pages
/// with prometheus_client's parsers.
///
/// Two lints are about choices the instrumenting service makes, not Vigil's
/// translation, and are allowed: "no help text" (descriptions are optional in
/// OTel) and a gauge named `…_count` (the duckgres surface Vigil must
/// reproduce has `duckgres_worker_lifecycle_count`). Every other lint (a
/// counter without `_total`, non-base units) is a translation bug and fails.
///
/// # Panics
/// When a check fails (with the page in the message), or a tool is missing.
pub fn check_exposition(text: &str, openmetrics: &str) {
    const USER_COUNT_LINT: &str =
        "non-histogram and non-summary metrics should not have \"_count\" suffix";
    match promtool_check_metrics_lenient(text) {
        Err(e) => panic!("promtool cannot parse the text page: {e}\n{text}"),
        Ok(lints) => {
            let ours: Vec<&String> = lints
                .iter()
                .filter(|l| !l.ends_with("no help text"))
                .filter(|l| !l.ends_with(USER_COUNT_LINT))
                .collect();
            assert!(ours.is_empty(), "promtool lints: {ours:?}\n{text}");
        }
    }
    for page in [text, openmetrics] {
        if let Err(e) = prometheus_client_parse(page) {
            panic!("prometheus_client rejects the page: {e}\n{page}");
        }
    }
}

#[cfg(test)]
mod tests {
    //! These prove the checks can fail: each validator must accept a valid
    //! exposition and reject a broken one, for the reason we expect.
    use super::*;

    const VALID_TEXT: &str = "\
# HELP vigil_requests_total Requests handled.
# TYPE vigil_requests_total counter
vigil_requests_total{method=\"GET\",code=\"200\"} 1027
vigil_requests_total{method=\"POST\",code=\"500\"} 3
# HELP vigil_queue_depth Items waiting in the queue.
# TYPE vigil_queue_depth gauge
vigil_queue_depth 12
";

    /// Unterminated label value: not parseable in any format.
    const INVALID_TEXT: &str = "foo{bar=\"x} 1\n";

    const VALID_OPENMETRICS: &str = "\
# HELP vigil_requests Requests handled.
# TYPE vigil_requests counter
vigil_requests_total{method=\"GET\"} 1027
vigil_requests_created{method=\"GET\"} 1.7e9
# HELP vigil_queue_depth Items waiting in the queue.
# TYPE vigil_queue_depth gauge
vigil_queue_depth 12
# EOF
";

    #[test]
    fn promtool_accepts_valid_text() {
        assert_eq!(promtool_check_metrics(VALID_TEXT), Ok(()));
    }

    #[test]
    fn promtool_rejects_invalid_text() {
        let err = promtool_check_metrics(INVALID_TEXT).expect_err("must not parse");
        assert!(err.contains("parsing error"), "unexpected error: {err}");
        // Parse errors fail in the lenient mode too.
        let err = promtool_check_metrics_lenient(INVALID_TEXT).expect_err("must not parse");
        assert!(err.contains("does not parse"), "unexpected error: {err}");
    }

    #[test]
    fn promtool_strict_fails_on_lint_lenient_reports_it() {
        let no_total = "# HELP foo Foos.\n# TYPE foo counter\nfoo 1\n";
        let err = promtool_check_metrics(no_total).expect_err("lint must fail strict");
        assert!(err.contains("_total"), "unexpected error: {err}");
        let lints = promtool_check_metrics_lenient(no_total).expect("it parses");
        assert_eq!(lints.len(), 1, "{lints:?}");
        assert!(
            lints[0].contains("should have \"_total\" suffix"),
            "{lints:?}"
        );

        let no_help = "# TYPE bar_total counter\nbar_total 1\n";
        let err = promtool_check_metrics(no_help).expect_err("lint must fail strict");
        assert!(err.contains("no help text"), "unexpected error: {err}");

        assert_eq!(promtool_check_metrics_lenient(VALID_TEXT), Ok(Vec::new()));
    }

    #[test]
    fn prometheus_client_accepts_valid_text() {
        assert_eq!(prometheus_client_parse(VALID_TEXT), Ok(2));
    }

    #[test]
    fn prometheus_client_rejects_invalid_text() {
        let err = prometheus_client_parse(INVALID_TEXT).expect_err("must not parse");
        assert!(err.contains("text 0.0.4"), "unexpected error: {err}");
        let err = prometheus_client_parse("vigil_up{job=\"a\"} not_a_number\n")
            .expect_err("must not parse");
        assert!(err.contains("not_a_number"), "unexpected error: {err}");
    }

    #[test]
    fn prometheus_client_accepts_valid_openmetrics() {
        assert_eq!(prometheus_client_parse(VALID_OPENMETRICS), Ok(2));
    }

    #[test]
    fn prometheus_client_rejects_invalid_openmetrics() {
        let bad = format!("{INVALID_TEXT}# EOF\n");
        let err = prometheus_client_parse(&bad).expect_err("must not parse");
        assert!(err.contains("OpenMetrics"), "unexpected error: {err}");
        // An OpenMetrics-only rule: a counter sample needs the `_total` suffix.
        let bad_suffix = "# TYPE foo counter\nfoo 1\n# EOF\n";
        let err = prometheus_client_parse(bad_suffix).expect_err("must not parse");
        assert!(err.contains("OpenMetrics"), "unexpected error: {err}");
    }

    #[test]
    fn prometheus_client_counts_families() {
        assert_eq!(prometheus_client_parse(""), Ok(0));
        assert_eq!(prometheus_client_parse("# EOF\n"), Ok(0));
    }

    #[test]
    #[should_panic(
        expected = "promtool not found: run scripts/test (it installs the Debian package \
                    `prometheus`), or set VIGIL_PROMTOOL"
    )]
    fn missing_tool_panics_with_hint() {
        tool_from_env_or_path("VIGIL_TESTS_NEVER_SET", "vigil-no-such-tool", PROMTOOL_HINT);
    }

    #[test]
    fn find_on_path_without_path() {
        assert_eq!(find_on_path("promtool", None), None);
    }
}
