"""The checks that decide the exit status of bench/ingest.py.

CI runs the benchmark itself as `bench/ingest.py --smoke`. These tests pin
when a phase counts as passed: stored equals acknowledged, every request got
a response, and the rollups equal what the event rows add up to.
"""

import datetime

import pytest
from django.db import connection

from bench.ingest import (
    DEFAULT_RESULTS_DIR,
    Phase,
    SetupError,
    Tables,
    check_consistency,
    parse_args,
    recreate_database,
    summarise_phase,
)
from contacts.models import Customer, CustomerState
from events.models import CustomerEventStats, Event, Site

BATCH_PHASE = Phase("Batch", "batch", 50, 20)


def wrk_output(
    *,
    sent=10,
    received=10,
    status_2xx=10,
    status_other=0,
    duplicates=0,
    rejected=0,
    read_errors=0,
):
    """Return what bench/ingest_track.lua prints, for one wrk thread."""
    thread = {
        "sent": sent,
        "received": received,
        "status_2xx": status_2xx,
        "status_other": status_other,
        "events_stored": status_2xx * 50 - duplicates - rejected,
        "events_duplicate": duplicates,
        "events_rejected": rejected,
        "first_sent_at": 100.0,
        "last_received_at": 102.0,
    }
    return {
        "requests": received,
        "errors": {
            "connect": 0,
            "read": read_errors,
            "write": 0,
            "status": status_other,
            "timeout": 0,
        },
        "latency_us": {
            "p50": 150_000,
            "p90": 200_000,
            "p99": 300_000,
            "mean": 160_000.0,
            "max": 400_000,
        },
        "threads": [thread],
    }


def test_summarise_phase_all_stored_passes():
    # when
    result = summarise_phase(BATCH_PHASE, wrk_output(), stored=500)

    # then
    assert result["problems"] == []
    assert result["events_acknowledged"] == 500
    assert result["events_stored"] == 500
    assert result["seconds"] == 2.0
    assert result["events_per_second"] == 250.0
    assert result["requests_per_second"] == 5.0
    assert result["latency_ms"]["p50"] == 150.0
    assert result["latency_ms"]["p99"] == 300.0


@pytest.mark.parametrize(
    ("wrk", "stored", "problem"),
    [
        (wrk_output(), 450, "50 acknowledged events not stored."),
        (wrk_output(), 550, "50 stored events never acknowledged."),
        (
            wrk_output(sent=11),
            500,
            "1 request got no response before wrk stopped, so their events "
            "cannot be accounted for. Raise --drain.",
        ),
        (wrk_output(status_2xx=9, status_other=1), 450, "1 response not 2xx."),
        (wrk_output(duplicates=2), 500, "2 events reported as duplicates."),
        (wrk_output(rejected=3), 500, "3 events rejected."),
        (wrk_output(read_errors=1), 500, "1 socket error in wrk."),
    ],
)
def test_summarise_phase_fault_is_a_problem(wrk, stored, problem):
    # when
    result = summarise_phase(BATCH_PHASE, wrk, stored=stored)

    # then
    assert result["problems"] == [problem]


def test_parse_args_smoke_defaults():
    # when
    args = parse_args(["--smoke"])

    # then
    assert args.duration == 3
    assert args.warmup == 1
    assert args.drain == 2
    assert args.connections == 4
    assert args.wrk_threads == 1
    assert args.results_dir is None


def test_parse_args_full_defaults():
    # when
    args = parse_args([])

    # then
    assert args.duration == 20
    assert args.warmup == 5
    assert args.drain == 5
    assert args.connections == 16
    assert args.wrk_threads == 2
    assert args.batch == 50
    assert args.results_dir == DEFAULT_RESULTS_DIR


def test_parse_args_fewer_connections_than_threads_exits():
    with pytest.raises(SystemExit):
        parse_args(["--connections", "1", "--wrk-threads", "2"])


def test_recreate_database_without_bench_in_name_raises():
    # when
    with pytest.raises(SetupError) as raised:
        recreate_database("postgres://postgres@127.0.0.1:5432/erxseg")

    # then
    assert "The database erxseg would be dropped" in str(raised.value)


@pytest.fixture
def bench_tables():
    return Tables(
        event=Event._meta.db_table,
        stats=CustomerEventStats._meta.db_table,
        customer=Customer._meta.db_table,
    )


@pytest.fixture
def visitor_with_two_events(db):
    """Return a site and a benchmark visitor with two order_placed events."""
    site = Site.objects.create(name="Benchmark", allowed_origins=["*"])
    visitor = Customer.objects.create(
        state=CustomerState.VISITOR, visitor_id="bench-visitor-00001"
    )
    first = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    last = first + datetime.timedelta(hours=1)
    for key, moment in [("run-b-1-1", first), ("run-b-1-2", last)]:
        Event.objects.create(
            site=site,
            customer=visitor,
            visitor_id=visitor.visitor_id,
            name="order_placed",
            occurred_at=moment,
            idempotency_key=key,
        )
    return site, visitor, first, last


def consistency_of(site, tables):
    # The benchmark reads through psycopg; the raw connection shares the
    # test's transaction, so it sees the rows created above.
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        return check_consistency(cursor, tables, site.pk)


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="The benchmark's consistency queries are PostgreSQL SQL.",
)
def test_check_consistency_matching_rollup_passes(
    visitor_with_two_events, bench_tables
):
    # given
    site, visitor, first, last = visitor_with_two_events
    CustomerEventStats.objects.create(
        customer=visitor,
        name="order_placed",
        count=2,
        first_occurred_at=first,
        last_occurred_at=last,
    )

    # when
    result = consistency_of(site, bench_tables)

    # then
    assert result["problems"] == []
    assert result["rollups"] == 1
    assert result["rollup_total"] == 2
    assert result["events_total"] == 2
    assert result["visitor_contacts"] == 1


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="The benchmark's consistency queries are PostgreSQL SQL.",
)
def test_check_consistency_wrong_count_fails(visitor_with_two_events, bench_tables):
    # given
    site, visitor, first, last = visitor_with_two_events
    CustomerEventStats.objects.create(
        customer=visitor,
        name="order_placed",
        count=3,
        first_occurred_at=first,
        last_occurred_at=last,
    )

    # when
    result = consistency_of(site, bench_tables)

    # then
    assert result["rollups_wrong"] == 1
    assert result["problems"] == [
        "1 of 1 rollup (customer, event name) disagree with the event rows.",
        "The rollups count 3 events, the event table contains 2.",
    ]
