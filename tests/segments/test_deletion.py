import pytest

from contacts.factories import CustomerFactory
from segments.deletion import SegmentInUseError, delete_segment, delete_segments
from segments.models import Segment, SegmentMembership, SegmentSizeSnapshot
from segments.recount import recount_segment
from tests.segments.fixtures.builders import (
    country_is,
    make_segment,
    property_is,
    rules_of,
    segment_ref,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def germany():
    return make_segment("Customers in Germany", country_is("Germany"))


def test_delete_segment_unused_removes_history(germany):
    CustomerFactory(country="Germany")
    recount_segment(germany)

    delete_segment(germany)

    assert not Segment.objects.filter(pk=germany.pk).exists()
    assert SegmentMembership.objects.count() == 0
    assert SegmentSizeSnapshot.objects.count() == 0


def test_delete_segment_parent_rejected_names_child(germany):
    make_segment("Berliners", property_is("city", "Berlin"), parent=germany)

    with pytest.raises(SegmentInUseError) as raised:
        delete_segment(germany)

    assert raised.value.messages == [
        'The segment "Customers in Germany" cannot be deleted because '
        '"Berliners" (sub-segment) use it. Remove it from their parent and '
        "rules first."
    ]
    assert Segment.objects.filter(pk=germany.pk).exists()


def test_delete_segment_nested_reference_rejected_names_all_users(germany):
    CustomerFactory(country="Germany")
    recount_segment(germany)
    make_segment(
        "Germany or France",
        rules_of(segment_ref(germany), country_is("France"), conjunction="or"),
    )
    make_segment("Berliners", property_is("city", "Berlin"), parent=germany)

    with pytest.raises(SegmentInUseError) as raised:
        delete_segment(germany)

    assert raised.value.messages == [
        'The segment "Customers in Germany" cannot be deleted because '
        '"Berliners" (sub-segment), "Germany or France" (rule reference) use '
        "it. Remove it from their parent and rules first."
    ]
    assert Segment.objects.count() == 3
    assert SegmentMembership.objects.filter(segment=germany).count() == 1
    assert SegmentSizeSnapshot.objects.filter(segment=germany).count() == 1


def test_delete_segment_reference_in_contacts_condition_rejected(germany):
    company_rules = {
        "type": "contacts",
        "occurrence": "at_least",
        "count": 1,
        "where": rules_of(segment_ref(germany)),
    }
    make_segment("Companies with Germans", company_rules, content_type="company")

    with pytest.raises(SegmentInUseError):
        delete_segment(germany)

    assert Segment.objects.filter(pk=germany.pk).exists()


def test_delete_segments_together_with_their_users(germany):
    child = make_segment("Berliners", property_is("city", "Berlin"), parent=germany)
    referrer = make_segment("Referrer", segment_ref(germany))

    deleted = delete_segments([germany, child, referrer])

    assert deleted == 3
    assert Segment.objects.count() == 0


def test_delete_segments_one_used_deletes_none(germany):
    other = make_segment("Customers in France", country_is("France"))
    make_segment("Referrer", segment_ref(germany))

    with pytest.raises(SegmentInUseError):
        delete_segments([other, germany])

    assert set(Segment.objects.values_list("name", flat=True)) == {
        "Customers in Germany",
        "Customers in France",
        "Referrer",
    }


def test_segment_referencing_finds_parent_and_rule_users(germany):
    child = make_segment("Berliners", parent=germany)
    referrer = make_segment("Referrer", segment_ref(germany))
    make_segment("Unrelated", country_is("France"))

    users = Segment.objects.referencing(germany)

    assert set(users) == {child, referrer}
