"""Concurrent identify and track calls, run with threads on PostgreSQL.

SQLite takes one writer at a time for the whole file, and the in-memory test
database shares one cache between threads, which fails with "database table
is locked" instead of waiting, so these tests need PostgreSQL.
"""

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from contacts.models import Customer
from events.models import CustomerEventStats, Event, Site
from tests.events.conftest import ORIGIN

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Concurrent writers need PostgreSQL; SQLite serialises them.",
    ),
]

THREADS = 8


def run_in_threads(work, count=THREADS):
    """Start `count` threads at one barrier and return their errors."""
    barrier = threading.Barrier(count)
    errors = []

    def target(index):
        try:
            barrier.wait()
            work(index)
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def post(site, endpoint, body):
    return Client().post(
        f"/api/v1/{endpoint}",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-Erxseg-Key": site.write_key, "Origin": ORIGIN},
    )


@pytest.fixture
def busy_site():
    return Site.objects.create(name="Busy", allowed_origins=[ORIGIN])


def test_parallel_identify_same_email_creates_one_customer(busy_site, settings):
    # Given: eight browsers, each with a visitor and one event.
    settings.ERXSEG_INGEST_RATE_PER_CLIENT = "10000/minute"
    for index in range(THREADS):
        post(busy_site, "track", {"visitor_id": f"browser-{index:04d}", "name": "seen"})

    # When: all identify with the same new email at once.
    def identify(index):
        response = post(
            busy_site,
            "identify",
            {"visitor_id": f"browser-{index:04d}", "email": "same@example.com"},
        )
        assert response.status_code == 202, response.content

    errors = run_in_threads(identify)

    # Then
    assert errors == []
    assert (
        Customer.objects.filter(primary_email__iexact="same@example.com").count() == 1
    )
    assert Customer.objects.count() == 1
    customer = Customer.objects.get()
    assert Event.objects.filter(customer=customer).count() == THREADS
    assert CustomerEventStats.objects.get(customer=customer).count == THREADS


def test_parallel_tracks_for_one_customer_keep_exact_rollups(busy_site, settings):
    # Given
    settings.ERXSEG_INGEST_RATE_PER_CLIENT = "10000/minute"
    per_thread = 5

    # When: every thread sends five batches of three events for one browser.
    def track(index):
        for _batch in range(per_thread):
            response = post(
                busy_site,
                "track",
                {
                    "visitor_id": "one-browser-01",
                    "events": [{"name": "pricing_viewed"}, {"name": "clicked"}] * 3,
                },
            )
            assert response.status_code == 202, response.content

    errors = run_in_threads(track)

    # Then
    assert errors == []
    customer = Customer.objects.get()
    expected = THREADS * per_thread * 3
    assert (
        Event.objects.filter(customer=customer, name="pricing_viewed").count()
        == expected
    )
    stats = dict(
        CustomerEventStats.objects.filter(customer=customer).values_list(
            "name", "count"
        )
    )
    assert stats == {"pricing_viewed": expected, "clicked": expected}


def test_parallel_tracks_and_identify_lose_no_event(busy_site, settings):
    # Given: a known customer and a browser that keeps sending events.
    settings.ERXSEG_INGEST_RATE_PER_CLIENT = "10000/minute"
    known = Customer.objects.create(primary_email="known@example.com")

    # When: one thread identifies while the others track.
    def work(index):
        if index == 0:
            response = post(
                busy_site,
                "identify",
                {"visitor_id": "racing-browser", "email": "known@example.com"},
            )
        else:
            response = post(
                busy_site,
                "track",
                {"visitor_id": "racing-browser", "events": [{"name": "seen"}] * 4},
            )
        assert response.status_code == 202, response.content

    errors = run_in_threads(work)

    # Then: every event reaches the known customer, whatever the order.
    assert errors == []
    assert Customer.objects.count() == 1
    expected = (THREADS - 1) * 4
    assert Event.objects.filter(customer=known).count() == expected
    assert CustomerEventStats.objects.get(customer=known).count == expected
