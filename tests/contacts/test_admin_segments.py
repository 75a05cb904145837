"""The "By segment" filter on the customer and company lists and the
segment, event and tracked data panels of a contact's page."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from contacts.admin import EstimatedCountPaginator, planner_row_estimate
from contacts.factories import (
    CompanyFactory,
    CustomerFactory,
    LeadFactory,
    TagFactory,
)
from contacts.models import Customer, OwnerType
from events.identity import rebuild_event_stats
from events.models import Event, Site
from segments.services import count_segment, members_queryset
from tests.segments.fixtures.builders import (
    country_is,
    make_segment,
    property_is,
    rules_of,
)

pytestmark = pytest.mark.django_db

CUSTOMERS = "/admin/contacts/customer/"
COMPANIES = "/admin/contacts/company/"


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def germans():
    ada = CustomerFactory(first_name="Ada", country="Germany", city="Berlin")
    CustomerFactory(first_name="Ben", country="Germany", city="Bonn")
    CustomerFactory(first_name="Cyd", country="France")
    LeadFactory(first_name="Dan", country="Germany")
    parent = make_segment("Germans", country_is("Germany"))
    child = make_segment("Berliners", property_is("city", "Berlin"), parent=parent)
    return {"parent": parent, "child": child, "ada": ada}


def test_segment_filter_lists_members_like_api(staff_client, germans):
    response = staff_client.get(CUSTOMERS, {"segment": germans["parent"].pk})

    listed = {customer.pk for customer in response.context["cl"].result_list}
    expected = set(members_queryset(germans["parent"]).values_list("pk", flat=True))
    assert listed == expected
    assert len(listed) == 2


def test_segment_filter_sub_segment_keeps_parent_rules(staff_client, germans):
    response = staff_client.get(CUSTOMERS, {"segment": germans["child"].pk})

    assert list(response.context["cl"].result_list) == [germans["ada"]]


def test_segment_filter_choices_nest_sub_segments(staff_client, germans):
    make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.get(CUSTOMERS)

    segment_filter = next(
        spec
        for spec in response.context["cl"].filter_specs
        if spec.parameter_name == "segment"
    )
    assert segment_filter.lookup_choices == [
        (str(germans["parent"].pk), "Germans"),
        (str(germans["child"].pk), "— Berliners"),
    ]


def test_segment_filter_unknown_segment_shows_error_page(staff_client, germans):
    response = staff_client.get(CUSTOMERS, {"segment": 999999})

    # The admin answers a bad lookup with a redirect to ?e=1.
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_segment_filter_non_number_shows_error_page(staff_client, germans):
    response = staff_client.get(CUSTOMERS, {"segment": "abc"})

    assert response.status_code == 302


def test_segment_filter_company_segment_on_customer_list_rejected(
    staff_client, germans
):
    companies = make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.get(CUSTOMERS, {"segment": companies.pk})

    assert response.status_code == 302


def test_company_list_segment_filter(staff_client):
    usa = CompanyFactory(name="Acme", country="USA")
    CompanyFactory(name="Beta", country="Canada")
    segment = make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.get(COMPANIES, {"segment": segment.pk})

    assert list(response.context["cl"].result_list) == [usa]


def test_company_list_segment_and_tag_filter(staff_client):
    # given companies with two tags and several linked contacts each
    enterprise = TagFactory(name="enterprise", owner_type=OwnerType.COMPANY)
    partner = TagFactory(name="partner", owner_type=OwnerType.COMPANY)
    acme = CompanyFactory(name="Acme", country="USA")
    beta = CompanyFactory(name="Beta", country="USA")
    gamma = CompanyFactory(name="Gamma", country="Canada")
    for company in (acme, beta, gamma):
        company.tags.set([enterprise, partner])
    for company in (acme, acme, beta, gamma):
        CustomerFactory(country="Germany", companies=[company])
    segment = make_segment(
        "US companies with German contacts",
        country_is("USA"),
        {
            "type": "property",
            "property": "tags",
            "operator": "includes_any",
            "value": ["enterprise", "partner"],
        },
        {
            "type": "contacts",
            "occurrence": "at_least",
            "count": 1,
            "where": rules_of(country_is("Germany")),
        },
        content_type="company",
    )

    # when the list is filtered by the segment and by one of the tags
    response = staff_client.get(
        COMPANIES, {"segment": segment.pk, "tags__id__exact": partner.pk}
    )

    # then each member appears once, and the list's count is the segment's
    changelist = response.context["cl"]
    assert [company.name for company in changelist.result_list] == ["Acme", "Beta"]
    assert changelist.result_count == count_segment(segment) == 2


def test_customer_list_skips_full_count(
    staff_client, germans, django_assert_max_num_queries
):
    response = staff_client.get(CUSTOMERS, {"segment": germans["parent"].pk})

    assert response.context["cl"].show_full_result_count is False
    assert response.context["cl"].full_result_count is None


def test_contact_page_shows_segments_with_why(staff_client, germans):
    ada = germans["ada"]

    response = staff_client.get(f"{CUSTOMERS}{ada.pk}/change/")

    panels = response.context["segment_panels"]
    assert [(panel["segment"].name, panel["member"]) for panel in panels] == [
        ("Berliners", True),
        ("Germans", True),
    ]
    rows = panels[1]["rows"]
    assert rows[0]["text"] == "all of"
    assert rows[1] == {"depth": 1, "text": "country is Germany", "matched": True}


def test_contact_page_marks_failed_conditions(staff_client, germans):
    french = CustomerFactory(first_name="Eve", country="France")

    response = staff_client.get(f"{CUSTOMERS}{french.pk}/change/")

    panels = response.context["segment_panels"]
    assert [panel["member"] for panel in panels] == [False, False]
    assert panels[1]["rows"][1]["matched"] is False


def test_contact_page_lists_latest_events_and_tracked_data(staff_client):
    customer = CustomerFactory(
        first_name="Ada",
        tracked_data={"plan": "pro", "seats": 12, "interests": ["music", "tech"]},
    )
    site = Site.objects.create(name="Shop", allowed_origins=["*"])
    for hour in range(3):
        Event.objects.create(
            site=site,
            customer=customer,
            name=f"viewed-{hour}",
            attributes={"step": hour},
            occurred_at=timezone.make_aware(
                datetime.datetime(2024, 5, 1, hour), datetime.UTC
            ),
        )
    rebuild_event_stats(customer)

    response = staff_client.get(f"{CUSTOMERS}{customer.pk}/change/")

    events = response.context["latest_events"]
    assert [event["name"] for event in events] == ["viewed-2", "viewed-1", "viewed-0"]
    assert events[0]["attributes"] == '{"step": 2}'
    assert events[0]["site"] == "Shop"
    assert response.context["tracked_items"] == [
        ("interests", '["music", "tech"]'),
        ("plan", "pro"),
        ("seats", "12"),
    ]


def test_contact_page_escapes_tracked_keys_and_values(staff_client):
    evil = '<script>alert("x")</script>'
    customer = CustomerFactory(first_name="Ada", tracked_data={evil: evil})

    response = staff_client.get(f"{CUSTOMERS}{customer.pk}/change/")

    content = response.content.decode()
    assert "<dt>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</dt>" in content
    assert "<dd>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</dd>" in content


def test_contact_page_escapes_segment_names(staff_client):
    evil = "<b>bold</b>"
    customer = CustomerFactory(first_name="Ada", country="Germany")
    make_segment(evil, country_is("Germany"))

    content = staff_client.get(f"{CUSTOMERS}{customer.pk}/change/").content.decode()

    assert "<b>bold</b>" not in content
    assert "&lt;b&gt;bold&lt;/b&gt;" in content


def test_company_page_shows_segments(staff_client):
    company = CompanyFactory(name="Acme", country="USA")
    make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.get(f"{COMPANIES}{company.pk}/change/")

    panels = response.context["segment_panels"]
    assert [(panel["segment"].name, panel["member"]) for panel in panels] == [
        ("US companies", True)
    ]


def test_paginator_unfiltered_list_counts_exactly_below_threshold(staff_client):
    CustomerFactory.create_batch(3)

    response = staff_client.get(CUSTOMERS)

    assert response.context["cl"].result_count == 3


def test_paginator_estimate_used_on_postgresql(monkeypatch, staff_client):
    if connection.vendor != "postgresql":
        pytest.skip("The planner's row estimate exists on PostgreSQL only.")
    CustomerFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_customer")
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 0)

    paginator = EstimatedCountPaginator(Customer.objects.all(), 50)
    filtered = EstimatedCountPaginator(Customer.objects.filter(first_name="x"), 50)

    assert planner_row_estimate(Customer.objects.all()) == 3
    assert paginator.count == 3
    assert planner_row_estimate(Customer.objects.filter(first_name="x")) is None
    assert filtered.count == 0
