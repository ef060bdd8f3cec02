//! The OTLP messages [`super::scan`] reads: for each, the wire type of every field it knows.
//!
//! Field numbers and types are those of `opentelemetry-proto` 0.33's generated code (OTLP
//! 1.7), written next to their names so they can be checked against the `.proto` files. A
//! field added upstream and missing here is skipped as an unknown field, as an older prost
//! build would skip it.

/// One message type: its name (for errors), its role in counting, and the type of each field
/// number it knows (`fields[n]` for field `n`; every other number is an unknown field).
pub(super) struct Schema {
    pub(super) name: &'static str,
    pub(super) role: Role,
    fields: [Wire; FIELDS],
}

/// One more than the highest field number of any OTLP message read here (`Span.flags`, 16).
const FIELDS: usize = 17;

impl Schema {
    #[inline]
    pub(super) fn wire(&self, field: u32) -> Wire {
        let index = usize::try_from(field).unwrap_or(usize::MAX);
        self.fields.get(index).copied().unwrap_or(Wire::Unknown)
    }
}

/// How a message on the path to the items counts them.
#[derive(Clone, Copy)]
pub(super) enum Role {
    /// Sums the items of its [`Wire::Path`] fields: requests, resources, scopes, and the
    /// `Gauge`, `Sum`, ... messages holding data points.
    Container,
    /// A `Metric`: its items are those of its `data` oneof, as prost would decode it.
    Metric,
    /// An item (data point, span, log record): counts 1. Messages off the path to the items
    /// have this role too, and are never counted.
    Item,
}

/// How a known field is encoded.
#[derive(Clone, Copy)]
pub(super) enum Wire {
    Unknown,
    /// `int32`, `int64`, `uint32`, `uint64`, `sint32`, `bool`, enums.
    Varint,
    /// `fixed64`, `sfixed64`, `double`.
    I64,
    /// `fixed32`.
    I32,
    /// `bytes`.
    Bytes,
    /// `string`: UTF-8.
    Str,
    /// A message, validated whole.
    Msg(&'static Schema),
    /// A message on the path to the items, handed to the walk's caller.
    Path(&'static Schema),
    /// `repeated fixed64` / `repeated double`: one I64 value or packed.
    PackedI64,
    /// `repeated uint64`: one varint or packed.
    PackedVarint,
}

impl Wire {
    pub(super) fn name(self) -> &'static str {
        match self {
            Wire::Varint => "VARINT",
            Wire::I64 => "I64",
            Wire::I32 => "I32",
            Wire::PackedI64 => "I64 or packed LEN",
            Wire::PackedVarint => "VARINT or packed LEN",
            Wire::Unknown | Wire::Bytes | Wire::Str | Wire::Msg(_) | Wire::Path(_) => "LEN",
        }
    }
}

/// `schema! { STATIC "Name" Role { number name: Wire, ... } }` defines one message type. The
/// field names are not used: they are there to be checked against the `.proto` files.
macro_rules! schema {
    ($($static:ident $name:literal $role:ident { $($number:literal $field:ident: $wire:expr),* $(,)? })*) => {
        $(
            pub(super) static $static: Schema = Schema {
                name: $name,
                role: Role::$role,
                fields: {
                    let mut fields = [Wire::Unknown; FIELDS];
                    $(fields[$number] = $wire;)*
                    fields
                },
            };
        )*
    };
}

use Wire::{Bytes, I32, I64, Msg, PackedI64, PackedVarint, Path, Str, Varint};

// opentelemetry/proto/common/v1/common.proto, resource/v1/resource.proto
schema! {
    ANY_VALUE "AnyValue" Item {
        1 string_value: Str, 2 bool_value: Varint, 3 int_value: Varint, 4 double_value: I64,
        5 array_value: Msg(&ARRAY_VALUE), 6 kvlist_value: Msg(&KEY_VALUE_LIST),
        7 bytes_value: Bytes, 8 string_value_strindex: Varint,
    }
    ARRAY_VALUE "ArrayValue" Item { 1 values: Msg(&ANY_VALUE) }
    KEY_VALUE_LIST "KeyValueList" Item { 1 values: Msg(&KEY_VALUE) }
    KEY_VALUE "KeyValue" Item { 1 key: Str, 2 value: Msg(&ANY_VALUE), 3 key_strindex: Varint }
    SCOPE "InstrumentationScope" Item {
        1 name: Str, 2 version: Str, 3 attributes: Msg(&KEY_VALUE),
        4 dropped_attributes_count: Varint,
    }
    ENTITY_REF "EntityRef" Item { 1 schema_url: Str, 2 type: Str, 3 id_keys: Str, 4 description_keys: Str }
    RESOURCE "Resource" Item {
        1 attributes: Msg(&KEY_VALUE), 2 dropped_attributes_count: Varint,
        3 entity_refs: Msg(&ENTITY_REF),
    }
}

// opentelemetry/proto/collector/metrics/v1/metrics_service.proto, metrics/v1/metrics.proto
schema! {
    METRICS_REQUEST "ExportMetricsServiceRequest" Container { 1 resource_metrics: Path(&RESOURCE_METRICS) }
    RESOURCE_METRICS "ResourceMetrics" Container {
        1 resource: Msg(&RESOURCE), 2 scope_metrics: Path(&SCOPE_METRICS), 3 schema_url: Str,
    }
    SCOPE_METRICS "ScopeMetrics" Container {
        1 scope: Msg(&SCOPE), 2 metrics: Path(&METRIC), 3 schema_url: Str,
    }
    METRIC "Metric" Metric {
        1 name: Str, 2 description: Str, 3 unit: Str, 5 gauge: Path(&GAUGE), 7 sum: Path(&SUM),
        9 histogram: Path(&HISTOGRAM), 10 exponential_histogram: Path(&EXPONENTIAL_HISTOGRAM),
        11 summary: Path(&SUMMARY), 12 metadata: Msg(&KEY_VALUE),
    }
    GAUGE "Gauge" Container { 1 data_points: Path(&NUMBER_POINT) }
    SUM "Sum" Container {
        1 data_points: Path(&NUMBER_POINT), 2 aggregation_temporality: Varint, 3 is_monotonic: Varint,
    }
    HISTOGRAM "Histogram" Container {
        1 data_points: Path(&HISTOGRAM_POINT), 2 aggregation_temporality: Varint,
    }
    EXPONENTIAL_HISTOGRAM "ExponentialHistogram" Container {
        1 data_points: Path(&EXPONENTIAL_POINT), 2 aggregation_temporality: Varint,
    }
    SUMMARY "Summary" Container { 1 data_points: Path(&SUMMARY_POINT) }
    NUMBER_POINT "NumberDataPoint" Item {
        7 attributes: Msg(&KEY_VALUE), 2 start_time_unix_nano: I64, 3 time_unix_nano: I64,
        4 as_double: I64, 6 as_int: I64, 5 exemplars: Msg(&EXEMPLAR), 8 flags: Varint,
    }
    HISTOGRAM_POINT "HistogramDataPoint" Item {
        9 attributes: Msg(&KEY_VALUE), 2 start_time_unix_nano: I64, 3 time_unix_nano: I64,
        4 count: I64, 5 sum: I64, 6 bucket_counts: PackedI64, 7 explicit_bounds: PackedI64,
        8 exemplars: Msg(&EXEMPLAR), 10 flags: Varint, 11 min: I64, 12 max: I64,
    }
    EXPONENTIAL_POINT "ExponentialHistogramDataPoint" Item {
        1 attributes: Msg(&KEY_VALUE), 2 start_time_unix_nano: I64, 3 time_unix_nano: I64,
        4 count: I64, 5 sum: I64, 6 scale: Varint, 7 zero_count: I64, 8 positive: Msg(&BUCKETS),
        9 negative: Msg(&BUCKETS), 10 flags: Varint, 11 exemplars: Msg(&EXEMPLAR), 12 min: I64,
        13 max: I64, 14 zero_threshold: I64,
    }
    BUCKETS "Buckets" Item { 1 offset: Varint, 2 bucket_counts: PackedVarint }
    SUMMARY_POINT "SummaryDataPoint" Item {
        7 attributes: Msg(&KEY_VALUE), 2 start_time_unix_nano: I64, 3 time_unix_nano: I64,
        4 count: I64, 5 sum: I64, 6 quantile_values: Msg(&QUANTILE), 8 flags: Varint,
    }
    QUANTILE "ValueAtQuantile" Item { 1 quantile: I64, 2 value: I64 }
    EXEMPLAR "Exemplar" Item {
        7 filtered_attributes: Msg(&KEY_VALUE), 2 time_unix_nano: I64, 3 as_double: I64,
        6 as_int: I64, 4 span_id: Bytes, 5 trace_id: Bytes,
    }
}

// opentelemetry/proto/collector/trace/v1/trace_service.proto, trace/v1/trace.proto
schema! {
    TRACES_REQUEST "ExportTraceServiceRequest" Container { 1 resource_spans: Path(&RESOURCE_SPANS) }
    RESOURCE_SPANS "ResourceSpans" Container {
        1 resource: Msg(&RESOURCE), 2 scope_spans: Path(&SCOPE_SPANS), 3 schema_url: Str,
    }
    SCOPE_SPANS "ScopeSpans" Container { 1 scope: Msg(&SCOPE), 2 spans: Path(&SPAN), 3 schema_url: Str }
    SPAN "Span" Item {
        1 trace_id: Bytes, 2 span_id: Bytes, 3 trace_state: Str, 4 parent_span_id: Bytes,
        16 flags: I32, 5 name: Str, 6 kind: Varint, 7 start_time_unix_nano: I64,
        8 end_time_unix_nano: I64, 9 attributes: Msg(&KEY_VALUE), 10 dropped_attributes_count: Varint,
        11 events: Msg(&EVENT), 12 dropped_events_count: Varint, 13 links: Msg(&LINK),
        14 dropped_links_count: Varint, 15 status: Msg(&STATUS),
    }
    EVENT "Span.Event" Item {
        1 time_unix_nano: I64, 2 name: Str, 3 attributes: Msg(&KEY_VALUE),
        4 dropped_attributes_count: Varint,
    }
    LINK "Span.Link" Item {
        1 trace_id: Bytes, 2 span_id: Bytes, 3 trace_state: Str, 4 attributes: Msg(&KEY_VALUE),
        5 dropped_attributes_count: Varint, 6 flags: I32,
    }
    STATUS "Status" Item { 2 message: Str, 3 code: Varint }
}

// opentelemetry/proto/collector/logs/v1/logs_service.proto, logs/v1/logs.proto
schema! {
    LOGS_REQUEST "ExportLogsServiceRequest" Container { 1 resource_logs: Path(&RESOURCE_LOGS) }
    RESOURCE_LOGS "ResourceLogs" Container {
        1 resource: Msg(&RESOURCE), 2 scope_logs: Path(&SCOPE_LOGS), 3 schema_url: Str,
    }
    SCOPE_LOGS "ScopeLogs" Container {
        1 scope: Msg(&SCOPE), 2 log_records: Path(&LOG_RECORD), 3 schema_url: Str,
    }
    LOG_RECORD "LogRecord" Item {
        1 time_unix_nano: I64, 11 observed_time_unix_nano: I64, 2 severity_number: Varint,
        3 severity_text: Str, 5 body: Msg(&ANY_VALUE), 6 attributes: Msg(&KEY_VALUE),
        7 dropped_attributes_count: Varint, 8 flags: I32, 9 trace_id: Bytes, 10 span_id: Bytes,
        12 event_name: Str,
    }
}
