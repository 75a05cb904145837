import csv
import io

import jsonschema
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.factories import (
    CompanyFactory,
    CustomerFactory,
    LeadFactory,
    TagFactory,
    VisitorFactory,
)
from contacts.models import Customer
from events.identity import rebuild_event_stats
from events.models import Event, Site
from segments.models import Segment

pytestmark = pytest.mark.django_db


def country_rules(country: str) -> dict:
    return {
        "type": "group",
        "conjunction": "and",
        "negate": False,
        "conditions": [
            {
                "type": "property",
                "property": "country",
                "operator": "is",
                "value": country,
            }
        ],
    }


@pytest.fixture
def germany_segment():
    return Segment.objects.create(
        name="Germany", content_type="customer", rules=country_rules("Germany")
    )


@pytest.fixture
def german_contacts():
    customers = CustomerFactory.create_batch(3, country="Germany")
    LeadFactory(country="Germany")
    VisitorFactory(country="Germany")
    CustomerFactory(country="France")
    return customers


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_segment_create_manager_saves_owner_and_rules(manager_client):
    response = manager_client.post(
        "/api/v1/segments/",
        {
            "name": "Germany",
            "content_type": "customer",
            "rules": country_rules("Germany"),
        },
    )

    assert response.status_code == 201
    segment = Segment.objects.get()
    assert segment.owner.username == "manager"
    assert segment.rules["conditions"][0]["value"] == "Germany"


def test_segment_create_bad_rules_keyed_by_path_and_nothing_saved(manager_client):
    rules = {
        "type": "group",
        "conjunction": "and",
        "conditions": [
            {"type": "property", "property": "country", "operator": "is", "value": "X"},
            {
                "type": "group",
                "conjunction": "or",
                "conditions": [
                    {"type": "property", "property": "no_such_field", "operator": "is"}
                ],
            },
        ],
    }

    response = manager_client.post(
        "/api/v1/segments/", {"name": "Bad", "content_type": "customer", "rules": rules}
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert list(fields["rules"]) == ["conditions[1].conditions[0].property"]
    assert Segment.objects.count() == 0


def test_segment_create_bad_fields_reported_per_field(manager_client):
    response = manager_client.post(
        "/api/v1/segments/",
        {"name": "", "content_type": "planet", "color": "red"},
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["name"] == ["This field may not be blank."]
    assert fields["content_type"] == ['"planet" is not a valid choice.']
    assert fields["color"] == [
        "Enter a colour as # and six hex digits, for example #4f46e5."
    ]
    assert Segment.objects.count() == 0


def test_segment_create_parent_of_other_type_rejected(manager_client):
    companies = Segment.objects.create(name="Companies", content_type="company")

    response = manager_client.post(
        "/api/v1/segments/",
        {"name": "Child", "content_type": "customer", "parent": companies.pk},
    )

    assert response.status_code == 400
    assert "parent" in response.json()["error"]["fields"]


def test_segment_permissions_per_role(
    anonymous_client,
    no_permission_client,
    viewer_client,
    manager_client,
    germany_segment,
):
    url = f"/api/v1/segments/{germany_segment.pk}/"

    assert anonymous_client.get(url).status_code == 401
    assert no_permission_client.get(url).status_code == 403
    assert viewer_client.get(url).status_code == 200
    assert viewer_client.patch(url, {"name": "Renamed"}).status_code == 403
    assert manager_client.patch(url, {"name": "Renamed"}).status_code == 200
    germany_segment.refresh_from_db()
    assert germany_segment.name == "Renamed"


def test_segment_delete_used_segment_gets_409_naming_user(manager_client):
    parent = Segment.objects.create(name="Parent", content_type="customer")
    Segment.objects.create(name="Child", content_type="customer", parent=parent)

    response = manager_client.delete(f"/api/v1/segments/{parent.pk}/")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert '"Child"' in error["message"]
    assert Segment.objects.count() == 2


def test_preview_counts_unsaved_rules_with_total_and_sample(
    manager_client, german_contacts
):
    response = manager_client.post(
        "/api/v1/segments/preview/",
        {
            "content_type": "customer",
            "rules": country_rules("Germany"),
            "sample_size": 2,
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["total"] == 4
    assert len(body["sample"]) == 2
    assert {row["country"] for row in body["sample"]} == {"Germany"}


def test_preview_viewer_without_change_permission_gets_403(viewer_client):
    response = viewer_client.post(
        "/api/v1/segments/preview/",
        {"content_type": "customer", "rules": country_rules("Germany")},
    )

    assert response.status_code == 403


def test_preview_bad_rules_keyed_by_path(manager_client):
    rules = country_rules("Germany")
    rules["conditions"][0]["operator"] = "gte"

    response = manager_client.post(
        "/api/v1/segments/preview/", {"content_type": "customer", "rules": rules}
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]["rules"]) == [
        "conditions[0].operator"
    ]


def test_segment_count_list_members_and_csv_agree(
    viewer_client, germany_segment, german_contacts
):
    listed = viewer_client.get("/api/v1/customers/", {"segment": germany_segment.pk})
    counted = viewer_client.get(f"/api/v1/segments/{germany_segment.pk}/count/")
    members = viewer_client.get(
        f"/api/v1/segments/{germany_segment.pk}/members/", {"page_size": 2}
    )
    exported = viewer_client.get(
        f"/api/v1/segments/{germany_segment.pk}/members/", {"format": "csv"}
    )

    expected_ids = {customer.pk for customer in german_contacts}
    assert listed.json()["count"] == 3
    assert counted.json()["count"] == 3
    first_page = members.json()
    second_page = viewer_client.get(first_page["next"]).json()
    member_ids = {row["id"] for row in first_page["results"] + second_page["results"]}
    assert member_ids == expected_ids
    assert second_page["next"] is None
    assert exported.status_code == 200
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert {int(row["id"]) for row in csv_rows(exported)} == expected_ids


def test_customer_list_company_segment_rejected(viewer_client):
    segment = Segment.objects.create(name="Companies", content_type="company")

    response = viewer_client.get("/api/v1/customers/", {"segment": segment.pk})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["segment"] == [
        f"Segment {segment.pk} selects companies; filter the companies list with it."
    ]


def test_customer_list_unknown_segment_rejected(viewer_client):
    response = viewer_client.get("/api/v1/customers/", {"segment": 987654})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["segment"] == [
        "Segment 987654 does not exist."
    ]


def test_company_segment_members_csv_lists_companies(viewer_client):
    CompanyFactory(name="Embraer", country="Brazil")
    CompanyFactory(name="Riotur", country="Brazil")
    CompanyFactory(name="Apple", country="USA")
    segment = Segment.objects.create(
        name="Brazil", content_type="company", rules=country_rules("Brazil")
    )

    exported = viewer_client.get(
        f"/api/v1/segments/{segment.pk}/members/", {"format": "csv"}
    )
    listed = viewer_client.get("/api/v1/companies/", {"segment": segment.pk})

    assert sorted(row["name"] for row in csv_rows(exported)) == ["Embraer", "Riotur"]
    assert listed.json()["count"] == 2


def test_explain_hides_sql_from_non_superusers(
    viewer_client, admin_user, germany_segment, german_contacts
):
    from rest_framework.test import APIClient

    superuser_client = APIClient()
    superuser_client.force_authenticate(admin_user)

    as_viewer = viewer_client.get(f"/api/v1/segments/{germany_segment.pk}/explain/")
    as_superuser = superuser_client.get(
        f"/api/v1/segments/{germany_segment.pk}/explain/"
    )

    assert as_viewer.status_code == 200
    assert "SELECT" not in str(as_viewer.json())
    assert "SELECT" in str(as_superuser.json())
    assert as_viewer.json()["count"] == 3


def test_why_marks_each_condition_for_a_contact(
    viewer_client, germany_segment, german_contacts
):
    french = CustomerFactory(country="France")

    member = viewer_client.get(
        f"/api/v1/segments/{germany_segment.pk}/why/{german_contacts[0].pk}/"
    )
    outsider = viewer_client.get(
        f"/api/v1/segments/{germany_segment.pk}/why/{french.pk}/"
    )
    missing = viewer_client.get(f"/api/v1/segments/{germany_segment.pk}/why/999999/")

    assert member.status_code == 200
    assert member.json()["member"] is True
    assert member.json()["tree"]["conditions"][0]["matched"] is True
    assert outsider.json()["member"] is False
    assert outsider.json()["tree"]["conditions"][0]["matched"] is False
    assert missing.status_code == 404


def test_catalogue_lists_properties_and_rejects_unknown_type(viewer_client):
    listed = viewer_client.get("/api/v1/catalogue/", {"content_type": "customer"})
    rejected = viewer_client.get("/api/v1/catalogue/", {"content_type": "planet"})

    assert listed.status_code == 200
    names = {prop["name"] for prop in listed.json()["properties"]}
    assert {"country", "primary_email", "tags"} <= names
    assert rejected.status_code == 400
    assert "content_type" in rejected.json()["error"]["fields"]


def resolved(schema, components):
    """The schema with every $ref replaced by the component it names."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return resolved(components[name], components)
        return {key: resolved(value, components) for key, value in schema.items()}
    if isinstance(schema, list):
        return [resolved(item, components) for item in schema]
    return schema


@pytest.mark.parametrize("content_type", ["customer", "company"])
def test_catalogue_response_matches_documented_schema(viewer_client, content_type):
    # given a tracked key and an event with attributes
    site = Site.objects.create(name="Shop")
    customer = CustomerFactory(tracked_data={"total_spend": 120})
    Event.objects.create(
        site=site,
        customer=customer,
        name="pricing_viewed",
        attributes={"plan": "pro", "seats": 3},
        occurred_at=timezone.now(),
    )
    rebuild_event_stats(customer)
    schema = viewer_client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    operation = schema["paths"]["/api/v1/catalogue/"]["get"]
    documented = operation["responses"]["200"]["content"]["application/json"]

    # when
    response = viewer_client.get("/api/v1/catalogue/", {"content_type": content_type})

    # then the docs name every field the response has, with its type
    jsonschema.validate(response.json(), resolved(documented["schema"], components))
    assert set(components["Catalogue"]["required"]) == set(response.json())
    if content_type == "customer":
        assert response.json()["events"][0]["attributes"] == [
            {"key": "plan", "types": ["text"]},
            {"key": "seats", "types": ["number"]},
        ]


def test_catalogue_without_view_permission_gets_403(no_permission_client):
    response = no_permission_client.get(
        "/api/v1/catalogue/", {"content_type": "customer"}
    )

    assert response.status_code == 403


def test_members_csv_exports_every_row_past_12000(viewer_client):
    from contacts.models import Customer

    Customer.objects.bulk_create(
        Customer(first_name=f"Member {index}", country="Germany")
        for index in range(12_345)
    )
    segment = Segment.objects.create(
        name="Germany", content_type="customer", rules=country_rules("Germany")
    )

    exported = viewer_client.get(
        f"/api/v1/segments/{segment.pk}/members/", {"format": "csv"}
    )

    rows = csv_rows(exported)
    assert len(rows) == 12_345
    assert len({row["id"] for row in rows}) == 12_345


def members_page_queries(client, segment, contacts: int) -> int:
    tag = TagFactory()
    company = CompanyFactory()
    for _ in range(contacts):
        customer = CustomerFactory(country="Germany")
        customer.tags.add(tag)
        customer.companies.add(company)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/segments/{segment.pk}/members/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == contacts
    assert response.json()["results"][0]["tags"] == [tag.pk]
    return len(queries)


def test_members_page_queries_do_not_grow_with_contacts(viewer_client, germany_segment):
    # given a page of 3 members, then one of 30, each with a tag and a company
    few = members_page_queries(viewer_client, germany_segment, 3)
    Customer.objects.all().delete()

    # when
    many = members_page_queries(viewer_client, germany_segment, 30)

    # then the tags and companies come in one query each, not one per member
    assert many == few
