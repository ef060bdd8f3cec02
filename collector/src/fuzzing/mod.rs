//! Entry points of the fuzz targets (`fuzz/`, run by `scripts/fuzz`), kept in the collector so
//! that the committed corpus replays as plain unit tests (`fuzzing::tests`) on every
//! `cargo test`, without cargo-fuzz or a nightly compiler.
//!
//! Each function takes the fuzzer's bytes and panics only when the collector did something
//! wrong: the two OTLP readers disagree, a page is invalid (a series line twice, a family
//! declared twice, OpenMetrics without `# EOF`, JSON that does not parse), or a bound is
//! broken. Errors for bad input are the expected outcome, not findings.

#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

use crate::export::{json, otlp_json, prometheus};
use crate::pipeline::scan::random::{self, Rng};
use crate::receiver::Signal as _;
use crate::store::otlp::{Report, ingest_request};
use crate::store::{Filter, Options, Store};

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name: the corpus of each is under `fuzz/corpus/<name>/`.
pub const TARGETS: [(&str, Target); 5] = [
    ("otlp_protobuf", otlp_protobuf),
    ("otlp_json", otlp_json),
    ("store_states", store_states),
    ("gzip", gzip),
    ("config", config),
];

/// A store that accepts any timestamp, so the comparison is between the readers and not about
/// the future-skew check.
fn store() -> Store {
    Store::new(Options {
        max_future_skew: std::time::Duration::MAX,
        ..Options::default()
    })
}

/// Protobuf bytes through the wire reader and through prost: the same answer and the same
/// store state, or both refuse; then every page of the result is valid.
pub fn otlp_protobuf(data: &[u8]) {
    let (by_prost, by_wire) = (store(), store());
    let _ = differential(&by_prost, &by_wire, data);
    check_pages(&by_wire);
}

/// OTLP/JSON bytes through the receiver's JSON reader into a store; every page stays valid.
pub fn otlp_json(data: &[u8]) {
    let Ok(request) = crate::receiver::Metrics::decode_json(data) else {
        return;
    };
    let store = store();
    ingest_request(&store, &request);
    check_pages(&store);
    // What the JSON reader took re-encodes and reads back the same through the wire reader.
    let (by_prost, by_wire) = (self::store(), self::store());
    let _ = differential(&by_prost, &by_wire, &request.encode_to_vec());
}

/// The bytes choose up to four requests of every shape (names that collide after
/// sanitizing, odd units, all point kinds, special floats, flags), fed to both readers in
/// turn: the store goes through states no hand-written test reaches, and each one's pages
/// must stay valid.
pub fn store_states(data: &[u8]) {
    let mut rng = Rng::tape(data);
    let (by_prost, by_wire) = (store(), store());
    for _ in 0..1 + rng.below(4) {
        let fanout = 1 + rng.below(3);
        let body = random::metrics(&mut rng, fanout).encode_to_vec();
        let _ = differential(&by_prost, &by_wire, &body);
    }
    check_pages(&by_wire);
}

/// A gzip body through the receiver's decompression: never more than the limit out.
pub fn gzip(data: &[u8]) {
    const LIMIT: usize = 64 * 1024;
    let encoding = crate::receiver::http::Encoding::Protobuf;
    if let Ok(out) = crate::receiver::http::gunzip(data, LIMIT, encoding) {
        assert!(
            out.len() <= LIMIT,
            "{} bytes out past a limit of {LIMIT}",
            out.len()
        );
    }
}

/// YAML text through the configuration loader (no environment): an error or a configuration
/// whose listeners do not clash.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let no_env = |_: &str| None;
    if let Ok(config) = crate::config::Config::from_yaml_str_with_env(text, "fuzz", &no_env) {
        // Validation promised every pipeline's components exist.
        for pipeline in &config.pipelines {
            for id in &pipeline.receivers {
                assert!(config.receivers.contains_key(id), "{id} in {text:?}");
            }
            for id in &pipeline.exporters {
                assert!(config.exporters.contains_key(id), "{id} in {text:?}");
            }
        }
    }
}

/// Feeds `body` to a prost-path store and a wire-path store, asserts they agree, and returns
/// the wire path's answer.
pub fn differential(
    by_prost: &Store,
    by_wire: &Store,
    body: &[u8],
) -> Result<Report, crate::decode::Error> {
    let want = ExportMetricsServiceRequest::decode(body)
        .ok()
        .map(|req| ingest_request(by_prost, &req));
    let got = crate::decode::ingest(by_wire, body);
    match (&want, &got) {
        (Some(want), Ok(got)) => assert_eq!(got, want, "{body:02x?}"),
        (None, Err(_)) => {}
        _ => panic!("prost: {want:?}, wire: {got:?}, body {body:02x?}"),
    }
    assert_eq!(state(by_wire), state(by_prost), "{body:02x?}");
    assert_eq!(by_wire.resource_count(), by_prost.resource_count());
    got
}

/// What a store holds, as the OpenMetrics page and the JSON snapshot show it, with the clock
/// left out: the copy's time, and the start times the store takes from its own clock for a
/// point without one (`_created` lines, `start_time`), which differ between two stores fed
/// one after the other.
pub fn state(store: &Store) -> (String, String) {
    let (page, doc) = page_and_doc(store);
    let text: String = page
        .lines()
        .filter(|l| !l.contains("_created"))
        .map(|l| format!("{l}\n"))
        .collect();
    let doc = match serde_json::from_str::<serde_json::Value>(&doc) {
        Ok(mut doc) => {
            forget(&mut doc, "start_time");
            forget(&mut doc, "last_update");
            doc.to_string()
        }
        Err(e) => format!("unparsable snapshot: {e}"),
    };
    (text, doc)
}

/// The OpenMetrics page and the JSON snapshot of `store`, the copy's own time left out.
pub fn page_and_doc(store: &Store) -> (String, String) {
    let mut snap = store.snapshot(&Filter::default());
    snap.generated_at = std::time::UNIX_EPOCH;
    let page = prometheus::render(&snap, prometheus::Format::OpenMetrics);
    let doc = String::from_utf8_lossy(&json::encode(&snap)).into_owned();
    (page, doc)
}

/// Removes every `key` from a JSON document.
fn forget(value: &mut serde_json::Value, key: &str) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove(key);
            map.values_mut().for_each(|v| forget(v, key));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| forget(v, key)),
        _ => {}
    }
}

/// Every page of `store` is valid: no series line twice and no family declared twice in
/// either text format, OpenMetrics ends with `# EOF`, both JSON documents parse.
pub fn check_pages(store: &Store) {
    let snap = store.snapshot(&Filter::default());
    for format in [prometheus::Format::Text, prometheus::Format::OpenMetrics] {
        let page = prometheus::render(&snap, format);
        check_exposition(&page);
        if format == prometheus::Format::OpenMetrics {
            assert!(page.ends_with("# EOF\n"), "{page}");
        }
    }
    for doc in [json::encode(&snap), otlp_json::encode(&snap)] {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&doc) {
            panic!("{e}: {}", String::from_utf8_lossy(&doc));
        }
    }
}

/// No series (name and labels) twice, no `# TYPE` twice.
pub fn check_exposition(page: &str) {
    let mut series = std::collections::HashSet::new();
    let mut families = std::collections::HashSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let family = rest.split(' ').next().unwrap_or("");
            assert!(families.insert(family), "family {family} twice in\n{page}");
        } else if !line.starts_with('#') && !line.is_empty() {
            let key = match line.rfind('}') {
                Some(end) if line.contains('{') => &line[..=end],
                _ => line.split(' ').next().unwrap_or(line),
            };
            assert!(series.insert(key), "series {key} twice in\n{page}");
        }
    }
}
