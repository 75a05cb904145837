import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from contacts.management.commands import create_demo_admin

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_file(tmp_path, monkeypatch, settings):
    settings.DEBUG = True
    path = tmp_path / ".demo-admin-password"
    monkeypatch.setattr(create_demo_admin, "PASSWORD_FILE", path)
    return path


def run(*args) -> str:
    output = io.StringIO()
    call_command("create_demo_admin", *args, stdout=output)
    return output.getvalue()


def test_create_demo_admin_new_database_creates_superuser(password_file):
    output = run()

    password = password_file.read_text(encoding="utf-8").strip()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser is True
    assert admin.is_staff is True
    assert admin.check_password(password) is True
    assert len(password) == 16
    assert output == (
        "Created the demo admin account. Log in at http://127.0.0.1:8000/admin/ "
        f"as admin with the password {password}\n"
    )
    assert password_file.stat().st_mode & 0o777 == 0o600


def test_create_demo_admin_second_run_changes_nothing(password_file):
    run()
    admin = get_user_model().objects.get(username="admin")

    output = run()

    password = password_file.read_text(encoding="utf-8").strip()
    assert get_user_model().objects.get(username="admin").password == admin.password
    assert get_user_model().objects.count() == 1
    assert output == (
        "The demo admin account already exists. Log in at "
        f"http://127.0.0.1:8000/admin/ as admin with the password {password}\n"
    )


def test_create_demo_admin_foreign_password_left_unchanged(password_file, admin_user):
    hashed = admin_user.password

    output = run()

    assert output == (
        "The user 'admin' already exists with a password this command did not "
        "set, so it was left unchanged. Log in with that password, or run "
        "`manage.py create_demo_admin --reset-password` to get a new one.\n"
    )
    admin_user.refresh_from_db()
    assert admin_user.password == hashed
    assert not password_file.exists()


def test_create_demo_admin_reset_password_sets_new_one(password_file, admin_user):
    output = run("--reset-password")

    password = password_file.read_text(encoding="utf-8").strip()
    admin_user.refresh_from_db()
    assert admin_user.check_password(password) is True
    assert admin_user.check_password("password") is False
    assert output.startswith("Set a new password for the demo admin account.")


def test_create_demo_admin_debug_off_raises(password_file, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError) as raised:
        run()

    assert str(raised.value) == (
        "create_demo_admin prints a superuser password, so it runs only with "
        "DEBUG=true. Use `manage.py createsuperuser` on a real deployment."
    )
    assert get_user_model().objects.count() == 0
