import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.factories import CustomerFactory, LeadFactory, TagFactory
from contacts.models import Customer
from segments.models import Segment, SegmentMembership
from segments.services import (
    base_queryset,
    count_segment,
    explain,
    members_queryset,
    preview_count,
    preview_queryset,
    why,
)
from tests.segments.conftest import group, prop

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd():
    vip = TagFactory(name="VIP")
    return {
        "ada": CustomerFactory(first_name="Ada", country="Germany", tags=[vip]),
        "bob": CustomerFactory(first_name="Bob", country="Germany"),
        "cy": CustomerFactory(first_name="Cy", country="France", tags=[vip]),
        "lead": LeadFactory(first_name="Lea", country="Germany"),
    }


RULES = group(
    prop("country", "is", "Germany"),
    group(
        prop("tags", "includes_any", ["vip"]),
        prop("first_name", "is", "bob"),
        conjunction="or",
    ),
)


def test_base_queryset_follows_content_type(crowd):
    assert set(base_queryset("customer")) == {crowd["ada"], crowd["bob"], crowd["cy"]}
    assert list(base_queryset("lead")) == [crowd["lead"]]
    assert list(base_queryset("visitor")) == []
    assert base_queryset("company").model.__name__ == "Company"


def test_preview_count_returns_count_and_total(crowd, now):
    # when
    counted = preview_count(RULES, content_type="customer", now=now)

    # then
    assert counted == {"count": 2, "total": 3}


def test_preview_count_invalid_rules_raise_and_save_nothing(crowd, now):
    # when
    with pytest.raises(ValidationError):
        preview_count(group(prop("nope", "is_set")), content_type="customer", now=now)

    # then
    assert Segment.objects.count() == 0


def test_explain_counts_each_condition_and_group(crowd, now):
    # when
    explained = explain(RULES, content_type="customer", now=now)

    # then
    tree = explained["tree"]
    assert explained["count"] == 2
    assert explained["total"] == 3
    assert tree["path"] == "rules"
    assert tree["matches"] == 2
    assert tree["conditions"][0]["matches"] == 2
    assert tree["conditions"][0]["path"] == "conditions[0]"
    assert tree["conditions"][1]["matches"] == 3
    assert [child["matches"] for child in tree["conditions"][1]["conditions"]] == [2, 1]
    assert (
        tree["conditions"][1]["conditions"][1]["path"] == "conditions[1].conditions[1]"
    )
    assert "contacts_customer" in explained["sql"]
    assert explained["parent_members"] is None


def test_explain_saved_sub_segment_counts_within_parent(crowd, now):
    # given
    parent = Segment.objects.create(
        name="Germans", rules=group(prop("country", "is", "Germany"))
    )
    child = Segment.objects.create(
        name="VIP Germans", parent=parent, rules=group(prop("tags", "is_set"))
    )

    # when
    explained = explain(child, now=now)

    # then
    assert explained["parent_members"] == 2
    assert explained["tree"]["conditions"][0]["matches"] == 1
    assert explained["count"] == count_segment(child, now=now) == 1


def test_explain_static_segment_reports_members(crowd, now):
    # given
    segment = Segment.objects.create(name="Picked", is_static=True)
    SegmentMembership.objects.create(segment=segment, customer=crowd["cy"])

    # when
    explained = explain(segment, now=now)

    # then
    assert explained["static"] is True
    assert explained["count"] == 1
    assert explained["total"] == 3


def test_why_marks_each_condition_for_one_contact(crowd, now):
    # given
    segment = Segment.objects.create(name="Mixed", rules=RULES)

    # when
    bob = why(segment, crowd["bob"], now=now)
    cy = why(segment, crowd["cy"], now=now)

    # then
    assert bob["member"] is True
    assert bob["tree"]["matched"] is True
    assert [
        child["matched"] for child in bob["tree"]["conditions"][1]["conditions"]
    ] == [
        False,
        True,
    ]
    assert cy["member"] is False
    assert cy["tree"]["conditions"][0]["matched"] is False
    assert cy["tree"]["conditions"][1]["matched"] is True


def test_why_contact_outside_base_is_not_member(crowd, now):
    # given
    segment = Segment.objects.create(
        name="Germans", rules=group(prop("country", "is", "Germany"))
    )

    # when
    lead = why(segment, crowd["lead"], now=now)

    # then
    assert lead["in_base"] is False
    assert lead["tree"]["matched"] is True
    assert lead["member"] is False


def test_why_agrees_with_members_queryset(crowd, now):
    # given
    parent = Segment.objects.create(
        name="Germans", rules=group(prop("country", "is", "Germany"))
    )
    segment = Segment.objects.create(
        name="Sub", parent=parent, rules=RULES["conditions"][1]
    )
    members = set(members_queryset(segment, now=now))

    # when
    answers = {
        contact: why(segment, contact, now=now)["member"]
        for contact in Customer.objects.all()
    }

    # then
    assert {contact for contact, member in answers.items() if member} == members


def test_preview_queryset_of_lead_rules_counts_leads(crowd, now):
    # when
    found = preview_queryset(
        group(prop("country", "is", "Germany")), content_type="lead", now=now
    )

    # then
    assert list(found) == [crowd["lead"]]


def test_preview_of_own_fields_counts_in_one_query(crowd):
    # given rules that read only the contact's own row
    rules = group(prop("country", "is", "Germany"), prop("first_name", "is_set"))

    # when
    with CaptureQueriesContext(connection) as queries:
        counts = preview_count(rules, content_type="customer")

    # then count and total come from one scan and match two plain counts
    assert len(queries) == 1
    assert counts == {"count": 2, "total": 3}
    assert counts["count"] == preview_queryset(rules, content_type="customer").count()


@pytest.mark.parametrize(
    "rules",
    [
        RULES,
        group(prop("tags", "includes_any", ["vip"]), negate=True),
        group(prop("companies", "is_not_set"), prop("country", "is", "France")),
    ],
    ids=["tags-or-name", "not-tagged", "no-company"],
)
def test_preview_with_joins_counts_like_the_saved_segment(crowd, rules):
    # given
    segment = Segment.objects.create(name="S", content_type="customer", rules=rules)

    # when
    counts = preview_count(rules, content_type="customer")

    # then
    assert counts["count"] == count_segment(segment)
    assert counts["total"] == 3
