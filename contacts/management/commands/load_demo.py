from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from contacts.demo import (
    CHINOOK_PATH,
    RETAIL_PATH,
    DemoDataError,
    UpsertCounts,
    load_demo_data,
)


def _describe(counts: UpsertCounts, noun: str) -> str:
    return (
        f"{counts.total:,} {noun} ({counts.created:,} created, "
        f"{counts.updated:,} updated)"
    )


class Command(BaseCommand):
    help = (
        "Load the Online Retail and Chinook demo contacts from demo_data/. "
        "Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--retail-file",
            type=Path,
            default=RETAIL_PATH,
            help="Online Retail invoice lines, gzip-compressed CSV "
            "(default: %(default)s).",
        )
        parser.add_argument(
            "--chinook-file",
            type=Path,
            default=CHINOOK_PATH,
            help="Chinook fixture, gzip-compressed JSON (default: %(default)s).",
        )

    def handle(self, *args, retail_file, chinook_file, **options):
        on_terminal = self.stdout.isatty()

        def progress(message: str) -> None:
            # One line is rewritten in place, and "\033[K" clears the rest of
            # a longer message it replaces.
            if on_terminal:
                self.stdout.write(f"\r{message}\033[K", ending="")
                self.stdout.flush()

        try:
            result = load_demo_data(
                retail_path=retail_file, chinook_path=chinook_file, progress=progress
            )
        except DemoDataError as error:
            raise CommandError(str(error)) from error
        finally:
            if on_terminal:
                self.stdout.write("\r\033[K", ending="")

        self.stdout.write(
            self.style.SUCCESS(
                "Loaded the demo data in "
                f"{result.seconds:.1f} s: "
                f"{_describe(result.retail_customers, 'Online Retail customers')}, "
                f"{_describe(result.retail_visitors, 'visitors')}, "
                f"{_describe(result.chinook_customers, 'Chinook customers')}, "
                f"{_describe(result.chinook_companies, 'companies')}, "
                f"{_describe(result.chinook_owners, 'support reps')}, "
                f"{result.company_links_created:,} company links added."
            )
        )
