import re

import pytest
from django.test import Client
from django.urls import reverse

from contacts.models import Tag
from tests.security.conftest import user_for_role

pytestmark = pytest.mark.django_db

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TAG_FORM = {
    "name": "vip",
    "owner_type": "customer",
    "color": "#112233",
    "created_at_0": "2026-03-15",
    "created_at_1": "12:00:00",
}
# A <script> element with no src attribute runs inline code, which the
# admin's Content-Security-Policy (script-src 'self') blocks.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>")


@pytest.fixture
def csrf_client(db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_for_role("superuser"))
    return client


def test_admin_add_form_without_csrf_token_rejected(csrf_client):
    # given a logged-in superuser whose POST carries no CSRF token
    # when
    response = csrf_client.post("/admin/contacts/tag/add/", TAG_FORM)

    # then
    assert response.status_code == 403
    assert Tag.objects.count() == 0


def test_admin_add_form_with_wrong_csrf_token_rejected(csrf_client):
    # given
    csrf_client.get("/admin/contacts/tag/add/")

    # when
    response = csrf_client.post(
        "/admin/contacts/tag/add/",
        {**TAG_FORM, "csrfmiddlewaretoken": "x" * 64},
    )

    # then
    assert response.status_code == 403
    assert Tag.objects.count() == 0


def test_admin_add_form_with_csrf_token_saves(csrf_client):
    # given the token from the form the admin rendered
    page = csrf_client.get("/admin/contacts/tag/add/")
    token = CSRF_FIELD.search(page.content.decode()).group(1)

    # when
    response = csrf_client.post(
        "/admin/contacts/tag/add/", {**TAG_FORM, "csrfmiddlewaretoken": token}
    )

    # then
    assert response.status_code == 302
    assert list(Tag.objects.values_list("name", flat=True)) == ["vip"]


def test_admin_delete_without_csrf_token_rejected(csrf_client):
    # given
    tag = Tag.objects.create(name="vip")

    # when
    response = csrf_client.post(
        reverse("admin:contacts_tag_delete", args=[tag.pk]), {"post": "yes"}
    )

    # then
    assert response.status_code == 403
    assert Tag.objects.filter(pk=tag.pk).exists()


def test_logout_without_csrf_token_rejected(csrf_client):
    # when
    response = csrf_client.post("/admin/logout/")

    # then
    assert response.status_code == 403


def test_api_session_write_without_csrf_token_rejected(db):
    # given a session (not a token) of a user who may add segments
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_for_role("superuser"))

    # when
    response = client.post(
        "/api/v1/segments/",
        {"name": "New", "content_type": "customer"},
        content_type="application/json",
    )

    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "CSRF" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/contacts/customer/",
        "/admin/contacts/customer/{customer}/change/",
        "/admin/contacts/company/{company}/change/",
        "/admin/segments/segment/",
        "/admin/segments/segment/add/",
        "/admin/segments/segment/{segment}/change/",
        "/admin/events/site/{site}/change/",
        "/admin/events/event/{event}/change/",
    ],
)
def test_admin_page_has_no_inline_script(one_of_each, path):
    # given
    client = Client()
    client.force_login(user_for_role("superuser"))

    # when
    response = client.get(
        path.format(**{name: row.pk for name, row in one_of_each.items()})
    )

    # then
    assert response.status_code == 200
    assert INLINE_SCRIPT.findall(response.content.decode()) == []
