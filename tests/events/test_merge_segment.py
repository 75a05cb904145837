"""The merge acceptance case, end to end through the public endpoints and a
segment preview."""

import pytest

from contacts.models import Customer, CustomerState
from events.models import CustomerEventStats, Event
from segments.services import preview_queryset

pytestmark = pytest.mark.django_db

VISITOR = "merge-visitor-01"
CUSTOMER_BROWSER = "customer-laptop1"


def test_merge_three_visitor_events_gives_four(ingest):
    # Given: the customer viewed pricing once from their own browser.
    customer = Customer.objects.create(
        state=CustomerState.CUSTOMER, primary_email="kim@example.com"
    )
    ingest("identify", {"visitor_id": CUSTOMER_BROWSER, "email": "kim@example.com"})
    ingest("track", {"visitor_id": CUSTOMER_BROWSER, "name": "pricing_viewed"})
    # ... and, not yet known, three times from a phone.
    ingest(
        "track",
        {"visitor_id": VISITOR, "events": [{"name": "pricing_viewed"}] * 3},
    )
    rules = {
        "type": "group",
        "conjunction": "and",
        "conditions": [
            {
                "type": "event",
                "event": "pricing_viewed",
                "occurrence": "at_least",
                "count": 4,
                "within": None,
                "attributes": [],
            }
        ],
    }
    assert not preview_queryset(rules, content_type="customer").exists()

    # When
    response = ingest("identify", {"visitor_id": VISITOR, "email": "KIM@example.com"})

    # Then
    assert response.status_code == 202
    assert Event.objects.filter(customer=customer, name="pricing_viewed").count() == 4
    assert CustomerEventStats.objects.get(customer=customer).count == 4
    assert list(preview_queryset(rules, content_type="customer")) == [customer]
    assert Customer.objects.count() == 1
