//! The Prometheus HTTP API's JSON answers (`/api/v1/query`,
//! `/api/v1/label/<name>/values`), which Prometheus and VictoriaMetrics share,
//! read into plain values.
//!
//! Only what the remote-write tests assert on: float samples of `vector` and
//! `scalar` results. A native-histogram sample is an error that says which
//! functions to query instead; `matrix` and `string` results are errors too.
//! See <https://prometheus.io/docs/prometheus/latest/querying/api/>.

use std::collections::BTreeMap;

use serde_json::Value;

/// One sample of an instant query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    /// The series' labels, `__name__` included when the result keeps it
    /// (a selector does; most functions drop it). Empty for a scalar.
    pub labels: BTreeMap<String, String>,
    /// The value, parsed from the API's string (`"NaN"`, `"+Inf"` too).
    pub value: f64,
}

impl QuerySample {
    /// A sample with these labels, for `assert_eq!` against a result.
    pub fn new(labels: &[(&str, &str)], value: f64) -> QuerySample {
        QuerySample {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        }
    }

    /// The `__name__` label, if the result kept it.
    pub fn name(&self) -> Option<&str> {
        self.labels.get("__name__").map(String::as_str)
    }
}

/// Reads an `/api/v1/query` answer: `{"status":"success","data":
/// {"resultType":"vector"|"scalar","result":...}}`. The samples come in the
/// server's order.
pub(super) fn parse_query(body: &str) -> Result<Vec<QuerySample>, String> {
    let data = success_data(body)?;
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => result
            .as_array()
            .ok_or("`result` of a vector is not an array")?
            .iter()
            .map(vector_sample)
            .collect(),
        Some("scalar") => Ok(vec![QuerySample {
            labels: BTreeMap::new(),
            value: point_value(result)?,
        }]),
        other => Err(format!(
            "result type {other:?}: only instant `vector` and `scalar` results are read"
        )),
    }
}

/// Reads an `/api/v1/label/<name>/values` answer: `data` is an array of
/// strings.
pub(super) fn parse_label_values(body: &str) -> Result<Vec<String>, String> {
    success_data(body)?
        .as_array()
        .ok_or("`data` is not an array")?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or(format!("label value {v} is not a string"))
        })
        .collect()
}

/// The `data` member of a `"status":"success"` answer.
fn success_data(body: &str) -> Result<Value, String> {
    let mut json: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if json["status"] != "success" {
        return Err(format!(
            "status {}: {} {}",
            json["status"], json["errorType"], json["error"]
        ));
    }
    Ok(json["data"].take())
}

/// `{"metric":{...},"value":[ts,"v"]}`.
fn vector_sample(item: &Value) -> Result<QuerySample, String> {
    if item.get("histogram").is_some() {
        return Err(format!(
            "{item} is a native histogram sample: query histogram_count(...), \
             histogram_sum(...) or histogram_fraction(...) for floats"
        ));
    }
    let labels = item["metric"]
        .as_object()
        .ok_or(format!("{item} has no `metric` object"))?
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_owned())),
            None => Err(format!("label {k}={v} is not a string")),
        })
        .collect::<Result<_, String>>()?;
    Ok(QuerySample {
        labels,
        value: point_value(&item["value"])?,
    })
}

/// `[1700000000.123, "42"]` → 42.0. Rust's float parser reads the API's
/// `NaN`, `+Inf` and `-Inf`.
fn point_value(point: &Value) -> Result<f64, String> {
    let text = point[1]
        .as_str()
        .ok_or(format!("{point} is not a [time, \"value\"] pair"))?;
    text.parse::<f64>()
        .map_err(|e| format!("value {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vector_with_labels_and_special_values() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"a"},"value":[1700000000.5,"1"]},
            {"metric":{"job":"b"},"value":[1700000000.5,"+Inf"]}]}}"#;
        let got = parse_query(body).expect("parses");
        assert_eq!(
            got,
            vec![
                QuerySample::new(&[("__name__", "up"), ("job", "a")], 1.0),
                QuerySample::new(&[("job", "b")], f64::INFINITY),
            ]
        );
        assert_eq!(got[0].name(), Some("up"));
    }

    #[test]
    fn reads_a_scalar_as_one_unlabelled_sample() {
        let body = r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"-2.25"]}}"#;
        assert_eq!(parse_query(body), Ok(vec![QuerySample::new(&[], -2.25)]));
    }

    #[test]
    fn refuses_errors_histograms_and_matrices() {
        let error = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(
            parse_query(error),
            Err(r#"status "error": "bad_data" "parse error""#.to_owned())
        );
        let histogram = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"histogram":[1,{"count":"1","sum":"2"}]}]}}"#;
        assert_eq!(
            parse_query(histogram),
            Err(concat!(
                r#"{"histogram":[1,{"count":"1","sum":"2"}],"metric":{}} is a native "#,
                "histogram sample: query histogram_count(...), histogram_sum(...) or ",
                "histogram_fraction(...) for floats"
            )
            .to_owned())
        );
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(
            parse_query(matrix),
            Err(r#"result type Some("matrix"): only instant `vector` and `scalar` results are read"#
                .to_owned())
        );
    }

    #[test]
    fn reads_label_values() {
        let body = r#"{"status":"success","data":["b","a"]}"#;
        assert_eq!(
            parse_label_values(body),
            Ok(vec!["b".to_owned(), "a".to_owned()])
        );
    }
}
