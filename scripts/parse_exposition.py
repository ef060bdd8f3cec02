#!/usr/bin/env python3
"""Parse a Prometheus exposition read from stdin with prometheus_client.

Used by `vigil_tests::prometheus_client_parse` (tests/src/lib.rs) as an
independent second parser next to promtool. Run it with the venv that
scripts/test creates (.venv/bin/python), which has prometheus_client pinned
in scripts/requirements-test.txt.

Format selection:
  * the text's last line (ignoring trailing newlines) is `# EOF`
      -> OpenMetrics 1.0, prometheus_client.openmetrics.parser
  * anything else
      -> Prometheus text format 0.0.4, prometheus_client.parser

Exit status / output contract (relied on by the Rust side):
  0  parsed; stdout is the number of metric families, nothing else
  1  the exposition is invalid; stderr says why
  3  environment problem (prometheus_client not importable, bad usage);
     the Rust helper panics on this instead of reporting "invalid input",
     so a broken venv can never make a "this must fail" test pass.
"""

import sys

EXIT_INVALID = 1
EXIT_ENVIRONMENT = 3


def main() -> int:
    if len(sys.argv) != 1:
        print("usage: parse_exposition.py < exposition.txt", file=sys.stderr)
        return EXIT_ENVIRONMENT
    try:
        from prometheus_client.openmetrics.parser import (
            text_string_to_metric_families as parse_openmetrics,
        )
        from prometheus_client.parser import (
            text_string_to_metric_families as parse_text,
        )
    except ImportError as exc:
        print(
            f"cannot import prometheus_client ({exc}) with {sys.executable}: "
            "run scripts/test, which creates .venv with "
            "scripts/requirements-test.txt",
            file=sys.stderr,
        )
        return EXIT_ENVIRONMENT

    raw = sys.stdin.buffer.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        print(f"exposition is not valid UTF-8: {exc}", file=sys.stderr)
        return EXIT_INVALID

    last_line = text.rstrip("\n").rsplit("\n", 1)[-1]
    openmetrics = last_line == "# EOF"
    fmt = "OpenMetrics 1.0" if openmetrics else "text 0.0.4"
    parse = parse_openmetrics if openmetrics else parse_text

    try:
        # Both parsers are generators: errors surface only while consuming.
        families = list(parse(text))
    except Exception as exc:  # noqa: BLE001 - any parser error means invalid
        print(f"prometheus_client ({fmt}) rejected the exposition: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INVALID

    print(len(families))
    return 0


if __name__ == "__main__":
    sys.exit(main())
