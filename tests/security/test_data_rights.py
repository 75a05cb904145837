"""Deleting a contact deletes everything stored about it."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from contacts.factories import CompanyFactory, CustomerFactory
from contacts.models import Customer
from events.models import CustomerEventStats, Event, VisitorAlias, VisitorMerge
from segments.models import Segment, SegmentMembership
from tests.security.conftest import user_for_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_with_history(shop_site):
    """A customer with events, a rollup, a membership, an alias and a merge,
    next to a bystander who has the same kinds of rows."""
    moment = timezone.now() - datetime.timedelta(hours=1)
    segment = Segment.objects.create(name="Everyone")
    customers = [CustomerFactory(first_name=name) for name in ("Ada", "Bob")]
    for index, customer in enumerate(customers):
        Event.objects.create(
            site=shop_site, customer=customer, name="signed_up", occurred_at=moment
        )
        CustomerEventStats.objects.create(
            customer=customer,
            name="signed_up",
            count=1,
            first_occurred_at=moment,
            last_occurred_at=moment,
        )
        SegmentMembership.objects.create(segment=segment, customer=customer)
        VisitorAlias.objects.create(
            visitor_id=f"old-browser-{index}", customer=customer
        )
        VisitorMerge.objects.create(customer=customer, visitor_pk=1000 + index)
    return customers


def rows_of(customer_id: int) -> dict[str, int]:
    return {
        "customers": Customer.objects.filter(pk=customer_id).count(),
        "events": Event.objects.filter(customer_id=customer_id).count(),
        "stats": CustomerEventStats.objects.filter(customer_id=customer_id).count(),
        "memberships": SegmentMembership.objects.filter(
            customer_id=customer_id
        ).count(),
        "aliases": VisitorAlias.objects.filter(customer_id=customer_id).count(),
        "merges": VisitorMerge.objects.filter(customer_id=customer_id).count(),
    }


NOTHING = dict.fromkeys(
    ["customers", "events", "stats", "memberships", "aliases", "merges"], 0
)
ONE_OF_EACH = dict.fromkeys(NOTHING, 1)


def test_customer_delete_orm_removes_all_rows(customer_with_history):
    # given
    ada, bob = customer_with_history

    # when
    ada.delete()

    # then
    assert rows_of(ada.pk) == NOTHING
    assert rows_of(bob.pk) == ONE_OF_EACH


def test_customer_delete_api_removes_all_rows(customer_with_history):
    # given
    ada, bob = customer_with_history
    client = APIClient()
    token = Token.objects.create(user=user_for_role("manager"))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    # when
    response = client.delete(f"/api/v1/customers/{ada.pk}/")

    # then
    assert response.status_code == 204
    assert rows_of(ada.pk) == NOTHING
    assert rows_of(bob.pk) == ONE_OF_EACH


@pytest.mark.parametrize("role", ["manager", "superuser"])
def test_customer_delete_admin_removes_all_rows(customer_with_history, role):
    # given a user who may delete customers, but not events by hand
    ada, bob = customer_with_history
    client = Client()
    client.force_login(user_for_role(role))

    # when
    confirm = client.get(f"/admin/contacts/customer/{ada.pk}/delete/")
    response = client.post(
        f"/admin/contacts/customer/{ada.pk}/delete/", {"post": "yes"}
    )

    # then
    assert confirm.status_code == 200
    assert "permission to delete the following types" not in confirm.content.decode()
    assert response.status_code == 302
    assert rows_of(ada.pk) == NOTHING
    assert rows_of(bob.pk) == ONE_OF_EACH


def test_company_delete_admin_removes_memberships(db):
    # given a company in a company segment
    company = CompanyFactory(name="Acme")
    segment = Segment.objects.create(name="Companies", content_type="company")
    SegmentMembership.objects.create(segment=segment, company=company)
    client = Client()
    client.force_login(user_for_role("manager"))

    # when
    response = client.post(
        f"/admin/contacts/company/{company.pk}/delete/", {"post": "yes"}
    )

    # then
    assert response.status_code == 302
    assert SegmentMembership.objects.count() == 0
    assert Segment.objects.filter(pk=segment.pk).exists()
