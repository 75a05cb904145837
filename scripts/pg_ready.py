"""Exit 0 when the PostgreSQL server in the given URL accepts a connection."""

import sys

import dj_database_url
import psycopg

config = dj_database_url.parse(sys.argv[1])
try:
    # The maintenance database always exists; the test run creates its own.
    psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname="postgres",
        connect_timeout=5,
    ).close()
except psycopg.OperationalError as error:
    print(f"Could not connect: {error}".strip(), file=sys.stderr)
    sys.exit(1)
