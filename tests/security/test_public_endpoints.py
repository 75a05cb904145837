"""Public ingest endpoints: a write key writes only to its own site, opens
nothing else, and throttles and size limits hold across endpoints.

Single-endpoint checks (missing, wrong, rotated key, body and batch size,
per-endpoint rates) are in tests/events/test_api.py.
"""

import datetime
import json

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from contacts.models import Customer
from events.models import Event, Site

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"
BLOG = "https://blog.example"
VISITOR_ID = "visitor-0000000001"


@pytest.fixture
def blog_site(db):
    return Site.objects.create(name="Blog", allowed_origins=[BLOG])


def post(endpoint: str, body: dict, *, key: str | None, origin: str | None = SHOP):
    headers = {}
    if key is not None:
        headers["X-Erxseg-Key"] = key
    if origin is not None:
        headers["Origin"] = origin
    return Client().post(
        f"/api/v1/{endpoint}",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def test_write_key_stores_events_under_its_own_site(shop_site, blog_site):
    # when the blog's key sends an event from the blog
    response = post(
        "track",
        {"visitor_id": VISITOR_ID, "name": "read_post"},
        key=blog_site.write_key,
        origin=BLOG,
    )

    # then
    assert response.status_code == 202
    assert list(Event.objects.values_list("site__name", "name")) == [
        ("Blog", "read_post")
    ]


def test_write_key_with_other_sites_origin_rejected(shop_site, blog_site):
    # when the blog's key is sent from the shop's origin
    response = post(
        "track",
        {"visitor_id": VISITOR_ID, "name": "read_post"},
        key=blog_site.write_key,
        origin=SHOP,
    )

    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert Event.objects.count() == 0


def test_header_key_wins_over_body_key(shop_site, blog_site):
    # given a body that names the shop's key while the header has the blog's
    body = {
        "visitor_id": VISITOR_ID,
        "name": "read_post",
        "write_key": shop_site.write_key,
    }

    # when
    response = post("track", body, key=blog_site.write_key, origin=BLOG)

    # then
    assert response.status_code == 202
    assert list(Event.objects.values_list("site__name", flat=True)) == ["Blog"]


def test_idempotency_keys_are_scoped_per_site(shop_site, blog_site):
    # given the shop stored an event with the idempotency key "k-1"
    first = post(
        "track",
        {"visitor_id": VISITOR_ID, "name": "viewed", "idempotency_key": "k-1"},
        key=shop_site.write_key,
    )

    # when the blog sends another event with the same key
    second = post(
        "track",
        {"visitor_id": VISITOR_ID, "name": "viewed", "idempotency_key": "k-1"},
        key=blog_site.write_key,
        origin=BLOG,
    )

    # then the blog's event is stored, not taken as the shop's duplicate
    assert first.json()["accepted"] == [{"index": 0, "duplicate": False}]
    assert second.json()["accepted"] == [{"index": 0, "duplicate": False}]
    assert sorted(Event.objects.values_list("site__name", flat=True)) == [
        "Blog",
        "Shop",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Erxseg-Key": "{key}"},
        {"Authorization": "Token {key}"},
        {"Authorization": "Bearer {key}"},
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/v1/events/", "/api/v1/customers/", "/api/v1/segments/"]
)
def test_write_key_opens_no_private_endpoint(shop_site, headers, path):
    # given a public write key, which every visitor of the site can read
    sent = {
        name: value.format(key=shop_site.write_key) for name, value in headers.items()
    }

    # when
    response = Client().get(path, headers=sent)

    # then
    assert response.status_code == 401


@override_settings(ERXSEG_INGEST_RATE_PER_CLIENT="2/minute")
def test_client_rate_is_shared_by_all_ingest_endpoints(shop_site):
    # given one track and one identify from the same client
    post("track", {"visitor_id": VISITOR_ID, "name": "a"}, key=shop_site.write_key)
    post(
        "identify",
        {"visitor_id": VISITOR_ID, "email": "ada@example.com"},
        key=shop_site.write_key,
    )

    # when
    response = post(
        "customer-properties",
        {"visitor_id": VISITOR_ID, "name": "first_name", "value": "Ada"},
        key=shop_site.write_key,
    )

    # then
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert Customer.objects.get().first_name == ""


@override_settings(ERXSEG_INGEST_RATE_PER_CLIENT="2/minute")
def test_client_rate_counts_requests_with_wrong_keys(shop_site):
    # given a client that guesses keys
    for guess in ("wk_guess1", "wk_guess2"):
        assert post("track", {"name": "a"}, key=guess).status_code == 401

    # when the client then sends a real key
    response = post(
        "track", {"visitor_id": VISITOR_ID, "name": "a"}, key=shop_site.write_key
    )

    # then guessing used up the client's budget
    assert response.status_code == 429
    assert Event.objects.count() == 0


@override_settings(ERXSEG_INGEST_RATE_PER_KEY="1/minute")
def test_site_rate_isolated_per_site(shop_site, blog_site):
    # given the shop used up its rate
    post("track", {"visitor_id": VISITOR_ID, "name": "a"}, key=shop_site.write_key)
    throttled = post(
        "track", {"visitor_id": VISITOR_ID, "name": "b"}, key=shop_site.write_key
    )

    # when
    response = post(
        "track",
        {"visitor_id": VISITOR_ID, "name": "c"},
        key=blog_site.write_key,
        origin=BLOG,
    )

    # then
    assert throttled.status_code == 429
    assert response.status_code == 202


def test_too_many_properties_returns_413_and_stores_nothing(shop_site):
    # given 51 properties, one more than a request may carry
    properties = [{"name": f"tracked_{index}", "value": index} for index in range(51)]

    # when
    response = post(
        "customer-properties",
        {"visitor_id": VISITOR_ID, "properties": properties},
        key=shop_site.write_key,
    )

    # then
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "properties has 51 items. Send at most 50 per request."
    )
    assert Customer.objects.count() == 0


@override_settings(ERXSEG_INGEST_MAX_BODY_BYTES=1024)
@pytest.mark.parametrize("endpoint", ["identify", "customer-properties"])
def test_body_limit_holds_on_every_endpoint(shop_site, endpoint):
    # given a body past the limit
    body = {"visitor_id": VISITOR_ID, "name": "first_name", "value": "x" * 2000}

    # when
    response = post(endpoint, body, key=shop_site.write_key)

    # then
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Customer.objects.count() == 0


def test_rotated_key_accepts_in_flight_retry(shop_site):
    # given a batch sent with the current key, whose response the widget lost
    body = {
        "visitor_id": VISITOR_ID,
        "events": [
            {"name": "viewed", "idempotency_key": "retry-1"},
            {"name": "clicked", "idempotency_key": "retry-2"},
        ],
    }
    old_key = shop_site.write_key
    post("track", body, key=old_key)

    # when the key is rotated and the widget retries with the key it has
    shop_site.rotate_write_key()
    response = post("track", body, key=old_key)

    # then the retry is accepted as duplicates and nothing is stored twice
    assert response.status_code == 202
    assert response.json()["accepted"] == [
        {"index": 0, "duplicate": True},
        {"index": 1, "duplicate": True},
    ]
    assert Event.objects.count() == 2


def test_rotated_key_rejected_after_grace_period(shop_site):
    # given a key rotated longer ago than its grace period
    old_key = shop_site.write_key
    shop_site.rotate_write_key(grace=datetime.timedelta(minutes=5))
    Site.objects.filter(pk=shop_site.pk).update(
        previous_key_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )

    # when
    response = post("track", {"visitor_id": VISITOR_ID, "name": "late"}, key=old_key)

    # then
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_write_key"
    assert Event.objects.count() == 0


def test_rotated_key_zero_grace_rejected_at_once(shop_site):
    # given a leaked key, rotated with no grace period
    old_key = shop_site.write_key
    shop_site.rotate_write_key(grace=datetime.timedelta(0))

    # when
    response = post("track", {"visitor_id": VISITOR_ID, "name": "x"}, key=old_key)

    # then
    assert response.status_code == 401
    shop_site.refresh_from_db()
    assert shop_site.previous_write_key == ""
    assert shop_site.previous_key_expires_at is None


@pytest.mark.parametrize("endpoint", ["track", "identify", "customer-properties"])
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_get_405_naming_post(shop_site, endpoint, method):
    # when a browser or a script calls an ingest endpoint with the wrong method
    response = getattr(Client(), method)(
        f"/api/v1/{endpoint}", headers={"X-Erxseg-Key": shop_site.write_key}
    )

    # then the response names the method, not the empty body
    assert response.status_code == 405
    assert response.json()["error"]["message"] == (
        f'Method "{method.upper()}" not allowed.'
    )
    assert response["Allow"] == "POST, OPTIONS"
