"""Generate a reproducible benchmark data set in PostgreSQL, loaded with COPY.

Usage:
    .venv/bin/python bench/generate.py --size 1m
    .venv/bin/python bench/generate.py --size 10k \\
        --database-url postgres://postgres@127.0.0.1:5432/erxseg_bench_10k

--size 1m loads 1M customers, 50k companies and about 10M events.

The script drops and recreates the database named in --database-url
(default postgres://postgres@127.0.0.1:5432/erxseg_bench), runs the
migrations, and loads contacts (the customers the size requests, plus leads
and visitors in the shares below), companies, their links, two custom field
definitions, one site, the events and the per-contact event rollups. The same
--seed gives the same rows; times are offsets from the moment of the run, so
"in the last 30 days" selects the same share of events whenever it runs.

Distributions come from the real demo data (demo_data/online_retail.csv.gz),
read once at the start:
- the share of anonymous visitors (invoices without a customer number);
- countries, weighted as the demo customers' countries;
- orders per buying customer, order amounts and items per order, sampled from
  the demo's invoices, and cancellations at the demo's rate per order.
What the demo does not have is stated here and in docs/benchmarks.md: 10% of
contacts are leads with no orders; browsing events (`page_viewed`,
`pricing_viewed` with a `plan` attribute) bring the events up to the total the
size asks for, each contact's number drawn from a geometric distribution;
custom fields `plan` (choice: free 60%, pro 30%, team 10%) and `seats`
(number); tracked data `total_spend` and `orders` from the contact's orders;
30% of customers linked to one company.

Indexes and foreign keys of the loaded tables are dropped before the COPY and
built again after it, then the tables are analysed, as a bulk load into a new
database would do.
"""

import argparse
import bisect
import itertools
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    RESULTS_DIR,
    SIZES,
    Progress,
    database_name,
    machine,
    server_url,
    setup_django,
    write_results,
)

LEAD_SHARE = 0.10
LINKED_CUSTOMER_SHARE = 0.30
EVENT_HORIZON_DAYS = 365
CONTACT_HORIZON_DAYS = 730
PLANS = [("free", 0.6), ("pro", 0.3), ("team", 0.1)]
PAGE_PATHS = ["/", "/products", "/products/mugs", "/blog", "/cart", "/checkout"]
FIRST_NAMES = [
    "Ada", "Bo", "Chloé", "Dmitri", "Emma", "Farah", "Gustav", "Hana", "Iker",
    "Jonas", "Kofi", "Lena", "Mateo", "Nora", "Oskar", "Priya", "Quentin",
    "Rosa", "Sven", "Tomás", "Uma", "Viktor", "Wen", "Yusuf", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "Andersen", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "García",
    "Horvat", "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Nakamura",
    "O'Neil", "Petrov", "Rossi", "Schmidt", "Tanaka", "Walsh",
]  # fmt: skip
INDUSTRIES = ["Retail", "Wholesale", "Hospitality", "Software", "Education", "Health"]
BUSINESS_TYPES = ["Customer", "Partner", "Supplier", "Reseller"]
COMPANY_PLANS = ["starter", "growth", "enterprise"]

LOADED_TABLES = [
    "contacts_customer",
    "contacts_company",
    "contacts_customer_companies",
    "events_event",
    "events_customereventstats",
]


@dataclass
class DemoProfile:
    """Distributions the generator samples from, read off the real demo data."""

    visitor_share: float
    countries: list[str]
    country_weights: list[float]
    orders_per_customer: list[int]
    amounts: list[float]
    items: list[int]
    cancellations_per_order: float

    def as_dict(self) -> dict:
        top = sorted(
            zip(self.countries, self.country_weights, strict=True),
            key=lambda pair: -pair[1],
        )[:5]
        total = sum(self.country_weights)
        return {
            "visitor_share": round(self.visitor_share, 4),
            "countries": len(self.countries),
            "top_countries": {name: round(w / total, 3) for name, w in top},
            "mean_orders_per_customer": round(
                sum(self.orders_per_customer) / len(self.orders_per_customer), 2
            ),
            "mean_order_amount": round(sum(self.amounts) / len(self.amounts), 2),
            "cancellations_per_order": round(self.cancellations_per_order, 4),
        }


def read_demo_profile() -> DemoProfile:
    from contacts.demo import iter_retail_orders

    orders_by_customer: Counter[str] = Counter()
    country_by_customer: dict[str, str] = {}
    visitors = 0
    placed = cancelled = 0
    amounts: list[float] = []
    items: list[int] = []
    for order in iter_retail_orders():
        if order.kind == "order":
            placed += 1
            amounts.append(float(order.amount))
            items.append(max(order.item_count, 1))
        elif order.kind == "cancellation":
            cancelled += 1
        else:
            continue
        if order.customer_code:
            orders_by_customer[order.customer_code] += order.kind == "order"
            country_by_customer[order.customer_code] = order.country
        elif order.kind == "order":
            visitors += 1
    countries = Counter(country_by_customer.values())
    known = len(orders_by_customer)
    return DemoProfile(
        visitor_share=visitors / (visitors + known),
        countries=list(countries),
        country_weights=[float(n) for n in countries.values()],
        orders_per_customer=[n for n in orders_by_customer.values() if n > 0],
        amounts=amounts,
        items=items,
        cancellations_per_order=cancelled / placed,
    )


class Sampler:
    """Weighted choices by bisecting a cumulative table: faster than
    random.choices for one value at a time."""

    def __init__(self, rng: random.Random, values: list, weights: list[float]):
        self.rng = rng
        self.values = values
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def __call__(self):
        index = bisect.bisect_right(self.cumulative, self.rng.random() * self.total)
        return self.values[min(index, len(self.values) - 1)]


def copy_rows(cursor, table: str, columns: list[str], lines, progress: Progress):
    """COPY text lines (already escaped, tab-separated) into `table`."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) == 10_000:
                copy.write("".join(buffer))
                progress.advance(len(buffer))
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            progress.advance(len(buffer))
    return progress.finish()


def timestamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


class Generator:
    def __init__(self, args, profile: DemoProfile, now: float):
        self.args = args
        self.profile = profile
        self.now = now
        self.rng = random.Random(args.seed)
        self.country = Sampler(self.rng, profile.countries, profile.country_weights)
        self.plan = Sampler(self.rng, [p for p, _ in PLANS], [w for _, w in PLANS])
        self.states: list[str] = []
        self.orders: list[int] = []
        self.created: list[float] = []
        # Expected order and cancellation events per contact, so browsing
        # events fill the rest of the mean the size requests.
        buyer_share = 1 - LEAD_SHARE - profile.visitor_share
        mean_orders = sum(profile.orders_per_customer) / len(
            profile.orders_per_customer
        )
        order_events = (buyer_share * mean_orders + profile.visitor_share) * (
            1 + profile.cancellations_per_order
        )
        customer_share = 1 - LEAD_SHARE - profile.visitor_share
        self.contacts = round(args.customers / customer_share)
        per_contact = args.events / self.contacts
        self.browse_mean = max(per_contact - order_events, 0.0)

    def customer_lines(self):
        rng = self.rng
        profile = self.profile
        for pk in range(1, self.contacts + 1):
            roll = rng.random()
            if roll < profile.visitor_share:
                state, orders = "visitor", 1
            elif roll < profile.visitor_share + LEAD_SHARE:
                state, orders = "lead", 0
            else:
                state = "customer"
                orders = rng.choice(profile.orders_per_customer)
            spend = sum(rng.choice(profile.amounts) for _ in range(orders))
            created = self.now - rng.random() * CONTACT_HORIZON_DAYS * 86400
            self.states.append(state)
            self.orders.append(orders)
            self.created.append(created)
            first = rng.choice(FIRST_NAMES) if state != "visitor" else ""
            last = rng.choice(LAST_NAMES) if state != "visitor" else ""
            email = f"contact{pk}@example.com" if state != "visitor" else ""
            visitor_id = f"v-{pk:08d}" if state != "customer" else "\\N"
            plan = self.plan()
            custom = (
                json.dumps({"plan": plan, "seats": rng.randint(1, 50)})
                if state != "visitor"
                else "{}"
            )
            tracked = (
                json.dumps({"total_spend": round(spend, 2), "orders": orders})
                if orders
                else "{}"
            )
            sessions = orders * 2 + int(rng.expovariate(1 / 3))
            seen = timestamp(self.now - rng.random() * 90 * 86400)
            subscribed = "t" if rng.random() < 0.8 else "f"
            yield (
                f"{pk}\t{state}\t{first}\t{last}\t{email}\t[]\t\t[]\t\\N\t\t\t\t\t"
                f"bench-{pk}\t{visitor_id}\t{self.country()}\t\t\t\t\t{sessions}\t"
                f"{seen}\t{subscribed}\tf\t{custom}\t{tracked}\t{timestamp(created)}\t"
                f"{timestamp(created)}\t\\N\n"
            )

    def company_lines(self):
        rng = self.rng
        for pk in range(1, self.args.companies + 1):
            created = timestamp(self.now - rng.random() * CONTACT_HORIZON_DAYS * 86400)
            yield (
                f"{pk}\t{rng.choice(LAST_NAMES)} {rng.choice(INDUSTRIES)} {pk}\t"
                f"https://company{pk}.example\t{rng.choice(INDUSTRIES)}\t"
                f"{int(rng.lognormvariate(3, 1.2)) + 1}\t{rng.choice(COMPANY_PLANS)}\t"
                f"{rng.choice(BUSINESS_TYPES)}\t{self.country()}\t\\N\t\\N\t{{}}\t{{}}\t"
                f"{created}\t{created}\n"
            )

    def link_lines(self):
        rng = self.rng
        pk = 0
        for index, state in enumerate(self.states):
            if state == "customer" and rng.random() < LINKED_CUSTOMER_SHARE:
                pk += 1
                company = rng.randint(1, self.args.companies)
                yield f"{pk}\t{index + 1}\t{company}\n"

    def event_lines(self, site_id: int):
        rng = self.rng
        profile = self.profile
        horizon = EVENT_HORIZON_DAYS * 86400
        browse_p = 1 / (1 + self.browse_mean) if self.browse_mean else 1.0
        pk = 0
        for index, state in enumerate(self.states):
            customer = index + 1
            visitor = f"v-{customer:08d}" if state != "customer" else ""
            # Events never precede the contact's creation.
            span = min(horizon, self.now - self.created[index])
            for _ in range(self.orders[index]):
                pk += 1
                moment = timestamp(self.now - rng.random() * span)
                attributes = (
                    f'{{"amount": {rng.choice(profile.amounts)}, '
                    f'"items": {rng.choice(profile.items)}}}'
                )
                yield (
                    f"{pk}\t{site_id}\t{customer}\t{visitor}\torder_placed\t"
                    f"{attributes}\t{moment}\t{moment}\t"
                    f"https://shop.example/checkout\t\\N\n"
                )
                if rng.random() < profile.cancellations_per_order:
                    pk += 1
                    yield (
                        f"{pk}\t{site_id}\t{customer}\t{visitor}\torder_cancelled\t"
                        f"{{}}\t{moment}\t{moment}\t"
                        f"https://shop.example/account\t\\N\n"
                    )
            # Geometric number of browsing events with the mean asked for.
            while rng.random() >= browse_p:
                pk += 1
                moment = timestamp(self.now - rng.random() * span)
                if rng.random() < 0.3:
                    name = "pricing_viewed"
                    attributes = f'{{"plan": "{self.plan()}"}}'
                    url = "https://shop.example/pricing"
                else:
                    name = "page_viewed"
                    path = rng.choice(PAGE_PATHS)
                    attributes = f'{{"path": "{path}"}}'
                    url = f"https://shop.example{path}"
                yield (
                    f"{pk}\t{site_id}\t{customer}\t{visitor}\t{name}\t{attributes}\t"
                    f"{moment}\t{moment}\t{url}\t\\N\n"
                )
        self.events = pk


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_name(database_url)
    with psycopg.connect(server_url(database_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_indexes_and_keys(cursor) -> list[str]:
    """Drop the loaded tables' secondary indexes, unique and foreign-key
    constraints; return the statements that create them again."""
    restore: list[str] = []
    for table in LOADED_TABLES:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('f', 'u')",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = %s::regclass)",
            [table, table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
            restore.insert(0, definition)
    return restore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="1m")
    parser.add_argument(
        "--customers", type=int, help="Contacts in state customer (overrides --size)."
    )
    parser.add_argument("--companies", type=int, help="Companies (overrides --size).")
    parser.add_argument(
        "--events", type=int, help="Mean total events (overrides --size)."
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="Where to write results."
    )
    args = parser.parse_args()
    for key, value in SIZES[args.size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.customers < 1 or args.companies < 1 or args.events < 0:
        parser.error(
            "--customers and --companies must be at least 1, --events at least 0."
        )

    started = time.perf_counter()
    recreate_database(args.database_url)
    setup_django(args.database_url)

    from django.core.management import call_command
    from django.db import connection

    from contacts.models import FieldDefinition, FieldType
    from events.models import Site

    call_command("migrate", verbosity=0)
    FieldDefinition.objects.create(
        key="plan",
        label="Plan",
        field_type=FieldType.CHOICE,
        options=[plan for plan, _ in PLANS],
    )
    FieldDefinition.objects.create(
        key="seats", label="Seats", field_type=FieldType.NUMBER
    )
    site = Site.objects.create(name="Benchmark shop", allowed_origins=["*"])

    profile_started = time.perf_counter()
    profile = read_demo_profile()
    print(
        f"Read the demo profile in {time.perf_counter() - profile_started:.1f} s: "
        f"{profile.as_dict()}",
        file=sys.stderr,
    )
    generator = Generator(args, profile, time.time())
    phases: dict[str, float] = {}

    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        restore = drop_indexes_and_keys(cursor)
        customer_columns = [
            "id", "state", "first_name", "last_name", "primary_email", "emails",
            "primary_phone", "phones", "birth_date", "sex", "position",
            "department", "lead_status", "code", "visitor_id", "country", "city",
            "region", "language", "user_agent", "session_count", "last_seen_at",
            "is_subscribed", "do_not_disturb", "custom_fields", "tracked_data",
            "created_at", "updated_at", "owner_id",
        ]  # fmt: skip
        phases["customers"] = copy_rows(
            cursor,
            "contacts_customer",
            customer_columns,
            generator.customer_lines(),
            Progress("contacts", generator.contacts, quiet=args.quiet),
        )
        company_columns = [
            "id", "name", "website", "industry", "size", "plan", "business_type",
            "country", "parent_id", "owner_id", "custom_fields", "tracked_data",
            "created_at", "updated_at",
        ]  # fmt: skip
        phases["companies"] = copy_rows(
            cursor,
            "contacts_company",
            company_columns,
            generator.company_lines(),
            Progress("companies", args.companies, quiet=args.quiet),
        )
        expected_links = int(generator.states.count("customer") * LINKED_CUSTOMER_SHARE)
        phases["company links"] = copy_rows(
            cursor,
            "contacts_customer_companies",
            ["id", "customer_id", "company_id"],
            generator.link_lines(),
            Progress("company links", expected_links, quiet=args.quiet),
        )
        event_columns = [
            "id", "site_id", "customer_id", "visitor_id", "name", "attributes",
            "occurred_at", "received_at", "page_url", "idempotency_key",
        ]  # fmt: skip
        phases["events"] = copy_rows(
            cursor,
            "events_event",
            event_columns,
            generator.event_lines(site.pk),
            Progress("events", args.events, quiet=args.quiet),
        )
        step = time.perf_counter()
        cursor.execute(
            "INSERT INTO events_customereventstats "
            "(customer_id, name, count, first_occurred_at, last_occurred_at) "
            "SELECT customer_id, name, count(*), min(occurred_at), max(occurred_at) "
            "FROM events_event GROUP BY customer_id, name"
        )
        phases["rollups"] = time.perf_counter() - step
        print(
            f"rollups: {cursor.rowcount:,} rows in {phases['rollups']:.1f} s",
            file=sys.stderr,
        )

        step = time.perf_counter()
        progress = Progress("indexes and keys", len(restore), quiet=args.quiet)
        for statement in restore:
            cursor.execute(statement)
            progress.advance(1)
        phases["indexes and keys"] = progress.finish()
        for table in LOADED_TABLES:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT max(id) FROM {table}), 1))"
            )
        step = time.perf_counter()
        for table in LOADED_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        phases["vacuum analyze"] = time.perf_counter() - step

    counts = {}
    with connection.cursor() as cursor:
        for table in LOADED_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
        cursor.execute("SELECT state, count(*) FROM contacts_customer GROUP BY state")
        counts["contacts by state"] = dict(sorted(cursor.fetchall()))
    elapsed = time.perf_counter() - started
    results = {
        "size": args.size,
        "seed": args.seed,
        "database": database_name(args.database_url),
        "requested": {
            "customers": args.customers,
            "companies": args.companies,
            "events": args.events,
        },
        "rows": counts,
        "demo_profile": profile.as_dict(),
        "phase_seconds": {key: round(value, 1) for key, value in phases.items()},
        "total_seconds": round(elapsed, 1),
        "generated_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
    }
    path = write_results(f"generate-{args.size}", results, args.results_dir)
    print(json.dumps(results["rows"], indent=2))
    print(
        f"Generated in {elapsed:.0f} s ({timedelta(seconds=round(elapsed))}); "
        f"results in {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
