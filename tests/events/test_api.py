import datetime
import json

import pytest
from django.test import Client, override_settings

from contacts.models import Customer, CustomerState
from events.models import CustomerEventStats, Event, Site
from tests.events.conftest import ORIGIN, VISITOR_ID

pytestmark = pytest.mark.django_db


def event(name="pricing_viewed", **fields):
    return {"name": name, **fields}


def test_track_single_event_stores_event_and_rollup(ingest):
    # When
    response = ingest(
        "track",
        {"visitor_id": VISITOR_ID, **event(attributes={"plan": "pro"})},
    )

    # Then
    assert response.status_code == 202
    assert response.json() == {
        "accepted": [{"index": 0, "duplicate": False}],
        "rejected": [],
    }
    stored = Event.objects.get()
    assert stored.name == "pricing_viewed"
    assert stored.attributes == {"plan": "pro"}
    assert stored.customer.state == CustomerState.VISITOR
    assert stored.customer.visitor_id == VISITOR_ID
    stats = CustomerEventStats.objects.get()
    assert stats.count == 1
    assert stats.first_occurred_at == stored.occurred_at


def test_track_batch_with_bad_event_accepts_the_rest(ingest):
    # When
    response = ingest(
        "track",
        {
            "visitor_id": VISITOR_ID,
            "events": [event(), event(name=""), event("signed_up")],
        },
    )

    # Then
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == [
        {"index": 0, "duplicate": False},
        {"index": 2, "duplicate": False},
    ]
    assert body["rejected"] == [
        {
            "index": 1,
            "field": "events[1].name",
            "reason": "events[1].name is missing. Give the event a name.",
        }
    ]
    assert sorted(Event.objects.values_list("name", flat=True)) == [
        "pricing_viewed",
        "signed_up",
    ]


def test_track_repeated_idempotency_key_stores_once(ingest):
    # Given
    body = {"visitor_id": VISITOR_ID, "events": [event(idempotency_key="k-1")]}
    ingest("track", body)

    # When
    response = ingest("track", body)

    # Then
    assert response.status_code == 202
    assert response.json()["accepted"] == [{"index": 0, "duplicate": True}]
    assert Event.objects.count() == 1
    assert CustomerEventStats.objects.get().count == 1


def test_track_key_repeated_in_batch_stores_once(ingest):
    # When
    response = ingest(
        "track",
        {
            "visitor_id": VISITOR_ID,
            "events": [event(idempotency_key="k-1"), event(idempotency_key="k-1")],
        },
    )

    # Then
    assert response.json()["accepted"] == [
        {"index": 0, "duplicate": False},
        {"index": 1, "duplicate": True},
    ]
    assert Event.objects.count() == 1
    assert CustomerEventStats.objects.get().count == 1


def test_track_key_taken_after_lookup_stores_the_rest(ingest, site, monkeypatch):
    # Given a concurrent request that stores key k-2 between this request's
    # lookup of stored keys and its bulk insert
    other = Customer.objects.create(state=CustomerState.VISITOR, visitor_id="v-other")
    lookup = Event.objects.filter

    def filter_then_race(*args, **kwargs):
        rows = lookup(*args, **kwargs)
        if "idempotency_key__in" in kwargs:
            found = list(rows.values_list("idempotency_key", flat=True))
            Event.objects.create(
                site=site,
                customer=other,
                name="pricing_viewed",
                occurred_at=datetime.datetime.now(datetime.UTC),
                idempotency_key="k-2",
            )
            return lookup(idempotency_key__in=found)
        return rows

    monkeypatch.setattr(Event.objects, "filter", filter_then_race)
    body = {
        "visitor_id": VISITOR_ID,
        "events": [event(idempotency_key=key) for key in ("k-1", "k-2", "k-3")],
    }

    # When
    response = ingest("track", body)

    # Then the bulk insert fails as a whole and the events go one by one
    assert response.status_code == 202
    assert response.json()["accepted"] == [
        {"index": 0, "duplicate": False},
        {"index": 1, "duplicate": True},
        {"index": 2, "duplicate": False},
    ]
    mine = Event.objects.exclude(customer=other)
    assert sorted(mine.values_list("idempotency_key", flat=True)) == ["k-1", "k-3"]
    assert CustomerEventStats.objects.get(customer__visitor_id=VISITOR_ID).count == 2


def test_track_write_key_in_body_accepted(ingest, site):
    # When: sendBeacon posts text/plain and cannot set headers.
    response = Client().post(
        "/api/v1/track",
        data=json.dumps(
            {"write_key": site.write_key, "visitor_id": VISITOR_ID, **event()}
        ),
        content_type="text/plain;charset=UTF-8",
        headers={"Origin": ORIGIN},
    )

    # Then
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert Event.objects.count() == 1


def test_track_client_time_within_skew_is_kept(ingest):
    # Given
    from django.utils import timezone

    moment = (timezone.now() - timezone.timedelta(hours=2)).replace(microsecond=0)

    # When
    response = ingest(
        "track",
        {"visitor_id": VISITOR_ID, **event(occurred_at=moment.isoformat())},
    )

    # Then
    assert response.status_code == 202
    stored = Event.objects.get()
    assert stored.occurred_at == moment
    assert stored.received_at > moment


def test_track_later_event_extends_rollup(ingest):
    # Given
    from django.utils import timezone

    early = (timezone.now() - timezone.timedelta(hours=3)).replace(microsecond=0)
    late = (timezone.now() - timezone.timedelta(hours=1)).replace(microsecond=0)
    ingest("track", {"visitor_id": VISITOR_ID, **event(occurred_at=late.isoformat())})

    # When
    ingest("track", {"visitor_id": VISITOR_ID, **event(occurred_at=early.isoformat())})

    # Then
    stats = CustomerEventStats.objects.get()
    assert stats.count == 2
    assert stats.first_occurred_at == early
    assert stats.last_occurred_at == late


# Each class of bad request: a 4xx, a reason, and nothing stored.
BAD_EVENTS = [
    ({"name": 12}, "name", "name is missing. Give the event a name."),
    ({"name": "x" * 201}, "name", "name is 201 characters long. Use at most 200."),
    ({"name": "a\x00b"}, "name", "name contains control characters. Remove them."),
    (
        {"name": "ok", "attributes": [1]},
        "attributes",
        "attributes must be an object of names and values.",
    ),
    (
        {"name": "ok", "attributes": {f"k{i}": i for i in range(51)}},
        "attributes",
        "attributes has 51 attributes. Send at most 50.",
    ),
    (
        {"name": "ok", "attributes": {"a": {"b": {"c": {"d": 1}}}}},
        "attributes.a",
        "attributes.a nests objects or lists more than 3 levels deep. Flatten it.",
    ),
    (
        {"name": "ok", "attributes": {"a": "x" * 2100}},
        "attributes.a",
        "attributes.a is 2102 bytes as JSON. Keep each value under 2048.",
    ),
    (
        {"name": "ok", "occurred_at": "yesterday"},
        "occurred_at",
        "occurred_at must be an ISO 8601 time with a time zone, for example "
        "2026-03-01T12:00:00Z, or milliseconds since 1970.",
    ),
    (
        {"name": "ok", "occurred_at": "2999-01-01T00:00:00Z"},
        "occurred_at",
        "occurred_at lies more than 300 seconds ahead of the server's clock. "
        "Check the client's clock or leave the time out.",
    ),
    (
        {"name": "ok", "occurred_at": "2000-01-01T00:00:00Z"},
        "occurred_at",
        "occurred_at lies more than 604800 seconds in the past. Send events "
        "sooner or leave the time out.",
    ),
    (
        {"name": "ok", "idempotency_key": "has space"},
        "idempotency_key",
        "idempotency_key must be 1 to 64 letters, digits or the characters _ . : -",
    ),
]


@pytest.mark.parametrize(("body", "field", "reason"), BAD_EVENTS)
def test_track_bad_event_is_rejected_with_reason(ingest, body, field, reason):
    # When
    response = ingest("track", {"visitor_id": VISITOR_ID, **body})

    # Then
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"]["code"] == "invalid"
    assert payload["error"]["fields"] == {field: [reason]}
    assert payload["rejected"] == [{"index": 0, "field": field, "reason": reason}]
    assert Event.objects.count() == 0
    assert CustomerEventStats.objects.count() == 0
    assert Customer.objects.count() == 0


def test_track_without_key_returns_401(ingest):
    response = ingest("track", {"visitor_id": VISITOR_ID, **event()}, key=None)

    assert response.status_code == 401
    assert response.json()["error"] == {
        "status": 401,
        "code": "missing_write_key",
        "message": "The write key is missing. Send it in the X-Erxseg-Key header "
        "or as write_key in the body.",
    }
    assert response["WWW-Authenticate"] == 'X-Erxseg-Key realm="ingest"'
    assert Event.objects.count() == 0


def test_track_wrong_key_returns_401(ingest):
    response = ingest("track", {"visitor_id": VISITOR_ID, **event()}, key="wk_nope")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_write_key"
    assert Event.objects.count() == 0


def test_track_rotated_key_returns_401(ingest, site):
    # Given: a rotation with no grace period, as for a leaked key.
    old_key = site.write_key
    site.rotate_write_key(grace=datetime.timedelta(0))

    # When
    response = ingest("track", {"visitor_id": VISITOR_ID, **event()}, key=old_key)

    # Then
    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_track_disabled_site_returns_403(ingest, site):
    # Given
    Site.objects.filter(pk=site.pk).update(is_enabled=False)

    # When
    response = ingest("track", {"visitor_id": VISITOR_ID, **event()})

    # Then
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "The site Shop is disabled. Enable it in the admin."
    )
    assert Event.objects.count() == 0


def test_track_wrong_origin_returns_403_without_cors(ingest):
    response = ingest(
        "track", {"visitor_id": VISITOR_ID, **event()}, origin="https://evil.example"
    )

    assert response.status_code == 403
    assert response.json()["error"] == {
        "status": 403,
        "code": "origin_not_allowed",
        "message": "The origin https://evil.example may not send events for the "
        "site Shop. Add it to the site's allowed origins.",
    }
    assert "Access-Control-Allow-Origin" not in response
    assert Event.objects.count() == 0


def test_track_oversized_body_returns_413(ingest):
    # Given: 300 KB of padding inside otherwise valid JSON.
    body = {"visitor_id": VISITOR_ID, **event(), "padding": "x" * 300_000}

    # When
    response = ingest("track", body)

    # Then
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "{not json",
            "The body is not valid JSON: Expecting property name enclosed "
            "in double quotes at line 1, column 2.",
        ),
        ('{"name": NaN}', "The body is not valid JSON: NaN is not valid JSON."),
        ("[1, 2]", "The body must be a JSON object."),
        ("", "The body is empty. Send a JSON object."),
    ],
)
def test_track_malformed_json_returns_400(ingest, raw, message):
    response = ingest("track", None, raw=raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert response.json()["error"]["message"] == message
    assert Event.objects.count() == 0


def test_track_too_many_events_returns_413(ingest):
    response = ingest("track", {"visitor_id": VISITOR_ID, "events": [event()] * 101})

    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "events has 101 items. Send at most 100 per request."
    )
    assert Event.objects.count() == 0


def test_track_bad_visitor_id_returns_400(ingest):
    response = ingest("track", {"visitor_id": "short", **event()})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "visitor_id": [
            "visitor_id must be 8 to 64 letters, digits, hyphens or underscores, "
            "as the widget generates it."
        ]
    }
    assert Customer.objects.count() == 0


def test_track_batch_of_100_is_accepted(ingest):
    response = ingest(
        "track",
        {
            "visitor_id": VISITOR_ID,
            "events": [event(idempotency_key=f"k{i}") for i in range(100)],
        },
    )

    assert response.status_code == 202
    assert len(response.json()["accepted"]) == 100
    assert CustomerEventStats.objects.get().count == 100


def test_preflight_for_allowed_origin_answers_cors(site):
    # When
    response = Client().options(
        "/api/v1/track",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-erxseg-key",
        },
    )

    # Then
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert response["Access-Control-Allow-Headers"] == "Content-Type, X-Erxseg-Key"
    assert "Origin" in response["Vary"]


def test_preflight_for_unknown_origin_has_no_cors(site):
    response = Client().options(
        "/api/v1/track", headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response


@override_settings(ERXSEG_INGEST_RATE_PER_CLIENT="2/minute")
def test_track_over_client_rate_returns_429(ingest):
    # Given
    body = {"visitor_id": VISITOR_ID, **event()}
    ingest("track", body)
    ingest("track", body)

    # When
    response = ingest("track", body)

    # Then
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert Event.objects.count() == 2


@override_settings(ERXSEG_INGEST_RATE_PER_KEY="1/minute")
def test_track_over_site_rate_returns_429(ingest):
    # Given
    ingest("track", {"visitor_id": VISITOR_ID, **event()})

    # When
    response = ingest("track", {"visitor_id": VISITOR_ID, **event()})

    # Then
    assert response.status_code == 429
    assert Event.objects.count() == 1


def test_track_sent_at_moves_event_onto_server_clock(ingest):
    # Given: a device whose clock runs two hours fast.
    from django.utils import timezone

    fast = timezone.now() + datetime.timedelta(hours=2)
    occurred = fast - datetime.timedelta(minutes=10)

    # When
    response = ingest(
        "track",
        {
            "visitor_id": VISITOR_ID,
            "sent_at": fast.isoformat(),
            **event(occurred_at=occurred.isoformat()),
        },
    )

    # Then: stored ten minutes before the server received it.
    assert response.status_code == 202
    stored = Event.objects.get()
    lag = stored.received_at - stored.occurred_at
    assert datetime.timedelta(minutes=9) < lag < datetime.timedelta(minutes=11)


def test_track_bad_sent_at_returns_400(ingest):
    response = ingest("track", {"visitor_id": VISITOR_ID, "sent_at": "x", **event()})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["sent_at"]
    assert Event.objects.count() == 0
