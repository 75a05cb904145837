"""The customer list's country filter: countries most common first, cached
so the sidebar does not group the whole table on every page."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/admin/contacts/customer/"


@pytest.fixture
def country_cache(settings):
    settings.ERXSEG_ADMIN_COUNTRIES_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


def grouping_queries(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if 'GROUP BY "contacts_customer"."country"' in q["sql"]
    ]


def test_country_filter_lists_most_common_first(admin_client):
    # given
    CustomerFactory.create_batch(2, country="Germany")
    CustomerFactory(country="France")

    # when
    response = admin_client.get(CUSTOMERS)

    # then
    choices = [
        choice["display"]
        for choice in response.context["cl"]
        .filter_specs[1]
        .choices(response.context["cl"])
    ]
    assert choices[1:3] == ["Germany", "France"]


def test_country_list_is_read_once_while_cached(admin_client, country_cache):
    # given
    CustomerFactory(country="Germany")
    admin_client.get(CUSTOMERS)

    # when
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CUSTOMERS)

    # then
    assert response.status_code == 200
    assert grouping_queries(queries) == []
    assert b"Germany" in response.content


def test_new_country_filters_before_the_sidebar_lists_it(admin_client, country_cache):
    # given a cached list without Chile
    CustomerFactory(country="Germany")
    admin_client.get(CUSTOMERS)
    CustomerFactory(first_name="Ana", country="Chile")

    # when
    response = admin_client.get(CUSTOMERS, {"country": "Chile"})

    # then
    assert response.status_code == 200
    assert [c.first_name for c in response.context["cl"].result_list] == ["Ana"]
