import datetime

import pytest
from django.test import override_settings

from contacts.models import Customer, CustomerState
from events.conditions import (
    evaluate_event_condition,
    event_condition_q,
    load_event_records,
)
from events.identity import rebuild_event_stats
from events.models import Event, Site
from segments.services import preview_queryset

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)


def days_ago(days, **extra):
    return NOW - datetime.timedelta(days=days, **extra)


@pytest.fixture
def events_site(db):
    return Site.objects.create(name="Shop", allowed_origins=["*"])


@pytest.fixture
def add_events(events_site):
    """Store events for a contact and rebuild its rollup, as ingest would."""

    def add(contact, *events):
        for name, when, attributes in events:
            Event.objects.create(
                site=events_site,
                customer=contact,
                name=name,
                occurred_at=when,
                attributes=attributes,
            )
        rebuild_event_stats(contact)
        return contact

    return add


def contact(name, **fields):
    return Customer.objects.create(first_name=name, created_at=days_ago(100), **fields)


def matching(condition):
    """Return first names matched by SQL, after checking the evaluator agrees."""
    q = event_condition_q(condition, now=NOW)
    by_sql = set(Customer.objects.filter(q).values_list("first_name", flat=True))
    records = load_event_records(Customer.objects.values_list("pk", flat=True))
    by_python = {
        customer.first_name
        for customer in Customer.objects.all()
        if evaluate_event_condition(condition, records.get(customer.pk, []), now=NOW)
    }
    assert by_sql == by_python
    return by_sql


@pytest.fixture
def shoppers(add_events):
    """ann viewed pricing 3 times (pro, basic, pro), bob once 40 days ago,
    cid never."""
    add_events(
        contact("ann"),
        ("pricing_viewed", days_ago(1), {"plan": "pro", "seats": 12}),
        ("pricing_viewed", days_ago(2), {"plan": "basic", "seats": "3"}),
        ("pricing_viewed", days_ago(10), {"plan": "Pro", "seats": "80%"}),
        ("signed_up", days_ago(50), {}),
    )
    add_events(contact("bob"), ("pricing_viewed", days_ago(40), {"plan": "pro"}))
    contact("cid")


def event(**fields):
    return {"type": "event", "event": "pricing_viewed", **fields}


@pytest.mark.parametrize(
    ("occurrence", "count", "expected"),
    [
        ("at_least", 1, {"ann", "bob"}),
        ("at_least", 3, {"ann"}),
        ("at_least", 4, set()),
        ("at_least", 0, {"ann", "bob", "cid"}),
        ("at_most", 1, {"bob", "cid"}),
        ("at_most", 0, {"cid"}),
        ("exactly", 1, {"bob"}),
        ("exactly", 3, {"ann"}),
        ("exactly", 0, {"cid"}),
        ("none", 0, {"cid"}),
    ],
)
def test_event_condition_lifetime_occurrence_matches(
    shoppers, occurrence, count, expected
):
    assert matching(event(occurrence=occurrence, count=count)) == expected


def test_event_condition_lifetime_count_reads_rollup_only(shoppers):
    # When
    sql = str(Customer.objects.filter(event_condition_q(event(count=2), now=NOW)).query)

    # Then
    assert "events_customereventstats" in sql
    assert "events_event" not in sql


def test_event_condition_window_counts_recent_only(shoppers):
    condition = event(
        occurrence="at_least", count=2, within={"last": 7, "unit": "days"}
    )

    assert matching(condition) == {"ann"}


@pytest.mark.parametrize(
    ("within", "expected"),
    [
        ({"last": 36, "unit": "hours"}, {"ann"}),
        ({"last": 2, "unit": "weeks"}, {"ann"}),
        ({"last": 2, "unit": "months"}, {"ann", "bob"}),
        ({"between": ["2026-02-03", "2026-02-03"]}, {"bob"}),
        ({"between": ["2026-02-04", "2026-03-05"]}, {"ann"}),
    ],
)
def test_event_condition_window_units_match(shoppers, within, expected):
    assert matching(event(within=within)) == expected


def test_event_condition_none_in_window_includes_new_contacts(shoppers):
    # Given: a contact created yesterday who did nothing.
    Customer.objects.create(first_name="new", created_at=days_ago(1))

    # When
    condition = event(occurrence="none", within={"last": 30, "unit": "days"})

    # Then: "did not view pricing in the last 30 days" holds for them too.
    assert matching(condition) == {"bob", "cid", "new"}


def test_event_condition_attribute_filters_apply_to_one_occurrence(shoppers):
    # ann has a pro view and a view with 3 seats, but no single view with both.
    condition = event(
        attributes=[
            {"attribute": "plan", "operator": "is", "value": "pro"},
            {"attribute": "seats", "operator": "lte", "value": 3},
        ]
    )

    assert matching(condition) == set()


def test_event_condition_text_attribute_ignores_case(shoppers):
    condition = event(
        count=2, attributes=[{"attribute": "plan", "operator": "is", "value": "PRO"}]
    )

    assert matching(condition) == {"ann"}


def test_event_condition_number_attribute_reads_numeric_strings(shoppers):
    # seats 12 (number), "3" (numeric string), "80%" (junk, never matches).
    condition = event(
        count=2, attributes=[{"attribute": "seats", "operator": "gte", "value": 1}]
    )

    assert matching(condition) == {"ann"}


def test_event_condition_negative_attribute_matches_missing_key(shoppers):
    # bob's view has no seats; "ne 12" holds for it.
    condition = event(
        attributes=[{"attribute": "seats", "operator": "ne", "value": 12}]
    )

    assert matching(condition) == {"ann", "bob"}


def test_event_condition_attribute_is_set(shoppers):
    condition = event(attributes=[{"attribute": "seats", "operator": "is_set"}])

    assert matching(condition) == {"ann"}


def test_at_most_with_attributes_includes_no_events(shoppers):
    condition = event(
        occurrence="at_most",
        count=1,
        attributes=[{"attribute": "plan", "operator": "is", "value": "pro"}],
    )

    assert matching(condition) == {"bob", "cid"}


@pytest.mark.parametrize(
    ("key", "spec", "expected"),
    [
        (
            "last_occurred",
            {"operator": "more_than_ago", "value": {"amount": 30, "unit": "days"}},
            {"bob"},
        ),
        (
            "last_occurred",
            {"operator": "in_last", "value": {"amount": 7, "unit": "days"}},
            {"ann"},
        ),
        (
            "first_occurred",
            {"operator": "before", "value": "2026-03-01"},
            {"bob"},
        ),
        ("first_occurred", {"operator": "on", "value": "2026-03-05"}, {"ann"}),
        (
            "first_occurred",
            {"operator": "not_on", "value": "2026-03-05"},
            {"bob", "cid"},
        ),
        ("last_occurred", {"operator": "is_not_set"}, {"cid"}),
    ],
)
def test_event_condition_first_and_last_times(shoppers, key, spec, expected):
    condition = event(occurrence="at_least", count=0, **{key: spec})

    assert matching(condition) == expected


def test_event_condition_last_time_with_attributes_reads_events(shoppers):
    # ann's last "basic" view was 2 days ago; her last view of any plan, 1 day.
    condition = event(
        attributes=[{"attribute": "plan", "operator": "is", "value": "basic"}],
        last_occurred={"operator": "on", "value": "2026-03-13"},
    )

    assert matching(condition) == {"ann"}


def test_two_event_conditions_and_selects_both(shoppers, add_events):
    # Given: dan signed up but never viewed pricing; bob viewed but never
    # signed up.
    add_events(contact("dan"), ("signed_up", days_ago(3), {}))
    rules = {
        "type": "group",
        "conjunction": "and",
        "conditions": [
            event(occurrence="at_least", count=1),
            {
                "type": "event",
                "event": "signed_up",
                "occurrence": "at_least",
                "count": 1,
            },
        ],
    }

    # When
    members = preview_queryset(rules, content_type="customer", now=NOW)

    # Then
    assert set(members.values_list("first_name", flat=True)) == {"ann"}


def test_event_condition_junk_attribute_values_never_raise(add_events):
    # Given: values of every JSON type under one key.
    junk = [True, None, [1, 2], {"a": 1}, "80%", "", "1e5", -0.5, 10**30]
    add_events(
        contact("eve"),
        *[("pricing_viewed", days_ago(1), {"seats": value}) for value in junk],
    )

    # When / then: each number operator runs and agrees with the evaluator.
    for operator in ("eq", "ne", "lt", "lte", "gt", "gte"):
        attributes = [{"attribute": "seats", "operator": operator, "value": 0}]
        matching(event(attributes=attributes))
    assert matching(
        event(attributes=[{"attribute": "seats", "operator": "lt", "value": 0}])
    ) == {"eve"}


@override_settings(TIME_ZONE="America/New_York")
def test_event_condition_between_uses_local_days(add_events):
    # Given: 03:00 UTC on 2 March is still 1 March in New York.
    add_events(
        contact("late"),
        (
            "pricing_viewed",
            datetime.datetime(2026, 3, 2, 3, 0, tzinfo=datetime.UTC),
            {},
        ),
    )

    # Then
    assert matching(event(within={"between": ["2026-03-01", "2026-03-01"]})) == {"late"}
    assert matching(event(within={"between": ["2026-03-02", "2026-03-02"]})) == set()


def test_load_event_records_groups_by_contact(shoppers):
    ann = Customer.objects.get(first_name="ann")

    records = load_event_records([ann.pk])

    assert [record.name for record in records[ann.pk]] == [
        "signed_up",
        "pricing_viewed",
        "pricing_viewed",
        "pricing_viewed",
    ]
    assert records[ann.pk][0].occurred_at == days_ago(50)


def test_event_condition_visitor_state_is_not_filtered(add_events):
    # The condition filters events only; the segment's base picks the state.
    add_events(
        contact("vis", state=CustomerState.VISITOR),
        ("pricing_viewed", days_ago(1), {}),
    )

    assert matching(event()) == {"vis"}


def test_event_condition_compiles_without_queries(django_assert_num_queries):
    condition = event(
        count=2,
        within={"last": 7, "unit": "days"},
        attributes=[{"attribute": "plan", "operator": "is", "value": "pro"}],
        last_occurred={"operator": "in_last", "value": {"amount": 7, "unit": "days"}},
    )

    with django_assert_num_queries(0):
        q = event_condition_q(condition, now=NOW)
    with django_assert_num_queries(1):
        Customer.objects.filter(q).count()
