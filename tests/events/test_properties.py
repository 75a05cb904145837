import pytest

from contacts.factories import FieldDefinitionFactory
from contacts.models import Customer, CustomerState, FieldType
from tests.events.conftest import VISITOR_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan_field(db):
    return FieldDefinitionFactory(key="plan", field_type=FieldType.CHOICE)


@pytest.fixture
def seats_field(db):
    return FieldDefinitionFactory(key="seats", field_type=FieldType.NUMBER)


def test_property_standard_field_is_set(ingest):
    # When
    response = ingest(
        "customer-properties",
        {"visitor_id": VISITOR_ID, "name": "first_name", "value": " Grace "},
    )

    # Then
    assert response.status_code == 202
    assert response.json() == {
        "accepted": [{"index": 0, "name": "first_name"}],
        "rejected": [],
    }
    assert Customer.objects.get(visitor_id=VISITOR_ID).first_name == "Grace"


def test_properties_mixed_kinds_are_written_together(ingest, plan_field, seats_field):
    # When
    response = ingest(
        "customer-properties",
        {
            "visitor_id": VISITOR_ID,
            "properties": [
                {"name": "email", "value": "grace@example.com"},
                {"name": "custom.plan", "value": "pro"},
                {"name": "custom.seats", "value": "12"},
                {"name": "cart_value", "value": 42.5},
                {"name": "favourite", "value": {"colour": "green"}},
            ],
        },
    )

    # Then
    assert response.status_code == 202
    assert response.json()["rejected"] == []
    contact = Customer.objects.get(visitor_id=VISITOR_ID)
    assert contact.primary_email == "grace@example.com"
    assert contact.custom_fields == {"plan": "pro", "seats": 12}
    assert contact.tracked_data == {
        "cart_value": 42.5,
        "favourite": {"colour": "green"},
    }


def test_properties_bad_items_are_rejected_and_rest_stored(ingest, plan_field):
    # When
    response = ingest(
        "customer-properties",
        {
            "visitor_id": VISITOR_ID,
            "properties": [
                {"name": "custom.plan", "value": "platinum"},
                {"name": "email", "value": "nope"},
                {"name": "custom.unknown", "value": 1},
                {"name": "k" * 101, "value": 1},
                {"name": "city_guess", "value": "Oslo"},
            ],
        },
    )

    # Then
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == [{"index": 4, "name": "city_guess"}]
    assert body["rejected"] == [
        {
            "index": 0,
            "field": "properties[0].value",
            "reason": "'platinum' is not an option of the custom field \"plan\". "
            "Use one of: free, pro, enterprise.",
        },
        {
            "index": 1,
            "field": "properties[1].value",
            "reason": 'properties[1].value "nope" is not a valid email address.',
        },
        {
            "index": 2,
            "field": "properties[2].value",
            "reason": 'The custom field "unknown" is not declared for customer '
            "records. Declare it under Field definitions or remove it.",
        },
        {
            "index": 3,
            "field": "properties[3].name",
            "reason": "properties[3].name must be at most 100 characters without "
            "control characters.",
        },
    ]
    contact = Customer.objects.get(visitor_id=VISITOR_ID)
    assert contact.primary_email == ""
    assert contact.custom_fields == {}
    assert contact.tracked_data == {"city_guess": "Oslo"}


def test_properties_all_rejected_by_contact_store_nothing(ingest, plan_field):
    # When: the value is only found invalid against the field definition.
    response = ingest(
        "customer-properties",
        {"visitor_id": VISITOR_ID, "name": "custom.plan", "value": "platinum"},
    )

    # Then
    assert response.status_code == 400
    assert Customer.objects.count() == 0


def test_properties_all_rejected_returns_400(ingest):
    response = ingest(
        "customer-properties",
        {"visitor_id": VISITOR_ID, "name": "phone", "value": "call me"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "value": [
            "value must be a phone number of 3 to 50 digits, spaces and the "
            "characters + ( ) - ."
        ]
    }


def test_property_null_clears_tracked_key(ingest):
    # Given
    ingest("customer-properties", {"visitor_id": VISITOR_ID, "name": "k", "value": 1})

    # When
    ingest(
        "customer-properties", {"visitor_id": VISITOR_ID, "name": "k", "value": None}
    )

    # Then
    assert Customer.objects.get(visitor_id=VISITOR_ID).tracked_data == {}


def test_property_customer_name_already_set_is_not_overwritten(ingest):
    # Given: a customer created by staff, and the browser identified as them.
    customer = Customer.objects.create(
        state=CustomerState.CUSTOMER, first_name="Ada", primary_email="ada@example.com"
    )
    ingest("identify", {"visitor_id": VISITOR_ID, "email": "ada@example.com"})

    # When
    response = ingest(
        "customer-properties",
        {
            "visitor_id": VISITOR_ID,
            "properties": [
                {"name": "first_name", "value": "Mallory"},
                {"name": "last_name", "value": "Lovelace"},
            ],
        },
    )

    # Then
    assert response.status_code == 202
    assert response.json()["rejected"] == [
        {
            "index": 0,
            "field": "properties[0].value",
            "reason": "first_name is already set on this customer and the website "
            "may not change it. Change it in the admin or the API.",
        }
    ]
    customer.refresh_from_db()
    assert customer.first_name == "Ada"
    assert customer.last_name == "Lovelace"


def test_properties_over_50_returns_413(ingest):
    response = ingest(
        "customer-properties",
        {
            "visitor_id": VISITOR_ID,
            "properties": [{"name": f"k{i}", "value": i} for i in range(51)],
        },
    )

    assert response.status_code == 413
    assert Customer.objects.count() == 0
