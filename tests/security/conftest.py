import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone

from contacts.factories import CompanyFactory, CustomerFactory, UserFactory
from events.models import Event, Site
from segments.models import Segment

VIEWER_PERMISSIONS = [
    "contacts.view_customer",
    "contacts.view_company",
    "segments.view_segment",
    "events.view_site",
    "events.view_event",
]
MANAGER_PERMISSIONS = [
    f"{app}.{action}_{model}"
    for app, model in [
        ("contacts", "customer"),
        ("contacts", "company"),
        ("contacts", "tag"),
        ("contacts", "fielddefinition"),
        ("segments", "segment"),
    ]
    for action in ("view", "add", "change", "delete")
]
ROLES = ["anonymous", "staff", "viewer", "manager", "superuser"]


def grant(user, codenames):
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=name)
        )
    return user


def user_for_role(role: str):
    """Create the user of one role of the permission matrix, or None."""
    if role == "anonymous":
        return None
    if role == "superuser":
        return UserFactory(username="root", is_superuser=True)
    user = UserFactory(username=role)
    if role == "viewer":
        grant(user, VIEWER_PERMISSIONS)
    elif role == "manager":
        grant(user, MANAGER_PERMISSIONS)
    return user


@pytest.fixture(autouse=True)
def empty_throttle_cache():
    # Ingest throttle counters live in the default cache and would leak
    # between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop_site(db):
    return Site.objects.create(name="Shop", allowed_origins=["https://shop.example"])


@pytest.fixture
def one_of_each(shop_site):
    """A customer with one event, a company and a segment."""
    customer = CustomerFactory(first_name="Ada", primary_email="ada@example.com")
    company = CompanyFactory(name="Acme")
    segment = Segment.objects.create(name="Everyone")
    event = Event.objects.create(
        site=shop_site,
        customer=customer,
        name="pricing_viewed",
        occurred_at=timezone.now() - datetime.timedelta(hours=1),
    )
    return {
        "customer": customer,
        "company": company,
        "segment": segment,
        "site": shop_site,
        "event": event,
    }
