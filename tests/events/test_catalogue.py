import datetime

import pytest

from contacts.models import Customer
from events.catalogue import event_catalogue
from events.identity import rebuild_event_stats
from events.models import Event, Site

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def catalogue_events(db):
    site = Site.objects.create(name="Shop")
    ann, bob = Customer.objects.create(), Customer.objects.create()
    rows = [
        (ann, "pricing_viewed", {"plan": "pro", "seats": 3}),
        (ann, "pricing_viewed", {"plan": "basic", "seats": "12", "on": "2026-03-01"}),
        (bob, "pricing_viewed", {"plan": "pro", "seats": "many", "tags": ["a"]}),
        (bob, "signed_up", {"trial": True, "nested": {"a": 1}, "bad key!": 1}),
    ]
    for index, (contact, name, attributes) in enumerate(rows):
        Event.objects.create(
            site=site,
            customer=contact,
            name=name,
            attributes=attributes,
            occurred_at=NOW - datetime.timedelta(hours=index),
        )
    rebuild_event_stats(ann)
    rebuild_event_stats(bob)


def test_event_catalogue_lists_names_counts_and_types(catalogue_events):
    assert event_catalogue() == [
        {
            "name": "pricing_viewed",
            "count": 3,
            "contacts": 2,
            "attributes": [
                {"key": "plan", "types": ["text"]},
                {"key": "seats", "types": ["number", "text"]},
                {"key": "on", "types": ["date"]},
                {"key": "tags", "types": ["multiple_choice"]},
            ],
        },
        {
            "name": "signed_up",
            "count": 1,
            "contacts": 1,
            "attributes": [{"key": "trial", "types": ["boolean"]}],
        },
    ]


def test_event_catalogue_bounds_names_and_queries(
    catalogue_events, django_assert_num_queries
):
    with django_assert_num_queries(2):
        result = event_catalogue(max_names=1)

    assert [entry["name"] for entry in result] == ["pricing_viewed"]
