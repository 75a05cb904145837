"""HTML in user-supplied text is shown escaped in the admin and returned as
plain JSON strings by the API."""

import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from contacts.factories import (
    CompanyFactory,
    CustomerFactory,
    FieldDefinitionFactory,
    TagFactory,
)
from events.models import CustomerEventStats, Event, Site
from segments.models import Segment
from tests.security.conftest import user_for_role

pytestmark = pytest.mark.django_db

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x"
# The same payload inside a JSON text area: the quotes are JSON-escaped too.
ESCAPED_IN_JSON = "&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;&lt;img"
RAW_MARKERS = ["<script>alert", "<img src=x"]


@pytest.fixture
def hostile_data(db):
    """One row of every model, with the payload in every text a user sets."""
    FieldDefinitionFactory(key="plan", label=PAYLOAD)
    tag = TagFactory(name=PAYLOAD)
    company = CompanyFactory(name=PAYLOAD, industry=PAYLOAD)
    customer = CustomerFactory(
        first_name=PAYLOAD,
        last_name=PAYLOAD,
        primary_email=f"{PAYLOAD}@example.com",
        city=PAYLOAD,
        tracked_data={PAYLOAD: PAYLOAD},
        custom_fields={"plan": PAYLOAD},
        tags=[tag],
        companies=[company],
    )
    rules = {
        "type": "group",
        "conjunction": "and",
        "negate": False,
        "conditions": [
            {
                "type": "property",
                "property": "first_name",
                "operator": "contains",
                "value": PAYLOAD,
            }
        ],
    }
    segment = Segment.objects.create(name=PAYLOAD, description=PAYLOAD, rules=rules)
    site = Site.objects.create(name=PAYLOAD, allowed_origins=["https://shop.example"])
    moment = timezone.now() - datetime.timedelta(hours=1)
    event = Event.objects.create(
        site=site,
        customer=customer,
        name=PAYLOAD,
        attributes={PAYLOAD: PAYLOAD},
        page_url=PAYLOAD,
        visitor_id=PAYLOAD[:64],
        occurred_at=moment,
    )
    stats = CustomerEventStats.objects.create(
        customer=customer,
        name=PAYLOAD,
        count=1,
        first_occurred_at=moment,
        last_occurred_at=moment,
    )
    return {
        "customer": customer,
        "company": company,
        "segment": segment,
        "site": site,
        "event": event,
        "stats": stats,
        "tag": tag,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/admin/contacts/customer/",
        "/admin/contacts/customer/{customer}/change/",
        "/admin/contacts/customer/{customer}/delete/",
        "/admin/contacts/company/",
        "/admin/contacts/company/{company}/change/",
        "/admin/contacts/tag/",
        "/admin/contacts/fielddefinition/",
        "/admin/segments/segment/",
        "/admin/segments/segment/{segment}/change/",
        "/admin/segments/segment/{segment}/delete/",
        "/admin/events/site/",
        "/admin/events/site/{site}/change/",
        "/admin/events/event/",
        "/admin/events/event/{event}/change/",
        "/admin/events/customereventstats/",
        "/admin/events/customereventstats/{stats}/change/",
    ],
)
def test_admin_page_user_text_shown_escaped(hostile_data, path):
    # given
    client = Client()
    client.force_login(user_for_role("superuser"))

    # when
    response = client.get(
        path.format(**{name: row.pk for name, row in hostile_data.items()})
    )

    # then
    html = response.content.decode()
    assert response.status_code == 200
    for marker in RAW_MARKERS:
        assert marker not in html
    assert ESCAPED in html or ESCAPED_IN_JSON in html


def test_admin_change_page_json_fields_escaped(hostile_data):
    # given
    client = Client()
    client.force_login(user_for_role("superuser"))

    # when
    customer_page = client.get(
        f"/admin/contacts/customer/{hostile_data['customer'].pk}/change/"
    ).content.decode()
    segment_page = client.get(
        f"/admin/segments/segment/{hostile_data['segment'].pk}/change/"
    ).content.decode()
    event_page = client.get(
        f"/admin/events/event/{hostile_data['event'].pk}/change/"
    ).content.decode()

    # then tracked data, custom fields, rule values and event attributes
    assert ESCAPED_IN_JSON in customer_page
    assert ESCAPED_IN_JSON in segment_page
    assert ESCAPED_IN_JSON in event_page


@pytest.mark.parametrize(
    "path,field",
    [
        ("/api/v1/customers/{customer}/", ["first_name"]),
        ("/api/v1/customers/{customer}/", ["custom_fields", "plan"]),
        ("/api/v1/customers/{customer}/", ["tracked_data", PAYLOAD]),
        ("/api/v1/companies/{company}/", ["name"]),
        ("/api/v1/segments/{segment}/", ["name"]),
        ("/api/v1/segments/{segment}/", ["rules", "conditions", 0, "value"]),
        ("/api/v1/events/{event}/", ["name"]),
        ("/api/v1/events/{event}/", ["attributes", PAYLOAD]),
    ],
)
def test_api_user_text_returned_as_json_strings(hostile_data, path, field):
    # given
    client = APIClient()
    token = Token.objects.create(user=user_for_role("superuser"))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    # when
    response = client.get(
        path.format(**{name: row.pk for name, row in hostile_data.items()})
    )

    # then the body is JSON, and the payload comes back unchanged inside it
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    value = json.loads(response.content)
    for key in field:
        value = value[key]
    assert value == PAYLOAD


def test_api_members_csv_is_an_attachment(hostile_data):
    # given a CSV export, which a browser must download rather than render
    client = APIClient()
    token = Token.objects.create(user=user_for_role("superuser"))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    segment = hostile_data["segment"]

    # when
    response = client.get(f"/api/v1/segments/{segment.pk}/members/?format=csv")

    # then
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="segment-{segment.pk}-members.csv"'
    )
