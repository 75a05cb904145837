from django.core.management.base import BaseCommand, CommandError

from contacts.demo import DemoDataError
from events.demo import load_demo_events


class Command(BaseCommand):
    help = "Store the demo data sets' orders as events of the demo contacts."

    def handle(self, *args, **options):
        try:
            result = load_demo_events()
        except DemoDataError as error:
            raise CommandError(str(error)) from error

        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the demo events in {result.seconds:.1f} s: "
                f"{result.events_created:,} new, {result.events_present:,} "
                f"already stored, rollups rebuilt for {result.contacts:,} contacts."
            )
        )
