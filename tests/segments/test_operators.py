"""Every operator on every property type it applies to, in SQL and in the
reference evaluator, over five named customers whose values cover missing
values, empty strings, numeric strings, junk and non-ASCII text."""

import datetime

import pytest
from django.db import connection

from contacts.models import Company, Customer, FieldDefinition, FieldType, Tag
from segments.catalogue import Catalogue
from segments.evaluator import evaluate, load_records
from segments.operators import OPERATORS
from segments.services import preview_queryset
from tests.segments.conftest import group, prop

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 30, 10, 30, tzinfo=UTC)


def moment(*parts) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=UTC)


@pytest.fixture
def people():
    """Ada has most values set, Bob has empty strings and junk, Cy has other
    types, Dee and Eve have little."""
    FieldDefinition.objects.create(
        key="plan", label="Plan", field_type=FieldType.CHOICE, options=["free", "pro"]
    )
    FieldDefinition.objects.create(
        key="seats", label="Seats", field_type=FieldType.NUMBER
    )
    FieldDefinition.objects.create(
        key="renewal", label="Renewal", field_type=FieldType.DATE
    )
    FieldDefinition.objects.create(key="vip", label="VIP", field_type=FieldType.BOOLEAN)
    FieldDefinition.objects.create(
        key="interests",
        label="Interests",
        field_type=FieldType.MULTIPLE_CHOICE,
        options=["music", "Sport", "tech"],
    )
    acme = Company.objects.create(name="Acme", industry="Retail", size=50)
    globex = Company.objects.create(name="Globex", industry="", size=None)
    vip, gold, new, arger = (
        Tag.objects.create(name=name) for name in ("VIP", "vip-gold", "new", "Ärger")
    )
    people = {
        "ada": Customer.objects.create(
            first_name="Ärger",
            country="Germany",
            primary_email="ada@example.com",
            emails=["ada@work.example"],
            sex="female",
            birth_date=datetime.date(2000, 2, 29),
            session_count=12,
            last_seen_at=moment(2026, 12, 30, 9, 30),
            is_subscribed=True,
            custom_fields={
                "plan": "pro",
                "seats": 12,
                "renewal": "2026-12-31",
                "vip": True,
                "interests": ["music", "tech"],
            },
            tracked_data={
                "cart": "12",
                "seen": "2026-12-29",
                "label": "Ärger",
                "flags": ["A", "b"],
                "ok": True,
            },
        ),
        "bob": Customer.objects.create(
            first_name="Bob",
            country="",
            primary_email="",
            emails=[],
            sex="",
            birth_date=datetime.date(1990, 12, 31),
            session_count=0,
            last_seen_at=None,
            is_subscribed=False,
            custom_fields={"seats": "7", "renewal": "not a date", "vip": False},
            tracked_data={
                "cart": "80%",
                "seen": "soon",
                "label": "",
                "flags": [],
                "ok": "true",
            },
        ),
        "cy": Customer.objects.create(
            first_name="",
            country="France",
            primary_email="cy@example.com",
            emails=[""],
            sex="male",
            birth_date=None,
            session_count=5,
            last_seen_at=moment(2026, 12, 27, 10, 30),
            custom_fields={
                "plan": "free",
                "renewal": "2026-12-30",
                "interests": ["Sport"],
            },
            tracked_data={"cart": 5, "seen": 3, "flags": "a", "ok": False},
        ),
        "dee": Customer.objects.create(
            first_name="Dee",
            country="100%",
            emails=["DEE@example.com"],
            sex="other",
            birth_date=datetime.date(1985, 1, 1),
            last_seen_at=moment(2027, 1, 1, 10, 30),
            tracked_data={"cart": True},
        ),
        "eve": Customer.objects.create(
            first_name="Straße",
            country="a_b",
            emails=[""],
            birth_date=datetime.date(2001, 12, 30),
            last_seen_at=moment(2026, 12, 29, 23, 59, 59),
            tracked_data={"cart": ["1"]},
        ),
    }
    people["ada"].tags.set([vip])
    people["cy"].tags.set([gold, new])
    people["eve"].tags.set([arger])
    people["ada"].companies.set([acme])
    people["cy"].companies.set([globex])
    people["eve"].companies.set([acme, globex])
    return people


ALL = ["ada", "bob", "cy", "dee", "eve"]


def but(*names):
    return [name for name in ALL if name not in names]


CASES = [
    # text on a model field; cy's first name is empty, so it is missing
    ("first_name", "is", "ärger", ["ada"]),
    ("first_name", "is_not", "ärger", but("ada")),
    ("first_name", "contains", "ärg", ["ada"]),
    ("first_name", "contains", "E", ["ada", "dee", "eve"]),
    ("first_name", "not_contains", "ärg", but("ada")),
    ("first_name", "starts_with", "ÄR", ["ada"]),
    ("first_name", "ends_with", "E", ["dee", "eve"]),
    ("first_name", "ends_with", "SSE", []),
    ("first_name", "matches_regex", "^b", ["bob"]),
    ("first_name", "matches_regex", "^$", []),
    ("first_name", "matches_regex", "ß", ["eve"]),
    ("first_name", "in", ["bob", "DEE"], ["bob", "dee"]),
    ("first_name", "not_in", ["bob", "dee"], ["ada", "cy", "eve"]),
    ("first_name", "is_set", None, but("cy")),
    ("first_name", "is_not_set", None, ["cy"]),
    # LIKE wildcards in values are literal
    ("country", "contains", "%", ["dee"]),
    ("country", "contains", "_", ["eve"]),
    ("country", "starts_with", "a_", ["eve"]),
    ("country", "starts_with", "a%", []),
    ("country", "ends_with", "0%", ["dee"]),
    # text in free JSON: only JSON strings are text
    ("tracked.label", "is", "ÄRGER", ["ada"]),
    ("tracked.label", "is_set", None, ["ada"]),
    ("tracked.label", "is_not_set", None, but("ada")),
    ("tracked.cart", "contains", "%", ["bob"]),
    ("tracked.cart", "is", "12", ["ada"]),
    # numbers on a model field
    ("session_count", "eq", 5, ["cy"]),
    ("session_count", "ne", 5, but("cy")),
    ("session_count", "lt", 5, ["bob", "dee", "eve"]),
    ("session_count", "lte", 5, ["bob", "cy", "dee", "eve"]),
    ("session_count", "gt", 5, ["ada"]),
    ("session_count", "gte", 5, ["ada", "cy"]),
    ("session_count", "between", [1, 12], ["ada", "cy"]),
    ("session_count", "is_set", None, ALL),
    ("session_count", "is_not_set", None, []),
    # numbers in free JSON: "12" is 12; "80%", true and ["1"] are not numbers
    ("tracked.cart", "gt", 6, ["ada"]),
    ("tracked.cart", "lt", 100, ["ada", "cy"]),
    ("tracked.cart", "eq", 12, ["ada"]),
    ("tracked.cart", "ne", 12, but("ada")),
    ("tracked.cart", "between", [5, 12], ["ada", "cy"]),
    ("tracked.cart", "is_set", None, ALL),
    ("custom.seats", "gte", 7, ["ada", "bob"]),
    ("custom.seats", "is_not_set", None, ["cy", "dee", "eve"]),
    # dates on a model field
    ("birth_date", "on", "1990-12-31", ["bob"]),
    ("birth_date", "not_on", "1990-12-31", but("bob")),
    ("birth_date", "before", "1990-01-01", ["dee"]),
    ("birth_date", "after", "2000-01-01", ["ada", "eve"]),
    ("birth_date", "on_or_before", "1990-12-31", ["bob", "dee"]),
    ("birth_date", "on_or_after", "2000-02-29", ["ada", "eve"]),
    ("birth_date", "between", ["1985-01-01", "1990-12-31"], ["bob", "dee"]),
    ("birth_date", "in_last", {"amount": 30, "unit": "years"}, ["ada", "eve"]),
    ("birth_date", "more_than_ago", {"amount": 30, "unit": "years"}, ["bob", "dee"]),
    ("birth_date", "in_next", {"amount": 1, "unit": "years"}, []),
    ("birth_date", "exactly_ago", {"amount": 25, "unit": "years"}, ["eve"]),
    ("birth_date", "exactly_ahead", {"amount": 0, "unit": "months"}, []),
    # anniversaries across the year end: 30 Dec, 31 Dec and 1 Jan
    (
        "birth_date",
        "anniversary_within",
        {"amount": 2, "unit": "days"},
        ["bob", "dee", "eve"],
    ),
    ("birth_date", "anniversary_within", {"amount": 0, "unit": "days"}, ["eve"]),
    ("birth_date", "is_set", None, but("cy")),
    ("birth_date", "is_not_set", None, ["cy"]),
    # dates in JSON: "not a date" and 3 are missing
    ("custom.renewal", "on", "2026-12-31", ["ada"]),
    ("custom.renewal", "not_on", "2026-12-31", but("ada")),
    ("custom.renewal", "before", "2027-01-01", ["ada", "cy"]),
    ("custom.renewal", "after", "2026-12-30", ["ada"]),
    ("custom.renewal", "on_or_before", "2026-12-30", ["cy"]),
    ("custom.renewal", "on_or_after", "2026-12-30", ["ada", "cy"]),
    ("custom.renewal", "between", ["2026-12-30", "2026-12-30"], ["cy"]),
    ("custom.renewal", "in_last", {"amount": 1, "unit": "days"}, ["cy"]),
    ("custom.renewal", "more_than_ago", {"amount": 0, "unit": "days"}, []),
    ("custom.renewal", "in_next", {"amount": 1, "unit": "days"}, ["ada", "cy"]),
    ("custom.renewal", "exactly_ago", {"amount": 0, "unit": "days"}, ["cy"]),
    ("custom.renewal", "exactly_ahead", {"amount": 1, "unit": "days"}, ["ada"]),
    (
        "custom.renewal",
        "anniversary_within",
        {"amount": 1, "unit": "days"},
        ["ada", "cy"],
    ),
    ("custom.renewal", "is_set", None, ["ada", "bob", "cy"]),
    ("tracked.seen", "exactly_ago", {"amount": 1, "unit": "days"}, ["ada"]),
    # datetimes, compared as calendar days in TIME_ZONE (UTC in this test)
    ("last_seen_at", "on", "2026-12-30", ["ada"]),
    ("last_seen_at", "on", "2026-12-29", ["eve"]),
    ("last_seen_at", "not_on", "2026-12-30", but("ada")),
    ("last_seen_at", "before", "2026-12-30", ["cy", "eve"]),
    ("last_seen_at", "after", "2026-12-30", ["dee"]),
    ("last_seen_at", "on_or_before", "2026-12-29", ["cy", "eve"]),
    ("last_seen_at", "on_or_after", "2026-12-30", ["ada", "dee"]),
    ("last_seen_at", "between", ["2026-12-27", "2026-12-29"], ["cy", "eve"]),
    ("last_seen_at", "in_last", {"amount": 2, "unit": "hours"}, ["ada"]),
    ("last_seen_at", "in_last", {"amount": 1, "unit": "days"}, ["ada", "eve"]),
    ("last_seen_at", "more_than_ago", {"amount": 2, "unit": "days"}, ["cy"]),
    ("last_seen_at", "in_next", {"amount": 3, "unit": "days"}, ["dee"]),
    ("last_seen_at", "exactly_ago", {"amount": 3, "unit": "days"}, ["cy"]),
    ("last_seen_at", "exactly_ago", {"amount": 1, "unit": "days"}, ["eve"]),
    ("last_seen_at", "exactly_ago", {"amount": 1, "unit": "hours"}, ["ada"]),
    ("last_seen_at", "exactly_ago", {"amount": 0, "unit": "hours"}, []),
    ("last_seen_at", "exactly_ahead", {"amount": 2, "unit": "days"}, ["dee"]),
    (
        "last_seen_at",
        "anniversary_within",
        {"amount": 2, "unit": "days"},
        ["ada", "dee"],
    ),
    ("last_seen_at", "is_set", None, but("bob")),
    ("last_seen_at", "is_not_set", None, ["bob"]),
    # booleans; "true" as a string is not a boolean
    ("is_subscribed", "is_true", None, but("bob")),
    ("is_subscribed", "is_false", None, ["bob"]),
    ("is_subscribed", "is_set", None, ALL),
    ("is_subscribed", "is_not_set", None, []),
    ("custom.vip", "is_true", None, ["ada"]),
    ("custom.vip", "is_false", None, ["bob"]),
    ("custom.vip", "is_not_set", None, ["cy", "dee", "eve"]),
    ("tracked.ok", "is_true", None, ["ada"]),
    ("tracked.ok", "is_false", None, ["cy"]),
    ("tracked.ok", "is_set", None, ["ada", "bob", "cy"]),
    # choices
    ("sex", "is", "female", ["ada"]),
    ("sex", "is_not", "female", but("ada")),
    ("sex", "in", ["male", "other"], ["cy", "dee"]),
    ("sex", "not_in", ["male", "other"], ["ada", "bob", "eve"]),
    ("sex", "is_set", None, ["ada", "cy", "dee"]),
    ("sex", "is_not_set", None, ["bob", "eve"]),
    ("custom.plan", "is", "pro", ["ada"]),
    ("custom.plan", "is_not", "pro", but("ada")),
    ("custom.plan", "in", ["free", "pro"], ["ada", "cy"]),
    ("custom.plan", "not_in", ["free"], but("cy")),
    # multiple choice: tags (many-to-many), emails, companies, JSON lists
    ("tags", "includes_any", ["vip"], ["ada"]),
    ("tags", "includes_any", ["ärger", "new"], ["cy", "eve"]),
    ("tags", "includes_all", ["VIP-GOLD", "new"], ["cy"]),
    ("tags", "includes_all", ["vip", "new"], []),
    ("tags", "excludes", ["vip"], but("ada")),
    ("tags", "is_set", None, ["ada", "cy", "eve"]),
    ("tags", "is_not_set", None, ["bob", "dee"]),
    ("emails", "includes_any", ["dee@example.com"], ["dee"]),
    ("emails", "includes_all", ["ada@example.com", "ADA@work.example"], ["ada"]),
    ("emails", "excludes", ["ada@example.com"], but("ada")),
    ("emails", "is_set", None, ["ada", "cy", "dee"]),
    ("emails", "is_not_set", None, ["bob", "eve"]),
    ("companies", "includes_any", ["acme"], ["ada", "eve"]),
    ("companies", "includes_all", ["acme", "GLOBEX"], ["eve"]),
    ("companies", "excludes", ["acme"], ["bob", "cy", "dee"]),
    ("companies", "is_set", None, ["ada", "cy", "eve"]),
    ("companies", "is_not_set", None, ["bob", "dee"]),
    ("custom.interests", "includes_any", ["sport"], ["cy"]),
    ("custom.interests", "includes_all", ["music", "tech"], ["ada"]),
    ("custom.interests", "excludes", ["music"], but("ada")),
    ("custom.interests", "is_set", None, ["ada", "cy"]),
    ("tracked.flags", "includes_any", ["a"], ["ada"]),
    ("tracked.flags", "is_set", None, ["ada", "cy"]),
    ("tracked.cart", "includes_any", ["1"], ["eve"]),
    # any linked company matches
    ("company.industry", "is", "retail", ["ada", "eve"]),
    ("company.industry", "is_not", "retail", ["bob", "cy", "dee"]),
    ("company.industry", "is_set", None, ["ada", "eve"]),
    ("company.industry", "is_not_set", None, ["bob", "cy", "dee"]),
    ("company.size", "gte", 10, ["ada", "eve"]),
    ("company.size", "is_not_set", None, ["bob", "cy", "dee"]),
]


def case_id(case) -> str:
    name, operator, value, _expected = case
    return f"{name}-{operator}-{value}"


def names_of(people, ids) -> list[str]:
    by_pk = {customer.pk: name for name, customer in people.items()}
    return sorted(by_pk[pk] for pk in ids)


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_operator_on_property_sql_and_evaluator_agree(people, case):
    # given
    name, operator, value, expected = case
    rules = group(prop(name, operator, value))

    # when
    found = preview_queryset(rules, content_type="customer", now=NOW)
    evaluated = evaluate(
        rules, load_records("customer"), content_type="customer", now=NOW
    )

    # then
    assert names_of(people, found.values_list("pk", flat=True)) == expected
    assert names_of(people, evaluated) == expected


def test_operator_cases_cover_every_operator_on_every_type(people):
    # given
    catalogue = Catalogue("customer")
    covered = set()
    for name, operator_name, value, _expected in CASES:
        operator = OPERATORS[operator_name]
        type_ = catalogue.get(name).type_for(operator, value)
        covered.add((operator_name, type_))

    # when
    required = {
        (operator.name, type_)
        for operator in OPERATORS.values()
        for type_ in operator.types
    }

    # then
    assert required - covered == set()


@pytest.fixture
def leap_day_people():
    return {
        "leap": Customer.objects.create(birth_date=datetime.date(2000, 2, 29)),
        "march": Customer.objects.create(birth_date=datetime.date(1999, 3, 1)),
    }


@pytest.mark.parametrize(
    ("now", "days", "expected"),
    [
        # 2027 has no 29 February: the birthday falls on the 28th
        (moment(2027, 2, 28, 12), 0, ["leap"]),
        (moment(2027, 2, 27, 12), 1, ["leap"]),
        # 2028 has one: on the 28th the birthday is still a day ahead
        (moment(2028, 2, 28, 12), 0, []),
        (moment(2028, 2, 28, 12), 1, ["leap"]),
        (moment(2028, 3, 1, 12), 0, ["march"]),
    ],
)
def test_anniversary_within_29_february_matches_in_every_year(
    leap_day_people, now, days, expected
):
    # given
    rules = group(
        prop("birth_date", "anniversary_within", {"amount": days, "unit": "days"})
    )

    # when
    found = preview_queryset(rules, content_type="customer", now=now)
    evaluated = evaluate(
        rules, load_records("customer"), content_type="customer", now=now
    )

    # then
    names = {customer.pk: name for name, customer in leap_day_people.items()}
    assert sorted(names[pk] for pk in found.values_list("pk", flat=True)) == expected
    assert sorted(names[pk] for pk in evaluated) == expected


def test_datetime_on_uses_calendar_day_of_time_zone(settings):
    # given 03:00 UTC on 30 December is 22:00 on 29 December in New York
    settings.TIME_ZONE = "America/New_York"
    late = Customer.objects.create(last_seen_at=moment(2026, 12, 30, 3, 0))

    # when
    on_29th = preview_queryset(
        group(prop("last_seen_at", "on", "2026-12-29")),
        content_type="customer",
        now=NOW,
    )
    on_30th = preview_queryset(
        group(prop("last_seen_at", "on", "2026-12-30")),
        content_type="customer",
        now=NOW,
    )

    # then
    assert list(on_29th) == [late]
    assert list(on_30th) == []


def test_relative_date_evaluated_at_query_time():
    # given
    Customer.objects.create(last_seen_at=moment(2026, 12, 29, 12))
    rules = group(prop("last_seen_at", "in_last", {"amount": 1, "unit": "days"}))

    # when
    today = preview_queryset(rules, content_type="customer", now=NOW).count()
    week_later = preview_queryset(
        rules, content_type="customer", now=NOW + datetime.timedelta(days=7)
    ).count()

    # then
    assert today == 1
    assert week_later == 0


def test_number_operator_on_junk_json_never_raises():
    # given values a bare cast would choke on
    for junk in ["80%", "1e999", "9" * 40, True, ["1"], {"a": 1}, None, ""]:
        Customer.objects.create(tracked_data={"cart": junk})
    Customer.objects.create(tracked_data={"cart": "3"})

    # when
    found = preview_queryset(
        group(prop("tracked.cart", "gte", 0)), content_type="customer", now=NOW
    )

    # then
    assert [customer.tracked_data for customer in found] == [{"cart": "3"}]


def test_number_operator_on_huge_json_number_never_raises():
    # given a JSON number beyond double precision, written as raw JSON
    huge = Customer.objects.create()
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE contacts_customer SET tracked_data = %s{cast} WHERE id = %s",
            ['{"cart": 1e400}', huge.pk],
        )

    # when
    found = preview_queryset(
        group(prop("tracked.cart", "gte", 0)), content_type="customer", now=NOW
    )
    evaluated = evaluate(
        group(prop("tracked.cart", "gte", 0)),
        load_records("customer"),
        content_type="customer",
        now=NOW,
    )

    # then
    assert list(found) == []
    assert evaluated == set()
