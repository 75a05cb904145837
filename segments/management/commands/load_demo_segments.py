from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from contacts.models import Company, Customer
from segments.models import Segment, SegmentMembership, SegmentType
from segments.recount import RecountError, recount_segments


def property_rule(name: str, operator: str, value=None) -> dict:
    condition = {"type": "property", "property": name, "operator": operator}
    if value is not None:
        condition["value"] = value
    return condition


def event_rule(
    name: str, occurrence: str, count: int, *, within=None, attributes=()
) -> dict:
    return {
        "type": "event",
        "event": name,
        "occurrence": occurrence,
        "count": count,
        "within": within,
        "attributes": list(attributes),
    }


def all_of(*conditions: dict) -> dict:
    return {
        "type": "group",
        "conjunction": "and",
        "negate": False,
        "conditions": list(conditions),
    }


# (name, content type, parent name, description, colour, rules). A parent
# comes before its sub-segments.
DEMO_SEGMENTS = [
    (
        "Customers in Germany",
        SegmentType.CUSTOMER,
        None,
        "Customers of both demo shops whose country is Germany.",
        "#f59e0b",
        all_of(property_rule("country", "is", "Germany")),
    ),
    (
        "Retail big spenders",
        SegmentType.CUSTOMER,
        None,
        "Online Retail customers who spent 1,000 GBP or more.",
        "#16a34a",
        all_of(
            property_rule("tracked.source", "is", "online_retail"),
            property_rule("tracked.spend_gbp", "gte", 1000),
        ),
    ),
    (
        "Retail big spenders in the United Kingdom",
        SegmentType.CUSTOMER,
        "Retail big spenders",
        "Big spenders whose country is the United Kingdom.",
        "#0ea5e9",
        all_of(property_rule("country", "is", "United Kingdom")),
    ),
    (
        "Customers with a company",
        SegmentType.CUSTOMER,
        None,
        "Customers linked to at least one company.",
        "#8b5cf6",
        all_of(property_rule("companies", "is_set")),
    ),
    (
        "Frequent buyers",
        SegmentType.CUSTOMER,
        None,
        "Customers with at least 10 orders, counted from the order events.",
        "#db2777",
        all_of(event_rule("order_placed", "at_least", 10)),
    ),
    (
        "Big orders in the 2011 Christmas season",
        SegmentType.CUSTOMER,
        None,
        "Customers with an order of 500 or more between 1 November and "
        "9 December 2011.",
        "#b91c1c",
        all_of(
            event_rule(
                "order_placed",
                "at_least",
                1,
                within={"between": ["2011-11-01", "2011-12-09"]},
                attributes=[{"attribute": "amount", "operator": "gte", "value": 500}],
            )
        ),
    ),
    (
        "Companies in the USA",
        SegmentType.COMPANY,
        None,
        "Companies whose country is USA.",
        "#ef4444",
        all_of(property_rule("country", "is", "USA")),
    ),
]


def refresh_planner_statistics() -> None:
    """Run ANALYZE on the contact tables on PostgreSQL.

    Right after the demo load the planner still believes the tables are
    nearly empty and picks nested loops: the first recount took 14 s instead
    of 0.2 s on the demo data (local PostgreSQL, 2 cores).
    """
    if connection.vendor != "postgresql":
        return
    tables = [
        Customer._meta.db_table,
        Company._meta.db_table,
        SegmentMembership._meta.db_table,
    ]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(quote(table) for table in tables)}")


class Command(BaseCommand):
    help = (
        "Create or update the example segments for the demo data and print "
        "each one's member count."
    )

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                segments = [self.upsert(*definition) for definition in DEMO_SEGMENTS]
        except ValidationError as error:
            raise CommandError(
                f"The demo segments are invalid for this database: {error}. Load "
                "the demo data first with manage.py load_demo."
            ) from error
        refresh_planner_statistics()
        try:
            summary = recount_segments(segments)
        except RecountError as error:
            raise CommandError(str(error)) from error

        for result in summary.results:
            noun = "member" if result.member_count == 1 else "members"
            self.stdout.write(f"  {result.name}: {result.member_count:,} {noun}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {len(segments)} demo segments with "
                f"{summary.members:,} members in all."
            )
        )

    def upsert(self, name, content_type, parent_name, description, color, rules):
        parent = None
        if parent_name:
            parent = Segment.objects.get(name=parent_name, content_type=content_type)
        segment = Segment.objects.filter(name=name, content_type=content_type).first()
        if segment is None:
            segment = Segment(name=name, content_type=content_type)
        segment.parent = parent
        segment.description = description
        segment.color = color
        segment.rules = rules
        segment.full_clean()
        segment.save()
        return segment
