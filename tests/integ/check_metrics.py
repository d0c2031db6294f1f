#!/usr/bin/python3
"""check_metrics.py URL -- fetches a Prometheus /metrics page, parses it with
the reference parser (prometheus_client, Debian's python3-prometheus-client)
and prints every sample as one JSON object:
    {"name{label=\"v\",...}": value, ...}   (labels sorted by name)
Exit status 1 (message on stderr) when the page cannot be fetched or does
not parse. Used by tests/integ/test_monitoring.c."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    if len(sys.argv) != 2:
        print("usage: check_metrics.py URL", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
            content_type = response.headers.get("Content-Type", "")
            text = response.read().decode("utf-8")
    except Exception as error:  # any fetch failure is a test failure
        print("fetch failed: %s" % error, file=sys.stderr)
        return 1
    if not content_type.startswith("text/plain"):
        print("unexpected Content-Type %r" % content_type, file=sys.stderr)
        return 1
    samples = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.type not in ("counter", "gauge", "histogram"):
                raise ValueError("family %s has type %s" % (family.name, family.type))
            for sample in family.samples:
                labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(sample.labels.items()))
                samples["%s{%s}" % (sample.name, labels)] = sample.value
    except Exception as error:
        print("parse failed: %s" % error, file=sys.stderr)
        return 1
    json.dump(samples, sys.stdout, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
