import datetime

import pytest
from django.utils import timezone

from contacts.models import Customer, CustomerState, Tag
from events.identity import identify, merge_visitor
from events.models import CustomerEventStats, Event, VisitorAlias, VisitorMerge
from tests.events.conftest import VISITOR_ID

pytestmark = pytest.mark.django_db


def track(ingest, name, *, visitor_id=VISITOR_ID, count=1, **fields):
    response = ingest(
        "track",
        {"visitor_id": visitor_id, "events": [{"name": name, **fields}] * count},
    )
    assert response.status_code == 202, response.json()
    return response


def stats_of(customer):
    return dict(
        CustomerEventStats.objects.filter(customer=customer).values_list(
            "name", "count"
        )
    )


@pytest.fixture
def known_customer(db):
    return Customer.objects.create(
        state=CustomerState.CUSTOMER,
        first_name="Ada",
        primary_email="Ada@Example.com",
        primary_phone="+44 20 7946 0000",
        code="CRM-1",
        tracked_data={"plan": "free", "theme": "dark"},
    )


def test_identify_known_email_merges_visitor_events(ingest, known_customer, site):
    # Given: the customer did pricing_viewed once on another browser, and an
    # anonymous visitor did it three times.
    track(ingest, "pricing_viewed", visitor_id="other-browser-01")
    merge_visitor(
        visitor=Customer.objects.get(visitor_id="other-browser-01"),
        customer=known_customer,
    )
    track(ingest, "pricing_viewed", count=3)
    visitor = Customer.objects.get(visitor_id=VISITOR_ID)

    # When
    response = ingest(
        "identify", {"visitor_id": VISITOR_ID, "email": "ada@example.COM"}
    )

    # Then
    assert response.status_code == 202
    assert response.json() == {"accepted": True}
    assert not Customer.objects.filter(pk=visitor.pk).exists()
    assert Event.objects.filter(customer=known_customer).count() == 4
    assert stats_of(known_customer) == {"pricing_viewed": 4}
    assert Customer.objects.count() == 1


def test_identify_after_merge_late_event_reaches_customer(ingest, known_customer):
    # Given
    track(ingest, "pricing_viewed")
    ingest("identify", {"visitor_id": VISITOR_ID, "email": "ada@example.com"})

    # When: a request queued before identify arrives afterwards.
    track(ingest, "checkout_started")

    # Then
    assert stats_of(known_customer) == {"pricing_viewed": 1, "checkout_started": 1}
    assert VisitorAlias.objects.get(visitor_id=VISITOR_ID).customer == known_customer
    assert Customer.objects.count() == 1


def test_identify_unknown_email_turns_visitor_into_lead(ingest):
    # Given
    track(ingest, "pricing_viewed")
    visitor = Customer.objects.get(visitor_id=VISITOR_ID)

    # When
    ingest("identify", {"visitor_id": VISITOR_ID, "email": "new@example.com"})

    # Then
    visitor.refresh_from_db()
    assert visitor.state == CustomerState.LEAD
    assert visitor.primary_email == "new@example.com"
    assert stats_of(visitor) == {"pricing_viewed": 1}


def test_identify_new_browser_without_events_creates_lead(ingest):
    # When
    ingest("identify", {"visitor_id": VISITOR_ID, "phone": "+1 555 0100"})

    # Then
    lead = Customer.objects.get()
    assert lead.state == CustomerState.LEAD
    assert lead.primary_phone == "+1 555 0100"
    track(ingest, "pricing_viewed")
    assert stats_of(lead) == {"pricing_viewed": 1}


def test_identify_matches_email_before_phone_before_code(known_customer):
    # Given: another customer has the phone and a third has the code.
    by_phone = Customer.objects.create(primary_phone="+1 555 0199")
    by_code = Customer.objects.create(code="CRM-9")

    # When
    by_email = identify(
        visitor_id="browser-email-1",
        identity={"email": "ada@example.com", "phone": "+1 555 0199", "code": "CRM-9"},
    )
    phone_then_code = identify(
        visitor_id="browser-phone-1", identity={"phone": "+1 555 0199", "code": "CRM-9"}
    )
    code_only = identify(visitor_id="browser-code-01", identity={"code": "CRM-9"})

    # Then
    assert by_email.customer == known_customer
    assert phone_then_code.customer == by_phone
    assert code_only.customer == by_code


def test_identify_second_time_same_email_is_noop(ingest, known_customer):
    # Given
    ingest("identify", {"visitor_id": VISITOR_ID, "email": "ada@example.com"})

    # When
    ingest("identify", {"visitor_id": VISITOR_ID, "email": "ada@example.com"})

    # Then
    assert Customer.objects.count() == 1
    assert VisitorMerge.objects.count() == 0


def test_identify_without_identifiers_returns_400(ingest):
    response = ingest("identify", {"visitor_id": VISITOR_ID})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "email": ["Identify needs an email, a phone or a code. Send at least one."]
    }
    assert Customer.objects.count() == 0


def test_identify_bad_email_returns_400(ingest):
    response = ingest("identify", {"visitor_id": VISITOR_ID, "email": "not-an-email"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "email": ['email "not-an-email" is not a valid email address.']
    }
    assert Customer.objects.count() == 0


def test_merge_newer_tracked_value_wins_and_logged(known_customer):
    # Given: the visitor was written after the customer.
    visitor = Customer.objects.create(
        state=CustomerState.VISITOR,
        visitor_id=VISITOR_ID,
        first_name="Visitor name",
        city="Lyon",
        tracked_data={"plan": "pro", "cart": 3},
    )
    Customer.objects.filter(pk=known_customer.pk).update(
        updated_at=timezone.now() - datetime.timedelta(days=1)
    )
    known_customer.refresh_from_db()
    visitor.tags.add(Tag.objects.create(name="from-ads"))

    # When
    record = merge_visitor(visitor=visitor, customer=known_customer)

    # Then
    known_customer.refresh_from_db()
    assert known_customer.tracked_data == {"plan": "pro", "theme": "dark", "cart": 3}
    assert known_customer.first_name == "Ada"
    assert known_customer.city == "Lyon"
    assert list(known_customer.tags.values_list("name", flat=True)) == ["from-ads"]
    assert record.tracked_data_conflicts == {"plan": {"kept": "pro", "dropped": "free"}}
    assert record.visitor_id == VISITOR_ID


def test_merge_visitor_older_tracked_value_loses(known_customer):
    # Given: the customer was written after the visitor.
    visitor = Customer.objects.create(
        state=CustomerState.VISITOR, visitor_id=VISITOR_ID, tracked_data={"plan": "pro"}
    )
    Customer.objects.filter(pk=visitor.pk).update(
        updated_at=timezone.now() - datetime.timedelta(days=1)
    )
    visitor.refresh_from_db()

    # When
    record = merge_visitor(visitor=visitor, customer=known_customer)

    # Then
    known_customer.refresh_from_db()
    assert known_customer.tracked_data["plan"] == "free"
    assert record.tracked_data_conflicts == {"plan": {"kept": "free", "dropped": "pro"}}


def test_merge_visitor_rebuilds_first_and_last_times(known_customer, site):
    # Given
    visitor = Customer.objects.create(
        state=CustomerState.VISITOR, visitor_id=VISITOR_ID
    )
    base = timezone.now().replace(microsecond=0)
    for contact, days in [(known_customer, 5), (visitor, 9), (visitor, 1)]:
        Event.objects.create(
            site=site,
            customer=contact,
            name="pricing_viewed",
            occurred_at=base - datetime.timedelta(days=days),
        )

    # When
    merge_visitor(visitor=visitor, customer=known_customer)

    # Then
    stats = CustomerEventStats.objects.get(customer=known_customer)
    assert stats.count == 3
    assert stats.first_occurred_at == base - datetime.timedelta(days=9)
    assert stats.last_occurred_at == base - datetime.timedelta(days=1)
