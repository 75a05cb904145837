.PHONY: demo demo-data test test-sqlite test-differential-long fuzz-api lint format screenshots

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

# schemathesis against the running app's OpenAPI schema: no server error and
# no response that breaks the schema.
fuzz-api:
	scripts/fuzz_api

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# Screenshots of the admin for the README; needs `make demo` running.
screenshots:
	.venv/bin/python scripts/screenshots.py
