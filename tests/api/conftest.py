import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from contacts.factories import UserFactory


def grant(user, *codenames: str):
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=name)
        )
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def no_permission_client(db):
    return client_for(UserFactory(username="nobody"))


@pytest.fixture
def viewer_client(db):
    user = UserFactory(username="viewer")
    grant(
        user,
        "contacts.view_customer",
        "contacts.view_company",
        "segments.view_segment",
    )
    return client_for(user)


@pytest.fixture
def manager_client(db):
    user = UserFactory(username="manager")
    grant(
        user,
        *[
            f"{app}.{action}_{model}"
            for app, model in [
                ("contacts", "customer"),
                ("contacts", "company"),
                ("segments", "segment"),
            ]
            for action in ("view", "add", "change", "delete")
        ],
    )
    return client_for(user)
