.PHONY: bench-smoke demo demo-data test test-sqlite test-differential-long fuzz-api lint format screenshots fault-restart

# Install, migrate the SQLite database, load the demo data, create the demo
# admin account and serve on http://127.0.0.1:8000/admin/.
demo: demo-data
	DEBUG=true .venv/bin/python manage.py runserver 127.0.0.1:8000

# Everything the demo does except serving: contacts, their orders as events,
# example segments and their counts. create_demo_admin runs last so that the
# login it prints is the last line before the server starts.
demo-data:
	ERXSEG_SKIP_CHROMIUM=1 scripts/setup
	DEBUG=true .venv/bin/python manage.py migrate --no-input
	DEBUG=true .venv/bin/python manage.py load_demo
	DEBUG=true .venv/bin/python manage.py load_demo_events
	DEBUG=true .venv/bin/python manage.py load_demo_segments
	DEBUG=true .venv/bin/python manage.py recount_segments
	DEBUG=true .venv/bin/python manage.py check_demo_counts
	DEBUG=true .venv/bin/python manage.py create_demo_admin

# The whole suite on SQLite, then on PostgreSQL.
test:
	scripts/test

test-sqlite:
	ERXSEG_TEST_SQLITE_ONLY=1 scripts/test

# The segment differential tests with 20,000 examples per rule-tree test and
# 5,000 for the one that writes contacts per example, on both databases.
test-differential-long:
	scripts/test_differential_long

# PostgreSQL restarted twice while 5,000 events stream in, with dropped
# connections and the widget's retries; fails unless every acknowledged event
# is stored once. It runs a private cluster on 127.0.0.1:55432 through
# runuser, so it must run as root. The script stops itself after 110 seconds;
# `timeout` is the backstop if it cannot. FAULT_RESTART_PORT=0 picks a free
# port for the server.
FAULT_RESTART_PORT ?= 0
fault-restart:
	timeout --kill-after=10 120 .venv/bin/python scripts/ingest_load.py \
		--restart-postgres --restarts 2 --events 5000 --seed 1 --timeout 110 \
		--port $(FAULT_RESTART_PORT)

# schemathesis against the running app's OpenAPI schema: no server error and
# no response that breaks the schema.
fuzz-api:
	scripts/fuzz_api

# The three benchmark scripts at 10,000 customers on PostgreSQL, so they
# never rot: every count must agree with its hand-written SQL and DuckDB,
# and ingest must store every event it acknowledged. No time is checked.
# The full runs and their figures: docs/benchmarks.md.
BENCH_SMOKE_DB ?= postgres://postgres@127.0.0.1:5432/erxseg_bench_smoke
BENCH_SMOKE_RESULTS ?= /tmp/erxseg-bench-smoke
bench-smoke:
	.venv/bin/python bench/generate.py --size 10k --quiet \
		--database-url $(BENCH_SMOKE_DB) --results-dir $(BENCH_SMOKE_RESULTS)
	.venv/bin/python bench/segments.py --size 10k --smoke \
		--database-url $(BENCH_SMOKE_DB) --results-dir $(BENCH_SMOKE_RESULTS)
	.venv/bin/python bench/ingest.py --smoke --results-dir $(BENCH_SMOKE_RESULTS)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# Screenshots of the admin for the README; needs `make demo` running.
screenshots:
	.venv/bin/python scripts/screenshots.py
