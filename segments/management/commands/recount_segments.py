from django.core.management.base import BaseCommand, CommandError

from segments.management.options import filter_by_type, requested_ids
from segments.models import Segment, SegmentType
from segments.recount import RecountError, RecountLockBusyError, recount_segments

PROGRESS_BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Recount segments in dependency order and store their counts, "
        "membership changes and size snapshots."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--id",
            action="append",
            default=[],
            dest="ids",
            metavar="ID",
            help="Recount the segment with this id; repeat for more.",
        )
        parser.add_argument(
            "--name",
            action="append",
            default=[],
            dest="names",
            metavar="NAME",
            help="Recount the segments with this exact name; repeat for more.",
        )
        parser.add_argument(
            "--type",
            dest="content_type",
            metavar="TYPE",
            help=(
                f"Recount only segments of this type: {', '.join(SegmentType.values)}."
            ),
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help=(
                "Seconds to wait for another recount to finish before failing "
                "(default 0: fail at once)."
            ),
        )

    def handle(self, *args, ids, names, content_type, wait, **options):
        segments = self.select_segments(ids=ids, names=names, content_type=content_type)
        show_progress = self.stdout.isatty()
        try:
            summary = recount_segments(
                segments,
                wait=wait,
                on_progress=self.show_progress if show_progress else None,
            )
        except RecountLockBusyError as error:
            raise CommandError(
                f"{error} To wait for it instead, pass --wait with a number of seconds."
            ) from error
        except RecountError as error:
            if show_progress:
                self.stdout.write("")
            raise CommandError(str(error)) from error

        if show_progress:
            self.stdout.write("")
        count = len(summary.results)
        self.stdout.write(
            self.style.SUCCESS(
                f"Recounted {count:,} segment{'s' if count != 1 else ''}: "
                f"{summary.members:,} members, {summary.entered:,} entered, "
                f"{summary.exited:,} exited in {summary.seconds:.1f} s."
            )
        )

    def select_segments(self, *, ids, names, content_type):
        segments = filter_by_type(Segment.objects.all(), content_type or None)

        if not ids and not names:
            return segments

        segment_ids = requested_ids(ids, segments, scope=self.type_suffix(content_type))
        found_names = set(
            segments.filter(name__in=names).values_list("name", flat=True)
        )
        for name in names:
            if name not in found_names:
                raise CommandError(
                    f'--name "{name}" matches no segment'
                    f"{self.type_suffix(content_type)}. Give the exact name as "
                    "the admin segment list shows it."
                )
        return segments.filter(pk__in=segment_ids) | segments.filter(name__in=names)

    def type_suffix(self, content_type) -> str:
        return f' of type "{content_type}"' if content_type else ""

    def show_progress(self, index: int, total: int, segment: Segment) -> None:
        done = round(PROGRESS_BAR_WIDTH * index / total)
        bar = "#" * done + "-" * (PROGRESS_BAR_WIDTH - done)
        label = segment.name[:40]
        self.stdout.write(f"\r[{bar}] {index}/{total} {label:<40}", ending="")
        self.stdout.flush()
