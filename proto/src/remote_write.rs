//! Prometheus remote-write messages: 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`), as prost types written from the protocol's field numbers
//! (<https://prometheus.io/docs/specs/prw/remote_write_spec/>,
//! <https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/>).
//!
//! Vigil's exporter encodes requests by hand on its hot path; these types decode them: in tests,
//! and when a receiver refuses 2.0 and queued 2.0 requests are rewritten as 1.0. Only the fields
//! either side uses are here; prost skips the others when decoding.

/// Remote-write 1.0.
pub mod v1 {
    /// The request: series with their samples, and optional metric metadata.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// Series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        /// Metadata per metric family.
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }

    /// One series: sorted labels (with `__name__`) and samples, oldest first.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Labels, sorted by name.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Samples.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// A label.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct Label {
        /// Name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// A float sample.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the Unix epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// Metadata of one metric family.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        /// Type: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gauge histogram, 5 summary,
        /// 6 info, 7 stateset.
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        /// The family name.
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        /// Help text.
        #[prost(string, tag = "4")]
        pub help: String,
        /// Unit.
        #[prost(string, tag = "5")]
        pub unit: String,
    }
}

/// Remote-write 2.0.
pub mod v2 {
    /// The request: a symbol table and series referring to it.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        /// Strings referred to by index; the first is `""`.
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        /// Series.
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// One series.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Label name and value symbol indices, pairwise, sorted by name.
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        /// Float samples, oldest first.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// Native histogram samples, oldest first.
        #[prost(message, repeated, tag = "3")]
        pub histograms: Vec<Histogram>,
        /// The series' metadata.
        #[prost(message, optional, tag = "5")]
        pub metadata: Option<Metadata>,
        /// When the counter started, milliseconds (0 = unknown).
        #[prost(int64, tag = "6")]
        pub created_timestamp: i64,
    }

    /// A float sample.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the Unix epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// A series' metadata.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metadata {
        /// Type: 0 unspecified, 1 counter, 2 gauge, 3 histogram, 4 gauge histogram,
        /// 5 summary, 6 info, 7 stateset.
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        /// Help text's symbol.
        #[prost(uint32, tag = "3")]
        pub help_ref: u32,
        /// Unit's symbol.
        #[prost(uint32, tag = "4")]
        pub unit_ref: u32,
    }

    /// A native histogram with integer counts.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        /// Observations.
        #[prost(uint64, tag = "1")]
        pub count_int: u64,
        /// Sum of observations.
        #[prost(double, tag = "3")]
        pub sum: f64,
        /// Bucket schema: -4..=8 (base 2^(2^-schema)).
        #[prost(sint32, tag = "4")]
        pub schema: i32,
        /// Width of the zero bucket.
        #[prost(double, tag = "5")]
        pub zero_threshold: f64,
        /// Observations in the zero bucket.
        #[prost(uint64, tag = "6")]
        pub zero_count_int: u64,
        /// Negative bucket spans.
        #[prost(message, repeated, tag = "8")]
        pub negative_spans: Vec<BucketSpan>,
        /// Negative bucket counts, each as the difference to the previous one.
        #[prost(sint64, repeated, tag = "9")]
        pub negative_deltas: Vec<i64>,
        /// Positive bucket spans.
        #[prost(message, repeated, tag = "11")]
        pub positive_spans: Vec<BucketSpan>,
        /// Positive bucket counts, each as the difference to the previous one.
        #[prost(sint64, repeated, tag = "12")]
        pub positive_deltas: Vec<i64>,
        /// 0 unknown, 1 yes, 2 no, 3 gauge.
        #[prost(int32, tag = "14")]
        pub reset_hint: i32,
        /// Milliseconds since the Unix epoch.
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
    }

    /// Consecutive buckets: `offset` from the end of the previous span (the first span's is
    /// the absolute index), `length` buckets.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        /// Gap to the previous span, or the first bucket's index.
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        /// Buckets in the span.
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }
}
