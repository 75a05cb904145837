"""Load-test the track endpoint over loopback with retries and dropped
connections, then check that events stored equal events acknowledged.

The script starts `manage.py runserver` on 127.0.0.1 against the database in
DATABASE_URL, creates a site, and sends --events events in batches from
--clients threads. Each batch carries one idempotency key per event. Some
batches have their connection closed by the client right after the request
is sent, before the response is read, so the server may or may not have
stored them. Each attempt is dropped with probability --drop-rate. The client
then sends the same batch again, as the widget does, until it gets a 202.
Like the widget, it retries after a connection error, a 429 or a 5xx, and
gives up on any other status because that status would come back again.

With --restart-postgres the script runs its own PostgreSQL cluster (initdb
as the postgres user through runuser, so it must start as root, in a
temporary directory, on --pg-port). It restarts the cluster --restarts times
at evenly spaced points of the load. At each point the clients have taken
every batch before it, the cluster stops (fast mode, which ends open
sessions), the clients go on with the batches after it while the cluster is
down or starting, and the cluster starts again.

The batches, their events, keys, visitors and dropped attempts all come from
--seed, so two runs with the same options send the same requests. The
number of 500 responses and retries depends on timing. Pass or fail depends
only on counts: stored events, acknowledged events, distinct keys, rollup
total and restarts done. The run stops with a message and exit status 1
when it exceeds --timeout seconds, when a batch is not acknowledged after
--max-attempts attempts, or when the server rejects a batch for good.

Examples, the first against a database of your own:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/erxseg_load \\
        .venv/bin/python scripts/ingest_load.py --events 100000
    .venv/bin/python scripts/ingest_load.py --restart-postgres --events 20000

Exit status 0 means nothing was lost and nothing doubled.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ORIGIN = "https://load.example"
# Seconds one request may take. A request that outlives it counts as a
# connection error and is retried.
REQUEST_TIMEOUT = 30
# Dropped attempts per batch are drawn from --drop-rate and capped here, so a
# batch always has attempts left for real failures.
MAX_DROPS_PER_BATCH = 5


class LoadFailure(Exception):
    """A failure that ends the run; the message is for the operator."""


class Stopped(Exception):
    """The run is stopping because another part of it failed or timed out."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="Events to send.")
    parser.add_argument("--batch", type=int, default=50, help="Events per request.")
    parser.add_argument("--clients", type=int, default=8, help="Client threads.")
    parser.add_argument("--visitors", type=int, default=2_000, help="Visitor ids.")
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.05,
        help="Probability that the client drops an attempt's connection (0 to 1).",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="Port of the server on 127.0.0.1 (default: 0, a free port).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Random seed.")
    parser.add_argument(
        "--restart-postgres",
        action="store_true",
        help="Run a private PostgreSQL cluster and restart it during the load.",
    )
    parser.add_argument("--restarts", type=int, default=3, help="Restarts to do.")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1200,
        help="Seconds the whole run may take, setup and checks included.",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=40,
        help="Attempts per batch before the run fails.",
    )
    parser.add_argument(
        "--server-log",
        type=Path,
        default=None,
        help="File that receives the server's output (default: a temporary "
        "file, kept and named only when the run fails).",
    )
    parser.add_argument(
        "--pg-port", type=int, default=55432, help="Port of the private cluster."
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.batch < 1 or args.clients < 1:
        parser.error("--events, --batch and --clients must be at least 1.")
    if not 0 <= args.drop_rate < 1:
        parser.error(
            f"--drop-rate must be at least 0 and below 1, not {args.drop_rate}."
        )
    if args.restarts < 0:
        parser.error(f"--restarts must be 0 or more, not {args.restarts}.")
    if args.max_attempts <= MAX_DROPS_PER_BATCH:
        parser.error(f"--max-attempts must be above {MAX_DROPS_PER_BATCH}.")
    batch_count = -(-args.events // args.batch)
    if args.restart_postgres and args.restarts >= batch_count:
        parser.error(
            f"--restarts must be below the number of batches ({batch_count}), "
            "so that events stream in around every restart."
        )
    if args.timeout <= 0:
        parser.error(
            f"--timeout must be a positive number of seconds, not {args.timeout}."
        )
    return args


class Deadline:
    """The time left for the whole run."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() == 0.0

    def limit(self, step_seconds: float) -> float:
        """Return the seconds a step may take, or raise if none are left."""
        if self.expired():
            raise self.failure()
        return min(step_seconds, self.remaining())

    def failure(self) -> LoadFailure:
        return LoadFailure(
            f"The run timed out: it did not finish within --timeout "
            f"{self.seconds:g} seconds. Raise --timeout or send fewer --events."
        )


def run_step(
    description: str, command: list[str], deadline: Deadline, seconds: float, **kwargs
) -> subprocess.CompletedProcess:
    """Run a command within the deadline; raise LoadFailure when it fails."""
    timeout = deadline.limit(seconds)
    try:
        return subprocess.run(command, check=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as error:
        raise LoadFailure(
            f"{description} timed out after {timeout:.0f} seconds."
        ) from error
    except subprocess.CalledProcessError as error:
        output = error.stderr or error.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        raise LoadFailure(
            f"{description} failed with exit status {error.returncode}.\n"
            f"{output[-2000:]}"
        ) from error


def ensure_port_free(port: int, option: str) -> None:
    # Another server on the port would respond in place of this run's server,
    # and every batch would fail there, so check before starting.
    with socket.socket() as probe:
        # Servers set SO_REUSEADDR, so connections of an earlier run that are
        # still in TIME_WAIT do not count as the port being in use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise LoadFailure(
                f"Port {port} on 127.0.0.1 is already in use ({error.strerror}). "
                f"Stop what listens there or pass a free port with {option}."
            ) from error


def pick_free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateCluster:
    """A throwaway PostgreSQL cluster owned by the postgres user."""

    def __init__(self, port: int, deadline: Deadline):
        if os.geteuid() != 0:
            raise LoadFailure(
                "--restart-postgres must run as root: it runs initdb and pg_ctl "
                "as the postgres user through runuser."
            )
        self.binaries = {}
        for name in ("initdb", "pg_ctl", "createdb", "runuser"):
            path = shutil.which(name)
            if path is None:
                raise LoadFailure(
                    f"{name} is not on PATH. --restart-postgres needs the "
                    "PostgreSQL server programs and runuser."
                )
            self.binaries[name] = path
        ensure_port_free(port, "--pg-port")
        self.port = port
        self.deadline = deadline
        self.directory = Path(tempfile.mkdtemp(prefix="erxseg-load-pg-"))
        self.data = self.directory / "data"
        self.command_log = self.directory / "commands.log"
        shutil.chown(self.directory, user="postgres")
        self.running = False

    def as_postgres(self, description: str, name: str, *arguments: str) -> None:
        # pg_ctl's server inherits no descriptor of this process (its output
        # goes to server.log), but the commands' own messages go to a file
        # rather than a pipe so that nothing can hold a pipe open.
        with self.command_log.open("a") as log:
            start = log.tell()
            try:
                run_step(
                    description,
                    [
                        self.binaries["runuser"],
                        "-u",
                        "postgres",
                        "--",
                        self.binaries[name],
                        *arguments,
                    ],
                    self.deadline,
                    90,
                    stdout=log,
                    stderr=log,
                )
            except LoadFailure as failure:
                log.flush()
                output = self.command_log.read_text(errors="replace")[start:]
                raise LoadFailure(f"{failure}\n{output[-2000:]}") from failure

    def pg_ctl(self, description: str, *arguments: str) -> None:
        self.as_postgres(
            description,
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
            "-w",
            "-t",
            "60",
            *arguments,
        )

    def create(self) -> str:
        """Initialise and start the cluster; return the URL of its database."""
        self.as_postgres(
            "initdb",
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
        )
        self.start()
        self.as_postgres(
            "createdb",
            "createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "erxseg_load",
        )
        return f"postgres://postgres@127.0.0.1:{self.port}/erxseg_load"

    def start(self) -> None:
        self.pg_ctl("Starting the private PostgreSQL cluster", "start")
        self.running = True

    def stop(self) -> None:
        # Fast mode ends open sessions at once, as a crash or a failover
        # would, rather than waiting for clients to disconnect.
        self.pg_ctl("Stopping the private PostgreSQL cluster", "-m", "fast", "stop")
        self.running = False

    def destroy(self) -> None:
        try:
            if self.running:
                # Cleanup gets its own time even after the deadline passed.
                self.deadline = Deadline(60)
                self.pg_ctl("Stopping the private cluster", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def manage(
    environment: dict, deadline: Deadline, *arguments: str, stdin: str = ""
) -> str:
    result = run_step(
        f"manage.py {arguments[0]}",
        [sys.executable, "manage.py", *arguments],
        deadline,
        300,
        cwd=PROJECT_DIR,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
    )
    return result.stdout


def create_site(environment: dict, deadline: Deadline) -> tuple[int, str]:
    code = (
        "from events.models import Site\n"
        f"site = Site.objects.create(name='Load test', allowed_origins=['{ORIGIN}'])\n"
        "print('SITE', site.pk, site.write_key)\n"
    )
    output = manage(environment, deadline, "shell", stdin=code)
    line = next(line for line in output.splitlines() if line.startswith("SITE"))
    _, pk, key = line.split()
    return int(pk), key


def stored_counts(environment: dict, deadline: Deadline, site_pk: int) -> dict:
    code = (
        "import json\n"
        "from django.db.models import Count, Sum\n"
        "from events.models import CustomerEventStats, Event\n"
        f"events = Event.objects.filter(site_id={site_pk})\n"
        "keys = events.values('idempotency_key').distinct().count()\n"
        "customers = events.values('customer').distinct()\n"
        "rollup = CustomerEventStats.objects.filter(customer__in=customers)"
        ".aggregate(total=Sum('count'))['total'] or 0\n"
        "print('COUNTS', json.dumps({'stored': events.count(), "
        "'distinct_keys': keys, 'rollup_total': rollup}))\n"
    )
    output = manage(environment, deadline, "shell", stdin=code)
    line = next(line for line in output.splitlines() if line.startswith("COUNTS"))
    return json.loads(line.removeprefix("COUNTS "))


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_for_server(
    server: subprocess.Popen, port: int, log_path: Path, deadline: Deadline
) -> None:
    limit = time.monotonic() + deadline.limit(60)
    while time.monotonic() < limit:
        if server.poll() is not None:
            raise LoadFailure(
                f"The server exited with status {server.returncode} before it "
                f"responded on port {port}. Its output:\n{tail(log_path)}"
            )
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/")
            connection.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.3)
    raise LoadFailure(f"The server did not respond on port {port} within 60 seconds.")


@dataclass
class Batch:
    index: int
    size: int
    body: bytes
    # Attempts whose connection the client drops before sending the batch
    # for real, so the number of drops does not depend on timing.
    drops: int


def plan_batches(args: argparse.Namespace, run_id: str) -> list[Batch]:
    """Build every request of the run from --seed, before any is sent."""
    rng = random.Random(args.seed)
    batches = []
    for index, start in enumerate(range(0, args.events, args.batch)):
        size = min(args.batch, args.events - start)
        visitor = f"load-{run_id}-{rng.randrange(args.visitors):06d}"
        body = json.dumps(
            {
                "visitor_id": visitor,
                "events": [
                    {
                        "name": rng.choice(["page_viewed", "added_to_cart"]),
                        "attributes": {"batch": index, "position": position},
                        "idempotency_key": uuid.UUID(int=rng.getrandbits(128)).hex,
                    }
                    for position in range(size)
                ],
            }
        ).encode()
        drops = 0
        while drops < MAX_DROPS_PER_BATCH and rng.random() < args.drop_rate:
            drops += 1
        batches.append(Batch(index=index, size=size, body=body, drops=drops))
    return batches


def restart_points(batch_count: int, restarts: int) -> list[int]:
    """Return the batch indexes before which the cluster restarts."""
    return [batch_count * (number + 1) // (restarts + 1) for number in range(restarts)]


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = 0
        self.acknowledged_batches = 0
        self.requests = 0
        self.drops = 0
        self.retries = 0
        self.restarts = 0
        self.errors_by_status: dict[int, int] = {}

    def add(self, **values: int) -> None:
        with self.lock:
            for name, value in values.items():
                setattr(self, name, getattr(self, name) + value)

    def error(self, status: int) -> None:
        with self.lock:
            self.errors_by_status[status] = self.errors_by_status.get(status, 0) + 1


def is_retryable(status: int) -> bool:
    """Return whether the widget would send a batch again after `status`."""
    return status == 429 or status >= 500


def post_batch(port: int, key: str, body: bytes, *, drop: bool) -> int | None:
    """Send one attempt; return its status, 0 on a connection error, or None
    when the client dropped the connection on purpose."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(
            "POST",
            "/api/v1/track",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Erxseg-Key": key,
                "Origin": ORIGIN,
            },
        )
        if drop:
            # The request is on the wire; drop the connection before the
            # response, as a phone that loses its network does.
            connection.sock.close()
            return None
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def send_until_acknowledged(
    port: int,
    key: str,
    batch: Batch,
    counters: Counters,
    stop: threading.Event,
    max_attempts: int,
) -> None:
    """Send one batch until the server responds 202.

    Raise LoadFailure when the server rejects it with a status the widget
    does not retry or when `max_attempts` attempts fail, and Stopped when
    `stop` is set.
    """
    last_status = None
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            counters.add(retries=1)
            # Back off like the widget, but capped at 2 seconds instead of
            # its 60 so that a run stays short.
            if stop.wait(min(0.05 * 2 ** min(attempt, 6), 2.0)):
                raise Stopped
        if stop.is_set():
            raise Stopped
        counters.add(requests=1)
        status = post_batch(port, key, batch.body, drop=attempt <= batch.drops)
        if status == 202:
            return
        if status is None:
            counters.add(drops=1)
            continue
        counters.error(status)
        last_status = status
        if status and not is_retryable(status):
            raise LoadFailure(
                f"The server rejected batch {batch.index} with status {status}. "
                "The widget gives up on a 4xx other than 429, so this run "
                "stops. Check that --port reaches this run's own server."
            )
    described = "a connection error" if last_status == 0 else f"status {last_status}"
    raise LoadFailure(
        f"Batch {batch.index} was not acknowledged after {max_attempts} "
        f"attempts; the last one failed with {described}. Raise --max-attempts "
        "if the database needs longer to come back."
    )


class Load:
    """The batches of a run, handed to client threads in order.

    A gate holds back the batches from a restart point on until the cluster
    has stopped for that restart, so every restart falls inside the load.
    """

    def __init__(self, batches: list[Batch], gate: int):
        self.batches = batches
        self.condition = threading.Condition()
        self.handed_out = 0
        self.gate = gate
        self.stop = threading.Event()
        self.failures: list[str] = []

    def take(self) -> Batch | None:
        with self.condition:
            while self.handed_out >= self.gate and not self.stop.is_set():
                if self.handed_out >= len(self.batches):
                    return None
                self.condition.wait(0.5)
            if self.stop.is_set():
                return None
            batch = self.batches[self.handed_out]
            self.handed_out += 1
            self.condition.notify_all()
            return batch

    def wait_until_taken(self, count: int) -> None:
        with self.condition:
            while self.handed_out < count:
                if self.stop.is_set():
                    raise Stopped
                self.condition.wait(0.5)

    def open_gate(self, gate: int) -> None:
        with self.condition:
            self.gate = gate
            self.condition.notify_all()

    def fail(self, message: str) -> None:
        with self.condition:
            self.failures.append(message)
            self.stop.set()
            self.condition.notify_all()


def run_load(
    args: argparse.Namespace,
    key: str,
    batches: list[Batch],
    cluster: PrivateCluster | None,
    counters: Counters,
    deadline: Deadline,
) -> list[str]:
    """Send every batch, restarting the cluster on the way; return failures."""
    points = restart_points(len(batches), args.restarts) if cluster else []
    load = Load(batches, gate=points[0] if points else len(batches))

    def client() -> None:
        try:
            while (batch := load.take()) is not None:
                send_until_acknowledged(
                    args.port, key, batch, counters, load.stop, args.max_attempts
                )
                counters.add(acknowledged=batch.size, acknowledged_batches=1)
        except Stopped:
            return
        except LoadFailure as failure:
            load.fail(str(failure))
        except Exception as error:  # noqa: BLE001 - reported as a failure
            load.fail(f"A client thread failed: {error!r}")

    def restarter() -> None:
        try:
            for number, point in enumerate(points):
                load.wait_until_taken(point)
                cluster.stop()
                following = points[number + 1] if number + 1 < len(points) else None
                load.open_gate(following if following is not None else len(batches))
                cluster.start()
                counters.add(restarts=1)
                print(f"Restarted PostgreSQL before batch {point}.", flush=True)
        except Stopped:
            return
        except LoadFailure as failure:
            load.fail(str(failure))

    # Daemon threads, so that a request stuck past the deadline cannot keep
    # the process alive after the run has failed.
    threads = [
        threading.Thread(target=client, daemon=True) for _ in range(args.clients)
    ]
    if points:
        threads.append(threading.Thread(target=restarter, daemon=True))
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        if deadline.expired():
            load.fail(str(deadline.failure()))
            break
        time.sleep(0.2)
    load.stop.set()
    # A client waiting on a request that outlived the deadline would hold the
    # run for up to REQUEST_TIMEOUT, so wait briefly and leave it behind.
    for thread in threads:
        thread.join(2)
    if counters.acknowledged_batches < len(batches) and not load.failures:
        load.failures.append("The clients stopped before every batch was acknowledged.")
    return load.failures


def interrupt(signum, frame):
    # Turn SIGTERM (from `timeout` or CI) into the same clean stop as Ctrl-C,
    # so the server and the private cluster do not outlive the run.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = Deadline(args.timeout)
    signal.signal(signal.SIGTERM, interrupt)
    environment = {
        **os.environ,
        "DEBUG": "true",
        "ERXSEG_INGEST_RATE_PER_CLIENT": "100000000/minute",
        "ERXSEG_INGEST_RATE_PER_KEY": "100000000/minute",
        "LOG_LEVEL": "WARNING",
        # runserver starts a thread per request, and a persistent connection
        # stays open after its thread ends, so each request would leave one
        # behind until the server runs out of connection slots.
        "DATABASE_CONN_MAX_AGE": "0",
    }
    if not args.restart_postgres and "DATABASE_URL" not in environment:
        print(
            "DATABASE_URL is missing. Point it at a database of your own, or "
            "pass --restart-postgres to use a private cluster.",
            file=sys.stderr,
        )
        return 1

    if args.server_log is None:
        handle, name = tempfile.mkstemp(prefix="erxseg-load-server-", suffix=".log")
        os.close(handle)
        log_path, keep_log = Path(name), False
    else:
        log_path, keep_log = args.server_log, True

    cluster = None
    server = None
    counters = Counters()
    failures: list[str] = []
    counts = None
    started = time.monotonic()
    seconds = 0.0
    try:
        if args.port == 0:
            args.port = pick_free_port()
        ensure_port_free(args.port, "--port")
        if args.restart_postgres:
            cluster = PrivateCluster(args.pg_port, deadline)
            environment["DATABASE_URL"] = cluster.create()
        manage(environment, deadline, "migrate", "--noinput")
        site_pk, key = create_site(environment, deadline)
        # Visitor ids are new on every run, so the rollup check counts only
        # this run's contacts even on a database that earlier runs used.
        batches = plan_batches(args, run_id=uuid.uuid4().hex[:8])

        with log_path.open("w") as server_log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    f"127.0.0.1:{args.port}",
                ],
                cwd=PROJECT_DIR,
                env=environment,
                stdout=server_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_server(server, args.port, log_path, deadline)

        started = time.monotonic()
        failures = run_load(args, key, batches, cluster, counters, deadline)
        seconds = time.monotonic() - started
        if not failures:
            counts = stored_counts(environment, deadline, site_pk)
    except LoadFailure as failure:
        failures.append(str(failure))
    except KeyboardInterrupt:
        failures.append("Interrupted; stopped the server and the cluster.")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if cluster is not None:
            try:
                cluster.destroy()
            except LoadFailure as failure:
                failures.append(f"Cleanup: {failure}")

    seconds = seconds or time.monotonic() - started
    report = {
        "events_sent": args.events,
        "acknowledged": counters.acknowledged,
        **(counts or {}),
        "restarts": counters.restarts,
        "requests": counters.requests,
        "dropped_connections": counters.drops,
        "retries": counters.retries,
        "failed_responses_by_status": counters.errors_by_status,
        "seconds": round(seconds, 1),
        "events_per_second": round(counters.acknowledged / seconds) if seconds else 0,
    }
    print(json.dumps(report, indent=2))
    if failures:
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr)
        if server is not None:
            print(f"The server's output is in {log_path}.", file=sys.stderr)
        elif not keep_log:
            log_path.unlink(missing_ok=True)
        return 1
    if not keep_log:
        log_path.unlink(missing_ok=True)

    expected_restarts = args.restarts if cluster is not None else 0
    ok = (
        counts["stored"] == counters.acknowledged == args.events
        and counts["distinct_keys"] == counts["stored"]
        and counts["rollup_total"] == counts["stored"]
        and counters.restarts == expected_restarts
    )
    print("Nothing lost, nothing doubled." if ok else "MISMATCH: see the figures.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
