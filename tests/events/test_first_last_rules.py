"""First and last occurrence conditions through validation and a saved
segment, not only through the events compiler."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts.factories import CustomerFactory
from events.models import CustomerEventStats, Event
from segments.models import Segment
from segments.rules import validate_rules
from segments.services import count_segment, members_queryset

pytestmark = pytest.mark.django_db


def first_time_rules(first_occurred: dict) -> dict:
    return {
        "type": "group",
        "conjunction": "and",
        "conditions": [
            {
                "type": "event",
                "event": "signed_up",
                "occurrence": "at_least",
                "count": 1,
                "within": None,
                "attributes": [],
                "first_occurred": first_occurred,
            }
        ],
    }


def sign_up(site, customer, moment):
    Event.objects.create(
        site=site, customer=customer, name="signed_up", occurred_at=moment
    )
    CustomerEventStats.objects.create(
        customer=customer,
        name="signed_up",
        count=1,
        first_occurred_at=moment,
        last_occurred_at=moment,
    )


def test_saved_segment_first_occurred_selects_old_sign_ups(site):
    now = timezone.now()
    veteran = CustomerFactory()
    newcomer = CustomerFactory()
    CustomerFactory()  # never signed up
    sign_up(site, veteran, now - datetime.timedelta(days=90))
    sign_up(site, newcomer, now - datetime.timedelta(days=2))
    rules = first_time_rules(
        {"operator": "more_than_ago", "value": {"amount": 30, "unit": "days"}}
    )

    segment = Segment.objects.create(
        name="Signed up over a month ago",
        rules=validate_rules(rules, content_type="customer"),
    )

    assert count_segment(segment) == 1
    assert list(members_queryset(segment)) == [veteran]


def test_first_occurred_with_text_operator_rejected_by_path():
    rules = first_time_rules({"operator": "contains", "value": "2024"})

    with pytest.raises(ValidationError) as caught:
        validate_rules(rules, content_type="customer")

    assert caught.value.message_dict == {
        "conditions[0].first_occurred.operator": [
            "The operator 'contains' is not a date operator."
        ]
    }
