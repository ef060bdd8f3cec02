//! Cost per call of Vigil's instruments against the raw `opentelemetry_sdk`
//! counter and histogram with the same attributes, bound and unbound.
//!
//! Run: `cargo bench -p vigil --bench instruments`. Every case records into a
//! real `SdkMeterProvider` with a (never-firing) periodic reader, as in a
//! service; attribute sets are the same 3 (or 4) keys everywhere.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use vigil::labels::{BoundCounters, BoundHistograms};
use vigil::lifecycle::{Lifecycle, Outcome};

vigil::label! {
    enum Op = "operation" { Spawn = "spawn", Activate = "activate", Drain = "drain", Retire = "retire" }
}
vigil::label! {
    enum State = "state" { Idle = "idle", Active = "active" }
}
vigil::label! {
    enum GcOutcome = "outcome" { Acked = "acked", Expired = "expired", Error = "error" }
}
vigil::label! {
    enum Sweeper = "sweeper" { Uploads = "uploads", Runtimes = "runtimes" }
}

fn provider() -> SdkMeterProvider {
    let reader = PeriodicReader::builder(InMemoryMetricExporter::default())
        .with_interval(Duration::from_secs(3600))
        .build();
    SdkMeterProvider::builder()
        .with_reader(reader)
        .with_view(vigil::views::view)
        .build()
}

fn bench(c: &mut Criterion) {
    let provider = provider();
    let meter = provider.meter("bench");
    let attrs = [
        KeyValue::new("operation", "spawn"),
        KeyValue::new("outcome", "success"),
        KeyValue::new("origin", "pool"),
    ];
    let mut g = c.benchmark_group("counter_3_attributes");
    let raw = meter.u64_counter("raw.counter").build();
    g.bench_function("otel_unbound", |b| b.iter(|| raw.add(black_box(1), &attrs)));
    let bound = raw.bind(&attrs);
    g.bench_function("otel_bound", |b| b.iter(|| bound.add(black_box(1))));
    let typed: BoundCounters<(Sweeper, GcOutcome)> =
        BoundCounters::new(meter.u64_counter("typed.counter").build());
    g.bench_function("vigil_typed_label_set", |b| {
        b.iter(|| typed.add(black_box((Sweeper::Uploads, GcOutcome::Acked)), 1))
    });
    let lc: Lifecycle<Op, State> = Lifecycle::builder("worker")
        .with_meter(meter.clone())
        .with_namespace("bench")
        .build();
    let transition = lc.bind(Op::Spawn, "pool", ());
    g.bench_function("vigil_lifecycle_bound_transition", |b| {
        b.iter(|| transition.count(black_box(Outcome::Success)))
    });
    // `record` without a handle: a lookup in the lifecycle's bounded cache
    // of bound counters (origin string hash + read lock), then a bound add.
    g.bench_function("vigil_lifecycle_record_cached", |b| {
        b.iter(|| {
            lc.record(
                black_box(Op::Spawn),
                Outcome::Success,
                black_box("pool"),
                (),
                None,
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("histogram_1_attribute");
    let raw = meter.f64_histogram("raw.histogram").with_unit("s").build();
    let one = [KeyValue::new("operation", "spawn")];
    g.bench_function("otel_unbound", |b| {
        b.iter(|| raw.record(black_box(0.25), &one))
    });
    let bound = raw.bind(&one);
    g.bench_function("otel_bound", |b| b.iter(|| bound.record(black_box(0.25))));
    let typed: BoundHistograms<Op> = BoundHistograms::new(
        meter
            .f64_histogram("typed.histogram")
            .with_unit("s")
            .build(),
    );
    g.bench_function("vigil_typed_label_set", |b| {
        b.iter(|| typed.record(black_box(Op::Spawn), 0.25))
    });
    g.bench_function("vigil_lifecycle_duration", |b| {
        b.iter(|| lc.record_duration(black_box(Op::Spawn), 0.25))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
