import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.factories import (
    CompanyFactory,
    CustomerFactory,
    LeadFactory,
    VisitorFactory,
)
from contacts.models import Customer, FieldDefinition, FieldType
from segments.compiler import compile_rules
from segments.models import Segment, SegmentMembership
from segments.services import (
    count_segment,
    members_queryset,
    preview_count,
    preview_queryset,
)
from tests.segments.conftest import group, prop

pytestmark = pytest.mark.django_db


def reference(segment, negate=False) -> dict:
    return {"type": "segment", "segment": segment.pk, "negate": negate}


def pks(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def test_negation_inside_or_group_selects_contact_on_its_own(now):
    # given Bob matches only the negative alternative, Nameless has no name
    ada = CustomerFactory(first_name="Ada", country="Germany")
    bob = CustomerFactory(first_name="Bob", country="France")
    nameless = CustomerFactory(first_name="", country="France")
    CustomerFactory(first_name="Anna", country="France")
    rules = group(
        prop("country", "is", "Germany"),
        prop("first_name", "not_contains", "a"),
        conjunction="or",
    )

    # when
    found = preview_queryset(rules, content_type="customer", now=now)

    # then
    assert pks(found) == {ada.pk, bob.pk, nameless.pk}


def test_negated_group_is_exact_complement(now):
    # given
    CustomerFactory(first_name="Ada", tracked_data={"cart": 5})
    CustomerFactory(first_name="Bob", tracked_data={"cart": "junk"})
    CustomerFactory(first_name="", tracked_data={})
    inner = group(prop("first_name", "contains", "a"), prop("tracked.cart", "gt", 1))

    # when
    matched = pks(preview_queryset(inner, content_type="customer", now=now))
    negated = pks(
        preview_queryset({**inner, "negate": True}, content_type="customer", now=now)
    )

    # then
    assert matched & negated == set()
    assert matched | negated == set(Customer.objects.values_list("pk", flat=True))


def test_empty_group_matches_all_and_negated_empty_group_none(now):
    # given
    CustomerFactory.create_batch(3)

    # when
    everyone = preview_count(group(), content_type="customer", now=now)
    nobody = preview_count(group(negate=True), content_type="customer", now=now)

    # then
    assert everyone == {"count": 3, "total": 3}
    assert nobody == {"count": 0, "total": 3}


def test_customer_segment_never_counts_leads_or_visitors(now):
    # given
    customer = CustomerFactory(country="Germany")
    LeadFactory(country="Germany")
    VisitorFactory(country="Germany")
    segment = Segment.objects.create(
        name="Germans",
        content_type="customer",
        rules=group(prop("country", "is", "germany")),
    )

    # when
    counted = count_segment(segment, now=now)
    previewed = preview_count(segment.rules, content_type="customer", now=now)
    members = list(members_queryset(segment, now=now))

    # then
    assert counted == 1
    assert previewed == {"count": 1, "total": 1}
    assert members == [customer]


def test_lead_segment_counts_only_leads(now):
    # given
    CustomerFactory()
    lead = LeadFactory()
    segment = Segment.objects.create(
        name="All leads", content_type="lead", rules=group()
    )

    # when
    members = list(members_queryset(segment, now=now))

    # then
    assert members == [lead]


def test_sub_segment_preview_and_saved_count_equal_parent_and_own_rules(now):
    # given parent: Germany; own rules: subscribed
    both = CustomerFactory(country="Germany", is_subscribed=True)
    CustomerFactory(country="Germany", is_subscribed=False)
    CustomerFactory(country="France", is_subscribed=True)
    parent = Segment.objects.create(
        name="Germans", rules=group(prop("country", "is", "Germany"))
    )
    own_rules = group(prop("is_subscribed", "is_true"))
    child = Segment.objects.create(
        name="Subscribed Germans", parent=parent, rules=own_rules
    )
    expected = pks(members_queryset(parent, now=now)) & pks(
        preview_queryset(own_rules, content_type="customer", now=now)
    )

    # when
    previewed = preview_queryset(
        own_rules, content_type="customer", parent=parent, now=now
    )
    counted = count_segment(child, now=now)

    # then
    assert expected == {both.pk}
    assert pks(previewed) == expected
    assert preview_count(
        own_rules, content_type="customer", parent=parent, now=now
    ) == {
        "count": 1,
        "total": 3,
    }
    assert counted == 1
    assert pks(members_queryset(child, now=now)) == expected


def test_sub_segment_of_sub_segment_applies_whole_chain(now):
    # given
    match = CustomerFactory(country="Germany", is_subscribed=True, session_count=5)
    CustomerFactory(country="Germany", is_subscribed=True, session_count=0)
    CustomerFactory(country="France", is_subscribed=True, session_count=5)
    top = Segment.objects.create(
        name="Top", rules=group(prop("country", "is", "Germany"))
    )
    middle = Segment.objects.create(
        name="Middle", parent=top, rules=group(prop("is_subscribed", "is_true"))
    )
    bottom = Segment.objects.create(
        name="Bottom", parent=middle, rules=group(prop("session_count", "gte", 1))
    )

    # when
    members = list(members_queryset(bottom, now=now))

    # then
    assert members == [match]


def test_segment_count_equals_length_of_members_list(now):
    # given
    CustomerFactory.create_batch(4, country="Germany")
    CustomerFactory.create_batch(2, country="France")
    LeadFactory(country="Germany")
    segment = Segment.objects.create(
        name="Germans", rules=group(prop("country", "is", "germany"))
    )

    # when
    counted = count_segment(segment, now=now)
    members = list(members_queryset(segment, now=now))

    # then
    assert counted == len(members) == 4


def test_rule_outside_catalogue_rejected_before_any_sql(django_assert_num_queries, now):
    # given a name that would reach another table through a lookup
    rules = group(prop("owner__password", "is", "secret"))

    # when / then
    with django_assert_num_queries(0):
        with pytest.raises(Exception) as caught:
            preview_queryset(rules, content_type="customer", now=now)
    assert caught.value.message_dict == {
        "conditions[0].property": [
            "The property 'owner__password' is not in the catalogue of customer "
            "segments. Pick a property from the catalogue."
        ]
    }


def _queries(callable_) -> int:
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured.captured_queries)


def test_count_and_preview_queries_do_not_grow_with_contacts(now):
    # given a segment that uses every kind of condition
    germans = Segment.objects.create(
        name="Germans", rules=group(prop("country", "is", "Germany"))
    )
    rules = group(
        prop("first_name", "contains", "a"),
        prop("tags", "includes_any", ["vip"]),
        prop("company.industry", "is", "Retail"),
        prop("tracked.cart", "gt", 3),
        reference(germans, negate=True),
        conjunction="or",
    )
    segment = Segment.objects.create(name="Mixed", parent=germans, rules=rules)
    company = CompanyFactory(industry="Retail")

    def add(number):
        for index in range(number):
            CustomerFactory(
                country="Germany", tracked_data={"cart": index}, companies=[company]
            )

    add(3)
    small_count = _queries(lambda: count_segment(segment, now=now))
    small_preview = _queries(
        lambda: preview_count(rules, content_type="customer", parent=germans, now=now)
    )

    # when
    add(60)
    large_count = _queries(lambda: count_segment(segment, now=now))
    large_preview = _queries(
        lambda: preview_count(rules, content_type="customer", parent=germans, now=now)
    )

    # then
    assert large_count == small_count
    assert large_preview == small_preview
    assert count_segment(segment, now=now) == 63


def test_not_in_segment_is_exact_complement_within_content_type(now):
    # given
    CustomerFactory.create_batch(2, country="Germany")
    CustomerFactory(country="France")
    CustomerFactory(country="")
    LeadFactory(country="France")
    germans = Segment.objects.create(
        name="Germans", rules=group(prop("country", "is", "Germany"))
    )

    # when
    inside = pks(
        preview_queryset(group(reference(germans)), content_type="customer", now=now)
    )
    outside = pks(
        preview_queryset(
            group(reference(germans, negate=True)), content_type="customer", now=now
        )
    )

    # then
    customers = set(
        Customer.objects.filter(state="customer").values_list("pk", flat=True)
    )
    assert len(inside) == 2
    assert inside & outside == set()
    assert inside | outside == customers


def test_static_segment_members_are_open_memberships(now):
    # given
    kept, left, _other = CustomerFactory.create_batch(3)
    segment = Segment.objects.create(name="Picked", is_static=True)
    SegmentMembership.objects.create(segment=segment, customer=kept)
    SegmentMembership.objects.create(segment=segment, customer=left, exited_at=now)

    # when
    members = list(members_queryset(segment, now=now))

    # then
    assert members == [kept]
    assert count_segment(segment, now=now) == 1


def test_reference_to_static_segment_uses_memberships(now):
    # given
    kept, other = CustomerFactory.create_batch(2)
    picked = Segment.objects.create(name="Picked", is_static=True)
    SegmentMembership.objects.create(segment=picked, customer=kept)

    # when
    found = preview_queryset(group(reference(picked)), content_type="customer", now=now)

    # then
    assert list(found) == [kept]


def test_company_segment_with_contacts_condition_counts_matching_contacts(now):
    # given
    busy = CompanyFactory(name="Busy")
    quiet = CompanyFactory(name="Quiet")
    CompanyFactory(name="Empty")
    for _index in range(3):
        CustomerFactory(country="Germany", companies=[busy])
    CustomerFactory(country="Germany", companies=[quiet])
    CustomerFactory(country="France", companies=[quiet])

    def companies(occurrence, count):
        rules = group(
            {
                "type": "contacts",
                "occurrence": occurrence,
                "count": count,
                "where": group(prop("country", "is", "germany")),
            }
        )
        found = preview_queryset(rules, content_type="company", now=now)
        return sorted(found.values_list("name", flat=True))

    # when / then
    assert companies("at_least", 2) == ["Busy"]
    assert companies("at_least", 1) == ["Busy", "Quiet"]
    assert companies("at_most", 1) == ["Empty", "Quiet"]
    assert companies("exactly", 1) == ["Quiet"]
    assert companies("none", 0) == ["Empty"]


def test_company_segment_uses_company_fields_and_tags(now):
    # given
    CompanyFactory(name="Acme", industry="Retail", size=50)
    CompanyFactory(name="Tiny", industry="Retail", size=None)

    # when
    found = preview_queryset(
        group(prop("industry", "is", "retail"), prop("size", "is_not_set")),
        content_type="company",
        now=now,
    )

    # then
    assert list(found.values_list("name", flat=True)) == ["Tiny"]


def test_compile_rules_returns_q_usable_on_any_queryset(now):
    # given
    ada = CustomerFactory(first_name="Ada")
    CustomerFactory(first_name="Bob")

    # when
    q = compile_rules(
        group(prop("first_name", "is", "ada")), content_type="customer", now=now
    )

    # then
    assert list(Customer.objects.filter(q)) == [ada]


def test_event_condition_compiled_through_events_app(now):
    # given
    from events.models import Event, Site

    site = Site.objects.create(name="Shop")
    buyer, _browser = CustomerFactory.create_batch(2)
    for days in (1, 2):
        Event.objects.create(
            site=site,
            customer=buyer,
            name="pricing_viewed",
            attributes={"plan": "pro"},
            occurred_at=now - datetime.timedelta(days=days),
        )
    rules = group(
        {
            "type": "event",
            "event": "pricing_viewed",
            "occurrence": "at_least",
            "count": 2,
            "within": {"last": 7, "unit": "days"},
            "attributes": [{"attribute": "plan", "operator": "is", "value": "PRO"}],
        }
    )

    # when
    found = preview_queryset(rules, content_type="customer", now=now)

    # then
    assert list(found) == [buyer]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (group(prop("custom.plan", "is", "pro")), ["pro"]),
        (group(prop("custom.plan", "in", ["pro", "team"])), ["pro", "team"]),
        (
            group(prop("custom.plan", "is_not", "pro")),
            ["Pro", "array", "object", "number", "null", "empty", "missing", "team"],
        ),
    ],
    ids=["is", "in", "is-not"],
)
def test_choice_field_matches_only_the_exact_json_string(rules, expected):
    # given stored values that bypassed validation, of every JSON type
    FieldDefinition.objects.create(
        key="plan",
        label="Plan",
        field_type=FieldType.CHOICE,
        options=["pro", "team", "Pro"],
    )
    stored = {
        "pro": {"plan": "pro"},
        "team": {"plan": "team"},
        "Pro": {"plan": "Pro"},
        "array": {"plan": ["pro"]},
        "object": {"plan": {"name": "pro"}},
        "number": {"plan": 5},
        "null": {"plan": None},
        "empty": {"plan": ""},
        "missing": {},
    }
    for name, custom_fields in stored.items():
        Customer.objects.create(first_name=name, custom_fields=custom_fields)

    # when
    selected = preview_queryset(rules, content_type="customer")

    # then
    assert sorted(selected.values_list("first_name", flat=True)) == sorted(expected)


@pytest.mark.parametrize(
    ("stored", "operator", "value", "matches"),
    [
        ("1e-400", "gte", 0, True),
        ("1e-400", "gt", 0, False),
        ("-1e-400", "eq", 0, True),
        ("1e400", "gt", 0, False),
        ("1e400", "lt", 0, False),
        ("1e299", "gt", 1e15, True),
        ("12.5", "gt", 12, True),
    ],
)
def test_tracked_number_beyond_double_range_never_fails(
    stored, operator, value, matches
):
    # given a number that JSON allows but a double cannot hold
    customer = CustomerFactory()
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE contacts_customer SET tracked_data = %s{cast} WHERE id = %s",
            [f'{{"total": {stored}}}', customer.pk],
        )
    rules = group(prop("tracked.total", operator, value))

    # when
    selected = list(preview_queryset(rules, content_type="customer"))

    # then it reads as Python's json module reads it: tiny is 0, huge is missing
    assert (customer in selected) is matches


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("is", "pro", ["pro", "PRO"]),
        ("in", ["pro", "team"], ["pro", "PRO", "team"]),
        ("is", "5", ["text 5"]),
        ("is", "true", ["text true"]),
        ("is", '["pro"]', []),
        (
            "is_not",
            "pro",
            ["team", "number", "boolean", "array", "object", "null", "missing"]
            + ["text 5", "text true"],
        ),
    ],
)
def test_tracked_text_compares_strings_only(operator, value, expected):
    # given tracked values of every JSON type, some whose JSON text is "5"
    # or "true"
    stored = {
        "pro": "pro",
        "PRO": "PRO",
        "team": "team",
        "number": 5,
        "boolean": True,
        "array": ["pro"],
        "object": {"plan": "pro"},
        "null": None,
        "text 5": "5",
        "text true": "true",
    }
    for name, plan in stored.items():
        Customer.objects.create(first_name=name, tracked_data={"plan": plan})
    Customer.objects.create(first_name="missing", tracked_data={"other": "pro"})
    rules = group(prop("tracked.plan", operator, value))

    # when
    selected = preview_queryset(rules, content_type="customer")

    # then only JSON strings compare, whatever the text of the others
    assert sorted(selected.values_list("first_name", flat=True)) == sorted(expected)
