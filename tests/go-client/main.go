// Command go-client is a test peer for Vigil: a program written with the
// OpenTelemetry Go SDK (go.opentelemetry.io/otel/sdk v1.47.0 and its OTLP
// exporters) that sends a fixed, documented set of metrics, spans and log
// records over OTLP, then prints what it sent as one JSON line.
//
// It exists so that Vigil's end-to-end tests exercise a client nobody here
// wrote, in the language of the systems Vigil replaces. Nothing in it is
// random or time-dependent except timestamps and trace/span ids, so a Rust
// test can compare the summary with what a receiver got, point by point.
//
// Usage:
//
//	go-client -protocol grpc|http -endpoint HOST:PORT [-service NAME]
//	          [-signals metrics,traces,logs] [-n 3] [-timeout 10s]
//	go-client -version
//
// Transport is plaintext (insecure). HTTP uses the default paths
// /v1/metrics, /v1/traces and /v1/logs with protobuf bodies.
//
// What it sends (instrumentation scope "vigil.go-client" version "1.0.0";
// resource: service.name = -service plus the SDK's telemetry.sdk.*):
//
//	metrics (cumulative, one export at shutdown):
//	  go.client.requests     Int64Counter, unit {request}
//	    route="/a": Add(3), Add(4)            -> 7
//	    route="/b": Add(5)                    -> 5
//	  go.client.duration     Float64Histogram, unit s, bounds [0.1 0.5 1 5]
//	    route="/a": 0.05 0.2 0.3 0.7 2 10     -> count 6, buckets [1 2 1 1 1]
//	    route="/b": 0.4                       -> count 1, buckets [0 1 0 0 0]
//	  go.client.queue.depth  Int64Gauge, unit {item}
//	    queue="main": Record(3), Record(9)    -> 9
//	spans: n root spans go-span-<i> (i = 0..n-1), kind internal, attributes
//	  span.index=<i> (int), span.parity="even"|"odd"
//	logs: n records, body go-log-<i>, attributes log.index=<i> (int),
//	  severity INFO (9) for even i, WARN (13) for odd i
//
// Metrics are exported exactly once: the MeterProvider's Shutdown collects
// and exports the cumulative state. (ForceFlush followed by Shutdown would
// export the same cumulative points twice.) The span and log providers are
// force-flushed, then shut down.
//
// Exit status: 0 only when every export succeeded; otherwise 1 with the
// errors on stderr (and nothing on stdout). 2 for bad flags.
//
// On success stdout holds exactly one JSON line:
//
//	{"service":..,"protocol":..,"endpoint":..,
//	 "resource":{"service.name":..,"telemetry.sdk.language":"go",..},
//	 "scope":{"name":"vigil.go-client","version":"1.0.0"},
//	 "metrics":[{"metric":..,"kind":"sum"|"gauge"|"histogram","unit":..,
//	             "monotonic":true,"temporality":"cumulative",
//	             "attributes":{..},"as_int":N | "histogram":{"count":..,
//	             "sum":..,"min":..,"max":..,"bounds":[..],"bucket_counts":[..]}}],
//	 "spans":[{"name":..,"kind":1,"trace_id":HEX,"span_id":HEX,
//	           "parent_span_id":"","attributes":{..}}],
//	 "logs":[{"body":..,"severity_number":N,"severity_text":..,"attributes":{..}}]}
//
// with one "metrics" entry per data point (metric x attribute set), "kind"
// named as in OTLP/JSON (span kind as its OTLP number, 1 = internal), and
// empty lists for the signals that were not selected. "monotonic" and
// "temporality" are left out where OTLP has no such field (gauges).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

const (
	scopeName    = "vigil.go-client"
	scopeVersion = "1.0.0"
)

// durationBounds are the explicit histogram bucket boundaries.
var durationBounds = []float64{0.1, 0.5, 1, 5}

// options are the parsed command-line flags.
type options struct {
	protocol string
	endpoint string
	service  string
	metrics  bool
	traces   bool
	logs     bool
	n        int
	timeout  time.Duration
}

// summary is the JSON line printed on success.
type summary struct {
	Service  string         `json:"service"`
	Protocol string         `json:"protocol"`
	Endpoint string         `json:"endpoint"`
	Resource map[string]any `json:"resource"`
	Scope    scopeJSON      `json:"scope"`
	Metrics  []pointJSON    `json:"metrics"`
	Spans    []spanJSON     `json:"spans"`
	Logs     []logJSON      `json:"logs"`
}

type scopeJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type pointJSON struct {
	Metric      string         `json:"metric"`
	Kind        string         `json:"kind"`
	Monotonic   bool           `json:"monotonic,omitempty"`
	Temporality string         `json:"temporality,omitempty"`
	Unit        string         `json:"unit"`
	Attributes  map[string]any `json:"attributes"`
	AsInt       *int64         `json:"as_int,omitempty"`
	Histogram   *histogramJSON `json:"histogram,omitempty"`
}

type histogramJSON struct {
	Count        uint64    `json:"count"`
	Sum          float64   `json:"sum"`
	Min          float64   `json:"min"`
	Max          float64   `json:"max"`
	Bounds       []float64 `json:"bounds"`
	BucketCounts []uint64  `json:"bucket_counts"`
}

type spanJSON struct {
	Name         string         `json:"name"`
	Kind         int            `json:"kind"`
	TraceID      string         `json:"trace_id"`
	SpanID       string         `json:"span_id"`
	ParentSpanID string         `json:"parent_span_id"`
	Attributes   map[string]any `json:"attributes"`
}

type logJSON struct {
	Body           string         `json:"body"`
	SeverityNumber int            `json:"severity_number"`
	SeverityText   string         `json:"severity_text"`
	Attributes     map[string]any `json:"attributes"`
}

// errorSink collects errors the SDK reports through otel.Handle (exports
// that fail in the background), so none is lost.
type errorSink struct {
	mu   sync.Mutex
	errs []error
}

func (s *errorSink) Handle(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *errorSink) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println(version())
		return
	}
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-client: %v\n", err)
		os.Exit(2)
	}
	sum, err := run(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-client: export failed: %v\n", err)
		os.Exit(1)
	}
	line, err := json.Marshal(sum)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-client: cannot encode the summary: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}

// version names the SDK module the binary was built with.
func version() string {
	sdk := "go.opentelemetry.io/otel/sdk"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == sdk {
				return fmt.Sprintf("go-client (%s %s, %s)", sdk, m.Version, info.GoVersion)
			}
		}
	}
	return "go-client (" + sdk + " version unknown)"
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("go-client", flag.ContinueOnError)
	var o options
	var signals string
	fs.StringVar(&o.protocol, "protocol", "grpc", "OTLP transport: grpc or http")
	fs.StringVar(&o.endpoint, "endpoint", "", "receiver address HOST:PORT (required)")
	fs.StringVar(&o.service, "service", "go-client", "service.name resource attribute")
	fs.StringVar(&signals, "signals", "metrics,traces,logs", "comma-separated signals to send")
	fs.IntVar(&o.n, "n", 3, "number of spans and of log records")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-export timeout, and the retry budget")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.protocol != "grpc" && o.protocol != "http" {
		return o, fmt.Errorf("-protocol must be grpc or http, got %q", o.protocol)
	}
	if o.endpoint == "" {
		return o, errors.New("-endpoint HOST:PORT is required")
	}
	if o.n < 0 {
		return o, fmt.Errorf("-n must be >= 0, got %d", o.n)
	}
	for _, s := range strings.Split(signals, ",") {
		switch strings.TrimSpace(s) {
		case "metrics":
			o.metrics = true
		case "traces":
			o.traces = true
		case "logs":
			o.logs = true
		case "":
		default:
			return o, fmt.Errorf("-signals: unknown signal %q (want metrics, traces, logs)", s)
		}
	}
	if !o.metrics && !o.traces && !o.logs {
		return o, errors.New("-signals selects nothing")
	}
	return o, nil
}

// run sets up the selected providers, records everything, flushes, shuts
// down, and returns the summary, or every error met on the way.
func run(o options) (summary, error) {
	sink := &errorSink{}
	otel.SetErrorHandler(sink)
	ctx := context.Background()

	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", o.service)),
	)
	if err != nil {
		return summary{}, fmt.Errorf("resource: %w", err)
	}

	out := summary{
		Service:  o.service,
		Protocol: o.protocol,
		Endpoint: o.endpoint,
		Resource: map[string]any{},
		Scope:    scopeJSON{Name: scopeName, Version: scopeVersion},
		Metrics:  []pointJSON{},
		Spans:    []spanJSON{},
		Logs:     []logJSON{},
	}
	for _, kv := range res.Attributes() {
		out.Resource[string(kv.Key)] = kv.Value.AsInterface()
	}
	var errs []error

	if o.metrics {
		points, err := sendMetrics(ctx, o, res)
		errs = append(errs, err)
		out.Metrics = points
	}
	if o.traces {
		spans, err := sendSpans(ctx, o, res)
		errs = append(errs, err)
		out.Spans = spans
	}
	if o.logs {
		logs, err := sendLogs(ctx, o, res)
		errs = append(errs, err)
		out.Logs = logs
	}
	errs = append(errs, sink.err())
	if err := errors.Join(errs...); err != nil {
		return summary{}, err
	}
	return out, nil
}

// retryPolicy retries transient failures (UNAVAILABLE, 503, 429) for at
// most t: long enough to ride out a receiver that is just starting, short
// enough that a test fails fast.
func retryPolicy(t time.Duration) otlpmetricgrpc.RetryConfig {
	return otlpmetricgrpc.RetryConfig{Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: t}
}

func sendMetrics(ctx context.Context, o options, res *resource.Resource) ([]pointJSON, error) {
	var exp sdkmetric.Exporter
	var err error
	if o.protocol == "grpc" {
		exp, err = otlpmetricgrpc.New(ctx,
			otlpmetricgrpc.WithEndpoint(o.endpoint),
			otlpmetricgrpc.WithInsecure(),
			otlpmetricgrpc.WithTimeout(o.timeout),
			otlpmetricgrpc.WithRetry(retryPolicy(o.timeout)),
		)
	} else {
		exp, err = otlpmetrichttp.New(ctx,
			otlpmetrichttp.WithEndpoint(o.endpoint),
			otlpmetrichttp.WithInsecure(),
			otlpmetrichttp.WithTimeout(o.timeout),
			otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig(retryPolicy(o.timeout))),
		)
	}
	if err != nil {
		return nil, fmt.Errorf("metric exporter: %w", err)
	}
	// A long interval: the only export is the one Shutdown makes.
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	meter := mp.Meter(scopeName, metric.WithInstrumentationVersion(scopeVersion))

	var points []pointJSON
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	// go.client.requests
	requests, err := meter.Int64Counter("go.client.requests",
		metric.WithUnit("{request}"), metric.WithDescription("Requests handled, by route."))
	keep(err)
	for _, c := range []struct {
		route string
		adds  []int64
	}{{"/a", []int64{3, 4}}, {"/b", []int64{5}}} {
		var total int64
		attrs := metric.WithAttributes(attribute.String("route", c.route))
		for _, v := range c.adds {
			if requests != nil {
				requests.Add(ctx, v, attrs)
			}
			total += v
		}
		points = append(points, pointJSON{
			Metric: "go.client.requests", Kind: "sum", Unit: "{request}",
			Monotonic: true, Temporality: "cumulative",
			Attributes: map[string]any{"route": c.route}, AsInt: &total,
		})
	}

	// go.client.duration
	duration, err := meter.Float64Histogram("go.client.duration",
		metric.WithUnit("s"), metric.WithDescription("Request duration, by route."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	keep(err)
	for _, c := range []struct {
		route  string
		values []float64
	}{{"/a", []float64{0.05, 0.2, 0.3, 0.7, 2, 10}}, {"/b", []float64{0.4}}} {
		attrs := metric.WithAttributes(attribute.String("route", c.route))
		h := histogramJSON{Bounds: durationBounds, BucketCounts: make([]uint64, len(durationBounds)+1)}
		for i, v := range c.values {
			if duration != nil {
				duration.Record(ctx, v, attrs)
			}
			// Same order of additions as the SDK, so the float sum is identical.
			h.Count++
			h.Sum += v
			if i == 0 || v < h.Min {
				h.Min = v
			}
			if i == 0 || v > h.Max {
				h.Max = v
			}
			h.BucketCounts[bucketIndex(v)]++
		}
		points = append(points, pointJSON{
			Metric: "go.client.duration", Kind: "histogram", Unit: "s",
			Temporality: "cumulative",
			Attributes:  map[string]any{"route": c.route}, Histogram: &h,
		})
	}

	// go.client.queue.depth
	depth, err := meter.Int64Gauge("go.client.queue.depth",
		metric.WithUnit("{item}"), metric.WithDescription("Items waiting, by queue."))
	keep(err)
	var last int64
	for _, v := range []int64{3, 9} {
		if depth != nil {
			depth.Record(ctx, v, metric.WithAttributes(attribute.String("queue", "main")))
		}
		last = v
	}
	points = append(points, pointJSON{
		Metric: "go.client.queue.depth", Kind: "gauge", Unit: "{item}",
		Attributes: map[string]any{"queue": "main"}, AsInt: &last,
	})

	// Shutdown collects and exports once, and returns the export's error.
	if err := mp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("metrics: %w", err))
	}
	return points, errors.Join(errs...)
}

// bucketIndex follows OTLP explicit bounds: bucket i holds
// bounds[i-1] < v <= bounds[i].
func bucketIndex(v float64) int {
	for i, b := range durationBounds {
		if v <= b {
			return i
		}
	}
	return len(durationBounds)
}

func sendSpans(ctx context.Context, o options, res *resource.Resource) ([]spanJSON, error) {
	var exp sdktrace.SpanExporter
	var err error
	if o.protocol == "grpc" {
		exp, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpoint(o.endpoint),
			otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithTimeout(o.timeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig(retryPolicy(o.timeout))),
		)
	} else {
		exp, err = otlptracehttp.New(ctx,
			otlptracehttp.WithEndpoint(o.endpoint),
			otlptracehttp.WithInsecure(),
			otlptracehttp.WithTimeout(o.timeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig(retryPolicy(o.timeout))),
		)
	}
	if err != nil {
		return nil, fmt.Errorf("span exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(exp),
	)
	tracer := tp.Tracer(scopeName, trace.WithInstrumentationVersion(scopeVersion))

	spans := make([]spanJSON, 0, o.n)
	for i := 0; i < o.n; i++ {
		name := fmt.Sprintf("go-span-%d", i)
		parity := parityOf(i)
		_, span := tracer.Start(ctx, name, trace.WithAttributes(
			attribute.Int("span.index", i),
			attribute.String("span.parity", parity),
		))
		span.End()
		sc := span.SpanContext()
		spans = append(spans, spanJSON{
			Name:       name,
			Kind:       int(trace.SpanKindInternal),
			TraceID:    sc.TraceID().String(),
			SpanID:     sc.SpanID().String(),
			Attributes: map[string]any{"span.index": i, "span.parity": parity},
		})
	}

	var errs []error
	if err := tp.ForceFlush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("traces: flush: %w", err))
	}
	if err := tp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("traces: shutdown: %w", err))
	}
	return spans, errors.Join(errs...)
}

func sendLogs(ctx context.Context, o options, res *resource.Resource) ([]logJSON, error) {
	var exp sdklog.Exporter
	var err error
	if o.protocol == "grpc" {
		exp, err = otlploggrpc.New(ctx,
			otlploggrpc.WithEndpoint(o.endpoint),
			otlploggrpc.WithInsecure(),
			otlploggrpc.WithTimeout(o.timeout),
			otlploggrpc.WithRetry(otlploggrpc.RetryConfig(retryPolicy(o.timeout))),
		)
	} else {
		exp, err = otlploghttp.New(ctx,
			otlploghttp.WithEndpoint(o.endpoint),
			otlploghttp.WithInsecure(),
			otlploghttp.WithTimeout(o.timeout),
			otlploghttp.WithRetry(otlploghttp.RetryConfig(retryPolicy(o.timeout))),
		)
	}
	if err != nil {
		return nil, fmt.Errorf("log exporter: %w", err)
	}
	lp := sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)),
	)
	logger := lp.Logger(scopeName, otellog.WithInstrumentationVersion(scopeVersion))

	logs := make([]logJSON, 0, o.n)
	for i := 0; i < o.n; i++ {
		sev, text := otellog.SeverityInfo, "INFO"
		if i%2 == 1 {
			sev, text = otellog.SeverityWarn, "WARN"
		}
		body := fmt.Sprintf("go-log-%d", i)
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetObservedTimestamp(time.Now())
		r.SetSeverity(sev)
		r.SetSeverityText(text)
		r.SetBody(attribute.StringValue(body))
		r.AddAttributes(attribute.Int("log.index", i))
		logger.Emit(ctx, r)
		logs = append(logs, logJSON{
			Body: body, SeverityNumber: int(sev), SeverityText: text,
			Attributes: map[string]any{"log.index": i},
		})
	}

	var errs []error
	if err := lp.ForceFlush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("logs: flush: %w", err))
	}
	if err := lp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("logs: shutdown: %w", err))
	}
	return logs, errors.Join(errs...)
}

func parityOf(i int) string {
	if i%2 == 0 {
		return "even"
	}
	return "odd"
}
