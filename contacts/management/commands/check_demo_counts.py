from django.core.management.base import BaseCommand, CommandError

from contacts.demo import EXPECTED_DEMO_COUNTS, demo_counts

LABELS = {
    "retail_customers": "Online Retail customers",
    "retail_customers_with_country": "Online Retail customers with a country",
    "retail_visitors": "Online Retail visitors (anonymous purchases)",
    "chinook_customers": "Chinook customers",
    "chinook_customers_with_owner": "Chinook customers with a support rep",
    "chinook_companies": "Chinook companies",
    "chinook_customers_with_company": "Chinook customers linked to a company",
}


class Command(BaseCommand):
    help = "Print the demo data counts and fail unless they match a fresh load."

    def handle(self, *args, **options):
        counts = demo_counts()
        mismatches = []
        for key, expected in EXPECTED_DEMO_COUNTS.items():
            self.stdout.write(f"{LABELS[key]}: {counts[key]:,}")
            if counts[key] != expected:
                mismatches.append(
                    f"{LABELS[key]}: {counts[key]:,}, expected {expected:,}"
                )

        if mismatches:
            raise CommandError(
                "The demo data counts do not match a fresh load ("
                + "; ".join(mismatches)
                + "). Run `manage.py load_demo` on this database."
            )
        self.stdout.write(self.style.SUCCESS("The demo data counts are as expected."))
