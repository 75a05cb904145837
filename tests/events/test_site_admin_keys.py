"""Write key rotation from the site admin: a normal rotation keeps the old
key writing for the grace period, a revoke rejects it at once, and both need
the change permission."""

import datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from django.utils.formats import date_format

from contacts.factories import UserFactory
from events.models import Event, Site
from tests.events.conftest import ORIGIN

pytestmark = pytest.mark.django_db

VISITOR_ID = "visitor-0000000001"


def user_with(*codenames: str):
    user = UserFactory()
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="events", codename=codename)
        )
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def site_editor():
    return client_for(user_with("view_site", "change_site"))


@pytest.fixture
def site_viewer():
    return client_for(user_with("view_site"))


def run_action(client: Client, action: str, *sites: Site):
    return client.post(
        "/admin/events/site/",
        {"action": action, "_selected_action": [site.pk for site in sites]},
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def track(key: str, name: str):
    """Send one event from the site's origin, as the widget does."""
    return Client().post(
        "/api/v1/track",
        {"visitor_id": VISITOR_ID, "name": name},
        content_type="application/json",
        headers={"X-Erxseg-Key": key, "Origin": ORIGIN},
    )


def until_text(site: Site) -> str:
    return date_format(
        timezone.localtime(site.previous_key_expires_at), "Y-m-d H:i:s T"
    )


def test_site_admin_rotate_old_key_still_writes(site_editor, site):
    # given
    old_key = site.write_key

    # when
    response = run_action(site_editor, "rotate_write_keys", site)

    # then the message gives the grace period and its end
    site.refresh_from_db()
    assert response.status_code == 302
    assert site.write_key != old_key
    assert site.previous_write_key == old_key
    assert messages_of(response) == [
        "Rotated the key of 1 site. Put the new key in its widget snippet. "
        f"The old key keeps writing for 1 hour, until {until_text(site)}, so "
        "that retries queued by widgets are stored. After that it is rejected."
    ]
    # and both keys write
    assert track(old_key, "with_old_key").status_code == 202
    assert track(site.write_key, "with_new_key").status_code == 202
    assert sorted(Event.objects.values_list("name", flat=True)) == [
        "with_new_key",
        "with_old_key",
    ]


def test_site_admin_rotate_grace_lasts_an_hour(site_editor, site):
    # given
    before = timezone.now()

    # when
    run_action(site_editor, "rotate_write_keys", site)

    # then
    site.refresh_from_db()
    assert site.previous_key_expires_at - site.key_rotated_at == datetime.timedelta(
        hours=1
    )
    assert site.key_rotated_at >= before


@pytest.mark.parametrize(
    "seconds,words",
    [(90 * 60, "90 minutes"), (2 * 3600, "2 hours"), (45, "45 seconds")],
)
def test_site_admin_rotate_names_configured_grace(
    site_editor, site, settings, seconds, words
):
    # given
    settings.ERXSEG_WRITE_KEY_GRACE_SECONDS = seconds

    # when
    response = run_action(site_editor, "rotate_write_keys", site)

    # then
    site.refresh_from_db()
    assert site.previous_key_expires_at - site.key_rotated_at == datetime.timedelta(
        seconds=seconds
    )
    assert (
        f"The old key keeps writing for {words}, until {until_text(site)}, "
    ) in messages_of(response)[0]


def test_site_admin_rotate_zero_grace_rejects(site_editor, site, settings):
    # given
    settings.ERXSEG_WRITE_KEY_GRACE_SECONDS = 0
    old_key = site.write_key

    # when
    response = run_action(site_editor, "rotate_write_keys", site)

    # then
    assert messages_of(response) == [
        "Rotated the key of 1 site. Put the new key in its widget snippet. "
        "The old key is rejected from now on, because "
        "ERXSEG_WRITE_KEY_GRACE_SECONDS is 0."
    ]
    assert track(old_key, "late").status_code == 401


def test_site_admin_revoke_rejects_old_key(site_editor, site):
    # given
    old_key = site.write_key

    # when
    response = run_action(site_editor, "revoke_write_keys", site)

    # then
    site.refresh_from_db()
    assert response.status_code == 302
    assert messages_of(response) == [
        "Rotated the key of 1 site and revoked the old one. The old key is "
        "rejected from now on, also for retries queued by widgets. Put the new "
        "key in its widget snippet."
    ]
    rejected = track(old_key, "with_old_key")
    assert rejected.status_code == 401
    assert rejected.json()["error"]["code"] == "invalid_write_key"
    assert track(site.write_key, "with_new_key").status_code == 202
    assert list(Event.objects.values_list("name", flat=True)) == ["with_new_key"]


def test_site_admin_revoke_ends_earlier_grace(site_editor, site):
    # given a key rotated a moment ago, still in its grace period
    first_key = site.write_key
    run_action(site_editor, "rotate_write_keys", site)
    site.refresh_from_db()
    second_key = site.write_key

    # when the new key leaks too and is revoked
    run_action(site_editor, "revoke_write_keys", site)

    # then neither earlier key writes
    site.refresh_from_db()
    assert track(first_key, "first").status_code == 401
    assert track(second_key, "second").status_code == 401
    assert track(site.write_key, "third").status_code == 202
    assert site.previous_write_key == ""
    assert site.previous_key_expires_at is None


def test_site_admin_revoke_several_sites(site_editor, site):
    # given
    blog = Site.objects.create(name="Blog", allowed_origins=[ORIGIN])
    old_keys = [site.write_key, blog.write_key]

    # when
    response = run_action(site_editor, "revoke_write_keys", site, blog)

    # then
    assert messages_of(response) == [
        "Rotated the keys of 2 sites and revoked the old ones. The old keys are "
        "rejected from now on, also for retries queued by widgets. Put the new "
        "keys in their widget snippets."
    ]
    for old_key in old_keys:
        assert track(old_key, "late").status_code == 401


def test_site_admin_rotation_logged_in_history(site_editor, site):
    # when
    run_action(site_editor, "rotate_write_keys", site)
    site.refresh_from_db()
    until = until_text(site)
    run_action(site_editor, "revoke_write_keys", site)

    # then
    entries = list(LogEntry.objects.filter(object_id=str(site.pk)).order_by("id"))
    assert [entry.get_change_message() for entry in entries] == [
        f"Rotated the write key; the old key writes until {until}.",
        "Rotated the write key and revoked the old key.",
    ]


@pytest.mark.parametrize("action", ["rotate_write_keys", "revoke_write_keys"])
def test_site_admin_viewer_cannot_rotate(site_viewer, site, action):
    # given
    old_key = site.write_key

    # when
    listing = site_viewer.get("/admin/events/site/")
    response = run_action(site_viewer, action, site)

    # then the action is not offered and the key is unchanged. With no
    # action to offer, the admin treats the POST as a plain list request.
    assert listing.status_code == 200
    assert f'value="{action}"' not in listing.content.decode()
    assert response.status_code == 200
    site.refresh_from_db()
    assert site.write_key == old_key
    assert site.previous_write_key == ""
    assert track(old_key, "still_valid").status_code == 202


def test_site_admin_editor_sees_both_actions(site_editor, site):
    # when
    listing = site_editor.get("/admin/events/site/")

    # then
    page = listing.content.decode()
    assert 'value="rotate_write_keys"' in page
    assert 'value="revoke_write_keys"' in page
    assert "Rotate and revoke the old key now" in page
