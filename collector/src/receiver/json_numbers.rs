//! Doubles written as strings in OTLP/JSON number points.
//!
//! The proto3 JSON mapping lets a `double` be a JSON number or a string (`"2.5"`, `"NaN"`,
//! `"Infinity"`, `"-Infinity"`), and senders that print every 64-bit field as a string do so
//! for `asDouble` too. opentelemetry-proto reads `NumberDataPoint.value` through a flattened
//! `Option`, so a string there decodes as a point without a value, which the store would refuse.
//! Such points are rare, so only when a decoded request has one is the body read a second time as
//! a JSON tree, and each value-less point given the double its `asDouble` string holds. A string
//! that is no double leaves the point without a value (refused and reported as before).

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, number_data_point};
use serde_json::Value;

/// Fill in the values of number points whose `asDouble` is a string, reading `body` again only
/// when `request` has a point without a value.
pub(super) fn fill_string_doubles(request: &mut ExportMetricsServiceRequest, body: &[u8]) {
    let missing = request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .filter_map(|m| points(m.data.as_ref()))
        .flatten()
        .any(|p| p.value.is_none());
    if !missing {
        return;
    }
    let Ok(tree) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    // serde reads arrays in order, so the n-th element of each decoded list is the n-th
    // element of the same JSON array.
    for (rm, rm_json) in request
        .resource_metrics
        .iter_mut()
        .zip(items(&tree, "resourceMetrics"))
    {
        for (sm, sm_json) in rm
            .scope_metrics
            .iter_mut()
            .zip(items(rm_json, "scopeMetrics"))
        {
            for (metric, metric_json) in sm.metrics.iter_mut().zip(items(sm_json, "metrics")) {
                let (list, key) = match &mut metric.data {
                    Some(Data::Gauge(g)) => (&mut g.data_points, "gauge"),
                    Some(Data::Sum(s)) => (&mut s.data_points, "sum"),
                    _ => continue,
                };
                let Some(data) = metric_json.get(key) else {
                    continue;
                };
                for (point, point_json) in list.iter_mut().zip(items(data, "dataPoints")) {
                    if point.value.is_none()
                        && let Some(v) = point_json
                            .get("asDouble")
                            .and_then(Value::as_str)
                            .and_then(double)
                    {
                        point.value = Some(number_data_point::Value::AsDouble(v));
                    }
                }
            }
        }
    }
}

fn points(data: Option<&Data>) -> Option<&[NumberDataPoint]> {
    match data? {
        Data::Gauge(g) => Some(&g.data_points),
        Data::Sum(s) => Some(&s.data_points),
        _ => None,
    }
}

fn items<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    match v.get(key) {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

/// A proto3 JSON double written as a string: a decimal or exponent number, `NaN`, `Infinity`
/// or `-Infinity` (Rust's `inf`, `infinity` and the like are not proto3 JSON and stay refused).
fn double(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ if s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: &str) -> (ExportMetricsServiceRequest, String) {
        let body = format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[
                {{"name":"a","gauge":{{"dataPoints":[{{"asInt":"3"}},{{"asDouble":{value}}}]}}}},
                {{"name":"b","sum":{{"aggregationTemporality":2,"dataPoints":[{{"asDouble":{value}}}]}}}}
            ]}}]}}]}}"#
        );
        let request = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (request, body)
    }

    fn values(request: &ExportMetricsServiceRequest) -> Vec<Option<String>> {
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        metrics
            .iter()
            .flat_map(|m| points(m.data.as_ref()).unwrap_or(&[]))
            .map(|p| p.value.map(|v| format!("{v:?}")))
            .collect()
    }

    #[test]
    fn string_doubles_are_read_as_doubles() {
        for (text, expected) in [
            (r#""2.5""#, "AsDouble(2.5)"),
            (r#""-1e3""#, "AsDouble(-1000.0)"),
            (r#""Infinity""#, "AsDouble(inf)"),
            (r#""-Infinity""#, "AsDouble(-inf)"),
            (r#""NaN""#, "AsDouble(NaN)"),
        ] {
            let (mut request, body) = request(text);
            fill_string_doubles(&mut request, body.as_bytes());
            let want = Some(expected.to_string());
            assert_eq!(
                values(&request),
                [Some("AsInt(3)".to_string()), want.clone(), want],
                "{text}"
            );
        }
    }

    #[test]
    fn strings_that_are_no_doubles_leave_the_point_without_a_value() {
        for text in [r#""2.5x""#, r#""inf""#, r#""""#, r#""0x10""#] {
            let (mut request, body) = request(text);
            fill_string_doubles(&mut request, body.as_bytes());
            assert_eq!(
                values(&request),
                [Some("AsInt(3)".to_string()), None, None],
                "{text}"
            );
        }
    }

    #[test]
    fn numbers_are_left_as_the_decoder_read_them() {
        let (mut request, body) = request("2.5");
        fill_string_doubles(&mut request, body.as_bytes());
        let d = Some("AsDouble(2.5)".to_string());
        assert_eq!(
            values(&request),
            [Some("AsInt(3)".to_string()), d.clone(), d]
        );
    }
}
