"""The audit log records who changed a segment's definition, when, and the
values before and after, through the API, the admin and the import command."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from segments.audit import SegmentRulesChange
from segments.models import Segment
from tests.security.conftest import user_for_role

pytestmark = pytest.mark.django_db


def country_is(country: str) -> dict:
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
def manager():
    return user_for_role("manager")


@pytest.fixture
def api(manager):
    client = APIClient()
    token = Token.objects.create(user=manager)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def admin_client(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def france():
    return Segment.objects.create(
        name="Customers in France", rules=country_is("France")
    )


def test_audit_api_create_records_after_without_before(api, manager):
    # when
    response = api.post(
        "/api/v1/segments/",
        {"name": "Germany", "content_type": "customer", "rules": country_is("Germany")},
        format="json",
    )

    # then
    assert response.status_code == 201
    change = SegmentRulesChange.objects.get()
    assert change.segment_id == response.json()["id"]
    assert change.user == manager
    assert change.username == "manager"
    assert change.before is None
    assert change.after == {
        "name": "Germany",
        "content_type": "customer",
        "parent": None,
        "rules": country_is("Germany"),
    }
    assert change.changed_fields == ["name", "content_type", "parent", "rules"]


def test_audit_api_rules_change_records_before_and_after(api, manager, france):
    # when
    response = api.patch(
        f"/api/v1/segments/{france.pk}/",
        {"rules": country_is("Spain")},
        format="json",
    )

    # then
    assert response.status_code == 200
    change = SegmentRulesChange.objects.get()
    assert change.segment == france
    assert change.user == manager
    assert change.changed_fields == ["rules"]
    assert change.before["rules"] == country_is("France")
    assert change.after["rules"] == country_is("Spain")


def test_audit_api_name_and_parent_change_recorded(api, france):
    # given
    parent = Segment.objects.create(name="Everyone")

    # when
    response = api.patch(
        f"/api/v1/segments/{france.pk}/",
        {"name": "France (all)", "parent": parent.pk},
        format="json",
    )

    # then
    assert response.status_code == 200
    change = SegmentRulesChange.objects.get()
    assert change.changed_fields == ["name", "parent"]
    assert change.before["name"] == "Customers in France"
    assert change.after["name"] == "France (all)"
    assert change.before["parent"] is None
    assert change.after["parent"] == parent.pk
    assert change.segment_name == "France (all)"


def test_audit_api_description_only_writes_no_row(api, france):
    # when
    response = api.patch(
        f"/api/v1/segments/{france.pk}/", {"description": "EU"}, format="json"
    )

    # then
    assert response.status_code == 200
    assert SegmentRulesChange.objects.count() == 0


def test_audit_api_rejected_rules_write_no_row(api, france):
    # given rules that name a property outside the catalogue
    bad_rules = country_is("Spain")
    bad_rules["conditions"][0]["property"] = "password"

    # when
    response = api.patch(
        f"/api/v1/segments/{france.pk}/", {"rules": bad_rules}, format="json"
    )

    # then
    assert response.status_code == 400
    assert SegmentRulesChange.objects.count() == 0
    france.refresh_from_db()
    assert france.rules == country_is("France")


def admin_form(**overrides) -> dict:
    data = {
        "name": "Customers in Spain",
        "description": "",
        "color": "#4f46e5",
        "content_type": "customer",
        "parent": "",
        "rules": json.dumps(country_is("Spain")),
        "owner": "",
    }
    data.update(overrides)
    return data


def test_audit_admin_add_records_after_without_before(admin_client, manager):
    # when
    response = admin_client.post("/admin/segments/segment/add/", admin_form())

    # then
    assert response.status_code == 302
    change = SegmentRulesChange.objects.get()
    assert change.segment == Segment.objects.get(name="Customers in Spain")
    assert change.user == manager
    assert change.before is None
    assert change.after["rules"] == country_is("Spain")


def test_audit_admin_change_records_before_and_after(admin_client, manager, france):
    # when
    response = admin_client.post(
        f"/admin/segments/segment/{france.pk}/change/",
        admin_form(name="Customers in France", rules=json.dumps(country_is("Italy"))),
    )

    # then
    assert response.status_code == 302
    change = SegmentRulesChange.objects.get()
    assert change.segment == france
    assert change.user == manager
    assert change.changed_fields == ["rules"]
    assert change.before["rules"] == country_is("France")
    assert change.after["rules"] == country_is("Italy")


def test_audit_admin_invalid_form_writes_no_row(admin_client, france):
    # when
    response = admin_client.post(
        f"/admin/segments/segment/{france.pk}/change/",
        admin_form(rules="{not json"),
    )

    # then
    assert response.status_code == 200
    assert SegmentRulesChange.objects.count() == 0


def test_audit_row_outlives_deleted_segment(api, france):
    # given
    api.patch(
        f"/api/v1/segments/{france.pk}/", {"rules": country_is("Spain")}, format="json"
    )

    # when
    response = api.delete(f"/api/v1/segments/{france.pk}/")

    # then
    assert response.status_code == 204
    change = SegmentRulesChange.objects.get()
    assert change.segment is None
    assert change.segment_name == "Customers in France"


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("manager", 403), ("superuser", 200)]
)
def test_audit_admin_list_read_only(france, role, expected):
    # given
    SegmentRulesChange.objects.create(
        segment=france, segment_name=france.name, after={"name": france.name}
    )
    client = Client()
    client.force_login(user_for_role(role))

    # when
    listing = client.get("/admin/segments/segmentruleschange/")
    adding = client.get("/admin/segments/segmentruleschange/add/")

    # then
    assert listing.status_code == expected
    assert adding.status_code == 403


def test_audit_admin_duplicate_records_each_copy(admin_client, manager, france):
    # given
    spain = Segment.objects.create(name="Customers in Spain", rules=country_is("Spain"))

    # when
    response = admin_client.post(
        "/admin/segments/segment/",
        {"action": "duplicate", "_selected_action": [france.pk, spain.pk]},
    )

    # then
    assert response.status_code == 302
    changes = list(SegmentRulesChange.objects.order_by("id"))
    assert len(changes) == 2
    first, second = changes
    assert first.segment == Segment.objects.get(name="Customers in France (copy)")
    assert first.user == manager
    assert first.username == "manager"
    assert first.before is None
    assert first.changed_fields == ["name", "content_type", "parent", "rules"]
    assert first.after == {
        "name": "Customers in France (copy)",
        "content_type": "customer",
        "parent": None,
        "rules": country_is("France"),
        "source": f'Duplicate of segment {france.pk} "Customers in France"',
    }
    assert second.segment == Segment.objects.get(name="Customers in Spain (copy)")
    assert second.after["rules"] == country_is("Spain")


def test_audit_admin_duplicate_without_add_permission_writes_nothing(france):
    # given
    client = Client()
    client.force_login(user_for_role("viewer"))

    # when
    response = client.post(
        "/admin/segments/segment/",
        {"action": "duplicate", "_selected_action": [france.pk]},
    )

    # then the admin offers no such action to a viewer and changes nothing
    assert response.status_code == 302
    assert Segment.objects.count() == 1
    assert SegmentRulesChange.objects.count() == 0


def export_file(tmp_path, *entries) -> str:
    path = tmp_path / "segments.json"
    path.write_text(
        json.dumps(
            {"format": "erxseg.segments", "version": 1, "segments": list(entries)}
        )
    )
    return str(path)


def file_entry(file_id: int, name: str, rules: dict, parent=None) -> dict:
    return {
        "id": file_id,
        "name": name,
        "content_type": "customer",
        "parent": parent,
        "rules": rules,
    }


def test_audit_import_command_records_each_segment_with_source(tmp_path):
    # given
    path = export_file(
        tmp_path,
        file_entry(1, "Customers in France", country_is("France")),
        file_entry(2, "Paris", country_is("France"), parent=1),
    )

    # when
    call_command("import_segments", path, stdout=io.StringIO())

    # then
    france = Segment.objects.get(name="Customers in France")
    paris = Segment.objects.get(name="Paris")
    changes = list(SegmentRulesChange.objects.order_by("id"))
    assert [change.segment for change in changes] == [france, paris]
    for change in changes:
        assert change.user is None
        assert change.username == ""
        assert change.before is None
        assert change.changed_fields == ["name", "content_type", "parent", "rules"]
        assert change.after["source"] == (
            f'manage.py import_segments "{path}" (erxseg format)'
        )
    assert changes[1].after["parent"] == france.pk
    assert changes[1].after["rules"] == country_is("France")


def test_audit_import_command_dry_run_writes_no_row(tmp_path):
    # given
    path = export_file(tmp_path, file_entry(1, "France", country_is("France")))

    # when
    call_command("import_segments", path, "--dry-run", stdout=io.StringIO())

    # then
    assert Segment.objects.count() == 0
    assert SegmentRulesChange.objects.count() == 0


def test_audit_import_command_rejected_file_writes_no_row(tmp_path):
    # given one valid segment and one whose rules name an unknown property
    bad_rules = country_is("Spain")
    bad_rules["conditions"][0]["property"] = "password"
    path = export_file(
        tmp_path,
        file_entry(1, "France", country_is("France")),
        file_entry(2, "Spain", bad_rules),
    )

    # when
    with pytest.raises(CommandError):
        call_command("import_segments", path, stderr=io.StringIO())

    # then
    assert Segment.objects.count() == 0
    assert SegmentRulesChange.objects.count() == 0
