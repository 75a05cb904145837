"""The segment admin around the rule builder: list columns and actions,
permissions, escaping, the explain-preview endpoint and the segment page."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from contacts.factories import CompanyFactory, CustomerFactory, UserFactory
from segments.models import Segment, SegmentMembership, SegmentSizeSnapshot
from segments.recount import recount_segment
from tests.segments.fixtures.builders import country_is, make_segment, rules_of

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/segments/segment/"
PREVIEW = "/api/v1/segments/preview/"
EXPLAIN_PREVIEW = "/api/v1/segments/explain-preview/"
EVIL = '<script>alert("x")</script>'


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def staff_with(*codenames):
    user = UserFactory(username="-".join(codenames) or "nobody")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="segments", codename__in=codenames
        )
    )
    return user


@pytest.fixture
def germany():
    CustomerFactory(country="Germany")
    CustomerFactory(country="Germany")
    CustomerFactory(country="France")
    return make_segment("Customers in Germany", country_is("Germany"))


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


def test_admin_list_members_link_filters_contact_list(staff_client, germany):
    companies = make_segment("US companies", country_is("USA"), content_type="company")

    content = staff_client.get(CHANGELIST).content.decode()

    assert f'href="/admin/contacts/customer/?segment={germany.pk}"' in content
    assert f'href="/admin/contacts/company/?segment={companies.pk}"' in content


def test_admin_list_escapes_segment_name(staff_client):
    make_segment(EVIL, country_is("Germany"))

    content = staff_client.get(CHANGELIST).content.decode()

    assert EVIL not in content
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in content


def test_admin_change_form_escapes_names_in_builder_config(staff_client, germany):
    make_segment(EVIL, country_is("France"))

    response = staff_client.get(f"{CHANGELIST}{germany.pk}/change/")

    content = response.content.decode()
    assert EVIL not in content
    assert "\\u003Cscript\\u003E" in content
    config = response.context["builder_config"]
    assert config["editable"] is True
    assert {segment["name"] for segment in config["segments"]} == {
        "Customers in Germany",
        EVIL,
    }


def test_admin_recount_action_stores_count(staff_client, germany):
    response = staff_client.post(
        CHANGELIST, {"action": "recount", "_selected_action": [germany.pk]}
    )

    assert response.status_code == 302
    germany.refresh_from_db()
    assert germany.member_count == 2
    assert germany.counted_at is not None


def test_admin_export_csv_action_lists_members(staff_client, germany):
    response = staff_client.post(
        CHANGELIST, {"action": "export_csv", "_selected_action": [germany.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["segment_id", "segment", "id", "state"]
    assert len(rows) == 3
    assert {row[1] for row in rows[1:]} == {"Customers in Germany"}
    assert {row[9] for row in rows[1:]} == {"Germany"}


def test_admin_export_csv_mixed_kinds_rejected(staff_client, germany):
    companies = make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.post(
        CHANGELIST,
        {"action": "export_csv", "_selected_action": [germany.pk, companies.pk]},
        follow=True,
    )

    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        "The selection mixes company segments with contact segments. Select "
        "segments of one kind and export again."
    ]


def test_admin_duplicate_action_copies_rules_uncounted(staff_client, germany):
    recount_segment(germany)

    staff_client.post(
        CHANGELIST, {"action": "duplicate", "_selected_action": [germany.pk]}
    )

    copy = Segment.objects.get(name="Customers in Germany (copy)")
    assert copy.rules == germany.rules
    assert copy.content_type == germany.content_type
    assert copy.member_count is None
    assert copy.pk != germany.pk


def test_admin_view_only_user_cannot_save(client, germany):
    client.force_login(staff_with("view_segment"))

    response = client.post(
        f"{CHANGELIST}{germany.pk}/change/",
        form_data(rules=json.dumps(rules_of(country_is("France")))),
    )

    assert response.status_code == 403
    germany.refresh_from_db()
    assert germany.rules["conditions"][0]["value"] == "Germany"


def test_admin_view_only_user_cannot_preview(client, germany):
    client.force_login(staff_with("view_segment"))

    preview = client.post(
        PREVIEW,
        {"content_type": "customer", "rules": rules_of(country_is("Germany"))},
        content_type="application/json",
    )
    explain = client.post(
        EXPLAIN_PREVIEW,
        {"content_type": "customer", "rules": rules_of(country_is("Germany"))},
        content_type="application/json",
    )

    assert preview.status_code == 403
    assert explain.status_code == 403


def test_admin_view_only_user_sees_count_without_edit_controls(client, germany):
    recount_segment(germany)
    client.force_login(staff_with("view_segment"))

    response = client.get(f"{CHANGELIST}{germany.pk}/change/")

    assert response.status_code == 200
    config = response.context["builder_config"]
    assert config["editable"] is False
    assert config["memberCount"] == 2
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert 'id="id_rules"' not in content


def test_admin_view_only_user_list_has_counts_no_actions(client, germany):
    recount_segment(germany)
    client.force_login(staff_with("view_segment"))

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    action_names = [
        name
        for name, _label in response.context["action_form"].fields["action"].choices
    ]
    assert "recount" not in action_names
    assert "duplicate" not in action_names
    assert response.context["cl"].result_list[0].member_count == 2


def test_admin_user_without_permissions_gets_403(client, germany):
    client.force_login(staff_with())

    page = client.get(f"{CHANGELIST}{germany.pk}/change/")
    preview = client.post(
        PREVIEW,
        {"content_type": "customer", "rules": rules_of()},
        content_type="application/json",
    )

    assert page.status_code == 403
    assert preview.status_code == 403


def test_explain_preview_counts_each_condition(staff_client, germany):
    rules = rules_of(country_is("Germany"), country_is("France"), conjunction="or")

    response = staff_client.post(
        EXPLAIN_PREVIEW,
        {"content_type": "customer", "rules": rules},
        content_type="application/json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["total"] == 3
    assert [node["matches"] for node in body["tree"]["conditions"]] == [2, 1]
    assert [node["path"] for node in body["tree"]["conditions"]] == [
        "conditions[0]",
        "conditions[1]",
    ]
    assert "SELECT" in body["sql"]


def test_explain_preview_hides_sql_from_non_superuser(client, germany):
    client.force_login(staff_with("view_segment", "change_segment"))

    response = client.post(
        EXPLAIN_PREVIEW,
        {"content_type": "customer", "rules": rules_of(country_is("Germany"))},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert "sql" not in response.json()
    assert response.json()["count"] == 2


def test_explain_preview_invalid_rules_keyed_by_path(staff_client):
    rules = rules_of(
        {"type": "property", "property": "session_count", "operator": "gt"}
    )

    response = staff_client.post(
        EXPLAIN_PREVIEW,
        {"content_type": "customer", "rules": rules},
        content_type="application/json",
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]["rules"]
    assert list(fields) == ["conditions[0].value"]


def test_admin_segment_page_shows_history_and_stays(staff_client, germany):
    recount_segment(germany)
    SegmentSizeSnapshot.objects.create(
        segment=germany, member_count=5, taken_at=timezone.now()
    )
    leaver = SegmentMembership.objects.filter(segment=germany).first()
    leaver.exited_at = timezone.now()
    leaver.save(update_fields=["exited_at"])

    response = staff_client.get(f"{CHANGELIST}{germany.pk}/change/")

    history = response.context["size_history"]
    assert history["count"] == 2
    assert history["highest"] == 5
    assert len(response.context["stays"]["entered"]) == 2
    assert response.context["stays"]["exited"] == [leaver]
    content = response.content.decode()
    assert "<polyline" in content
    assert "Latest exited" in content
    assert f'href="/admin/contacts/customer/{leaver.customer_id}/change/"' in content


def test_admin_add_sets_owner(staff_client, admin_user):
    response = staff_client.post(f"{CHANGELIST}add/", form_data())

    assert response.status_code == 302
    assert Segment.objects.get().owner == admin_user


def test_admin_company_segment_members_link(staff_client):
    CompanyFactory(country="USA")
    companies = make_segment("US companies", country_is("USA"), content_type="company")

    response = staff_client.get(f"/admin/contacts/company/?segment={companies.pk}")

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1
