"""Random ingest payloads are accepted or rejected with a reason, never get a
server error, and nothing is stored for a rejection."""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Customer
from events.models import Event
from tests.security.strategies import IDENTIFY_BODIES, PROPERTY_BODIES, TRACK_BODIES

pytestmark = pytest.mark.django_db

# derandomize makes every run try the same examples, so CI stays
# reproducible.
FUZZ = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
ORIGIN = "https://shop.example"
REJECTION_STATUSES = {400, 413}


@pytest.fixture
def post(shop_site, settings):
    # The fuzzer sends more requests than one client may send per minute.
    settings.ERXSEG_INGEST_RATE_PER_CLIENT = "100000/minute"
    settings.ERXSEG_INGEST_RATE_PER_KEY = "100000/minute"
    client = Client()

    def send(endpoint: str, body: bytes):
        return client.post(
            f"/api/v1/{endpoint}",
            data=body,
            content_type="application/json",
            headers={"X-Erxseg-Key": shop_site.write_key, "Origin": ORIGIN},
        )

    return send


def assert_rejected_with_reason(response) -> None:
    body = response.json()
    assert response.status_code in REJECTION_STATUSES, body
    assert body["error"]["message"].endswith(".")
    for item in body.get("rejected", []):
        assert item["field"] is not None
        assert item["reason"]


@FUZZ
@given(body=TRACK_BODIES)
def test_fuzz_track_accepts_or_rejects_with_reason(post, body):
    # given
    events_before = Event.objects.count()
    contacts_before = Customer.objects.count()

    # when
    response = post("track", json.dumps(body).encode())

    # then
    if response.status_code != 202:
        assert_rejected_with_reason(response)
        assert Event.objects.count() == events_before
        assert Customer.objects.count() == contacts_before
        return
    result = response.json()
    stored = [item for item in result["accepted"] if not item["duplicate"]]
    assert Event.objects.count() == events_before + len(stored)
    for item in result["rejected"]:
        assert item["reason"]


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_track_raw_bytes_never_server_error(post, raw):
    # given
    events_before = Event.objects.count()

    # when
    response = post("track", raw)

    # then
    assert response.status_code in {202, 400, 413}, response.content[:300]
    if response.status_code != 202:
        assert_rejected_with_reason(response)
        assert Event.objects.count() == events_before


@FUZZ
@given(body=PROPERTY_BODIES)
def test_fuzz_customer_properties_accepts_or_rejects(post, body):
    # given
    contacts_before = Customer.objects.count()

    # when
    response = post("customer-properties", json.dumps(body).encode())

    # then
    if response.status_code != 202:
        assert_rejected_with_reason(response)
        assert Customer.objects.count() == contacts_before
        return
    assert response.json()["accepted"]


@FUZZ
@given(body=IDENTIFY_BODIES)
def test_fuzz_identify_accepts_or_rejects(post, body):
    # given
    contacts_before = Customer.objects.count()

    # when
    response = post("identify", json.dumps(body).encode())

    # then
    if response.status_code != 202:
        assert_rejected_with_reason(response)
        assert Customer.objects.count() == contacts_before
        return
    assert response.json() == {"accepted": True}
