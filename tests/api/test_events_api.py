import datetime

import pytest
from django.utils import timezone

from contacts.factories import CustomerFactory, UserFactory
from events.models import Event, Site
from tests.api.conftest import client_for, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return Site.objects.create(name="Shop", allowed_origins=["https://shop.example"])


@pytest.fixture
def events_of_two_customers(site):
    ada = CustomerFactory(first_name="Ada")
    bob = CustomerFactory(first_name="Bob")
    start = timezone.now() - datetime.timedelta(days=10)
    rows = [
        (ada, "pricing_viewed", 0),
        (ada, "pricing_viewed", 1),
        (ada, "signed_up", 2),
        (bob, "pricing_viewed", 3),
    ]
    for customer, name, day in rows:
        Event.objects.create(
            site=site,
            customer=customer,
            name=name,
            occurred_at=start + datetime.timedelta(days=day),
        )
    return ada, bob, start


@pytest.fixture
def event_viewer_client(db):
    return client_for(grant(UserFactory(username="event-viewer"), "events.view_event"))


def test_events_list_filters_by_customer_name_and_time(
    event_viewer_client, events_of_two_customers
):
    ada, _bob, start = events_of_two_customers

    by_customer = event_viewer_client.get("/api/v1/events/", {"customer": ada.pk})
    by_name = event_viewer_client.get("/api/v1/events/", {"name": "pricing_viewed"})
    by_time = event_viewer_client.get(
        "/api/v1/events/",
        {"occurred_after": (start + datetime.timedelta(days=1)).isoformat()},
    )

    assert len(by_customer.json()["results"]) == 3
    assert len(by_name.json()["results"]) == 3
    assert len(by_time.json()["results"]) == 3
    newest_first = [row["occurred_at"] for row in by_customer.json()["results"]]
    assert newest_first == sorted(newest_first, reverse=True)


def test_events_list_without_event_view_permission_gets_403(
    viewer_client, events_of_two_customers
):
    response = viewer_client.get("/api/v1/events/")

    assert response.status_code == 403


def test_events_are_read_only_even_for_superusers(admin_user, events_of_two_customers):
    response = client_for(admin_user).post("/api/v1/events/", {"name": "forged"})

    assert response.status_code == 405
    assert Event.objects.filter(name="forged").count() == 0


def test_events_list_rejects_site_write_key(site, events_of_two_customers):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_ERXSEG_KEY=site.write_key)

    response = client.get("/api/v1/events/")

    assert response.status_code == 401


def test_track_endpoint_ignores_api_token(manager_client, site):
    response = manager_client.post(
        "/api/v1/track", {"name": "pricing_viewed", "visitor_id": "v-1"}
    )

    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_events_list_bad_filters_reported_per_field(event_viewer_client):
    response = event_viewer_client.get(
        "/api/v1/events/", {"occurred_after": "yesterday", "customer": "abc"}
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["occurred_after"] == ["Enter a valid date/time."]
    assert fields["customer"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
