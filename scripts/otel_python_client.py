#!/usr/bin/env python3
"""Send a known set of metrics to an OTLP endpoint with the OpenTelemetry Python SDK.

Used by the `python_client` e2e tests (tests/python_client.rs): a client
nobody in this repository wrote, talking to the collector over OTLP/gRPC or
OTLP/HTTP (protobuf), with cumulative or delta temporality. Run it with the
venv that scripts/test creates (.venv/bin/python), which pins
opentelemetry-sdk and both OTLP exporters in scripts/requirements-test.txt.

    otel_python_client.py --endpoint http://127.0.0.1:4317 --protocol grpc \
        --temporality delta --service py-grpc-delta

What it sends, in two exports (the reader only exports on force_flush, so a
delta exporter sends two deltas the collector has to add up):

  instrument            kind                  phase 1              phase 2              total
  app.requests          Counter {request}     +1 +2 (ok)           +3 (ok), +1 (error)  ok=6 error=1
  app.queue.depth       UpDownCounter {item}  +5                   -2                   3
  app.request.duration  Histogram s, View     0.05, 0.3            0.3, 2.0             buckets [0.1,0.5,1]
  app.bytes.sent        ObservableCounter By  callback 1000        callback 2500        2500
  app.temperature       ObservableGauge Cel   callback 40.0        callback 42.5        42.5

`--temporality delta` makes *every* sum and histogram delta, up-down
counters included. That is stricter than the specification's `delta`
preference (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE), which keeps
up-down counters cumulative: a delta up-down counter is where a receiver
that replaced instead of adding would show -2 instead of 3.

The SDK only logs a failed export; this script wraps the exporter and exits
1 if any export did not succeed, so the caller sees the failure. The
resource is built with Resource.create, i.e. with the SDK's telemetry.sdk.*
attributes and whatever OTEL_RESOURCE_ATTRIBUTES says (the Rust side clears
OTEL_* from the environment, so the run does not depend on the caller's).

Exit status: 0 every export succeeded; 1 an export failed; 2 bad usage.
"""

import argparse
import math
import sys

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

# Per-export timeout, seconds: the collector is on loopback.
EXPORT_TIMEOUT = 5.0
EXIT_EXPORT_FAILED = 1

# Values the observable instruments report, per phase (1-based).
BYTES_SENT = {1: 1000, 2: 2500}
TEMPERATURE = {1: 40.0, 2: 42.5}


class CheckedExporter(MetricExporter):
    """Delegates to an OTLP exporter and remembers every export's result."""

    def __init__(self, inner, temporality):
        super().__init__(preferred_temporality=temporality)
        self._inner = inner
        self.results = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.results.append(result)
        return result

    def force_flush(self, timeout_millis=10_000):
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis=30_000, **kwargs):
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def temporality_map(name):
    kind = {
        "cumulative": AggregationTemporality.CUMULATIVE,
        "delta": AggregationTemporality.DELTA,
    }[name]
    return {
        Counter: kind,
        UpDownCounter: kind,
        Histogram: kind,
        ObservableCounter: kind,
        ObservableUpDownCounter: kind,
        # Gauges have no temporality; the SDK requires an entry anyway.
        ObservableGauge: AggregationTemporality.CUMULATIVE,
    }


def otlp_exporter(protocol, endpoint, temporality, ca_file=None):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter,
        )

        if ca_file:
            # TLS, trusting only the given CA.
            import grpc

            with open(ca_file, "rb") as f:
                credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
            return OTLPMetricExporter(
                endpoint=endpoint,
                insecure=False,
                credentials=credentials,
                timeout=EXPORT_TIMEOUT,
                preferred_temporality=temporality,
            )
        # An http:// endpoint means plaintext for the gRPC exporter.
        return OTLPMetricExporter(
            endpoint=endpoint,
            insecure=True,
            timeout=EXPORT_TIMEOUT,
            preferred_temporality=temporality,
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    # Given in code, the HTTP endpoint is the full URL (no /v1/metrics added).
    return OTLPMetricExporter(
        endpoint=endpoint.rstrip("/") + "/v1/metrics",
        certificate_file=ca_file,
        timeout=EXPORT_TIMEOUT,
        preferred_temporality=temporality,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="http://HOST:PORT of the receiver")
    parser.add_argument("--protocol", required=True, choices=["grpc", "http"])
    parser.add_argument("--temporality", required=True, choices=["cumulative", "delta"])
    parser.add_argument("--service", required=True, help="service.name of the resource")
    parser.add_argument("--ca-file", help="TLS: trust this CA (with an https:// endpoint)")
    args = parser.parse_args()

    temporality = temporality_map(args.temporality)
    exporter = CheckedExporter(
        otlp_exporter(args.protocol, args.endpoint, temporality, args.ca_file), temporality
    )
    # math.inf: no background thread; only force_flush exports.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create(
            {"service.name": args.service, "deployment.environment.name": "e2e"}
        ),
        views=[
            View(
                instrument_name="app.request.duration",
                aggregation=ExplicitBucketHistogramAggregation(boundaries=[0.1, 0.5, 1.0]),
            )
        ],
    )
    meter = provider.get_meter("interop.python", version="0.9.0")

    phase = 1

    def bytes_sent(_options: CallbackOptions):
        yield Observation(BYTES_SENT[phase], {"direction": "out"})

    def temperature(_options: CallbackOptions):
        yield Observation(TEMPERATURE[phase], {"sensor": "cpu"})

    requests = meter.create_counter(
        "app.requests", unit="{request}", description="Requests handled."
    )
    queue = meter.create_up_down_counter("app.queue.depth", unit="{item}")
    duration = meter.create_histogram(
        "app.request.duration", unit="s", description="Request time."
    )
    meter.create_observable_counter("app.bytes.sent", callbacks=[bytes_sent], unit="By")
    meter.create_observable_gauge("app.temperature", callbacks=[temperature], unit="Cel")

    ok = {"http.route": "/a", "outcome": "ok"}
    error = {"http.route": "/a", "outcome": "error"}

    requests.add(1, ok)
    requests.add(2, ok)
    queue.add(5)
    duration.record(0.05)
    duration.record(0.3)
    provider.force_flush()

    phase = 2
    requests.add(3, ok)
    requests.add(1, error)
    queue.add(-2)
    duration.record(0.3)
    duration.record(2.0)
    provider.force_flush()
    # Without a background thread (math.inf) shutdown does not collect again:
    # exactly the two exports above.
    provider.shutdown()

    results = [r.name for r in exporter.results]
    if results != ["SUCCESS", "SUCCESS"]:
        print(f"exports: {results}, expected two, both SUCCESS", file=sys.stderr)
        return EXIT_EXPORT_FAILED
    print(f"{len(exporter.results)} exports succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
