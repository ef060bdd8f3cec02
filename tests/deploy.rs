//! The deployment files in `deploy/`, each checked by the tool that would refuse it in
//! production, or where no such tool can run here, by its properties asserted one by one.
//!
//! | file | checked by |
//! |---|---|
//! | `deploy/docker/Dockerfile`, `config.yaml`, `.dockerignore` | parsed: stages, pinned bases, non-root `USER`, `HEALTHCHECK` through `vigil-collector healthcheck` (parsed by the real CLI); the config loaded by the collector |
//! | `deploy/kubernetes/*.yaml` | `kubecheck` (`tests/kubecheck`: strict decode into `k8s.io/api` types), then pod security, probes, resources; the ConfigMaps' configs loaded by the collector |
//! | `deploy/systemd/vigil-collector.service` | `systemd-analyze verify` and `systemd-analyze security --offline` (exposure at most 1.5), and each hardening directive |
//! | `deploy/prometheus/` | `promtool check config` (which checks the rule files too), `promtool test rules` for every rules file, the alert names, `honor_labels` per job |
//! | `deploy/grafana/*.json` | the JSON's shape (`$datasource`, schemaVersion), every PromQL `expr` parsed by promtool |
//! | the rules, live | Prometheus 2.42 scraping a collector fed by the `sdk_tour` example: every rule evaluates cleanly, the failing health check's alert is pending |
//!
//! The image is not built here: a build needs a Docker daemon and a registry, which the test
//! machine does not have. A missing tool (promtool, kubecheck, systemd-analyze) fails the test
//! with a hint naming the fix; nothing is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use serde_yaml::Value;
use vigil_collector::config::{Cli, Command as CliCommand, Config};
use vigil_tests::peers::TempDir;

fn deploy(path: &str) -> PathBuf {
    vigil_tests::repo_root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(cmd: &mut Command, hint: &str) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; {hint}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `value[a][b]...` in a YAML document, `Null` when absent.
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))
        .unwrap_or(&Value::Null)
}

/// The documents of a multi-document YAML file (separated by `---` lines), empty ones left out.
fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = read(path);
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.iter()
        .map(|doc| {
            serde_yaml::from_str::<Value>(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Loads a collector configuration the way `vigil-collector --config` does, with `env`.
///
/// The deploy configs set `service.telemetry.metrics.address` (the collector's own metrics on
/// :8888); that key comes with the self-telemetry work, and until it is there the load fails
/// with a message naming it.
fn load_collector_config(text: &str, origin: &str, env: &[(&str, &str)]) {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |name: &str| env.get(name).cloned();
    let Err(e) = Config::from_yaml_str_with_env(text, origin, &lookup) else {
        return;
    };
    let e = format!("{e:#}");
    if e.contains("unknown field `address`") {
        // Say whether that key is the only problem: load the file without it.
        let without: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("address:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let rest = match Config::from_yaml_str_with_env(&without, origin, &lookup) {
            Ok(_) => "everything else in it loads".to_owned(),
            Err(e) => format!("without it, the file still fails: {e:#}"),
        };
        panic!(
            "{origin} does not load: {e}\nhint: service.telemetry.metrics.address is the \
             self-telemetry listener (issue 11 item 1), which this collector does not have yet; \
             {rest}"
        );
    }
    panic!("{origin} does not load: {e}");
}

// === Docker ===

/// The Dockerfile's instructions: comments dropped, continuation lines joined, keyword
/// upper-cased, each with its stage index.
fn dockerfile() -> Vec<(usize, String, String)> {
    let text = read(&deploy("docker/Dockerfile"));
    let mut out = Vec::new();
    let mut stage = 0;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head.trim());
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let full = std::mem::take(&mut pending);
        let (keyword, args) = full.split_once(' ').unwrap_or((&full, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" && !out.is_empty() {
            stage += 1;
        }
        out.push((stage, keyword, args.trim().to_owned()));
    }
    out
}

#[test]
fn dockerfile_builds_in_a_pinned_rust_stage_and_runs_distroless_as_non_root() {
    let instructions = dockerfile();
    let args = |stage: usize, keyword: &str| -> Vec<String> {
        instructions
            .iter()
            .filter(|(s, k, _)| *s == stage && k == keyword)
            .map(|(_, _, a)| a.clone())
            .collect()
    };
    assert_eq!(
        args(0, "FROM"),
        ["rust:1.95.0-bookworm AS build"],
        "the builder is pinned to the toolchain's exact version"
    );
    assert_eq!(
        args(1, "FROM"),
        ["gcr.io/distroless/cc-debian12:nonroot AS runtime"]
    );
    assert_eq!(
        instructions.iter().filter(|(_, k, _)| k == "FROM").count(),
        2
    );
    let build = args(0, "RUN").join("\n");
    assert!(
        build.contains("cargo build --release -p vigil-collector --locked"),
        "{build}"
    );
    // Non-root, by number (Kubernetes' runAsNonRoot can only verify a number), and the last USER.
    assert_eq!(args(1, "USER"), ["65532:65532"]);
    assert_eq!(
        instructions.last().map(|(_, k, _)| k.as_str()),
        Some("CMD"),
        "nothing after the runtime stage's CMD"
    );
    assert_eq!(args(1, "EXPOSE"), ["4317 4318 9464 8888"]);
    assert_eq!(
        args(1, "COPY"),
        [
            "--from=build /out/vigil-collector /usr/local/bin/vigil-collector",
            "--from=build --chown=65532:65532 /out/state /var/lib/vigil",
            "deploy/docker/config.yaml /etc/vigil/config.yaml",
        ]
    );
    assert_eq!(
        args(1, "ENTRYPOINT"),
        [r#"["/usr/local/bin/vigil-collector"]"#]
    );
    assert_eq!(
        args(1, "CMD"),
        [r#"["--config", "/etc/vigil/config.yaml"]"#]
    );
}

#[test]
fn dockerfile_healthcheck_runs_the_binary_with_no_shell() {
    let instructions = dockerfile();
    let checks: Vec<&String> = instructions
        .iter()
        .filter(|(_, k, _)| k == "HEALTHCHECK")
        .map(|(_, _, a)| a)
        .collect();
    assert_eq!(checks.len(), 1, "{checks:?}");
    let (options, cmd) = checks[0]
        .split_once(" CMD ")
        .expect("HEALTHCHECK ... CMD [...]");
    assert_eq!(
        options,
        "--interval=30s --timeout=5s --start-period=10s --retries=3"
    );
    // Exec form (a JSON array): no /bin/sh, which distroless does not have.
    let argv: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    assert_eq!(argv[0], "/usr/local/bin/vigil-collector");
    let cli = Cli::try_parse_from(&argv).expect("the real CLI accepts the HEALTHCHECK command");
    match cli.command {
        Some(CliCommand::Healthcheck { url, timeout }) => {
            assert_eq!(url, "http://127.0.0.1:9464/healthz");
            assert!(
                timeout < std::time::Duration::from_secs(5),
                "under Docker's --timeout"
            );
        }
        other => panic!("not the healthcheck subcommand: {other:?}"),
    }
}

#[test]
fn docker_config_listens_on_every_interface_inside_the_container() {
    let path = deploy("docker/config.yaml");
    let text = read(&path);
    let yaml: Value = serde_yaml::from_str(&text).expect("YAML");
    let grpc = at(
        &yaml,
        &["receivers", "otlp", "protocols", "grpc", "endpoint"],
    );
    let http = at(
        &yaml,
        &["receivers", "otlp", "protocols", "http", "endpoint"],
    );
    let page = at(&yaml, &["exporters", "prometheus", "endpoint"]);
    let own = at(&yaml, &["service", "telemetry", "metrics", "address"]);
    for (value, want) in [
        (grpc, "0.0.0.0:4317"),
        (http, "0.0.0.0:4318"),
        (page, "0.0.0.0:9464"),
        (own, "0.0.0.0:8888"),
    ] {
        assert_eq!(value.as_str(), Some(want));
    }
    load_collector_config(&text, "deploy/docker/config.yaml", &[]);
}

#[test]
fn dockerignore_keeps_build_output_and_history_out_of_the_context() {
    let text = read(&vigil_tests::repo_root().join(".dockerignore"));
    let entries: BTreeSet<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in [".git", "target", "**/target", ".venv"] {
        assert!(entries.contains(must), "{must} missing from .dockerignore");
    }
    for never in ["Cargo.lock", "deploy", "collector", "*.rs"] {
        assert!(!entries.contains(never), "{never} is needed by the build");
    }
}

// === Kubernetes ===

const KUBECHECK_HINT: &str = "run scripts/test (it builds tests/kubecheck with \
     scripts/peers/kubecheck.sh), or set VIGIL_KUBECHECK";

fn kubecheck(files: &[PathBuf]) -> Output {
    let bin = std::env::var_os("VIGIL_KUBECHECK")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("VIGIL_KUBECHECK is not set: {KUBECHECK_HINT}"));
    let executable = fs::metadata(&bin)
        .map(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
        .unwrap_or(false);
    assert!(
        executable,
        "VIGIL_KUBECHECK={} is not an executable file: {KUBECHECK_HINT}",
        bin.display()
    );
    run(Command::new(&bin).args(files), KUBECHECK_HINT)
}

fn manifests() -> Vec<PathBuf> {
    let dir = deploy("kubernetes");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn kubernetes_manifests_decode_strictly_into_the_api_types() {
    let files = manifests();
    let out = kubecheck(&files);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let root = deploy("kubernetes");
    let checked: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.replace(&format!("{}/", root.display()), ""))
        .collect();
    assert_eq!(
        checked,
        [
            "agent.yaml: document 1: v1 ConfigMap vigil-agent-config ok",
            "agent.yaml: document 2: apps/v1 DaemonSet vigil-agent ok",
            "gateway.yaml: document 1: v1 ConfigMap vigil-gateway-config ok",
            "gateway.yaml: document 2: apps/v1 Deployment vigil-gateway ok",
            "gateway.yaml: document 3: v1 Service vigil-gateway ok",
            "namespace.yaml: document 1: v1 Namespace vigil ok",
        ]
    );
}

#[test]
fn kubecheck_refuses_unknown_fields_bad_quantities_and_unknown_kinds() {
    let dir = TempDir::new("kubecheck");
    let bad = dir.path().join("bad.yaml");
    fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 1\n  \
         selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: \
         {containers: [{name: c, image: i}]}}\n---\napiVersion: v1\nkind: Frob\nmetadata: \
         {name: y}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: z}\nspec: {containers: \
         [{name: c, image: i, resources: {limits: {memory: 12Zi}}}]}\n---\napiVersion: apps/v1\n\
         kind: DaemonSet\nmetadata: {name: w}\nspec:\n  selector: {matchLabels: {a: b}}\n  \
         template: {metadata: {labels: {a: c}}, spec: {containers: [{name: c, image: i}]}}\n",
    )
    .expect("write");
    let out = kubecheck(&[bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for want in [
        "document 1: apps/v1 Deployment: error unmarshaling JSON: while decoding JSON: json: unknown field \"replica\"",
        "document 2: unknown kind v1 Frob",
        "document 3: v1 Pod: error unmarshaling JSON: while decoding JSON: quantities must match",
        "document 4: apps/v1 DaemonSet w: spec.selector a=b does not match the pod template's labels",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    assert_eq!(text(&out.stdout), "", "no document passed");
}

/// Every Deployment and DaemonSet in deploy/kubernetes/, with its file.
fn workloads() -> Vec<(String, Value)> {
    manifests()
        .iter()
        .flat_map(|path| yaml_docs(path))
        .filter(|doc| matches!(doc["kind"].as_str(), Some("Deployment" | "DaemonSet")))
        .map(|doc| {
            (
                doc["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                doc,
            )
        })
        .collect()
}

#[test]
fn kubernetes_pods_are_locked_down_probed_and_sized() {
    let workloads = workloads();
    let names: Vec<&str> = workloads.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["vigil-agent", "vigil-gateway"]);
    let yaml = |s: &str| -> Value { serde_yaml::from_str(s).expect("YAML") };
    for (name, doc) in &workloads {
        let pod = at(doc, &["spec", "template", "spec"]);
        assert_eq!(
            pod["automountServiceAccountToken"],
            Value::Bool(false),
            "{name}"
        );
        assert_eq!(
            at(pod, &["securityContext", "runAsNonRoot"]),
            &Value::Bool(true)
        );
        assert_eq!(
            at(pod, &["securityContext", "runAsUser"]).as_u64(),
            Some(65532)
        );
        assert_eq!(
            at(pod, &["securityContext", "seccompProfile", "type"]).as_str(),
            Some("RuntimeDefault")
        );
        let containers = pod["containers"].as_sequence().expect("containers");
        assert_eq!(containers.len(), 1, "{name}");
        let c = &containers[0];
        assert_eq!(
            c["securityContext"],
            yaml(
                "{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: [ALL]}}"
            ),
            "{name}"
        );
        assert_eq!(
            at(c, &["livenessProbe", "httpGet"]),
            &yaml("{path: /healthz, port: metrics}")
        );
        assert_eq!(
            at(c, &["readinessProbe", "httpGet"]),
            &yaml("{path: /readyz, port: metrics}")
        );
        let ports: BTreeMap<String, u64> = c["ports"]
            .as_sequence()
            .expect("ports")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or("").to_owned(),
                    p["containerPort"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            ports,
            BTreeMap::from([
                ("metrics".to_owned(), 9464),
                ("otlp-grpc".to_owned(), 4317),
                ("otlp-http".to_owned(), 4318),
                ("telemetry".to_owned(), 8888),
            ])
        );
        // The figures argued in the manifests' comments (README performance section).
        let want = match name.as_str() {
            "vigil-gateway" => {
                "{requests: {cpu: 250m, memory: 128Mi}, limits: {cpu: '1', memory: 256Mi}}"
            }
            _ => "{requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 500m, memory: 192Mi}}",
        };
        assert_eq!(c["resources"], yaml(want), "{name}");
        assert_eq!(
            c["args"],
            yaml("[--config, /etc/vigil/config.yaml]"),
            "{name}"
        );
    }
}

#[test]
fn kubernetes_collector_configs_load_and_the_agent_reaches_the_gateway_service() {
    let mut configs = BTreeMap::new();
    let mut service_ports = Vec::new();
    for path in manifests() {
        for doc in yaml_docs(&path) {
            match doc["kind"].as_str() {
                Some("ConfigMap") => {
                    let name = doc["metadata"]["name"].as_str().unwrap_or("").to_owned();
                    let config = at(&doc, &["data", "config.yaml"]).as_str().unwrap_or("");
                    configs.insert(name, config.to_owned());
                }
                Some("Service") => {
                    let name = doc["metadata"]["name"].as_str().unwrap_or("").to_owned();
                    let ns = doc["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    for port in doc["spec"]["ports"].as_sequence().into_iter().flatten() {
                        service_ports.push(format!(
                            "{name}.{ns}.svc.cluster.local:{}",
                            port["port"].as_u64().unwrap_or(0)
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        configs.keys().collect::<Vec<_>>(),
        ["vigil-agent-config", "vigil-gateway-config"]
    );
    let env = [
        (
            "REMOTE_WRITE_URL",
            "http://prometheus.monitoring.svc:9090/api/v1/write",
        ),
        ("K8S_NODE_NAME", "node-1"),
    ];
    for (name, text) in &configs {
        load_collector_config(text, name, &env);
    }
    let agent: Value = serde_yaml::from_str(&configs["vigil-agent-config"]).expect("YAML");
    let target = at(&agent, &["exporters", "otlp", "endpoint"])
        .as_str()
        .unwrap_or("");
    assert!(
        service_ports.iter().any(|p| p == target),
        "the agent sends to {target}, not one of {service_ports:?}"
    );
    assert_eq!(target, "vigil-gateway.vigil.svc.cluster.local:4317");
}

// === systemd ===

const SYSTEMD_HINT: &str = "systemd-analyze not found: install the Debian package `systemd`";

/// The unit with ExecStart pointed at an executable that exists here (this test binary), as
/// `systemd-analyze verify` checks that the command exists.
fn unit_for_analysis(dir: &TempDir) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let unit = read(&deploy("systemd/vigil-collector.service")).replace(
        "ExecStart=/usr/local/bin/vigil-collector",
        &format!("ExecStart={}", exe.display()),
    );
    let path = dir.path().join("vigil-collector.service");
    fs::write(&path, unit).expect("write unit");
    path
}

fn systemd_analyze(args: &[&str], unit: &Path) -> Output {
    run(
        Command::new("systemd-analyze").args(args).arg(unit),
        SYSTEMD_HINT,
    )
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let dir = TempDir::new("systemd");
    let unit = unit_for_analysis(&dir);
    let out = systemd_analyze(&["verify"], &unit);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "no warning either");
}

#[test]
fn systemd_unit_exposure_is_at_most_1_5() {
    let dir = TempDir::new("systemd");
    let unit = unit_for_analysis(&dir);
    // --threshold is on systemd's internal scale (10x the printed figure).
    let out = systemd_analyze(&["security", "--offline=true", "--threshold=15"], &unit);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let level = stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for vigil-collector.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{stdout}"));
    assert!(level <= 1.5, "exposure {level}:\n{stdout}");
}

#[test]
fn systemd_unit_has_every_hardening_directive() {
    let unit = read(&deploy("systemd/vigil-collector.service"));
    let mut section = String::new();
    let mut service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if let Some((k, v)) = line.split_once('=')
            && section == "[Service]"
            && !line.starts_with('#')
        {
            service.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    let one = |k: &str| service.get(k).map(|v| v.join(" | ")).unwrap_or_default();
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
        (
            "SystemCallFilter",
            "@system-service | ~@privileged @resources",
        ),
        ("StateDirectory", "vigil-collector"),
        ("MemoryMax", "512M"),
        (
            "ExecStart",
            "/usr/local/bin/vigil-collector --config /etc/vigil/config.yaml",
        ),
    ] {
        assert!(service.contains_key(key), "{key}= missing from [Service]");
        assert_eq!(one(key), want, "{key}=");
    }
    assert!(
        !service.contains_key("User"),
        "DynamicUser, not a fixed user"
    );
}

// === Prometheus ===

fn promtool(args: &[&str], dir: &Path) -> Output {
    let bin = vigil_tests::promtool();
    run(
        Command::new(&bin).args(args).current_dir(dir),
        "promtool: run scripts/test, or set VIGIL_PROMTOOL",
    )
}

#[test]
fn prometheus_config_and_its_rule_files_pass_promtool_check_config() {
    let out = promtool(
        &["check", "config", "prometheus.yml"],
        &deploy("prometheus"),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for want in [
        "SUCCESS: 2 rule files found",
        "Checking rules/collector.rules.yml\n  SUCCESS: 20 rules found",
        "Checking rules/sdk.rules.yml\n  SUCCESS: 12 rules found",
    ] {
        assert!(stdout.contains(want), "{want:?} missing from:\n{stdout}");
    }
}

#[test]
fn the_data_page_honors_the_senders_labels_and_self_telemetry_does_not() {
    let config: Value =
        serde_yaml::from_str(&read(&deploy("prometheus/prometheus.yml"))).expect("YAML");
    let jobs: Vec<(String, Value, Value)> = config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .map(|job| {
            (
                job["job_name"].as_str().unwrap_or("").to_owned(),
                job["honor_labels"].clone(),
                job["static_configs"][0]["targets"].clone(),
            )
        })
        .collect();
    let targets = |t: &str| Value::Sequence(vec![Value::String(t.into())]);
    assert_eq!(
        jobs,
        [
            (
                "vigil-data".to_owned(),
                Value::Bool(true),
                targets("127.0.0.1:9464")
            ),
            (
                "vigil-collector".to_owned(),
                Value::Bool(false),
                targets("127.0.0.1:8888")
            ),
        ]
    );
}

/// Alert names of a rules file, in order.
fn alerts(rules: &Value) -> Vec<String> {
    rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn rules_files_define_the_documented_alerts() {
    let rules = |f: &str| -> Value {
        serde_yaml::from_str(&read(&deploy(&format!("prometheus/rules/{f}")))).expect("YAML")
    };
    assert_eq!(
        alerts(&rules("collector.rules.yml")),
        [
            "VigilCollectorDown",
            "VigilCollectorAbsent",
            "VigilCollectorRefusingItems",
            "VigilExporterSendFailing",
            "VigilExporterQueueNearlyFull",
            "VigilCollectorMemoryNearLimit",
        ]
    );
    assert_eq!(
        alerts(&rules("sdk.rules.yml")),
        [
            "VigilLifecycleFailureRatioHigh",
            "VigilSweeperPanicked",
            "VigilSweeperStale",
            "VigilHealthCheckFailing",
            "VigilZombieWorkers",
        ]
    );
}

#[test]
fn every_rules_file_has_a_test_file_where_each_alert_fires_and_stays_silent() {
    let dir = deploy("prometheus/rules");
    let mut rule_files: Vec<String> = fs::read_dir(&dir)
        .expect("rules dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rules.yml"))
        .collect();
    rule_files.sort();
    assert_eq!(rule_files, ["collector.rules.yml", "sdk.rules.yml"]);
    for file in &rule_files {
        let test_file = file.replace(".rules.yml", ".rules.test.yml");
        let tests: Value = serde_yaml::from_str(&read(&dir.join(&test_file)))
            .unwrap_or_else(|e| panic!("{test_file}: {e}"));
        assert_eq!(
            tests["rule_files"],
            serde_yaml::from_str::<Value>(&format!("[{file}]")).expect("YAML")
        );
        // For every alert: a case where it fires and one where it must not.
        let mut fires = BTreeSet::new();
        let mut silent = BTreeSet::new();
        for case in tests["tests"].as_sequence().into_iter().flatten() {
            for check in case["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = check["alertname"].as_str().unwrap_or("").to_owned();
                match check["exp_alerts"].as_sequence().map(Vec::is_empty) {
                    Some(false) => fires.insert(name),
                    _ => silent.insert(name),
                };
            }
        }
        let rules: Value = serde_yaml::from_str(&read(&dir.join(file))).expect("YAML");
        for alert in alerts(&rules) {
            assert!(
                fires.contains(&alert),
                "{test_file}: no case where {alert} fires"
            );
            assert!(
                silent.contains(&alert),
                "{test_file}: no case where {alert} stays silent"
            );
        }
        let out = promtool(&["test", "rules", &test_file], &dir);
        assert!(
            out.status.success(),
            "promtool test rules {test_file}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("SUCCESS"),
            "{}",
            text(&out.stdout)
        );
    }
}

// === Grafana ===

/// The dashboard's PromQL expressions with Grafana's variables replaced by what they could
/// hold: `$job`/`$instance` by a regex matching anything, `$__rate_interval` by 5m.
fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or("");
            out.push(
                expr.replace("$__rate_interval", "5m")
                    .replace("$job", ".+")
                    .replace("$instance", ".+"),
            );
        }
    }
    out
}

/// promtool 2.42 has no parse-only command: the expressions become recording rules.
fn promtool_parse(exprs: &[String]) -> Output {
    let dir = TempDir::new("grafana");
    let mut rules = String::from("groups:\n  - name: grafana\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(expr).expect("JSON string");
        rules.push_str(&format!(
            "      - record: grafana_expr_{i}\n        expr: {quoted}\n"
        ));
    }
    fs::write(dir.path().join("exprs.yml"), rules).expect("write");
    promtool(&["check", "rules", "exprs.yml"], dir.path())
}

fn dashboard(name: &str) -> serde_json::Value {
    let path = deploy(&format!("grafana/{name}"));
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn dashboards_have_a_datasource_variable_and_every_expr_parses() {
    for name in ["collector.json", "sdk.json"] {
        let d = dashboard(name);
        assert_eq!(d["schemaVersion"], 39, "{name}");
        let vars = d["templating"]["list"].as_array().expect("templating.list");
        assert_eq!(vars[0]["name"], "datasource");
        assert_eq!(vars[0]["type"], "datasource");
        assert_eq!(vars[0]["query"], "prometheus");
        let mut ids = BTreeSet::new();
        for panel in d["panels"].as_array().expect("panels") {
            assert!(
                ids.insert(panel["id"].as_u64()),
                "{name}: duplicate id {}",
                panel["id"]
            );
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{name}: {}",
                panel["title"]
            );
            let targets = panel["targets"].as_array().expect("targets");
            assert!(
                !targets.is_empty(),
                "{name}: {} has no query",
                panel["title"]
            );
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}");
            }
        }
        let exprs = dashboard_exprs(&d);
        for e in &exprs {
            assert!(
                !e.replace("\"$1\"", "").contains('$'),
                "{name}: a variable the test does not know in {e}"
            );
        }
        let out = promtool_parse(&exprs);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}{}",
            text(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("SUCCESS: {} rules found", exprs.len())),
            "{stdout}"
        );
    }
}

#[test]
fn promtool_refuses_an_expression_that_does_not_parse() {
    let out = promtool_parse(&["sum(rate(otelcol_process_cpu_seconds_total[5m])".to_owned()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

#[test]
fn collector_dashboard_shows_every_self_telemetry_figure() {
    let exprs = dashboard_exprs(&dashboard("collector.json")).join("\n");
    let mut names = vec![
        "otelcol_exporter_queue_size".to_owned(),
        "otelcol_exporter_queue_capacity".to_owned(),
        "otelcol_process_memory_rss_bytes".to_owned(),
        "otelcol_process_cpu_seconds_total".to_owned(),
        "otelcol_process_uptime_seconds_total".to_owned(),
        "otelcol_processor_incoming_items_total".to_owned(),
        "otelcol_processor_outgoing_items_total".to_owned(),
        "vigil_store_series".to_owned(),
        "vigil_store_families".to_owned(),
        "vigil_store_expired_series_total".to_owned(),
        "vigil_store_refused_points_total".to_owned(),
        "vigil_render_duration_seconds_bucket".to_owned(),
    ];
    for signal in ["metric_points", "spans", "log_records"] {
        for family in [
            "receiver_accepted",
            "receiver_refused",
            "exporter_sent",
            "exporter_send_failed",
        ] {
            names.push(format!("otelcol_{family}_{signal}_total"));
        }
    }
    for name in names {
        assert!(
            exprs.contains(&format!("{name}{{")),
            "{name} is on no panel"
        );
    }
}

#[test]
fn sdk_dashboard_shows_every_family_the_alerts_watch() {
    let exprs = dashboard_exprs(&dashboard("sdk.json")).join("\n");
    for needle in [
        "vigil_sdk:lifecycle_transitions:rate5m",
        "vigil_sdk:lifecycle_failure_ratio:rate5m",
        "_lifecycle_count\"",
        "vigil_sdk:sweep_runs:rate5m",
        "_sweep_last_success_seconds\"",
        "_health_status\"",
        "vigil_sdk:health_check_failure_ratio:rate5m",
        "_worker_zombies\"",
        "_worker_idle_seconds\"",
        "_process_cpu_utilization\"",
        "_process_memory_usage_bytes\"",
    ] {
        assert!(exprs.contains(needle), "{needle} is on no panel");
    }
}

// === The rules against a real SDK service ===

/// Kills and reaps a child process when dropped, so a failed assertion leaves nothing running.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET url` on Prometheus' API; the JSON answer's `data`.
async fn prometheus_api(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let body = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let answer: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"));
    assert_eq!(answer["status"], "success", "{body}");
    answer["data"].clone()
}

/// The `sdk_tour` example (every SDK family; one health check target, zone eu-2, always
/// fails) exports to a collector that Prometheus 2.42 scrapes every second with the rules of
/// deploy/prometheus/rules/ evaluated every second. Every rule evaluates without error (a
/// selector over several families would fail in Prometheus 2 if two of them had the same
/// labels), the recording rules produce the SDK's families under `family`, and the failing
/// target's alert is pending with exactly its labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_rules_evaluate_on_a_real_sdk_service() {
    let tour = {
        let exe = std::env::current_exe().expect("test binary path");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let bin = profile.join("examples").join("sdk_tour");
        assert!(
            bin.is_file(),
            "{} is not built: run scripts/test (it builds the examples), or \
             `cargo build -p examples --example sdk_tour`",
            bin.display()
        );
        bin
    };
    let config = Config::from_yaml_str(
        "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}
exporters: {prometheus: {endpoint: 127.0.0.1:0}}
service: {pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}}
",
        "deploy rules test",
    )
    .expect("valid config");
    let collector = vigil_collector::app::start(&config)
        .await
        .expect("collector starts");
    let page = collector.listen_addr.expect("prometheus exporter");
    let grpc = collector.grpc_addr.expect("gRPC receiver");

    let dir = TempDir::new("deploy-rules");
    let rules = deploy("prometheus/rules");
    let prometheus_config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{}, {}]
scrape_configs:
  - job_name: vigil-data
    honor_labels: true
    static_configs: [{{targets: ['{page}']}}]
",
        rules.join("collector.rules.yml").display(),
        rules.join("sdk.rules.yml").display(),
    );
    fs::write(dir.path().join("prometheus.yml"), prometheus_config).expect("write");
    let web = format!("127.0.0.1:{}", vigil_tests::peers::free_port());
    let _prometheus = Reaped(
        Command::new(vigil_tests::prometheus())
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .arg("--log.level=warn")
            .stdout(std::process::Stdio::null())
            .stderr(
                fs::File::create(dir.path().join("prometheus.log"))
                    .map_or(std::process::Stdio::null(), std::process::Stdio::from),
            )
            .spawn()
            .expect("start prometheus"),
    );
    let mut cmd = Command::new(&tour);
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    let _tour = Reaped(
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{grpc}"))
            .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
            .env("VIGIL_EXAMPLE_DURATION", "60s")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start sdk_tour"),
    );

    let client = reqwest::Client::new();
    let query = |q: &str| {
        format!(
            "http://{web}/api/v1/query?query={}",
            q.bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        )
    };
    // Bounded: the alert is pending a few seconds after the tour's third failed check, and a
    // rate needs two evaluations of the copied counter.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let first_result = async |q: &str| -> serde_json::Value {
        loop {
            let ready = client.get(format!("http://{web}/-/ready")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                let data = prometheus_api(&client, &query(q)).await;
                if let Some(first) = data["result"].as_array().and_then(|r| r.first()) {
                    return first["metric"].clone();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no result for {q} within 60 s; prometheus.log is in {}",
                dir.path().display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    };
    let alert = first_result(r#"ALERTS{alertname="VigilHealthCheckFailing"}"#).await;
    let labels: BTreeMap<String, String> = alert
        .as_object()
        .expect("labels")
        .iter()
        .filter(|(k, _)| k.as_str() != "instance")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
        .collect();
    let want: BTreeMap<String, String> = [
        ("__name__", "ALERTS"),
        ("alertname", "VigilHealthCheckFailing"),
        ("alertstate", "pending"),
        ("family", "tour_upstream"),
        ("job", "sdk-tour"),
        ("otel_scope_name", "vigil"),
        ("otel_scope_version", env!("CARGO_PKG_VERSION")),
        ("severity", "warning"),
        ("zone", "eu-2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(labels, want);

    // The sweeper's runs, recorded under the tour's namespace.
    assert_eq!(
        first_result(r#"vigil_sdk:sweep_runs:rate5m{job="sdk-tour", result="ok"}"#).await,
        serde_json::json!({"__name__": "vigil_sdk:sweep_runs:rate5m", "family": "tour",
            "job": "sdk-tour", "result": "ok", "sweeper": "tmp_gc"})
    );
    // Every rule of both files evaluated cleanly.
    let groups = prometheus_api(&client, &format!("http://{web}/api/v1/rules")).await;
    let mut evaluated = 0;
    for group in groups["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            assert_eq!(rule["health"], "ok", "{rule}");
            evaluated += 1;
        }
    }
    assert_eq!(evaluated, 32, "20 collector rules and 12 SDK rules");
    collector.shutdown().await;
}
