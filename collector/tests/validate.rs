//! `vigil-collector validate --config FILE`: exit 0 for a valid file, 1 with the same message a
//! run would print for an invalid one, without binding or starting anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn validate(config: Option<&Path>, queue_dir: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil-collector"));
    cmd.arg("validate");
    if let Some(path) = config {
        cmd.arg("--config").arg(path);
    }
    cmd.env("VENDOR_API_KEY", "test-key")
        .env("VIGIL_QUEUE_DIR", queue_dir)
        .output()
        .expect("run vigil-collector validate")
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../otel-config")
        .join(name)
}

#[test]
fn a_valid_file_exits_0_and_an_invalid_one_exits_1_naming_the_key_and_line() {
    let dir = std::env::temp_dir().join(format!("vigil-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let ok = validate(Some(&sample("gateway.yaml")), &dir);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.ends_with("gateway.yaml: valid\n"), "{stdout}");
    // Validation creates nothing: the queue directory is made at start-up only.
    assert!(!dir.join("otlphttp_vendor").exists());

    let text = std::fs::read_to_string(sample("gateway.yaml")).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        text.replace(
            "    timeout: 200ms\n",
            "    timeout: 200ms\n    flush: 1s\n",
        ),
    )
    .unwrap();
    let err = validate(Some(&bad), &dir);
    assert_eq!(err.status.code(), Some(1), "{err:?}");
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        stderr.contains("invalid configuration: processors.batch: unknown field `flush`, expected one of `send_batch_size`, `send_batch_max_size`, `timeout` at line 27 column 5"),
        "{stderr}"
    );

    let missing = validate(None, &dir);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--config FILE"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn components_lists_every_component_type() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
        .arg("components")
        .output()
        .expect("run vigil-collector components");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for component in [
        "`receivers.otlp`",
        "`processors.batch`",
        "`processors.resource`",
        "`processors.attributes`",
        "`processors.filter`",
        "`exporters.prometheus`",
        "`exporters.otlp`",
        "`exporters.otlphttp`",
        "`extensions.file_storage`",
    ] {
        assert!(
            text.contains(component),
            "{component} missing from:\n{text}"
        );
    }
}
