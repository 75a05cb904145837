"""Differential tests: the SQL compiler and the reference evaluator must
select the same contacts for random rule trees over random contacts.

The first two tests build their population once per test function from a
seeded generator, because creating rows per example would make 300 examples
slow. Hypothesis draws the rule trees, the moment `now` and, for
sub-segments, the parent. The third test draws a few contacts per example.
"""

import datetime
import random

import pytest
from django.db import transaction
from hypothesis import given, note
from hypothesis import strategies as st

from contacts.models import (
    Company,
    Customer,
    FieldDefinition,
    FieldType,
    OwnerType,
    Tag,
)
from events.identity import rebuild_event_stats
from events.models import Event, Site
from segments.compiler import Compiler, base_queryset
from segments.evaluator import evaluate, load_records, load_segments
from segments.models import Segment, SegmentMembership
from segments.rules import validate_rules
from tests.segments.conftest import DIFFERENTIAL, RANDOM_CONTACTS

pytestmark = pytest.mark.django_db

TIME_ZONE = "America/New_York"
BASE_NOW = datetime.datetime(2026, 12, 30, 15, 30, tzinfo=datetime.UTC)

# Text that folds the same under Python's str.lower() and PostgreSQL's
# lower() in a UTF-8 database: no final sigma, no dotted capital I.
NAMES = ["Ärger", "ärger", "ÄRGER", "Bob", "bob smith", "", "Élodie", "O'Neil"]
NAMES += ["100%", "a_b", "aXb", "Straße", "ZOË", "zoë", "x", "Bob\\Smith"]
FRAGMENTS = ["ärg", "ÄRG", "bob", "BOB", "o'n", "100%", "%", "_", "a_b", "ß"]
FRAGMENTS += ["zoë", "ZOË", "x", "com", "@", "example", "r", "\\", "Straße"]
REGEXES = ["^ä", "r$", "b.b", "[0-9]+%", "o'n|zo", "(?:ab)+", "\\d", "^[a-z]+$"]
REGEXES += ["é", "^.{3}$", "x*", "s\\w+"]
COUNTRIES = ["Germany", "germany", "France", "", "Österreich", "ÖSTERREICH"]
INDUSTRIES = ["Retail", "Software", "", "Müsic"]
EMAILS = ["ada@example.com", "ADA@example.com", "bob@example.org", ""]
TAG_NAMES = ["VIP", "vip-gold", "Ärger", "new"]
COMPANY_NAMES = ["Acme", "ACME Ltd", "Öko AG", "Globex"]
PLANS = ["free", "pro", "enterprise"]
INTERESTS = ["music", "Sport", "tech"]
NUMBERS = [-1, 0, 1, 2.5, 5, 12, 80, 100]
TRACKED_CART = [5, 12, "12", "2.5", "80%", True, ["1"], None, "", "-1", 80.0]
TRACKED_SEEN = ["2026-12-29", "2026-12-30", "2024-02-29", "2026-13-01", "soon", 3]
TRACKED_SEEN += ["2025-12-31", "2027-01-01"]
TRACKED_FLAGS = [["a", "B"], ["b"], [], ["", "c"], "a", [1, "A"]]
TRACKED_OK = [True, False, "true", 1, None]
EVENT_NAMES = ["pricing_viewed", "signed_up"]
EVENT_PLANS = ["pro", "PRO", "free", 3, "12", None]


def days_from(base: datetime.date, offset: int) -> datetime.date:
    return base + datetime.timedelta(days=offset)


def random_date(rng: random.Random) -> datetime.date:
    return rng.choice(
        [
            datetime.date(2000, 2, 29),
            datetime.date(1990, 12, 31),
            datetime.date(1985, 1, 1),
            datetime.date(1999, 1, 2),
            days_from(BASE_NOW.date(), rng.randint(-40, 40)),
            datetime.date(
                rng.randint(1950, 2030), rng.randint(1, 12), rng.randint(1, 28)
            ),
        ]
    )


def random_moment(rng: random.Random) -> datetime.datetime:
    # Moments around local midnight and around now, where day boundaries in
    # the configured zone and in UTC disagree.
    hours = rng.choice([0, 3, 4, 5, 6, 12, 23]) + rng.random()
    return BASE_NOW + datetime.timedelta(days=rng.randint(-400, 40), hours=hours)


def maybe(rng: random.Random, value, chance: float = 0.7):
    return value if rng.random() < chance else None


def build_population(seed: int = 7, size: int = 60):
    """Create customers of every state, companies, tags, custom fields and
    segments with varied, messy values."""
    rng = random.Random(seed)
    FieldDefinition.objects.create(
        key="plan", label="Plan", field_type=FieldType.CHOICE, options=PLANS
    )
    FieldDefinition.objects.create(
        key="seats", label="Seats", field_type=FieldType.NUMBER
    )
    FieldDefinition.objects.create(
        key="renewal", label="Renewal", field_type=FieldType.DATE
    )
    FieldDefinition.objects.create(key="vip", label="VIP", field_type=FieldType.BOOLEAN)
    FieldDefinition.objects.create(
        key="nickname", label="Nickname", field_type=FieldType.TEXT
    )
    FieldDefinition.objects.create(
        key="interests",
        label="Interests",
        field_type=FieldType.MULTIPLE_CHOICE,
        options=INTERESTS,
    )
    FieldDefinition.objects.create(
        owner_type=OwnerType.COMPANY,
        key="tier",
        label="Tier",
        field_type=FieldType.NUMBER,
    )
    site = Site.objects.create(name="Shop")
    tags = [Tag.objects.create(name=name) for name in TAG_NAMES]
    company_tags = [
        Tag.objects.create(name=name, owner_type=OwnerType.COMPANY)
        for name in ("key", "Partner")
    ]
    companies = []
    for index, name in enumerate(COMPANY_NAMES):
        company = Company.objects.create(
            name=name,
            industry=rng.choice(INDUSTRIES),
            size=rng.choice([None, 5, 50, 500]),
            country=rng.choice(COUNTRIES),
            created_at=random_moment(rng),
            custom_fields={"tier": rng.choice([1, 2, "3"])} if index % 2 else {},
            tracked_data={"cart": rng.choice(TRACKED_CART)},
        )
        company.tags.set(rng.sample(company_tags, rng.randint(0, 2)))
        companies.append(company)

    for index in range(size):
        custom = {
            "plan": maybe(rng, rng.choice(PLANS)),
            "seats": maybe(rng, rng.choice([0, 3, 12, 80, 2.5, "12"])),
            "renewal": maybe(rng, random_date(rng).isoformat()),
            "vip": maybe(rng, rng.choice([True, False])),
            "nickname": maybe(rng, rng.choice(NAMES[:-1] + ["Ärger!"])),
            "interests": maybe(rng, rng.sample(INTERESTS, rng.randint(0, 3))),
        }
        tracked = {
            "cart": rng.choice(TRACKED_CART),
            "seen": rng.choice(TRACKED_SEEN),
            "label": rng.choice(NAMES),
            "flags": rng.choice(TRACKED_FLAGS),
            "ok": rng.choice(TRACKED_OK),
        }
        tracked = {key: value for key, value in tracked.items() if rng.random() < 0.8}
        customer = Customer.objects.create(
            state=rng.choice(["customer", "customer", "lead", "visitor"]),
            first_name=rng.choice(NAMES),
            last_name=rng.choice(NAMES),
            primary_email=rng.choice(EMAILS),
            emails=rng.choice(
                [[], ["bob@example.org"], ["Ada@Example.com", ""], ["x@y.z"]]
            ),
            country=rng.choice(COUNTRIES),
            visitor_id=f"v{index}" if rng.random() < 0.5 else None,
            sex=rng.choice(["", "female", "male", "other"]),
            lead_status=rng.choice(["", "new", "connected"]),
            birth_date=maybe(rng, random_date(rng)),
            session_count=rng.choice([0, 1, 2, 5, 12, 80]),
            last_seen_at=maybe(rng, random_moment(rng)),
            created_at=random_moment(rng),
            is_subscribed=rng.random() < 0.5,
            custom_fields={
                key: value for key, value in custom.items() if value is not None
            },
            tracked_data=tracked,
        )
        customer.tags.set(rng.sample(tags, rng.randint(0, 3)))
        customer.companies.set(rng.sample(companies, rng.randint(0, 2)))
        for _event in range(rng.choice([0, 0, 1, 2, 3, 5])):
            Event.objects.create(
                site=site,
                customer=customer,
                name=rng.choice(EVENT_NAMES),
                attributes={"plan": rng.choice(EVENT_PLANS)},
                occurred_at=BASE_NOW
                - datetime.timedelta(hours=rng.randint(-12, 24 * 40)),
            )
        rebuild_event_stats(customer)

    germans = Segment.objects.create(
        name="Germans",
        content_type="customer",
        rules={
            "type": "group",
            "conjunction": "and",
            "conditions": [
                {
                    "type": "property",
                    "property": "country",
                    "operator": "is",
                    "value": "germany",
                }
            ],
        },
    )
    Segment.objects.create(
        name="Subscribed Germans",
        content_type="customer",
        parent=germans,
        rules={
            "type": "group",
            "conjunction": "and",
            "conditions": [
                {
                    "type": "property",
                    "property": "is_subscribed",
                    "operator": "is_true",
                    "value": None,
                }
            ],
        },
    )
    static = Segment.objects.create(
        name="Hand-picked", content_type="customer", is_static=True
    )
    for customer in Customer.objects.filter(state="customer")[:10]:
        SegmentMembership.objects.create(segment=static, customer=customer)
    Segment.objects.create(
        name="Tagged leads",
        content_type="lead",
        rules={
            "type": "group",
            "conjunction": "and",
            "conditions": [
                {
                    "type": "property",
                    "property": "tags",
                    "operator": "is_set",
                    "value": None,
                }
            ],
        },
    )
    Segment.objects.create(
        name="Big companies",
        content_type="company",
        rules={
            "type": "group",
            "conjunction": "and",
            "conditions": [
                {"type": "property", "property": "size", "operator": "gte", "value": 50}
            ],
        },
    )


# Rule tree strategies ----------------------------------------------------------

dates = st.one_of(
    st.integers(-45, 45).map(
        lambda offset: days_from(BASE_NOW.date(), offset).isoformat()
    ),
    st.sampled_from(
        ["2000-02-29", "1990-12-31", "1985-01-01", "2024-02-29", "2026-12-31"]
    ),
)
relative = st.fixed_dictionaries(
    {
        "amount": st.integers(0, 40),
        "unit": st.sampled_from(
            ["minutes", "hours", "days", "weeks", "months", "years"]
        ),
    }
)
texts = st.sampled_from(FRAGMENTS + NAMES[:5] + COUNTRIES[:3] + INDUSTRIES[:2])
text_lists = st.lists(texts.filter(bool), min_size=1, max_size=3)
numbers = st.sampled_from(NUMBERS)


@st.composite
def number_range(draw):
    low, high = sorted([draw(numbers), draw(numbers)])
    return [low, high]


@st.composite
def date_range(draw):
    first, last = sorted([draw(dates), draw(dates)])
    return [first, last]


TEXT_OPS = {
    "is": texts.filter(bool),
    "is_not": texts.filter(bool),
    "contains": texts.filter(bool),
    "not_contains": texts.filter(bool),
    "starts_with": texts.filter(bool),
    "ends_with": texts.filter(bool),
    "matches_regex": st.sampled_from(REGEXES),
    "in": text_lists,
    "not_in": text_lists,
}
NUMBER_OPS = {
    **{name: numbers for name in ("eq", "ne", "lt", "lte", "gt", "gte")},
    "between": number_range(),
}
DATE_OPS = {
    **{
        name: dates
        for name in ("on", "not_on", "before", "after", "on_or_before", "on_or_after")
    },
    "between": date_range(),
    **{
        name: relative
        for name in (
            "in_last",
            "more_than_ago",
            "in_next",
            "exactly_ago",
            "exactly_ahead",
        )
    },
    "anniversary_within": st.builds(
        lambda amount: {"amount": amount, "unit": "days"},
        st.sampled_from([0, 1, 2, 7, 31, 366]),
    ),
}
BOOLEAN_OPS = {"is_true": st.none(), "is_false": st.none()}
PRESENCE_OPS = {"is_set": st.none(), "is_not_set": st.none()}


def choice_ops(options):
    one = st.sampled_from(options)
    many = st.lists(one, min_size=1, max_size=2)
    return {"is": one, "is_not": one, "in": many, "not_in": many}


def set_ops(options):
    many = st.lists(st.sampled_from(options), min_size=1, max_size=3)
    return {"includes_any": many, "includes_all": many, "excludes": many}


CUSTOMER_PROPERTIES = {
    "first_name": TEXT_OPS,
    "country": TEXT_OPS,
    "primary_email": TEXT_OPS,
    "visitor_id": TEXT_OPS,
    "custom.nickname": TEXT_OPS,
    "tracked.label": TEXT_OPS,
    "tracked.cart": {**TEXT_OPS, **NUMBER_OPS, **set_ops(["1", "a"])},
    "company.industry": TEXT_OPS,
    "company.name": TEXT_OPS,
    "session_count": NUMBER_OPS,
    "custom.seats": NUMBER_OPS,
    "company.size": NUMBER_OPS,
    "birth_date": DATE_OPS,
    "custom.renewal": DATE_OPS,
    "tracked.seen": {
        **DATE_OPS,
        **{name: TEXT_OPS[name] for name in ("contains", "is")},
    },
    "last_seen_at": DATE_OPS,
    "created_at": DATE_OPS,
    "company.created_at": DATE_OPS,
    "is_subscribed": BOOLEAN_OPS,
    "custom.vip": BOOLEAN_OPS,
    "tracked.ok": {**BOOLEAN_OPS, "is": texts.filter(bool)},
    "sex": choice_ops(["female", "male", "other"]),
    "lead_status": choice_ops(["new", "connected", "attempted"]),
    "custom.plan": choice_ops(PLANS),
    "tags": set_ops(TAG_NAMES + ["vip", "ärger", "none"]),
    "emails": set_ops(EMAILS[:3] + ["Bob@Example.org", "x@y.z"]),
    "companies": set_ops(COMPANY_NAMES + ["acme", "öko ag"]),
    "custom.interests": set_ops(INTERESTS + ["sport"]),
    "tracked.flags": set_ops(["a", "b", "c", "A"]),
}
COMPANY_PROPERTIES = {
    "name": TEXT_OPS,
    "industry": TEXT_OPS,
    "country": TEXT_OPS,
    "size": NUMBER_OPS,
    "created_at": DATE_OPS,
    "custom.tier": NUMBER_OPS,
    "tracked.cart": {**TEXT_OPS, **NUMBER_OPS},
    "tags": set_ops(["key", "partner", "other"]),
}

PROPERTIES = {"customer": CUSTOMER_PROPERTIES, "company": COMPANY_PROPERTIES}


@st.composite
def property_condition(draw, kind):
    properties = PROPERTIES[kind]
    name = draw(st.sampled_from(sorted(properties)))
    operators = {**properties[name], **PRESENCE_OPS}
    operator = draw(st.sampled_from(sorted(operators)))
    value = draw(operators[operator])
    return {"type": "property", "property": name, "operator": operator, "value": value}


def segment_condition(ids):
    return st.builds(
        lambda segment, negate: {
            "type": "segment",
            "segment": segment,
            "negate": negate,
        },
        st.sampled_from(ids),
        st.booleans(),
    )


def rule_trees(leaf):
    groups = st.recursive(
        leaf,
        lambda children: st.builds(
            lambda conjunction, negate, conditions: {
                "type": "group",
                "conjunction": conjunction,
                "negate": negate,
                "conditions": conditions,
            },
            st.sampled_from(["and", "or"]),
            st.booleans(),
            st.lists(children, min_size=0, max_size=4),
        ),
        max_leaves=8,
    )
    return st.builds(
        lambda conjunction, negate, conditions: {
            "type": "group",
            "conjunction": conjunction,
            "negate": negate,
            "conditions": conditions,
        },
        st.sampled_from(["and", "or"]),
        st.booleans(),
        st.lists(groups, min_size=1, max_size=4),
    )


moments = st.integers(-36 * 60, 36 * 60).map(
    lambda minutes: BASE_NOW + datetime.timedelta(minutes=minutes)
)


def sql_ids(rules, *, content_type, now, parent=None) -> set[int]:
    compiler = Compiler(content_type, now=now)
    q = compiler.compile(rules)
    if parent is not None:
        q &= compiler.segment_q(parent)
    return set(base_queryset(content_type).filter(q).values_list("pk", flat=True))


@pytest.fixture
def population(settings):
    settings.TIME_ZONE = TIME_ZONE
    build_population()
    segments = {segment.name: segment for segment in Segment.objects.all()}
    return {
        "customers": load_records("customer", with_events=True),
        "companies": load_records("company"),
        "segments": segments,
        "infos": load_segments(),
    }


windows = st.one_of(
    st.none(),
    st.builds(
        lambda last, unit: {"last": last, "unit": unit},
        st.integers(1, 40),
        st.sampled_from(["minutes", "hours", "days", "weeks", "months"]),
    ),
    date_range().map(lambda days: {"between": days}),
)
attribute_filters = st.lists(
    st.one_of(
        st.builds(
            lambda value: {"attribute": "plan", "operator": "is", "value": value},
            st.sampled_from(["pro", "free"]),
        ),
        st.builds(
            lambda operator, value: {
                "attribute": "plan",
                "operator": operator,
                "value": value,
            },
            st.sampled_from(["gt", "ne", "lte"]),
            numbers,
        ),
        st.just({"attribute": "plan", "operator": "is_not_set", "value": None}),
    ),
    max_size=2,
)
event_condition = st.builds(
    lambda name, occurrence, count, within, attributes: {
        "type": "event",
        "event": name,
        "occurrence": occurrence,
        "count": count,
        "within": within,
        "attributes": attributes,
    },
    st.sampled_from(EVENT_NAMES),
    st.sampled_from(["at_least", "at_most", "exactly", "none"]),
    st.integers(0, 3),
    windows,
    attribute_filters,
)


def customer_leaf(segment_ids):
    return st.one_of(
        property_condition("customer"),
        property_condition("customer"),
        property_condition("customer"),
        segment_condition(segment_ids),
        event_condition,
    )


@given(data=st.data())
@DIFFERENTIAL
def test_differential_customer_rules_sql_equals_evaluator(population, data):
    # given
    segments = population["segments"]
    customer_ids = [
        segments[name].pk
        for name in ("Germans", "Subscribed Germans", "Hand-picked", "Tagged leads")
    ]
    content_type = data.draw(
        st.sampled_from(["customer", "customer", "lead", "visitor"])
    )
    rules = data.draw(rule_trees(customer_leaf(customer_ids)))
    now = data.draw(moments)
    parent = None
    if content_type == "customer" and data.draw(st.booleans()):
        parent = segments[
            data.draw(st.sampled_from(["Germans", "Subscribed Germans", "Hand-picked"]))
        ]
    note(f"content_type={content_type} now={now.isoformat()} parent={parent}")

    # when
    normalised = validate_rules(rules, content_type=content_type, parent=parent)
    expected = evaluate(
        rules,
        population["customers"],
        content_type=content_type,
        now=now,
        parent=population["infos"][parent.pk] if parent else None,
        segments=population["infos"],
    )
    found = sql_ids(normalised, content_type=content_type, now=now, parent=parent)

    # then
    assert found == expected


@given(data=st.data())
@DIFFERENTIAL
def test_differential_company_rules_sql_equals_evaluator(population, data):
    # given
    where = rule_trees(property_condition("customer"))
    contacts = st.builds(
        lambda occurrence, count, where: {
            "type": "contacts",
            "occurrence": occurrence,
            "count": count,
            "where": where,
        },
        st.sampled_from(["at_least", "at_most", "exactly", "none"]),
        st.integers(0, 3),
        where,
    )
    big = population["segments"]["Big companies"].pk
    leaf = st.one_of(
        property_condition("company"),
        property_condition("company"),
        contacts,
        segment_condition([big]),
    )
    rules = data.draw(rule_trees(leaf))
    now = data.draw(moments)

    # when
    validate_rules(rules, content_type="company")
    expected = evaluate(
        rules,
        population["companies"],
        content_type="company",
        now=now,
        segments=population["infos"],
    )
    found = sql_ids(rules, content_type="company", now=now)

    # then
    assert found == expected


@st.composite
def random_customer(draw):
    return {
        "state": draw(st.sampled_from(["customer", "customer", "lead", "visitor"])),
        "first_name": draw(st.sampled_from(NAMES)),
        "country": draw(st.sampled_from(COUNTRIES)),
        "primary_email": draw(st.sampled_from(EMAILS)),
        "sex": draw(st.sampled_from(["", "female", "male"])),
        "session_count": draw(st.integers(0, 100)),
        "birth_date": draw(
            st.one_of(
                st.none(),
                st.dates(datetime.date(1950, 1, 1), datetime.date(2030, 12, 31)),
            )
        ),
        "last_seen_at": draw(st.one_of(st.none(), moments)),
        "is_subscribed": draw(st.booleans()),
        "custom_fields": draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "plan": st.sampled_from(PLANS),
                    "seats": st.one_of(
                        st.integers(-5, 100), st.sampled_from(["12", "x"])
                    ),
                    "vip": st.booleans(),
                    "interests": st.lists(st.sampled_from(INTERESTS), unique=True),
                },
            )
        ),
        "tracked_data": draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "cart": st.one_of(
                        st.sampled_from(TRACKED_CART),
                        st.integers(-1000, 1000),
                        st.floats(-1e6, 1e6, allow_nan=False).map(
                            lambda x: round(x, 3)
                        ),
                        st.integers(-1000, 1000).map(str),
                    ),
                    "seen": st.one_of(
                        st.sampled_from(TRACKED_SEEN),
                        st.dates(
                            datetime.date(2026, 11, 1), datetime.date(2027, 2, 1)
                        ).map(datetime.date.isoformat),
                    ),
                    "label": st.sampled_from(NAMES),
                    "flags": st.sampled_from(TRACKED_FLAGS),
                    "ok": st.sampled_from(TRACKED_OK),
                },
            )
        ),
        "tags": draw(st.lists(st.sampled_from(TAG_NAMES), unique=True, max_size=3)),
        "companies": draw(
            st.lists(st.sampled_from(COMPANY_NAMES), unique=True, max_size=2)
        ),
    }


@pytest.fixture
def catalogue_rows(settings):
    settings.TIME_ZONE = TIME_ZONE
    build_population(size=0)
    return {
        "tags": {tag.name: tag for tag in Tag.objects.filter(owner_type="customer")},
        "companies": {company.name: company for company in Company.objects.all()},
    }


@given(data=st.data())
@RANDOM_CONTACTS
def test_differential_random_contacts_sql_equals_evaluator(catalogue_rows, data):
    # given contacts drawn for this example only, rolled back afterwards
    people = data.draw(st.lists(random_customer(), min_size=1, max_size=6))
    rules = data.draw(rule_trees(property_condition("customer")))
    content_type = data.draw(st.sampled_from(["customer", "lead"]))
    now = data.draw(moments)
    with transaction.atomic():
        for person in people:
            person = dict(person)
            tags = [catalogue_rows["tags"][name] for name in person.pop("tags")]
            companies = [
                catalogue_rows["companies"][name] for name in person.pop("companies")
            ]
            customer = Customer.objects.create(**person)
            customer.tags.set(tags)
            customer.companies.set(companies)

        # when
        expected = evaluate(
            rules, load_records("customer"), content_type=content_type, now=now
        )
        found = sql_ids(rules, content_type=content_type, now=now)
        transaction.set_rollback(True)

    # then
    assert found == expected
