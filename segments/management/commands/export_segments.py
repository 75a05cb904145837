import json

from django.core.management.base import BaseCommand, CommandError

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
        segments = Segment.objects.all()
        if content_type is not None:
            if content_type not in SegmentType.values:
                raise CommandError(
                    f'--type "{content_type}" is not a segment type. Use one of: '
                    f"{', '.join(SegmentType.values)}."
                )
            segments = segments.filter(content_type=content_type)
        if ids:
            segments = segments.filter(pk__in=self.parse_ids(ids, segments))

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

    def parse_ids(self, ids, segments) -> list[int]:
        requested = []
        for raw in ids:
            try:
                requested.append(int(raw))
            except ValueError:
                raise CommandError(
                    f'--id "{raw}" is not a segment id. Give a whole number, '
                    "such as --id 3."
                ) from None
        found = set(segments.filter(pk__in=requested).values_list("pk", flat=True))
        for segment_id in requested:
            if segment_id not in found:
                raise CommandError(
                    f'--id "{segment_id}" matches no segment. Check the id in the '
                    "admin segment list."
                )
        return requested
