import pytest
from django.core.exceptions import ValidationError

from events.models import Site

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        (
            "https://shop.example",
            "Allowed origins must be a list of texts, for "
            'example ["https://shop.example"].',
        ),
        (
            ["shop.example"],
            "shop.example is not an origin. Write the scheme and host only, for "
            "example https://shop.example, or * for any origin.",
        ),
        (
            ["https://shop.example/cart"],
            "https://shop.example/cart is not an origin. Write the scheme and host "
            "only, for example https://shop.example, or * for any origin.",
        ),
    ],
)
def test_site_bad_allowed_origins_rejected(origins, message):
    site = Site(name="Shop", allowed_origins=origins)

    with pytest.raises(ValidationError) as error:
        site.full_clean()

    assert error.value.message_dict == {"allowed_origins": [message]}


def test_site_origin_match_ignores_case_and_slash():
    site = Site(name="Shop", allowed_origins=["https://Shop.example/"])

    assert site.allows_origin("https://shop.example")
    assert not site.allows_origin("http://shop.example")
    assert not site.allows_origin("https://shop.example:8443")


def test_site_rotate_write_key_replaces_key():
    site = Site.objects.create(name="Shop")
    old_key = site.write_key

    new_key = site.rotate_write_key()

    site.refresh_from_db()
    assert site.write_key == new_key
    assert new_key != old_key
    assert new_key.startswith("wk_")
    assert site.key_rotated_at is not None


def test_site_admin_pages_render(admin_client):
    site = Site.objects.create(name="Shop", allowed_origins=["https://shop.example"])

    for url in [
        "/admin/events/site/",
        f"/admin/events/site/{site.pk}/change/",
        "/admin/events/event/",
        "/admin/events/customereventstats/",
        "/admin/events/visitoralias/",
        "/admin/events/visitormerge/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_site_admin_rotate_action_changes_key(admin_client):
    site = Site.objects.create(name="Shop")
    old_key = site.write_key

    response = admin_client.post(
        "/admin/events/site/",
        {"action": "rotate_write_keys", "_selected_action": [site.pk]},
        follow=True,
    )

    site.refresh_from_db()
    assert response.status_code == 200
    assert site.write_key != old_key
