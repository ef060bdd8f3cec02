//! The pprof extension over real sockets: off unless started, behind auth, bounded `seconds`,
//! one profile at a time, and a CPU profile that `go tool pprof` reads (issue 11, item 3).

use std::io::Read;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prost::Message;

use super::*;
use crate::app;
use crate::config::Config;

const PIPELINE: &str = "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n\
    service_placeholder";

/// A configuration: `extensions` (YAML under `extensions:`), the prometheus exporter's extra
/// keys, and `service.extensions`.
fn yaml(extensions: &str, prometheus: &str, started: &str) -> String {
    let service = format!(
        "exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n{prometheus}\
         service:\n  extensions: [{started}]\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
    );
    let extensions = if extensions.is_empty() {
        String::new()
    } else {
        format!("extensions:\n{extensions}")
    };
    format!(
        "{extensions}{}",
        PIPELINE.replace("service_placeholder", &service)
    )
}

fn err(yaml: &str) -> String {
    match Config::from_yaml_str_with_env(yaml, "t", &|_| None) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => format!("{e:#}"),
    }
}

async fn start(yaml: &str) -> app::Running {
    let config = Config::from_yaml_str_with_env(yaml, "t", &|_| None).unwrap();
    app::start(&config).await.unwrap()
}

async fn get(url: &str, auth: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[test]
fn seconds_are_a_whole_number_within_the_listeners_bound() {
    assert_eq!(admin_limits().max_seconds, 50);
    assert_eq!(listener_limits().idle_timeout, Duration::from_secs(310));
    assert_eq!(routes::parse_seconds(None, 300), Ok(30));
    assert_eq!(routes::parse_seconds(Some("1"), 300), Ok(1));
    assert_eq!(routes::parse_seconds(Some("300"), 300), Ok(300));
    assert_eq!(routes::parse_seconds(Some("50"), 50), Ok(50));
    for bad in ["0", "301", "abc", "-1", "1.5", ""] {
        assert_eq!(
            routes::parse_seconds(Some(bad), 300),
            Err(format!(
                "seconds={bad:?}: give a whole number of seconds from 1 to 300\n"
            )),
        );
    }
    assert_eq!(
        routes::parse_seconds(Some("51"), 50),
        Err(
            "seconds=\"51\": give a whole number of seconds from 1 to 50 on this address (its \
             idle_timeout closes a connection sooner); give the pprof extension an endpoint of \
             its own for profiles up to 300 s\n"
                .into()
        ),
    );
}

#[test]
fn configuration_errors_name_the_key_and_say_why() {
    let go = "not supported: it tunes the Go runtime's profiler, and Vigil is not a Go program \
              (it samples CPU only: /debug/pprof/profile)";
    assert_eq!(
        err(&yaml(
            "  pprof:\n    block_profile_fraction: 3\n",
            "",
            "pprof"
        )),
        format!("extensions.pprof.block_profile_fraction: {go}")
    );
    assert_eq!(
        err(&yaml(
            "  pprof:\n    mutex_profile_fraction: 5\n",
            "",
            "pprof"
        )),
        format!("extensions.pprof.mutex_profile_fraction: {go}")
    );
    assert_eq!(
        err(&yaml(
            "  pprof:\n    save_to_file: /tmp/cpu.prof\n",
            "",
            "pprof"
        )),
        "extensions.pprof.save_to_file: not supported: a whole-life profile would hold the \
         process's one CPU profiler until exit, so /debug/pprof/profile could never answer; \
         fetch a profile over HTTP instead (curl -o cpu.pb.gz .../debug/pprof/profile?seconds=30)"
    );
    assert_eq!(
        err(&yaml(
            "  bearertokenauth: {token: t}\n  pprof:\n    auth: {authenticator: bearertokenauth}\n",
            "",
            "bearertokenauth, pprof"
        )),
        "extensions.pprof.auth: only with endpoint: without one the routes are served on the \
         prometheus exporters' addresses, behind their auth"
    );
    assert_eq!(
        err(&yaml("  pprof:\n    endpoint: \":1777\"\n", "", "pprof")),
        "extensions.pprof.endpoint: invalid socket address \":1777\": the host is empty; write \
         127.0.0.1 to listen on this machine only, or 0.0.0.0 to listen on every interface"
    );
    assert_eq!(
        err(&yaml(
            "  pprof:\n  pprof/other:\n    endpoint: 127.0.0.1:0\n",
            "",
            "pprof, pprof/other"
        )),
        "service.extensions: \"pprof\" and \"pprof/other\" are both pprof extensions; start one \
         (a process has one CPU profiler)"
    );
    assert_eq!(
        err(&yaml(
            "  bearertokenauth: {token: t}\n  pprof:\n    endpoint: 127.0.0.1:0\n    auth: {authenticator: bearertokenauth}\n",
            "",
            "pprof"
        )),
        "extensions.pprof.auth.authenticator: extension \"bearertokenauth\" is not started: add \
         it to service.extensions"
    );
    assert_eq!(
        err(
            &yaml("  pprof:\n    endpoint: 127.0.0.1:9464\n", "", "pprof").replace(
                "prometheus:\n    endpoint: 127.0.0.1:0",
                "prometheus:\n    endpoint: 127.0.0.1:9464"
            )
        ),
        "extensions.pprof.endpoint (127.0.0.1:9464) conflicts with exporters.prometheus.endpoint \
         (127.0.0.1:9464): both would listen on port 9464"
    );
    let unknown = err(&yaml("  pprof:\n    dialer: {timeout: 1s}\n", "", "pprof"));
    assert!(unknown.contains("unknown field `dialer`"), "{unknown}");
    // Configured but not started, the extension is off, and its keys still checked.
    let config = Config::from_yaml_str_with_env(
        &yaml("  pprof:\n    endpoint: 127.0.0.1:0\n", "", ""),
        "t",
        &|_| None,
    )
    .unwrap();
    assert!(enabled(&config).is_none());
}

#[tokio::test]
async fn not_started_it_is_404() {
    for yaml in [
        yaml("", "", ""),
        yaml("  pprof:\n", "", ""),
        yaml("  pprof:\n    endpoint: 127.0.0.1:0\n", "", ""),
    ] {
        let vigil = start(&yaml).await;
        assert_eq!(vigil.pprof_addr, None);
        let pages = vigil.listen_addr.unwrap();
        for path in [
            "/debug/pprof/",
            "/debug/pprof/profile?seconds=1",
            "/debug/pprof/allocator",
        ] {
            let (status, _) = get(&format!("http://{pages}{path}"), None).await;
            assert_eq!(status, 404, "{path} with\n{yaml}");
        }
        vigil.shutdown().await;
    }
}

#[tokio::test]
async fn on_the_exporters_address_it_is_behind_its_auth() {
    let vigil = start(&yaml(
        "  basicauth:\n    htpasswd: {inline: \"ops:pw\"}\n  pprof:\n",
        "    auth: {authenticator: basicauth}\n",
        "basicauth, pprof",
    ))
    .await;
    assert_eq!(vigil.pprof_addr, None);
    let base = format!("http://{}/debug/pprof", vigil.listen_addr.unwrap());
    let ok = Some("Basic b3BzOnB3"); // ops:pw
    for path in ["/", "/profile?seconds=1", "/allocator", "/heap"] {
        for auth in [None, Some("Basic b3BzOndyb25n")] {
            let (status, body) = get(&format!("{base}{path}"), auth).await;
            assert_eq!(
                (status, body.as_str()),
                (401, "unauthenticated\n"),
                "{path}"
            );
        }
    }
    let (status, body) = get(&format!("{base}/"), ok).await;
    assert_eq!((status, body.as_str()), (200, routes::INDEX));
    let (status, body) = get(&format!("{base}/profile?seconds=0"), ok).await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "seconds=\"0\": give a whole number of seconds from 1 to 50 on this address (its \
             idle_timeout closes a connection sooner); give the pprof extension an endpoint of \
             its own for profiles up to 300 s\n"
        )
    );
    let (status, body) = get(&format!("{base}/heap"), ok).await;
    assert_eq!(
        (status, body.as_str()),
        (
            404,
            "not found: Vigil serves /debug/pprof/profile (CPU) and /debug/pprof/allocator (heap \
             statistics); Go's other profiles describe the Go runtime\n"
        )
    );
    let (status, body) = get(&format!("{base}/allocator"), ok).await;
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["allocator"], "glibc malloc", "{body}");
    let heap = &stats["heap"];
    let keys: Vec<&str> = heap
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "arena_bytes",
            "fastbin_free_bytes",
            "free_bytes",
            "free_chunks",
            "in_use_bytes",
            "mmap_bytes",
            "mmap_chunks",
            "releasable_bytes"
        ]
    );
    let in_use = heap["in_use_bytes"].as_u64().unwrap();
    let resident = stats["resident_bytes"].as_u64().unwrap();
    // A running collector has live heap, and all of it that is touched is resident or swapped.
    assert!(in_use > 0 && resident > 0, "{body}");
    assert!(in_use >= heap["mmap_bytes"].as_u64().unwrap(), "{body}");
    vigil.shutdown().await;
}

/// Burns CPU on this thread until `stop` is set or `until` (never inlined, so the profile
/// names it).
#[inline(never)]
fn pprof_test_busy_loop(stop: &AtomicBool, until: Instant) -> u64 {
    let mut x = 1u64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        for i in 0..100_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
        }
    }
    x
}

/// `go`: `VIGIL_GO`, else on `PATH`, else Go's default install; a missing one fails the test
/// with the fix.
fn go() -> std::path::PathBuf {
    let candidates = [
        std::env::var_os("VIGIL_GO").map(Into::into),
        Some("go".into()),
        Some("/usr/local/go/bin/go".into()),
    ];
    for go in candidates.into_iter().flatten() {
        let go: std::path::PathBuf = go;
        if Command::new(&go)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return go;
        }
    }
    panic!(
        "this test reads the profile with `go tool pprof`, and no Go toolchain was found: install \
         Go (apt-get install golang-go, or Go's tarball under /usr/local/go) or set VIGIL_GO to \
         the go binary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_profile_is_read_by_go_tool_pprof() {
    let go = go();
    let vigil = start(&yaml(
        "  basicauth:\n    htpasswd: {inline: \"ops:pw\"}\n  pprof:\n    endpoint: 127.0.0.1:0\n    auth: {authenticator: basicauth}\n",
        "",
        "basicauth, pprof",
    ))
    .await;
    let own = vigil.pprof_addr.unwrap();
    let url = format!("http://{own}/debug/pprof/profile?seconds=2");
    assert_eq!(get(&url, None).await, (401, "unauthenticated\n".into()));
    // Not on the exporter's address when it has its own.
    let (status, _) = get(
        &format!("http://{}/debug/pprof/profile", vigil.listen_addr.unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Load on a thread of the collector's process while the profile runs (the sampler's first
    // start reads the binary's debug info, which takes seconds in a debug build).
    let stop = Arc::new(AtomicBool::new(false));
    let busy = std::thread::Builder::new()
        .name("pprof-busy".into())
        .spawn({
            let stop = stop.clone();
            move || pprof_test_busy_loop(&stop, Instant::now() + Duration::from_secs(120))
        })
        .unwrap();
    let first = tokio::spawn({
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .header("authorization", "Basic b3BzOnB3")
                .send()
                .await
                .unwrap()
        }
    });
    // A second profile while the first runs is refused, with when to retry.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = reqwest::Client::new()
        .get(&url)
        .header("authorization", "Basic b3BzOnB3")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 503);
    let retry: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    assert_eq!(
        second.text().await.unwrap(),
        "a CPU profile is already being taken (one at a time per process); retry after it\n"
    );

    let response = first.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(&body[..2], [0x1f, 0x8b], "gzip magic");

    // What we wrote: the sample types Go writes, and samples of the busy thread.
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut raw)
        .unwrap();
    let profile = proto::Profile::decode(&raw[..]).unwrap();
    let s = |i: i64| profile.string_table[usize::try_from(i).unwrap()].as_str();
    let types: Vec<(&str, &str)> = profile
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    assert_eq!(profile.period, 10_000_000);
    let busy_samples: i64 = profile
        .sample
        .iter()
        .filter(|x| x.label.iter().any(|l| s(l.str) == "pprof-busy"))
        .map(|x| x.value[0])
        .sum();
    // 2 s of one busy thread at 100 Hz is ~200 samples; allow for a loaded machine.
    assert!(
        busy_samples >= 20,
        "{busy_samples} samples of the busy thread"
    );

    // What Go's reader makes of it.
    let dir = vigil_tests::peers::TempDir::new("pprof");
    let file = dir.path().join("cpu.pb.gz");
    std::fs::write(&file, &body).unwrap();
    let out = Command::new(&go)
        .args(["tool", "pprof", "-top"])
        .arg(&file)
        .current_dir(dir.path())
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "go tool pprof failed:\n{stdout}\n{stderr}"
    );
    eprintln!("go tool pprof -top:\n{stdout}");
    assert!(stdout.contains("Type: cpu"), "{stdout}\n{stderr}");
    assert!(stdout.contains("Duration: 2"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("File: vigil_collector"),
        "{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("Main binary filename not available"),
        "{stderr}"
    );
    assert!(
        stdout.contains("pprof_test_busy_loop"),
        "the busy function is not in the top list:\n{stdout}\n{stderr}"
    );
    // The sampler's own frames are not the leaves that take the flat time.
    let flat_leader = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default();
    // (The busy loop itself lives in `pprof::tests`, so only the sampler's modules count.)
    assert!(
        !flat_leader.contains("backtrace")
            && ![
                "pprof::cpu",
                "pprof::proto",
                "pprof::routes",
                "pprof::allocator"
            ]
            .iter()
            .any(|m| flat_leader.contains(m)),
        "{stdout}"
    );

    // go tool pprof fetching the profile itself, credentials in the URL (as the README says).
    // On a loaded machine (the whole suite in parallel) go's own start-up can pass its fetch
    // deadline: up to three attempts, every failure's output kept for the message.
    let mut failures = String::new();
    let mut out = None;
    for _ in 0..3 {
        let attempt = Command::new(&go)
            .args(["tool", "pprof", "-top"])
            .arg(format!("http://ops:pw@{own}/debug/pprof/profile?seconds=1"))
            .current_dir(dir.path())
            .env("GOTOOLCHAIN", "local")
            .env("PPROF_TMPDIR", dir.path())
            .output()
            .unwrap();
        if attempt.status.success() {
            out = Some(attempt);
            break;
        }
        failures.push_str(&String::from_utf8_lossy(&attempt.stderr));
    }
    let Some(out) = out else {
        panic!("go tool pprof URL failed three times:\n{failures}");
    };
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "go tool pprof URL failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Type: cpu"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pprof_test_busy_loop"),
        "{stdout}\n{stderr}"
    );

    // A client that goes away frees the profiler: the next profile is served well before the
    // abandoned one's 30 s would have ended.
    let client = reqwest::Client::new();
    let abandoned = client
        .get(format!("http://{own}/debug/pprof/profile?seconds=30"))
        .header("authorization", "Basic b3BzOnB3")
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(abandoned.is_err(), "{abandoned:?}");
    let started = Instant::now();
    let status = loop {
        let r = client
            .get(format!("http://{own}/debug/pprof/profile?seconds=1"))
            .header("authorization", "Basic b3BzOnB3")
            .send()
            .await
            .unwrap();
        if r.status() != 503 || started.elapsed() > Duration::from_secs(10) {
            break r.status();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 200, "after {:?}", started.elapsed());
    vigil.shutdown().await;
}
