import json

from django.core.management.base import BaseCommand, CommandError

from segments.management.options import filter_by_type, requested_ids
from segments.models import Segment, SegmentType
from segments.transfer import export_payload


class Command(BaseCommand):
    help = (
        "Write segments as erxseg JSON, with the parents and referenced "
        "segments they need."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--id",
            action="append",
            default=[],
            dest="ids",
            metavar="ID",
            help="Export the segment with this id; repeat for more (default all).",
        )
        parser.add_argument(
            "--type",
            dest="content_type",
            metavar="TYPE",
            help=f"Export only segments of this type: {', '.join(SegmentType.values)}.",
        )
        parser.add_argument(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to this file instead of standard output.",
        )

    def handle(self, *args, ids, content_type, output, **options):
        segments = filter_by_type(Segment.objects.all(), content_type)
        if ids:
            segments = segments.filter(pk__in=requested_ids(ids, segments))

        payload = export_payload(segments)
        text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            raise CommandError(
                f'--output "{output}" could not be written: {error.strerror}. '
                "Choose a writable path."
            ) from None
        self.stderr.write(
            self.style.SUCCESS(
                f"Exported {len(payload['segments']):,} segments to {output}."
            )
        )
