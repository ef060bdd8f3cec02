//! The pipeline graph: fan-out, all-or-nothing admission, pass-through bytes, transforms.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use super::graph::{self, Target};
use super::memory_queue::MemoryQueue;
use super::{Batch, Entry, Queue, Refused, Signal, Work};
use crate::exporters::prometheus::tenants::Tenants;
use crate::processors::{filter, resource};
use crate::store::{Options, Store};
use crate::test_support::{int_point, kv, request_with, sum};

fn metrics_batch() -> Batch {
    let request = request_with(vec![sum(
        "jobs",
        vec![
            int_point(3, vec![kv("queue", "a")]),
            int_point(4, vec![kv("queue", "b")]),
        ],
    )]);
    Batch {
        signal: Signal::Metrics,
        body: Bytes::from(request.encode_to_vec()),
        items: 2,
        tenant: None,
    }
}

fn queue_target(id: &str, queue: &Arc<MemoryQueue>) -> Arc<Target> {
    Arc::new(Target::Queue {
        id: id.into(),
        queue: queue.clone(),
    })
}

#[tokio::test]
async fn every_exporter_gets_the_batch_and_queues_get_the_bytes_as_received() {
    let store = Arc::new(Store::new(Options::default()));
    let a = Arc::new(MemoryQueue::new(4));
    let b = Arc::new(MemoryQueue::new(4));
    let chain = graph::fanout(
        "metrics".into(),
        vec![
            Arc::new(Target::Store {
                id: "prometheus".into(),
                tenants: Arc::new(Tenants::single(store.clone())),
            }),
            queue_target("otlp/a", &a),
            queue_target("otlp/b", &b),
        ],
    );
    let batch = metrics_batch();
    let accepted = chain(Work::encoded(batch.clone())).await.unwrap();
    assert_eq!(accepted, graph::Accepted::default());
    assert_eq!(store.series_count(), 2);
    for q in [&a, &b] {
        let got = q.pop().await.unwrap();
        // The very bytes received, not a re-encoding.
        assert_eq!(got.batch.body.as_ptr(), batch.body.as_ptr());
        assert_eq!(got.batch, batch);
    }
}

#[tokio::test]
async fn a_full_queue_refuses_the_batch_without_leaving_a_copy_in_the_others() {
    let full = Arc::new(MemoryQueue::new(1));
    let permit = full.try_reserve().unwrap();
    full.push(permit, metrics_batch()).await.unwrap();
    let other = Arc::new(MemoryQueue::new(4));
    let chain = graph::fanout(
        "metrics".into(),
        vec![
            queue_target("otlp/other", &other),
            queue_target("otlp/full", &full),
        ],
    );
    let refused = chain(Work::encoded(metrics_batch())).await.unwrap_err();
    assert_eq!(
        refused,
        Refused {
            reason: "exporter otlp/full's sending queue is full (1 batches); pipeline metrics \
                     refuses the batch"
                .into(),
            retry_after: Some(graph::RETRY_AFTER_FULL),
            permanent: false,
        }
    );
    assert_eq!(other.len(), 0, "all or nothing");
    // Room again: the same batch is taken.
    let delivery = full.pop().await.unwrap();
    full.ack(delivery);
    chain(Work::encoded(metrics_batch())).await.unwrap();
    assert_eq!((other.len(), full.len()), (1, 1));
}

#[tokio::test]
async fn a_transform_changes_the_messages_and_the_batch_is_encoded_once() {
    let settings: resource::Config =
        serde_yaml::from_str("attributes: [{key: region, value: eu, action: upsert}]").unwrap();
    let queue = Arc::new(MemoryQueue::new(4));
    let stats = Arc::new(crate::processors::ProcessorStats::default());
    let chain = graph::transform(
        Arc::new(resource::Resource::new(settings.validate().unwrap())),
        stats.clone(),
        graph::fanout("metrics".into(), vec![queue_target("otlp", &queue)]),
    );
    chain(Work::encoded(metrics_batch())).await.unwrap();
    let got = queue.pop().await.unwrap().batch;
    assert_eq!(got.items, 2);
    assert_eq!(
        (
            stats.incoming(Signal::Metrics),
            stats.outgoing(Signal::Metrics)
        ),
        (2, 2)
    );
    let request =
        opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::decode(
            got.body,
        )
        .unwrap();
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    assert!(
        resource
            .attributes
            .iter()
            .any(|kv| kv.key == "region" && format!("{:?}", kv.value).contains("\"eu\"")),
        "{resource:?}"
    );
}

#[tokio::test]
async fn a_filter_that_drops_everything_acknowledges_and_exports_nothing() {
    let settings: filter::Config =
        serde_yaml::from_str("metrics: {exclude: {match_type: strict, metric_names: [jobs]}}")
            .unwrap();
    let queue = Arc::new(MemoryQueue::new(4));
    let stats = Arc::new(crate::processors::ProcessorStats::default());
    let chain = graph::transform(
        Arc::new(filter::Filter::new(settings.validate().unwrap())),
        stats.clone(),
        graph::fanout("metrics".into(), vec![queue_target("otlp", &queue)]),
    );
    chain(Work::encoded(metrics_batch())).await.unwrap();
    assert_eq!(queue.len(), 0);
    assert_eq!(
        (
            stats.incoming(Signal::Metrics),
            stats.outgoing(Signal::Metrics)
        ),
        (2, 0)
    );
}

#[tokio::test]
async fn an_entry_runs_every_pipeline_of_the_signal_and_only_those() {
    let metrics_a = Arc::new(MemoryQueue::new(4));
    let metrics_b = Arc::new(MemoryQueue::new(4));
    let mut entry = Entry::default();
    entry.add(
        Signal::Metrics,
        graph::fanout("metrics/a".into(), vec![queue_target("a", &metrics_a)]),
        false,
    );
    entry.add(
        Signal::Metrics,
        graph::fanout("metrics/b".into(), vec![queue_target("b", &metrics_b)]),
        false,
    );
    assert!(entry.handles(Signal::Metrics));
    assert!(!entry.handles(Signal::Traces));
    assert!(
        !entry.decodes(Signal::Metrics),
        "queues take bytes: scanning is enough"
    );
    entry.consume(Work::encoded(metrics_batch())).await.unwrap();
    assert_eq!((metrics_a.len(), metrics_b.len()), (1, 1));
}

#[tokio::test]
async fn malformed_bytes_reaching_a_store_are_refused_as_invalid() {
    let store = Arc::new(Store::new(Options::default()));
    let chain = graph::fanout(
        "metrics".into(),
        vec![Arc::new(Target::Store {
            id: "prometheus".into(),
            tenants: Arc::new(Tenants::single(store)),
        })],
    );
    let bad = Batch {
        signal: Signal::Metrics,
        body: Bytes::from_static(&[0x0a, 0x05, 0x01]),
        items: 1,
        tenant: None,
    };
    let refused = chain(Work::encoded(bad)).await.unwrap_err();
    assert!(refused.permanent, "{refused:?}");
    assert!(
        refused.reason.starts_with("malformed metrics request"),
        "{}",
        refused.reason
    );
}
