import io
import logging
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from contacts.factories import CompanyFactory, CustomerFactory
from contacts.models import CustomerState
from segments.models import (
    Segment,
    SegmentMembership,
    SegmentSizeSnapshot,
    SegmentType,
)
from segments.recount import (
    ADVISORY_LOCK_KEY,
    RecountError,
    lock_file_path,
    recount_lock,
    recount_segment,
    recount_segments,
)
from segments.services import count_segment
from segments.tasks import recount_segments_task
from tests.segments.fixtures.builders import (
    country_is,
    make_segment,
    property_is,
    rules_of,
    segment_ref,
)

pytestmark = pytest.mark.django_db

SUMMARY = re.compile(
    r"^Recounted (?P<segments>[\d,]+) segments?: (?P<members>[\d,]+) members, "
    r"(?P<entered>[\d,]+) entered, (?P<exited>[\d,]+) exited in \d+\.\d s\.$"
)


class TerminalOutput(io.StringIO):
    def isatty(self):
        return True


def run_recount(*args, stdout=None):
    stdout = stdout or io.StringIO()
    call_command("recount_segments", *args, stdout=stdout, no_color=True)
    return stdout.getvalue()


def open_customer_ids(segment):
    return set(
        SegmentMembership.objects.filter(
            segment=segment, exited_at__isnull=True
        ).values_list("customer_id", flat=True)
    )


@pytest.fixture
def germans():
    return [
        CustomerFactory(country="Germany", city="Berlin"),
        CustomerFactory(country="Germany", city="Hamburg"),
    ]


@pytest.fixture
def french():
    return CustomerFactory(country="France", city="Paris")


@pytest.fixture
def germany_segment(germans, french):
    return make_segment("Customers in Germany", country_is("Germany"))


def test_recount_segment_new_matches_open_memberships(germany_segment, germans):
    result = recount_segment(germany_segment)

    assert (result.member_count, result.entered, result.exited) == (2, 2, 0)
    assert open_customer_ids(germany_segment) == {customer.pk for customer in germans}
    snapshot = SegmentSizeSnapshot.objects.get(segment=germany_segment)
    assert (snapshot.member_count, snapshot.entered, snapshot.exited) == (2, 2, 0)
    germany_segment.refresh_from_db()
    assert germany_segment.member_count == 2
    assert germany_segment.counted_at == snapshot.taken_at


def test_recount_segment_count_matches_sources(germany_segment):
    CustomerFactory(country="Germany", state=CustomerState.LEAD)

    recount_segment(germany_segment)

    germany_segment.refresh_from_db()
    open_rows = SegmentMembership.objects.filter(
        segment=germany_segment, exited_at__isnull=True
    ).count()
    assert germany_segment.member_count == count_segment(germany_segment)
    assert germany_segment.member_count == open_rows
    assert open_rows == 2


def test_recount_segment_narrowed_rules_close_memberships(germany_segment, germans):
    recount_segment(germany_segment)
    berliner, hamburger = germans
    Segment.objects.filter(pk=germany_segment.pk).update(
        rules=rules_of(country_is("Germany"), property_is("city", "Berlin"))
    )
    germany_segment.refresh_from_db()

    result = recount_segment(germany_segment)

    assert (result.member_count, result.entered, result.exited) == (1, 0, 1)
    assert open_customer_ids(germany_segment) == {berliner.pk}
    closed = SegmentMembership.objects.get(segment=germany_segment, customer=hamburger)
    assert closed.exited_at is not None
    latest = SegmentSizeSnapshot.objects.filter(segment=germany_segment).first()
    assert (latest.member_count, latest.entered, latest.exited) == (1, 0, 1)


def test_recount_segment_reentry_opens_second_row(germany_segment, germans):
    recount_segment(germany_segment)
    traveller = germans[0]
    traveller.country = "France"
    traveller.save(update_fields=["country"])
    recount_segment(germany_segment)
    traveller.country = "Germany"
    traveller.save(update_fields=["country"])

    result = recount_segment(germany_segment)

    assert (result.entered, result.exited) == (1, 0)
    stays = SegmentMembership.objects.filter(
        segment=germany_segment, customer=traveller
    ).order_by("entered_at", "pk")
    assert [stay.exited_at is None for stay in stays] == [False, True]


def test_recount_segment_unchanged_writes_snapshot_only(germany_segment):
    recount_segment(germany_segment)

    result = recount_segment(germany_segment)

    assert (result.member_count, result.entered, result.exited) == (2, 0, 0)
    assert SegmentMembership.objects.filter(segment=germany_segment).count() == 2
    assert SegmentSizeSnapshot.objects.filter(segment=germany_segment).count() == 2


def test_recount_segment_state_change_exits(germany_segment, germans):
    recount_segment(germany_segment)
    germans[0].state = CustomerState.LEAD
    germans[0].save(update_fields=["state"])

    result = recount_segment(germany_segment)

    assert (result.member_count, result.exited) == (1, 1)
    assert open_customer_ids(germany_segment) == {germans[1].pk}


def test_recount_segment_company_segment_uses_company_rows(db):
    acme = CompanyFactory(name="Acme", country="USA")
    CompanyFactory(name="Globex", country="Canada")
    segment = make_segment(
        "US companies", country_is("USA"), content_type=SegmentType.COMPANY
    )

    result = recount_segment(segment)

    assert (result.member_count, result.entered) == (1, 1)
    membership = SegmentMembership.objects.get(segment=segment)
    assert (membership.company_id, membership.customer_id) == (acme.pk, None)


def test_recount_segment_static_keeps_hand_added_members(germans):
    segment = make_segment("VIPs", is_static=True)
    SegmentMembership.objects.create(segment=segment, customer=germans[0])

    result = recount_segment(segment)

    assert (result.member_count, result.entered, result.exited) == (1, 0, 0)
    assert open_customer_ids(segment) == {germans[0].pk}


def test_recount_segments_parents_and_references_first(germans):
    # Names sort against the dependency order, so only the order can explain
    # the result.
    base = make_segment("Z base", country_is("Germany"))
    child = make_segment("A child", property_is("city", "Berlin"), parent=base)
    referrer = make_segment("B referrer", segment_ref(child))
    unrelated = make_segment("C unrelated", country_is("France"))
    seen = []

    recount_segments(on_progress=lambda index, total, segment: seen.append(segment))

    assert [segment.name for segment in seen] == [
        "C unrelated",
        "Z base",
        "A child",
        "B referrer",
    ]
    assert {segment.pk for segment in seen} == {
        base.pk,
        child.pk,
        referrer.pk,
        unrelated.pk,
    }


def test_recount_segments_selection_keeps_dependency_order(germans):
    base = make_segment("Z base", country_is("Germany"))
    child = make_segment("A child", property_is("city", "Berlin"), parent=base)
    make_segment("C unrelated", country_is("France"))
    seen = []

    recount_segments(
        Segment.objects.filter(pk__in=[child.pk, base.pk]),
        on_progress=lambda index, total, segment: seen.append(segment.name),
    )

    assert seen == ["Z base", "A child"]


def test_recount_segments_cycle_names_segments_and_writes_nothing(germans):
    first = make_segment("First")
    second = make_segment("Second", segment_ref(first))
    # Validation rejects cycles; this stores one directly to test the guard.
    Segment.objects.filter(pk=first.pk).update(rules=rules_of(segment_ref(second)))

    with pytest.raises(CommandError) as raised:
        run_recount()

    assert str(raised.value) == (
        'The segments "First", "Second" depend on each other in a cycle, so '
        "they cannot be recounted. Remove the parent or segment reference that "
        "closes the cycle."
    )
    assert SegmentSizeSnapshot.objects.count() == 0
    assert SegmentMembership.objects.count() == 0


def test_recount_segments_failure_keeps_earlier_and_names_segment(germans):
    good = make_segment("A good", country_is("Germany"))
    broken = make_segment(
        "B broken",
        {"type": "property", "property": "no_such_field", "operator": "is", "value": 1},
    )

    with pytest.raises(RecountError) as raised:
        recount_segments()

    assert str(raised.value).startswith(
        f'Recounting the segment "B broken" (id {broken.pk}) failed: '
    )
    assert SegmentSizeSnapshot.objects.filter(segment=good).count() == 1
    assert SegmentSizeSnapshot.objects.filter(segment=broken).count() == 0
    assert SegmentMembership.objects.filter(segment=broken).count() == 0


def test_recount_command_prints_one_summary_line(germany_segment):
    make_segment("Customers in France", country_is("France"))

    output = run_recount()

    lines = output.splitlines()
    assert len(lines) == 1
    match = SUMMARY.match(lines[0])
    assert match is not None, output
    assert match.group("segments", "members", "entered", "exited") == (
        "2",
        "3",
        "3",
        "0",
    )


def test_recount_command_terminal_shows_progress(germany_segment, caplog):
    make_segment("Customers in France", country_is("France"))
    terminal = TerminalOutput()

    with caplog.at_level(logging.INFO):
        output = run_recount(stdout=terminal)

    assert "\r[" in output
    assert "2/2 Customers in Germany" in output
    assert SUMMARY.match(output.splitlines()[-1])
    # The default log handler writes INFO to the same terminal, so a logged
    # summary would show the result a second time.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_recount_command_by_id_name_and_type(germany_segment):
    france = make_segment("Customers in France", country_is("France"))
    company_segment = make_segment(
        "US companies", country_is("USA"), content_type=SegmentType.COMPANY
    )

    run_recount("--id", str(france.pk))
    run_recount("--name", "Customers in Germany")
    run_recount("--type", "company")

    assert SegmentSizeSnapshot.objects.filter(segment=france).count() == 1
    assert SegmentSizeSnapshot.objects.filter(segment=germany_segment).count() == 1
    assert SegmentSizeSnapshot.objects.filter(segment=company_segment).count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--id", "abc"],
            '--id "abc" is not a segment id. Give a whole number, such as --id 3.',
        ),
        (
            ["--id", "999999"],
            '--id "999999" matches no segment. Check the id in the admin segment list.',
        ),
        (
            ["--name", "Nobody"],
            '--name "Nobody" matches no segment. Give the exact name as the admin '
            "segment list shows it.",
        ),
        (
            ["--type", "deal"],
            '--type "deal" is not a segment type. Use one of: customer, lead, '
            "visitor, company.",
        ),
        (
            ["--type", "company", "--name", "Customers in Germany"],
            '--name "Customers in Germany" matches no segment of type "company". '
            "Give the exact name as the admin segment list shows it.",
        ),
    ],
)
def test_recount_command_bad_option_names_value(germany_segment, args, message):
    with pytest.raises(CommandError) as raised:
        run_recount(*args)

    assert str(raised.value) == message
    assert SegmentSizeSnapshot.objects.count() == 0


def test_recount_command_failure_exits_non_zero():
    # Bad options fail before the database is read, so a plain manage.py run
    # returns the exit code and message that a shell or scheduler gets.
    completed = subprocess.run(
        [sys.executable, "manage.py", "recount_segments", "--type", "deal"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        env={"DEBUG": "true", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )

    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        'CommandError: --type "deal" is not a segment type. Use one of: '
        "customer, lead, visitor, company."
    )


@pytest.fixture
def other_connection():
    """A second connection to the test database, standing in for another
    process that runs a recount."""
    other = connections.create_connection("default")
    yield other
    other.close()


def test_recount_command_lock_held_fails_and_writes_nothing(
    germany_segment, other_connection
):
    with recount_lock(connection=other_connection):
        with pytest.raises(CommandError) as raised:
            run_recount()

    assert str(raised.value) == (
        "Another recount is running, so this one did not start. Try again when "
        "it has finished. To wait for it instead, pass --wait with a number of "
        "seconds."
    )
    assert SegmentSizeSnapshot.objects.count() == 0


def test_recount_command_wait_gives_up_after_timeout(germany_segment, other_connection):
    with recount_lock(connection=other_connection):
        started = time.monotonic()
        with pytest.raises(CommandError):
            run_recount("--wait", "0.5")
        waited = time.monotonic() - started

    assert waited >= 0.5
    assert SegmentSizeSnapshot.objects.count() == 0


def test_recount_command_lock_free_after_holder_ends(germany_segment, other_connection):
    with recount_lock(connection=other_connection):
        pass

    output = run_recount()

    assert SUMMARY.match(output.strip())


def test_recount_command_lock_free_after_failed_run(germany_segment):
    with pytest.raises(CommandError):
        run_recount("--type", "deal")
    broken = make_segment("Broken", {"type": "nonsense"})
    with pytest.raises(CommandError):
        run_recount()
    Segment.objects.filter(pk=broken.pk).delete()

    output = run_recount()

    assert SUMMARY.match(output.strip())


LOCK_HOLDER_SQLITE = """
import fcntl, sys, time
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""

LOCK_HOLDER_POSTGRES = """
import sys, time
import psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
conn.execute("SELECT pg_advisory_lock(%s)", [int(sys.argv[2])])
print("locked", flush=True)
time.sleep(60)
"""


def start_lock_holder():
    """Start a process that takes the recount lock and sleeps."""
    if connection.vendor == "postgresql":
        params = connection.get_connection_params()
        dsn = " ".join(
            f"{key}={params[key]}"
            for key in ("host", "port", "user", "dbname", "password")
            if params.get(key)
        )
        args = [LOCK_HOLDER_POSTGRES, dsn, str(ADVISORY_LOCK_KEY)]
    else:
        args = [LOCK_HOLDER_SQLITE, str(lock_file_path(connection))]
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(args[0]), *args[1:]],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_recount_command_killed_holder_leaves_no_stale_lock(germany_segment):
    holder = start_lock_holder()
    try:
        with pytest.raises(CommandError):
            run_recount()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    if connection.vendor != "postgresql":
        assert Path(lock_file_path(connection)).exists()

    # The server ends the killed session's advisory lock a moment later.
    output = run_recount("--wait", "5")

    assert SUMMARY.match(output.strip())
    assert SegmentSizeSnapshot.objects.count() == 1


def test_recount_task_runs_without_broker(germany_segment):
    make_segment("Customers in France", country_is("France"))

    result = recount_segments_task.apply(
        kwargs={"segment_ids": [germany_segment.pk]}
    ).get()

    assert result["segments"] == 1
    assert (result["members"], result["entered"], result["exited"]) == (2, 2, 0)
    germany_segment.refresh_from_db()
    assert germany_segment.member_count == 2


def test_recount_segment_snapshot_time_is_counted_at(germany_segment):
    moment = timezone.now() - timedelta(minutes=5)

    recount_segment(germany_segment, now=moment)

    germany_segment.refresh_from_db()
    assert germany_segment.counted_at == moment
    assert SegmentMembership.objects.get(
        segment=germany_segment, customer__city="Berlin"
    ).entered_at == (moment)


def test_load_demo_segments_idempotent_prints_counts(db):
    from events.models import CustomerEventStats, Event, Site

    big_spender = CustomerFactory(
        country="United Kingdom",
        tracked_data={"source": "online_retail", "spend_gbp": 1500.0},
    )
    ordered_at = datetime(2011, 11, 20, 10, 0, tzinfo=UTC)
    Event.objects.create(
        site=Site.objects.create(name="Demo shop"),
        customer=big_spender,
        name="order_placed",
        attributes={"amount": 612.5},
        occurred_at=ordered_at,
    )
    CustomerEventStats.objects.create(
        customer=big_spender,
        name="order_placed",
        count=1,
        first_occurred_at=ordered_at,
        last_occurred_at=ordered_at,
    )
    CustomerFactory(
        country="Germany", tracked_data={"source": "online_retail", "spend_gbp": 20}
    )
    CompanyFactory(name="Apple Inc.", country="USA")
    first = io.StringIO()

    call_command("load_demo_segments", stdout=first, no_color=True)
    second = io.StringIO()
    call_command("load_demo_segments", stdout=second, no_color=True)

    assert Segment.objects.count() == 7
    assert second.getvalue().splitlines() == [
        "  Companies in the USA: 1 member",
        "  Big orders in the 2011 Christmas season: 1 member",
        "  Customers in Germany: 1 member",
        "  Customers with a company: 0 members",
        "  Frequent buyers: 0 members",
        "  Retail big spenders: 1 member",
        "  Retail big spenders in the United Kingdom: 1 member",
        "Loaded 7 demo segments with 5 members in all.",
    ]
    assert first.getvalue() == second.getvalue()
    child = Segment.objects.get(name="Retail big spenders in the United Kingdom")
    assert child.parent.name == "Retail big spenders"


def test_recount_segment_relative_rules_use_given_now(db):
    moment = timezone.now()
    CustomerFactory(last_seen_at=moment - timedelta(days=10))
    recent = make_segment(
        "Seen this week",
        {
            "type": "property",
            "property": "last_seen_at",
            "operator": "in_last",
            "value": {"amount": 7, "unit": "days"},
        },
    )

    earlier = recount_segment(recent, now=moment - timedelta(days=5))
    later = recount_segment(recent, now=moment)

    assert (earlier.member_count, earlier.entered) == (1, 1)
    assert (later.member_count, later.exited) == (0, 1)
