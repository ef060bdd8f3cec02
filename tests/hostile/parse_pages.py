#!/usr/bin/env python3
"""Parse many Prometheus pages with prometheus_client in one process.

Used by tests/hostile (pages.rs): starting Python once per page would cost more
than the whole catalogue. Reads a JSON list of [name, page] pairs on stdin;
a page whose last line is `# EOF` goes to the OpenMetrics 1.0 parser, any
other to the text 0.0.4 parser (as scripts/parse_exposition.py decides).

Exit status: 0 when every page parsed (stdout: the number of pages); 1 when
some did not (stderr: one line per page, its name and the parser's error);
3 when prometheus_client cannot be imported (an environment problem).
"""

import json
import sys


def main() -> int:
    try:
        from prometheus_client.openmetrics.parser import (
            text_string_to_metric_families as parse_openmetrics,
        )
        from prometheus_client.parser import (
            text_string_to_metric_families as parse_text,
        )
    except ImportError as exc:
        print(f"cannot import prometheus_client ({exc}) with {sys.executable}: "
              "run scripts/test, which creates .venv", file=sys.stderr)
        return 3
    pages = json.load(sys.stdin)
    failed = []
    for name, text in pages:
        openmetrics = text.rstrip("\n").rsplit("\n", 1)[-1] == "# EOF"
        parse = parse_openmetrics if openmetrics else parse_text
        try:
            # The parsers are generators: errors surface only while consuming.
            list(parse(text))
        except Exception as exc:  # noqa: BLE001 - any parser error means invalid
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if failed:
        print("\n".join(failed), file=sys.stderr)
        return 1
    print(len(pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
