//! The store split into shards behaves as one table: resources listed in creation order,
//! store-wide limits exact, ids of a shard the session left refused, concurrent sessions for
//! different resources adding up.

use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::export::prometheus::{Format, render};

type Attrs<'a> = [(&'a str, AttrValue<'a>)];

const T0: u64 = 1_700_000_000 * 1_000_000_000;
const NONE: &Attrs<'static> = &[];

fn point(v: i64) -> NumberPoint {
    NumberPoint {
        start: 0,
        time: T0,
        value: Number::Int(v),
    }
}

fn service(name: &str) -> [(&str, AttrValue<'_>); 1] {
    [("service.name", AttrValue::Str(name))]
}

/// One point of gauge `g` with attribute `k=v` for service `svc`, in a session of its own.
fn gauge(store: &Store, svc: &str, v: &str, value: i64) -> Result<Applied, PointError> {
    let mut ingest = store.ingest();
    let r = ingest.resource(service(svc).as_slice(), "").unwrap();
    let s = ingest.scope(r, "", "", "", NONE).unwrap();
    let m = ingest.metric(s, "g", "", "", Kind::Gauge).unwrap();
    ingest.number(m, &[("k", AttrValue::Str(v))][..], point(value), false, &[])
}

/// Service names that land on at least two different shards (the shard is keyed by a random
/// hash, so a fixed pair could share one).
fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("svc-{i:02}")).collect()
}

#[test]
fn resources_are_listed_in_creation_order_whatever_their_shard() {
    let store = Store::new(Options::default());
    // 40 services over 16 shards: the odds that all sit in one shard are nil.
    let services = names(40);
    for (i, svc) in services.iter().enumerate().rev() {
        gauge(&store, svc, "x", i as i64).unwrap();
    }
    let snap = store.snapshot(&Filter::default());
    let listed: Vec<&str> = snap.resources.iter().map(|r| r.service_name()).collect();
    let mut created: Vec<&str> = services.iter().map(String::as_str).collect();
    created.reverse();
    assert_eq!(listed, created);
    let page = render(&snap, Format::Text);
    let lines: Vec<&str> = page.lines().filter(|l| l.starts_with("g{")).collect();
    let expected: Vec<String> = (0..40)
        .rev()
        .map(|i| format!(r#"g{{job="svc-{i:02}",k="x"}} {i}"#))
        .collect();
    assert_eq!(lines, expected);
    assert_eq!(store.resource_count(), 40);
    assert_eq!(store.series_count(), 40);
}

#[test]
fn the_series_limit_holds_across_shards() {
    let store = Store::new(Options {
        max_series: 25,
        ..Options::default()
    });
    let mut refused = 0;
    for svc in names(10) {
        for v in ["a", "b", "c"] {
            match gauge(&store, &svc, v, 1) {
                Ok(_) => {}
                Err(PointError::SeriesLimit {
                    limit: 25,
                    per_metric: false,
                }) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    assert_eq!(refused, 5);
    assert_eq!(store.series_count(), 25);
    assert_eq!(store.sizes().series, 25);
    // Expiry gives the room back, counted once.
    assert_eq!(store.expire(Instant::now() + Duration::from_secs(3600)), 25);
    assert_eq!(store.sizes(), Sizes::default());
    gauge(&store, "svc-00", "z", 1).unwrap();
    assert_eq!(store.sizes().series, 1);
}

#[test]
fn ids_from_a_shard_the_session_left_are_refused() {
    let store = Store::new(Options::default());
    // Find two services on different shards: the session must let go of the first.
    let mut ingest = store.ingest();
    let first = ingest.resource(service("svc-00").as_slice(), "").unwrap();
    let scope = ingest.scope(first, "", "", "", NONE).unwrap();
    let metric = ingest.metric(scope, "g", "", "", Kind::Gauge).unwrap();
    let _elsewhere = names(40)
        .into_iter()
        .skip(1)
        .map(|svc| ingest.resource(service(&svc).as_slice(), "").unwrap())
        .find(|r| r.shard != first.shard)
        .expect("40 services over 16 shards span two");
    assert_eq!(
        ingest.metric(scope, "h", "", "", Kind::Gauge).err(),
        Some(Refusal::NoData {
            metric: "h".to_string()
        })
    );
    assert_eq!(
        ingest.number(metric, NONE, point(1), false, &[]),
        Err(PointError::KindMismatch)
    );
    // A resource id is still good: the resource is there, checked by its creation number.
    let scope = ingest.scope(first, "", "", "", NONE).unwrap();
    let metric = ingest.metric(scope, "g", "", "", Kind::Gauge).unwrap();
    assert_eq!(
        ingest.number(metric, NONE, point(7), false, &[]),
        Ok(Applied::Updated)
    );
    drop(ingest);
    // A resource id whose resource was collected meanwhile is not.
    let mut ingest = store.ingest();
    let lone = ingest.resource(service("lonely").as_slice(), "").unwrap();
    drop(ingest);
    store.expire(Instant::now());
    let mut ingest = store.ingest();
    assert_eq!(
        ingest.scope(lone, "", "", "", NONE).err(),
        Some(AttrError::Gone)
    );
}

#[test]
fn concurrent_sessions_for_different_services_add_up() {
    let store = Arc::new(Store::new(Options::default()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for round in 0..200 {
                    let svc = format!("svc-{t}");
                    let v = format!("{}", round % 50);
                    gauge(&store, &svc, &v, i64::from(round)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.series_count(), 200);
    assert_eq!(store.sizes().series, 200);
    assert_eq!(store.stats().accepted_points.load(Ordering::Relaxed), 800);
    let page = render(&store.snapshot(&Filter::default()), Format::Text);
    for t in 0..4 {
        // The last round writing v=49 is round 199.
        let line = format!(r#"g{{job="svc-{t}",k="49"}} 199"#);
        assert!(page.contains(&line), "{line} in\n{page}");
    }
}
