import json

import pytest

from contacts.factories import CustomerFactory
from segments.models import Segment, SegmentMembership, SegmentSizeSnapshot
from segments.recount import recount_segment
from tests.segments.fixtures.builders import (
    country_is,
    make_segment,
    property_is,
    rules_of,
    segment_ref,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/segments/segment/"


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def germany():
    CustomerFactory(country="Germany")
    CustomerFactory(country="Germany")
    return make_segment("Customers in Germany", country_is("Germany"), color="#f59e0b")


def form_data(**overrides):
    data = {
        "name": "Customers in France",
        "description": "",
        "color": "#4f46e5",
        "content_type": "customer",
        "parent": "",
        "rules": json.dumps(rules_of(country_is("France"))),
        "owner": "",
    }
    data.update(overrides)
    return data


def test_admin_list_shows_columns(staff_client, germany):
    make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Customers in Germany" in content
    assert "background:#f59e0b" in content
    for column in ["colour", "Content type", "Sub-segment of", "Member count"]:
        assert column in content


def test_admin_list_search_by_name(staff_client, germany):
    make_segment("Customers in France", country_is("France"))

    response = staff_client.get(CHANGELIST, {"q": "germ"})

    assert list(response.context["cl"].result_list) == [germany]


def test_admin_list_filter_by_type(staff_client, germany):
    companies = make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.get(CHANGELIST, {"content_type__exact": "company"})

    assert list(response.context["cl"].result_list) == [companies]


def test_admin_add_valid_rules_saves_segment(staff_client):
    response = staff_client.post(f"{CHANGELIST}add/", form_data())

    assert response.status_code == 302
    segment = Segment.objects.get()
    assert segment.name == "Customers in France"
    assert segment.rules["conditions"][0]["value"] == "France"


def test_admin_add_invalid_rules_rejected_by_path(staff_client):
    rules = rules_of(
        country_is("France"),
        {
            "type": "property",
            "property": "session_count",
            "operator": "gt",
            "value": "many",
        },
    )

    response = staff_client.post(
        f"{CHANGELIST}add/", form_data(rules=json.dumps(rules))
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["rules"]
    assert len(errors) == 1
    assert errors[0].startswith("conditions[1].value: ")
    assert Segment.objects.count() == 0


def test_admin_add_malformed_json_saves_nothing(staff_client):
    response = staff_client.post(f"{CHANGELIST}add/", form_data(rules="{not json"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rules"] == ["Enter a valid JSON."]
    assert Segment.objects.count() == 0


def test_admin_change_invalid_rules_keeps_stored_rules(staff_client, germany):
    bad = rules_of({"type": "property", "property": "no_such", "operator": "is"})

    response = staff_client.post(
        f"{CHANGELIST}{germany.pk}/change/",
        form_data(name="Renamed", rules=json.dumps(bad)),
    )

    assert response.status_code == 200
    assert (
        response.context["adminform"]
        .form.errors["rules"][0]
        .startswith("conditions[0].property: ")
    )
    germany.refresh_from_db()
    assert germany.name == "Customers in Germany"
    assert germany.rules == rules_of(country_is("Germany"))


def test_admin_parent_of_other_type_rejected(staff_client):
    companies = make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.post(
        f"{CHANGELIST}add/", form_data(parent=str(companies.pk))
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["parent"] == [
        "The parent segment selects Companies, but this segment selects "
        "Customers. Choose a parent of the same type."
    ]
    assert Segment.objects.count() == 1


def test_admin_recount_action_stores_counts(staff_client, germany):
    response = staff_client.post(
        CHANGELIST,
        {"action": "recount", "_selected_action": [germany.pk]},
        follow=True,
    )

    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["Recounted 1 segment: 2 members, 2 entered, 0 exited."]
    germany.refresh_from_db()
    assert germany.member_count == 2
    assert SegmentSizeSnapshot.objects.filter(segment=germany).count() == 1


def test_admin_export_action_returns_json(staff_client, germany):
    response = staff_client.post(
        CHANGELIST, {"action": "export_json", "_selected_action": [germany.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="segments-')
    payload = json.loads(response.content)
    assert [entry["name"] for entry in payload["segments"]] == ["Customers in Germany"]


def test_admin_delete_referenced_segment_refused_names_users(staff_client, germany):
    recount_segment(germany)
    make_segment("Berliners", property_is("city", "Berlin"), parent=germany)
    make_segment("Germans again", segment_ref(germany))
    url = f"{CHANGELIST}{germany.pk}/delete/"

    page = staff_client.get(url)
    response = staff_client.post(url, {"post": "yes"})

    content = page.content.decode()
    assert "Cannot delete segment" in content
    assert "Berliners" in content
    assert "Germans again" in content
    assert 'references "Customers in Germany" in its rules' in content
    assert response.status_code == 200
    assert Segment.objects.filter(pk=germany.pk).exists()


def test_admin_bulk_delete_used_segment_refused(staff_client, germany):
    make_segment("Germans again", segment_ref(germany))

    response = staff_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [germany.pk], "post": "yes"},
    )

    assert "Germans again" in response.content.decode()
    assert Segment.objects.count() == 2


def test_admin_delete_unused_segment_removes_it(staff_client, germany):
    recount_segment(germany)

    response = staff_client.post(f"{CHANGELIST}{germany.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Segment.objects.filter(pk=germany.pk).exists()
    assert SegmentMembership.objects.count() == 0
    assert SegmentSizeSnapshot.objects.count() == 0


def test_admin_bulk_delete_parent_with_child_succeeds(staff_client, germany):
    child = make_segment("Berliners", property_is("city", "Berlin"), parent=germany)

    response = staff_client.post(
        CHANGELIST,
        {
            "action": "delete_selected",
            "_selected_action": [germany.pk, child.pk],
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert Segment.objects.count() == 0


def test_admin_membership_and_snapshot_lists_render(staff_client, germany):
    recount_segment(germany)

    memberships = staff_client.get("/admin/segments/segmentmembership/?stay=open")
    snapshots = staff_client.get("/admin/segments/segmentsizesnapshot/")

    assert memberships.status_code == 200
    assert len(memberships.context["cl"].result_list) == 2
    assert snapshots.status_code == 200
    assert SegmentMembership.objects.count() == 2


def test_admin_recount_action_lock_busy_shows_error(staff_client, germany):
    from django.db import connections

    from segments.recount import recount_lock

    other = connections.create_connection("default")
    try:
        with recount_lock(connection=other):
            response = staff_client.post(
                CHANGELIST,
                {"action": "recount", "_selected_action": [germany.pk]},
                follow=True,
            )
    finally:
        other.close()

    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        "Another recount is running, so this one did not start. Try again when "
        "it has finished."
    ]
    assert SegmentSizeSnapshot.objects.count() == 0
