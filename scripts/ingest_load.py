"""Load-test the track endpoint over loopback with retries and dropped
connections, then check that events stored equal events acknowledged.

The script starts `manage.py runserver` on 127.0.0.1 against the database in
DATABASE_URL, creates a site, and sends --events events in batches from
--clients threads. Each batch carries one idempotency key per event. With
probability --drop-rate a client closes the connection right after sending
a batch, before reading the response, so the server may or may not have stored
it. The client then sends the same batch again, as the widget does, until it
gets a 202. With --restart-postgres the script runs its own PostgreSQL
cluster (initdb as the postgres user through runuser, so it must start as
root, in a temporary directory, on --pg-port) and restarts it --restarts
times, three seconds apart, while events stream in.

Example, against a database of your own:
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
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ORIGIN = "https://load.example"
REQUEST_TIMEOUT = 60


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="Events to send.")
    parser.add_argument("--batch", type=int, default=50, help="Events per request.")
    parser.add_argument("--clients", type=int, default=8, help="Client threads.")
    parser.add_argument("--visitors", type=int, default=2_000, help="Visitor ids.")
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.05,
        help="Share of requests whose connection the client drops (0 to 1).",
    )
    parser.add_argument("--port", type=int, default=8765, help="Server port.")
    parser.add_argument("--seed", type=int, default=1, help="Random seed.")
    parser.add_argument(
        "--restart-postgres",
        action="store_true",
        help="Run a private PostgreSQL cluster and restart it during the load.",
    )
    parser.add_argument("--restarts", type=int, default=3, help="Restarts to do.")
    parser.add_argument(
        "--server-log",
        type=Path,
        default=Path(os.devnull),
        help="File that receives the server's output (default: discarded).",
    )
    parser.add_argument(
        "--pg-port", type=int, default=55432, help="Port of the private cluster."
    )
    return parser.parse_args()


class PrivateCluster:
    """A throwaway PostgreSQL cluster owned by the postgres user."""

    def __init__(self, port: int):
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="erxseg-load-pg-"))
        self.data = self.directory / "data"
        shutil.chown(self.directory, user="postgres")

    def as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def pg_ctl(self, *arguments: str) -> None:
        self.as_postgres(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
            "-w",
            *arguments,
        )

    def start(self) -> str:
        self.as_postgres(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )
        self.pg_ctl("start")
        self.as_postgres(
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

    def restart(self) -> None:
        self.pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        try:
            self.pg_ctl("-m", "fast", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def manage(environment: dict, *arguments: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=PROJECT_DIR,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def create_site(environment: dict) -> tuple[int, str]:
    code = (
        "from events.models import Site\n"
        f"site = Site.objects.create(name='Load test', allowed_origins=['{ORIGIN}'])\n"
        "print('SITE', site.pk, site.write_key)\n"
    )
    output = manage(environment, "shell", stdin=code)
    line = next(line for line in output.splitlines() if line.startswith("SITE"))
    _, pk, key = line.split()
    return int(pk), key


def stored_counts(environment: dict, site_pk: int) -> dict:
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
    output = manage(environment, "shell", stdin=code)
    line = next(line for line in output.splitlines() if line.startswith("COUNTS"))
    return json.loads(line.removeprefix("COUNTS "))


def wait_for_server(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("The server did not start within the time limit.")


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = 0
        self.requests = 0
        self.drops = 0
        self.retries = 0
        self.errors_by_status: dict[int, int] = {}

    def add(self, **values: int) -> None:
        with self.lock:
            for name, value in values.items():
                setattr(self, name, getattr(self, name) + value)

    def error(self, status: int) -> None:
        with self.lock:
            self.errors_by_status[status] = self.errors_by_status.get(status, 0) + 1


def send_until_acknowledged(
    port: int,
    key: str,
    body: bytes,
    rng: random.Random,
    drop_rate: float,
    counters: Counters,
) -> None:
    """Send one batch until the server responds 202, dropping some tries."""
    attempt = 0
    while True:
        attempt += 1
        if attempt > 1:
            counters.add(retries=1)
            # Back off like the widget, capped so the test stays bounded.
            time.sleep(min(0.05 * 2 ** min(attempt, 6), 2.0))
        counters.add(requests=1)
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=REQUEST_TIMEOUT
        )
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
            if rng.random() < drop_rate:
                # The request is on the wire; drop the connection before
                # the response, as a phone that loses its network does.
                counters.add(drops=1)
                connection.sock.close()
                continue
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                return
            counters.error(response.status)
        except OSError:
            counters.error(0)
        finally:
            connection.close()


def run_clients(args, key: str, counters: Counters) -> None:
    batches = []
    for start in range(0, args.events, args.batch):
        size = min(args.batch, args.events - start)
        batches.append(size)
    queue = list(enumerate(batches))
    # Visitor ids are new on every run, so the rollup check counts only this
    # run's contacts even on a database that earlier runs used.
    run_id = uuid.uuid4().hex[:8]
    queue_lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(args.seed * 1000 + number)
        while True:
            with queue_lock:
                if not queue:
                    return
                index, size = queue.pop()
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
            send_until_acknowledged(args.port, key, body, rng, args.drop_rate, counters)
            counters.add(acknowledged=size)

    threads = [
        threading.Thread(target=client, args=(number,))
        for number in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def restart_during_load(cluster: PrivateCluster, restarts: int, stop: threading.Event):
    for _ in range(restarts):
        if stop.wait(3.0):
            return
        cluster.restart()
        print("Restarted PostgreSQL.", flush=True)


def main() -> int:
    args = parse_args()
    cluster = None
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
    if args.restart_postgres:
        cluster = PrivateCluster(args.pg_port)
        environment["DATABASE_URL"] = cluster.start()
    elif "DATABASE_URL" not in environment:
        raise SystemExit(
            "DATABASE_URL is missing. Point it at a database of your own, or "
            "pass --restart-postgres to use a private cluster."
        )

    server = None
    server_log = args.server_log.open("w")
    try:
        manage(environment, "migrate", "--noinput")
        site_pk, key = create_site(environment)
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
        wait_for_server(args.port, time.monotonic() + 60)

        counters = Counters()
        stop = threading.Event()
        restarter = None
        if cluster is not None:
            restarter = threading.Thread(
                target=restart_during_load, args=(cluster, args.restarts, stop)
            )
            restarter.start()
        started = time.monotonic()
        run_clients(args, key, counters)
        seconds = time.monotonic() - started
        stop.set()
        if restarter is not None:
            restarter.join()

        counts = stored_counts(environment, site_pk)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if cluster is not None:
            cluster.stop()
        server_log.close()

    report = {
        "events_sent": args.events,
        "acknowledged": counters.acknowledged,
        **counts,
        "requests": counters.requests,
        "dropped_connections": counters.drops,
        "retries": counters.retries,
        "failed_responses_by_status": counters.errors_by_status,
        "seconds": round(seconds, 1),
        "events_per_second": round(counters.acknowledged / seconds),
    }
    print(json.dumps(report, indent=2))
    ok = (
        counts["stored"] == counters.acknowledged == args.events
        and counts["distinct_keys"] == counts["stored"]
        and counts["rollup_total"] == counts["stored"]
    )
    print("Nothing lost, nothing doubled." if ok else "MISMATCH: see the figures.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
