import pytest
from rest_framework.test import APIClient

from contacts.factories import CustomerFactory, FieldDefinitionFactory
from contacts.models import Customer, FieldType

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan_field():
    return FieldDefinitionFactory(
        key="plan", field_type=FieldType.CHOICE, options=["free", "pro", "enterprise"]
    )


@pytest.fixture
def seats_field():
    return FieldDefinitionFactory(key="seats", field_type=FieldType.NUMBER)


@pytest.fixture
def api_client(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_admin_add_bad_choice_names_field_and_writes_nothing(
    client, admin_user, plan_field
):
    client.force_login(admin_user)

    response = client.post(
        "/admin/contacts/customer/add/",
        {
            "state": "customer",
            "first_name": "Ada",
            "emails": "[]",
            "phones": "[]",
            "session_count": "0",
            "is_subscribed": "on",
            "custom_fields": '{"plan": "gold"}',
            "tracked_data": "{}",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["custom_fields"] == [
        "'gold' is not an option of the custom field \"plan\". "
        "Use one of: free, pro, enterprise."
    ]
    assert Customer.objects.count() == 0


def test_admin_change_unknown_key_rejected_and_value_kept(
    client, admin_user, plan_field
):
    customer = CustomerFactory(custom_fields={"plan": "pro"})
    client.force_login(admin_user)

    response = client.post(
        f"/admin/contacts/customer/{customer.pk}/change/",
        {
            "state": "customer",
            "first_name": "Ada",
            "emails": "[]",
            "phones": "[]",
            "session_count": "0",
            "custom_fields": '{"plan": "free", "colour": "red"}',
            "tracked_data": "{}",
        },
    )

    assert response.status_code == 200
    [message] = response.context["adminform"].form.errors["custom_fields"]
    assert '"colour" is not declared' in message
    customer.refresh_from_db()
    assert customer.custom_fields == {"plan": "pro"}


def test_api_create_bad_values_reports_each_field(api_client, plan_field, seats_field):
    response = api_client.post(
        "/api/v1/customers/",
        {"first_name": "Ada", "custom_fields": {"plan": "gold", "seats": "many"}},
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()["error"]["fields"]["custom_fields"]
    assert errors["plan"] == [
        "'gold' is not an option of the custom field \"plan\". "
        "Use one of: free, pro, enterprise."
    ]
    assert errors["seats"] == [
        "The custom field \"seats\" takes a number; 'many' is not one."
    ]
    assert Customer.objects.count() == 0


def test_api_update_bad_value_leaves_stored_value(api_client, seats_field):
    customer = CustomerFactory(custom_fields={"seats": 5})

    response = api_client.patch(
        f"/api/v1/customers/{customer.pk}/",
        {"custom_fields": {"seats": True}},
        format="json",
    )

    assert response.status_code == 400
    assert "seats" in response.json()["error"]["fields"]["custom_fields"]
    customer.refresh_from_db()
    assert customer.custom_fields == {"seats": 5}


def test_api_create_numeric_string_stored_as_number(api_client, seats_field):
    response = api_client.post(
        "/api/v1/customers/",
        {"first_name": "Ada", "custom_fields": {"seats": "12"}},
        format="json",
    )

    assert response.status_code == 201
    assert Customer.objects.get().custom_fields == {"seats": 12}


def test_required_field_missing_is_reported(api_client):
    FieldDefinitionFactory(key="region_code", required=True)

    response = api_client.post(
        "/api/v1/customers/", {"first_name": "Ada", "custom_fields": {}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["custom_fields"] == {
        "region_code": ['The custom field "region_code" is required. Give it a value.']
    }
