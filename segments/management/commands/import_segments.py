import json
import sys

from django.core.management.base import BaseCommand, CommandError

from contacts.models import FieldDefinition
from segments.erxes import Conversion, convert_erxes
from segments.transfer import FORMAT_NAME, SegmentImportError, import_payload

FORMATS = ["auto", "erxseg", "erxes"]


class Command(BaseCommand):
    help = (
        "Create segments from an erxseg export or from erxes segment JSON; "
        "all of them or none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSON file to import; - reads stdin.")
        parser.add_argument(
            "--format",
            default="auto",
            help=(
                "The file's format: erxseg, erxes, or auto (default) to tell "
                "them apart by the erxseg format marker."
            ),
        )
        parser.add_argument(
            "--skip-unmapped",
            action="store_true",
            help=(
                "Import erxes segments without the conditions that have no "
                "erxseg equivalent. Without it, any such condition stops the "
                "import."
            ),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check and report everything, then write nothing.",
        )

    def handle(self, *args, file, format, skip_unmapped, dry_run, **options):
        if format not in FORMATS:
            raise CommandError(
                f'--format "{format}" is not a format. Use one of: '
                f"{', '.join(FORMATS)}."
            )
        data = self.read_json(file)
        if format == "auto":
            is_erxseg = isinstance(data, dict) and data.get("format") == FORMAT_NAME
            format = "erxseg" if is_erxseg else "erxes"

        labels = {}
        if format == "erxes":
            conversion = self.convert(data, skip_unmapped=skip_unmapped)
            payload, labels = conversion.payload, conversion.labels
        else:
            payload = data

        try:
            result = import_payload(
                payload,
                dry_run=dry_run,
                labels=labels,
                source=f'manage.py import_segments "{file}" ({format} format)',
            )
        except SegmentImportError as error:
            for message in error.errors:
                self.stderr.write(f"  {message}")
            raise CommandError(
                f'"{file}" was not imported because of {len(error.errors)} '
                "error(s), listed above. Fix them and import again; nothing was "
                "written."
            ) from None

        for segment in result.created:
            self.stdout.write(f"  {segment.name} ({segment.content_type})")
        count = len(result.created)
        verb = "Checked" if dry_run else "Imported"
        suffix = "; nothing was written (--dry-run)" if dry_run else ""
        self.stdout.write(
            self.style.SUCCESS(f"{verb} {count:,} segments from {file}{suffix}.")
        )

    def read_json(self, file):
        try:
            if file == "-":
                return json.load(sys.stdin)
            with open(file, encoding="utf-8") as handle:
                return json.load(handle)
        except OSError as error:
            raise CommandError(
                f'The file "{file}" could not be read: {error.strerror}. '
                "Check the path."
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CommandError(
                f'The file "{file}" is not valid JSON ({error}). Export it again.'
            ) from None

    def convert(self, data, *, skip_unmapped: bool) -> Conversion:
        keys = set(FieldDefinition.objects.values_list("key", flat=True))
        try:
            conversion = convert_erxes(data, custom_field_keys=keys)
        except ValueError as error:
            raise CommandError(str(error)) from None

        for note in conversion.notes:
            self.stdout.write(self.style.WARNING(f"  Note: {note}"))
        if not conversion.unmapped:
            return conversion

        self.stderr.write(
            f"{len(conversion.unmapped)} item(s) could not be mapped to erxseg:"
        )
        for item in conversion.unmapped:
            self.stderr.write(f"  {item}")
        if not skip_unmapped:
            raise CommandError(
                "Nothing was imported because some erxes items could not be "
                "mapped (listed above). Edit the file, or pass --skip-unmapped "
                "to import the segments without them."
            )
        return conversion
