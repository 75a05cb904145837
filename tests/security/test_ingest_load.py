"""A short run of scripts/ingest_load.py in the test suite: 2,000 events
with one request in ten dropped and retried, nothing lost or doubled.

The full runs (100,000 events, with and without PostgreSQL restarts) are
documented commands whose figures are in docs/benchmarks.md. This one needs
PostgreSQL, because the server runs in another process and SQLite's test
database lives in memory.
"""

import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="The load test's server needs a database another process can use.",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def load_database_url(django_db_setup, django_db_blocker):
    """Create an empty database next to the test database and drop it after."""
    settings = connection.settings_dict
    name = f"{settings['NAME']}_load"
    server = {
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "user": settings["USER"] or None,
        "password": settings["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    user = settings["USER"] or "postgres"
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    yield f"postgres://{user}@{host}:{port}/{name}"
    with psycopg.connect(**server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_ingest_load_with_drops_loses_nothing(load_database_url):
    # when
    result = subprocess.run(
        [
            sys.executable,
            "scripts/ingest_load.py",
            "--events",
            "2000",
            "--batch",
            "20",
            "--clients",
            "4",
            "--drop-rate",
            "0.1",
            "--port",
            str(free_port()),
        ],
        cwd=PROJECT_DIR,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": load_database_url,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Nothing lost, nothing doubled." in result.stdout
    assert '"stored": 2000' in result.stdout
