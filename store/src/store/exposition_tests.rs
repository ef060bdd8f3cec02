//! The store and its exposition: what the store asks, when, and that a refusal is the
//! exposition's, not the store's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{
    AttrValue, Exposition, Filter, Kind, LabelFrame, LabelText, Named, NewMetric, Number,
    NumberPoint, Options, OwnedAttrs, Refusal, ResourceInfo, ScopeInfo, Store,
};
use crate::translate;

type Attrs<'a> = [(&'a str, AttrValue<'a>)];

/// An exposition that refuses nothing, labels a series with its attributes as they are, and
/// counts what the store asks of it.
#[derive(Default)]
struct Plain {
    metrics_open: AtomicUsize,
    resources_open: AtomicUsize,
    texts: AtomicUsize,
}

impl Exposition for Plain {
    fn open_metric(&self, metric: NewMetric<'_>) -> Result<Named, Refusal> {
        self.metrics_open.fetch_add(1, Ordering::Relaxed);
        Ok(Named {
            name: translate::metric_name(metric.name, metric.unit, metric.kind),
            claim: Box::new([]),
        })
    }

    fn close_metric(&self, _claim: &[Box<str>]) {
        self.metrics_open.fetch_sub(1, Ordering::Relaxed);
    }

    fn open_resource(&self, attrs: OwnedAttrs, schema_url: &str) -> ResourceInfo {
        self.resources_open.fetch_add(1, Ordering::Relaxed);
        ResourceInfo {
            attrs,
            schema_url: schema_url.into(),
            job: None,
            instance: None,
            target_info_labels: None,
        }
    }

    fn close_resource(&self, _info: &ResourceInfo) {
        self.resources_open.fetch_sub(1, Ordering::Relaxed);
    }

    fn series_text(
        &self,
        _resource: Option<&ResourceInfo>,
        _scope: Option<&ScopeInfo>,
        attrs: &OwnedAttrs,
        _frame: &mut Option<Arc<LabelFrame>>,
    ) -> LabelText {
        self.texts.fetch_add(1, Ordering::Relaxed);
        let text: Vec<String> = attrs
            .label_pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        LabelText::whole(text.join(",").into_boxed_str())
    }

    fn may_clash(&self, _key: &str, _value: AttrValue<'_>) -> bool {
        false
    }

    fn families(&self) -> usize {
        7
    }
}

/// One gauge point of metric `name` with `attrs`; the store's answer.
fn gauge(store: &Store, now: Instant, name: &str, attrs: &Attrs<'_>) -> Result<(), String> {
    let mut ingest = store.ingest_at(now);
    let service = [("service.name", AttrValue::Str("svc"))];
    let r = ingest
        .resource(&service[..], "")
        .map_err(|e| format!("{e:?}"))?;
    let none: &Attrs<'_> = &[];
    let s = ingest
        .scope(r, "", "", "", none)
        .map_err(|e| format!("{e:?}"))?;
    let m = ingest
        .metric(s, name, "", "", Kind::Gauge)
        .map_err(|e| format!("{e:?}"))?;
    let point = NumberPoint {
        start: 0,
        time: 1_700_000_000_000_000_000,
        value: Number::Int(1),
    };
    ingest
        .number(m, attrs, point, false, &[])
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn what_prometheus_refuses_is_kept_by_a_store_with_another_exposition() {
    let now = Instant::now();
    let one: &Attrs<'_> = &[("a.b", AttrValue::Str("1"))];
    let two: &Attrs<'_> = &[("a_b", AttrValue::Str("1"))];

    // Prometheus: `coll_x` gives the name `coll.x` holds, and `a_b` the labels `a.b` has.
    let prometheus = Store::new(Options::default());
    assert_eq!(gauge(&prometheus, now, "coll.x", one), Ok(()));
    let collision = gauge(&prometheus, now, "coll_x", one).unwrap_err();
    assert!(collision.contains("coll.x"), "{collision}");
    let clash = gauge(&prometheus, now, "coll.x", two).unwrap_err();
    assert!(clash.contains("label"), "{clash}");
    assert_eq!(prometheus.series_count(), 1);

    // Another exposition: the same points are all kept, with its names and texts.
    let plain = Arc::new(Plain::default());
    let store = Store::with_exposition(Options::default(), plain.clone());
    for (name, attrs) in [("coll.x", one), ("coll_x", one), ("coll.x", two)] {
        assert_eq!(gauge(&store, now, name, attrs), Ok(()), "{name}");
    }
    let snap = store.snapshot(&Filter::default());
    let mut got: Vec<(String, String)> = snap
        .metrics
        .iter()
        .flat_map(|m| {
            snap.series[m.series.clone()]
                .iter()
                .map(|s| (m.desc.name.to_string(), s.meta.label_text().into_owned()))
        })
        .collect();
    got.sort();
    let want = [
        ("coll.x", "a.b=1"),
        ("coll.x", "a_b=1"),
        ("coll_x", "a.b=1"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(store.sizes().families, 7);
    assert_eq!(plain.metrics_open.load(Ordering::Relaxed), 2);
    assert_eq!(plain.resources_open.load(Ordering::Relaxed), 1);
    assert_eq!(plain.texts.load(Ordering::Relaxed), 3);

    // Expiry gives back every metric and resource the exposition named.
    assert_eq!(store.expire(now + Duration::from_secs(301)), 3);
    assert_eq!(plain.metrics_open.load(Ordering::Relaxed), 0);
    assert_eq!(plain.resources_open.load(Ordering::Relaxed), 0);
}

#[test]
fn a_metric_the_exposition_refuses_is_refused_to_the_sender() {
    let store = Store::new(Options::default());
    let none: &Attrs<'_> = &[];
    let got = gauge(&store, Instant::now(), "target_info", none).unwrap_err();
    assert!(got.contains("target_info"), "{got}");
    assert_eq!(store.series_count(), 0);
}
/// A series' attributes and label text, with the `Arc` counts around them, fit one 64-byte
/// heap block (glibc: 56 bytes of data); one more word would put every series in an 80-byte
/// block.
#[test]
fn series_meta_fits_a_64_byte_block() {
    assert_eq!(std::mem::size_of::<LabelText>(), 24);
    assert_eq!(std::mem::size_of::<super::SeriesMeta>() + 16, 56);
}
