//! Names and attributes chosen to collide or to break a page: names that sanitize to nothing,
//! `target_info`, `coll.x` vs `coll_x`, resources without `service.name`, attribute keys that
//! collide after sanitizing or repeat, type squatting, deleting by the no-recorded-value flag,
//! huge and numerous attributes, characters that need escaping, and the series limit.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{DataPointFlags, Metric};
use vigil_store::testing::{
    gauge, histogram, histogram_point, int_point, kv, request_from, request_with, resource_metrics,
    sum,
};

use crate::MAX_SERIES_PER_METRIC;
use crate::case::{Case, Expect, Send};

fn one(name: &str, attrs: Vec<KeyValue>) -> Send {
    Send::proto(&request_with(vec![gauge(name, vec![int_point(1, attrs)])]))
}

fn refused(message: &'static str, reason: &'static str) -> Expect {
    Expect::Partial {
        rejected: 1,
        message,
        reason,
    }
}

fn with(metric: Metric, f: impl FnOnce(&mut Metric)) -> Metric {
    let mut metric = metric;
    f(&mut metric);
    metric
}

/// A point with the no-recorded-value flag: it deletes the series of `attrs`.
fn deleted_point(attrs: Vec<KeyValue>) -> opentelemetry_proto::tonic::metrics::v1::NumberDataPoint {
    let mut p = int_point(0, attrs);
    p.flags = DataPointFlags::NoRecordedValueMask as u32;
    p
}

/// Deletes the series `name{key=value}` with the no-recorded-value flag.
fn forget(name: &str, key: &str, value: &str) -> Send {
    Send::proto(&request_with(vec![gauge(
        name,
        vec![deleted_point(vec![kv(key, value)])],
    )]))
}

pub(crate) fn cases() -> Vec<Case> {
    let anonymous = |host: &str| {
        resource_metrics(
            vec![kv("host.name", host)],
            vec![gauge("anon.g", vec![int_point(1, vec![])])],
        )
    };
    let mut deleted = int_point(0, vec![kv("k", "v")]);
    deleted.flags = DataPointFlags::NoRecordedValueMask as u32;
    let many_attrs: Vec<KeyValue> = (0..10_000)
        .map(|i| kv(&format!("a{i:05}"), i as i64))
        .collect();
    // The limit's worth of series, as many cumulative sources folded into the overflow series,
    // and two more sources than it follows.
    let limit_points = (0..2 * MAX_SERIES_PER_METRIC + 2)
        .map(|i| int_point(1, vec![kv("k", i as i64)]))
        .collect();
    vec![
        Case::new("metric name é sanitizes to nothing", one("é", vec![]), refused("the name has no letter or digit", "name"))
            .lacks(&["\n_total", "\n_ "]),
        Case::new("metric name . sanitizes to nothing", one(".", vec![]), refused("metric \".\": the name has no letter or digit", "name")),
        Case::new("metric name of spaces", one("   ", vec![]), refused("the name has no letter or digit", "name")),
        Case::new("a user metric named target_info", one("target_info", vec![]), refused("target_info is reserved for the resources' own series", "name")),
        Case::new("a user metric named target.info", one("target.info", vec![]), refused("target_info is reserved", "name")),
        Case::new("coll_x after coll.x", one("coll_x", vec![]), refused("metric \"coll_x\": its Prometheus name \"coll_x\" is already given by metric \"coll.x\"", "name"))
            .after(vec![one("coll.x", vec![])])
            .has(&[r#"coll_x{job="test",otel_scope_name="test"} 1"#]),
        // Each gets an instance of its own (a hash of its attributes), so neither hides the other.
        Case::new("two resources without service.name", Send::proto(&request_from(vec![anonymous("a"), anonymous("b")])), Expect::Accepted)
            .has(&[r#"anon_g{instance="resource~1f4a12fcedb5bbb0",otel_scope_name="test"} 1"#, r#"anon_g{instance="resource~03b631e649febc8d",otel_scope_name="test"} 1"#]),
        // The specification's rule: values of keys that sanitize alike are joined with `;`.
        Case::new("attribute keys a.b and a_b in one point", one("attr.same_point", vec![kv("a.b", "dot"), kv("a_b", "underscore")]), Expect::Accepted)
            .has(&[r#"attr_same_point{job="test",a_b="dot;underscore",otel_scope_name="test"} 1"#]),
        Case::new("attribute keys a.b and a_b across series", one("attr.across", vec![kv("a_b", "underscore")]), Expect::Accepted)
            .after(vec![one("attr.across", vec![kv("a.b", "dot")])])
            .has(&[r#"attr_across{job="test",a_b="dot",otel_scope_name="test"} 1"#, r#"attr_across{job="test",a_b="underscore",otel_scope_name="test"} 1"#]),
        // The second of two attribute sets that render the same labels is refused; the first
        // keeps its line (before, both were kept and the line appeared twice).
        Case::new("attribute keys a.b and a_b with one value across series", one("attr.across_same", vec![kv("a_b", "same")]), Expect::Partial { rejected: 1, message: "metric \"attr.across_same\": the data point's attributes give the same Prometheus labels as another series of its metric", reason: "point" })
            .after(vec![one("attr.across_same", vec![kv("a.b", "same")])])
            .has(&[r#"attr_across_same{job="test",a_b="same",otel_scope_name="test"} 1"#])
            .cleanup(vec![forget("attr.across_same", "a.b", "same"), forget("attr.across_same", "a_b", "same")]),
        Case::new("attribute key repeated", one("attr.dup", vec![kv("k", "1"), kv("k", "2")]), refused("data point attributes repeat a key", "point"))
            .lacks(&["attr_dup{"]),
        Case::new("attribute key é sanitizes to nothing", one("attr.nothing", vec![kv("é", "v")]), Expect::Accepted)
            .has(&[r#"attr_nothing{job="test",key_="v",otel_scope_name="test"} 1"#]),
        // Labels starting with `__` are Prometheus' own: the key gets the `key` prefix.
        Case::new("attribute key __name__", one("attr.dunder", vec![kv("__name__", "evil")]), Expect::Accepted)
            .has(&[r#"attr_dunder{job="test",key_name_="evil",otel_scope_name="test"} 1"#]),
        // A point's `job` joins the resource's, as keys that collide do.
        Case::new("attribute key job", one("attr.job", vec![kv("job", "impostor")]), Expect::Accepted)
            .has(&[r#"attr_job{job="test;impostor",otel_scope_name="test"} 1"#]),
        Case::new("attribute value of 256 KiB", one("attr.huge", vec![kv("v", "y".repeat(256 * 1024).as_str())]), Expect::Accepted),
        // promtool takes about 13 s over this series' line, so it leaves once checked.
        Case::new("10,000 attributes on one point", one("attr.many", many_attrs.clone()), Expect::Accepted)
            .cleanup(vec![Send::proto(&request_with(vec![gauge("attr.many", vec![deleted_point(many_attrs)])]))]),
        Case::new("quotes, backslashes and newlines in a value", one("attr.escape", vec![kv("v", "a\"b\\c\nd}e ")]), Expect::Accepted)
            .has(&[r#"attr_escape{job="test",v="a\"b\\c\nd}e ",otel_scope_name="test"} 1"#]),
        Case::new("a metric name of 64 KiB", one(&"n".repeat(64 * 1024), vec![]), Expect::Accepted),
        Case::new("a description with newlines and backslashes", Send::proto(&request_with(vec![with(gauge("desc.nl", vec![int_point(1, vec![])]), |m| m.description = "line\nnext \\ end".into())])), Expect::Accepted)
            .has(&[r"# HELP desc_nl line\nnext \\ end"]),
        Case::new("a unit of symbols", Send::proto(&request_with(vec![with(gauge("unit.odd", vec![int_point(1, vec![])]), |m| m.unit = "{é}/%/\"".into())])), Expect::Accepted),
        Case::new("squatting a gauge's name with a histogram", Send::proto(&request_with(vec![histogram("squat", vec![histogram_point(&[1.0], &[1, 0], 0.5, vec![])])])), refused("metric family \"squat\" already has type gauge, refusing histogram points", "type_conflict"))
            .after(vec![one("squat", vec![])])
            .has(&[r#"squat{job="test",otel_scope_name="test"} 1"#]),
        Case::new("the no-recorded-value flag deletes a series", Send::proto(&request_with(vec![gauge("flag.victim", vec![deleted])])), Expect::Accepted)
            .after(vec![one("flag.victim", vec![kv("k", "v")])])
            .lacks(&["flag_victim{"]),
        Case::new("series past max_series_per_metric fold into the overflow series", Send::grpc(&request_with(vec![sum("limit.c", limit_points)])), Expect::Partial { rejected: 2, message: "the metric already holds its limit of 5 series for this resource, and its overflow series already follows as many cumulative sources", reason: "series_limit" })
            .has(&[r#"limit_c_total{job="test",otel_metric_overflow="true",otel_scope_name="test"} 5"#]),
    ]
}
