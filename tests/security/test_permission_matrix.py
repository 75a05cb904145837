"""Who may open which admin screen and call which API endpoint.

Roles: anonymous, staff without permissions, viewer (view_* on contacts,
companies, segments, sites and events), manager (every permission on
contacts, companies, tags, custom fields and segments, none on events) and
superuser. Each row lists the expected status for the five roles in that
order.
"""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.security.conftest import ROLES, user_for_role

pytestmark = pytest.mark.django_db

EMPTY_RULES = {"type": "group", "conjunction": "and", "negate": False, "conditions": []}

# Admin: anonymous users are sent to the login page (302).
ADMIN_SCREENS = [
    # (url, anonymous, staff, viewer, manager, superuser)
    *[
        row
        for model, pk in [
            ("contacts/customer", "customer"),
            ("contacts/company", "company"),
            ("segments/segment", "segment"),
        ]
        for row in [
            (f"/admin/{model}/", 302, 403, 200, 200, 200),
            (f"/admin/{model}/add/", 302, 403, 403, 200, 200),
            (f"/admin/{model}/{{{pk}}}/change/", 302, 403, 200, 200, 200),
            (f"/admin/{model}/{{{pk}}}/delete/", 302, 403, 403, 200, 200),
        ]
    ],
    ("/admin/events/site/", 302, 403, 200, 403, 200),
    ("/admin/events/site/add/", 302, 403, 403, 403, 200),
    ("/admin/events/site/{site}/change/", 302, 403, 200, 403, 200),
    ("/admin/events/site/{site}/delete/", 302, 403, 403, 403, 200),
    # Events are written only by ingest, so nobody adds or deletes them here.
    ("/admin/events/event/", 302, 403, 200, 403, 200),
    ("/admin/events/event/add/", 302, 403, 403, 403, 403),
    ("/admin/events/event/{event}/change/", 302, 403, 200, 403, 200),
    ("/admin/events/event/{event}/delete/", 302, 403, 403, 403, 403),
    ("/admin/", 302, 200, 200, 200, 200),
]

READ = (401, 403, 200, 200, 200)
WRITE_CREATE = (401, 403, 403, 201, 201)
WRITE_CHANGE = (401, 403, 403, 200, 200)
WRITE_DELETE = (401, 403, 403, 204, 204)
API_ENDPOINTS = [
    # (method, url, body, expected statuses per role)
    ("get", "/api/v1/customers/", None, READ),
    ("get", "/api/v1/customers/{customer}/", None, READ),
    (
        "post",
        "/api/v1/customers/",
        {"first_name": "Grace", "primary_email": "grace@example.com"},
        WRITE_CREATE,
    ),
    ("patch", "/api/v1/customers/{customer}/", {"first_name": "Ann"}, WRITE_CHANGE),
    ("delete", "/api/v1/customers/{customer}/", None, WRITE_DELETE),
    ("get", "/api/v1/companies/", None, READ),
    ("get", "/api/v1/companies/{company}/", None, READ),
    ("post", "/api/v1/companies/", {"name": "Initech"}, WRITE_CREATE),
    ("patch", "/api/v1/companies/{company}/", {"name": "Acme Ltd"}, WRITE_CHANGE),
    ("delete", "/api/v1/companies/{company}/", None, WRITE_DELETE),
    ("get", "/api/v1/segments/", None, READ),
    ("get", "/api/v1/segments/{segment}/", None, READ),
    (
        "post",
        "/api/v1/segments/",
        {"name": "New", "content_type": "customer", "rules": EMPTY_RULES},
        WRITE_CREATE,
    ),
    ("patch", "/api/v1/segments/{segment}/", {"name": "Renamed"}, WRITE_CHANGE),
    ("delete", "/api/v1/segments/{segment}/", None, WRITE_DELETE),
    (
        "post",
        "/api/v1/segments/preview/",
        {"content_type": "customer", "rules": EMPTY_RULES},
        (401, 403, 403, 200, 200),
    ),
    ("get", "/api/v1/segments/{segment}/count/", None, READ),
    ("get", "/api/v1/segments/{segment}/members/", None, READ),
    ("get", "/api/v1/segments/{segment}/explain/", None, READ),
    ("get", "/api/v1/segments/{segment}/why/{customer}/", None, READ),
    ("get", "/api/v1/catalogue/?content_type=customer", None, READ),
    ("get", "/api/v1/events/", None, (401, 403, 200, 403, 200)),
    ("get", "/api/v1/events/{event}/", None, (401, 403, 200, 403, 200)),
    # The events endpoint is read-only: even a superuser gets 405.
    ("post", "/api/v1/events/", {"name": "x"}, (401, 403, 403, 403, 405)),
]

MATRIX = [
    pytest.param("admin", "get", url, None, role, expected, id=f"{role} GET {url}")
    for url, *statuses in ADMIN_SCREENS
    for role, expected in zip(ROLES, statuses, strict=True)
] + [
    pytest.param("api", method, url, body, role, expected, id=f"{role} {method} {url}")
    for method, url, body, statuses in API_ENDPOINTS
    for role, expected in zip(ROLES, statuses, strict=True)
]


def client_for(surface: str, role: str):
    user = user_for_role(role)
    if surface == "admin":
        client = Client()
        if user is not None:
            client.force_login(user)
        return client
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.mark.parametrize("surface,method,url,body,role,expected", MATRIX)
def test_permission_matrix_role_gets_expected_status(
    one_of_each, surface, method, url, body, role, expected
):
    # given
    client = client_for(surface, role)
    address = url.format(**{name: row.pk for name, row in one_of_each.items()})

    # when
    if body is None:
        response = getattr(client, method)(address)
    else:
        response = getattr(client, method)(address, body, format="json")

    # then
    assert response.status_code == expected, response.content[:500]
    if surface == "admin" and role == "anonymous":
        assert response.headers["Location"].startswith("/admin/login/")
