"""Recount segments: store counts, membership entries and exits, and size
snapshots, in dependency order and under a lock.

The lock keeps two runs (a command, a Celery task, an admin action) from
interleaving. On PostgreSQL it is a session advisory lock; on other databases
(SQLite) it is an exclusive flock on a file next to the database. The server
drops an advisory lock when the session ends and the kernel drops a flock when
the process exits, so a run that was killed never leaves a stale lock.
"""

import fcntl
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef
from django.utils import timezone

from segments.models import Segment, SegmentMembership, SegmentSizeSnapshot
from segments.services import members_queryset

logger = logging.getLogger(__name__)

# Any fixed 64-bit number works; this one spells "erxseg" in ASCII.
ADVISORY_LOCK_KEY = 0x657278736567
LOCK_POLL_SECONDS = 0.2
RECOUNT_MEMBERS_TABLE = "erxseg_recount_members"


class RecountError(Exception):
    """Raised when segments cannot be recounted; the message is for users."""


class RecountLockBusyError(RecountError):
    pass


@dataclass(frozen=True)
class RecountResult:
    segment_id: int
    name: str
    member_count: int
    entered: int
    exited: int


@dataclass
class RecountSummary:
    results: list[RecountResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def members(self) -> int:
        return sum(result.member_count for result in self.results)

    @property
    def entered(self) -> int:
        return sum(result.entered for result in self.results)

    @property
    def exited(self) -> int:
        return sum(result.exited for result in self.results)

    def as_dict(self) -> dict:
        return {
            "segments": len(self.results),
            "members": self.members,
            "entered": self.entered,
            "exited": self.exited,
            "seconds": round(self.seconds, 3),
        }


def recount_segment(segment: Segment, *, now: datetime | None = None) -> RecountResult:
    """Bring one segment's open memberships in line with its rules, then
    store its count and a size snapshot, all in one transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        if segment.is_static:
            # Static members are added by hand, so their rows are the truth.
            entered = exited = 0
        else:
            members = members_queryset(segment, now=now).order_by()
            if connections[members.db].vendor == "postgresql":
                exited, entered = sync_memberships(segment, members=members, now=now)
            else:
                exited = close_departed_memberships(segment, members=members, now=now)
                entered = open_new_memberships(segment, members=members, now=now)

        member_count = SegmentMembership.objects.filter(
            segment=segment, exited_at__isnull=True
        ).count()
        SegmentSizeSnapshot.objects.create(
            segment=segment,
            member_count=member_count,
            entered=entered,
            exited=exited,
            taken_at=now,
        )
        Segment.objects.filter(pk=segment.pk).update(
            member_count=member_count, counted_at=now
        )

    segment.member_count = member_count
    segment.counted_at = now
    return RecountResult(segment.pk, segment.name, member_count, entered, exited)


def close_departed_memberships(segment: Segment, *, members, now: datetime) -> int:
    """Set exited_at on open memberships whose contact no longer matches
    (UPDATE ... WHERE NOT EXISTS) and return how many closed."""
    contact_column = f"{segment.contact_field}_id"
    still_member = members.filter(pk=OuterRef(contact_column))
    return (
        SegmentMembership.objects.filter(segment=segment, exited_at__isnull=True)
        .filter(~Exists(still_member))
        .update(exited_at=now)
    )


def open_new_memberships(segment: Segment, *, members, now: datetime) -> int:
    """Open a membership for each matching contact without an open one
    (INSERT ... SELECT ... WHERE NOT EXISTS) and return how many opened."""
    contact_field = segment.contact_field
    open_stay = SegmentMembership.objects.filter(
        segment=segment, exited_at__isnull=True, **{contact_field: OuterRef("pk")}
    )
    newcomers = (
        members.filter(~Exists(open_stay)).values_list("pk", flat=True).distinct()
    )
    connection = connections[newcomers.db]
    select_sql, select_params = newcomers.query.sql_with_params()

    quote = connection.ops.quote_name
    options = SegmentMembership._meta
    contact_column = options.get_field(contact_field).column
    sql = (
        f"INSERT INTO {quote(options.db_table)} "
        f"({quote('segment_id')}, {quote('entered_at')}, {quote(contact_column)}) "
        f"SELECT %s, %s, newcomer.* FROM ({select_sql}) newcomer"
    )
    # The INSERT's two placeholders come before the subquery's. The subquery
    # has one column, whose alias differs between Django versions, hence "*".
    params = [
        segment.pk,
        connection.ops.adapt_datetimefield_value(now),
        *select_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def sync_memberships(segment: Segment, *, members, now: datetime) -> tuple[int, int]:
    """Close departed and open new memberships on PostgreSQL, evaluating the
    rules once, and return (exited, entered).

    The members go into a temporary table first: CREATE TABLE AS can run
    the rules' query with parallel workers, which a statement that also
    writes (an UPDATE or INSERT with the query inside) cannot. At a million
    customers a repeat recount of 100 segments took 0.91 times the sum of
    their counts this way, and 1.6 to 2.0 times with one statement that
    read the members from a CTE (docs/benchmarks.md). The UPDATE and the
    INSERT touch disjoint contacts: the UPDATE closes stays of contacts
    that left, the INSERT opens stays for members without one.
    """
    connection = connections[members.db]
    quote = connection.ops.quote_name
    options = SegmentMembership._meta
    table = quote(options.db_table)
    contact = quote(options.get_field(segment.contact_field).column)
    select_sql, select_params = members.values("pk").query.sql_with_params()
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {RECOUNT_MEMBERS_TABLE} (id) ON COMMIT DROP "
            f"AS {select_sql}",
            select_params,
        )
        cursor.execute(
            f"""UPDATE {table} AS stay SET {quote("exited_at")} = %s
            WHERE stay.{quote("segment_id")} = %s
                AND stay.{quote("exited_at")} IS NULL
                AND stay.{contact} IS NOT NULL
                AND NOT EXISTS (
                    SELECT 1 FROM {RECOUNT_MEMBERS_TABLE} AS member
                    WHERE member.id = stay.{contact}
                )""",
            [moment, segment.pk],
        )
        exited = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO {table}
                ({quote("segment_id")}, {quote("entered_at")}, {contact})
            SELECT %s, %s, member.id FROM {RECOUNT_MEMBERS_TABLE} AS member
            WHERE NOT EXISTS (
                SELECT 1 FROM {table} AS open_stay
                WHERE open_stay.{quote("segment_id")} = %s
                    AND open_stay.{quote("exited_at")} IS NULL
                    AND open_stay.{contact} = member.id
            )""",
            [segment.pk, moment, segment.pk],
        )
        entered = cursor.rowcount
        # ON COMMIT DROP waits for the outermost commit; the next segment of
        # the same run needs the name sooner.
        cursor.execute(f"DROP TABLE {RECOUNT_MEMBERS_TABLE}")
    return exited, entered


def recount_order(segments: Iterable[Segment]) -> list[Segment]:
    """Sort `segments` so that parents and referenced segments come first.

    Dependencies that were not asked for still order the ones that were, so
    a grandchild waits for its grandparent even when the parent is skipped.
    Raise RecountError naming the segments of a dependency cycle.
    """
    selected = {segment.pk for segment in segments}
    everything = {segment.pk: segment for segment in Segment.objects.all()}
    dependencies = {
        pk: segment.dependency_ids() & everything.keys()
        for pk, segment in everything.items()
    }

    needed = set()
    pending = list(selected)
    while pending:
        pk = pending.pop()
        if pk in needed or pk not in everything:
            continue
        needed.add(pk)
        pending.extend(dependencies[pk])

    ordered = []
    done = set()
    remaining = sorted(needed, key=lambda pk: ordering_key(everything[pk]))
    while remaining:
        ready = [pk for pk in remaining if dependencies[pk] <= done]
        if not ready:
            names = ", ".join(f'"{everything[pk].name}"' for pk in remaining)
            raise RecountError(
                f"The segments {names} depend on each other in a cycle, so "
                "they cannot be recounted. Remove the parent or segment "
                "reference that closes the cycle."
            )
        ordered.extend(ready)
        done.update(ready)
        remaining = [pk for pk in remaining if pk not in done]
    return [everything[pk] for pk in ordered if pk in selected]


def ordering_key(segment: Segment) -> tuple:
    return (segment.content_type, segment.name.lower(), segment.pk)


ProgressCallback = Callable[[int, int, Segment], None]


def recount_segments(
    segments: Iterable[Segment] | None = None,
    *,
    wait: float = 0,
    on_progress: ProgressCallback | None = None,
) -> RecountSummary:
    """Recount `segments` (all when None) in dependency order under the
    recount lock.

    Each segment is saved in its own transaction, so a failure keeps the
    segments recounted before it and raises RecountError naming the segment.
    """
    if segments is None:
        segments = Segment.objects.all()

    summary = RecountSummary()
    with recount_lock(wait=wait):
        # The time excludes waiting for the lock.
        started = time.monotonic()
        refresh_membership_statistics()
        ordered = recount_order(segments)
        logger.debug("Recounting %d segments", len(ordered))
        for index, segment in enumerate(ordered, start=1):
            if on_progress:
                on_progress(index, len(ordered), segment)
            summary.results.append(recount_one(segment))

    summary.seconds = time.monotonic() - started
    # DEBUG, not INFO: each caller reports the summary itself (the command on
    # stdout, the admin in a message, Celery in the task's logged result), and
    # the default INFO handler would print it a second time on a terminal.
    logger.debug(
        "Recounted %d segments: %d members, %d entered, %d exited in %.1f s",
        len(summary.results),
        summary.members,
        summary.entered,
        summary.exited,
        summary.seconds,
    )
    return summary


def refresh_membership_statistics() -> None:
    """Run ANALYZE on the membership table on PostgreSQL.

    A recount inserts or closes many memberships at once, faster than
    autovacuum refreshes the statistics. With stale statistics the planner
    expects one open membership per segment and turns the NOT EXISTS of the
    next run into a nested loop: with 128,000 members it ran for over 10
    minutes instead of a second (local PostgreSQL, 2 cores). ANALYZE reads a
    sample of bounded size, so its cost does not grow with the table.
    """
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(SegmentMembership._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")


def recount_one(segment: Segment) -> RecountResult:
    try:
        return recount_segment(segment)
    except Exception as error:
        logger.exception("Recounting segment %s (%s) failed", segment.pk, segment)
        raise RecountError(
            f'Recounting the segment "{segment.name}" (id {segment.pk}) failed: '
            f"{error} The segments before it were saved. Fix this segment's rules "
            "and run the recount again."
        ) from error


@contextmanager
def recount_lock(
    *, wait: float = 0, connection: BaseDatabaseWrapper | None = None
) -> Iterator[None]:
    """Hold the recount lock for the block, waiting up to `wait` seconds for
    another run to release it; raise RecountLockBusyError after that."""
    connection = connection or connections["default"]
    if connection.vendor == "postgresql":
        lock = AdvisoryLock(connection)
    else:
        lock = FileLock(lock_file_path(connection))

    deadline = time.monotonic() + wait
    while not lock.try_acquire():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RecountLockBusyError(
                "Another recount is running, so this one did not start. Try "
                "again when it has finished."
            )
        time.sleep(min(LOCK_POLL_SECONDS, remaining))
    try:
        yield
    finally:
        lock.release()


class AdvisoryLock:
    """A PostgreSQL session advisory lock on the given connection."""

    def __init__(self, connection: BaseDatabaseWrapper):
        self.connection = connection

    def try_acquire(self) -> bool:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            return bool(cursor.fetchone()[0])

    def release(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


class FileLock:
    """An exclusive flock on a file. Two opens of the same file conflict even
    inside one process, because flock locks belong to the open file."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def try_acquire(self) -> bool:
        # release() closes the handle, which also drops the lock.
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def lock_file_path(connection: BaseDatabaseWrapper) -> Path:
    """Return the lock file for a database: next to a SQLite file, or in the
    temporary directory for an in-memory database."""
    name = str(connection.settings_dict["NAME"])
    database_file = Path(name)
    if database_file.is_file():
        return database_file.with_name(database_file.name + ".recount.lock")
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"erxseg-recount-{digest}.lock"
