import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.factories import CompanyFactory, CustomerFactory, LeadFactory
from contacts.models import FieldDefinition, FieldType, OwnerType
from segments.catalogue import Catalogue, catalogue_for
from segments.rules import validate_rules
from tests.segments.conftest import group, prop

pytestmark = pytest.mark.django_db


def by_name(content_type: str) -> dict[str, dict]:
    return {item["name"]: item for item in catalogue_for(content_type)}


def test_catalogue_customer_lists_fields_custom_tracked_company_and_sets():
    # given
    FieldDefinition.objects.create(
        key="plan", label="Plan", field_type=FieldType.CHOICE, options=["free", "pro"]
    )
    FieldDefinition.objects.create(
        owner_type=OwnerType.COMPANY,
        key="tier",
        label="Tier",
        field_type=FieldType.NUMBER,
    )
    CustomerFactory(tracked_data={"cart_value": 12})

    # when
    properties = by_name("customer")

    # then
    assert properties["first_name"]["type"] == "text"
    assert properties["birth_date"]["type"] == "date"
    assert properties["last_seen_at"]["type"] == "datetime"
    assert properties["session_count"]["type"] == "number"
    assert properties["is_subscribed"]["type"] == "boolean"
    assert properties["sex"]["options"] == ["female", "male", "other"]
    assert properties["custom.plan"] == {
        "name": "custom.plan",
        "label": "Plan",
        "type": "choice",
        "observed_types": [],
        "options": ["free", "pro"],
        "operators": ["is", "is_not", "in", "not_in", "is_set", "is_not_set"],
    }
    assert properties["tracked.cart_value"]["observed_types"] == ["number"]
    assert properties["company.industry"]["type"] == "text"
    assert properties["tags"]["operators"] == [
        "includes_any",
        "includes_all",
        "excludes",
        "is_set",
        "is_not_set",
    ]
    assert {"emails", "companies"} <= set(properties)
    assert "custom.tier" not in properties
    assert "owner" not in properties
    assert "state" not in properties


def test_catalogue_company_lists_company_fields_and_custom_fields():
    # given
    FieldDefinition.objects.create(
        owner_type=OwnerType.COMPANY,
        key="tier",
        label="Tier",
        field_type=FieldType.NUMBER,
    )

    # when
    properties = by_name("company")

    # then
    assert properties["size"]["type"] == "number"
    assert properties["custom.tier"]["type"] == "number"
    assert "tags" in properties
    assert "company.industry" not in properties
    assert "emails" not in properties


def test_catalogue_tracked_keys_report_observed_types():
    # given
    CustomerFactory(tracked_data={"cart": "12", "seen": "2026-01-02", "flags": ["a"]})
    CustomerFactory(tracked_data={"cart": "80%", "seen": "2026-01-03", "ok": True})
    LeadFactory(tracked_data={"cart": 4, "bad key!": 1, "nested": {"a": 1}})

    # when
    properties = by_name("lead")

    # then
    assert properties["tracked.cart"]["observed_types"] == ["number", "text"]
    assert properties["tracked.seen"]["observed_types"] == ["date"]
    assert properties["tracked.flags"]["observed_types"] == ["multiple_choice"]
    assert properties["tracked.ok"]["observed_types"] == ["boolean"]
    assert "tracked.nested" not in properties
    assert not any(name.startswith("tracked.bad") for name in properties)


def test_catalogue_company_tracked_keys_come_from_companies():
    # given
    CompanyFactory(tracked_data={"visits": 3})
    CustomerFactory(tracked_data={"cart": 1})

    # when
    properties = by_name("company")

    # then
    assert "tracked.visits" in properties
    assert "tracked.cart" not in properties


def test_catalogue_model_field_lookup_runs_no_query(django_assert_num_queries):
    # given
    catalogue = Catalogue("customer")

    # when / then
    with django_assert_num_queries(0):
        assert catalogue.get("first_name").type == "text"
        assert catalogue.get("company.size").type == "number"
        assert catalogue.get("owner__password") is None
        assert catalogue.get("tracked.a b") is None


def test_catalogue_custom_and_tracked_lookups_cost_one_query_each(
    django_assert_num_queries,
):
    # given
    CustomerFactory(tracked_data={"cart": 1})
    catalogue = Catalogue("customer")

    # when / then
    with django_assert_num_queries(2):
        assert catalogue.get("custom.plan") is None
        assert catalogue.get("custom.other") is None
        assert catalogue.get("tracked.cart").observed == ("number",)
        assert catalogue.get("tracked.missing") is None


@pytest.fixture
def tracked_key_cache(settings):
    settings.ERXSEG_TRACKED_KEYS_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


def test_cached_tracked_keys_skip_the_discovery_query(tracked_key_cache):
    # given
    CustomerFactory(tracked_data={"plan_seats": 3})
    rules = group(prop("tracked.plan_seats", "gt", 1))
    validate_rules(rules, content_type="customer")

    # when
    with CaptureQueriesContext(connection) as queries:
        validate_rules(rules, content_type="customer")

    # then
    assert not [q for q in queries if "tracked_data" in q["sql"]]


def test_key_sent_after_caching_is_accepted_at_once(tracked_key_cache):
    # given
    CustomerFactory(tracked_data={"plan_seats": 3})
    validate_rules(group(prop("tracked.plan_seats", "gt", 1)), content_type="customer")
    CustomerFactory(tracked_data={"cart_value": 80})

    # when
    normalised = validate_rules(
        group(prop("tracked.cart_value", "gt", 50)), content_type="customer"
    )

    # then
    assert normalised["conditions"][0]["property"] == "tracked.cart_value"


def test_unknown_key_rejected_with_cache_on(tracked_key_cache):
    # given
    CustomerFactory(tracked_data={"plan_seats": 3})
    validate_rules(group(prop("tracked.plan_seats", "gt", 1)), content_type="customer")

    # when
    with pytest.raises(ValidationError) as caught:
        validate_rules(
            group(prop("tracked.nobody_has", "gt", 1)), content_type="customer"
        )

    # then
    assert "tracked.nobody_has" in str(caught.value.message_dict)
