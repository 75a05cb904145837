"""Benchmark event ingest under gunicorn with wrk, against raw inserts.

Usage:
    .venv/bin/python bench/ingest.py                 # 20 s per phase
    .venv/bin/python bench/ingest.py --smoke         # CI: under 30 s in all

The run drops and recreates the PostgreSQL database in --database-url (its
name must contain "bench"), migrates it and creates a site that allows any
origin. It then serves erxseg under gunicorn on 127.0.0.1 and drives
POST /api/v1/track with wrk (bench/ingest_track.lua) in two phases: one
event per request, then --batch events per request. Every event is an
`order_placed` with the attributes of the demo data's retail orders, a
visitor id from a fixed pool and an idempotency key of its own. Last, a
baseline inserts as many rows as the batch phase acknowledged straight into
the event table with psycopg's `executemany`, --batch rows per transaction
on one connection, and the batch phase's rate is compared with it.

Server settings, chosen to look like production on a small machine:
- DEBUG off, a random SECRET_KEY, HTTP only (no SSL redirect), log level
  WARNING, so nothing is logged per request.
- Persistent database connections (DATABASE_CONN_MAX_AGE=600), one per
  gunicorn thread.
- --workers 2 with --threads 4 (the gthread worker). Two workers match the
  two CPUs of the machine the figures in bench/results/ come from. A request
  spends much of its time waiting for PostgreSQL (17 queries for one event,
  160 for a batch of 50), and threads let a worker run one request's Python
  during another's waits. In 8-second runs on that machine, under a load
  average of 4 to 8 from other work, 1, 4 and 8 threads per worker gave
  563, 627 and 647 batch events/s and 38, 51 and 52 single events/s. More
  than one thread helps a little, and past four the gain is within the noise.
- wrk: 16 connections by default, two per server thread, so each thread has
  a request waiting when it finishes one. Latency therefore includes the
  time a request waits in gunicorn's queue. Each request opens a connection
  of its own (Connection: close), as nginx does towards its upstream by
  default. With keep-alive, wrk opens all its connections at once and one
  worker tends to accept every one of them while the other stays idle.
- The per-key and per-client ingest throttles are raised for this server
  only, through ERXSEG_INGEST_RATE_PER_KEY and ERXSEG_INGEST_RATE_PER_CLIENT,
  because all of wrk's requests come from one address with one key.
- An untimed warm-up of --warmup seconds of batches runs first, and the
  tables are analyzed after it (see analyze_tables), so the phases run with
  loaded workers and planner statistics as in a running installation.

How the checks stay exact: wrk sends for --duration seconds, after which the
Lua script keeps every connection idle for --drain seconds until wrk stops.
So every request has time to finish, and a request still without a response
when wrk stops fails the run, because its events cannot be accounted for. The
events acknowledged are wrk's 2xx responses times the events per request,
and must equal the rows stored under that phase's idempotency keys. The
script also checks that no response reported a duplicate or a rejected
event, that each visitor has one contact, and that the per-customer rollups
(CustomerEventStats) equal counts, first and last times computed from the
event rows.

Exit status: 0 when every check passed; 1 when an event was lost, doubled or
left unaccounted for, a rollup is wrong, or a response was not 2xx; 2 when
the run could not be set up. Missing the throughput target (batch ingest at
25% or more of the raw insert rate) is reported, not an error.

Results go to bench/results/ingest.json and bench/results/ingest.md (with
--smoke, only to --results-dir when it is given), and the Markdown table is
printed.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

PROJECT_DIR = Path(__file__).resolve().parent.parent
LUA_SCRIPT = PROJECT_DIR / "bench" / "ingest_track.lua"
DEFAULT_RESULTS_DIR = PROJECT_DIR / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/erxseg_bench_ingest"
WRK = "/usr/bin/wrk"
TRACK_PATH = "/api/v1/track"
VISITOR_PREFIX = "bench-visitor-"
# Ingest throttles for the benchmark's own server: far above what one
# machine can serve. Per second, so DRF's throttle keeps one second of
# request times per key instead of a minute's.
UNTHROTTLED_RATE = "1000000/second"
TARGET_RATIO = 0.25
# The same countries as bench/ingest_track.lua, for the raw baseline rows.
COUNTRIES = [
    "United Kingdom",
    "Germany",
    "France",
    "EIRE",
    "Spain",
    "Netherlands",
    "Belgium",
    "Switzerland",
    "Portugal",
    "Australia",
]


class SetupError(Exception):
    """The benchmark could not start. The message names the fix."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="PostgreSQL database to drop, recreate and fill. Its name must "
        "contain 'bench' (default: %(default)s).",
    )
    parser.add_argument(
        "--duration", type=int, help="Seconds of load per phase (default: 20)."
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help="Seconds of untimed batch load before the phases, after which "
        "the tables are analyzed (default: 5).",
    )
    parser.add_argument(
        "--drain",
        type=int,
        help="Seconds wrk keeps running after the load so every request "
        "finishes (default: 5).",
    )
    parser.add_argument(
        "--connections", type=int, help="wrk connections (default: 16)."
    )
    parser.add_argument("--wrk-threads", type=int, help="wrk threads (default: 2).")
    parser.add_argument(
        "--batch",
        type=int,
        default=50,
        help="Events per request in the batch phase, and rows per "
        "transaction in the raw baseline (default: %(default)s).",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn worker processes."
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="Threads per gunicorn worker."
    )
    parser.add_argument(
        "--visitors",
        type=int,
        default=1000,
        help="Size of the visitor id pool (default: %(default)s).",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=18200,
        help="Port of the gunicorn server on 127.0.0.1 (default: %(default)s).",
    )
    parser.add_argument(
        "--raw-repeats",
        type=int,
        default=3,
        help="Passes of the raw insert baseline. Its rate is their median "
        "(default: %(default)s).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Random seed.")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="Short run for CI: 3 s per phase, 4 connections and 1 wrk thread. "
        "It checks stored = acknowledged and asserts no timing.",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        help="Directory for ingest.json and ingest.md (default: bench/results). "
        "With --smoke, nothing is written unless this is given.",
    )
    parser.add_argument(
        "--server-log",
        type=Path,
        help="File for gunicorn's output (default: a file in the temporary "
        "directory, printed when the server fails).",
    )
    args = parser.parse_args(argv)

    smoke_defaults = {"duration": 3, "drain": 2, "connections": 4, "wrk_threads": 1}
    smoke_defaults["warmup"] = 1
    full_defaults = {"duration": 20, "drain": 5, "connections": 16, "wrk_threads": 2}
    full_defaults["warmup"] = 5
    for name, value in (smoke_defaults if args.smoke else full_defaults).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.results_dir is None and not args.smoke:
        args.results_dir = DEFAULT_RESULTS_DIR

    positive = ["duration", "warmup", "drain", "connections", "wrk_threads", "batch"]
    positive += ["workers", "threads", "visitors", "raw_repeats"]
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be 1 or more.")
    if args.connections < args.wrk_threads:
        parser.error("--connections must be at least --wrk-threads.")
    if args.visitors > 99_999:
        parser.error("--visitors must be at most 99999 (five-digit visitor ids).")
    return args


# Database


def database_name(database_url: str) -> str:
    name = conninfo_to_dict(database_url).get("dbname")
    if not name:
        raise SetupError(
            f"--database-url {database_url} names no database. Add one, for "
            "example postgres://postgres@127.0.0.1:5432/erxseg_bench_ingest."
        )
    return name


def recreate_database(database_url: str) -> None:
    """Drop the benchmark database if it exists and create it empty."""
    name = database_name(database_url)
    if "bench" not in name:
        raise SetupError(
            f"The database {name} would be dropped, and its name does not "
            "contain 'bench'. Give --database-url a database of its own for "
            "benchmarks, for example erxseg_bench_ingest."
        )
    try:
        admin = psycopg.connect(
            make_conninfo(database_url, dbname="postgres"), autocommit=True
        )
    except psycopg.OperationalError as error:
        raise SetupError(
            f"Cannot connect to PostgreSQL for {database_url}: {error}".strip()
        ) from None
    with admin:
        identifier = sql.Identifier(name)
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier)
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(identifier))


def server_environment(args: argparse.Namespace) -> dict[str, str]:
    """Return the environment of the server and of the setup in this process."""
    environment = dict(os.environ)
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "erxseg.settings",
            "DATABASE_URL": args.database_url,
            "DATABASE_CONN_MAX_AGE": "600",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "ERXSEG_INGEST_RATE_PER_KEY": UNTHROTTLED_RATE,
            "ERXSEG_INGEST_RATE_PER_CLIENT": UNTHROTTLED_RATE,
        }
    )
    return environment


@dataclass
class Tables:
    event: str
    stats: str
    customer: str


def prepare_database(
    environment: dict[str, str], batch: int
) -> tuple[int, str, Tables]:
    """Migrate the database and create the site. Return the site's pk, its
    write key and the table names.

    Django runs in this process with the server's settings, so the site and
    the migrations use exactly what the server will see.
    """
    os.environ.update(environment)
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from contacts.models import Customer
    from events.models import CustomerEventStats, Event, Site

    if batch > settings.ERXSEG_INGEST_MAX_BATCH:
        raise SetupError(
            f"--batch {batch} is above ERXSEG_INGEST_MAX_BATCH "
            f"({settings.ERXSEG_INGEST_MAX_BATCH}), so every batch would be "
            "rejected. Use a smaller --batch."
        )

    call_command("migrate", interactive=False, verbosity=0)
    site = Site.objects.create(name="Benchmark", allowed_origins=["*"])
    tables = Tables(
        event=Event._meta.db_table,
        stats=CustomerEventStats._meta.db_table,
        customer=Customer._meta.db_table,
    )
    connections.close_all()
    return site.pk, site.write_key, tables


# Server


def ensure_port_free(port: int) -> None:
    with socket.socket() as probe:
        # As gunicorn does, so connections of an earlier run that are still
        # in TIME_WAIT do not count as a listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise SetupError(
                f"Port {port} on 127.0.0.1 is in use ({error.strerror}). Stop "
                "what listens there or choose another --port."
            ) from None


def start_server(
    args: argparse.Namespace, environment: dict[str, str], log_path: Path
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "erxseg.wsgi",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--worker-class",
        "gthread",
        "--timeout",
        "120",
        "--chdir",
        str(PROJECT_DIR),
        "--log-level",
        "warning",
    ]
    log = log_path.open("ab")
    try:
        # A session of its own, so Ctrl-C in the terminal reaches only this
        # script, which then stops the server and its workers in order.
        return subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def wait_for_server(server: subprocess.Popen, port: int, log_path: Path) -> None:
    """Wait until the server responds over HTTP. Raise SetupError if it exits
    first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SetupError(
                f"gunicorn exited with status {server.returncode} at start. Its "
                f"output:\n{log_path.read_text(errors='replace')[-3000:]}"
            )
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("OPTIONS", TRACK_PATH)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.2)
    raise SetupError(
        f"gunicorn did not respond within 60 seconds. Its output is in {log_path}."
    )


def stop_process(process: subprocess.Popen | None, *, grace: float) -> None:
    """Send SIGTERM to the process group, then SIGKILL after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def report_server_log(log_path: Path, *, keep: bool) -> None:
    """Print where gunicorn's output is when it wrote any, and otherwise
    delete the empty file."""
    lines = log_path.read_text(errors="replace").splitlines()
    if lines:
        print(f"gunicorn wrote {len(lines)} lines to {log_path}.", flush=True)
    elif not keep:
        log_path.unlink()


# Load


@dataclass
class Phase:
    name: str
    mode: str
    events_per_request: int
    seconds: int
    timed: bool = True

    @property
    def key_prefix(self) -> str:
        # The idempotency keys that bench/ingest_track.lua builds for this
        # phase start with this, followed by the run id.
        return f"-{self.mode[0]}-"


def run_wrk(
    args: argparse.Namespace,
    phase: Phase,
    write_key: str,
    run_id: str,
) -> dict:
    """Run one wrk phase and return wrk's summary with the Lua counters."""
    total = phase.seconds + args.drain
    command = [
        WRK,
        "--threads",
        str(args.wrk_threads),
        "--connections",
        str(args.connections),
        "--duration",
        f"{total}s",
        # Idle connections during the drain must not count as timeouts, and
        # wrk's latency histogram spans up to this value.
        "--timeout",
        f"{args.drain + 5}s",
        "--latency",
        "--script",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{args.port}{TRACK_PATH}",
        "--",
        phase.mode,
        str(phase.events_per_request),
        str(args.visitors),
        run_id,
        write_key,
        str(phase.seconds),
        str(args.seed),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=total + 60)
    except subprocess.TimeoutExpired:
        raise SetupError(
            f"wrk ran more than 60 seconds past its {total} s duration and was stopped."
        ) from None
    finally:
        stop_process(process, grace=5)
    if process.returncode != 0:
        raise SetupError(f"wrk exited with status {process.returncode}: {stderr}")
    line = next(
        (line for line in stdout.splitlines() if line.startswith("BENCH_RESULT ")),
        None,
    )
    if line is None:
        raise SetupError(f"wrk printed no BENCH_RESULT line:\n{stdout}\n{stderr}")
    return json.loads(line.removeprefix("BENCH_RESULT "))


def summarise_phase(phase: Phase, wrk: dict, stored: int) -> dict:
    """Combine wrk's figures with the rows stored into one phase result."""
    threads = wrk["threads"]
    total = {
        name: sum(int(thread[name]) for thread in threads)
        for name in [
            "sent",
            "received",
            "status_2xx",
            "status_other",
            "events_stored",
            "events_duplicate",
            "events_rejected",
        ]
    }
    started = min(thread["first_sent_at"] for thread in threads if thread["sent"])
    finished = max(thread["last_received_at"] for thread in threads)
    seconds = max(finished - started, 1e-9)
    acknowledged = total["status_2xx"] * phase.events_per_request
    errors = wrk["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"]

    problems = []
    if total["sent"] != total["received"]:
        unanswered = total["sent"] - total["received"]
        problems.append(
            f"{plural(unanswered, 'request')} got no response before wrk "
            "stopped, so their events cannot be accounted for. Raise --drain."
        )
    if socket_errors:
        problems.append(f"{plural(socket_errors, 'socket error')} in wrk.")
    if total["status_other"]:
        problems.append(f"{plural(total['status_other'], 'response')} not 2xx.")
    if total["events_duplicate"]:
        problems.append(
            f"{plural(total['events_duplicate'], 'event')} reported as duplicates."
        )
    if total["events_rejected"]:
        problems.append(f"{plural(total['events_rejected'], 'event')} rejected.")
    if stored < acknowledged:
        missing = acknowledged - stored
        problems.append(f"{plural(missing, 'acknowledged event')} not stored.")
    if stored > acknowledged:
        extra = stored - acknowledged
        problems.append(f"{plural(extra, 'stored event')} never acknowledged.")

    return {
        "phase": phase.name,
        "timed": phase.timed,
        "events_per_request": phase.events_per_request,
        "requests_sent": total["sent"],
        "responses": total["received"],
        "responses_2xx": total["status_2xx"],
        "responses_non_2xx": total["status_other"],
        "socket_errors": socket_errors,
        "events_acknowledged": acknowledged,
        "events_confirmed_in_responses": total["events_stored"],
        "events_stored": stored,
        "seconds": round(seconds, 3),
        "requests_per_second": round(total["status_2xx"] / seconds, 1),
        "events_per_second": round(acknowledged / seconds, 1),
        "latency_ms": {
            name: round(value / 1000, 2) for name, value in wrk["latency_us"].items()
        },
        "problems": problems,
    }


# Checks and baseline


def count_phase_rows(cursor, tables: Tables, site_pk: int, prefix: str) -> int:
    cursor.execute(
        sql.SQL(
            "SELECT count(*) FROM {} WHERE site_id = %s AND idempotency_key LIKE %s"
        ).format(sql.Identifier(tables.event)),
        [site_pk, prefix.replace("_", r"\_") + "%"],
    )
    return cursor.fetchone()[0]


def analyze_tables(cursor, tables: Tables) -> None:
    """Collect planner statistics on the tables that ingest reads.

    Without statistics PostgreSQL guesses that site_id = X selects 0.5% of
    the events. It then finds stored idempotency keys through the site_id
    index and filters every event of the site, instead of using the unique
    (site_id, idempotency_key) index, so each request gets slower as the
    table grows. Autovacuum analyzes the tables of a running installation,
    but it may be off, as on the machine behind bench/results/, and when on
    it runs at unpredictable moments of a short benchmark.
    """
    for table in [tables.event, tables.customer, tables.stats]:
        cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def check_consistency(cursor, tables: Tables, site_pk: int) -> dict:
    """Compare the rollups and the visitor contacts with the event rows."""
    event = sql.Identifier(tables.event)
    stats = sql.Identifier(tables.stats)
    customer = sql.Identifier(tables.customer)
    cursor.execute(
        sql.SQL(
            """
            WITH counted AS (
                SELECT customer_id, name, count(*) AS total,
                       min(occurred_at) AS first_at, max(occurred_at) AS last_at
                FROM {event} WHERE site_id = %s GROUP BY customer_id, name
            )
            SELECT count(*),
                   count(*) FILTER (
                       WHERE counted.total IS DISTINCT FROM rollup.count
                          OR counted.first_at IS DISTINCT FROM rollup.first_occurred_at
                          OR counted.last_at IS DISTINCT FROM rollup.last_occurred_at
                   ),
                   coalesce(sum(rollup.count), 0),
                   coalesce(sum(counted.total), 0)
            FROM counted FULL JOIN {stats} AS rollup USING (customer_id, name)
            """
        ).format(event=event, stats=stats),
        [site_pk],
    )
    pairs, wrong_pairs, rollup_total, event_total = cursor.fetchone()

    cursor.execute(
        sql.SQL(
            "SELECT count(*), count(DISTINCT visitor_id) FROM {} "
            "WHERE visitor_id LIKE %s"
        ).format(customer),
        [VISITOR_PREFIX + "%"],
    )
    contacts, distinct_visitors = cursor.fetchone()
    cursor.execute(
        sql.SQL(
            "SELECT count(*) FROM {event} JOIN {customer} "
            "ON {customer}.id = {event}.customer_id "
            "WHERE {event}.site_id = %s "
            "AND {customer}.visitor_id <> {event}.visitor_id"
        ).format(event=event, customer=customer),
        [site_pk],
    )
    misfiled = cursor.fetchone()[0]

    problems = []
    if wrong_pairs:
        problems.append(
            f"{wrong_pairs} of {plural(pairs, 'rollup')} (customer, event name) "
            "disagree with the event rows."
        )
    if rollup_total != event_total:
        problems.append(
            f"The rollups count {plural(rollup_total, 'event')}, the event table "
            f"contains {event_total}."
        )
    if contacts != distinct_visitors:
        problems.append(
            f"{plural(contacts, 'contact')} for "
            f"{plural(distinct_visitors, 'visitor id')}."
        )
    if misfiled:
        problems.append(
            f"{plural(misfiled, 'event')} on the contact of another visitor id."
        )
    return {
        "rollups": pairs,
        "rollups_wrong": wrong_pairs,
        "rollup_total": int(rollup_total),
        "events_total": int(event_total),
        "visitor_contacts": contacts,
        "events_on_wrong_contact": misfiled,
        "problems": problems,
    }


def raw_insert_baseline(
    connection, tables: Tables, site_pk: int, *, rows: int, batch: int, args
) -> dict:
    """Insert `rows` events with executemany, `batch` per transaction, and
    time it --raw-repeats times; the rate reported is the median.

    The rows are built before the clock starts. Repeating matters on a
    shared machine, where one pass can run at a third of another's rate.
    """
    cursor = connection.cursor()
    cursor.execute(
        sql.SQL("SELECT visitor_id, id FROM {} WHERE visitor_id LIKE %s").format(
            sql.Identifier(tables.customer)
        ),
        [VISITOR_PREFIX + "%"],
    )
    contacts = cursor.fetchall()
    connection.commit()
    if not contacts or not rows:
        return {"rows": 0, "rows_per_second": 0.0, "passes": []}

    statement = sql.SQL(
        "INSERT INTO {} (site_id, customer_id, visitor_id, name, attributes, "
        "occurred_at, received_at, page_url, idempotency_key) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    ).format(sql.Identifier(tables.event))
    rng = random.Random(args.seed)
    passes = []
    for number in range(args.raw_repeats):
        values = raw_rows(rng, contacts, site_pk, rows, key_prefix=f"raw{number}-")

        started = time.perf_counter()
        for start in range(0, rows, batch):
            with connection.transaction():
                cursor.executemany(statement, values[start : start + batch])
        seconds = time.perf_counter() - started

        passes.append(
            {"seconds": round(seconds, 3), "rows_per_second": round(rows / seconds, 1)}
        )
    return {
        "rows": rows,
        "rows_per_transaction": batch,
        "rows_per_second": statistics.median(p["rows_per_second"] for p in passes),
        "passes": passes,
    }


def raw_rows(
    rng: random.Random, contacts: list, site_pk: int, rows: int, *, key_prefix: str
) -> list[tuple]:
    """Build event rows shaped like the ones bench/ingest_track.lua sends."""
    now = datetime.datetime.now(datetime.UTC)
    values = []
    for number in range(rows):
        visitor_id, customer_pk = rng.choice(contacts)
        attributes = {
            "invoice": f"R-{number}",
            "amount": rng.randint(100, 50000) / 100,
            "items": rng.randint(1, 40),
            "lines": rng.randint(1, 12),
            "country": rng.choice(COUNTRIES),
        }
        values.append(
            (
                site_pk,
                customer_pk,
                visitor_id,
                "order_placed",
                Jsonb(attributes),
                now,
                now,
                "https://bench.example/checkout",
                f"{key_prefix}{number}",
            )
        )
    return values


# Report


def machine_description(database_url: str) -> dict:
    models = []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            models.append(line.split(":", 1)[1].strip())
    with psycopg.connect(database_url) as connection:
        postgres = connection.execute("SHOW server_version").fetchone()[0]
    wrk_version = subprocess.run(
        [WRK, "--version"], capture_output=True, text=True
    ).stdout.split(" [")[0]
    import gunicorn

    return {
        "cpu_model": models[0] if models else platform.processor(),
        "cpu_count": len(models) or os.cpu_count(),
        "postgresql": postgres,
        "python": platform.python_version(),
        "gunicorn": gunicorn.__version__,
        "wrk": wrk_version.strip(),
    }


def code_description(database_url: str) -> dict:
    """Return the commit, the app files changed since it, and the migrations
    applied, so a result can be traced to the code that produced it."""
    git = ["git", "-C", str(PROJECT_DIR)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    status = subprocess.run(
        [*git, "status", "--porcelain", "--", "contacts", "erxseg", "events"],
        capture_output=True,
        text=True,
    ).stdout
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT app, max(name) FROM django_migrations "
            "WHERE app IN ('contacts', 'events') GROUP BY app ORDER BY app"
        ).fetchall()
    return {
        "commit": commit or "unknown",
        "uncommitted": [line[3:] for line in status.splitlines()],
        "migrations": {app: name for app, name in rows},
    }


def render_markdown(results: dict) -> str:
    """Render the results as a table, notes and a paragraph on the setup."""
    lines = table_lines(results)
    lines.append("")
    lines += note_lines(results)
    lines.append("")
    lines.append(setup_paragraph(results))
    return "\n".join(lines) + "\n"


def table_lines(results: dict) -> list[str]:
    lines = [
        "| Phase | Events per request | Requests (2xx) | Non-2xx | Events "
        "acknowledged | Events stored | Events/s | p50 ms | p99 ms | Check |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in results["phases"]:
        if not phase["timed"]:
            continue
        latency = phase["latency_ms"]
        check = "ok" if not phase["problems"] else "FAILED"
        lines.append(
            f"| {phase['phase']} | {phase['events_per_request']} | "
            f"{phase['responses_2xx']:,} | {phase['responses_non_2xx']:,} | "
            f"{phase['events_acknowledged']:,} | {phase['events_stored']:,} | "
            f"{phase['events_per_second']:,.0f} | {latency['p50']:.1f} | "
            f"{latency['p99']:.1f} | {check} |"
        )

    raw = results["raw_baseline"]
    lines.append(
        f"| Raw `executemany`, {results['settings']['batch']} rows per "
        f"transaction, median of {len(raw['passes'])} | – | – | – | – | "
        f"{raw['rows']:,} | "
        f"{raw['rows_per_second']:,.0f} | – | – | – |"
    )
    return lines


def note_lines(results: dict) -> list[str]:
    ratio = results["batch_to_raw_ratio"]
    verdict = "met" if results["target_met"] else "missed"
    consistency = results["consistency"]
    raw = results["raw_baseline"]
    lines = [
        f"- Batch ingest rate / raw insert rate: {ratio:.1%} (target "
        f"{TARGET_RATIO:.0%}: {verdict}).",
        "- Raw insert passes: "
        + ", ".join(f"{p['rows_per_second']:,.0f}" for p in raw["passes"])
        + " rows/s, on one connection, inserting as many rows as the batch "
        "phase acknowledged.",
        "- Events/s: events acknowledged divided by the time from the first "
        "request sent to the last response received. Latency: wrk's, from "
        "sending a request to its response.",
        f"- Rollups: {consistency['rollups']:,} (customer, event) rows, "
        f"{consistency['rollups_wrong']} wrong. They count "
        f"{consistency['rollup_total']:,} of the {consistency['events_total']:,} "
        "events stored through the endpoint.",
    ]
    for phase in results["phases"]:
        if phase["timed"]:
            continue
        check = "ok" if not phase["problems"] else "FAILED"
        lines.append(
            f"- Before the phases: {results['settings']['warmup']} s of untimed "
            f"batches ({phase['events_stored']:,} events stored, {check}), then "
            "ANALYZE on the event, contact and rollup tables."
        )
    return lines


def setup_paragraph(results: dict) -> str:
    settings = results["settings"]
    machine = results["machine"]
    code = results["code"]
    uncommitted = (
        f" (uncommitted changes: {', '.join(code['uncommitted'])})"
        if code["uncommitted"]
        else ""
    )
    migrations = ", ".join(f"{app} {name}" for app, name in code["migrations"].items())
    return (
        f"Machine: {machine['cpu_count']} × {machine['cpu_model']}, PostgreSQL "
        f"{machine['postgresql']} on the same machine, Python {machine['python']}. "
        f"Server: gunicorn {machine['gunicorn']}, {settings['workers']} workers × "
        f"{settings['threads']} threads (gthread), DEBUG off, persistent "
        f"database connections. Load: {machine['wrk']}, "
        f"{plural(settings['wrk_threads'], 'thread')}, "
        f"{settings['connections']} connections, {settings['duration']} s "
        f"per phase plus {settings['drain']} s of drain, {settings['visitors']:,} "
        "visitor ids. Load average (1, 5, 15 min) before the run: "
        f"{results['load_before']}; after the load: {results['load_after']}. Run at "
        f"{results['started_at']}: `{results['command']}`. Code: commit "
        f"{code['commit']}{uncommitted}. Migrations: {migrations}."
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def run(args: argparse.Namespace) -> int:
    if not shutil.which(WRK):
        raise SetupError(f"{WRK} is missing. Install Debian's wrk package.")
    ensure_port_free(args.port)
    run_id = uuid.uuid4().hex[:8]
    started_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    load_before = load_average()

    recreate_database(args.database_url)
    environment = server_environment(args)
    site_pk, write_key, tables = prepare_database(environment, args.batch)

    log_path = args.server_log or Path(
        tempfile.gettempdir(), f"erxseg-bench-ingest-{os.getpid()}-gunicorn.log"
    )
    server = None
    warmup = Phase("Warm-up", "warmup", args.batch, args.warmup, timed=False)
    phases = [
        warmup,
        Phase("Single event", "single", 1, args.duration),
        Phase("Batch", "batch", args.batch, args.duration),
    ]
    phase_results = []
    try:
        server = start_server(args, environment, log_path)
        wait_for_server(server, args.port, log_path)
        with psycopg.connect(args.database_url) as connection:
            cursor = connection.cursor()
            for phase in phases:
                print(
                    f"{phase.name}: {phase.seconds} s of load and {args.drain} s "
                    f"of drain, {args.connections} connections…",
                    flush=True,
                )
                wrk = run_wrk(args, phase, write_key, run_id)
                stored = count_phase_rows(
                    cursor, tables, site_pk, run_id + phase.key_prefix
                )
                if phase is warmup:
                    analyze_tables(cursor, tables)
                connection.commit()
                phase_results.append(summarise_phase(phase, wrk, stored))
    finally:
        stop_process(server, grace=15)
        if log_path.exists():
            report_server_log(log_path, keep=args.server_log is not None)

    load_after = load_average()
    with psycopg.connect(args.database_url) as connection:
        consistency = check_consistency(connection.cursor(), tables, site_pk)
        connection.commit()
        batch_result = phase_results[-1]
        print("Raw insert baseline…", flush=True)
        raw = raw_insert_baseline(
            connection,
            tables,
            site_pk,
            rows=batch_result["events_acknowledged"],
            batch=args.batch,
            args=args,
        )

    ratio = (
        batch_result["events_per_second"] / raw["rows_per_second"]
        if raw["rows_per_second"]
        else 0.0
    )
    results = {
        "started_at": started_at.isoformat(),
        "command": " ".join(["bench/ingest.py", *sys.argv[1:]]),
        "smoke": args.smoke,
        "settings": {
            name: getattr(args, name)
            for name in [
                "duration",
                "warmup",
                "drain",
                "connections",
                "wrk_threads",
                "batch",
                "workers",
                "threads",
                "visitors",
                "raw_repeats",
            ]
        },
        "machine": machine_description(args.database_url),
        "code": code_description(args.database_url),
        "load_before": load_before,
        "load_after": load_after,
        "phases": phase_results,
        "consistency": consistency,
        "raw_baseline": raw,
        "batch_to_raw_ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
    }
    markdown = render_markdown(results)
    print()
    print(markdown)
    if args.results_dir is not None:
        args.results_dir.mkdir(parents=True, exist_ok=True)
        (args.results_dir / "ingest.json").write_text(
            json.dumps(results, indent=2) + "\n"
        )
        (args.results_dir / "ingest.md").write_text(markdown)
        print(f"Results written to {args.results_dir}/ingest.json and ingest.md.")

    problems = [
        f"{phase['phase']}: {problem}"
        for phase in phase_results
        for problem in phase["problems"]
    ]
    problems += [f"Consistency: {problem}" for problem in consistency["problems"]]
    if problems:
        print("Checks FAILED:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("Checks passed: stored = acknowledged in each phase, rollups add up.")
    return 0


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    # SIGTERM takes the same way out as Ctrl-C, so the finally blocks stop
    # gunicorn and wrk.
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    try:
        return run(args)
    except SetupError as error:
        print(f"bench/ingest.py: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted. The server and wrk were stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
