"""The retry loop and the bounds of scripts/ingest_load.py, the script behind
`make fault-restart`, against a stub HTTP server.

The restart run itself needs root and a private PostgreSQL cluster, so CI
runs it as its own step (`make fault-restart`). These tests pin what keeps
that step bounded. A status the widget does not retry ends the run at once,
and retries are capped. A run past its deadline stops with a message. A port
held by another server is reported before anything starts.
"""

import argparse
import http.server
import importlib.util
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "ingest_load", PROJECT_DIR / "scripts" / "ingest_load.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ingest_load = load_script()


class StubServer:
    """An HTTP server on 127.0.0.1 that responds to POSTs with scripted statuses.

    Once the script runs out, the last status repeats. A status of None holds
    the request open until the stub stops.
    """

    def __init__(self, statuses: list[int | None]):
        self.statuses = list(statuses)
        self.received = 0
        self.release = threading.Event()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                stub.received += 1
                status = (
                    stub.statuses.pop(0) if len(stub.statuses) > 1 else stub.statuses[0]
                )
                if status is None:
                    stub.release.wait(10)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def one_batch(drops: int = 0):
    return ingest_load.Batch(index=7, size=2, body=b'{"events": []}', drops=drops)


def load_args(**overrides) -> argparse.Namespace:
    return ingest_load.parse_args(
        [f"--{name.replace('_', '-')}={value}" for name, value in overrides.items()]
    )


def test_plan_batches_same_seed_same_requests():
    # given
    args = load_args(events=1000, batch=50, drop_rate=0.2, seed=3)

    # when
    first = ingest_load.plan_batches(args, run_id="run")
    second = ingest_load.plan_batches(args, run_id="run")

    # then
    assert [batch.body for batch in first] == [batch.body for batch in second]
    assert [batch.drops for batch in first] == [batch.drops for batch in second]
    assert len(first) == 20
    assert sum(batch.size for batch in first) == 1000
    assert sum(batch.drops for batch in first) > 0


def test_plan_batches_other_seed_other_keys():
    # given
    args = load_args(events=100, batch=50, seed=1)
    other = load_args(events=100, batch=50, seed=2)

    # when
    first = ingest_load.plan_batches(args, run_id="run")
    second = ingest_load.plan_batches(other, run_id="run")

    # then
    assert first[0].body != second[0].body


def test_restart_points_evenly_spaced():
    assert ingest_load.restart_points(100, 2) == [33, 66]
    assert ingest_load.restart_points(100, 1) == [50]
    assert ingest_load.restart_points(100, 0) == []


def test_parse_args_more_restarts_than_batches_rejected(capsys):
    # when
    with pytest.raises(SystemExit):
        ingest_load.parse_args(
            ["--restart-postgres", "--events=100", "--batch=50", "--restarts=2"]
        )

    # then
    assert "--restarts must be below the number of batches (2)" in (
        capsys.readouterr().err
    )


def test_send_until_acknowledged_retries_server_errors():
    # given
    counters = ingest_load.Counters()

    # when
    with StubServer([500, 503, 202]) as stub:
        ingest_load.send_until_acknowledged(
            stub.port, "key", one_batch(), counters, threading.Event(), 5
        )

    # then
    assert stub.received == 3
    assert counters.requests == 3
    assert counters.retries == 2
    assert counters.errors_by_status == {500: 1, 503: 1}


def test_send_until_acknowledged_resends_dropped_attempts():
    # given
    counters = ingest_load.Counters()

    # when
    with StubServer([202]) as stub:
        ingest_load.send_until_acknowledged(
            stub.port, "key", one_batch(drops=2), counters, threading.Event(), 5
        )

    # then
    assert counters.requests == 3
    assert counters.drops == 2
    assert counters.retries == 2
    assert counters.errors_by_status == {}


def test_send_until_acknowledged_rejected_key_fails_at_once():
    # given
    counters = ingest_load.Counters()

    # when
    with StubServer([401]) as stub:
        with pytest.raises(ingest_load.LoadFailure) as failure:
            ingest_load.send_until_acknowledged(
                stub.port, "key", one_batch(), counters, threading.Event(), 5
            )

    # then
    assert stub.received == 1
    assert str(failure.value).startswith("The server rejected batch 7 with status 401.")
    assert "Check that --port reaches this run's own server." in str(failure.value)


def test_send_until_acknowledged_too_many_attempts_fails():
    # given
    counters = ingest_load.Counters()

    # when
    with StubServer([500]) as stub:
        with pytest.raises(ingest_load.LoadFailure) as failure:
            ingest_load.send_until_acknowledged(
                stub.port, "key", one_batch(), counters, threading.Event(), 3
            )

    # then
    assert stub.received == 3
    assert str(failure.value).startswith(
        "Batch 7 was not acknowledged after 3 attempts; the last one failed "
        "with status 500."
    )


def test_run_load_past_deadline_stops_with_message():
    # given
    args = load_args(events=40, batch=10, clients=2)
    batches = ingest_load.plan_batches(args, run_id="run")
    counters = ingest_load.Counters()

    # when
    with StubServer([None]) as stub:
        args.port = stub.port
        started = time.monotonic()
        failures = ingest_load.run_load(
            args, "key", batches, None, counters, ingest_load.Deadline(1)
        )
        seconds = time.monotonic() - started

    # then
    assert failures == [
        "The run timed out: it did not finish within --timeout 1 seconds. "
        "Raise --timeout or send fewer --events."
    ]
    assert counters.acknowledged == 0
    assert seconds < 10


def test_script_port_in_use_fails_before_starting():
    # given
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        # when
        result = subprocess.run(
            [sys.executable, "scripts/ingest_load.py", "--port", str(port)],
            cwd=PROJECT_DIR,
            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://unused/none"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    # then
    assert result.returncode == 1
    assert (
        f"FAILED: Port {port} on 127.0.0.1 is already in use (Address already "
        "in use). Stop what listens there or pass a free port with --port."
    ) in result.stderr
    assert '"acknowledged": 0' in result.stdout
