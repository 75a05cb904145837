import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"
# Kept beside manage.py (and ignored by git) so that every `make demo` prints
# the same working password.
PASSWORD_FILE = Path(settings.BASE_DIR) / ".demo-admin-password"


class Command(BaseCommand):
    help = (
        "Create the demo superuser 'admin' with a random password and print it; "
        "running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Give the existing 'admin' user a new random password.",
        )

    def handle(self, *args, reset_password, **options):
        if not settings.DEBUG:
            raise CommandError(
                "create_demo_admin prints a superuser password, so it runs only "
                "with DEBUG=true. Use `manage.py createsuperuser` on a real "
                "deployment."
            )

        User = get_user_model()
        user = User.objects.filter(username=USERNAME).first()
        saved = self.saved_password()

        if user is None:
            password = saved or secrets.token_urlsafe(12)
            User.objects.create_superuser(
                username=USERNAME, email="admin@example.com", password=password
            )
            self.save_password(password)
            self.report(password, "Created the demo admin account")
            return

        if reset_password:
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
            self.save_password(password)
            self.report(password, "Set a new password for the demo admin account")
            return

        if saved and user.check_password(saved):
            self.report(saved, "The demo admin account already exists")
            return

        # Another clone or a person set this password. It is left alone, and
        # the demo still starts, because the account works for whoever knows
        # the password.
        self.stdout.write(
            self.style.WARNING(
                f"The user {USERNAME!r} already exists with a password this "
                "command did not set, so it was left unchanged. Log in with that "
                "password, or run `manage.py create_demo_admin --reset-password` "
                "to get a new one."
            )
        )

    def saved_password(self) -> str:
        try:
            return PASSWORD_FILE.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""

    def save_password(self, password: str) -> None:
        PASSWORD_FILE.touch(mode=0o600)
        PASSWORD_FILE.write_text(password + "\n", encoding="utf-8")

    def report(self, password: str, summary: str) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary}. Log in at http://127.0.0.1:8000/admin/ as "
                f"{USERNAME} with the password {password}"
            )
        )
