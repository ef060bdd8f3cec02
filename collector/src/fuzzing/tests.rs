//! The committed corpus of every fuzz target, replayed: what once made a target fail (and was
//! fixed) stays fixed, and what covers the code keeps running on every `cargo test`.

use std::path::PathBuf;

use super::TARGETS;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn every_target_replays_its_committed_corpus() {
    for (target, run) in TARGETS {
        let dir = corpus(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!("{}: {e}; run scripts/fuzz to make a corpus", dir.display())
        });
        let mut inputs = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            inputs += 1;
        }
        assert!(
            inputs >= 5,
            "{target}: only {inputs} inputs in {}",
            dir.display()
        );
    }
}

#[test]
fn the_store_states_target_reaches_every_point_kind_from_a_short_tape() {
    // A tape of zeros picks the first shape everywhere, ones the last: both must be valid.
    super::store_states(&[0; 64]);
    super::store_states(&[0xff; 64]);
    super::otlp_protobuf(&[]);
    super::gzip(&[0x1f, 0x8b]);
    super::config(b"receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}");
}

/// Writes the seeds the fuzzers start from into `fuzz/corpus/` (run by hand, see
/// `scripts/fuzz --seed`): requests of every shape, as protobuf, OTLP/JSON, gzip (one and two
/// members) and choice tapes, and the repository's sample configurations.
#[test]
#[ignore = "writes the seed corpus; run by scripts/fuzz --seed"]
fn write_seeds() {
    use std::io::Write as _;

    use prost::Message as _;

    use crate::pipeline::scan::random::{self, Rng};

    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    for seed in 0..16u64 {
        let request = random::metrics(&mut Rng::new(seed), 1 + (seed % 3) as usize);
        let body = request.encode_to_vec();
        write("otlp_protobuf", &format!("seed-{seed:02}"), &body);
        write(
            "otlp_json",
            &format!("seed-{seed:02}"),
            &serde_json::to_vec(&request).unwrap(),
        );
        let gz = |data: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        };
        let mut two = gz(&body);
        two.extend(gz(&body));
        write("gzip", &format!("seed-{seed:02}"), &gz(&body));
        write("gzip", &format!("seed-{seed:02}-two-members"), &two);
        let tape: Vec<u8> = {
            let mut rng = Rng::new(seed);
            (0..64).map(|_| rng.next() as u8).collect()
        };
        write("store_states", &format!("seed-{seed:02}"), &tape);
    }
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../otel-config");
    let mut configs = Vec::new();
    let mut dirs = vec![samples];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                configs.push(path);
            }
        }
    }
    configs.sort();
    for path in configs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        write(
            "config",
            &format!("seed-{name}"),
            &std::fs::read(&path).unwrap(),
        );
    }
}
