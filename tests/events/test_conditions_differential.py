"""Differential test: event conditions compiled to SQL select exactly the
contacts the reference evaluator selects, on whichever database runs.

The contacts and events are made once per test from a seeded generator, with
junk values under every attribute; hypothesis then draws the conditions.
"""

import datetime
import random

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from contacts.models import Customer
from events.conditions import (
    evaluate_event_condition,
    event_condition_q,
    load_event_records,
)
from events.identity import rebuild_event_stats
from events.models import Event, Site
from tests.segments.conftest import DIFFERENTIAL

NOW = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)
NAMES = ["pricing_viewed", "signed_up", "cart_added"]
ATTRIBUTE_VALUES = {
    "plan": ["pro", "Pro", "basic", "Ärger", "", 5, None, True],
    "seats": [1, "3", "80%", 2.5, -1, "", [1], {"x": 1}, True, "12"],
    "flag": [True, False, "true", 0],
    "when": ["2026-03-01", "2026-03-14", "2026-13-45", "soon"],
    "tags": [["a", "B"], ["b"], [], "a", [1, "A"]],
}


def make_population(rng: random.Random) -> None:
    """Create thirty contacts with up to eight random events each."""
    site = Site.objects.create(name="Differential", allowed_origins=["*"])
    for _ in range(30):
        contact = Customer.objects.create(
            first_name=rng.choice(["ann", "Ann", "bob", ""]),
            state=rng.choice(["customer", "customer", "lead", "visitor"]),
            tracked_data=rng.choice([{}, {"cart": 5}, {"cart": "12"}, {"cart": "x"}]),
            created_at=NOW - datetime.timedelta(days=rng.randint(0, 60)),
        )
        for _ in range(rng.randint(0, 8)):
            attributes = {
                key: rng.choice(values)
                for key, values in ATTRIBUTE_VALUES.items()
                if rng.random() < 0.7
            }
            Event.objects.create(
                site=site,
                customer=contact,
                name=rng.choice(NAMES),
                attributes=attributes,
                occurred_at=NOW
                - datetime.timedelta(minutes=rng.randint(0, 90 * 24 * 60)),
            )
        rebuild_event_stats(contact)


@pytest.fixture
def event_population(db):
    make_population(random.Random(20260315))


texts = st.sampled_from(["pro", "PRO", "basic", "ärger", "", "o", "8"])
numbers = st.sampled_from([0, 1, 2.5, 3, -1, 12, 100])
days = st.dates(datetime.date(2025, 12, 1), datetime.date(2026, 3, 20)).map(
    datetime.date.isoformat
)
relative = st.fixed_dictionaries(
    {
        "amount": st.integers(1, 60),
        "unit": st.sampled_from(["minutes", "hours", "days", "weeks", "months"]),
    }
)


def ranges(values):
    return st.lists(values, min_size=2, max_size=2).map(sorted)


ATTRIBUTE_OPERATORS = {
    **{name: texts for name in ("is", "is_not", "contains", "not_contains")},
    **{name: texts for name in ("starts_with", "ends_with")},
    "matches_regex": st.sampled_from(["^p", "o$", "[0-9]+", "är"]),
    "in": st.lists(texts, min_size=1, max_size=3),
    "not_in": st.lists(texts, min_size=1, max_size=3),
    **{name: numbers for name in ("eq", "ne", "lt", "lte", "gt", "gte")},
    "between": st.one_of(ranges(numbers), ranges(days)),
    **{name: days for name in ("on", "not_on", "before", "after")},
    "in_last": relative,
    "more_than_ago": relative,
    "is_true": st.none(),
    "is_false": st.none(),
    "is_set": st.none(),
    "is_not_set": st.none(),
    **{
        name: st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2)
        for name in ("includes_any", "includes_all", "excludes")
    },
}
TIME_OPERATORS = {
    **{name: days for name in ("on", "not_on", "before", "after", "on_or_after")},
    "between": ranges(days),
    "in_last": relative,
    "more_than_ago": relative,
    "is_set": st.none(),
    "is_not_set": st.none(),
}


@st.composite
def filters(draw, operators, key=None):
    operator = draw(st.sampled_from(sorted(operators)))
    item = {"operator": operator}
    if key is not None:
        item = {"attribute": key, **item}
    value = draw(operators[operator])
    if value is not None:
        item["value"] = value
    return item


@st.composite
def event_conditions(draw, with_times=True):
    condition = {
        "type": "event",
        "event": draw(st.sampled_from(NAMES)),
        "occurrence": draw(st.sampled_from(["at_least", "at_most", "exactly", "none"])),
        "count": draw(st.integers(0, 4)),
        "within": draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {
                        "last": st.integers(1, 60),
                        "unit": st.sampled_from(
                            ["minutes", "hours", "days", "weeks", "months"]
                        ),
                    }
                ),
                ranges(days).map(lambda pair: {"between": pair}),
            )
        ),
        "attributes": draw(
            st.lists(
                st.sampled_from(sorted(ATTRIBUTE_VALUES)).flatmap(
                    lambda key: filters(ATTRIBUTE_OPERATORS, key)
                ),
                max_size=2,
            )
        ),
    }
    for key in ("first_occurred", "last_occurred"):
        if with_times and draw(st.integers(0, 4)) == 0:
            condition[key] = draw(filters(TIME_OPERATORS))
    return condition


@pytest.mark.django_db
@DIFFERENTIAL
@given(condition=event_conditions())
def test_event_condition_sql_equals_evaluator(event_population, condition):
    # Given
    records = load_event_records(Customer.objects.values_list("pk", flat=True))

    # When
    by_sql = set(
        Customer.objects.filter(event_condition_q(condition, now=NOW)).values_list(
            "pk", flat=True
        )
    )
    by_python = {
        pk
        for pk in Customer.objects.values_list("pk", flat=True)
        if evaluate_event_condition(condition, records.get(pk, []), now=NOW)
    }

    # Then
    everyone = Customer.objects.count()
    event({0: "selects none", everyone: "selects all"}.get(len(by_sql), "selects some"))
    assert by_sql == by_python, condition
