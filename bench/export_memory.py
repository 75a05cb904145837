"""Measure the memory of a segment's CSV export at two sizes.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/erxseg_bench \
       .venv/bin/python bench/export_memory.py --sizes 12000 100000

Creates a throwaway test database, loads N customers that all match one
segment, streams /api/v1/segments/<id>/members/?format=csv through Django's
test client, and prints the rows received, the peak of Python allocations
(tracemalloc) during the stream and the process's peak RSS. Flat memory means
the peak does not grow with N.
"""

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erxseg.test_settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_test_environment,
    teardown_test_environment,
)
from rest_framework.test import APIClient  # noqa: E402

from contacts.models import Customer  # noqa: E402
from segments.models import Segment  # noqa: E402


def measure(size: int, client: APIClient) -> dict:
    Customer.objects.all().delete()
    for start in range(0, size, 5000):
        Customer.objects.bulk_create(
            Customer(first_name=f"Member {n}", country="Germany")
            for n in range(start, min(start + 5000, size))
        )
    segment = Segment.objects.create(
        name=f"All {size}",
        rules={
            "type": "group",
            "conjunction": "and",
            "conditions": [
                {
                    "type": "property",
                    "property": "country",
                    "operator": "is",
                    "value": "Germany",
                }
            ],
        },
    )

    url = f"/api/v1/segments/{segment.pk}/members/?format=csv"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rows = count_rows(client.get(url))
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # A second pass under tracemalloc, which slows Python down, so its time
    # is not reported.
    tracemalloc.start()
    count_rows(client.get(url))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": rows,
        "seconds": elapsed,
        "peak_python_mb": peak / 1e6,
        "rss_growth_mb": rss_after - rss_before,
        "max_rss_mb": rss_after,
    }


def count_rows(response) -> int:
    rows = -1  # the header line
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12_000, 100_000])
    args = parser.parse_args()

    from django.db import connection

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        user = get_user_model().objects.create_superuser("bench", "b@example.com", "x")
        client = APIClient()
        client.force_authenticate(user)
        print(f"database: {connection.vendor}")
        for size in args.sizes:
            result = measure(size, client)
            print(
                f"members {size:>9,}: rows {result['rows']:>9,}  "
                f"{result['seconds']:6.2f} s  "
                f"{result['rows'] / result['seconds']:8,.0f} rows/s  "
                f"peak Python allocations {result['peak_python_mb']:5.1f} MB  "
                f"RSS growth {result['rss_growth_mb']:5.1f} MB  "
                f"peak RSS {result['max_rss_mb']:6.1f} MB"
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
