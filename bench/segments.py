"""Time erxseg's segment counts against hand-written SQL and DuckDB.

Usage, after bench/generate.py has loaded the same database:
    .venv/bin/python bench/segments.py --size 1m
    .venv/bin/python bench/segments.py --size 10k --smoke \\
        --database-url postgres://postgres@127.0.0.1:5432/erxseg_bench_10k

For each shape of the fixed suite (SHAPES below) it saves a segment, checks
that erxseg's count equals the hand-written query's, and takes the median of
--repeats runs of each, after one warm-up run, so both read a warm cache.
Lifetime event counts are also timed over the raw events, and the event
shapes against DuckDB over the same rows exported once. Then it times the
preview of unsaved rules, the first page of members through the API, the
admin customer list filtered by a segment, the CSV export of the largest
segment (rows per second and the peak RSS of a child process that does only
the export), and `recount_segments` over 100 segments against the sum of
their counts.

Results go to bench/results/segments-<size>.json and .md. --smoke runs every
step once with no warm-up, for CI: it checks that the script works and that
the counts agree, and asserts nothing about time.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    PROJECT_DIR,
    RESULTS_DIR,
    database_name,
    machine,
    median_seconds,
    paired_medians,
    setup_django,
    write_results,
)

SEGMENT_PREFIX = "bench: "
RECOUNT_PREFIX = "bench recount: "
CUSTOMERS = "state = 'customer'"


def group(*conditions, conjunction="and", negate=False) -> dict:
    return {
        "type": "group",
        "conjunction": conjunction,
        "negate": negate,
        "conditions": list(conditions),
    }


def prop(name: str, operator: str, value=None) -> dict:
    condition = {"type": "property", "property": name, "operator": operator}
    if value is not None:
        condition["value"] = value
    return condition


def event(name: str, occurrence: str, count: int, **extra) -> dict:
    return {
        "type": "event",
        "event": name,
        "occurrence": occurrence,
        "count": count,
        **extra,
    }


@dataclass
class Shape:
    """One question, asked of erxseg and written by hand.

    `sql` and `duckdb` are counts with the named parameters %(now)s,
    %(since_30)s and %(since_90)s (DuckDB: $now, $since_30, $since_90).
    `raw_sql` counts the same over raw events instead of the rollups.
    """

    key: str
    title: str
    rules: dict
    sql: str
    content_type: str = "customer"
    parent: dict | None = None
    raw_sql: str | None = None
    duckdb: str | None = None
    chart: bool = False
    results: dict = field(default_factory=dict)


SHAPES = [
    Shape(
        "property",
        "Property: country is Germany",
        group(prop("country", "is", "Germany")),
        f"SELECT count(*) FROM contacts_customer WHERE {CUSTOMERS} "
        "AND lower(country) = 'germany'",
        chart=True,
    ),
    Shape(
        "custom_field",
        "Custom field: plan is pro",
        group(prop("custom.plan", "is", "pro")),
        f"SELECT count(*) FROM contacts_customer WHERE {CUSTOMERS} "
        "AND custom_fields ->> 'plan' = 'pro'",
    ),
    Shape(
        "tracked_number",
        "Tracked number: total_spend > 1000",
        group(prop("tracked.total_spend", "gt", 1000)),
        f"SELECT count(*) FROM contacts_customer WHERE {CUSTOMERS} "
        "AND jsonb_typeof(tracked_data -> 'total_spend') = 'number' "
        "AND (tracked_data ->> 'total_spend')::float8 > 1000",
    ),
    Shape(
        "text_contains",
        "Text contains: last name contains “sen”",
        group(prop("last_name", "contains", "sen")),
        f"SELECT count(*) FROM contacts_customer WHERE {CUSTOMERS} "
        "AND lower(last_name) LIKE '%%sen%%'",
    ),
    Shape(
        "or_negation",
        "OR with a negation: France, or not 5+ sessions",
        group(
            prop("country", "is", "France"),
            group(prop("session_count", "gte", 5), negate=True),
            conjunction="or",
        ),
        f"SELECT count(*) FROM contacts_customer WHERE {CUSTOMERS} "
        "AND (lower(country) = 'france' OR NOT session_count >= 5)",
    ),
    Shape(
        "nested",
        "Three nested levels",
        group(
            prop("country", "in", ["United Kingdom", "Germany"]),
            group(
                prop("custom.plan", "is", "pro"),
                group(
                    prop("session_count", "gte", 10), prop("is_subscribed", "is_true")
                ),
                conjunction="or",
            ),
        ),
        f"SELECT count(*) FROM contacts_customer WHERE {CUSTOMERS} "
        "AND lower(country) IN ('united kingdom', 'germany') "
        "AND (custom_fields ->> 'plan' = 'pro' "
        "OR (session_count >= 10 AND is_subscribed))",
        chart=True,
    ),
    Shape(
        "sub_segment",
        "Sub-segment: 10+ orders within UK customers",
        group(prop("tracked.orders", "gte", 10)),
        f"SELECT count(*) FROM contacts_customer WHERE {CUSTOMERS} "
        "AND lower(country) = 'united kingdom' "
        "AND jsonb_typeof(tracked_data -> 'orders') = 'number' "
        "AND (tracked_data ->> 'orders')::float8 >= 10",
        parent=group(prop("country", "is", "United Kingdom")),
    ),
    Shape(
        "lifetime_count",
        "Lifetime event count: order_placed at least 5 times",
        group(event("order_placed", "at_least", 5)),
        f"SELECT count(*) FROM contacts_customer c WHERE {CUSTOMERS} "
        "AND EXISTS (SELECT 1 FROM events_customereventstats s "
        "WHERE s.customer_id = c.id AND s.name = 'order_placed' AND s.count >= 5)",
        raw_sql=f"SELECT count(*) FROM contacts_customer c WHERE {CUSTOMERS} "
        "AND c.id IN (SELECT customer_id FROM events_event "
        "WHERE name = 'order_placed' GROUP BY customer_id HAVING count(*) >= 5)",
        duckdb=f"SELECT count(*) FROM customers c WHERE {CUSTOMERS} "
        "AND c.id IN (SELECT customer_id FROM events "
        "WHERE name = 'order_placed' GROUP BY customer_id HAVING count(*) >= 5)",
        chart=True,
    ),
    Shape(
        "event_window_attribute",
        "Event window with an attribute: pricing_viewed 2+ times in 90 days, plan pro",
        group(
            event(
                "pricing_viewed",
                "at_least",
                2,
                within={"last": 90, "unit": "days"},
                attributes=[{"attribute": "plan", "operator": "is", "value": "pro"}],
            )
        ),
        f"SELECT count(*) FROM contacts_customer c WHERE {CUSTOMERS} "
        "AND c.id IN (SELECT customer_id FROM events_event "
        "WHERE name = 'pricing_viewed' AND occurred_at >= %(since_90)s "
        "AND occurred_at <= %(now)s AND lower(attributes ->> 'plan') = 'pro' "
        "GROUP BY customer_id HAVING count(*) >= 2)",
        duckdb=f"SELECT count(*) FROM customers c WHERE {CUSTOMERS} "
        "AND c.id IN (SELECT customer_id FROM events "
        "WHERE name = 'pricing_viewed' AND occurred_at >= $since_90 "
        "AND occurred_at <= $now "
        "AND lower(json_extract_string(attributes, '$.plan')) = 'pro' "
        "GROUP BY customer_id HAVING count(*) >= 2)",
    ),
    Shape(
        "two_events",
        "Two event conditions: ordered and viewed pricing in 30 days",
        group(
            event("order_placed", "at_least", 1, within={"last": 30, "unit": "days"}),
            event("pricing_viewed", "at_least", 1, within={"last": 30, "unit": "days"}),
        ),
        f"SELECT count(*) FROM contacts_customer c WHERE {CUSTOMERS} "
        "AND EXISTS (SELECT 1 FROM events_event e WHERE e.customer_id = c.id "
        "AND e.name = 'order_placed' AND e.occurred_at >= %(since_30)s "
        "AND e.occurred_at <= %(now)s) "
        "AND EXISTS (SELECT 1 FROM events_event e WHERE e.customer_id = c.id "
        "AND e.name = 'pricing_viewed' AND e.occurred_at >= %(since_30)s "
        "AND e.occurred_at <= %(now)s)",
        duckdb=f"SELECT count(*) FROM customers c WHERE {CUSTOMERS} "
        "AND c.id IN (SELECT customer_id FROM events WHERE name = 'order_placed' "
        "AND occurred_at >= $since_30 AND occurred_at <= $now) "
        "AND c.id IN (SELECT customer_id FROM events WHERE name = 'pricing_viewed' "
        "AND occurred_at >= $since_30 AND occurred_at <= $now)",
    ),
    Shape(
        "never_did",
        "Never did: no order_cancelled",
        group(event("order_cancelled", "none", 0)),
        f"SELECT count(*) FROM contacts_customer c WHERE {CUSTOMERS} "
        "AND NOT EXISTS (SELECT 1 FROM events_customereventstats s "
        "WHERE s.customer_id = c.id AND s.name = 'order_cancelled')",
        raw_sql=f"SELECT count(*) FROM contacts_customer c WHERE {CUSTOMERS} "
        "AND NOT EXISTS (SELECT 1 FROM events_event e "
        "WHERE e.customer_id = c.id AND e.name = 'order_cancelled')",
        duckdb=f"SELECT count(*) FROM customers c WHERE {CUSTOMERS} "
        "AND c.id NOT IN (SELECT customer_id FROM events "
        "WHERE name = 'order_cancelled')",
    ),
    Shape(
        "negated_lifetime_count",
        "Negated lifetime count: order_placed at most 4 times",
        group(event("order_placed", "at_most", 4)),
        f"SELECT count(*) FROM contacts_customer c WHERE {CUSTOMERS} "
        "AND NOT EXISTS (SELECT 1 FROM events_customereventstats s "
        "WHERE s.customer_id = c.id AND s.name = 'order_placed' AND s.count >= 5)",
        duckdb=f"SELECT count(*) FROM customers c WHERE {CUSTOMERS} "
        "AND c.id NOT IN (SELECT customer_id FROM events "
        "WHERE name = 'order_placed' GROUP BY customer_id HAVING count(*) >= 5)",
    ),
    Shape(
        "companies_by_contacts",
        "Companies by their contacts: 3+ contacts on plan pro",
        group(
            {
                "type": "contacts",
                "occurrence": "at_least",
                "count": 3,
                "where": group(prop("custom.plan", "is", "pro")),
            }
        ),
        "SELECT count(*) FROM contacts_company co WHERE co.id IN ("
        "SELECT l.company_id FROM contacts_customer_companies l "
        "JOIN contacts_customer c ON c.id = l.customer_id "
        "WHERE c.custom_fields ->> 'plan' = 'pro' "
        "GROUP BY l.company_id HAVING count(*) >= 3)",
        content_type="company",
    ),
    Shape(
        "companies_at_most",
        "Companies by their contacts: at most 2 contacts on plan pro",
        group(
            {
                "type": "contacts",
                "occurrence": "at_most",
                "count": 2,
                "where": group(prop("custom.plan", "is", "pro")),
            }
        ),
        "SELECT count(*) FROM contacts_company co LEFT JOIN ("
        "SELECT l.company_id, count(*) AS pro FROM contacts_customer_companies l "
        "JOIN contacts_customer c ON c.id = l.customer_id "
        "WHERE c.custom_fields ->> 'plan' = 'pro' GROUP BY l.company_id"
        ") g ON g.company_id = co.id WHERE coalesce(g.pro, 0) <= 2",
        content_type="company",
    ),
    Shape(
        "visitor_recent_event",
        "Visitors: viewed a page in the last 30 days",
        group(event("page_viewed", "at_least", 1, within={"last": 30, "unit": "days"})),
        "SELECT count(*) FROM contacts_customer c WHERE state = 'visitor' "
        "AND EXISTS (SELECT 1 FROM events_event e WHERE e.customer_id = c.id "
        "AND e.name = 'page_viewed' AND e.occurred_at >= %(since_30)s "
        "AND e.occurred_at <= %(now)s)",
        content_type="visitor",
        duckdb="SELECT count(*) FROM customers c WHERE state = 'visitor' "
        "AND c.id IN (SELECT customer_id FROM events WHERE name = 'page_viewed' "
        "AND occurred_at >= $since_30 AND occurred_at <= $now)",
    ),
]


def sql_count(sql: str, params: dict) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def explain_analyze(sql: str, params: dict) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def erxseg_count_sql(segment, now) -> str:
    """Return the SQL erxseg runs to count `segment`, parameters filled in."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from segments.services import count_segment

    with CaptureQueriesContext(connection) as captured:
        count_segment(segment, now=now)
    return captured.captured_queries[-1]["sql"]


def save_segments(now) -> dict:
    """Create one saved segment per shape (and the sub-segment's parent)."""
    from segments.models import Segment

    earlier = Segment.objects.filter(name__startswith=SEGMENT_PREFIX)
    earlier.filter(parent__isnull=False).delete()
    earlier.delete()
    saved = {}
    for shape in SHAPES:
        parent = None
        if shape.parent:
            parent = Segment.objects.create(
                name=f"{SEGMENT_PREFIX}{shape.key} parent",
                content_type=shape.content_type,
                rules=shape.parent,
            )
        saved[shape.key] = Segment.objects.create(
            name=f"{SEGMENT_PREFIX}{shape.key}",
            content_type=shape.content_type,
            rules=shape.rules,
            parent=parent,
        )
    return saved


def time_counts(segments: dict, params: dict, repeats: int, warm: bool) -> None:
    from segments.services import count_segment

    now = params["now"]
    for shape in SHAPES:
        segment = segments[shape.key]
        if warm:
            count_segment(segment, now=now)
            sql_count(shape.sql, params)
        erxseg_seconds, erxseg_count, sql_seconds, hand_count = paired_medians(
            lambda segment=segment: count_segment(segment, now=now),
            lambda shape=shape: sql_count(shape.sql, params),
            repeats,
        )
        if erxseg_count != hand_count:
            raise SystemExit(
                f"{shape.key}: erxseg counted {erxseg_count:,}, the hand-written "
                f"SQL {hand_count:,}. The two must agree before times mean anything."
            )
        shape.results.update(
            count=erxseg_count,
            erxseg_ms=erxseg_seconds * 1000,
            sql_ms=sql_seconds * 1000,
            ratio_sql=erxseg_seconds / sql_seconds,
        )
        if shape.raw_sql:
            if warm:
                sql_count(shape.raw_sql, params)
            _, _, raw_seconds, raw_count = paired_medians(
                lambda segment=segment: count_segment(segment, now=now),
                lambda shape=shape: sql_count(shape.raw_sql, params),
                repeats,
            )
            if raw_count != erxseg_count:
                raise SystemExit(f"{shape.key}: raw events counted {raw_count:,}.")
            shape.results.update(
                raw_ms=raw_seconds * 1000, raw_speedup=raw_seconds / erxseg_seconds
            )
        print(
            f"{shape.key:<24} {erxseg_count:>10,}  "
            f"erxseg {erxseg_seconds * 1000:9.1f} ms  "
            f"SQL {sql_seconds * 1000:9.1f} ms  "
            f"ratio {erxseg_seconds / sql_seconds:5.2f}",
            file=sys.stderr,
        )


def export_for_duckdb(path: Path) -> float:
    """Copy contacts and events out of PostgreSQL into a DuckDB file once."""
    import duckdb
    from django.db import connection

    started = time.perf_counter()
    path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="erxseg-bench-") as folder:
        files = {}
        queries = {
            "customers": "SELECT id, state, country FROM contacts_customer",
            "events": "SELECT customer_id, name, attributes::text AS attributes, "
            "occurred_at FROM events_event",
        }
        with connection.cursor() as django_cursor:
            cursor = django_cursor.cursor
            for table, query in queries.items():
                files[table] = Path(folder) / f"{table}.csv"
                with (
                    open(files[table], "wb") as out,
                    cursor.copy(
                        f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)"
                    ) as copy,
                ):
                    for chunk in copy:
                        out.write(chunk)
        database = duckdb.connect(
            str(path), config={"autoinstall_known_extensions": False}
        )
        database.execute(
            f"CREATE TABLE customers AS SELECT * FROM read_csv('{files['customers']}', "
            "header = true, columns = {'id': 'BIGINT', 'state': 'VARCHAR', "
            "'country': 'VARCHAR'})"
        )
        database.execute(
            f"CREATE TABLE events AS SELECT * FROM read_csv('{files['events']}', "
            "header = true, columns = {'customer_id': 'BIGINT', 'name': 'VARCHAR', "
            "'attributes': 'JSON', 'occurred_at': 'TIMESTAMPTZ'})"
        )
        database.close()
    return time.perf_counter() - started


def time_duckdb(path: Path, params: dict, repeats: int, warm: bool) -> dict:
    import duckdb

    database = duckdb.connect(
        str(path), read_only=True, config={"autoinstall_known_extensions": False}
    )
    database.execute("SET threads = 2")
    duck_params = {key: value for key, value in params.items()}
    for shape in SHAPES:
        if not shape.duckdb:
            continue
        used = {
            key: duck_params[key] for key in duck_params if f"${key}" in shape.duckdb
        }

        def run(shape=shape, used=used):
            return database.execute(shape.duckdb, used).fetchone()[0]

        if warm:
            run()
        seconds, count = median_seconds(run, repeats)
        if count != shape.results["count"]:
            raise SystemExit(
                f"{shape.key}: DuckDB counted {count:,}, "
                f"erxseg {shape.results['count']:,}."
            )
        shape.results.update(
            duckdb_ms=seconds * 1000,
            ratio_duckdb=shape.results["erxseg_ms"] / (seconds * 1000),
        )
    database.close()
    return {"threads": 2, "version": duckdb.__version__}


def time_previews(segments: dict, now, repeats: int, warm: bool) -> None:
    from segments.services import count_segment, preview_count

    for shape in SHAPES:
        segment = segments[shape.key]

        def preview(shape=shape, segment=segment):
            return preview_count(
                shape.rules,
                content_type=shape.content_type,
                parent=segment.parent,
                now=now,
            )["count"]

        if warm:
            preview()
        seconds, count, saved_seconds, _ = paired_medians(
            preview,
            lambda segment=segment: count_segment(segment, now=now),
            repeats,
        )
        if count != shape.results["count"]:
            raise SystemExit(f"{shape.key}: preview counted {count:,}.")
        shape.results.update(
            preview_ms=seconds * 1000,
            preview_saved_ms=saved_seconds * 1000,
            ratio_preview=seconds / saved_seconds,
        )


def api_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)
    return client


def time_pages(segments: dict, repeats: int, warm: bool) -> list[dict]:
    """First page of members through the API and the admin customer list
    filtered by the segment, each against the segment's count."""
    from segments.services import count_segment

    client = api_client()
    rows = []
    for key in ("property", "nested", "lifetime_count", "two_events"):
        segment = segments[key]
        pages = {
            "api_members_first_page": f"/api/v1/segments/{segment.pk}/members/",
            "admin_list_filtered": f"/admin/contacts/customer/?segment={segment.pk}",
        }
        row = {"shape": key}
        count_seconds, _ = median_seconds(lambda s=segment: count_segment(s), repeats)
        row["count_ms"] = count_seconds * 1000
        for name, url in pages.items():

            def get(url=url):
                response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"GET {url} returned {response.status_code}.")
                return response

            if warm:
                get()
            seconds, _ = median_seconds(get, repeats)
            row[f"{name}_ms"] = seconds * 1000
            row[f"{name}_ratio"] = seconds / count_seconds
        rows.append(row)
    return rows


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB.

    getrusage's ru_maxrss is no use in a child started by subprocess: Linux
    carries the parent's peak across fork and exec, so the child would report
    the parent's memory. VmHWM belongs to the process's own address space.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_child(segment_id: int) -> None:
    """Stream one segment's CSV export and print rows, seconds and peak RSS
    as JSON: run in a child process so its RSS is the export's alone."""
    client = api_client()
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    response = client.get(f"/api/v1/segments/{segment_id}/members/?format=csv")
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": lines - 1,
                "seconds": seconds,
                "rows_per_second": (lines - 1) / seconds,
                "peak_rss_mb": peak_rss_mb(),
                "rss_before_mb": rss_before,
            }
        )
    )


def time_export(database_url: str) -> dict:
    """Export every customer (a segment of all of them) in a child process."""
    from segments.models import Segment
    from segments.services import count_segment

    segment, _ = Segment.objects.update_or_create(
        name=f"{SEGMENT_PREFIX}every customer",
        defaults={"content_type": "customer", "rules": group()},
    )
    expected = count_segment(segment)
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--database-url",
            database_url,
            "--export-child",
            str(segment.pk),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_DIR,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    if result["rows"] != expected:
        raise SystemExit(
            f"The CSV export had {result['rows']:,} rows, not {expected:,}."
        )
    return result


def recount_rules() -> list[tuple[str, dict]]:
    """100 customer segments: the customer shapes with varied values."""
    from contacts.models import Customer

    countries = list(
        Customer.objects.filter(state="customer")
        .values_list("country", flat=True)
        .distinct()
        .order_by("country")
    )
    countries = [country for country in countries if country != "United Kingdom"]
    rules = []
    for index in range(100):
        # Shapes of the suite with values that select 0.1% to 10% of the
        # customers each, as campaign segments do.
        country = countries[index % len(countries)]
        variant = index % 5
        if variant == 0:
            rule = group(prop("country", "is", country))
        elif variant == 1:
            rule = group(prop("tracked.total_spend", "gt", 5000 + 500 * (index % 20)))
        elif variant == 2:
            rule = group(
                prop("country", "is", country),
                group(prop("session_count", "gte", 3 + index % 10), negate=True),
                conjunction="and",
            )
        elif variant == 3:
            rule = group(event("order_placed", "at_least", 12 + index % 8))
        else:
            rule = group(
                event(
                    "pricing_viewed",
                    "at_least",
                    1,
                    within={"last": 1 + index % 10, "unit": "days"},
                )
            )
        rules.append((f"{RECOUNT_PREFIX}{index:03d}", rule))
    return rules


def time_recount() -> dict:
    from segments.models import Segment, SegmentMembership
    from segments.recount import recount_segments
    from segments.services import count_segment

    Segment.objects.filter(name__startswith=RECOUNT_PREFIX).delete()
    # Deleting an earlier run's segments leaves their memberships as dead
    # rows; clear them as autovacuum would, so this run does not pay for them.
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE segments_segmentmembership")
    segments = [
        Segment.objects.create(name=name, content_type="customer", rules=rules)
        for name, rules in recount_rules()
    ]
    started = time.perf_counter()
    for segment in segments:
        count_segment(segment)
    counts_seconds = time.perf_counter() - started
    started = time.perf_counter()
    first = recount_segments(segments)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = recount_segments(segments)
    second_seconds = time.perf_counter() - started
    counts_sum = sum(result.member_count for result in second.results)
    memberships = SegmentMembership.objects.filter(segment__in=segments).count()
    return {
        "segments": len(segments),
        "members": counts_sum,
        "memberships": memberships,
        "sum_of_counts_s": counts_seconds,
        "first_recount_s": first_seconds,
        "first_entered": first.entered,
        "repeat_recount_s": second_seconds,
        "repeat_entered": second.entered,
        "ratio_first": first_seconds / counts_seconds,
        "ratio_repeat": second_seconds / counts_seconds,
    }


def ms(value) -> str:
    return "" if value is None else f"{value:,.1f}"


def ratio(value) -> str:
    return "" if value is None else f"{value:.2f}×"


def markdown(results: dict) -> str:
    lines = [
        f"### Counts at {results['size']} ({results['rows']['contacts by state']})",
        "",
        "| Shape | Members | erxseg ms | SQL ms | erxseg / SQL | raw events ms | "
        "rollups faster by | DuckDB ms | erxseg / DuckDB | preview ms | "
        "preview / saved |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape in results["shapes"]:
        lines.append(
            f"| {shape['title']} | {shape['count']:,} | {ms(shape['erxseg_ms'])} | "
            f"{ms(shape['sql_ms'])} | {ratio(shape['ratio_sql'])} | "
            f"{ms(shape.get('raw_ms'))} | {ratio(shape.get('raw_speedup'))} | "
            f"{ms(shape.get('duckdb_ms'))} | {ratio(shape.get('ratio_duckdb'))} | "
            f"{ms(shape.get('preview_ms'))} | {ratio(shape.get('ratio_preview'))} |"
        )
    lines += [
        "",
        "| Segment | count ms | API first page ms | / count | "
        "admin list ms | / count |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["pages"]:
        lines.append(
            f"| {row['shape']} | {ms(row['count_ms'])} | "
            f"{ms(row['api_members_first_page_ms'])} | "
            f"{ratio(row['api_members_first_page_ratio'])} | "
            f"{ms(row['admin_list_filtered_ms'])} | "
            f"{ratio(row['admin_list_filtered_ratio'])} |"
        )
    export = results["export"]
    recount = results["recount"]
    lines += [
        "",
        f"CSV export: {export['rows']:,} rows in {export['seconds']:.1f} s "
        f"({export['rows_per_second']:,.0f} rows/s), peak RSS "
        f"{export['peak_rss_mb']:.0f} MB.",
        "",
        f"recount_segments over {recount['segments']} segments "
        f"({recount['members']:,} members): first run "
        f"{recount['first_recount_s']:.1f} s ({recount['first_entered']:,} "
        f"memberships opened), repeat {recount['repeat_recount_s']:.1f} s, sum of "
        f"their counts {recount['sum_of_counts_s']:.1f} s; ratios "
        f"{recount['ratio_first']:.2f}× and {recount['ratio_repeat']:.2f}×.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1m", help="Label of the data set.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="One run of each, for CI.")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["counts", "duckdb", "preview", "pages", "export", "recount"],
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        metavar="KEY",
        choices=[shape.key for shape in SHAPES],
        help="Time only these shapes (default all).",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="Write EXPLAIN ANALYZE of every shape whose ratio misses.",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="Where to write results (the DuckDB file goes there too while it runs).",
    )
    parser.add_argument("--export-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django(args.database_url)
    if args.export_child:
        export_child(args.export_child)
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1.")
    if "counts" in args.skip and not {"duckdb", "preview"} <= set(args.skip):
        parser.error("--skip counts needs --skip duckdb preview: both compare counts.")

    from django.db import connection
    from django.utils import timezone

    if args.shapes:
        SHAPES[:] = [shape for shape in SHAPES if shape.key in args.shapes]
    repeats, warm = (1, False) if args.smoke else (args.repeats, True)
    now = timezone.now()
    params = {
        "now": now,
        "since_30": now - timedelta(days=30),
        "since_90": now - timedelta(days=90),
    }
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT state, count(*) FROM contacts_customer GROUP BY state")
        states = dict(sorted(cursor.fetchall()))
        cursor.execute("SELECT count(*) FROM events_event")
        events = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    print(f"Contacts {states}, events {events:,}", file=sys.stderr)

    segments = save_segments(now)
    if "counts" not in args.skip:
        time_counts(segments, params, repeats, warm)
    results = {
        "size": args.size,
        "database": database_name(args.database_url),
        "repeats": repeats,
        "rows": {"contacts by state": states, "events": events},
        "postgresql": server_version,
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(),
    }
    if "duckdb" not in args.skip:
        args.results_dir.mkdir(parents=True, exist_ok=True)
        duck_path = args.results_dir / f"duckdb-{args.size}.duckdb"
        results["duckdb_export_s"] = export_for_duckdb(duck_path)
        results["duckdb"] = time_duckdb(duck_path, params, repeats, warm)
        duck_path.unlink(missing_ok=True)
    if "preview" not in args.skip:
        time_previews(segments, now, repeats, warm)
    if "pages" not in args.skip:
        results["pages"] = time_pages(segments, repeats, warm)
    if "export" not in args.skip:
        results["export"] = time_export(args.database_url)
    if "recount" not in args.skip:
        results["recount"] = time_recount()
    if args.explain:
        for shape in SHAPES:
            if (
                shape.results.get("ratio_sql", 0) > 1.25
                or shape.results.get("ratio_duckdb", 0) > 2
            ):
                shape.results["explain_erxseg"] = explain_plain(
                    erxseg_count_sql(segments[shape.key], now)
                )
                shape.results["explain_sql"] = explain_analyze(shape.sql, params)
    results["shapes"] = [
        {"key": shape.key, "title": shape.title, **shape.results} for shape in SHAPES
    ]
    results["seconds"] = time.perf_counter() - started
    # A run of some steps or shapes keeps its own file, so it never
    # overwrites the complete results that docs/benchmarks.md quotes.
    partial = bool(args.skip or args.shapes)
    name = f"segments-{args.size}{'-partial' if partial else ''}"
    path = write_results(name, results, args.results_dir)
    if not partial:
        text = markdown(results)
        (args.results_dir / f"segments-{args.size}.md").write_text(text)
        print(text)
    print(f"Results in {path}", file=sys.stderr)
    return 0


def explain_plain(sql: str) -> str:
    """EXPLAIN ANALYZE of SQL whose parameters are already filled in."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql.replace("%", "%%"))
        return "\n".join(row[0] for row in cursor.fetchall())


if __name__ == "__main__":
    sys.exit(main())
