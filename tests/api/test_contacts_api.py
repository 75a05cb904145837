import pytest

from contacts.factories import CompanyFactory, CustomerFactory, LeadFactory
from contacts.models import Company, Customer

pytestmark = pytest.mark.django_db


def test_customer_list_anonymous_gets_401_in_error_format(anonymous_client):
    response = anonymous_client.get("/api/v1/customers/")

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["status"] == 401
    assert error["code"] == "not_authenticated"
    assert error["message"] == "Authentication credentials were not provided."


def test_customer_list_without_view_permission_gets_403(no_permission_client):
    CustomerFactory()

    response = no_permission_client.get("/api/v1/customers/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_customer_list_viewer_sees_contacts(viewer_client):
    ada = CustomerFactory(first_name="Ada")
    lead = LeadFactory(first_name="Linus")

    response = viewer_client.get("/api/v1/customers/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {row["id"] for row in body["results"]} == {ada.pk, lead.pk}


def test_customer_create_viewer_gets_403_and_nothing_written(viewer_client):
    response = viewer_client.post("/api/v1/customers/", {"first_name": "Ada"})

    assert response.status_code == 403
    assert Customer.objects.count() == 0


def test_customer_crud_manager_round_trip(manager_client):
    created = manager_client.post(
        "/api/v1/customers/",
        {"first_name": "Ada", "primary_email": "ada@example.com", "state": "lead"},
    )
    assert created.status_code == 201
    customer_id = created.json()["id"]

    changed = manager_client.patch(
        f"/api/v1/customers/{customer_id}/", {"last_name": "Lovelace"}
    )
    assert changed.status_code == 200
    assert changed.json()["last_name"] == "Lovelace"

    deleted = manager_client.delete(f"/api/v1/customers/{customer_id}/")
    assert deleted.status_code == 204
    assert Customer.objects.count() == 0


def test_customer_create_bad_fields_reported_per_field(manager_client):
    response = manager_client.post(
        "/api/v1/customers/",
        {"state": "king", "primary_email": "not-an-email", "birth_date": "31/12/1990"},
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["state"] == ['"king" is not a valid choice.']
    assert fields["primary_email"] == ["Enter a valid email address."]
    assert fields["birth_date"][0].startswith("Date has wrong format.")
    assert Customer.objects.count() == 0


def test_customer_detail_unknown_id_gets_404_in_error_format(viewer_client):
    response = viewer_client.get("/api/v1/customers/999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_api_address_gets_json_404(viewer_client):
    response = viewer_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_customer_list_filters_search_and_ordering(viewer_client):
    CustomerFactory(first_name="Zoë", country="Germany")
    CustomerFactory(first_name="Ana", country="Germany")
    CustomerFactory(first_name="Bob", country="France")

    germany = viewer_client.get("/api/v1/customers/", {"country": "Germany"})
    search = viewer_client.get("/api/v1/customers/", {"search": "zoë"})
    ordered = viewer_client.get(
        "/api/v1/customers/", {"ordering": "first_name", "country": "Germany"}
    )

    assert germany.json()["count"] == 2
    assert [row["first_name"] for row in search.json()["results"]] == ["Zoë"]
    assert [row["first_name"] for row in ordered.json()["results"]] == ["Ana", "Zoë"]


def test_company_crud_manager_and_viewer(manager_client, viewer_client):
    CompanyFactory(name="Embraer")

    listed = viewer_client.get("/api/v1/companies/")
    created = manager_client.post("/api/v1/companies/", {"name": "Riotur"})
    rejected = viewer_client.post("/api/v1/companies/", {"name": "Nope"})

    assert listed.json()["count"] == 1
    assert created.status_code == 201
    assert rejected.status_code == 403
    assert sorted(Company.objects.values_list("name", flat=True)) == [
        "Embraer",
        "Riotur",
    ]


def test_customer_list_malformed_json_gets_400(manager_client):
    response = manager_client.generic(
        "POST", "/api/v1/customers/", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_customer_create_null_json_fields_rejected_not_500(manager_client):
    response = manager_client.post(
        "/api/v1/customers/",
        {"first_name": "Ada", "emails": None, "tracked_data": None},
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["emails"] == ["This field may not be null."]
    assert fields["tracked_data"] == ["This field may not be null."]
    assert Customer.objects.count() == 0


def test_company_update_null_tracked_data_rejected_not_500(manager_client):
    company = CompanyFactory(tracked_data={"plan": "pro"})

    response = manager_client.put(
        f"/api/v1/companies/{company.pk}/", {"name": "Renamed", "tracked_data": None}
    )

    assert response.status_code == 400
    company.refresh_from_db()
    assert company.name != "Renamed"
    assert company.tracked_data == {"plan": "pro"}


def test_customer_create_bad_extra_emails_reported(manager_client):
    response = manager_client.post(
        "/api/v1/customers/", {"first_name": "Ada", "emails": ["ok@example.com", "no"]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["emails"] == {
        "1": ["Enter a valid email address."]
    }


def test_customer_empty_visitor_id_stored_as_null(manager_client):
    first = manager_client.post(
        "/api/v1/customers/", {"first_name": "Ada", "visitor_id": ""}
    )
    second = manager_client.post(
        "/api/v1/customers/", {"first_name": "Bob", "visitor_id": ""}
    )

    assert first.status_code == 201
    assert second.status_code == 201
    assert list(Customer.objects.values_list("visitor_id", flat=True)) == [None, None]


def test_customer_duplicate_visitor_id_rejected(manager_client):
    CustomerFactory(visitor_id="visitor-1")

    response = manager_client.post(
        "/api/v1/customers/", {"first_name": "Bob", "visitor_id": "visitor-1"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["visitor_id"] == [
        "customer with this visitor id already exists."
    ]


def test_company_create_bad_fields_reported_per_field(manager_client):
    response = manager_client.post(
        "/api/v1/companies/",
        {"name": "", "website": "not a url", "size": -5, "parent": 999999},
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["name"] == ["This field may not be blank."]
    assert fields["website"] == ["Enter a valid URL."]
    assert fields["size"] == ["Ensure this value is greater than or equal to 0."]
    assert fields["parent"] == ['Invalid pk "999999" - object does not exist.']
    assert Company.objects.count() == 0
